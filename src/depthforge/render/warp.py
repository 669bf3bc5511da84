"""Forward warping with sub-pixel splatting and depth ordering, and hole filling from the background side.

The reusable core of view synthesis (stereo eyes, parallax frames): every source pixel moves by its own
horizontal (and optionally vertical) shift in pixels and is splatted with bilinear weights into the two (or
four) target pixels around its landing point. A z-buffer on ``priority`` (larger = nearer) decides visibility:

1. each source pixel *claims* the target pixel nearest to its landing point (bilinear weight >= ``claim``),
   and the target keeps the largest claiming priority;
2. every splat whose priority is within ``tolerance`` of that maximum is accepted (a soft z-test, so a surface
   blends smoothly with itself while hidden surfaces are dropped);
3. the colour is the weight-normalised sum of the accepted splats; a target covered by less than
   ``coverage`` of a pixel is a hole (disocclusion, or content from beyond the frame).

:func:`fill_holes_background` then fills holes from the far side
(:func:`depthforge.process.fill.fill_from_background`): along each row, a hole takes the colour of whichever end
of the hole is farther away (lower priority), never a smear between foreground and background, and the filled
streaks are smoothed across rows (only among filled pixels).

The warp runs as a compiled numba kernel (``render/_warp_numba.py``, two passes over the source pixels).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from depthforge.core.validation import check_array, check_choice, check_range, check_same_hw
from depthforge.process.fill import fill_from_background

__all__ = ["WarpResult", "box_width", "forward_warp", "fill_holes_background", "FILL_DIRECTIONS"]

FILL_DIRECTIONS = ("row", "column", "both")


@dataclass(frozen=True, eq=False)
class WarpResult:
    """What :func:`forward_warp` returns.

    Attributes:
        image: (H, W, C) or (H, W) float32, the warped image in the input's value units; hole pixels hold the
            partial (unreliable) colour or 0.
        holes: (H, W) bool, True where no surface covers the pixel (to be filled).
        priority: (H, W) float32, the winning priority at each target pixel, NaN in holes; what
            :func:`fill_holes_background` uses to tell background from foreground.
    """

    image: np.ndarray
    holes: np.ndarray
    priority: np.ndarray


_KERNEL_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))
#: Columns (rows) per band of the filled-hole smoothing across rows (columns).
_BAND_PX = 512


def forward_warp(
    image: np.ndarray,
    shift_x: np.ndarray,
    shift_y: np.ndarray | None = None,
    *,
    priority: np.ndarray,
    tolerance: float = 1.0,
    claim: float = 0.5,
    coverage: float = 0.5,
) -> WarpResult:
    """Move every pixel by its own shift, splatting with bilinear weights; nearer pixels win.

    Source pixel (u, v) lands at (u + shift_x, v + shift_y) (OpenCV frame: x right, y down, pixel centres at
    integers). With ``shift_y=None`` the warp is horizontal only (two splats per pixel, faster).

    Args:
        image: (H, W) or (H, W, C) array, any real dtype (uint8, uint16, float); not modified.
        shift_x: (H, W) float, horizontal shift in pixels (positive = to the right); finite.
        shift_y: (H, W) float, vertical shift in pixels (positive = down), or None for none.
        priority: (H, W) float, larger = nearer = wins (e.g. disparity in px or inverse depth); finite.
        tolerance: splats within this much (priority units) of a target's front-most priority are blended
            with it; farther ones are hidden. 1.0 suits priorities in pixels of disparity.
        claim: a splat enters the z-buffer when its bilinear weight along each axis is at least this (0.5 =
            only the target pixel nearest to the landing point); 0 lets any touching splat claim (foreground
            then grows by up to 1 px).
        coverage: target pixels whose accepted weight sums below this are holes.

    Returns:
        :class:`WarpResult` (image float32 of the input's shape, holes bool (H, W), priority float32 (H, W)).

    Example:
        >>> img = np.arange(12, dtype=np.float32).reshape(3, 4)
        >>> out = forward_warp(img, np.ones((3, 4)), priority=np.zeros((3, 4)))
        >>> out.image[0].tolist(), out.holes[0].tolist()
        ([0.0, 0.0, 1.0, 2.0], [True, False, False, False])
    """
    img = check_array(image, "image", ndim=(2, 3), dtype_kind="uif")
    sx = _plane(shift_x, "shift_x", img, dtype_kind="uif", finite=True)
    sy = None if shift_y is None else _plane(shift_y, "shift_y", img, dtype_kind="uif", finite=True)
    prio = _plane(priority, "priority", img, dtype_kind="uif", finite=True)
    tol = np.float32(check_range(tolerance, "tolerance", low=0.0))
    c = np.float32(max(check_range(claim, "claim", low=0.0, high=1.0), 1e-6))
    cov = np.float32(check_range(coverage, "coverage", low=0.0, high=1.0, low_inclusive=False))
    from depthforge.render._warp_numba import warp_kernel, warp_rows_kernel

    data = img if img.dtype in _KERNEL_DTYPES else img.astype(np.float32)
    data = np.ascontiguousarray(data if data.ndim == 3 else data[:, :, None])
    sx32 = np.ascontiguousarray(sx, dtype=np.float32)
    p32 = np.ascontiguousarray(prio, dtype=np.float32)
    if sy is None:
        out, holes, zt = warp_rows_kernel(data, sx32, p32, tol, c, cov)
    else:
        out, holes, zt = warp_kernel(data, sx32, np.ascontiguousarray(sy, dtype=np.float32), p32, tol, c, cov)
    return WarpResult(out[:, :, 0] if img.ndim == 2 else out, holes, zt)


def fill_holes_background(
    image: np.ndarray,
    holes: np.ndarray,
    priority: np.ndarray,
    *,
    direction: str = "row",
    smooth: float | None = None,
) -> np.ndarray:
    """Fill holes from the far (background) side.

    Along each row (or column), a run of hole pixels takes the colour of whichever neighbouring known pixel has
    the lower priority (is farther); the image border counts as infinitely near, so a band at the border is
    filled from the inside. Ties take the mean of both sides (so left and right eyes stay mirror images).
    The filled values are then blurred across the fill direction (Gaussian, ``smooth`` px), averaging only
    filled pixels, which turns row streaks into a smooth continuation of the background.

    Args:
        image: (H, W) or (H, W, C) float or integer image (e.g. :attr:`WarpResult.image`); not modified.
        holes: (H, W) bool, True = to fill.
        priority: (H, W) float, larger = nearer, at the known pixels (NaN allowed in holes).
        direction: ``"row"`` (horizontal warps), ``"column"`` (vertical warps) or ``"both"`` (the farther of
            the two candidates).
        smooth: blur sigma in pixels; None = 1 % of the larger image side (at least 1); 0 = no blur.

    Returns:
        float32 array of the image's shape with no holes left (pixels with no known pixel anywhere get the
        mean of the known pixels, or 0 when there are none).
    """
    img = check_array(image, "image", ndim=(2, 3), dtype_kind="uif")
    hm = _plane(holes, "holes", img)
    pr = _plane(priority, "priority", img, dtype_kind="uif")
    check_choice(direction, "direction", FILL_DIRECTIONS)
    h, w = hm.shape
    sigma = max(1.0, 0.01 * max(h, w)) if smooth is None else check_range(smooth, "smooth", low=0.0)
    work = img[:, :, None] if img.ndim == 2 else img
    if work.dtype.kind == "f":  # float32 out; integer images are read as they are (no float copy)
        work = work.astype(np.float32, copy=False)
    hm = hm.astype(bool, copy=False)
    if not hm.any():
        return work.astype(np.float32).reshape(img.shape)
    if hm.all():
        return np.zeros(img.shape, dtype=np.float32)
    out = fill_from_background(work, hm, priority=pr, direction=direction)
    lost = hm & np.isnan(out[:, :, 0])  # no known pixel along the row (column)
    if lost.any():
        out[lost] = work[~hm].astype(np.float32).mean(axis=0)
    del lost
    if sigma > 0:
        k = box_width(sigma)
        if direction == "row" and int(np.count_nonzero(hm)) * (2 * k - 1) <= 8 * h * w:
            from depthforge.render._warp_numba import smooth_columns_kernel

            smooth_columns_kernel(out, hm, k)  # sparse holes: only they are visited
        else:
            smooth_filled(out, hm, sigma=sigma, direction=direction)
    return out.reshape(img.shape)


def smooth_filled(image: np.ndarray, holes: np.ndarray, *, sigma: float, direction: str) -> None:
    """Normalised blur of the filled ``holes`` pixels of ``image`` ((H, W, C) float32) among themselves, across
    the fill direction (``row``: across rows, ``column``, ``both``), in place.

    Two passes of a box filter of width ``sqrt(6 sigma^2 + 1)`` (the variance of a Gaussian of ``sigma``),
    which costs the same for any sigma; only the band of rows/columns holding holes is filtered. A blur across rows
    leaves columns independent, so it runs on bands of :data:`_BAND_PX` columns (and one across columns on bands of
    rows): the same values without full-size float copies (a 40 MP eye with wide holes took 2.6 GB).
    """
    check_choice(direction, "direction", FILL_DIRECTIONS)
    k = box_width(sigma)
    h, w = holes.shape
    if direction == "row":
        for x0 in range(0, w, _BAND_PX):
            _smooth_box(image, holes, (1, k), (0, h, x0, min(w, x0 + _BAND_PX)))
    elif direction == "column":
        for y0 in range(0, h, _BAND_PX):
            _smooth_box(image, holes, (k, 1), (y0, min(h, y0 + _BAND_PX), 0, w))
    else:
        _smooth_box(image, holes, (k, k), (0, h, 0, w))


def _smooth_box(image: np.ndarray, holes: np.ndarray, ksize: tuple[int, int], box: tuple[int, int, int, int]) -> None:
    """:func:`smooth_filled` of the holes inside ``box`` (y0, y1, x0, x1) with a ``ksize`` (width, height) box,
    twice; pixels outside ``box`` count as not filled (exact when the blur does not cross the box's edges)."""
    import cv2

    by0, by1, bx0, bx1 = box
    ys, xs = np.nonzero(holes[by0:by1, bx0:bx1])
    if ys.size == 0:
        return
    ys += by0
    xs += bx0
    pad = max(ksize) + 1
    y0, y1 = max(by0, int(ys.min()) - pad), min(by1, int(ys.max()) + pad + 1)
    x0, x1 = max(bx0, int(xs.min()) - pad), min(bx1, int(xs.max()) + pad + 1)
    c = image.shape[2]
    stack = np.zeros((y1 - y0, x1 - x0, c + 1), dtype=np.float32)  # colour * mask, then the mask
    m = holes[y0:y1, x0:x1]
    stack[..., c] = m
    np.multiply(image[y0:y1, x0:x1], stack[..., c:], out=stack[..., :c])
    for _ in range(2):
        stack = cv2.blur(stack, ksize, borderType=cv2.BORDER_CONSTANT)
    sel = stack[ys - y0, xs - x0]
    image[ys, xs] = sel[:, :c] / np.maximum(sel[:, c:], np.float32(1e-6))


def _plane(value: np.ndarray, name: str, image: np.ndarray, **checks: Any) -> np.ndarray:
    """An (H, W) array parameter ``name``, checked by ``check_array`` and against the size of ``image``."""
    a = check_array(value, name, ndim=2, **checks)
    check_same_hw(image, "image", a, name)
    return a


def box_width(sigma: float) -> int:
    """Width in pixels (>= 1) of the box filter whose two passes have about the variance of a Gaussian of ``sigma``
    pixels."""
    return max(1, round(float(np.sqrt(6.0 * sigma * sigma + 1.0))))
