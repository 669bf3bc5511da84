"""Composing a pair into one image: every layout's size, no black introduced, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from depthforge.core.errors import ValidationError
from depthforge.stereo import LAYOUTS, compose, split_stereo


@pytest.fixture()
def pair() -> tuple[np.ndarray, np.ndarray]:
    """Two textured views (values 30..220, never 0) of one size."""
    rng = np.random.default_rng(0)
    return (rng.integers(30, 221, (40, 60, 3), dtype=np.uint8), rng.integers(30, 221, (40, 60, 3), dtype=np.uint8))


def test_every_layout_has_its_size_and_no_black(pair: tuple[np.ndarray, np.ndarray]) -> None:
    left, right = pair
    h, w = left.shape[:2]
    expected = {
        "left-right": (h, 2 * w),
        "right-left": (h, 2 * w),
        "top-bottom": (2 * h, w),
        "bottom-top": (2 * h, w),
        "half-left-right": (h, w),
        "half-top-bottom": (h, w),
    }
    for layout in LAYOUTS:
        out = compose(left, right, layout=layout)
        if not layout.startswith("anaglyph-"):  # anaglyph matrices may legitimately clip a channel to 0
            assert out.min() > 0, layout
        assert out.shape[:2] == expected.get(layout, (h, w)), layout


@pytest.mark.parametrize(
    ("layout", "split"),
    [
        ("left-right", "sbs"),
        ("top-bottom", "tb"),
        *((name, name) for name in ("left-right", "right-left", "top-bottom", "bottom-top")),  # compose's names
    ],
)
def test_split_undoes_compose(pair: tuple[np.ndarray, np.ndarray], layout: str, split: str) -> None:
    left, right = pair
    a, b = split_stereo(compose(left, right, layout=layout), layout=split)
    np.testing.assert_array_equal(a, left)
    np.testing.assert_array_equal(b, right)


def test_bad_input_messages(pair: tuple[np.ndarray, np.ndarray]) -> None:
    left, right = pair
    with pytest.raises(ValidationError, match="layout"):
        compose(left, right, layout="diagonal")
    with pytest.raises(ValidationError, match="layout"):
        compose(left, right, layout="wiggle")  # several images: rendering, not composing
    with pytest.raises(ValidationError, match="right: shape"):
        compose(left, right[:20], layout="left-right")
    with pytest.raises(ValidationError, match="^right: dtype uint16 does not match left uint8"):  # user trial 8
        compose(left, right.astype(np.uint16) * 257, layout="left-right")
    # odd sides keep the photo's size (user trials 8 and 9), and splitting gives the eyes back
    for layout, split in (("half-left-right", "sbs"), ("half-top-bottom", "tb")):
        frame = compose(left[:39, :59], right[:39, :59], layout=layout)
        assert frame.shape == (39, 59, 3), layout
        eyes = split_stereo(frame, layout=split)
        assert eyes[0].shape == eyes[1].shape and eyes[0].shape[:2] in ((39, 29), (19, 59))


def test_texture_fraction_takes_any_image_form(pair: tuple[np.ndarray, np.ndarray]) -> None:
    """User trial 8: float [0, 1] gave 0 (textureless), uint16 a larger share, grey a cv2.error."""
    from depthforge.stereo import texture_fraction

    rgb = pair[0]
    share = texture_fraction(rgb)
    assert 0.1 < share < 1.0
    assert texture_fraction(rgb.astype(np.float32) / 255) == share
    assert texture_fraction(rgb.astype(np.uint16) * 257) == share
    assert 0.1 < texture_fraction(rgb[:, :, 0]) < 1.0 and texture_fraction(np.full((8, 8), 9, np.uint8)) == 0.0
    with pytest.raises(ValidationError, match="^image: "):
        texture_fraction([[1]])  # type: ignore[arg-type]
