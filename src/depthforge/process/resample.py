"""Resampling depth maps to another size while keeping their meaning."""

from __future__ import annotations

import numpy as np

from depthforge.core.depthmap import DepthMap, depth_arrays
from depthforge.core.errors import ValidationError
from depthforge.core.validation import check_size_hw

__all__ = ["resize_depth", "check_not_sideways"]


def check_not_sideways(depth_hw: tuple[int, int], image_hw: tuple[int, int], *, tolerance: float = 0.02) -> None:
    """Refuse a depth map of ``depth_hw`` (height, width) that has the shape of the image's ``image_hw`` turned on
    its side (its aspect ratio within ``tolerance`` of the image's transposed, and not of the image's own): a
    photo shown upright through its EXIF orientation, or a depth saved without it. Stretched to the image it would
    give a wrong 3D result without any error; any other size is resampled (a model's square output, say).

    >>> check_not_sideways((375, 450), (450, 375))
    Traceback (most recent call last):
    ...
    depthforge.core.errors.ValidationError: depth: 450x375 is the image (375x450) turned on its side ...
    """
    (dh, dw), (ih, iw) = check_size_hw(depth_hw, "depth_hw"), check_size_hw(image_hw, "image_hw")
    own, turned = abs(dw / dh / (iw / ih) - 1.0), abs(dw / dh / (ih / iw) - 1.0)
    if turned <= tolerance < own:
        raise ValidationError(
            f"depth: {dw}x{dh} is the image ({iw}x{ih}) turned on its side (the photo's EXIF rotation?); "
            "turn the depth map to match"
        )


@depth_arrays
def resize_depth(depth: DepthMap, size_hw: tuple[int, int]) -> DepthMap:
    """Resample to ``size_hw`` = (height, width) pixels.

    Values are interpolated bilinearly where all neighbours are valid and by nearest neighbour elsewhere, so
    invalid (NaN) pixels never bleed into valid ones. Disparity values (pixels) are multiplied by the width
    ratio, since a disparity is a horizontal distance in pixels; metric and relative values are unchanged.
    Intrinsics are rescaled.

    Returns:
        A new :class:`DepthMap` of shape ``size_hw`` (the input itself when it already has that size; it is
        never modified).

    >>> float(resize_depth(DepthMap(np.full((2, 2), 4.0), kind="disparity"), (4, 6)).values[0, 0])
    12.0
    """
    import cv2

    height, width = check_size_hw(size_hw)
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
