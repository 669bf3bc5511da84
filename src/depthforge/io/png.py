"""A fast PNG encoder for single-channel 8/16-bit images (depth maps), with text chunks.

Depth maps are smooth, so the PNG "Up" filter (each byte minus the byte above it) leaves small residuals. The
rows are cut into bands, one per thread, and each band into pieces of about a megabyte of pixels, which the
threads code in order: each piece becomes deflate blocks ending on a byte boundary (an empty stored block, as a
sync flush makes), so the pieces concatenate into one valid deflate stream, as pigz does; the zlib header and
the Adler-32 of all rows (combined from the pieces') frame them. Each piece is one or more IDAT chunks (a PNG decoder
concatenates IDAT data) and is handed on (:func:`write_png_rows`: to a file, say) as soon as every piece before
it has been, so the file is written while the rest is still being coded. No temporary is image-sized and the
rows can be computed on the fly (depth maps are quantised piece by piece inside the compressing threads).

Default (``level=None``), per band: a probe of three short runs of filtered rows decides. Where LZ77 string
matching is clearly smaller (smooth, noise-free maps: planes, flat regions, whose filtered rows repeat), LZ77
deflate at level 1; otherwise dynamic-Huffman blocks (one per piece) with a code fitted to the bytes of those
same probe runs, written by compiled kernels (:mod:`depthforge.io._png_numba`: filter + checksum + coding
in one pass), within a few per cent of LZ77's size on noise-like maps at about twice ISA-L's speed. An explicit
``level`` always uses LZ77 deflate. LZ77 runs on ``isal`` (Intel ISA-L, optional) when installed, else zlib.
Output is a standard PNG that Pillow, OpenCV and libpng read.
"""

from __future__ import annotations

import os
import struct
import sys
import zlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from depthforge.core.validation import check_array
from depthforge.io._huffman import Code as _Code
from depthforge.io._huffman import literal_lengths

