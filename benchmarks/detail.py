"""High-resolution detail (issue 20): quality on simulated models of known scenes, cost in forwards, peak memory.

Quality: a simulated model (``depthforge.models.simulated``) sees the scene at a quarter of the image's resolution
and returns the true inverse depth with a random scale and shift on every call; the Middlebury cones ground truth
(holes filled for the model, scored on known pixels only) and a synthetic 1024 x 1024 scene of planes, boxes and
thin poles. Scores: boundary F1 (higher = sharper), AbsRel and the flat-region RMSE (>= 8 px from edges; global
structure), the ordinal error across edges.

Cost: ``--detail N`` against (N + 1) forwards, both timed in this run on a 12-MP photo with the full-size Depth
Anything V2 Small architecture (random weights) on the default backend (OpenVINO when installed).
Memory: peak RSS of one process estimating a 24-MP photo with and without ``--detail auto``.

Usage: ``.venv/bin/python benchmarks/detail.py [--repeats 3] [--skip-cost] [--skip-memory]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from _machine import describe

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "middlebury-cones"
WORK = Path.home() / ".cache" / "depthforge" / "benchmarks"


def _cones() -> tuple[np.ndarray, np.ndarray] | None:
    from PIL import Image
    from scipy import ndimage

    if not (SHARED / "disp2.png").exists():
        return None
    raw = np.asarray(Image.open(SHARED / "disp2.png")).astype(np.float64) / 4
    known = raw > 0
    idx = ndimage.distance_transform_edt(~known, return_distances=False, return_indices=True)
    return raw[tuple(idx)], np.where(known, raw, np.nan)


def quality() -> None:
    from depthforge.core.depthmap import DepthMap
    from depthforge.models.callable import CallableEstimator
    from depthforge.models.simulated import coordinate_image, simulated_model, synthetic_scene
    from depthforge.pipeline.detail import estimate_detailed
    from depthforge.process.metrics import evaluate, flat_region_rmse

    scenes = []
    cones = _cones()
    if cones is not None:
        scenes.append(("cones 450x375", cones[0], cones[1], 450 // 4))
    else:
        print("(cones ground truth absent: ../shared/data/middlebury-cones)")
    synthetic = synthetic_scene(1024)
    scenes.append(("synthetic 1024", synthetic, synthetic, 256))
    runs: list[tuple[str, dict | None]] = [
        ("global pass", None),
        ("N=16 blend", {"detail": 16}),
        ("N=16 poisson", {"detail": 16, "fusion": "poisson"}),
        ("N=25 blend", {"detail": 25}),
        ("N=25 poisson", {"detail": 25, "fusion": "poisson"}),
        ("auto blend", {"detail": "auto"}),
        ("N=16 no per-tile fit", {"detail": 16, "fit": False}),
    ]
    print("\n## quality: simulated model at 1/4 of the image's resolution")
    print("| scene | method | boundary F1 | x global | AbsRel | x global | flat RMSE | x global | ordinal error |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, truth, gt, native in scenes:
        image = coordinate_image(truth.shape)
        gtm = DepthMap(gt.astype(np.float32), kind="disparity")
        base: dict[str, float] = {}
        for label, kwargs in runs:
            model = CallableEstimator(simulated_model(truth, native_px=native, seed=1), resolution_px=native)
            depth = model.predict(image) if kwargs is None else estimate_detailed(image, model, **kwargs)
            m = evaluate(depth, gtm, align="scale-shift")
            row = {"f1": m["boundary_f1"], "abs_rel": m["abs_rel"], "flat": flat_region_rmse(depth.values, gt)}
            base = base or row
            ratios = [row[k] / base[k] if base[k] > 0 else float("nan") for k in ("f1", "abs_rel", "flat")]
            print(
                f"| {name} | {label} | {row['f1']:.3f} | {ratios[0]:.2f} | {row['abs_rel']:.4f} | {ratios[1]:.2f} "
                f"| {row['flat']:.4f} | {ratios[2]:.2f} | {m['ordinal_error']:.4f} |"
            )


def _model_folder() -> Path:
    from depthforge.models.testing import build_depth_anything

    folder = WORK / "da-v2-small-random"
    if not (folder / "config.json").exists():
        build_depth_anything(folder, full=True)
    return folder


def _photo(size_hw: tuple[int, int]) -> np.ndarray:
    import cv2

    root = Path(__file__).resolve().parents[1]
    small = cv2.cvtColor(cv2.imread(str(root / "examples" / "photo.jpg")), cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(cv2.resize(small, size_hw[::-1], interpolation=cv2.INTER_CUBIC))


def cost(repeats: int, counts: list[int]) -> None:
    from depthforge.models.estimator import load_model
    from depthforge.pipeline.detail import estimate_detailed, plan_tiles

    est = load_model(str(_model_folder()))
    image = _photo((3000, 4000))
    print(f"\n## cost: 12-MP photo (3000x4000), {est!r}")
    est.predict(image)  # warm-up: builds/compiles the size bucket
    for n in counts:
        grid = plan_tiles(image, detail=n, native_hw=est.input_size(image.shape[:2]))
        tile = grid.tiles[0]
        crops = [image[t.y0 : t.y1, t.x0 : t.x1] for t in grid.tiles]
        est.predict_batch(crops[:2])  # warm-up of the tiles' size bucket
        forwards, detailed = [], []
        for _ in range(repeats):  # interleaved, best of each
            t0 = time.perf_counter()
            est.predict(image)
            est.predict_batch(crops)
            forwards.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            estimate_detailed(image, est, detail=n)
            detailed.append(time.perf_counter() - t0)
        f, d = min(forwards), min(detailed)
        print(
            f"N={n} ({grid.rows}x{grid.cols}, tiles {tile.y1 - tile.y0}x{tile.x1 - tile.x0}): (N + 1) model calls "
            f"{f:.2f} s, --detail {n} {d:.2f} s, ratio {d / f:.3f} (<= 1.2)"
        )


def _peak(detail: str, size_hw: tuple[int, int]) -> dict:
    code = f"""
