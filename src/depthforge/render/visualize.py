"""Display images from depth: grayscale and colour maps, input+depth combined, ControlNet conditioning."""

from __future__ import annotations

import numpy as np

from depthforge.core.errors import ValidationError
from depthforge.core.image import Image, check_image, to_uint8
from depthforge.core.validation import check_array, check_choice, check_int, check_same_hw

__all__ = ["COLORMAPS", "colorize", "combine", "controlnet_image"]

COLORMAPS = ("gray", "inferno", "turbo", "viridis", "magma", "plasma")


def colorize(display: np.ndarray, *, colormap: str = "gray") -> np.ndarray:
    """Turn a normalised display map into an RGB image.

    Args:
        display: (H, W) float in [0, 1] (near = 1), as made by ``process.normalize.to_display``.
        colormap: one of :data:`COLORMAPS`.

    Returns:
        (H, W, 3) uint8 RGB.
    """
    check_choice(colormap, "colormap", COLORMAPS)
    d = check_array(display, "display", ndim=2, dtype_kind="f")
    u8 = (np.clip(d, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if colormap == "gray":
        return np.repeat(u8[:, :, None], 3, axis=2)
    import cv2

    code = getattr(cv2, f"COLORMAP_{colormap.upper()}")  # OpenCV's name for each of COLORMAPS
    return np.ascontiguousarray(cv2.applyColorMap(u8, code)[:, :, ::-1])


def combine(image: np.ndarray | Image, depth_rgb: np.ndarray, *, direction: str = "horizontal") -> np.ndarray:
    """Input and its depth image side by side (``horizontal``) or stacked (``vertical``).

    Args:
        image: (H, W, 3) RGB, uint8 (uint16 or float in [0, 1] are brought to uint8).
        depth_rgb: (H, W, 3) uint8 RGB depth visualisation of the same size.

    Returns:
        (H, 2W, 3) or (2H, W, 3) uint8 RGB.
    """
    check_choice(direction, "combine", ("horizontal", "vertical"))
    image = to_uint8(check_image(image))  # user trial 8: a uint16 photo gave a uint16 picture, its depth half black
    check_same_hw(image, "image", check_array(depth_rgb, "depth_rgb", ndim=3, channels=3), "depth_rgb")
    if depth_rgb.dtype != np.uint8:
        raise ValidationError(f"depth_rgb: expected a uint8 depth picture (colorize's), got {depth_rgb.dtype}")
    return np.concatenate([image, depth_rgb], axis=1 if direction == "horizontal" else 0)


def controlnet_image(display: np.ndarray, *, multiple: int = 64) -> np.ndarray:
    """A ControlNet / depth2img conditioning image.

    Args:
        display: (H, W) float in [0, 1], near = 1 (white).
        multiple: both sides are resized to the nearest multiple of this (at least one multiple).

    Returns:
        (H', W', 3) uint8 RGB, near = white, H' and W' multiples of ``multiple``.
    """
    import cv2

    d = check_array(display, "display", ndim=2, dtype_kind="f")
    check_int(multiple, "multiple", low=1)  # user trial 8: 0 divided by zero
    h, w = d.shape
    nh = max(multiple, round(h / multiple) * multiple)
    nw = max(multiple, round(w / multiple) * multiple)
    if (nh, nw) != (h, w):
        interp = cv2.INTER_AREA if nh * nw < h * w else cv2.INTER_CUBIC
        d = cv2.resize(d.astype(np.float32), (nw, nh), interpolation=interp)
    return colorize(np.clip(d, 0.0, 1.0), colormap="gray")
