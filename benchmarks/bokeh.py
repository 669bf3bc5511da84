"""Depth-of-field speed: ``render.defocus.bokeh`` on a 12-megapixel photo at largest blur radius 10 and 40 px.

Shows that the layered renderer's cost does not grow with the square of the radius (layers blurred at reduced
resolution): the ratio time(r=40) / time(r=10) must stay below 3. Reference, side by side: one full-resolution
disc blur of the whole image with OpenCV's ``filter2D`` (what a naive single-layer portrait blur costs; OpenCV
switches to a DFT for large kernels).

Run: ``.venv/bin/python benchmarks/bokeh.py [--megapixels 12] [--repeat 1]``
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np


def scene(height: int, width: int) -> tuple[np.ndarray, object]:
    """A textured photo and a metric depth: a ground ramp from 1.5 m (bottom) to 30 m (top), a subject at 2 m."""
    from depthforge.core.depthmap import DepthMap

    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (height // 4, width // 4, 3), dtype=np.uint8)
    import cv2

    img = cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST)
    img[rng.random((height, width)) < 0.0005] = 255  # highlights
    z = np.tile(np.geomspace(30.0, 1.5, height, dtype=np.float32)[:, None], (1, width))
    yy, xx = np.ogrid[:height, :width]
    z[(yy - height * 0.55) ** 2 + (xx - width * 0.5) ** 2 < (0.2 * height) ** 2] = 2.0
    return img, DepthMap(z, kind="metric")


def cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return " ".join(f for f in ("avx2", "avx512f", "fma") if f in flags)
    except OSError:
        pass
    return platform.machine()


def timed(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    import cv2

    from depthforge.render.defocus import bokeh, disc_kernel, plan_bokeh

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--megapixels", type=float, default=12.0)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    w = round(np.sqrt(args.megapixels * 1e6 * 4 / 3))
    h = round(w * 3 / 4)
    img, depth = scene(h, w)
    focus = (w / 2, h * 0.55)
    unit = plan_bokeh(depth, focus_xy=focus, aperture_px=1.0).max_radius_px
    print(
        f"machine: {os.cpu_count()} cores, {cpu_flags()}; image {w}x{h} = {w * h / 1e6:.1f} MP, "
        f"opencv {cv2.__version__}"
    )
    times: dict[float, tuple[float, float]] = {}
    lin = img.astype(np.float32)
    for radius in (10.0, 40.0):
        aperture = radius / unit
        ours = timed(lambda a=aperture: bokeh(img, depth, focus_xy=focus, aperture_px=a), args.repeat)
        kern = disc_kernel(radius)
        ref = timed(lambda k=kern: cv2.filter2D(lin, -1, k), args.repeat)
        times[radius] = (ours, ref)
        print(
            f"largest radius {radius:4.0f} px: depthforge bokeh {ours:6.2f} s | opencv filter2D one full-res disc "
            f"{ref:6.2f} s | ours/reference {ours / ref:5.2f}"
        )
    r_ours = times[40.0][0] / times[10.0][0]
    r_ref = times[40.0][1] / times[10.0][1]
    print(f"ratio time(r=40) / time(r=10): depthforge {r_ours:.2f} (must be < 3) | opencv filter2D {r_ref:.2f}")


if __name__ == "__main__":
    main()
