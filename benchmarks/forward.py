"""The bare forward pass at 518x686 (Depth Anything V2 Small, full size, random weights): OpenVINO f32 against
PyTorch fp32 in one run, OpenVINO's time per layer type, and fp32 matmul speed, to tell the machine from the code.

It also gives the fp32 bound: the forward's matmul, attention and convolution FLOPs (counted by torch's FlopCounterMode)
at this machine's fp32 matmul rate, against the transformers pipeline's time per 1024x768 photo (same input
size) measured in the same run. No fp32 backend can beat the pipeline by more than their ratio on this CPU.

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
    _fp32_bound(folder, est_pt, x, 2 * 2048**3 / matmul, ov_s, args.repeats)
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


def _fp32_bound(folder: Path, est_pt: object, x: np.ndarray, peak_flops: float, ov_s: float, repeats: int) -> None:
    """Print the forward's FLOPs, its time at ``peak_flops`` and the pipeline ratio that time allows."""
    import cv2
    import torch
    from PIL import Image
    from skimage import data
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import pipeline

    def attention(q: tuple[int, ...], k: tuple[int, ...], *_: object, **__: object) -> int:
        return 4 * q[0] * q[1] * q[2] * k[2] * q[3]  # Q @ K^T and P @ V, 2 FLOPs per multiply-add

    # torch's counter has no formula for the CPU attention kernel; without this it counts only matmuls and convs
    sdpa = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: attention}
    with FlopCounterMode(display=False, custom_mapping=sdpa) as counter:
        est_pt.backend.forward(x)  # type: ignore[attr-defined]
    flops = counter.get_total_flops()
    bound_s = flops / peak_flops
    photo = Image.fromarray(cv2.resize(data.astronaut(), (1024, 768), interpolation=cv2.INTER_CUBIC))
    pipe = pipeline("depth-estimation", model=str(folder), device="cpu")
    pipe(photo)
    pipe_s = _best(lambda: pipe(photo), max(2, repeats // 2))
    print(f"fp32 bound: {flops / 1e9:.1f} GFLOP per forward (matmul, attention, conv)")
    print(f"  = {bound_s * 1000:.0f} ms at the matmul rate; OpenVINO f32 runs at {bound_s / ov_s:.0%} of it")
    print(f"  transformers pipeline: {pipe_s * 1000:.0f} ms per 1024x768 photo (same model input)")
    print(f"  -> at most {pipe_s / bound_s:.2f}x the pipeline for any fp32 backend on this CPU")
    print(f"     ({pipe_s / ov_s:.2f}x for OpenVINO's forward alone)")


if __name__ == "__main__":
    main()
