"""One stereo eye at 1920x1080 (render_eye: forward warp + background fill) vs one cv2.remap of the same image.

Run: .venv/bin/python benchmarks/stereo.py [--repeats N]
Prints both median times, the ratio (target <= 10x) and the machine. The two are also timed interleaved (remap,
eye, remap, eye, ...) and the median of the per-pair ratios printed: on a shared, loaded machine that figure is
steadier than the ratio of medians measured one after the other.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from depthforge.core.depthmap import DepthMap
from depthforge.render.stereo import StereoParams, render_eye

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import describe


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    a = ap.parse_args()
    h, w = 1080, 1920
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 1.5)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    inv = 0.3 + 0.2 * np.sin(xx / 150.0) * np.cos(yy / 110.0)
    inv[300:700, 600:1100] += 0.5  # a near object with sharp edges (disocclusions)
    depth = DepthMap(inv, kind="relative")
    params = StereoParams(divergence=2.5)
    # the remap reference: the same image, a per-pixel horizontal map of the same size
    map_x = (xx - 0.0125 * w * (inv - inv.min()) / np.ptp(inv)).astype(np.float32)
    map_y = yy

    def remap() -> None:
        cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR)

    def eye() -> None:
        render_eye(image, depth, eye="right", params=params)

    t_remap = median_time(remap, a.repeats)
    t_eye = median_time(eye, a.repeats)
    pairs = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        remap()
        t1 = time.perf_counter()
        eye()
        pairs.append((time.perf_counter() - t1) / (t1 - t0))
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    t_remap1 = median_time(lambda: cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR), a.repeats)
    cv2.setNumThreads(threads)
    print(f"machine: {describe()}, numpy {np.__version__}, opencv {cv2.__version__} ({threads} threads)")
    print(f"cv2.remap 1920x1080 RGB: {t_remap * 1e3:.1f} ms ({t_remap1 * 1e3:.1f} ms with 1 thread)")
    import numba

    print(f"render_eye 1920x1080 RGB: {t_eye * 1e3:.1f} ms (numba {numba.__version__} kernels)")
    print(f"ratio: {t_eye / t_remap:.1f}x remap ({t_eye / t_remap1:.1f}x single-thread remap); target <= 10x")
    print(f"interleaved: median of {a.repeats} per-pair ratios {statistics.median(pairs):.1f}x remap")


if __name__ == "__main__":
    main()
