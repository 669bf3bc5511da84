"""Writing a 16-bit depth PNG of realistic content: depthforge's encoder vs OpenCV and Pillow, side by side.

Content: the Middlebury "Cones" ground-truth disparity (``../shared/data/middlebury-cones/disp2.png``, quarter
size, 450x375), unknown pixels filled from their nearest known neighbour, turned into metric depth
``z = focal_px * baseline_m / d`` (focal x baseline chosen so the scene spans 0.8-8 m, an indoor table scene),
upsampled with ``cv2.resize(..., INTER_CUBIC)`` to 4000x3000 (12 MP), as a model's output is resized back to the
photo. That is a smooth scene with sharp object edges, what a trained model writes (not a random-weight model's
noise).

Timed in interleaved rounds (each contestant once per round; best and median over the rounds):

- ``write_depth png16`` / ``png16mm``: the public call end to end (display codes or millimetres, encoding, file,
  fsync, rename), as the CLI writes a depth file.
- ``encode_png`` at the default level and at explicit levels (in memory; ISA-L when ``isal`` is installed), and
  the default with ``isal`` hidden (the zlib fallback).
- ``write_png_rows`` into an atomic file through ``DiskWriter``.
- References on the same 16-bit codes, in memory: ``cv2.imencode`` (PNG compression 1) and Pillow (compress
  level 1). Ratios are quoted against ``cv2.imencode``; absolute times on a shared machine are noise.

Run: ``.venv/bin/python benchmarks/png.py [--rounds 7] [--threads N] [--out DIR]``
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import describe

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "middlebury-cones"
SIZE_HW = (3000, 4000)
FOCAL_BASELINE = 44.0  # px * m at quarter size: d = 55 px -> 0.8 m, d = 5.5 px -> 8 m


def cones_depth(size_hw: tuple[int, int]) -> np.ndarray:
    """(H, W) float32 metres, no invalid pixels: Cones' ground truth as metric depth, upsampled bicubically."""
    from scipy import ndimage

    disp = cv2.imread(str(DATA / "disp2.png"), cv2.IMREAD_UNCHANGED)
    if disp is None:
        raise SystemExit(f"missing {DATA / 'disp2.png'}")
    d = disp.astype(np.float32) / 4.0  # pixels; 0 = unknown
    _, (iy, ix) = ndimage.distance_transform_edt(d == 0, return_indices=True)
    d = d[iy, ix]  # unknown pixels take their nearest known neighbour's disparity
    z = (FOCAL_BASELINE / d).astype(np.float32)
    big = cv2.resize(z, (size_hw[1], size_hw[0]), interpolation=cv2.INTER_CUBIC)
    return np.clip(big, 0.5 * z.min(), None)  # bicubic overshoot at edges stays a positive distance


@contextlib.contextmanager
def without_isal() -> Iterator[None]:
    """Hide the ``isal`` package (as when it is not installed)."""
    saved = {k: sys.modules.get(k) for k in ("isal", "isal.isal_zlib")}
    sys.modules["isal"] = None  # type: ignore[assignment]
    sys.modules["isal.isal_zlib"] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def main() -> None:
    from PIL import Image

    from depthforge.core.depthmap import DepthMap
    from depthforge.io import png
    from depthforge.io.atomic import DiskWriter, atomic_path
    from depthforge.io.depthfiles import write_depth
    from depthforge.process.normalize import display_codes

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=None, help="encoder threads (default: the encoder's own)")
    ap.add_argument("--out", type=Path, default=None, help="folder for the files written (default: a temporary)")
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="depthforge-png-bench-"))
    out.mkdir(parents=True, exist_ok=True)

    depth = DepthMap(cones_depth(SIZE_HW), kind="metric")
    codes, _ = display_codes(depth, top=65535)  # what write_depth png16 puts in the file
    h, w = codes.shape
    th = args.threads

    def write_rows() -> int:
        with atomic_path(out / "rows.png") as tmp, open(tmp, "wb", buffering=0) as fh:
            png.write_png_rows(DiskWriter(fh.fileno()), (h, w), np.uint16, lambda r0, r1: codes[r0:r1], threads=th)
        return (out / "rows.png").stat().st_size

    def encoded(level: int | None) -> Callable[[], int]:
        return lambda: len(png.encode_png(codes, level=level, threads=th))

    def zlib_fallback() -> int:
        with without_isal():
            return len(png.encode_png(codes, threads=th))

    def cv2_png() -> int:
        ok, buf = cv2.imencode(".png", codes, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        assert ok
        return int(buf.size)

    def pillow_png() -> int:
        b = io.BytesIO()
        Image.fromarray(codes).save(b, format="PNG", compress_level=1)
        return b.tell()

    def write_file(fmt: str) -> int:
        return write_depth(out / f"{fmt}.png", depth, format=fmt).stat().st_size

    contestants: dict[str, Callable[[], int]] = {
        "write_depth png16 (file, fsync)": lambda: write_file("png16"),
        "write_depth png16mm (file, fsync)": lambda: write_file("png16mm"),
        "encode_png default": encoded(None),
        "encode_png level=0": encoded(0),
        "encode_png level=1": encoded(1),
        "encode_png level=2": encoded(2),
        "encode_png default, zlib (isal hidden)": zlib_fallback,
        "write_png_rows -> atomic file, DiskWriter": write_rows,
        "cv2.imencode PNG, compression 1": cv2_png,
        "Pillow PNG, compress_level 1": pillow_png,
    }
    isal = png.fast_deflate_available()
    print(f"machine: {describe()}; load {os.getloadavg()[0]:.2f}; opencv {cv2.__version__}, isal: {isal}")
    print(f"content: Middlebury Cones disparity -> metric depth, bicubic to {w}x{h}; codes {codes.nbytes / 1e6:.0f} MB")
    times: dict[str, list[float]] = {k: [] for k in contestants}
    sizes: dict[str, int] = {}
    for fn in contestants.values():  # warm-up (compilation, page cache)
        fn()
    for _ in range(args.rounds):
        for name, fn in contestants.items():
            t = time.perf_counter()
            sizes[name] = fn()
            times[name].append(time.perf_counter() - t)
    ref = statistics.median(times["cv2.imencode PNG, compression 1"])
    print(f"{args.rounds} interleaved rounds; ratio = cv2.imencode median / median (> 1: faster than OpenCV)")
    print(f"{'':46s} {'best ms':>8s} {'median':>8s} {'ratio':>6s} {'MB':>7s} {'% raw':>6s}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(
            f"{name:46s} {1000 * min(ts):8.1f} {1000 * med:8.1f} {ref / med:6.2f} {sizes[name] / 1e6:7.2f}"
            f" {100 * sizes[name] / codes.nbytes:6.1f}"
        )
    if args.out is None:
        for f in out.iterdir():
            f.unlink()
        out.rmdir()


if __name__ == "__main__":
    main()
