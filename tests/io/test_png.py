"""The PNG encoder: standard files (Pillow and OpenCV read the same pixels back, zlib accepts the stream and its
checksum), text chunks kept, pieces compressed on threads and emitted in file order, atomic depth files."""

from __future__ import annotations

import io
import json
import struct
import sys
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image

from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import OutputError, ValidationError
from depthforge.io.atomic import TEMP_MARK
from depthforge.io.png import encode_png, write_png_rows


def _encode_rows(shape: tuple[int, int], dtype: type, rows: Callable[[int, int], np.ndarray], **options: Any) -> bytes:
    """The PNG file that :func:`write_png_rows` emits, collected."""
    out: list[bytes] = []
    write_png_rows(out.append, shape, dtype, rows, **options)
    return b"".join(out)


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


def test_pieces_are_used_and_compress(monkeypatch: pytest.MonkeyPatch) -> None:
    from depthforge.io import png

    monkeypatch.setattr(png, "_PIECE_BYTES", 60_000)  # 75 rows of 800 bytes: 4 pieces
    img = _smooth(300, 400, np.uint16)
    data = encode_png(img, threads=4)
    assert data.count(b"IDAT") == 6  # zlib header + 4 pieces + checksum
    assert len(data) < 0.8 * img.nbytes  # the Up filter makes a smooth map compressible
    zlib.decompress(_idat_stream(data))  # one stream, its Adler-32 combined from the pieces'
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), img)


@pytest.mark.parametrize("piece_bytes", [1, 700, 5000])
@pytest.mark.parametrize("threads", [1, 3])
def test_rows_given_piece_by_piece_round_trip(monkeypatch: pytest.MonkeyPatch, piece_bytes: int, threads: int) -> None:
    """Pieces of one row, a few rows, pieces not dividing the image, rows computed on request: the file decodes
    to the image, and rows were only ever asked for inside the image, a piece (plus the row above) at a time."""
    from depthforge.io import png

    monkeypatch.setattr(png, "_PIECE_BYTES", piece_bytes)
    img = _smooth(157, 211, np.uint16, seed=3)
    asked: list[tuple[int, int]] = []

    def rows(r0: int, r1: int) -> np.ndarray:
        asked.append((r0, r1))
        return img[r0:r1].copy()

    data = _encode_rows(img.shape, np.uint16, rows, threads=threads)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), img)
    np.testing.assert_array_equal(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED), img)
    zlib.decompress(_idat_stream(data))
    assert all(0 <= r0 < r1 <= img.shape[0] for r0, r1 in asked)
    assert max(r1 - r0 for r0, r1 in asked) <= max(1, piece_bytes // (211 * 2)) + 1


@pytest.mark.parametrize("isal", [True, False])
@pytest.mark.parametrize("level", [None, 0, 1, 3, 9])
def test_levels_with_and_without_isal(monkeypatch: pytest.MonkeyPatch, isal: bool, level: int | None) -> None:
    """Every deflate level gives the same pixels, through ISA-L (levels clipped to its 0-3) or, when ``isal``
    is missing, zlib."""
    from depthforge.io import png

    if not isal:
        monkeypatch.setitem(sys.modules, "isal", None)
        monkeypatch.setitem(sys.modules, "isal.isal_zlib", None)
        assert not png.fast_deflate_available()
    elif not png.fast_deflate_available():
        pytest.skip("isal is not installed")
    monkeypatch.setattr(png, "_PIECE_BYTES", 30_000)
    img = _smooth(200, 300, np.uint16)
    data = encode_png(img, threads=2, level=level)
    zlib.decompress(_idat_stream(data))
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
@pytest.mark.parametrize("kind", ["zeros", "top", "noise", "one-row", "one-column", "stripes", "depth-like"])
def test_extreme_images_round_trip(monkeypatch: pytest.MonkeyPatch, dtype: type, kind: str) -> None:
    """Constant, uniformly random, two-valued, one-row and one-column images: zlib's strict inflate accepts the
    stream and its Adler-32, and the pixels come back exactly through Pillow and OpenCV, in one piece and in
    several."""
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
    for piece_bytes in (1 << 30, 200):
        monkeypatch.setattr(png, "_PIECE_BYTES", piece_bytes)
        data = encode_png(img, threads=3)
        raw = zlib.decompress(_idat_stream(data))  # checks the Adler-32 and that the stream ends
        assert len(raw) == img.shape[0] * (1 + img.shape[1] * img.itemsize)
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), img)
        np.testing.assert_array_equal(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED), img)


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
        _encode_rows(img.shape, np.uint16, rows, threads=1)


