"""Red-cyan anaglyphs from a left and a right view: colour, half-colour, grey and Dubois least squares.

* ``color``: red from the left eye, green and blue from the right.
* ``half-color``: red = luma of the left eye (Rec. 709 weights), green and blue from the right.
* ``gray``: red = luma of the left eye, green = blue = luma of the right eye.
* ``dubois``: E. Dubois' least-squares projection for red-cyan glasses ("A projection method to generate
  anaglyph stereo images", ICASSP 2001; red-cyan matrices as published on his site), applied in linear light:
  sRGB -> linear, ``out = L @ left + R @ right``, clip to [0, 1], linear -> sRGB.

The first three work on the stored (gamma-encoded) values, as the classic definitions do.
"""

from __future__ import annotations

import numpy as np

from depthforge.core.errors import ValidationError
from depthforge.core.image import Image, check_image
from depthforge.core.validation import check_choice

__all__ = ["ANAGLYPH_MODES", "DUBOIS_LEFT", "DUBOIS_RIGHT", "anaglyph", "srgb_to_linear", "linear_to_srgb"]

ANAGLYPH_MODES = ("color", "half-color", "gray", "dubois")

#: Dubois red-cyan matrix for the left eye (rows: output R, G, B; columns: input r, g, b; linear light).
DUBOIS_LEFT = np.array([[0.437, 0.449, 0.164], [-0.062, -0.062, -0.024], [-0.048, -0.050, -0.017]], dtype=np.float64)
#: Dubois red-cyan matrix for the right eye.
DUBOIS_RIGHT = np.array([[-0.011, -0.032, -0.007], [0.377, 0.761, 0.009], [-0.026, -0.093, 1.234]], dtype=np.float64)
_LUMA = np.array([0.2126, 0.7152, 0.0722])
#: Rows per band of the float work (same results, small temporaries).
_BAND_ROWS = 256


def srgb_to_linear(values: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] -> linear light in [0, 1] (IEC 61966-2-1), float64."""
    v = np.asarray(values, dtype=np.float64)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(values: np.ndarray) -> np.ndarray:
    """Linear light in [0, 1] -> sRGB-encoded values in [0, 1], float64."""
    v = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1.0 / 2.4) - 0.055)


def anaglyph(left: np.ndarray | Image, right: np.ndarray | Image, *, mode: str = "dubois") -> np.ndarray:
    """A red-cyan anaglyph (red filter on the left eye).

    Args:
        left: (H, W, 3) uint8 or uint16 RGB (or an :class:`Image`), the left-eye view.
        right: (H, W, 3) same dtype and size, the right-eye view.
        mode: one of :data:`ANAGLYPH_MODES`.

    Returns:
        (H, W, 3) RGB of the input dtype.

    Example:
        >>> red = np.array([[[255, 0, 0]]], np.uint8); cyan = np.array([[[0, 255, 255]]], np.uint8)
        >>> anaglyph(red, cyan, mode="color").tolist()
        [[[255, 255, 255]]]
    """
    check_choice(mode, "mode", ANAGLYPH_MODES)
    lv = check_image(left, "left", dtype_kind="u")
    rv = check_image(right, "right", dtype_kind="u")
    if lv.shape != rv.shape or lv.dtype != rv.dtype:
        raise ValidationError(f"right: {rv.shape} {rv.dtype} does not match left {lv.shape} {lv.dtype}")
    out = np.empty_like(lv)
    for y0 in range(0, lv.shape[0], _BAND_ROWS):  # float64 work in row bands (40 MP whole: about 4 GB)
        rows = slice(y0, y0 + _BAND_ROWS)
        out[rows] = _mix(lv[rows], rv[rows], mode)
    return out


def _mix(lv: np.ndarray, rv: np.ndarray, mode: str) -> np.ndarray:
    """:func:`anaglyph` of some rows."""
    top = float(np.iinfo(lv.dtype).max)
    lf = lv.astype(np.float64) / top
    rf = rv.astype(np.float64) / top
    if mode == "dubois":
        mixed = srgb_to_linear(lf) @ DUBOIS_LEFT.T + srgb_to_linear(rf) @ DUBOIS_RIGHT.T
        out = linear_to_srgb(mixed)
    else:
        out = np.empty_like(lf)
        out[..., 0] = lf[..., 0] if mode == "color" else lf @ _LUMA
        if mode == "gray":
            out[..., 1] = out[..., 2] = rf @ _LUMA
        else:
            out[..., 1:] = rf[..., 1:]
    return (np.clip(out, 0.0, 1.0) * top + 0.5).astype(lv.dtype)
