"""The fast PNG encoder: standard files (Pillow and OpenCV read the same pixels back), text chunks kept."""

from __future__ import annotations

import io
import struct
import sys
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from depthforge.core.errors import ValidationError
from depthforge.io.png import encode_png, encode_png_rows


def _smooth(h: int, w: int, dtype: type, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    low = cv2.resize(rng.random((6, 8)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    low = (low - low.min()) / (low.max() - low.min())
    return (low * np.iinfo(dtype).max + 0.5).astype(dtype)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (9, 1), (5, 3), (600, 900)])
@pytest.mark.parametrize("threads", [1, 3])
def test_round_trip_pillow_and_opencv(dtype: type, shape: tuple[int, int], threads: int) -> None:
    img = _smooth(*shape, dtype) if min(shape) > 1 else np.random.default_rng(1).integers(0, 200, shape).astype(dtype)
    before = img.copy()
    data = encode_png(img, text={"depthforge": '{"kind": "relative"}', "note": "x"}, threads=threads)
    with Image.open(io.BytesIO(data)) as pil:
        pil.load()
        assert pil.info["depthforge"] == '{"kind": "relative"}' and pil.info["note"] == "x"
        np.testing.assert_array_equal(np.asarray(pil).astype(dtype), img)
    back = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert back is not None and back.dtype == dtype
    np.testing.assert_array_equal(back, img)
    np.testing.assert_array_equal(img, before)


def test_bands_are_used_and_compress(monkeypatch: pytest.MonkeyPatch) -> None:
    from depthforge.io import png

    monkeypatch.setattr(png, "_MIN_BAND_BYTES", 1000)
    img = _smooth(300, 400, np.uint16)
    data = encode_png(img, threads=4)
    assert data.count(b"IDAT") >= 6  # header + 4 bands + checksum
    assert len(data) < 0.8 * img.nbytes  # the Up filter makes a smooth map compressible
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), img)


@pytest.mark.parametrize("block_bytes", [1, 700, 5000])
def test_rows_given_block_by_block_round_trip(monkeypatch: pytest.MonkeyPatch, block_bytes: int) -> None:
    """Bands of several small blocks (one row each, a few rows, blocks not dividing the band), rows computed on
    request: the file decodes to the image, and each thread only ever asked for rows inside the image."""
    from depthforge.io import png

    monkeypatch.setattr(png, "_MIN_BAND_BYTES", 1000)
    monkeypatch.setattr(png, "_BLOCK_BYTES", block_bytes)
    img = _smooth(157, 211, np.uint16, seed=3)
    asked: list[tuple[int, int]] = []

    def rows(r0: int, r1: int) -> np.ndarray:
        asked.append((r0, r1))
        return img[r0:r1].copy()

    data = b"".join(encode_png_rows(img.shape, np.uint16, rows, threads=3))
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), img)
    np.testing.assert_array_equal(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED), img)
    assert all(0 <= r0 < r1 <= img.shape[0] for r0, r1 in asked)
    assert max(r1 - r0 for r0, r1 in asked) <= max(1, block_bytes // (211 * 2))


@pytest.mark.parametrize("level", [None, 1])
def test_without_isal_falls_back_to_zlib(monkeypatch: pytest.MonkeyPatch, level: int | None) -> None:
    monkeypatch.setitem(sys.modules, "isal", None)
    monkeypatch.setitem(sys.modules, "isal.isal_zlib", None)
    img = _smooth(200, 300, np.uint16)
    data = encode_png(img, threads=2, level=level)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), img)


def _idat_stream(data: bytes) -> bytes:
    """The zlib stream of a PNG (its IDAT chunks joined), each chunk's CRC checked on the way."""
    pos, out = 8, []
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        assert struct.unpack(">I", data[pos + 8 + n : pos + 12 + n])[0] == zlib.crc32(kind + body)
        if kind == b"IDAT":
            out.append(body)
        pos += 12 + n
    return b"".join(out)


