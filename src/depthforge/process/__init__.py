"""Pure functions depth -> depth: normalise for display, resample, filter, fill holes, align scale, evaluate.

Every function takes the depth first (a :class:`~depthforge.core.depthmap.DepthMap`, or an (H, W) array where
documented), options by keyword, and never modifies its input.
"""

from depthforge.process.align import FITS, Alignment, align_to_depth, align_to_points, apply_alignment, fit_scale_shift
from depthforge.process.fill import FILL_METHODS, fill_holes
from depthforge.process.filters import (
    FILTERS,
    bilateral_filter,
    estimate_noise,
    guided_filter,
    median_filter,
    remove_speckles,
)
from depthforge.process.metrics import ALIGN_MODES, depth_metrics, disparity_metrics, evaluate
from depthforge.process.normalize import DisplayRange, display_range, invert_relative, to_display
from depthforge.process.resample import resize_depth

__all__ = [
    "ALIGN_MODES",
    "FILL_METHODS",
    "FILTERS",
    "FITS",
    "Alignment",
    "DisplayRange",
    "align_to_depth",
    "align_to_points",
    "apply_alignment",
    "bilateral_filter",
    "depth_metrics",
    "disparity_metrics",
    "display_range",
    "estimate_noise",
    "evaluate",
    "fill_holes",
    "fit_scale_shift",
    "guided_filter",
    "invert_relative",
    "median_filter",
    "remove_speckles",
    "resize_depth",
    "to_display",
]
