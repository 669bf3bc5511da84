"""HEIC photos with a depth auxiliary image (the iPhone layout), read through pillow-heif (libheif)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from depthforge.core.errors import InputError
from depthforge.io.depthfiles import read_depth
from depthforge.io.depthphoto_read import embedded_depth_kind, read_depth_photo
from depthforge.io.images import read_image

pillow_heif = pytest.importorskip("pillow_heif")

from tests.io.heic_builder import apple_depth_xmp, build_heic_with_depth  # noqa: E402


def photo(h: int = 120, w: int = 160) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 255 // w, yy * 255 // h, np.full_like(xx, 128)], -1).astype(np.uint8)


def disparity_codes(h: int = 64, w: int = 88) -> np.ndarray:
    """8-bit disparity-like codes: a far wall (low) and a near disc (high), larger = nearer as Apple stores it."""
    yy, xx = np.mgrid[0:h, 0:w]
    codes = np.full((h, w), 40, np.uint8)
    codes[(yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (h / 4) ** 2] = 220
    return codes


@pytest.fixture()
def iphone_like(tmp_path: Path) -> Path:
    xmp = apple_depth_xmp(float_min=0.25, float_max=1.0, pixel_format=b"hdis", accuracy="absolute")
    path = build_heic_with_depth(tmp_path / "portrait.heic", photo(), disparity_codes(), xmp=xmp)
    heif = pillow_heif.open_heif(str(path))  # libheif itself sees the depth image: the file is well formed
    assert len(heif.info["depth_images"]) == 1
    return path


def test_heic_depth_reads_as_metric_from_apple_disparity(iphone_like: Path) -> None:
    assert embedded_depth_kind(iphone_like) == "heic"
    got = read_depth_photo(iphone_like)
    assert got.source == "heic" and got.image_size_hw == (120, 160)
    depth = got.depth
    assert depth.kind == "metric" and depth.shape == (64, 88)
    codes = disparity_codes().astype(np.float64) / 255.0
    expected = 1.0 / (0.25 + codes * 0.75)  # disparity 1/m -> metres
    assert np.allclose(depth.values, expected, rtol=1e-5)
    assert depth.values[32, 44] < depth.values[2, 2]  # the disc (high disparity) is nearer
    assert np.array_equal(read_depth(iphone_like).values, depth.values)


def test_heic_without_apple_metadata_is_relative_inverse_depth(tmp_path: Path) -> None:
    path = build_heic_with_depth(tmp_path / "plain.heic", photo(), disparity_codes())
    depth = read_depth(path)
    assert depth.kind == "relative" and depth.shape == (64, 88)
    assert np.allclose(depth.values, disparity_codes() / 255.0, atol=1e-6)


def test_heic_photo_decodes_and_a_heic_without_depth_is_refused(iphone_like: Path, tmp_path: Path) -> None:
    image = read_image(iphone_like)
    assert image.rgb.shape == (120, 160, 3)
    assert np.abs(image.rgb.astype(int) - photo()).max() <= 3  # lossless HEVC, YCbCr rounding only
    plain = tmp_path / "nodepth.heic"
    heif = pillow_heif.from_bytes(mode="RGB", size=(160, 120), data=photo().tobytes())
    heif.save(str(plain), quality=90)
    assert embedded_depth_kind(plain) is None
    with pytest.raises(InputError, match="no depth"):
        read_depth_photo(plain)