def _depth_like(h: int, w: int, dtype: type, seed: int) -> np.ndarray:
    """A model-sized random smooth map upsampled ~6x with bicubic interpolation, as depth maps are written."""
    rng = np.random.default_rng(seed)
    low = cv2.GaussianBlur(rng.random((max(2, h // 6), max(2, w // 6))).astype(np.float32), (0, 0), 2)
    low = (low - low.min()) / (low.max() - low.min())
    full = np.clip(cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC), 0, 1)
    return (full * np.iinfo(dtype).max + 0.5).astype(dtype)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize(
    "kind", ["zeros", "top", "noise", "one-row", "one-column", "stripes", "depth-like"]
)
def test_huffman_coding_of_extreme_images(monkeypatch: pytest.MonkeyPatch, dtype: type, kind: str) -> None:
    """Images whose residual bytes are all one value, uniformly random, or two values: each band's code is
    complete and at most 15 bits (zlib's strict inflate accepts the stream and its Adler-32) and the pixels come
    back exactly through Pillow and OpenCV, in one band and in several."""
    from depthforge.io import png

    top = np.iinfo(dtype).max
    rng = np.random.default_rng(7)
    img = {
        "zeros": lambda: np.zeros((120, 90), dtype),
        "top": lambda: np.full((120, 90), top, dtype),
        "noise": lambda: rng.integers(0, top, (120, 90), endpoint=True).astype(dtype),
        "one-row": lambda: rng.integers(0, top, (1, 333), endpoint=True).astype(dtype),
        "one-column": lambda: rng.integers(0, top, (333, 1), endpoint=True).astype(dtype),
        "stripes": lambda: np.tile(np.array([[0], [top]], dtype), (60, 90)),
        "depth-like": lambda: _depth_like(180, 240, dtype, 5),
    }[kind]()
    for min_band in (1 << 30, 200):
        monkeypatch.setattr(png, "_MIN_BAND_BYTES", min_band)
        monkeypatch.setattr(png, "_BLOCK_BYTES", 3000)
        data = encode_png(img, threads=3)
        raw = zlib.decompress(_idat_stream(data))  # checks the Adler-32 and that the stream ends
        assert len(raw) == img.shape[0] * (1 + img.shape[1] * img.itemsize)
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), img)
        np.testing.assert_array_equal(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED), img)


@pytest.mark.parametrize("seed", range(6))
def test_huffman_lengths_make_a_complete_limited_code(seed: int) -> None:
    """Kraft sum exactly 1 (zlib refuses incomplete codes) and no code over the limit, for counts from uniform
    to geometric (whose unconstrained code would be 256 bits deep)."""
    from depthforge.io._huffman import huffman_lengths as _huffman_lengths

    rng = np.random.default_rng(seed)
    counts = [
        rng.integers(1, 10, 257),
        2 ** np.minimum(np.arange(257), 60),
        np.r_[10**9, np.ones(256, np.int64)],
        rng.integers(0, 3, 19) * rng.integers(0, 10**6, 19),
        np.r_[5, 3, np.zeros(17, np.int64)],
        rng.geometric(0.05, 257),
    ][seed]
    limit = 7 if len(counts) == 19 else 15
    lengths = _huffman_lengths(np.asarray(counts), limit)
    used = np.asarray(counts) > 0
    assert (lengths[~used] == 0).all() and (lengths[used] >= 1).all() and lengths.max() <= limit
    assert sum(2.0 ** -int(n) for n in lengths[used]) == 1.0


def test_huffman_size_close_to_zlib_on_depth_like_maps() -> None:
    """Huffman-only coding (the default) on what depth files hold: within 10 % of zlib level 1's size and well
    below the raw scanlines; LZ77 levels stay available."""
    img = _depth_like(900, 1200, np.uint16, 11)
    ours = len(encode_png(img))
    lz = len(encode_png(img, level=1))
    zl = len(zlib.compress(img.astype(">u2").tobytes(), 1))
    assert ours < 0.8 * img.nbytes and ours < 1.1 * min(lz, zl), (ours, lz, zl)


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.float32), np.zeros((4, 4, 3), np.uint8)])
def test_rejects_other_arrays(bad: np.ndarray) -> None:
    with pytest.raises(ValidationError):
        encode_png(bad)


@pytest.mark.parametrize("wrong", ["dtype", "width", "rows"])
def test_rows_of_the_wrong_kind_are_refused(wrong: str) -> None:
    img = _smooth(40, 30, np.uint16)

    def rows(r0: int, r1: int) -> np.ndarray:
        part = img[r0:r1]
        if wrong == "dtype":
            return part.astype(np.uint8)
        return part[:, :-1] if wrong == "width" else part[:-1]

    with pytest.raises(ValidationError, match=r"image: rows \d+\.\.\d+ came as"):
        encode_png_rows(img.shape, np.uint16, rows, threads=1)


