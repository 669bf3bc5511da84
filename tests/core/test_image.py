"""The Image type: wrapping arrays, 8-bit views, and its old import path."""

from __future__ import annotations

import numpy as np
import pytest

from depthforge.core.errors import InputError
from depthforge.core.image import Image, to_uint8


def test_from_array_keeps_alpha_aside_and_replicates_gray() -> None:
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[..., 3] = 7
    img = Image.from_array(rgba)
    assert img.rgb.shape == (2, 3, 3) and img.alpha is not None and img.alpha.tolist() == [[7] * 3] * 2
    gray = Image.from_array(np.full((2, 3), 9, np.uint16))
    assert gray.rgb.shape == (2, 3, 3) and gray.rgb.dtype == np.uint16 and gray.alpha is None
    assert (gray.width, gray.height) == (3, 2)


def test_to_uint8_rounds_and_does_not_copy_uint8() -> None:
    a = np.array([[0, 128, 255]], np.uint8)
    assert to_uint8(a) is a
    assert to_uint8(np.array([[0, 32896, 65535]], np.uint16)).tolist() == [[0, 128, 255]]
    assert to_uint8(np.array([[-1.0, 0.5, 2.0]], np.float32)).tolist() == [[0, 128, 255]]
    f = Image.from_array(np.full((1, 1, 3), 65535, np.uint16)).as_float()
    assert f.dtype == np.float32 and f.max() == 1.0


def test_bad_dtype_is_refused() -> None:
    with pytest.raises(InputError, match="dtype"):
        Image.from_array(np.zeros((2, 2, 3), np.int32))


def test_old_import_path_is_the_same_class() -> None:
    import depthforge
    from depthforge.io import images

    assert images.Image is Image and images.to_uint8 is to_uint8 and depthforge.Image is Image


def test_float_pixels_beyond_one_are_refused_not_clipped_to_white() -> None:
    # user trial 5: 0..255 floats became a white image (estimate) or 0 % matched pixels (match_stereo), silently
    from depthforge.core.errors import ValidationError
    from depthforge.core.image import check_image

    pixels = np.random.default_rng(0).uniform(0, 255, (8, 9, 3)).astype(np.float32)
    with pytest.raises(ValidationError, match=r"^left: float pixels must lie in 0\.\.1, got up to 25\d"):
        check_image(pixels, "left")
    assert check_image(pixels / 255.0) is not None  # 0..1 floats, and every integer type, as before
    assert check_image(pixels.astype(np.uint8)).dtype == np.uint8
