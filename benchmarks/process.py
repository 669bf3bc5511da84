"""Depth processing: depthforge's hole filling and filters vs their OpenCV counterparts, on Middlebury Cones.

Run: ``.venv/bin/python benchmarks/process.py [--repeats N]``

Prints the machine, then for each operation the quality figure and time (median of interleaved runs) of ours and
of the reference, and the time ratio (ours / reference):

* hole filling: cones ground-truth disparity with 20 % of the known pixels knocked out in discs of radius 1..5;
  MAE (px) of the filled values more than 5 px from a depth edge. Reference: ``cv2.inpaint`` (Navier-Stokes, radius 3;
  Telea on float maps is far worse, ~0.9 px even on a plane).
* filters: a 96x128 step edge 20 -> 30 with Gaussian noise sigma 0.5; noise-variance reduction on the flat parts
  and the 10-90 % edge width (px). References: ``cv2.bilateralFilter``, ``cv2.medianBlur`` (which cannot skip
  invalid pixels), ``cv2.ximgproc.guidedFilter``.
* alignment: 10 % outliers and 1 % noise on 170 k pixels; relative error of the recovered scale and shift, vs
  plain least squares (``numpy.linalg.lstsq``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from tests.conftest import cones_disparity  # noqa: E402
from tests.process.test_fill import _blobs  # noqa: E402
from tests.process.test_filters import _step_scene, edge_width  # noqa: E402

from _machine import describe  # noqa: E402

CONES = ROOT.parent / "shared" / "data" / "middlebury-cones"


def timed(fn: Callable[[], Any], repeats: int) -> tuple[Any, float]:
    times = []
    out = None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return out, statistics.median(times)


def row(name: str, ours: str, t_ours: float, ref: str, t_ref: float) -> None:
    print(
        f"{name:<22} ours {ours:<26} {t_ours * 1000:8.1f} ms | ref {ref:<26} {t_ref * 1000:8.1f} ms | "
        f"ratio {t_ours / t_ref:6.2f}"
    )


def bench_fill(repeats: int) -> None:
    import cv2

    from depthforge.process.fill import fill_holes

    gt = cones_disparity(CONES)
    valid = np.isfinite(gt)
    knocked = _blobs(valid, 0.20, 5, seed=0)
    holed = gt.copy()
    holed[knocked] = np.nan
    g = np.nan_to_num(gt, nan=-100.0)
    edge = np.zeros(gt.shape, bool)
    jx, jy = np.abs(np.diff(g, axis=1)) > 1, np.abs(np.diff(g, axis=0)) > 1
    edge[:, 1:] |= jx
    edge[:, :-1] |= jx
    edge[1:] |= jy
    edge[:-1] |= jy
    sel = knocked & (cv2.distanceTransform((~edge).astype(np.uint8), cv2.DIST_L2, 5) > 5)
    print(
        f"fill: {knocked.sum()} px knocked out ({100 * knocked.sum() / valid.sum():.1f} % of known), "
        f"{sel.sum()} scored (> 5 px from depth edges)"
    )
    src = np.nan_to_num(holed, nan=0.0).astype(np.float32)
    hole_mask = (~np.isfinite(holed)).astype(np.uint8)

    def ref() -> np.ndarray:
        return cv2.inpaint(src, hole_mask, 3, cv2.INPAINT_NS)

    for method in ("auto", "background", "nearest", "smooth"):
        ours, t_o = timed(lambda m=method: fill_holes(holed, method=m), repeats)
        theirs, t_r = timed(ref, repeats)
        e = np.abs(ours - gt)[sel]
        cover = np.isfinite(e).mean()
        mae_r = np.abs(theirs - gt)[sel].mean()
        ours_text = f"MAE {np.nanmean(e):.3f} px ({100 * cover:.0f} %)"
        row(f"fill {method}", ours_text, t_o, f"inpaint NS MAE {mae_r:.3f} px", t_r)


def bench_filters(repeats: int) -> None:
    import cv2

    from depthforge.process.filters import bilateral_filter, guided_filter, median_filter

    clean, noisy, guide = _step_scene()
    flat = np.zeros(clean.shape, bool)
    flat[10:-10, 10:54] = True
    flat[10:-10, 74:-10] = True
    n32 = noisy.astype(np.float32)

    def score(out: np.ndarray) -> str:
        red = 1 - np.var((out - clean)[flat]) / np.var((noisy - clean)[flat])
        return f"-{100 * red:.1f} % var, edge {edge_width(out):.2f} px"

    print(f"filters: noisy input edge width {edge_width(noisy):.2f} px")
    pairs = [
        (
            "bilateral",
            lambda: bilateral_filter(noisy, sigma_space_px=2.0),
            lambda: cv2.bilateralFilter(n32, 9, 1.5, 2.0),
        ),
        ("median 5", lambda: median_filter(noisy, size_px=5), lambda: cv2.medianBlur(n32, 5)),
        (
            "guided r8",
            lambda: guided_filter(guide, noisy, radius_px=8, eps=1e-3),
            lambda: cv2.ximgproc.guidedFilter(guide, n32, 8, 1e-3 * 255**2),
        ),
    ]
    for name, ours_fn, ref_fn in pairs:
        ours, t_o = timed(ours_fn, repeats)
        theirs, t_r = timed(ref_fn, repeats)
        row(name, score(ours), t_o, score(theirs.astype(np.float64)), t_r)


def bench_align(repeats: int) -> None:
    from depthforge.process.align import fit_scale_shift

    rng = np.random.default_rng(0)
    scale, shift = 0.37, 0.052
    z = rng.uniform(1.0, 10.0, 375 * 450)
    rel = (1 / z - shift) / scale
    inv = 1 / z * (1 + rng.normal(0, 0.01, z.size))
    bad = rng.random(z.size) < 0.10
    inv[bad] = rng.uniform(0.05, 2.0, bad.sum())
    al, t_o = timed(lambda: fit_scale_shift(rel, inv), repeats)
    a = np.stack([rel, np.ones_like(rel)], axis=1)
    (s_r, t_r_), t_r = timed(lambda: np.linalg.lstsq(a, inv, rcond=None)[0], repeats)
    ours_text = f"scale {100 * (al.scale / scale - 1):+.3f} %, shift {100 * (al.shift / shift - 1):+.2f} %"
    ref_text = f"lstsq {100 * (s_r / scale - 1):+.1f} %, {100 * (t_r_ / shift - 1):+.0f} %"
    row("align 10 % outliers", ours_text, t_o, ref_text, t_r)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(describe())
    if not (CONES / "disp2.png").exists():
        print("cones data missing: skipping the fill benchmark")
    else:
        bench_fill(args.repeats)
    bench_filters(args.repeats)
    bench_align(args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
