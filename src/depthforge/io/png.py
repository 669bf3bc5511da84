"""A fast PNG encoder for single-channel 8/16-bit images (depth maps), with text chunks.

Depth maps are smooth, so the PNG "Up" filter (each byte minus the byte above it) leaves small residuals; the
filter is one vectorised numpy subtraction. The filtered rows are compressed in parallel: the rows are cut into
bands, each band becomes raw deflate blocks ending on a sync flush (byte aligned, so the blocks of consecutive
bands concatenate into one valid deflate stream, as pigz does), and the zlib header and the Adler-32 of all rows
frame them. Each band is filtered and compressed a megabyte of rows at a time, each piece its own IDAT chunk (a
PNG decoder concatenates IDAT data), so no temporary is image-sized and the rows can be computed on the fly
(:func:`encode_png_rows`: depth maps are quantised band by band inside the compressing threads). With the
``isal`` package (Intel ISA-L, optional) deflate runs several times faster than with zlib at the same level;
without it zlib level 1 with its run-length strategy is used. Output is a standard PNG that Pillow, OpenCV and
libpng read.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from depthforge.core.validation import check_array

__all__ = ["encode_png", "encode_png_rows", "fast_deflate_available"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_FILTER_UP = 2
_MIN_BAND_BYTES = 1 << 20  # bands below ~1 MB of pixels are not worth a thread
_BLOCK_BYTES = 1 << 20  # rows filtered and compressed at a time: small temporaries that stay in cache


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


def _filter_rows(block: np.ndarray, above: np.ndarray | None) -> np.ndarray:
    """Rows as PNG scanlines, (rows, 1 + W * bytes per pixel) uint8: the filter-type byte (Up), then each byte
    minus the byte above it (``above``: the row before the block, None at the top of the image; uint8 arithmetic
    wraps modulo 256, as PNG's filter does)."""
    n = block.shape[0]
    raw = (block.astype(">u2") if block.dtype == np.uint16 else block).view(np.uint8).reshape(n, -1)
    out = np.empty((n, raw.shape[1] + 1), np.uint8)
    out[:, 0] = _FILTER_UP
    if above is None:
        out[0, 1:] = raw[0]
    else:
        prev = (above.astype(">u2") if above.dtype == np.uint16 else above).view(np.uint8).reshape(-1)
        np.subtract(raw[0], prev, out=out[0, 1:])
    np.subtract(raw[1:], raw[:-1], out=out[1:, 1:])
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


def _band(
    rows: Callable[[int, int], np.ndarray],
    r0: int,
    r1: int,
    last: bool,
    level: int | None,
    block: int,
    dtype: np.dtype[Any],
    width: int,
) -> tuple[list[bytes], int, int]:
    """Filter, checksum and deflate rows r0..r1, ``block`` rows at a time (so every temporary stays small):
    (IDAT chunks, Adler-32 of the band's scanlines, their length in bytes)."""
    lib = _lib()
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
    chunks: list[bytes] = []
    adler, size = 1, 0
    above = rows(r0 - 1, r0)[-1] if r0 > 0 else None
    for b0 in range(r0, r1, block):
        b1 = min(b0 + block, r1)
        part = rows(b0, b1)
        if part.dtype != dtype or part.shape != (b1 - b0, width):
            from depthforge.core.errors import ValidationError

            raise ValidationError(
                f"image: rows {b0}..{b1} came as {part.dtype} {part.shape}, expected {dtype} {(b1 - b0, width)}"
            )
        lines = _filter_rows(part, above).reshape(-1)
        above = part[-1].copy()
        adler = int(lib.adler32(lines.data, adler))
        size += lines.size
        body = comp.compress(lines.data)
        if b0 + block >= r1:
            body += comp.flush(lib.Z_FINISH if last else lib.Z_SYNC_FLUSH)
        if body:
            chunks.append(_chunk(b"IDAT", body))
    return chunks, adler, size


def encode_png_rows(
    shape: tuple[int, int],
    dtype: Any,
    rows: Callable[[int, int], np.ndarray],
    *,
    text: dict[str, str] | None = None,
    level: int | None = None,
    threads: int | None = None,
) -> list[bytes]:
    """Encode a grayscale image given row by row, as the pieces of a PNG file (write them in order).

    The image is never held whole: each thread asks ``rows(r0, r1)`` for a few rows at a time (about a megabyte),
    filters and compresses them, so a caller can compute the pixel values on the fly (e.g. depth -> 16-bit codes)
    with only small temporaries.

    Args:
        shape: (H, W) of the image.
        dtype: ``np.uint8`` or ``np.uint16``.
        rows: ``rows(r0, r1)`` -> (r1 - r0, W) array of ``dtype``: the image's rows r0..r1 (called from several
            threads at once; the row above each band is asked for twice; must not modify shared state).
        text, level, threads: as :func:`encode_png`.

    Returns:
        The PNG file as a list of byte strings (signature, header, text, image data, end).
    """
    h, w = (int(shape[0]), int(shape[1]))
    dt = np.dtype(dtype)
    if dt not in (np.uint8, np.uint16):
        from depthforge.core.errors import ValidationError

        raise ValidationError(f"image: expected uint8 or uint16, got {dt}")
    if h < 1 or w < 1:
        from depthforge.core.errors import ValidationError

        raise ValidationError(f"image: expected a non-empty image, got {w}x{h}")
    row_bytes = w * dt.itemsize
    n = threads or os.cpu_count() or 1
    n = max(1, min(n, h, (h * row_bytes) // _MIN_BAND_BYTES or 1))
    block = max(1, _BLOCK_BYTES // row_bytes)
    edges = [round(i * h / n) for i in range(n + 1)]
    jobs = [(edges[i], edges[i + 1], i == n - 1) for i in range(n)]
    if n == 1:
        parts = [_band(rows, 0, h, True, level, block, dt, w)]
    else:
        with ThreadPoolExecutor(n) as pool:
            parts = list(pool.map(lambda job: _band(rows, job[0], job[1], job[2], level, block, dt, w), jobs))
    adler = parts[0][1]
    for _, band_adler, size in parts[1:]:
        adler = _adler_combine(adler, band_adler, size)
    depth = 16 if dt == np.uint16 else 8
    out = [_SIGNATURE, _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, 0, 0, 0, 0))]
    for key, value in (text or {}).items():
        out.append(_chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1", "replace")))
    out.append(_chunk(b"IDAT", b"\x78\x01"))  # zlib header: deflate, 32K window, no dictionary
    for chunks, _, _ in parts:
        out.extend(chunks)
    out.append(_chunk(b"IDAT", struct.pack(">I", adler & 0xFFFFFFFF)))
    out.append(_chunk(b"IEND", b""))
    return out


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
    a = np.ascontiguousarray(check_array(image, "image", ndim=2))
    if a.dtype not in (np.uint8, np.uint16):
        from depthforge.core.errors import ValidationError

        raise ValidationError(f"image: expected uint8 or uint16, got {a.dtype}")
    return b"".join(encode_png_rows(a.shape, a.dtype, lambda r0, r1: a[r0:r1], text=text, level=level, threads=threads))
