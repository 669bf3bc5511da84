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