@pytest.mark.parametrize("kind", ["plane", "flat", "steps"])
def test_smooth_noise_free_maps_stay_as_small_as_lz77(monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    """Maps whose filtered rows repeat (a tilted plane, a constant map, flat regions with steps) are where LZ77
    string matching beats any per-byte code by far: the probe picks it, so the default stays within 10 % of
    LZ77 level 1 (and a few per cent of the raw size), in one band and in several."""
    from depthforge.io import png

    yy, xx = np.mgrid[0:600, 0:800]
    img = {
        "plane": (yy * 100).astype(np.uint16),
        "flat": np.full((600, 800), 40000, np.uint16),
        "steps": ((xx // 100) * 7000 + (yy > 300) * 3000).astype(np.uint16),
    }[kind]
    for min_band in (1 << 30, 100_000):
        monkeypatch.setattr(png, "_MIN_BAND_BYTES", min_band)
        data = encode_png(img, threads=3)
        assert len(data) < 0.05 * img.nbytes and len(data) <= 1.1 * len(encode_png(img, level=1)) + 200
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), img)


def test_bands_of_both_codings_join_into_one_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    """A noisy top half (Huffman-only bands) over a tilted plane (LZ77 bands): the bands' deflate pieces still
    form one valid zlib stream (checked by zlib itself) and the pixels come back exactly."""
    from depthforge.io import png

    monkeypatch.setattr(png, "_MIN_BAND_BYTES", 50_000)
    rng = np.random.default_rng(9)
    img = np.vstack([rng.integers(0, 65536, (200, 300)), np.arange(200)[:, None] * 300 + np.zeros((1, 300), int)])
    img = img.astype(np.uint16)
    chosen: list[str] = []
    probe = png._probe

    def spy(*args: object) -> tuple[bool, np.ndarray]:
        lz77, lengths = probe(*args)  # type: ignore[arg-type]
        chosen.append("lz77" if lz77 else "huffman")
        return lz77, lengths

    monkeypatch.setattr(png, "_probe", spy)
    data = encode_png(img, threads=4)
    assert "lz77" in chosen and "huffman" in chosen
    zlib.decompress(_idat_stream(data))
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), img)


def test_rows_beyond_the_coders_limit_take_lz77(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scanlines too long for the compiled coder's int64 checksum terms (or a big-endian machine) go through
    LZ77 deflate: same pixels."""
    from depthforge.io import png

    monkeypatch.setattr(png, "_MAX_CODED_ROW_BYTES", 100)
    used: list[int] = []
    lz = png._band
    monkeypatch.setattr(png, "_band", lambda *a: (used.append(a[4]), lz(*a))[1])
    img = _depth_like(60, 80, np.uint16, 1)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(encode_png(img)))), img)
    assert used == [1]


@pytest.mark.parametrize("unit_bytes", [1, 3000, 1 << 30])
def test_pieces_are_emitted_in_file_order_while_coding(monkeypatch: pytest.MonkeyPatch, unit_bytes: int) -> None:
    """Many pieces per band on several threads (each a deflate block of its own): ``emit`` gets the file in order
    (the result is the same file as the collected one and decodes to the image, zlib's checks included), is
    never called by two threads at once, and starts while rows are still being coded (the last rows wait for it:
    an encoder that emitted only at the end would make them wait in vain, and fail the order check)."""
    import threading
    import time

    from depthforge.io import png

    monkeypatch.setattr(png, "_MIN_BAND_BYTES", 5000)
    monkeypatch.setattr(png, "_BLOCK_BYTES", 1000)
    monkeypatch.setattr(png, "_UNIT_BYTES", unit_bytes)
    rng = np.random.default_rng(4)
    img = np.vstack([_depth_like(90, 120, np.uint16, 2), rng.integers(0, 65536, (30, 120)).astype(np.uint16)])
    got: list[bytes] = []
    inside = threading.Semaphore(1)
    events: list[str] = []
    image_data_emitted = threading.Event()

    def emit(data: bytes | memoryview) -> None:
        assert inside.acquire(blocking=False), "emit called by two threads at once"
        try:
            got.append(bytes(data))
            events.append("emit")
            if len(got) > 3:  # past the signature, header and zlib header
                image_data_emitted.set()
            time.sleep(0.001)  # give the other threads time to finish pieces out of order
        finally:
            inside.release()

    def rows(r0: int, r1: int) -> np.ndarray:
        if r1 == img.shape[0]:  # the last piece's rows wait (a while) for image data to be in the file already
            image_data_emitted.wait(timeout=5)
        events.append(f"rows {r1}")
        return img[r0:r1]

    png.write_png_rows(emit, img.shape, np.uint16, rows, threads=3)
    data = b"".join(got)
    assert data == b"".join(bytes(p) for p in encode_png_rows(img.shape, np.uint16, rows, threads=3))
    zlib.decompress(_idat_stream(data))
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), img)
    first_image_emit = [i for i, e in enumerate(events) if e == "emit"][3]  # after signature, IHDR, zlib header
    last_rows = max(i for i, e in enumerate(events) if e.startswith("rows"))
    assert first_image_emit < last_rows


def test_a_failing_emit_stops_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """The error reaches the caller and nothing is emitted after it (no piece out of order)."""
    from depthforge.io import png

    monkeypatch.setattr(png, "_MIN_BAND_BYTES", 5000)
    monkeypatch.setattr(png, "_UNIT_BYTES", 2000)
    img = _depth_like(120, 100, np.uint16, 3)
    calls: list[int] = []

    def emit(data: bytes | memoryview) -> None:
        calls.append(len(memoryview(data)))
        if len(calls) == 6:
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        png.write_png_rows(emit, img.shape, np.uint16, lambda r0, r1: img[r0:r1], threads=3)
    assert len(calls) == 6
