"""Anaglyph modes against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from depthforge.core.errors import ValidationError
from depthforge.stereo.glasses import ANAGLYPH_MODES, anaglyph, linear_to_srgb, srgb_to_linear


def px(*rgb: int) -> np.ndarray:
    return np.array([[rgb]], dtype=np.uint8)


def test_color_takes_red_from_left_and_green_blue_from_right() -> None:
    assert anaglyph(px(200, 10, 20), px(30, 40, 50), mode="color")[0, 0].tolist() == [200, 40, 50]


def test_half_color_uses_left_luma_for_red() -> None:
    # 0.2126*200 + 0.7152*10 + 0.0722*20 = 51.116
    assert anaglyph(px(200, 10, 20), px(30, 40, 50), mode="half-color")[0, 0].tolist() == [51, 40, 50]


def test_gray_uses_luma_of_both_eyes() -> None:
    # right luma: 0.2126*30 + 0.7152*40 + 0.0722*50 = 38.596
    assert anaglyph(px(200, 10, 20), px(30, 40, 50), mode="gray")[0, 0].tolist() == [51, 39, 39]


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        # white left eye only: row sums of the left matrix 1.05 / -0.148 / -0.115 -> clipped
        ((255, 255, 255), (0, 0, 0), [255, 0, 0]),
        # white right eye only: -0.05 / 1.147 / 1.115
        ((0, 0, 0), (255, 255, 255), [0, 255, 255]),
        # red left, blue right: R = 0.437 - 0.007 = 0.430 linear -> sRGB 0.6872 -> 175; G < 0; B > 1
        ((255, 0, 0), (0, 0, 255), [175, 0, 255]),
        # green left, green right: R = 0.449 - 0.032 = 0.417 -> sRGB 0.6786 -> 173; G = 0.761 - 0.062 = 0.699
        # -> sRGB 0.8538 -> 218; B = -0.050 - 0.093 < 0 -> 0
        ((0, 255, 0), (0, 255, 0), [173, 218, 0]),
    ],
)
def test_dubois_in_linear_light(left: tuple, right: tuple, expected: list) -> None:
    assert anaglyph(px(*left), px(*right), mode="dubois")[0, 0].tolist() == expected


def test_srgb_round_trip_and_known_point() -> None:
    v = np.linspace(0, 1, 101)
    np.testing.assert_allclose(linear_to_srgb(srgb_to_linear(v)), v, atol=1e-12)
    assert srgb_to_linear(np.array(0.5)) == pytest.approx(0.21404, abs=1e-5)


def test_uint16_keeps_dtype_and_scale() -> None:
    left = np.full((2, 2, 3), 65535, np.uint16)
    right = np.zeros((2, 2, 3), np.uint16)
    out = anaglyph(left, right, mode="color")
    assert out.dtype == np.uint16 and out[0, 0].tolist() == [65535, 0, 0]


def test_all_modes_keep_shape() -> None:
    rng = np.random.default_rng(1)
    a, b = (rng.integers(0, 256, (5, 7, 3), dtype=np.uint8) for _ in range(2))
    for mode in ANAGLYPH_MODES:
        assert anaglyph(a, b, mode=mode).shape == (5, 7, 3)


def test_bad_input() -> None:
    with pytest.raises(ValidationError, match="mode"):
        anaglyph(px(1, 2, 3), px(1, 2, 3), mode="green-magenta")
    with pytest.raises(ValidationError, match="right"):
        anaglyph(px(1, 2, 3), np.zeros((2, 1, 3), np.uint8))


@pytest.mark.parametrize("mode", ANAGLYPH_MODES)
def test_row_bands_do_not_change_the_result(cones, monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    # the real cones pair: bands of 7 rows give the bytes of the whole image computed at once
    from PIL import Image

    from depthforge.stereo import glasses

    left = np.asarray(Image.open(cones / "im2.png").convert("RGB"))
    right = np.asarray(Image.open(cones / "im6.png").convert("RGB"))
    monkeypatch.setattr(glasses, "_BAND_ROWS", left.shape[0])
    whole = anaglyph(left, right, mode=mode)
    monkeypatch.setattr(glasses, "_BAND_ROWS", 7)
    np.testing.assert_array_equal(anaglyph(left, right, mode=mode), whole)
