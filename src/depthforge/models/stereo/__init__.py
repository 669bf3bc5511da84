"""Stereo matching: disparity (pixels) from a rectified left/right pair or a side-by-side / top-bottom image.

Fully offline, no neural model: OpenCV semi-global matching in both directions, a left-right consistency check,
background-side filling of what cannot be matched, and an edge-aware weighted median guided by the image.

Quick use::

    from depthforge.models.stereo import match_stereo
    result = match_stereo(left_rgb, right_rgb)            # StereoResult
    result.disparity                                      # DepthMap, kind "disparity", pixels, left view
"""

from depthforge.models.stereo.inputs import (
    RectificationReport,
    check_rectified,
    prepare_pair,
    split_stereo,
    texture_fraction,
)
from depthforge.models.stereo.matching import (
    SMOOTHING_MODES,
    StereoResult,
    auto_max_disparity,
    fill_background,
    left_right_check,
    match_stereo,
    stretch_half,
)

__all__ = [
    "SMOOTHING_MODES",
    "RectificationReport",
    "StereoResult",
    "auto_max_disparity",
    "check_rectified",
    "fill_background",
    "left_right_check",
    "match_stereo",
    "prepare_pair",
    "split_stereo",
    "stretch_half",
    "texture_fraction",
]
