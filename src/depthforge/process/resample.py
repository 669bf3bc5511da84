"""Resampling depth maps to another size while keeping their meaning."""

from __future__ import annotations

import numpy as np

from depthforge.core.depthmap import DepthMap
from depthforge.core.validation import check_positive

__all__ = ["resize_depth"]


def resize_depth(depth: DepthMap, height: int, width: int) -> DepthMap:
    """Resample to ``height`` x ``width`` pixels.

    Values are interpolated bilinearly where all neighbours are valid and by nearest neighbour elsewhere, so
    invalid (NaN) pixels never bleed into valid ones. Disparity values (pixels) are multiplied by the width
    ratio, since a disparity is a horizontal distance in pixels; metric and relative values are unchanged.
    Intrinsics are rescaled.

    Returns:
        A new :class:`DepthMap` of shape (height, width); the input is not modified.
    """
    import cv2

    check_positive(height, "height")
    check_positive(width, "width")
    h, w = depth.shape
    if (h, w) == (height, width):
        return depth
    v = depth.values
    valid = np.isfinite(v)
    filled = np.where(valid, v, 0.0).astype(np.float32)
    lin = cv2.resize(filled, (width, height), interpolation=cv2.INTER_LINEAR)
    weight = cv2.resize(valid.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    near = cv2.resize(np.where(valid, v, np.nan).astype(np.float32), (width, height), interpolation=cv2.INTER_NEAREST)
    out = np.where(weight > 0.999, lin / np.maximum(weight, 1e-6), near)
    if depth.kind == "disparity":
        out = out * np.float32(width / w)
    return depth.with_values(out.astype(np.float32))
