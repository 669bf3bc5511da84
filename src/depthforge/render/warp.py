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

:func:`fill_holes_background` then fills holes from the far side: along each row, a hole takes the colour of
whichever end of the hole is farther away (lower priority), never a smear between foreground and background,
and the filled streaks are smoothed across rows (only among filled pixels).

The warp runs as a compiled numba kernel (``render/_warp_numba.py``, two passes over the source pixels) when
numba is installed, else as vectorised numpy (scatters on flat indices); both give the same result. Set the
environment variable ``DEPTHFORGE_NO_NUMBA=1`` to force the numpy path.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from depthforge.core.errors import ValidationError
from depthforge.core.validation import check_array, check_choice, check_range

__all__ = ["WarpResult", "forward_warp", "fill_holes_background", "FILL_DIRECTIONS"]

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
_Kernels = tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any], Callable[..., Any]]
_kernel_cache: list[_Kernels | None] = []


def _compiled_kernel() -> _Kernels | None:
    """The numba kernels (horizontal warp, general warp, row fill, column smoothing).

    None when numba is missing or the environment variable ``DEPTHFORGE_NO_NUMBA`` is set (numpy path).
    """
    if os.environ.get("DEPTHFORGE_NO_NUMBA"):
        return None
    if not _kernel_cache:
        try:
            from depthforge.render import _warp_numba as nb
        except ImportError:
            _kernel_cache.append(None)
        else:
            _kernel_cache.append((nb.warp_rows_kernel, nb.warp_kernel, nb.fill_rows_kernel, nb.smooth_columns_kernel))
    return _kernel_cache[0]


