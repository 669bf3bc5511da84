"""Stereo pairs: matching (disparity from a rectified pair), splitting one image into its two views, and composing
two views into one image (side by side, top-bottom, anaglyph).

Matching is fully offline, no neural model: OpenCV semi-global matching in both directions, a left-right
consistency check, background-side filling of what cannot be matched, and an edge-aware weighted median guided by
the image. Making the views of a pair from one image and its depth (view synthesis) is
:mod:`depthforge.render.stereo`.

Quick use::

    from depthforge.stereo import compose, match_stereo
    result = match_stereo(left_rgb, right_rgb)            # StereoResult
    result.disparity                                      # DepthMap, kind "disparity", pixels, left view
    sbs = compose(left_rgb, right_rgb, layout="left-right")
"""

from depthforge.stereo.glasses import ANAGLYPH_MODES, anaglyph
from depthforge.stereo.inputs import (
    RectificationReport,
    check_rectified,
    prepare_pair,
    split_stereo,
    texture_fraction,
)
from depthforge.stereo.layouts import LAYOUTS, compose
from depthforge.stereo.matching import (
    SMOOTHING_MODES,
    StereoResult,
    auto_max_disparity,
    fill_background,
    left_right_check,
    match_stereo,
    stretch_half,
)

__all__ = [
    "ANAGLYPH_MODES",
    "LAYOUTS",
    "SMOOTHING_MODES",
    "RectificationReport",
    "StereoResult",
    "anaglyph",
    "auto_max_disparity",
    "check_rectified",
    "compose",
    "fill_background",
    "left_right_check",
    "match_stereo",
    "prepare_pair",
    "split_stereo",
    "stretch_half",
    "texture_fraction",
]
