"""End-to-end depth estimation: depthforge vs the transformers depth-estimation pipeline, side by side.

Full-size Depth Anything V2 Small architecture (random weights, built locally: no download), photos of 1024x768
(JPEG files on disk, decoded by each side), same model input size. Prints per-image times and the ratio.

    .venv/bin/python benchmarks/estimate.py [--images 4] [--repeats 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import describe


def make_photos(folder: Path, n: int) -> list[Path]:
    import cv2
    from PIL import Image
    from skimage import data

    sources = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    paths = []
    for i in range(n):
        img = cv2.resize(sources[i % len(sources)], (1024, 768), interpolation=cv2.INTER_CUBIC)
        p = folder / f"photo{i}.jpg"
        Image.fromarray(img).save(p, quality=92)
        paths.append(p)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    import torch
    from PIL import Image
    from transformers import pipeline
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    from depthforge.io.images import read_image
    from depthforge.models import load_model
    from depthforge.models.testing import build_depth_anything

    print(f"machine: {describe()}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = build_depth_anything(Path(tmp) / "da-v2-small", full=True)
        photos = make_photos(Path(tmp), args.images)
        pipe = pipeline("depth-estimation", model=str(folder), device="cpu")
        est = load_model(str(folder), device="cpu", dtype="fp32")
        print(f"model input for 1024x768: {est.input_size(768, 1024)} (both sides)")

        def run_ref() -> list[np.ndarray]:
            return [pipe(Image.open(p))["predicted_depth"].numpy() for p in photos]

        def run_ours() -> list[np.ndarray]:
            return [est.predict(read_image(p)).values for p in photos]

        run_ref()  # warm-up both
        run_ours()
        t_ref, t_ours = [], []
        for _ in range(args.repeats):  # interleaved, so both see the same machine load
            t0 = time.perf_counter()
            ref = run_ref()
            t_ref.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            ours = run_ours()
            t_ours.append(time.perf_counter() - t0)
        dev = np.mean([np.abs(o - r).mean() / np.abs(r).mean() for o, r in zip(ours, ref, strict=True)])
        per_ref = min(t_ref) / len(photos)
        per_ours = min(t_ours) / len(photos)
        print(f"transformers pipeline : {per_ref * 1000:8.1f} ms/image")
        print(f"depthforge (torch)    : {per_ours * 1000:8.1f} ms/image")
        print(f"speed ratio (pipeline time / ours): {per_ref / per_ours:.2f}")
        print(f"mean abs relative deviation from the pipeline: {100 * dev:.3f} %")


if __name__ == "__main__":
    main()