def _floor_clip(x: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(index of the lower tap + 2 in a buffer padded by 2 before and 1 after, clipped; fraction) along one axis.

    Taps that fall outside the image land in the padding, which is dropped at the end.
    """
    x0 = np.floor(x)
    frac = x - x0
    np.clip(x0, -2, size, out=x0)
    return (x0 + 2).astype(np.intp), frac


def _scatter_pair(acc: np.ndarray, t: np.ndarray, w0: np.ndarray, w1: np.ndarray, value: np.ndarray | None) -> None:
    """acc[t] += (w0 * value) + 1j * (w1 * value): both horizontal taps in one complex64 scatter."""
    vals = np.empty(t.shape[0], dtype=np.complex64)
    if value is None:
        vals.real = w0
        vals.imag = w1
    else:
        np.multiply(w0, value, out=vals.real)
        np.multiply(w1, value, out=vals.imag)
    np.add.at(acc, t, vals)


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
    sx = check_array(shift_x, "shift_x", ndim=2, dtype_kind="uif", finite=True)
    _check_hw(img, sx, "shift_x")
    sy = None
    if shift_y is not None:
        sy = check_array(shift_y, "shift_y", ndim=2, dtype_kind="uif", finite=True)
        _check_hw(img, sy, "shift_y")
    prio = check_array(priority, "priority", ndim=2, dtype_kind="uif", finite=True)
    _check_hw(img, prio, "priority")
    tol = np.float32(check_range(tolerance, "tolerance", low=0.0))
    c = np.float32(max(check_range(claim, "claim", low=0.0, high=1.0), 1e-6))
    cov = np.float32(check_range(coverage, "coverage", low=0.0, high=1.0, low_inclusive=False))
    kernel = _compiled_kernel()
    if kernel is not None:
        data = img if img.dtype in _KERNEL_DTYPES else img.astype(np.float32)
        data = np.ascontiguousarray(data if data.ndim == 3 else data[:, :, None])
        sx32 = np.ascontiguousarray(sx, dtype=np.float32)
        p32 = np.ascontiguousarray(prio, dtype=np.float32)
        if sy is None:
            out, holes, zt = kernel[0](data, sx32, p32, tol, c, cov)
        else:
            out, holes, zt = kernel[1](data, sx32, np.ascontiguousarray(sy, dtype=np.float32), True, p32, tol, c, cov)
        return WarpResult(out[:, :, 0] if img.ndim == 2 else out, holes, zt)
    return _forward_warp_numpy(img, sx, sy, prio, tol, c, cov)


def _forward_warp_numpy(
    img: np.ndarray,
    sx: np.ndarray,
    sy: np.ndarray | None,
    prio: np.ndarray,
    tol: np.float32,
    c: np.float32,
    cov: np.float32,
) -> WarpResult:
    """The pure-numpy warp (validated inputs), used when numba is not installed."""
    h, w = img.shape[:2]
    n = h * w
    wp = w + 3
    hp = h + 4 if sy is not None else h
    size = hp * wp + 2
    dummy = size - 1  # never read back
    xt = (np.arange(w, dtype=np.float32)[None, :] + sx.astype(np.float32, copy=False)).ravel()
    col, fx = _floor_clip(xt, w)
    one = np.float32(1.0)
    wx = (one - fx, fx)
    cx = (wx[0] >= c, wx[1] >= c)
    rows: list[tuple[np.ndarray, np.ndarray | None, tuple[np.ndarray | None, ...]]]
    if sy is None:
        rows = [(np.repeat(np.arange(h, dtype=np.intp) * wp, w), None, (None, None))]
    else:
        yt = (np.arange(h, dtype=np.float32)[:, None] + sy.astype(np.float32, copy=False)).ravel()
        row, fy = _floor_clip(yt, h)
        wy0 = one - fy
        rows = [(row * wp, wy0, (wy0 >= c,)), ((row + 1) * wp, fy, (fy >= c,))]
    p = prio.astype(np.float32, copy=False).ravel()

    zbuf = np.full(size, -np.inf, dtype=np.float32)
    starts = []
    for base, _wy, cy in rows:
        t0 = base + col
        starts.append(t0)
        if cy[0] is None and c >= 0.5:
            # at most one claiming tap per pixel, except exact ties (both weights 0.5): one scatter + a few
            np.maximum.at(zbuf, t0 + ~cx[0], p)  # tap 0 when it claims, else tap 1 (or nothing: see below)
            none = ~(cx[0] | cx[1])
            if none.any():  # claim > 0.5 leaves some pixels unclaimed: undo by rebuilding those entries
                zbuf.fill(-np.inf)
                np.maximum.at(zbuf, np.where(cx[0], t0, np.where(cx[1], t0 + 1, dummy)), p)
            both = cx[0] & cx[1]
            if both.any():
                np.maximum.at(zbuf, t0[both] + 1, p[both])
            continue
        for k in (0, 1):
            ok = cx[k] if cy[0] is None else cx[k] & cy[0]
            np.maximum.at(zbuf, np.where(ok, t0 + k, dummy), p)

    channels = 1 if img.ndim == 2 else img.shape[2]
    flat = img.reshape(n, channels)
    acc = [np.zeros(size, dtype=np.complex64) for _ in range(channels + 1)]
    for (_base, wy, _cy), t0 in zip(rows, starts, strict=True):
        z0 = np.take(zbuf, t0)
        z1 = np.take(zbuf, t0 + 1)
        w0 = wx[0] * (p >= z0 - tol)
        w1 = wx[1] * (p >= z1 - tol)
        if wy is not None:
            w0 *= wy
            w1 *= wy
        _scatter_pair(acc[channels], t0, w0, w1, None)
        for ch in range(channels):
            _scatter_pair(acc[ch], t0, w0, w1, flat[:, ch])

    r0 = 2 if sy is not None else 0

    def unpad(a: np.ndarray) -> np.ndarray:
        grid = a[: hp * wp].reshape(hp, wp)
        return grid.real[r0 : r0 + h, 2 : w + 2] + grid.imag[r0 : r0 + h, 1 : w + 1]

    wsum = unpad(acc[channels])
    holes = wsum < cov
    inv = one / np.maximum(wsum, np.float32(1e-12))
    out = np.empty((h, w, channels), dtype=np.float32)
    for ch in range(channels):
        np.multiply(unpad(acc[ch]), inv, out=out[:, :, ch])
    zt = zbuf[: hp * wp].reshape(hp, wp)[r0 : r0 + h, 2 : w + 2].copy()
    zt[holes] = np.nan
    return WarpResult(out[:, :, 0] if img.ndim == 2 else out, holes, zt)


def _check_hw(image: np.ndarray, other: np.ndarray, name: str) -> None:
    if other.shape != image.shape[:2]:
        raise ValidationError(f"{name}: shape {other.shape} does not match the image's {image.shape[:2]}")


def _row_fill(img: np.ndarray, holes: np.ndarray, prio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Background-side candidates along rows, for the hole pixels only (in ``np.nonzero(holes)`` order).

    Returns (colour (K, C) float32, its priority (K,), inf = no known pixel in the row).
    """
    w = holes.shape[1]
    known = ~holes
    idx = np.arange(1, w + 1, dtype=np.int32)[None, :]
    left = np.maximum.accumulate(idx * known, axis=1) - 1  # -1 = none
    right = w - np.maximum.accumulate(idx * known[:, ::-1], axis=1)[:, ::-1]  # w = none
    ys, xs = np.nonzero(holes)
    li = left[ys, xs]
    ri = right[ys, xs]
    inf = np.float32(np.inf)
    lc = np.clip(li, 0, w - 1)
    rc = np.clip(ri, 0, w - 1)
    lz = np.where(li >= 0, prio[ys, lc], inf)
    rz = np.where(ri < w, prio[ys, rc], inf)
    lcol = img[ys, lc]
    rcol = img[ys, rc]
    colour = np.where((lz < rz)[:, None], lcol, np.where((rz < lz)[:, None], rcol, np.float32(0.5) * (lcol + rcol)))
    return colour, np.minimum(lz, rz)


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
    hm = check_array(holes, "holes", ndim=2)
    _check_hw(img, hm, "holes")
    pr = check_array(priority, "priority", ndim=2, dtype_kind="uif")
    _check_hw(img, pr, "priority")
    check_choice(direction, "direction", FILL_DIRECTIONS)
    h, w = hm.shape
    sigma = max(1.0, 0.01 * max(h, w)) if smooth is None else check_range(smooth, "smooth", low=0.0)
    two_d = img.ndim == 2
    work = (img[:, :, None] if two_d else img).astype(np.float32, copy=False)
    hm = hm.astype(bool, copy=False)
    if not hm.any():
        return work[:, :, 0] if two_d else work
    if hm.all():
        return np.zeros(img.shape, dtype=np.float32)
    pz = pr.astype(np.float32, copy=False)
    kernels = _compiled_kernel()
    if direction == "row" and kernels is not None:
        out, lost_px = kernels[2](np.ascontiguousarray(work), np.ascontiguousarray(hm), np.ascontiguousarray(pz))
        if lost_px.any():
            out[lost_px] = work[~hm].mean(axis=0)
        if sigma > 0:
            k = _box_width(sigma)
            if int(np.count_nonzero(hm)) * (2 * k - 1) <= 8 * h * w:  # sparse holes: only they are visited
                kernels[3](out, hm, k)
            else:
                _smooth_filled(out, hm, sigma, direction)
        return out[:, :, 0] if two_d else out
    if direction == "row":
        colour, cz = _row_fill(work, hm, pz)
    else:
        ct, czt = _row_fill(work.transpose(1, 0, 2), hm.T, pz.T)
        # the transposed scan lists holes column by column: map each (y, x) hole to its place there
        ys, xs = np.nonzero(hm)
        pos = np.ravel_multi_index((xs, ys), (w, h))
        tpos = np.searchsorted(np.ravel_multi_index(np.nonzero(hm.T), (w, h)), pos)
        cc, cz2 = ct[tpos], czt[tpos]
        if direction == "column":
            colour, cz = cc, cz2
        else:
            rc, rz = _row_fill(work, hm, pz)
            colour = np.where((cz2 < rz)[:, None], cc, rc)
            cz = np.minimum(rz, cz2)
    out = work.copy()
    out[hm] = colour
    lost = ~np.isfinite(cz)  # whole row (column) without a known pixel
    if lost.any():
        ys, xs = np.nonzero(hm)
        out[ys[lost], xs[lost]] = work[~hm].mean(axis=0)
    if sigma > 0:
        _smooth_filled(out, hm, sigma, direction)
    return out[:, :, 0] if two_d else out


def _smooth_filled(image: np.ndarray, holes: np.ndarray, sigma: float, direction: str) -> None:
    """Normalised blur of the filled pixels among themselves, across the fill direction, in place.

    Two passes of a box filter of width ``sqrt(6 sigma^2 + 1)`` (the variance of a Gaussian of ``sigma``),
    which costs the same for any sigma; only the band of rows/columns holding holes is filtered.
    """
    import cv2

    k = _box_width(sigma)
    ksize = {"row": (1, k), "column": (k, 1), "both": (k, k)}[direction]
    ys, xs = np.nonzero(holes)
    pad = k + 1
    y0, y1 = max(0, int(ys.min()) - pad), min(holes.shape[0], int(ys.max()) + pad + 1)
    x0, x1 = max(0, int(xs.min()) - pad), min(holes.shape[1], int(xs.max()) + pad + 1)
    c = image.shape[2]
    stack = np.zeros((y1 - y0, x1 - x0, c + 1), dtype=np.float32)  # colour * mask, then the mask
    m = holes[y0:y1, x0:x1]
    stack[..., c] = m
    np.multiply(image[y0:y1, x0:x1], stack[..., c:], out=stack[..., :c])
    for _ in range(2):
        stack = cv2.blur(stack, ksize, borderType=cv2.BORDER_CONSTANT)
    sel = stack[ys - y0, xs - x0]
    image[ys, xs] = sel[:, :c] / np.maximum(sel[:, c:], np.float32(1e-6))


def _box_width(sigma: float) -> int:
    """Width of the box filter whose two passes have about the variance of a Gaussian of ``sigma``."""
    return max(1, round(float(np.sqrt(6.0 * sigma * sigma + 1.0))))
