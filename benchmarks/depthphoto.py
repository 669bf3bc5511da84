"""Depth photos (issue 24): round-trip accuracy, extended XMP, untouched pixels, ExifTool, quilts; speed against
ExifTool.

Content: the Middlebury cones pair (im2 and its ground-truth disparity, 450 x 375) made metric with an assumed
camera (f = 935 px, B = 0.16 m; the figures do not depend on it), and the same scene upsampled x4 (1800 x 1500,
bicubic) for the extended-XMP and speed figures. Needs ../shared/data/middlebury-cones; ExifTool is optional.

Printed: for GDepth and Dynamic Depth, 8 and 16 bit, RangeInverse and RangeLinear, the largest round-trip error
in codes (the quantisation step is 1; rounding gives at most 0.5) and in metres; the number of extended-XMP
chunks, whether their GUID, lengths and offsets check, whether the photo decodes to the same pixels as the JPEG
without depth; ExifTool's -validate verdict and whether its extracted depth image equals ours; a Looking Glass
8 x 6 quilt's size, name and the parallax of its views; the time to read the depth of a 16-bit GDepth photo with
our reader against ``exiftool -b -DepthImage`` plus decoding its PNG (the ratio is the figure to quote).

Usage: ``.venv/bin/python benchmarks/depthphoto.py [--repeats 5]``
"""

from __future__ import annotations

import argparse
import hashlib
import io
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _machine import describe

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "middlebury-cones"


