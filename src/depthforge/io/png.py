"""PNG encoding of single-channel 8/16-bit images (depth maps), with text chunks, through ISA-L or zlib.

Every scanline uses the PNG "Up" filter (each byte minus the byte above it: depth maps are smooth, so the
residuals are small). The rows are cut into pieces of about a megabyte of pixels, deflated on a thread pool
(:func:`depthforge.core.threads.thread_budget` threads): each piece is raw deflate ending in a sync flush (on a
byte boundary), so the pieces concatenate into one deflate stream, as pigz does; the zlib header and the Adler-32
of all scanlines (combined from the pieces') frame them. Each piece is one IDAT chunk (a PNG decoder concatenates
IDAT data), handed on in file order as soon as it and every piece before it are done (:func:`write_png_rows`),
so a file is written while the rest is still being compressed. Deflate is ISA-L's (``isal``, in the ``fast``
extra) when installed, else zlib's. Output is a standard PNG that Pillow, OpenCV and libpng read.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from depthforge.core.errors import ValidationError
from depthforge.core.threads import thread_budget
from depthforge.core.validation import check_array

__all__ = ["encode_png", "fast_deflate_available", "write_png_rows"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_FILTER_UP = 2
_PIECE_BYTES = 1 << 20  # pixel bytes per piece: one task, one IDAT chunk, small temporaries
_DEFAULT_LEVEL = 1
_ADLER_MOD = 65521


def _lib() -> Any:
    """``isal.isal_zlib`` when installed, else ``zlib`` (the same interface)."""
    try:
        from isal import isal_zlib

        return isal_zlib
    except ImportError:
        return zlib


def fast_deflate_available() -> bool:
    """Whether the optional ``isal`` package (fast deflate) is installed."""
    return _lib() is not zlib


def _chunk(kind: bytes, data: bytes) -> bytes:
    lib = _lib()
    crc = int(lib.crc32(data, lib.crc32(kind)))
    return b"".join((struct.pack(">I", len(data)), kind, data, struct.pack(">I", crc)))


def _adler_combine(a1: int, a2: int, len2: int) -> int:
    """Adler-32 of two concatenated byte strings from theirs (the formula of zlib's adler32_combine)."""
    rem = len2 % _ADLER_MOD
    s1a, s2a = a1 & 0xFFFF, a1 >> 16
    s1b, s2b = a2 & 0xFFFF, a2 >> 16
    s1 = (s1a + s1b - 1) % _ADLER_MOD
    s2 = (s2a + s2b + rem * s1a - rem) % _ADLER_MOD
    return (s2 << 16) | s1


def _scanlines(part: np.ndarray, top: bool) -> np.ndarray:
    """PNG scanlines of ``part``'s rows, flat uint8: per row the filter-type byte (Up), then each byte minus the
    byte above it (uint8 arithmetic wraps modulo 256, as PNG's does; 16-bit samples big-endian).

    Args:
        part: (n, W) uint8 or uint16 rows. With ``top`` (the image's first rows), all n rows are coded (the row
            above the first is zeros); else the first row is only the one above and n - 1 rows are coded.
    """
    raw = (part.astype(">u2") if part.dtype == np.uint16 else part).view(np.uint8).reshape(part.shape[0], -1)
    coded = raw if top else raw[1:]
    out = np.empty((coded.shape[0], raw.shape[1] + 1), np.uint8)
    out[:, 0] = _FILTER_UP
    if top:
        out[0, 1:] = raw[0]
        np.subtract(raw[1:], raw[:-1], out=out[1:, 1:])
    else:
        np.subtract(raw[1:], raw[:-1], out=out[:, 1:])
    return out.reshape(-1)


def _piece(
    rows: Callable[[int, int], np.ndarray], r0: int, r1: int, last: bool, level: int, dtype: np.dtype[Any], width: int
) -> tuple[bytes, int, int]:
    """Rows r0..r1 filtered and deflated (ending in a sync flush, or the final block if ``last``): (the IDAT
    chunk, the Adler-32 of the rows' scanlines, their length in bytes)."""
    q0 = max(r0 - 1, 0)  # with the row above, for the filter
    part = rows(q0, r1)
    if part.dtype != dtype or part.shape != (r1 - q0, width):
        raise ValidationError(
            f"image: rows {q0}..{r1} came as {part.dtype} {part.shape}, expected {dtype} {(r1 - q0, width)}"
        )
    lines = _scanlines(part, r0 == 0)
    lib = _lib()
    comp = (
        zlib.compressobj(level, zlib.DEFLATED, -15)
        if lib is zlib
        else lib.compressobj(min(max(level, 0), 3), lib.DEFLATED, -15)
    )
    body = comp.compress(lines.data) + comp.flush(lib.Z_FINISH if last else lib.Z_SYNC_FLUSH)
    return _chunk(b"IDAT", body), int(lib.adler32(lines.data)), lines.size


def write_png_rows(
    emit: Callable[[bytes], object],
    shape: tuple[int, int],
    dtype: Any,
    rows: Callable[[int, int], np.ndarray],
    *,
    text: dict[str, str] | None = None,
    level: int | None = None,
    threads: int | None = None,
) -> None:
    """Encode a grayscale image given row by row as a PNG file, handing its bytes to ``emit`` in file order
    while the rest is still being compressed (so a file can be written as it is made).

    The image is never held whole: each task asks ``rows`` for about a megabyte of rows (plus the row above),
    filters and deflates them, so a caller can compute the pixel values on the fly (e.g. depth -> 16-bit codes)
    with only small temporaries.

    Args:
        emit: ``emit(data)`` takes the file's next bytes; called from the calling thread only.
        shape: (H, W) of the image.
        dtype: ``np.uint8`` or ``np.uint16``.
        rows: ``rows(r0, r1)`` -> (r1 - r0, W) array of ``dtype``: the image's rows r0..r1 (called from several
            threads at once, in any order; a row may be asked for twice, as the last of one piece and the row
            above the next; must not modify shared state).
        text, level, threads: as :func:`encode_png`.

    Raises:
        ValidationError: ``dtype`` is not uint8/uint16, the image is empty, or ``rows`` gave rows of another
            dtype or shape.
    """
    h, w = (int(shape[0]), int(shape[1]))
    dt = np.dtype(dtype)
    if dt not in (np.uint8, np.uint16):
        raise ValidationError(f"image: expected uint8 or uint16, got {dt}")
    if h < 1 or w < 1:
        raise ValidationError(f"image: expected a non-empty image, got {w}x{h}")
    lvl = _DEFAULT_LEVEL if level is None else level
    step = max(1, _PIECE_BYTES // (w * dt.itemsize))
    pieces = [(r0, min(r0 + step, h)) for r0 in range(0, h, step)]

    emit(_SIGNATURE)
    emit(_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8 * dt.itemsize, 0, 0, 0, 0)))
    for key, value in (text or {}).items():
        emit(_chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1", "replace")))
    emit(_chunk(b"IDAT", b"\x78\x01"))  # zlib header: deflate, 32K window, no dictionary

    def piece(i: int) -> tuple[bytes, int, int]:
        return _piece(rows, *pieces[i], i == len(pieces) - 1, lvl, dt, w)

    adler = 1

    def take(result: tuple[bytes, int, int]) -> None:
        nonlocal adler
        chunk, piece_adler, size = result
        emit(chunk)
        adler = _adler_combine(adler, piece_adler, size)

    with ThreadPoolExecutor(max(1, min(thread_budget() if threads is None else threads, len(pieces)))) as pool:
        futures = [pool.submit(piece, i) for i in range(len(pieces))]
        try:
            for fut in futures:
                take(fut.result())
        finally:
            for fut in futures:  # after a failure, the pieces not started are dropped
                fut.cancel()
    emit(_chunk(b"IDAT", struct.pack(">I", adler)))
    emit(_chunk(b"IEND", b""))


def encode_png(
    image: np.ndarray, *, text: dict[str, str] | None = None, level: int | None = None, threads: int | None = None
) -> bytes:
    """Encode a grayscale image as PNG bytes.

    Args:
        image: (H, W) uint8 or uint16 (stored big-endian, as PNG wants); not modified.
        text: key -> value, written as ``tEXt`` chunks (Latin-1 keys and values; Pillow reads them into
            ``Image.info``).
        level: deflate level, 0-9 (default 1); ``isal`` has levels 0-3 and takes the nearest.
        threads: compressing threads (default :func:`depthforge.core.threads.thread_budget`; never more than
            one per ~1 MB piece of pixels).

    Returns:
        The PNG file's bytes.
    """
    a = np.ascontiguousarray(check_array(image, "image", ndim=2))
    out: list[bytes] = []
    write_png_rows(out.append, a.shape, a.dtype, lambda r0, r1: a[r0:r1], text=text, level=level, threads=threads)
    return b"".join(out)
