"""Stereo rendering speed at 1920x1080.

Part ``pair`` (issue 26): both eyes of a frame, render_stereo's one-pass kernel vs what render_stereo did before it
(eye_parallax once, then the general path per eye: forward_warp + fill_holes_background each), timed interleaved in one
run on realistic content: the Middlebury cones left image and its ground-truth disparity upsampled to 1080p, the
disparity used as a dense relative map (unknown pixels filled from the background side first, as a depth model
would give) with the default StereoParams (the video --stereo case), and once more with the raw map's invalid
pixels left in. Prints the median of each (ms), their ratio, the views' equality and the machine's load.

Part ``eye``: one stereo eye (render_eye, the kernel asked for one eye) vs one cv2.remap of the same image (the
issue 19 figure, random image), and vs the general path's one eye (what render_eye was before, cones 1080p).

Run: .venv/bin/python benchmarks/stereo.py [--part pair|eye|all] [--repeats N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from depthforge.core.depthmap import DepthMap
from depthforge.render.stereo import StereoParams, _general_eye, eye_parallax, render_eye, render_stereo

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


def cones_1080p(*, dense: bool) -> tuple[np.ndarray, DepthMap]:
    """The cones left view and its ground-truth disparity (px, as a relative map) upsampled to 1920x1080."""
    from PIL import Image

    from depthforge.process.fill import fill_holes

    root = Path(__file__).resolve().parents[2] / "shared" / "data" / "middlebury-cones"
    if not (root / "im2.png").exists():
        sys.exit(f"{root} is not present")
    left = np.asarray(Image.open(root / "im2.png").convert("RGB"))
    raw = np.asarray(Image.open(root / "disp2.png")).astype(np.float32)
    disp = np.where(raw > 0, raw / 4.0, np.nan).astype(np.float32)
    if dense:
        disp = fill_holes(disp, method="background", axes="horizontal")
    image = cv2.resize(left, (1920, 1080), interpolation=cv2.INTER_CUBIC)
    disp = cv2.resize(disp, (1920, 1080), interpolation=cv2.INTER_LINEAR) * np.float32(1920 / left.shape[1])
    return image, DepthMap(disp, kind="relative")


def two_render_eye_calls(image: np.ndarray, depth: DepthMap, params: StereoParams) -> tuple[np.ndarray, np.ndarray]:
    """render_stereo before the one-pass kernel: the parallax once, then the general path per eye (what render_eye
    was before it too)."""
    par, exact = eye_parallax(depth, width=image.shape[1], params=params)
    return (
        _general_eye(image, par, params, exact=exact, e=0, fill_smooth=None),
        _general_eye(image, par, params, exact=exact, e=1, fill_smooth=None),
    )


def pair(repeats: int) -> None:
    import numba

    from depthforge.core.threads import set_thread_budget, thread_budget

    params = StereoParams()
    print(f"both eyes, 1920x1080 cones, default StereoParams, median of {repeats} interleaved runs")
    for dense in (True, False):
        image, depth = cones_1080p(dense=dense)
        old, new = two_render_eye_calls(image, depth, params), render_stereo(image, depth, params=params)
        same = all(np.array_equal(a, b) for a, b in zip(old, new, strict=True))
        t_old, t_new = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            two_render_eye_calls(image, depth, params)
            t1 = time.perf_counter()
            render_stereo(image, depth, params=params)
            t2 = time.perf_counter()
            t_old.append(t1 - t0)
            t_new.append(t2 - t1)
        threads = thread_budget()
        set_thread_budget(1)
        t_one = median_time(partial(render_stereo, image, depth, params=params), repeats)
        set_thread_budget(None)
        m_old, m_new = statistics.median(t_old), statistics.median(t_new)
        what = "dense map" if dense else "raw map with its invalid pixels"
        print(
            f"  {what}: two render_eye calls {m_old * 1e3:.1f} ms, render_stereo one pass {m_new * 1e3:.1f} ms "
            f"({threads} threads; {t_one * 1e3:.1f} ms with 1), ratio {m_old / m_new:.2f}x; "
            f"identical views: {same}; target <= 33 ms"
        )
    print(f"  numba {numba.__version__}, threading layer {numba.threading_layer()}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=("pair", "eye", "all"), default="all")
    ap.add_argument("--repeats", type=int, default=21)
    a = ap.parse_args()
    print(f"machine: {describe()}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1/5/15 min)")
    if a.part in ("pair", "all"):
        pair(a.repeats)
    if a.part in ("eye", "all"):
        eye_vs_remap(a.repeats)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def eye_vs_remap(repeats: int) -> None:
    """One eye vs one cv2.remap (issue 19's figure)."""
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

    t_remap = median_time(remap, repeats)
    t_eye = median_time(eye, repeats)
    pairs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        remap()
        t1 = time.perf_counter()
        eye()
        pairs.append((time.perf_counter() - t1) / (t1 - t0))
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    t_remap1 = median_time(lambda: cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR), repeats)
    cv2.setNumThreads(threads)
    print(f"machine: {describe()}, numpy {np.__version__}, opencv {cv2.__version__} ({threads} threads)")
    print(f"cv2.remap 1920x1080 RGB: {t_remap * 1e3:.1f} ms ({t_remap1 * 1e3:.1f} ms with 1 thread)")
    import numba

    print(f"render_eye 1920x1080 RGB: {t_eye * 1e3:.1f} ms (numba {numba.__version__} kernels)")
    print(f"ratio: {t_eye / t_remap:.1f}x remap ({t_eye / t_remap1:.1f}x single-thread remap); target <= 10x")
    print(f"interleaved: median of {repeats} per-pair ratios {statistics.median(pairs):.1f}x remap")
    image, depth = cones_1080p(dense=True)
    params = StereoParams()
    _, exact = eye_parallax(depth, width=image.shape[1], params=params)
    kernel, old = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        view = render_eye(image, depth, eye="right", params=params)
        t1 = time.perf_counter()
        want = _general_eye(
            image, eye_parallax(depth, width=1920, params=params)[0], params, exact=exact, e=1, fill_smooth=None
        )
        kernel.append(t1 - t0)
        old.append(time.perf_counter() - t1)
    same = np.array_equal(view, want)
    m_k, m_o = statistics.median(kernel), statistics.median(old)
    print(
        f"cones 1080p right eye: render_eye {m_k * 1e3:.1f} ms vs the general path {m_o * 1e3:.1f} ms "
        f"(ratio {m_o / m_k:.2f}x, interleaved, median of {repeats}); identical view: {same}"
    )


if __name__ == "__main__":
    main()
