"""Reduced (DCT-scaled) JPEG decoding: at least the requested size, the file's full upright size reported."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image as PILImage

from depthforge.io.images import read_image, read_image_reduced


def _jpeg(path: Path, h: int, w: int, orientation: int = 1) -> Path:
    from skimage import data

    img = cv2.resize(data.astronaut(), (w, h), interpolation=cv2.INTER_AREA)
    pil = PILImage.fromarray(img)
    exif = pil.getexif()
    if orientation != 1:
        exif[0x0112] = orientation
    pil.save(path, quality=92, exif=exif.tobytes())
    return path


@pytest.mark.parametrize("need,expect", [((700, 900), (800, 1200)), ((300, 300), (400, 600)), ((50, 50), (200, 300))])
def test_smallest_scale_that_keeps_the_request(tmp_path: Path, need: tuple[int, int], expect: tuple[int, int]) -> None:
    p = _jpeg(tmp_path / "a.jpg", 1600, 2400)
    seen: list[tuple[int, int]] = []

    def want(h: int, w: int) -> tuple[int, int]:
        seen.append((h, w))
        return need

    img, full = read_image_reduced(p, want)
    assert full == (1600, 2400) and seen == [(1600, 2400)]
    assert img.rgb.shape[:2] == expect
    assert img.rgb.shape[0] >= need[0] and img.rgb.shape[1] >= need[1]
    # the reduced decode is the same picture: compare with the full decode shrunk to the same size
    ref = cv2.resize(read_image(p).rgb, (expect[1], expect[0]), interpolation=cv2.INTER_AREA)
    assert np.abs(img.rgb.astype(int) - ref).mean() < 3


def test_exif_rotation_swaps_sizes(tmp_path: Path) -> None:
    p = _jpeg(tmp_path / "r.jpg", 800, 1200, orientation=6)  # stored landscape, shown portrait
    img, full = read_image_reduced(p, lambda h, w: (h // 4, w // 4))
    assert full == (1200, 800)
    assert img.rgb.shape[:2] == (300, 200)
    assert read_image(p).rgb.shape[:2] == full


def test_other_formats_are_decoded_in_full(tmp_path: Path) -> None:
    p = tmp_path / "a.png"
    PILImage.fromarray(np.zeros((64, 96, 3), np.uint8)).save(p)
    img, full = read_image_reduced(p, lambda h, w: (8, 8))
    assert img.rgb.shape[:2] == full == (64, 96)


def _pillow_pixels(path: Path, scale: int) -> np.ndarray:
    """Pillow's own decode of a JPEG at 1/scale (its draft mode), EXIF rotation applied."""
    from PIL import ImageOps

    with PILImage.open(path) as im:
        if scale > 1:
            im.draft("RGB", (im.size[0] // scale, im.size[1] // scale))
        im.load()
        return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("kind", ["baseline", "progressive", "4:4:4", "odd size"])
@pytest.mark.parametrize("scale", [1, 2, 4, 8])
def test_jpeg_pixels_are_exactly_pillows(
    tmp_path: Path, kind: str, scale: int, fast: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Colour JPEGs are decoded by libjpeg-turbo through simplejpeg (faster, straight into RGB): the very pixels Pillow
    gives, at every DCT scale, for baseline, progressive and unsubsampled files and sizes that do not divide;
    the Pillow path (taken where simplejpeg refuses a file) picks the same scale."""
    if not fast:
        from depthforge.io import images

        monkeypatch.setattr(images, "_decode_jpeg_rgb", lambda path, scale: None)
    h, w = (757, 1003) if kind == "odd size" else (768, 1024)
    rng = np.random.default_rng(2)
    img = np.clip(cv2.resize(_jpeg_source(), (w, h)) + rng.normal(0, 6, (h, w, 3)), 0, 255).astype(np.uint8)
    p = tmp_path / "k.jpg"
    opts = {"progressive": {"progressive": True}, "4:4:4": {"subsampling": 0}}.get(kind, {})
    PILImage.fromarray(img).save(p, quality=90, **opts)
    if scale == 1:
        got = read_image(p).rgb
    else:
        reduced, full = read_image_reduced(p, lambda fh, fw: (fh // scale, fw // scale))
        got = reduced.rgb
        assert full == (h, w) and got.shape[:2] == (-(-h // scale), -(-w // scale))
    np.testing.assert_array_equal(got, _pillow_pixels(p, scale))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_jpeg_exif_orientation_full_and_reduced(tmp_path: Path, orientation: int) -> None:
    p = _jpeg(tmp_path / "o.jpg", 400, 600, orientation=orientation)
    np.testing.assert_array_equal(read_image(p).rgb, _pillow_pixels(p, 1))
    img, full = read_image_reduced(p, lambda h, w: (h // 2, w // 2))
    np.testing.assert_array_equal(img.rgb, _pillow_pixels(p, 2))
    assert full == ((600, 400) if orientation >= 5 else (400, 600))


def test_truncated_jpeg_still_fails_cleanly(tmp_path: Path) -> None:
    from depthforge.core.errors import InputError

    p = _jpeg(tmp_path / "whole.jpg", 400, 600)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(p.read_bytes()[:-2000])
    for read in (read_image, lambda q: read_image_reduced(q, lambda h, w: (h // 2, w // 2))):
        with pytest.raises(InputError, match="cut.jpg"):
            read(cut)


def _jpeg_source() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def test_request_above_the_photo_size_decodes_in_full(tmp_path: Path) -> None:
    p = _jpeg(tmp_path / "small.jpg", 120, 160)
    img, full = read_image_reduced(p, lambda h, w: (2 * h, 2 * w))
    assert full == (120, 160)
    np.testing.assert_array_equal(img.rgb, _pillow_pixels(p, 1))


def test_multi_picture_jpeg_reads_its_first_picture(tmp_path: Path) -> None:
    """MPO files (phones store extra pictures after the photo) take the same fast paths: the first picture."""
    p = _jpeg(tmp_path / "first.jpg", 400, 600)
    first = PILImage.open(p).convert("RGB")
    mpo = tmp_path / "two.mpo"
    first.save(mpo, format="MPO", save_all=True, append_images=[first.transpose(PILImage.Transpose.ROTATE_180)])
    with PILImage.open(mpo) as im:
        assert im.format == "MPO"
    np.testing.assert_array_equal(read_image(mpo).rgb, _pillow_pixels(mpo, 1))
    img, full = read_image_reduced(mpo, lambda h, w: (h // 2, w // 2))
    assert full == (400, 600) and img.rgb.shape[:2] == (200, 300)
    np.testing.assert_array_equal(img.rgb, _pillow_pixels(mpo, 2))