__all__ = ["encode_png", "encode_png_rows", "fast_deflate_available", "write_png_rows"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_FILTER_UP = 2
_MIN_BAND_BYTES = 1 << 20  # bands below ~1 MB of pixels are not worth a thread
_BLOCK_BYTES = 1 << 20  # rows filtered and compressed at a time: small temporaries that stay in cache
_UNIT_BYTES = 1 << 20  # rows coded as one piece (deflate block) and handed on in file order


def fast_deflate_available() -> bool:
    """Whether the optional ``isal`` package (fast deflate) is installed."""
    try:
        from isal import isal_zlib  # noqa: F401
    except ImportError:
        return False
    return True


def _crc32(data: bytes | memoryview, value: int = 0) -> int:
    """CRC-32 (ISA-L's when installed: several times faster than zlib's)."""
    return int(_lib().crc32(data, value))


def _chunk(kind: bytes, data: bytes | memoryview) -> bytes:
    crc = _crc32(data, _crc32(kind))
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


def _checked_rows(
    rows: Callable[[int, int], np.ndarray], r0: int, r1: int, dtype: np.dtype[Any], width: int
) -> np.ndarray:
    """``rows(r0, r1)``, refused unless it is (r1 - r0, width) of ``dtype``."""
    part = rows(r0, r1)
    if part.dtype != dtype or part.shape != (r1 - r0, width):
        from depthforge.core.errors import ValidationError

        raise ValidationError(
            f"image: rows {r0}..{r1} came as {part.dtype} {part.shape}, expected {dtype} {(r1 - r0, width)}"
        )
    return part


def _band(
    rows: Callable[[int, int], np.ndarray],
    r0: int,
    r1: int,
    last: bool,
    level: int,
    block: int,
    dtype: np.dtype[Any],
    width: int,
) -> tuple[list[bytes | memoryview], int, int]:
    """Filter, checksum and deflate (LZ77, ``level``) rows r0..r1 (a piece: a sync flush ends it unless
    ``last``), ``block`` rows at a time (so every temporary stays small): (IDAT chunks, Adler-32 of the rows'
    scanlines, their length in bytes)."""
    lib = _lib()
    if lib is zlib:
        comp = zlib.compressobj(level, zlib.DEFLATED, -15)
    else:
        comp = lib.compressobj(min(max(level, 0), 3), lib.DEFLATED, -15)
    chunks: list[bytes | memoryview] = []
    adler, size = 1, 0
    above = _checked_rows(rows, r0 - 1, r0, dtype, width)[-1].copy() if r0 > 0 else None
    for b0 in range(r0, r1, block):
        b1 = min(b0 + block, r1)
        part = _checked_rows(rows, b0, b1, dtype, width)
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


_MAX_CODED_ROW_BYTES = 1 << 27
_PROBE_ROWS = 8  # rows per probe run (three runs per band): they decide Huffman-only or LZ77 and fit the code
_LZ77_GAIN = 0.9  # LZ77 is used when its probe output is below this share of the Huffman code's


def _scanlines(
    rows: Callable[[int, int], np.ndarray], y0: int, y1: int, dtype: np.dtype[Any], width: int, block: int
) -> np.ndarray:
    """Rows y0..y1 as filtered PNG scanlines, flat uint8 (the filter byte first on each line), asking ``rows``
    for the row above and at most ``block`` rows at a time."""
    above = _checked_rows(rows, y0 - 1, y0, dtype, width)[-1].copy() if y0 > 0 else None
    run = np.concatenate([_checked_rows(rows, y, min(y + block, y1), dtype, width) for y in range(y0, y1, block)])
    return _filter_rows(run, above).reshape(-1)


def _probe(
    rows: Callable[[int, int], np.ndarray], r0: int, r1: int, dtype: np.dtype[Any], width: int, block: int
) -> tuple[bool, np.ndarray]:
    """Three runs of the band's filtered rows (at 1/4, 1/2 and 3/4 of the band, away from the image's edges):
    whether LZ77 deflate (level 1) codes them in clearly fewer bits than a Huffman code fitted to those same
    bytes, and that code's lengths (:func:`depthforge.io._huffman.literal_lengths`). Rows are asked at most
    ``block`` at a time."""
    lib = _lib()
    lz_bits = 0
    counts = np.zeros(256, np.int64)
    n = r1 - r0
    starts = sorted({r0 + max(0, min(n - _PROBE_ROWS, (q * n) // 4 - _PROBE_ROWS // 2)) for q in (1, 2, 3)})
    for y0 in starts:
        lines = _scanlines(rows, y0, min(y0 + _PROBE_ROWS, r1), dtype, width, block)
        counts += np.bincount(lines, minlength=256)
        comp = lib.compressobj(1, lib.DEFLATED, -15)
        lz_bits += 8 * len(comp.compress(lines.data) + comp.flush())
    lengths = literal_lengths(counts)
    return lz_bits < _LZ77_GAIN * int((counts * lengths[:256]).sum()), lengths


def _fit_code(
    rows: Callable[[int, int], np.ndarray], r0: int, r1: int, dtype: np.dtype[Any], width: int, block: int
) -> _Code | None:
    """The Huffman code for rows r0..r1, fitted to the probe's sample of their filtered bytes (filter bytes
    included), or None where the probe finds LZ77 deflate clearly smaller (smooth, noise-free maps: planes,
    flat or constant regions, whose filtered rows repeat)."""
    lz77, lengths = _probe(rows, r0, r1, dtype, width, block)
    return None if lz77 else _Code(lengths, dtype)


def _band_huffman(
    rows: Callable[[int, int], np.ndarray],
    r0: int,
    r1: int,
    last: bool,
    code: _Code,
    block: int,
    dtype: np.dtype[Any],
    width: int,
) -> tuple[list[bytes | memoryview], int, int]:
    """Rows r0..r1 as one dynamic-Huffman deflate block with ``code``, ``block`` rows at a time, ending on a byte
    boundary (then, unless ``last``, an empty stored block, so the next piece starts a block of its own):
    (IDAT chunks, Adler-32 of the rows' scanlines, their length in bytes)."""
    from depthforge.io import _png_numba as k

    above = _checked_rows(rows, r0 - 1, r0, dtype, width)[-1].copy() if r0 > 0 else np.zeros(width, dtype)
    state = np.array([0, 0, 1, 0], np.int64)  # bits, n bits, Adler-32 s1, s2
    hv, hb = code.header[last]
    chunks: list[bytes | memoryview] = []
    n = r1 - r0
    # one buffer for the chunks (each built in place: length, type, data, CRC; no copies): room for the worst
    # case, of which only the pages written are ever touched (a large numpy allocation may get huge pages)
    per_block = 4 * ((int(block * (1 + width * dtype.itemsize) * 15 / 8) + 1024) // 4)
    buf = np.empty(per_block * (-(-n // block)) // 4, np.uint32).view(np.uint8)  # 4-byte aligned: word stores
    start = 0
    for b0 in range(r0, r1, block):
        b1 = min(b0 + block, r1)
        part = np.ascontiguousarray(_checked_rows(rows, b0, b1, dtype, width))
        pos = start + 8
        if b0 == r0:
            pos = k.put_bits(hv, hb, buf, pos, state, False)
        pos = k.encode_rows(
            part, above, code.tcode, code.tlen, code.lit_code[_FILTER_UP], code.lit_len[_FILTER_UP], buf, pos, state
        )
        above = part[-1].copy()
        if b1 >= r1:  # end of block, then byte-align: an empty stored block between pieces, padding at the end
            tail_v, tail_b = [code.lit_code[256]], [code.lit_len[256]]
            if not last:
                tail_v.append(0)
                tail_b.append(3)
            pos = k.put_bits(np.array(tail_v, np.int64), np.array(tail_b, np.int64), buf, pos, state, True)
            if not last:
                buf[pos : pos + 4] = (0, 0, 0xFF, 0xFF)
                pos += 4
        # (before the end, only whole words are written: the bits left in ``state`` go on in the next chunk)
        buf[start : start + 8] = np.frombuffer(struct.pack(">I", pos - start - 8) + b"IDAT", np.uint8)
        buf[pos : pos + 4] = np.frombuffer(struct.pack(">I", _crc32(buf[start + 4 : pos].data)), np.uint8)
        chunks.append(buf[start : pos + 4].data)
        start = 4 * ((pos + 4 + 3) // 4)  # the next chunk's stream starts on a word boundary (start + 8)
    s1, s2 = int(state[2]), int(state[3])
    return chunks, (s2 << 16) | s1, n * (1 + width * dtype.itemsize)


class _InOrder:
    """Hands numbered lists of pieces to ``emit`` in number order, from whichever thread completes the next one
    (pieces that come early wait); ``emit`` is never called by two threads at once. After ``emit`` fails, no
    more pieces are emitted (the failure reaches the caller through the failing thread)."""

    def __init__(self, emit: Callable[[bytes | memoryview], object]) -> None:
        import threading

        self._emit = emit
        self._lock = threading.Lock()
        self._ready: dict[int, list[bytes | memoryview]] = {}
        self._next = 0
        self._busy = False
        self._failed = False

    def put(self, index: int, pieces: list[bytes | memoryview]) -> None:
        with self._lock:
            self._ready[index] = pieces
            if self._busy or self._failed:
                return
            self._busy = True
        while True:
            with self._lock:
                batch: list[bytes | memoryview] = []
                while self._next in self._ready:
                    batch.extend(self._ready.pop(self._next))
                    self._next += 1
                if not batch:
                    self._busy = False
                    return
            try:
                for piece in batch:
                    self._emit(piece)
            except BaseException:
                with self._lock:
                    self._failed = True
                raise


def write_png_rows(
    emit: Callable[[bytes | memoryview], object],
    shape: tuple[int, int],
    dtype: Any,
    rows: Callable[[int, int], np.ndarray],
    *,
    text: dict[str, str] | None = None,
    level: int | None = None,
    threads: int | None = None,
) -> None:
    """Encode a grayscale image given row by row as a PNG file, handing its bytes to ``emit`` in file order
    while the rest is still being compressed (so a file can be written, and flushed to disk, as it is made).

    The image is never held whole: each thread asks ``rows(r0, r1)`` for a few rows at a time (about a megabyte),
    filters and compresses them, so a caller can compute the pixel values on the fly (e.g. depth -> 16-bit codes)
    with only small temporaries. The rows are coded in pieces of about :data:`_UNIT_BYTES` (each its own deflate
    block, byte-aligned; a band of pieces shares one Huffman code), taken in order by the threads; each piece is
    emitted as soon as every piece before it has been.

    Args:
        emit: ``emit(data)`` takes the file's next bytes (bytes or a memoryview, which it may keep): called from
            the calling thread and from the compressing threads, never from two at once.
        shape: (H, W) of the image.
        dtype: ``np.uint8`` or ``np.uint16``.
        rows: ``rows(r0, r1)`` -> (r1 - r0, W) array of ``dtype``: the image's rows r0..r1 (called from several
            threads at once, in any order; rows may be asked for more than once, e.g. by the probes; must not
            modify shared state).
        text, level, threads: as :func:`encode_png`.
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
    unit = max(1, _UNIT_BYTES // row_bytes)
    edges = [round(i * h / n) for i in range(n + 1)]
    bands = [(edges[i], edges[i + 1]) for i in range(n)]
    units = [(band, u, min(u + unit, b1)) for band, (b0, b1) in enumerate(bands) for u in range(b0, b1, unit)]

    # the compiled coder stores little-endian words and sums a row's Adler-32 terms in int64 (exact below
    # ~2.7e8 bytes per row): elsewhere the LZ77 path
    compiled = level is None and sys.byteorder == "little" and row_bytes < _MAX_CODED_ROW_BYTES
    depth = 16 if dt == np.uint16 else 8
    emit(_SIGNATURE)
    emit(_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, 0, 0, 0, 0)))
    for key, value in (text or {}).items():
        emit(_chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1", "replace")))
    emit(_chunk(b"IDAT", b"\x78\x01"))  # zlib header: deflate, 32K window, no dictionary
    ordered = _InOrder(emit)

    def plan(band: tuple[int, int]) -> _Code | None:  # None: LZ77
        return _fit_code(rows, band[0], band[1], dt, w, block) if compiled else None

    def piece(i: int) -> tuple[int, int]:
        band, u0, u1 = units[i]
        last = i == len(units) - 1
        code = codes[band].result() if isinstance(codes[band], Future) else codes[band]
        if code is None:
            chunks, adler, size = _band(rows, u0, u1, last, 1 if level is None else level, block, dt, w)
        else:
            chunks, adler, size = _band_huffman(rows, u0, u1, last, code, block, dt, w)
        ordered.put(i, chunks)
        return adler, size

    codes: list[Any]
    if n == 1:
        codes = [plan(bands[0])]
        parts = [piece(i) for i in range(len(units))]
    else:
        with ThreadPoolExecutor(n) as pool:
            # taken in order: the bands' codes first (a piece waits for its band's only), then the pieces, which
            # so finish about in file order
            codes = [pool.submit(plan, band) for band in bands]
            parts = list(pool.map(piece, range(len(units))))
    adler = parts[0][0]
    for band_adler, size in parts[1:]:
        adler = _adler_combine(adler, band_adler, size)
    emit(_chunk(b"IDAT", struct.pack(">I", adler & 0xFFFFFFFF)))
    emit(_chunk(b"IEND", b""))


def encode_png_rows(
    shape: tuple[int, int],
    dtype: Any,
    rows: Callable[[int, int], np.ndarray],
    *,
    text: dict[str, str] | None = None,
    level: int | None = None,
    threads: int | None = None,
) -> list[bytes | memoryview]:
    """:func:`write_png_rows` collected: the PNG file as a list of byte strings and buffers (write them in
    order: signature, header, text, image data, end)."""
    out: list[bytes | memoryview] = []
    write_png_rows(out.append, shape, dtype, rows, text=text, level=level, threads=threads)
    return out


def encode_png(
    image: np.ndarray, *, text: dict[str, str] | None = None, level: int | None = None, threads: int | None = None
) -> bytes:
    """Encode a grayscale image as PNG bytes.

    Args:
        image: (H, W) uint8 or uint16 (stored big-endian, as PNG wants).
        text: key -> value, written as ``tEXt`` chunks (Latin-1 keys and values; Pillow reads them into
            ``Image.info``).
        level: None (default): Huffman-only coding (see the module docstring); 0-9: LZ77 deflate at that
            level (``isal`` when installed, at most 3 there; else zlib).
        threads: compressing threads (default: up to the CPU count, one band of >= ~1 MB each).

    Returns:
        The PNG file's bytes.
    """
    a = np.ascontiguousarray(check_array(image, "image", ndim=2))
    if a.dtype not in (np.uint8, np.uint16):
        from depthforge.core.errors import ValidationError

        raise ValidationError(f"image: expected uint8 or uint16, got {a.dtype}")
    return b"".join(encode_png_rows(a.shape, a.dtype, lambda r0, r1: a[r0:r1], text=text, level=level, threads=threads))
