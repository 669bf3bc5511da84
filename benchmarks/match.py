"""Stereo matching: depthforge ``match_stereo`` vs plain OpenCV StereoSGBM + WLS, side by side on Middlebury Cones.

Run: ``.venv/bin/python benchmarks/match.py [--repeats N]``

Prints the machine, bad-2.0 of both (share of pixels with known truth off by more than 2 px, pixels without an
estimate counted as bad) and the times (minimum and median over interleaved runs), and the time ratio.
The reference is the data README's tuned setup: SGBM 3-way, block 5, P1 = 8*3*25, P2 = 32*3*25, uniqueness 10,
speckle 100/2, then OpenCV contrib's DisparityWLSFilter (lambda 8000, sigma 1.5) with the right matcher.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

CONES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "middlebury-cones"


def cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                return " ".join(f for f in ("sse4_2", "avx", "avx2", "avx512f", "fma") if f in flags)
    except OSError:
        pass
    return "?"


def bad_2(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Percent of pixels with known truth (> 0) whose estimate is missing or off by more than 2 px."""
    known = truth > 0
    good = np.isfinite(estimate) & (np.abs(estimate - truth) <= 2.0)
    return 100.0 * (1.0 - float(good[known].mean()))


def reference(left_bgr: np.ndarray, right_bgr: np.ndarray) -> np.ndarray:
    """Plain OpenCV SGBM + WLS, disparity in px, NaN where none."""
    import cv2

    bs = 5
    left_matcher = cv2.StereoSGBM.create(
        minDisparity=0,
        numDisparities=64,
        blockSize=bs,
        P1=8 * 3 * bs * bs,
        P2=32 * 3 * bs * bs,
        uniquenessRatio=10,
        speckleWindowSize=100,
        speckleRange=2,
        mode=cv2.STEREO_SGBM_MODE_SGBM_3WAY,
    )
    right_matcher = cv2.ximgproc.createRightMatcher(left_matcher)
    wls = cv2.ximgproc.createDisparityWLSFilter(left_matcher)
    wls.setLambda(8000.0)
    wls.setSigmaColor(1.5)
    dl = left_matcher.compute(left_bgr, right_bgr)
    dr = right_matcher.compute(right_bgr, left_bgr)
    out = wls.filter(dl, left_bgr, disparity_map_right=dr).astype(np.float32) / 16.0
    out[out < 0] = np.nan
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="OpenCV threads for both sides (0 = OpenCV's default; 1 gives steadier ratios on a busy shared machine)",
    )
    args = parser.parse_args()
    if not (CONES / "im2.png").exists():
        print(f"missing data: {CONES}")
        return 1
    import cv2
    from PIL import Image

    from depthforge.stereo import match_stereo

    if args.threads > 0:
        cv2.setNumThreads(args.threads)

    left = np.asarray(Image.open(CONES / "im2.png").convert("RGB"))
    right = np.asarray(Image.open(CONES / "im6.png").convert("RGB"))
    truth = np.asarray(Image.open(CONES / "disp2.png")).astype(np.float32) / 4.0
    left_bgr = cv2.cvtColor(left, cv2.COLOR_RGB2BGR)
    right_bgr = cv2.cvtColor(right, cv2.COLOR_RGB2BGR)

    runs = {
        "opencv sgbm+wls": lambda: reference(left_bgr, right_bgr),
        "depthforge match": lambda: match_stereo(left, right).disparity.values,
        "depthforge match (no rectification check)": lambda: match_stereo(left, right, check=False).disparity.values,
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    results: dict[str, np.ndarray] = {}
    for name, fn in runs.items():  # warm-up
        results[name] = fn()
    for _ in range(args.repeats):  # interleaved, so load changes hit all alike
        for name, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)

    print(f"machine: {platform.machine()} {platform.processor() or ''} cores={os.cpu_count()} flags: {cpu_flags()}")
    print(
        f"python {sys.version.split()[0]}, opencv {cv2.__version__}, cv2 threads {cv2.getNumThreads()}, "
        f"repeats {args.repeats}, pair: Middlebury Cones {left.shape[1]}x{left.shape[0]}, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    ref_min = min(times["opencv sgbm+wls"])
    ref_med = statistics.median(times["opencv sgbm+wls"])
    for name in runs:
        t_min, t_med = min(times[name]), statistics.median(times[name])
        print(
            f"{name:44s} bad-2.0 {bad_2(results[name], truth):5.2f} %   time min {t_min * 1000:6.1f} ms   "
            f"median {t_med * 1000:6.1f} ms   ratio (min) {t_min / ref_min:4.2f}x   ratio (median) "
            f"{t_med / ref_med:4.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
