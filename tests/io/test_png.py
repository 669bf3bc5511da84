"""The fast PNG encoder: standard files (Pillow and OpenCV read the same pixels back), text chunks kept."""

from __future__ import annotations

import io
import sys

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


def test_without_isal_falls_back_to_zlib(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "isal", None)
    monkeypatch.setitem(sys.modules, "isal.isal_zlib", None)
    img = _smooth(200, 300, np.uint16)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(encode_png(img, threads=2)))), img)


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

    with pytest.raises(ValidationError, match="rows 0"):
        encode_png_rows(img.shape, np.uint16, rows, threads=1)