def _scene(scale: int) -> tuple[np.ndarray, object]:
    import cv2
    from PIL import Image

    from depthforge.core.depthmap import DepthMap

    image = np.asarray(Image.open(SHARED / "im2.png").convert("RGB"))
    raw = np.asarray(Image.open(SHARED / "disp2.png")).astype(np.float32) / 4.0
    z = np.where(raw > 0, 935.0 * 0.16 / np.maximum(raw, 1e-6), np.nan).astype(np.float32)
    if scale > 1:
        h, w = image.shape[:2]
        image = cv2.resize(image, (w * scale, h * scale), interpolation=cv2.INTER_CUBIC)
        filled = np.where(np.isnan(z), np.nanmax(z), z)
        z = cv2.resize(filled, (w * scale, h * scale), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    return image, DepthMap(z, kind="metric")


def _dn(d: np.ndarray, near: float, far: float, fmt: str) -> np.ndarray:
    d = d.astype(np.float64)
    return far * (d - near) / (d * (far - near)) if fmt == "RangeInverse" else (d - near) / (far - near)


def round_trips(tmp: Path) -> None:
    from depthforge.io.depthphoto_read import read_depth_photo
    from depthforge.io.depthphoto_write import write_dynamic_depth, write_gdepth

    image, depth = _scene(1)
    ok = depth.valid  # type: ignore[attr-defined]
    print("| writer | bits | format | max error (codes) | max error (m) | invalid kept |")
    print("| --- | --- | --- | --- | --- | --- |")
    for writer in ("gdepth", "dynamic-depth"):
        for bits in (8, 16):
            for fmt in ("RangeInverse", "RangeLinear") if writer == "gdepth" else ("RangeInverse",):
                path = tmp / f"{writer}{bits}{fmt}.jpg"
                if writer == "gdepth":
                    write_gdepth(path, image, depth, format=fmt, bits=bits)  # type: ignore[arg-type]
                else:
                    write_dynamic_depth(path, image, depth, bits=bits)  # type: ignore[arg-type]
                got = read_depth_photo(path)
                near, far = got.meta["near"], got.meta["far"]
                top = (1 << bits) - 1
                v, t = got.depth.values[ok], depth.values[ok]  # type: ignore[attr-defined]
                codes = np.abs(_dn(v, near, far, fmt) - _dn(t, near, far, fmt)).max() * top
                same_holes = bool(np.array_equal(got.depth.valid, ok))
                print(f"| {writer} | {bits} | {fmt} | {codes:.3f} | {np.abs(v - t).max():.5f} | {same_holes} |")


def extended_and_pixels(tmp: Path) -> Path:
    import simplejpeg

    from depthforge.io.depthphoto_write import encode_jpeg, write_dynamic_depth, write_gdepth
    from depthforge.io.xmp import EXTENDED_CHUNK_BYTES, read_xmp

    image, depth = _scene(4)
    path = write_gdepth(tmp / "big.jpg", image, depth, bits=16)  # type: ignore[arg-type]
    packets = read_xmp(path.read_bytes())
    offsets_ok = [o for o, _ in packets.chunks] == [i * EXTENDED_CHUNK_BYTES for i in range(len(packets.chunks))]
    lengths_ok = sum(n for _, n in packets.chunks) == len(packets.extended)
    guid_ok = packets.guid == hashlib.md5(packets.extended).hexdigest().upper()  # the XMP spec's checksum
    print(
        f"\n16-bit GDepth of {depth.shape[1]}x{depth.shape[0]}: extended XMP {len(packets.extended)} bytes in "  # type: ignore[attr-defined]
        f"{len(packets.chunks)} chunks; offsets contiguous {offsets_ok}, lengths sum {lengths_ok}, "
        f"GUID = MD5 {guid_ok}; standard packet {len(packets.standard)} bytes"
    )
    plain = simplejpeg.decode_jpeg(encode_jpeg(image))
    same = [
        np.array_equal(simplejpeg.decode_jpeg(p.read_bytes()), plain)
        for p in (path, write_dynamic_depth(tmp / "bigdd.jpg", image, depth))  # type: ignore[arg-type]
    ]
    print(f"photo pixels identical to the JPEG without depth: GDepth {same[0]}, Dynamic Depth {same[1]}")
    return path


def exiftool_checks(tmp: Path, big: Path, repeats: int) -> None:
    from PIL import Image

    from depthforge.io.depthphoto_read import read_depth_photo
    from depthforge.io.depthphoto_write import encode_range, write_dynamic_depth

    tool = shutil.which("exiftool")
    if tool is None:
        print("\nexiftool not installed: ExifTool figures skipped")
        return
    version = subprocess.run([tool, "-ver"], capture_output=True, text=True, check=True).stdout.strip()
    image, depth = _scene(1)
    dd = write_dynamic_depth(tmp / "dd.jpg", image, depth)  # type: ignore[arg-type]
    for path in (big, dd):
        out = subprocess.run([tool, "-validate", "-warning", "-error", "-a", str(path)], capture_output=True, text=True)
        verdict = [ln.split(":", 1)[1].strip() for ln in out.stdout.splitlines() if ln.startswith("Validate")]
        print(f"ExifTool {version} -validate {path.name}: {verdict[0] if verdict else out.stdout.strip()[:80]}")
    png = subprocess.run([tool, "-b", "-DepthImage", str(big)], capture_output=True, check=True).stdout
    _, bigdepth = _scene(4)
    same = np.array_equal(np.asarray(Image.open(io.BytesIO(png))), encode_range(bigdepth, bits=16).codes)  # type: ignore[arg-type]
    print(f"ExifTool's extracted GDepth image equals ours: {same}")

    def ours() -> None:
        read_depth_photo(big)

    def theirs() -> None:
        data = subprocess.run([tool, "-b", "-DepthImage", str(big)], capture_output=True, check=True).stdout
        np.asarray(Image.open(io.BytesIO(data)))

    times = {}
    for name, fn in (("ours", ours), ("exiftool", theirs)):
        fn()
        runs = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            runs.append(time.perf_counter() - t)
        times[name] = float(np.median(runs))
    print(
        f"read the 16-bit depth of {big.name} ({big.stat().st_size / 1e6:.1f} MB): ours {times['ours'] * 1e3:.0f} ms "
        f"(decoded to metres), exiftool + PNG decode {times['exiftool'] * 1e3:.0f} ms (codes only): "
        f"ratio {times['exiftool'] / times['ours']:.1f}x (medians of {repeats})"
    )


def quilt() -> None:
    from depthforge.render.quilt import render_quilt
    from depthforge.render.stereo import StereoParams

    image, depth = _scene(1)
    t = time.perf_counter()
    q, suffix = render_quilt(image, depth, columns=8, rows=6, params=StereoParams(divergence=6, convergence=0.5))  # type: ignore[arg-type]
    dt = time.perf_counter() - t
    h, w = q.shape[0] // 6, q.shape[1] // 8
    views = [q[(5 - r) * h : (6 - r) * h, c * w : (c + 1) * w] for r in range(6) for c in range(8)]
    # parallax of the near cones from view 0: the horizontal shift that best maps view 0's nearest fifth of pixels
    # (by the ground truth) onto each view (sub-pixel by a parabola through the best integer shift)
    z = depth.values  # type: ignore[attr-defined]
    near = np.isfinite(z) & (z < np.nanpercentile(z, 20))
    near[:, :40] = near[:, -40:] = False
    base = views[0].astype(np.float32).mean(axis=2)
    ys, xs = np.nonzero(near)
    shifts = []
    for v in views:
        cur = v.astype(np.float32).mean(axis=2)
        cand = np.arange(-30, 31)
        errs = np.array([np.abs(cur[ys, xs + s] - base[ys, xs]).mean() for s in cand])
        k = int(np.argmin(errs))
        if 0 < k < len(cand) - 1:
            a, b, c = errs[k - 1], errs[k], errs[k + 1]
            frac = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) > 0 else 0.0
        else:
            frac = 0.0
        shifts.append(abs(float(cand[k] + frac)))
    print(
        f"\nquilt 8x6 of cones: {q.shape[1]}x{q.shape[0]}, name suffix {suffix}, {dt:.2f} s; parallax of the near "
        f"cones from view 0 along the view order (px): {', '.join(f'{x:.1f}' for x in shifts)}; "
        f"increasing {bool(np.all(np.diff(shifts) > 0))}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    if not (SHARED / "im2.png").exists():
        print("../shared/data/middlebury-cones is missing", file=sys.stderr)
        return 1
    print(describe())
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        round_trips(tmp)
        big = extended_and_pixels(tmp)
        exiftool_checks(tmp, big, args.repeats)
        quilt()
    return 0


if __name__ == "__main__":
    sys.exit(main())
