"""Reading photos: every format, bit depth and colour mode a user has; clean errors for bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from depthforge.core.errors import InputError
from depthforge.io.images import read_image, write_image


@pytest.fixture()
def rgb() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)


@pytest.mark.parametrize("ext", [".png", ".bmp", ".tiff", ".webp"])
def test_lossless_formats_round_trip(tmp_path: Path, rgb: np.ndarray, ext: str) -> None:
    p = tmp_path / f"x{ext}"
    kwargs = {"lossless": True} if ext == ".webp" else {}
    PILImage.fromarray(rgb).save(p, **kwargs)
    img = read_image(p)
    assert img.rgb.dtype == np.uint8 and img.alpha is None
    np.testing.assert_array_equal(img.rgb, rgb)


def _smooth() -> np.ndarray:
    y, x = np.mgrid[0:30, 0:40]
    return np.dstack([x * 6, y * 8, (x + y) * 3]).astype(np.uint8)


def test_jpeg_reads_close(tmp_path: Path) -> None:
    rgb = _smooth()
    p = tmp_path / "x.jpg"
    PILImage.fromarray(rgb).save(p, quality=100)
    img = read_image(p)
    assert img.rgb.shape == rgb.shape
    assert np.abs(img.rgb.astype(int) - rgb).mean() < 8


def test_grayscale_palette_cmyk_rgba(tmp_path: Path, rgb: np.ndarray) -> None:
    PILImage.fromarray(rgb[:, :, 0]).save(tmp_path / "g.png")
    g = read_image(tmp_path / "g.png")
    assert g.rgb.shape == (30, 40, 3) and (g.rgb[:, :, 0] == g.rgb[:, :, 2]).all()

    PILImage.fromarray(rgb).convert("P").save(tmp_path / "p.png")
    assert read_image(tmp_path / "p.png").rgb.shape == (30, 40, 3)

    smooth = _smooth()
    PILImage.fromarray(smooth).convert("CMYK").save(tmp_path / "c.jpg", quality=100)
    c = read_image(tmp_path / "c.jpg")
    assert c.rgb.shape == (30, 40, 3) and np.abs(c.rgb.astype(int) - smooth).mean() < 12

    rgba = np.dstack([rgb, np.full((30, 40), 128, np.uint8)])
    PILImage.fromarray(rgba).save(tmp_path / "a.png")
    a = read_image(tmp_path / "a.png")
    np.testing.assert_array_equal(a.rgb, rgb)  # colour kept, not composited
    assert a.alpha is not None and (a.alpha == 128).all()


def test_sixteen_bit_gray_and_colour_keep_precision(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    g16 = rng.integers(0, 65536, (20, 30), dtype=np.uint16)
    PILImage.fromarray(g16).save(tmp_path / "g16.png")
    g = read_image(tmp_path / "g16.png")
    assert g.rgb.dtype == np.uint16
    np.testing.assert_array_equal(g.rgb[:, :, 1], g16)

    c16 = rng.integers(0, 65536, (20, 30, 3), dtype=np.uint16)
    write_image(tmp_path / "c16.png", c16)
    c = read_image(tmp_path / "c16.png")
    assert c.rgb.dtype == np.uint16
    np.testing.assert_array_equal(c.rgb, c16)
    assert c.as_uint8().dtype == np.uint8


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int) -> None:
    # an asymmetric image: a single bright pixel near the top-left corner
    a = np.zeros((20, 30, 3), np.uint8)
    a[2, 5] = 255
    exif = PILImage.Exif()
    exif[0x0112] = orientation
    p = tmp_path / "o.png"
    PILImage.fromarray(a).save(p, exif=exif)
    expected = _transpose_reference(p)
    img = read_image(p)
    np.testing.assert_array_equal(img.rgb, expected)
    if orientation >= 5:
        assert img.rgb.shape[:2] == (30, 20)


def _transpose_reference(p: Path) -> np.ndarray:
    from PIL import ImageOps

    with PILImage.open(p) as im:
        return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))


def test_exif_focal_length_is_read(tmp_path: Path, rgb: np.ndarray) -> None:
    exif = PILImage.Exif()
    exif[0x010F] = "Cam"
    ifd = exif.get_ifd(0x8769)
    ifd[0xA405] = 26
    ifd[0x920A] = 4.2
    p = tmp_path / "f.jpg"
    PILImage.fromarray(rgb).save(p, exif=exif)
    img = read_image(p)
    assert img.exif.get("focal_length_35mm") == 26.0
    assert img.exif.get("focal_length_mm") == pytest.approx(4.2)


def test_missing_empty_text_truncated(tmp_path: Path, rgb: np.ndarray) -> None:
    with pytest.raises(InputError, match="nope.jpg: no such file"):
        read_image(tmp_path / "nope.jpg")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(InputError, match="empty.png: file is empty"):
        read_image(tmp_path / "empty.png")
    (tmp_path / "text.jpg").write_text("this is not a picture")
    with pytest.raises(InputError, match="text.jpg: not a readable image"):
        read_image(tmp_path / "text.jpg")
    full = tmp_path / "full.jpg"
    PILImage.fromarray(np.tile(rgb, (10, 10, 1))).save(full, quality=90)
    (tmp_path / "cut.jpg").write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(InputError, match="cut.jpg"):
        read_image(tmp_path / "cut.jpg")


def test_decompression_bomb_is_refused_from_the_header(tmp_path: Path) -> None:
    p = tmp_path / "bomb.png"
    _write_png_header_only(p, 100_000, 100_000)
    with pytest.raises(InputError, match=r"bomb.png: 100000x100000 .* exceeds the limit"):
        read_image(p)
    small = tmp_path / "small.png"
    PILImage.new("RGB", (100, 100)).save(small)
    with pytest.raises(InputError, match="limit"):
        read_image(small, max_pixels=5_000)
    assert read_image(small, max_pixels=20_000).rgb.shape == (100, 100, 3)


def _write_png_header_only(path: Path, width: int, height: int) -> None:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def test_palette_png_without_palette_is_refused(tmp_path: Path) -> None:
    """Colour type 3 needs a PLTE chunk: Pillow shows it as grey levels, libpng refuses; so do we (fuzz finding)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes(range(8)) for _ in range(4))
    ihdr = struct.pack(">IIBBBBB", 8, 4, 8, 3, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    bare = tmp_path / "bare.png"
    bare.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    with pytest.raises(InputError, match="palette"):
        read_image(bare)
    palette = chunk(b"PLTE", bytes(range(24)))
    good = tmp_path / "good.png"
    good.write_bytes(b"\x89PNG\r\n\x1a\n" + body[:25] + palette + body[25:])
    assert read_image(good).rgb[0, 1].tolist() == [3, 4, 5]


def test_write_image_is_atomic(tmp_path: Path, rgb: np.ndarray) -> None:
    p = tmp_path / "out.png"
    write_image(p, rgb)
    before = p.read_bytes()
    with pytest.raises(Exception):  # noqa: B017 - any failure while encoding
        write_image(p, np.zeros((2, 2, 3), np.float64))
    assert p.read_bytes() == before
    assert [f.name for f in tmp_path.iterdir()] == ["out.png"]


def test_outputs_get_ordinary_permissions(tmp_path: Path, rgb: np.ndarray) -> None:
    import os

    p = write_image(tmp_path / "perm.png", rgb)
    mask = os.umask(0)
    os.umask(mask)
    assert (p.stat().st_mode & 0o777) == (0o666 & ~mask)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_level_trades_size_and_keeps_pixels(photos: Path, tmp_path: Path, dtype: type) -> None:
    from depthforge.core.errors import ValidationError

    rgb = np.asarray(PILImage.open(photos / "astronaut.jpg").convert("RGB")).astype(dtype)
    if dtype == np.uint16:
        rgb = rgb * 257
    fast, small = write_image(tmp_path / "fast.png", rgb, level=1), write_image(tmp_path / "small.png", rgb, level=9)
    assert fast.stat().st_size > 1.05 * small.stat().st_size  # a real photo: level 1 stores more bytes
    for path in (fast, small):
        np.testing.assert_array_equal(read_image(path).rgb, rgb)
    for bad in (10, 1.7, True):
        with pytest.raises(ValidationError, match="^level: expected a whole number 0-9"):
            write_image(tmp_path / "bad.png", rgb, level=bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="^level: only PNG files"):
        write_image(tmp_path / "photo.jpg", rgb.astype(np.uint8), level=1)


def test_grey_webp_is_lossless_and_colour_webp_is_quality_95(tmp_path: Path) -> None:
    # user trial 3: a mask written as .webp came back lossy (222 distinct values, channels differing)
    from depthforge.io.images import write_image

    rng = np.random.default_rng(5)
    mask = np.zeros((64, 80), np.uint8)
    mask[10:50, 20:60] = 255
    mask[30, :] = rng.integers(0, 256, 80, dtype=np.uint8)  # a feathered row
    write_image(tmp_path / "m.webp", mask)
    with PILImage.open(tmp_path / "m.webp") as im:
        back = np.asarray(im.convert("L"))
    np.testing.assert_array_equal(back, mask)
    photo = np.tile(np.linspace(0, 255, 80, dtype=np.uint8)[None, :, None], (64, 1, 3))
    write_image(tmp_path / "p.webp", photo)
    with PILImage.open(tmp_path / "p.webp") as im:
        assert np.abs(np.asarray(im.convert("RGB"), np.int16) - photo).mean() < 2.0


def test_a_float_colour_tiff_is_named_as_such(tmp_path: Path) -> None:
    """User trial 6: a float32 RGB TIFF (a linear render) was "unknown data; accepted: ... TIFF ..."."""
    import tifffile

    tifffile.imwrite(tmp_path / "render.tif", np.full((8, 12, 3), 0.5, np.float32))
    with pytest.raises(InputError, match="render.tif: a TIFF whose samples are not read as a photo .*16-bit RGB"):
        read_image(tmp_path / "render.tif")
    (tmp_path / "bad.tif").write_bytes(b"II*\x00" + b"garbage" * 4)  # review: damage is not a float TIFF
    with pytest.raises(InputError, match=r"bad.tif: not a readable image \(unknown data"):
        read_image(tmp_path / "bad.tif")
    tifffile.imwrite(tmp_path / "plate.tif", np.full((8, 12, 3), 40000, np.uint16))
    assert read_image(tmp_path / "plate.tif").size_hw == (8, 12)
