"""The bare forward pass at 518x686 (Depth Anything V2 Small, full size, random weights): OpenVINO f32 against
PyTorch fp32 in one run, OpenVINO's time per layer type, and fp32 matmul speed, to tell the machine from the code.

Usage: ``.venv/bin/python benchmarks/forward.py [--repeats 6]`` (builds or reuses the exported graph in the model
cache through ``load_model``).
"""

from __future__ import annotations

import argparse
import collections
import time
from pathlib import Path

import numpy as np

from _machine import describe

WORK = Path.home() / ".cache" / "depthforge" / "benchmarks"
SIZE_HW = (518, 686)


def _best(run: object, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=6)
    args = ap.parse_args()
    import openvino as ov
    import torch

    from depthforge.models.estimator import load_model
    from depthforge.models.testing import build_depth_anything

    folder = WORK / "da-v2-small-random"
    if not (folder / "config.json").exists():
        build_depth_anything(folder, full=True)
    print(f"machine: {describe()}; torch {torch.__version__}, openvino {ov.__version__}")
    a, b = torch.rand(2048, 2048), torch.rand(2048, 2048)
    a @ b
    matmul = _best(lambda: a @ b, args.repeats)
    print(f"torch fp32 matmul 2048^3: {2 * 2048**3 / matmul / 1e9:.0f} GFLOP/s ({torch.get_num_threads()} threads)")
    est_ov = load_model(str(folder), backend="openvino")
    est_pt = load_model(str(folder), backend="torch")
    x = np.random.default_rng(0).random((1, 3, *SIZE_HW), dtype=np.float32)
    compiled = est_ov.backend.compiled(*SIZE_HW, static=True)  # type: ignore[attr-defined]
    request = compiled.create_infer_request()
    request.infer({0: x})
    est_pt.backend.forward(x)
    ov_s = _best(lambda: request.infer({0: x}), args.repeats)
    pt_s = _best(lambda: est_pt.backend.forward(x), args.repeats)
    print(f"forward {SIZE_HW[0]}x{SIZE_HW[1]}: OpenVINO f32 {ov_s * 1000:.0f} ms, PyTorch fp32 {pt_s * 1000:.0f} ms,")
    print(f"  ratio {pt_s / ov_s:.2f}x (against the transformers pipeline, ours can gain beyond this only the")
    print("  pipeline's own pre- and post-processing, about 70 ms per image)")
    from depthforge.models.graph_cache import graph_dir

    core = ov.Core()
    model = core.read_model(graph_dir(est_ov.source, "openvino", "fp32", None) / "model.xml")
    model.reshape([1, 3, *SIZE_HW])
    config = {"PERF_COUNT": True, "INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": torch.get_num_threads()}
    profiled = core.compile_model(model, "CPU", config).create_infer_request()
    profiled.infer({0: x})
    profiled.infer({0: x})
    per_type: collections.Counter[tuple[str, str]] = collections.Counter()
    for layer in profiled.get_profiling_info():
        per_type[(layer.node_type, layer.exec_type)] += layer.real_time.total_seconds() * 1000
    print("OpenVINO time per layer type (ms, one forward):")
    for (node, kernel), ms in per_type.most_common(6):
        print(f"  {ms:7.1f}  {node} ({kernel})")


if __name__ == "__main__":
    main()