@pytest.mark.parametrize("kind", ["plane", "flat", "steps", "smooth"])
def test_smooth_maps_compress(monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    """Smooth maps compress: noise-free ones (a tilted plane, a constant map, flat regions with steps) to a few
    per cent of the raw size, a bicubically upsampled one well below it; cutting the rows into pieces costs at
    most 10 % over one piece."""
    from depthforge.io import png

    yy, xx = np.mgrid[0:600, 0:800]
    img = {
        "plane": lambda: (yy * 100).astype(np.uint16),
        "flat": lambda: np.full((600, 800), 40000, np.uint16),
        "steps": lambda: ((xx // 100) * 7000 + (yy > 300) * 3000).astype(np.uint16),
        "smooth": lambda: _smooth(600, 800, np.uint16),
    }[kind]()
    whole = len(encode_png(img, threads=1))
    monkeypatch.setattr(png, "_PIECE_BYTES", 100_000)
    pieces = encode_png(img, threads=3)
    assert len(pieces) <= 1.1 * whole + 200
    assert len(pieces) < (0.7 if kind == "smooth" else 0.05) * img.nbytes
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(pieces))), img)


def test_threads_default_to_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ``threads``, the pool has :func:`thread_budget` workers (never more than there are pieces)."""
    from depthforge.io import png

    sizes: list[int] = []
    real_pool = png.ThreadPoolExecutor

    def pool(n: int) -> object:
        sizes.append(n)
        return real_pool(n)

    monkeypatch.setattr(png, "ThreadPoolExecutor", pool)
    monkeypatch.setattr(png, "thread_budget", lambda: 3)
    monkeypatch.setattr(png, "_PIECE_BYTES", 10_000)
    img = _smooth(100, 200, np.uint16)  # 400 bytes a row: 25 rows a piece, 4 pieces
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(encode_png(img)))), img)
    monkeypatch.setattr(png, "thread_budget", lambda: 8)
    encode_png(img)
    assert sizes == [3, 4]


@pytest.mark.parametrize("piece_bytes", [1, 3000])
def test_pieces_are_emitted_in_file_order_while_coding(monkeypatch: pytest.MonkeyPatch, piece_bytes: int) -> None:
    """Many pieces on several threads: ``emit`` gets the file in order (the same file as the collected one, which
    decodes to the image, zlib's checks included), only from the calling thread, and starts while rows are still
    being coded (the last rows wait for it: an encoder that emitted only at the end would make them wait in vain,
    and fail the order check)."""
    import time

    from depthforge.io import png

    monkeypatch.setattr(png, "_PIECE_BYTES", piece_bytes)
    rng = np.random.default_rng(4)
    img = np.vstack([_depth_like(90, 120, np.uint16, 2), rng.integers(0, 65536, (30, 120)).astype(np.uint16)])
    got: list[bytes] = []
    callers: set[int] = set()
    events: list[str] = []
    image_data_emitted = threading.Event()

    def emit(data: bytes) -> None:
        callers.add(threading.get_ident())
        got.append(bytes(data))
        events.append("emit")
        if len(got) > 3:  # past the signature, header and zlib header
            image_data_emitted.set()
        time.sleep(0.001)  # give the other threads time to finish pieces out of order

    def rows(r0: int, r1: int) -> np.ndarray:
        if r1 == img.shape[0]:  # the last piece's rows wait (a while) for image data to be in the file already
            image_data_emitted.wait(timeout=5)
        events.append(f"rows {r1}")
        return img[r0:r1]

    png.write_png_rows(emit, img.shape, np.uint16, rows, threads=3)
    assert callers == {threading.get_ident()}
    data = b"".join(got)
    assert data == _encode_rows(img.shape, np.uint16, rows, threads=3)
    zlib.decompress(_idat_stream(data))
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), img)
    first_image_emit = [i for i, e in enumerate(events) if e == "emit"][3]  # after signature, IHDR, zlib header
    last_rows = max(i for i, e in enumerate(events) if e.startswith("rows"))
    assert first_image_emit < last_rows


def test_a_failing_emit_stops_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """The error reaches the caller and nothing is emitted after it."""
    from depthforge.io import png

    monkeypatch.setattr(png, "_PIECE_BYTES", 2000)
    img = _depth_like(120, 100, np.uint16, 3)
    calls: list[int] = []

    def emit(data: bytes) -> None:
        calls.append(len(data))
        if len(calls) == 6:
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        png.write_png_rows(emit, img.shape, np.uint16, lambda r0, r1: img[r0:r1], threads=3)
    assert len(calls) == 6


def _cones_like(h: int, w: int) -> DepthMap:
    """(h, w) float32 metric depth, 1-5 m: a tilted floor with a nearer box (smooth with sharp edges)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    z = 5.0 - 3.0 * yy / h + 0.3 * np.sin(xx / 17.0)
    z[h // 4 : h // 2, w // 3 : w // 2] = 1.0
    return DepthMap(z.astype(np.float32), kind="metric")


@pytest.mark.parametrize("fmt", ["png16", "png8", "png16mm"])
def test_depth_files_round_trip_with_metadata(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fmt: str) -> None:
    """``write_depth`` through this encoder: the file holds exactly the codes (display codes, or millimetres)
    and the ``depthforge`` text chunk; no temporary file is left."""
    from depthforge.io import png
    from depthforge.io.depthfiles import write_depth
    from depthforge.process.normalize import display_codes

    monkeypatch.setattr(png, "_PIECE_BYTES", 20_000)  # several pieces
    depth = _cones_like(240, 320)
    path = write_depth(tmp_path / "d.png", depth, format=fmt)
    if fmt == "png16mm":
        expected = np.round(depth.values * 1000.0).astype(np.uint16)
    else:
        expected, _ = display_codes(depth, top=65535 if fmt == "png16" else 255)
    with Image.open(path) as pil:
        pil.load()
        meta = json.loads(pil.info["depthforge"])
        np.testing.assert_array_equal(np.asarray(pil).astype(expected.dtype), expected)
    assert meta["kind"] == "metric"
    np.testing.assert_array_equal(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), expected)
    assert not any(TEMP_MARK in p.name for p in tmp_path.iterdir())


def test_a_failure_while_encoding_keeps_the_old_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The write is atomic: a piece failing midway leaves the previous file as it was and no temporary."""
    from depthforge.io import png
    from depthforge.io.depthfiles import write_depth

    monkeypatch.setattr(png, "_PIECE_BYTES", 20_000)
    path = write_depth(tmp_path / "d.png", _cones_like(240, 320), format="png16")
    before = path.read_bytes()
    piece = png._piece

    def failing(rows: object, r0: int, *args: object) -> tuple[bytes, int, int]:
        if r0 > 100:
            raise OSError(28, "No space left on device")
        return piece(rows, r0, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(png, "_piece", failing)
    with pytest.raises(OutputError, match="disk full"):
        write_depth(path, _cones_like(240, 320), format="png16")
    assert path.read_bytes() == before
    assert not any(TEMP_MARK in p.name for p in tmp_path.iterdir())