import json, resource, sys, time
sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
from detail import _model_folder, _photo
from depthforge.models.estimator import load_model
from depthforge.pipeline.estimation import estimate
est = load_model(str(_model_folder()))
image = _photo({size_hw!r})
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
depth = estimate(image, model=est, detail={detail!r})
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tiles = depth.meta.get("detail", {{}}).get("tiles", 0)
print(json.dumps({{"seconds": time.perf_counter() - t, "peak_mb": peak / 1024, "before_mb": before / 1024,
    "tiles": tiles}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def memory() -> None:
    size = (4000, 6000)
    print(f"\n## peak memory: 24-MP photo ({size[0]}x{size[1]}), one process each")
    _peak("auto", size)  # warm-up: exports the graphs of the photo's and the tiles' sizes into the cache
    for detail in ("off", "auto"):
        r = _peak(detail, size)
        print(
            f"--detail {detail}: peak RSS {r['peak_mb']:.0f} MB (model and photo loaded: {r['before_mb']:.0f} MB), "
            f"{r['seconds']:.1f} s, tiles {r['tiles']}"
        )


def video_flicker(frames: int = 24, seeds: tuple[int, ...] = (0, 1)) -> None:
    """The video issue's flicker measure (a 320x240 window sliding 1 px per frame across a real photo, tiny random
    Depth Anything), with and without ``--detail 4`` (same tiles on every frame)."""
    import tempfile

    from skimage import data

    from depthforge.models.estimator import load_model
    from depthforge.models.testing import build_depth_anything
    from depthforge.pipeline.detail import DetailOptions, with_detail
    from depthforge.pipeline.temporal import flicker_index
    from depthforge.pipeline.video import VideoOptions, display_frames

    photo = data.astronaut()
    clip = [np.ascontiguousarray(photo[150:390, 100 + i : 420 + i]) for i in range(frames)]
    print(f"\n## video flicker: {frames} frames of 320x240 panning 1 px/frame, tiny random Depth Anything")
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            est = load_model(str(build_depth_anything(Path(tmp) / f"da{seed}", seed=seed)), device="cpu")
            result = {}
            for name, model in (("off", est), ("4", with_detail(est, DetailOptions(4), skip_flat=False))):
                out = list(display_frames(iter(clip), model, options=VideoOptions()))
                result[name] = flicker_index([dm.values for _, dm, _, _ in out], step_px=(0, 1))
            ratio = result["4"] / result["off"]
            print(f"seed {seed}: flicker index without {result['off']:.4f}, --detail 4 {result['4']:.4f}, x{ratio:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--counts", default="4,16", help="tile counts to time (comma-separated)")
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--skip-cost", action="store_true")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--skip-video", action="store_true")
    args = ap.parse_args()
    print(f"machine: {describe()}; load average at start: {os.getloadavg()}")
    print(f"command: {' '.join(sys.argv)}")
    if not args.skip_quality:
        quality()
    if not args.skip_cost:
        cost(args.repeats, [int(n) for n in args.counts.split(",")])
    if not args.skip_video:
        video_flicker()
    if not args.skip_memory:
        memory()


if __name__ == "__main__":
    main()
