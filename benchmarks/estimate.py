"""End-to-end depth estimation: depthforge vs the transformers depth-estimation pipeline, side by side.

Full-size Depth Anything V2 Small and DPT-Hybrid architectures (random weights, built locally: no download),
photos of 1024x768 (JPEG files on disk, decoded by each side), same model input size. Rounds are interleaved
(each round runs every contestant once, so all see the same machine load) and the minimum over rounds counts.
Prints per-image times, throughput ratios (pipeline time / ours), the mean absolute relative deviation of each
of ours from the pipeline's PyTorch fp32 output, and the chosen backend. Then the pipeline overhead for a
12-megapixel JPEG: end-to-end time (decode, preprocess, forward, resize back, 16-bit PNG encode) minus forward.

    .venv/bin/python benchmarks/estimate.py [--images 4] [--repeats 3] [--no-dpt] [--no-int8] [--no-overhead]

Models and compiled graphs are kept under ``--workdir`` (default ~/.cache/depthforge/benchmarks), so a second
run skips the exports (the first one builds and verifies them outside the timed rounds).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import describe


def make_photos(folder: Path, n: int, size: tuple[int, int] = (1024, 768)) -> list[Path]:
    import cv2
    from PIL import Image
    from skimage import data

    sources = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    paths = []
    rng = np.random.default_rng(0)
    for i in range(n):
        img = cv2.resize(sources[i % len(sources)], size, interpolation=cv2.INTER_CUBIC)
        if size[0] * size[1] > 4e6:  # large photos: add sensor-like noise so the JPEG is as heavy as a real one
            img = np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
        p = folder / f"photo{i}_{size[0]}x{size[1]}.jpg"
        Image.fromarray(img).save(p, quality=92)
        paths.append(p)
    return paths


def rel_dev(ours: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(ours - ref).mean() / np.abs(ref).mean())


def race(contestants: dict[str, Callable[[Path], np.ndarray]], photos: list[Path], repeats: int) -> dict[str, Any]:
    """Interleaved rounds; per contestant the per-image minimum over rounds and the outputs of the last round."""
    best: dict[str, np.ndarray] = {k: np.full(len(photos), np.inf) for k in contestants}
    totals: dict[str, list[float]] = {k: [] for k in contestants}
    outputs: dict[str, list[np.ndarray]] = {}
    for _ in range(repeats):
        for name, fn in contestants.items():
            outs = []
            t_all = time.perf_counter()
            for i, p in enumerate(photos):
                t0 = time.perf_counter()
                outs.append(fn(p))
                best[name][i] = min(best[name][i], time.perf_counter() - t0)
            totals[name].append(time.perf_counter() - t_all)
            outputs[name] = outs
    return {"best": best, "totals": totals, "outputs": outputs}


def compare(title: str, folder: Path, photos: list[Path], args: argparse.Namespace) -> None:
    from PIL import Image
    from transformers import pipeline

    from depthforge.io.images import read_image
    from depthforge.models import load_model

    pipe = pipeline("depth-estimation", model=str(folder), device="cpu")
    ours = {"auto": load_model(str(folder), device="cpu")}
    if not args.no_int8:
        ours["int8"] = load_model(str(folder), device="cpu", quantize="int8")
    size = ours["auto"].input_size(768, 1024)
    print(f"\n== {title}: 1024x768 photos, model input {size[0]}x{size[1]} (h x w) ==")
    if "int8" in ours:
        from depthforge.core.errors import ModelError

        try:
            ours["int8"].predict(read_image(photos[0]))  # builds (quantises and verifies) the int8 graph
        except ModelError as exc:
            print(f"int8 fast mode not available for this model: {exc}")
            del ours["int8"]
    contestants: dict[str, Callable[[Path], np.ndarray]] = {
        "pipeline": lambda p: pipe(Image.open(p))["predicted_depth"].numpy()  # type: ignore[index]
    }

    def runner(est: Any) -> Callable[[Path], np.ndarray]:
        return lambda p: est.predict(read_image(p)).values

    for key, est in ours.items():
        contestants[key] = runner(est)
    t0 = time.perf_counter()
    for fn in contestants.values():  # warm-up; builds and verifies static graphs on the first run
        fn(photos[0])
    print(f"warm-up (incl. any export/quantisation): {time.perf_counter() - t0:.1f} s")
    res = race(contestants, photos, args.repeats)
    ref = res["outputs"]["pipeline"]
    per_ref = min(res["totals"]["pipeline"]) / len(photos)
    for name in contestants:
        per = min(res["totals"][name]) / len(photos)
        times = " ".join(f"{1000 * t:.0f}" for t in res["best"][name])
        label = "transformers pipeline" if name == "pipeline" else f"depthforge {ours[name].backend_name}"
        line = f"{label:28s}: {1000 * per:7.1f} ms/image (per image, best of {args.repeats}: {times} ms)"
        if name != "pipeline":
            dev = np.mean([rel_dev(o, r) for o, r in zip(res["outputs"][name], ref, strict=True)])
            built = ours[name].deviation
            line += f"\n    ratio {per_ref / per:.2f}x, deviation from pipeline (PyTorch fp32) {100 * dev:.3f} %"
            line += f", backend-measured {100 * built:.3f} %" if built is not None else ""
            line += f"  [{ours[name]!r}]"
        print(line)


def overhead(folder: Path, tmp: Path, repeats: int) -> None:
    from depthforge.io.depthfiles import write_depth
    from depthforge.io.images import read_image
    from depthforge.models import load_model
    from depthforge.models.preprocess import prepare

    est = load_model(str(folder), device="cpu")
    photo = make_photos(tmp, 1, size=(4000, 3000))[0]
    out = tmp / "depth.png"
    stages: dict[str, list[float]] = {k: [] for k in ("decode", "preprocess", "forward", "resize back", "encode")}
    e2e: list[float] = []
    size = est.input_size(3000, 4000)
    for r in range(repeats + 1):
        t0 = time.perf_counter()
        image = read_image(photo)
        depth = est.predict(image)
        write_depth(out, depth, format="png16")
        t_e2e = time.perf_counter() - t0
        t = [time.perf_counter()]
        image = read_image(photo)
        t.append(time.perf_counter())
        batch = prepare(image.rgb, est.spec, size_hw=size)[None]
        t.append(time.perf_counter())
        raw, _ = est.backend.forward(batch)
        t.append(time.perf_counter())
        depth = est._postprocess(raw[0], image.rgb.shape[:2], None)
        t.append(time.perf_counter())
        write_depth(out, depth, format="png16")
        t.append(time.perf_counter())
        if r == 0:
            continue  # warm-up
        e2e.append(t_e2e)
        for k, a, b in zip(stages, t[:-1], t[1:], strict=True):
            stages[k].append(b - a)
    fwd = min(stages["forward"])
    best_e2e = min(e2e)
    print(f"\n== overhead: 12-MP JPEG (4000x3000) -> 16-bit PNG depth, model input {size[0]}x{size[1]}, {est!r} ==")
    print(f"stages (best of {repeats}): " + ", ".join(f"{k} {1000 * min(v):.0f} ms" for k, v in stages.items()))
    print(
        f"end-to-end {1000 * best_e2e:.0f} ms, forward {1000 * fwd:.0f} ms: overhead {1000 * (best_e2e - fwd):.0f} ms"
        f" = {100 * (best_e2e - fwd) / fwd:.1f} % of forward (target <= 15 %)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-dpt", action="store_true")
    ap.add_argument("--no-int8", action="store_true")
    ap.add_argument("--no-overhead", action="store_true")
    ap.add_argument("--workdir", default=str(Path.home() / ".cache" / "depthforge" / "benchmarks"))
    args = ap.parse_args()
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    from depthforge.models.testing import build_depth_anything, build_dpt

    work = Path(args.workdir)
    print(f"machine: {describe()}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"load average at start: {os.getloadavg()}")
    print(f"command: {' '.join(sys.argv)}")
    da = work / "da-v2-small-random"
    if not (da / "config.json").exists():
        build_depth_anything(da, full=True)
    dpt = work / "dpt-hybrid-random"
    if not args.no_dpt and not (dpt / "config.json").exists():
        build_dpt(dpt, hybrid=True, full=True)
    with tempfile.TemporaryDirectory() as tmp:
        photos = make_photos(Path(tmp), args.images)
        compare("Depth Anything V2 Small (full size, random weights)", da, photos, args)
        if not args.no_dpt:
            compare("DPT-Hybrid (full size, random weights)", dpt, photos, args)
        if not args.no_overhead:
            overhead(da, Path(tmp), args.repeats)
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
