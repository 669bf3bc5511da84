"""Preprocessing a 12-MP photo for Depth Anything: depthforge's ``prepare`` vs Pillow and transformers, side by side.

Content: ``examples/photo.jpg`` (scikit-image's coffee, 600x400) upsampled with ``cv2.resize(..., INTER_CUBIC)``
to 4000x3000 with sensor-like noise (sigma 4) and saved as a JPEG (quality 92), as ``benchmarks/estimate.py``
makes its 12-MP photo. Two inputs to the preprocessing, both real paths:

- ``reduced``: the JPEG decoded at a reduced DCT scale (:func:`depthforge.io.images.read_image_reduced`, at least
  twice the model input: 2000x1500 here), as ``depthforge estimate`` reads a photo;
- ``full``: the whole 4000x3000 array (``read_image``), as an array given to ``DepthEstimator.predict``.

Contestants (each makes the (3, 518, 686) float32 input of Depth Anything V2 Small; interleaved rounds in a rotating
order, best and median per contestant, ratios to ``depthforge prepare``):

- ``depthforge prepare``: :func:`depthforge.models.preprocess.prepare`, the code under test;
- ``Pillow exact``: ``Image.fromarray(a).resize(size, BICUBIC)`` (the call the transformers processor makes) and
  the normalisation in numpy;
- ``Pillow reducing_gap=2``: the same with Pillow's two-step reduction (an integer-factor box reduction first);
- ``OpenCV box reduction + Pillow``: that reduction by OpenCV (``INTER_AREA`` by the same integer factors, edges
  repeated up to a multiple of the factor), then Pillow's resize of the photo's extent (``box``);
- ``transformers processor``: ``AutoImageProcessor`` on the PIL image (the reference; includes its conversions).

Then end to end, with a full-size Depth Anything V2 Small (random weights, built locally; the default backend),
each variant patched in as the estimator's ``prepare``: ``run_estimate`` of the JPEG to a 16-bit PNG
(the ``depthforge estimate`` path, a new output folder per run) and ``predict`` of the full array. Per variant:
best and median wall time, the median of same-round ratios to ``depthforge prepare``, and the maximum absolute
difference of its model input from the transformers processor's.

    .venv/bin/python benchmarks/preprocess.py [--rounds 7] [--e2e-rounds 7] [--no-e2e] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import describe

ROOT = Path(__file__).resolve().parents[1]


def make_photo(folder: Path, size_wh: tuple[int, int] = (4000, 3000)) -> Path:
    import cv2
    from PIL import Image

    src = np.asarray(Image.open(ROOT / "examples" / "photo.jpg").convert("RGB"))
    img = cv2.resize(src, size_wh, interpolation=cv2.INTER_CUBIC)
    rng = np.random.default_rng(0)
    img = np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
    path = folder / f"photo_{size_wh[0]}x{size_wh[1]}.jpg"
    Image.fromarray(img).save(path, quality=92)
    return path


def pillow_prepare(reducing_gap: float | None, opencv_reduce: bool = False) -> Callable[..., np.ndarray]:
    """``prepare`` for Depth Anything / DPT specs through Pillow's resize, normalised in numpy (channel-first).
    ``opencv_reduce``: first box-reduce by the integer factors of Pillow's ``reducing_gap=2.0`` with OpenCV."""
    import cv2
    from PIL import Image

    from depthforge.models.preprocess import model_input_size

    def fn(rgb: np.ndarray, spec: Any, *, size_hw: tuple[int, int] | None = None) -> np.ndarray:
        h, w = size_hw or model_input_size((rgb.shape[0], rgb.shape[1]), spec)
        flt = Image.Resampling.BICUBIC if spec.resample == "bicubic" else Image.Resampling.BILINEAR
        box = None
        if opencv_reduce:
            fy, fx = int(rgb.shape[0] / h / 2.0) or 1, int(rgb.shape[1] / w / 2.0) or 1
            if fx > 1 or fy > 1:
                full_h, full_w = rgb.shape[:2]
                pad_h, pad_w = -full_h % fy, -full_w % fx
                if pad_h or pad_w:
                    rgb = cv2.copyMakeBorder(rgb, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE)
                rgb = cv2.resize(rgb, (rgb.shape[1] // fx, rgb.shape[0] // fy), interpolation=cv2.INTER_AREA)
                box = (0.0, 0.0, full_w / fx, full_h / fy)
        small = np.asarray(Image.fromarray(rgb).resize((w, h), flt, box=box, reducing_gap=reducing_gap))
        out = np.empty((3, h, w), np.float32)
        out[...] = small.transpose(2, 0, 1)
        out -= np.asarray(spec.mean, np.float32)[:, None, None] * 255.0
        out *= 1.0 / (np.asarray(spec.std, np.float32)[:, None, None] * 255.0)
        return out

    return fn


def race(
    contestants: dict[str, Callable[[], Any]], rounds: int, cleanup: Callable[[], None] = lambda: None
) -> dict[str, list[float]]:
    """Interleaved rounds (every contestant once per round, after one warm-up call each; the order rotates from
    round to round, so no contestant always follows the same one): wall times. ``cleanup`` runs after each call,
    untimed."""
    for fn in contestants.values():
        fn()
        cleanup()
    names = list(contestants)
    times: dict[str, list[float]] = {k: [] for k in contestants}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t0 = time.perf_counter()
            contestants[name]()
            times[name].append(time.perf_counter() - t0)
            cleanup()
    return times


def report(times: dict[str, list[float]], base: str, note: dict[str, str] | None = None) -> None:
    for name, ts in times.items():
        line = f"  {name:32s} best {1000 * min(ts):7.1f} ms, median {1000 * float(np.median(ts)):7.1f} ms"
        if name != base:
            paired = [t / b for t, b in zip(ts, times[base], strict=True)]
            line += f", x{float(np.median(paired)):.2f} of {base} (same-round median)"
        if note and name in note:
            line += f"; {note[name]}"
        print(line)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15, help="rounds of the preprocessing race")
    ap.add_argument("--e2e-rounds", type=int, default=7, help="rounds of the end-to-end race")
    ap.add_argument("--no-e2e", action="store_true", help="only the preprocessing race")
    ap.add_argument("--workdir", default=str(Path.home() / ".cache" / "depthforge" / "benchmarks"))
    args = ap.parse_args()

    from PIL import Image
    from transformers import AutoImageProcessor
    from transformers.utils import logging as hf_logging

    import depthforge.models.estimator as estimator_module
    from depthforge.core.threads import thread_budget
    from depthforge.io.images import read_image, read_image_reduced
    from depthforge.models import load_model
    from depthforge.models.preprocess import prepare
    from depthforge.models.testing import build_depth_anything
    from depthforge.pipeline.estimation import EstimateOptions, run_estimate

    hf_logging.set_verbosity_error()
    print(f"machine: {describe()}, thread budget {thread_budget()}")
    print(f"load average at start: {os.getloadavg()}")
    print(f"command: {' '.join(sys.argv)}")
    folder = Path(args.workdir) / "da-v2-small-random"  # shared with benchmarks/estimate.py
    if not (folder / "config.json").exists():
        build_depth_anything(folder, full=True)
    est = load_model(str(folder), device="cpu")
    spec = est.spec
    processor = AutoImageProcessor.from_pretrained(str(folder))

    variants: dict[str, Callable[..., np.ndarray]] = {
        "depthforge prepare": prepare,
        "Pillow exact": pillow_prepare(None),
        "Pillow reducing_gap=2": pillow_prepare(2.0),
        "OpenCV box reduction + Pillow": pillow_prepare(None, opencv_reduce=True),
    }
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        photo = make_photo(tmp)
        full = read_image(photo)
        h_full, w_full = full.rgb.shape[:2]

        def need(h: int, w: int) -> tuple[int, int]:
            ih, iw = est.input_size((h, w))
            return 2 * ih, 2 * iw

        reduced, _ = read_image_reduced(photo, need)
        size = est.input_size((h_full, w_full))
        print(f"photo {w_full}x{h_full}, model input {size[0]}x{size[1]} (h x w), {est!r}")

        def reference(a: np.ndarray) -> Any:
            return processor(images=Image.fromarray(a), return_tensors="np")

        for label, image in (("reduced", reduced), ("full", full)):
            a = image.rgb
            ref = processor(images=Image.fromarray(a), return_tensors="np")["pixel_values"][0]
            contestants: dict[str, Callable[[], Any]] = {
                k: partial(fn, a, spec, size_hw=size) for k, fn in variants.items()
            }
            contestants["transformers processor"] = partial(reference, a)
            note = {
                k: f"max |x - processor| {float(np.abs(fn(a, spec, size_hw=size) - ref).max()):.4f}"
                for k, fn in variants.items()
            }
            print(f"\n== preprocess, {label} decode {a.shape[1]}x{a.shape[0]} -> {size[1]}x{size[0]} ==")
            report(race(contestants, args.rounds), "depthforge prepare", note)

        if args.no_e2e:
            return
        opts = EstimateOptions(overwrite=True)
        runs = iter(range(1 << 30))

        def patched(fn: Callable[..., np.ndarray], job: Callable[[], Any]) -> Callable[[], Any]:
            def call() -> Any:
                estimator_module.prepare = fn  # type: ignore[attr-defined]
                try:
                    return job()
                finally:
                    estimator_module.prepare = prepare  # type: ignore[attr-defined]

            return call

        def estimate_job() -> None:
            out = tmp / f"run{next(runs)}"
            run_estimate([photo], out, model=est, options=opts)

        def cleanup() -> None:
            for p in tmp.glob("run*"):
                shutil.rmtree(p, ignore_errors=True)

        forward_times = []
        x = prepare(reduced.rgb, spec, size_hw=size)[None]
        est.backend.forward(x)
        for _ in range(5):
            t0 = time.perf_counter()
            est.backend.forward(x)
            forward_times.append(time.perf_counter() - t0)
        print(
            f"\nforward alone: best {1000 * min(forward_times):.0f} ms, median"
            f" {1000 * float(np.median(forward_times)):.0f} ms"
        )
        for label, job in (
            ("run_estimate JPEG -> png16", estimate_job),
            ("predict(full 12-MP array)", lambda: est.predict(full)),
        ):
            contestants = {k: patched(fn, job) for k, fn in variants.items()}
            print(f"\n== end to end: {label} ==")
            times = race(contestants, args.e2e_rounds, cleanup)
            report(times, "depthforge prepare")
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
