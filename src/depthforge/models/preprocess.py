"""Our own fast preprocessing: numpy/OpenCV, aspect preserved where the model wants it, no PIL round trips.

The size rules reproduce the ``transformers`` image processors exactly (same target shape); the resampling is
OpenCV's (area/cubic), which differs from PIL's filters only slightly (the parity test bounds the effect).
"""

from __future__ import annotations

import math

import numpy as np

from depthforge.core.validation import check_array
from depthforge.models.registry import ModelSpec

__all__ = ["model_input_size", "zoe_padding", "prepare", "prepare_batch"]


def _constrain(value: float, multiple: int) -> int:
    x = round(value / multiple) * multiple
    if x < multiple:
        x = math.ceil(value / multiple) * multiple
    return int(max(x, multiple))


def model_input_size(height: int, width: int, spec: ModelSpec) -> tuple[int, int]:
    """(height, width) the model sees for an image of ``height`` x ``width`` (after any padding).

    With ``keep_aspect`` both sides use the scale closest to 1 among the two target ratios (transformers' rule),
    then each side is rounded to a multiple of ``spec.multiple``.
    """
    th, tw = spec.input_size
    sh, sw = th / height, tw / width
    if spec.keep_aspect:
        if abs(1 - sw) < abs(1 - sh):
            sh = sw
        else:
            sw = sh
    return _constrain(sh * height, spec.multiple), _constrain(sw * width, spec.multiple)


def zoe_padding(height: int, width: int) -> tuple[int, int]:
    """ZoeDepth's reflect padding (top/bottom, left/right) in pixels: int(sqrt(side / 2) * 3)."""
    return int(np.sqrt(height / 2) * 3), int(np.sqrt(width / 2) * 3)


def _resize(img: np.ndarray, size_hw: tuple[int, int], resample: str) -> np.ndarray:
    import cv2

    h, w = img.shape[:2]
    nh, nw = size_hw
    if (nh, nw) == (h, w):
        return img
    shrink = nh * nw < h * w
    if shrink and resample == "bicubic" and img.dtype == np.uint8 and (h > 2 * nh or w > 2 * nw):
        # Two steps: area down to twice the size (anti-aliasing like PIL's filter), then cubic.
        img = cv2.resize(img, (2 * nw, 2 * nh), interpolation=cv2.INTER_AREA)
    if shrink:
        interp = cv2.INTER_AREA if resample == "bicubic" else cv2.INTER_LINEAR
    else:
        interp = cv2.INTER_CUBIC if resample == "bicubic" else cv2.INTER_LINEAR
    return cv2.resize(img, (nw, nh), interpolation=interp)


def prepare(rgb: np.ndarray, spec: ModelSpec, *, size_hw: tuple[int, int] | None = None) -> np.ndarray:
    """Turn one RGB image into the model's input.

    Args:
        rgb: (H, W, 3) uint8 RGB (uint16 is reduced to 8 bit as the reference processors do).
        spec: the model's entry (size rule, mean/std, resampling, padding).
        size_hw: force a model input size (height, width), e.g. a size bucket; default from the size rule.

    Returns:
        (3, h, w) float32, normalised with the model's mean/std, channels in RGB order.
    """
    import cv2

    a = check_array(rgb, "image", ndim=3, channels=3)
    if a.dtype != np.uint8:
        from depthforge.io.images import to_uint8

        a = to_uint8(a)
    mean = np.asarray(spec.mean, np.float32) * 255.0
    inv_std = 1.0 / (np.asarray(spec.std, np.float32) * 255.0)
    if spec.family == "depth_pro":
        # Depth Pro normalises first, then resizes bilinearly without anti-aliasing.
        f = (a.astype(np.float32) - mean) * inv_std
        h, w = size_hw or model_input_size(a.shape[0], a.shape[1], spec)
        f = cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR)
        return np.ascontiguousarray(f.transpose(2, 0, 1))
    if spec.pad_reflect:
        ph, pw = zoe_padding(a.shape[0], a.shape[1])
        a = np.pad(a, ((ph, ph), (pw, pw), (0, 0)), mode="reflect")
    h, w = size_hw or model_input_size(a.shape[0], a.shape[1], spec)
    small = _resize(a, (h, w), spec.resample)
    f = (small.astype(np.float32) - mean) * inv_std
    return np.ascontiguousarray(f.transpose(2, 0, 1))


def prepare_batch(images: list[np.ndarray], spec: ModelSpec, *, size_hw: tuple[int, int]) -> np.ndarray:
    """Stack several images resized to one shared input size: (B, 3, h, w) float32."""
    return np.stack([prepare(im, spec, size_hw=size_hw) for im in images])
