"""Every ``image`` parameter takes an :class:`Image` or its pixel array alike (CONVENTIONS' vocabulary)."""

from __future__ import annotations

import numpy as np
import pytest

from depthforge.core.depthmap import DepthMap
from depthforge.core.image import Image
from depthforge.process.filters import guided_filter
from depthforge.render.defocus import bokeh
from depthforge.render.masks import cutout, foreground_alpha, replace_background
from depthforge.render.motion import CameraPose
from depthforge.render.parallax import render_view
from depthforge.render.stereo import render_stereo, wiggle_frames
from depthforge.render.visualize import combine

H, W = 24, 32


def test_image_or_array_give_the_same_result() -> None:
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    rel = np.tile(np.linspace(0.0, 1.0, W, dtype=np.float32), (H, 1))
    rel[8:16, 10:20] = 2.0  # a near box
    depth = DepthMap(rel, kind="relative")
    photo = Image(rgb)
    flipped = Image(np.ascontiguousarray(rgb[::-1]))
    alpha = foreground_alpha(depth, image=rgb)
    calls = {
        "render_stereo": lambda im: np.stack(render_stereo(im, depth)),
        "wiggle_frames": lambda im: np.stack(wiggle_frames(im, depth, views=3)),
        "bokeh": lambda im: bokeh(im, depth, aperture_px=3),
        "render_view": lambda im: render_view(im, depth, CameraPose(x=2.0)),
        "foreground_alpha": lambda im: foreground_alpha(depth, image=im),
        "cutout": lambda im: cutout(im, alpha),
        "replace_background": lambda im: replace_background(im, alpha, color=(0, 255, 0)),
        "combine": lambda im: combine(im, rgb),
        "guided_filter": lambda im: guided_filter(im, depth).values,
    }
    for name, call in calls.items():
        a, b = call(rgb), call(photo)
        np.testing.assert_array_equal(a, b, err_msg=name)
        assert not np.array_equal(a, call(flipped)), f"{name}: the image's pixels were not used"


def test_combine_and_the_controlnet_image_check_their_inputs() -> None:
    """User trial 8: a uint16 photo made a uint16 picture (its depth half black); ``multiple=0`` divided by zero."""
    from depthforge.core.errors import ValidationError
    from depthforge.render.visualize import controlnet_image

    rgb = np.random.default_rng(2).integers(0, 256, (H, W, 3), dtype=np.uint8)
    both = combine(rgb.astype(np.uint16) * 257, rgb)
    assert both.dtype == np.uint8
    np.testing.assert_array_equal(both, np.concatenate([rgb, rgb], axis=1))
    with pytest.raises(ValidationError, match="^depth_rgb: expected a uint8 depth picture"):
        combine(rgb, rgb.astype(np.uint16))
    for bad in (0, -64, 2.5):
        with pytest.raises(ValidationError, match="^multiple: (expected an integer|.* outside the allowed range)"):
            controlnet_image(np.zeros((8, 8), np.float32), multiple=bad)  # type: ignore[arg-type]
