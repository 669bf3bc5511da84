"""A fast PNG encoder for single-channel 8/16-bit images (depth maps), with text chunks.

Depth maps are smooth, so the PNG "Up" filter (each byte minus the byte above it) leaves small residuals; the
filter is one vectorised numpy subtraction. The filtered rows are compressed in parallel: the rows are cut into
bands, each band becomes raw deflate blocks ending on a sync flush (byte aligned, so the blocks of consecutive
bands concatenate into one valid deflate stream, as pigz does), and the zlib header and the Adler-32 of all rows
frame them. Each band is its own IDAT chunk (a PNG decoder concatenates IDAT data). With the ``isal`` package
(Intel ISA-L, optional) deflate runs several times faster than with zlib at the same level; without it zlib
level 1 with its run-length strategy is used. Output is a standard PNG that Pillow, OpenCV and libpng read.
"""

from __future__ import annotations

import os
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from depthforge.core.validation import check_array

__all__ = ["encode_png", "fast_deflate_available"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_FILTER_UP = 2
_MIN_BAND_BYTES = 1 << 20  # bands below ~1 MB of pixels are not worth a thread


def fast_deflate_available() -> bool:
    """Whether the optional ``isal`` package (fast deflate) is installed."""
    try:
        from isal import isal_zlib  # noqa: F401
    except ImportError:
        return False
    return True


def _chunk(kind: bytes, data: bytes | memoryview) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind))
    return b"".join((struct.pack(">I", len(data)), kind, data, struct.pack(">I", crc)))


def _filter_band(image: np.ndarray, r0: int, r1: int) -> np.ndarray:
    """Rows r0..r1 as PNG scanlines, (r1 - r0, 1 + W * bytes per pixel) uint8: the filter-type byte (Up), then
    each byte minus the byte above it (uint8 arithmetic wraps modulo 256, as PNG's filter does)."""
    lo = max(r0 - 1, 0)
    part = image[lo:r1]
    raw = (part.astype(">u2") if image.dtype == np.uint16 else part).view(np.uint8).reshape(r1 - lo, -1)
    out = np.empty((r1 - r0, raw.shape[1] + 1), np.uint8)
    out[:, 0] = _FILTER_UP
    if r0 == 0:
        out[0, 1:] = raw[0]
        np.subtract(raw[1:], raw[:-1], out=out[1:, 1:])
    else:
        np.subtract(raw[1:], raw[:-1], out=out[:, 1:])
    return out


def _lib() -> Any:
    try:
        from isal import isal_zlib

        return isal_zlib
    except ImportError:
        return zlib


_ADLER_MOD = 65521


def _adler_combine(a1: int, a2: int, len2: int) -> int:
    """Adler-32 of two concatenated pieces from theirs (the same formula as zlib's adler32_combine)."""
    rem = len2 % _ADLER_MOD
    s1a, s2a = a1 & 0xFFFF, a1 >> 16
    s1b, s2b = a2 & 0xFFFF, a2 >> 16
    s1 = (s1a + s1b - 1) % _ADLER_MOD
    s2 = (s2a + s2b + rem * s1a - rem) % _ADLER_MOD
    return (s2 << 16) | s1


def _band(image: np.ndarray, r0: int, r1: int, last: bool, level: int | None) -> tuple[bytes, int, int]:
    """Filter, checksum and deflate one band of rows: (IDAT chunk, Adler-32 of its scanlines, their length)."""
    rows = _filter_band(image, r0, r1).reshape(-1)
    lib = _lib()
    adler = int(lib.adler32(rows.data))
    if lib is zlib:
        comp = zlib.compressobj(
            1 if level is None else level,
            zlib.DEFLATED,
            -15,
            8,
            zlib.Z_RLE if level is None else zlib.Z_DEFAULT_STRATEGY,
        )
    else:
        comp = lib.compressobj(1 if level is None else min(max(level, 0), 3), lib.DEFLATED, -15)
    body = comp.compress(rows.data) + comp.flush(lib.Z_FINISH if last else lib.Z_SYNC_FLUSH)
    crc = int(lib.crc32(body, lib.crc32(b"IDAT")))
    chunk = b"".join((struct.pack(">I", len(body)), b"IDAT", body, struct.pack(">I", crc & 0xFFFFFFFF)))
    return chunk, adler, rows.size


def encode_png(
    image: np.ndarray, *, text: dict[str, str] | None = None, level: int | None = None, threads: int | None = None
) -> bytes:
    """Encode a grayscale image as PNG bytes.

    Args:
        image: (H, W) uint8 or uint16 (stored big-endian, as PNG wants).
        text: key -> value, written as ``tEXt`` chunks (Latin-1 keys and values; Pillow reads them into
            ``Image.info``).
        level: deflate level (default: the fastest good one, 1); with ``isal`` at most 3.
        threads: compressing threads (default: up to the CPU count, one band of >= ~1 MB each).

    Returns:
        The PNG file's bytes.
    """
    a = check_array(image, "image", ndim=2)
    if a.dtype not in (np.uint8, np.uint16):
        from depthforge.core.errors import ValidationError

        raise ValidationError(f"image: expected uint8 or uint16, got {a.dtype}")
    h, w = a.shape
    a = np.ascontiguousarray(a)
    n = threads or os.cpu_count() or 1
    n = max(1, min(n, h, a.nbytes // _MIN_BAND_BYTES or 1))
    edges = [round(i * h / n) for i in range(n + 1)]
    jobs = [(edges[i], edges[i + 1], i == n - 1) for i in range(n)]
    if n == 1:
        parts = [_band(a, 0, h, True, level)]
    else:
        with ThreadPoolExecutor(n) as pool:
            parts = list(pool.map(lambda job: _band(a, job[0], job[1], job[2], level), jobs))
    adler = parts[0][1]
    for _, band_adler, size in parts[1:]:
        adler = _adler_combine(adler, band_adler, size)
    depth = 16 if a.dtype == np.uint16 else 8
    out = [_SIGNATURE, _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, 0, 0, 0, 0))]
    for key, value in (text or {}).items():
        out.append(_chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1", "replace")))
    out.append(_chunk(b"IDAT", b"\x78\x01"))  # zlib header: deflate, 32K window, no dictionary
    out.extend(chunk for chunk, _, _ in parts)
    out.append(_chunk(b"IDAT", struct.pack(">I", adler & 0xFFFFFFFF)))
    out.append(_chunk(b"IEND", b""))
    return b"".join(out)
