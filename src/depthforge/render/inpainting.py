"""Image inpainting behind one interface: ``inpaint(image, mask, *, method=...) -> image``.

Methods (:data:`INPAINT_METHODS`):

* ``"telea"`` and ``"ns"``: OpenCV's ``cv2.inpaint`` (Telea's fast marching; Navier-Stokes).
* ``"background"``: the background-side fill of the layered scenes: every hole pixel takes the nearest known pixels
  along its row and column (:func:`depthforge.process.fill.fill_from_background`), interpolated by inverse
  distance and blurred among the filled pixels. In a layered scene the mask covers the nearer layers and a margin
  around them, so the known pixels are the background's.
* any :class:`Inpainter`: a callable ``(image, mask) -> image`` with the same contract, such as the learned
  (LaMa-family, ONNX Runtime) inpainter that :func:`depthforge.models.inpaint.load_inpainter` returns for
  ``"onnx:FILE"`` or a hub id (models are a sibling package of render, so render takes the loaded callable).

Whatever the method, only masked pixels change; the others are the input's exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Union

import numpy as np

from depthforge.core.errors import ValidationError
from depthforge.core.image import Image, check_image
from depthforge.core.validation import check_array, check_choice, check_same_hw
from depthforge.process.fill import fill_from_background, fill_from_nearest
from depthforge.render.warp import smooth_filled

__all__ = ["INPAINT_METHODS", "Inpainter", "InpaintMethod", "check_inpaint_method", "inpaint"]

INPAINT_METHODS = ("background", "telea", "ns")

#: ``(image, mask) -> image``: (H, W, 3) uint8 RGB and (H, W) bool, True = to fill, to (H, W, 3) uint8 RGB.
Inpainter = Callable[[np.ndarray, np.ndarray], np.ndarray]
#: A method name of :data:`INPAINT_METHODS` or an :data:`Inpainter`.
InpaintMethod = Union[str, Inpainter]  # noqa: UP007 (a runtime alias: X | Y of a Callable needs Python 3.10 types)


def check_inpaint_method(method: object, name: str = "method") -> InpaintMethod:
    """``method`` when it is a name of :data:`INPAINT_METHODS` or a callable, else a one-line ValidationError (a
    learned model's name points to :func:`depthforge.models.inpaint.load_inpainter`) naming the caller's parameter
    ``name``."""
    if callable(method):
        return method  # type: ignore[return-value]
    if isinstance(method, str) and method not in INPAINT_METHODS and (method.startswith("onnx:") or "/" in method):
        raise ValidationError(
            f"{name}: {method!r} is a learned inpainter; load it with depthforge.models.inpaint.load_inpainter "
            "and pass the result"
        )
    return check_choice(method, name, INPAINT_METHODS)  # type: ignore[no-any-return]


def inpaint(
    image: np.ndarray | Image,
    mask: np.ndarray,
    *,
    method: InpaintMethod = "telea",
    radius_px: int = 3,
    max_pixels: int | None = None,
) -> np.ndarray:
    """Fill the masked pixels of an image.

    Args:
        image: (H, W, 3) uint8 RGB (or an :class:`~depthforge.core.image.Image`); not modified.
        mask: (H, W) bool, True = to fill.
        method: a name of :data:`INPAINT_METHODS` or an :data:`Inpainter` callable (see the module docstring).
        radius_px: neighbourhood radius of ``telea`` and ``ns``, px (>= 1).
        max_pixels: the fill runs on the image downscaled to about this many pixels when it is larger (the cost
            of ``telea``, ``ns`` and learned models grows with the hole area; the ``background`` fill is blurred
            over 1 % of the larger side anyway); the result is upsampled and only masked pixels are taken.
            None = full resolution.

    Returns:
        (H, W, 3) uint8 RGB: the input outside ``mask``, the fill inside it.

    >>> img = np.zeros((4, 6, 3), np.uint8); img[:, 3:] = 200
    >>> hole = np.zeros((4, 6), bool); hole[:, 4] = True
    >>> int(inpaint(img, hole, method="background")[0, 4, 0])
    200
    """
    img = check_image(image, channels=(3,), dtype_kind="u")
    if img.dtype != np.uint8:
        raise ValidationError(f"image: expected uint8 RGB, got {img.dtype}")
    m = check_array(mask, "mask", ndim=2, dtype_kind="b")
    check_same_hw(img, "image", m, "mask")
    how = check_inpaint_method(method)
    if isinstance(radius_px, bool) or not isinstance(radius_px, int) or radius_px < 1:
        raise ValidationError(f"radius_px: expected an integer >= 1, got {radius_px!r}")
    if max_pixels is not None and (not isinstance(max_pixels, int) or max_pixels < 64):
        raise ValidationError(f"max_pixels: expected an integer >= 64 or None, got {max_pixels!r}")
    if not m.any():
        return img.copy()
    if m.all():
        raise ValidationError("mask: every pixel is to be filled; nothing to fill them from")
    filled = _scaled(img, m, how, radius_px=radius_px, max_pixels=max_pixels)
    out = img.copy()
    np.copyto(out, filled, where=m[:, :, None])
    return out


def _scaled(
    img: np.ndarray, mask: np.ndarray, how: InpaintMethod, *, radius_px: int, max_pixels: int | None
) -> np.ndarray:
    """``how`` run at reduced resolution when the image exceeds ``max_pixels``."""
    import cv2

    h, w = mask.shape
    f = 1.0 if max_pixels is None else max(1.0, math.sqrt(h * w / max_pixels))
    if f > 1.0:
        size = (max(1, round(w / f)), max(1, round(h / f)))
        src = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        small = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0
        if small.all():
            small = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    else:
        src, small = img, mask
    if how == "background":
        res = _background(src, small)
    elif callable(how):
        res = np.asarray(how(src, small))
        if res.shape != src.shape or res.dtype != np.uint8:
            raise ValidationError(f"method: the inpainter returned {res.dtype} {res.shape}, expected uint8 {src.shape}")
    else:
        flag = cv2.INPAINT_TELEA if how == "telea" else cv2.INPAINT_NS
        res = cv2.inpaint(src, small.astype(np.uint8), radius_px, flag)
    if f > 1.0:
        res = cv2.resize(res, (w, h), interpolation=cv2.INTER_LINEAR)
    return res


def _background(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Nearest known pixels along the row and column, inverse-distance weighted, blurred among the filled pixels."""
    h, w = mask.shape
    flat = np.zeros((h, w), np.float32)
    sides = fill_from_background(img.astype(np.float32), mask, priority=flat, direction="both", by_distance=True)
    lost = np.isnan(sides).any(axis=2) & mask
    if lost.any():
        sides[lost] = fill_from_nearest(img, mask)[lost]
    smooth_filled(sides, mask, sigma=max(1.0, 0.01 * max(h, w)), direction="both")
    return np.clip(np.rint(sides), 0, 255).astype(np.uint8)
