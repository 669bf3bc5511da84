"""Compiled kernels for :mod:`depthforge.render.warp` (numba), imported lazily by ``warp.py``.

The warp makes two passes over the source pixels: the z-buffer claims, then the accepted bilinear splats,
accumulated straight into (H, W) buffers (out-of-frame taps dropped). Horizontal-only warps keep each row
independent, so :func:`warp_rows_kernel` works one row at a time in small padded buffers that stay in cache.
:func:`smooth_columns_kernel` smooths the row-filled holes of
:func:`depthforge.render.warp.fill_holes_background`, visiting the hole pixels only.
"""

from __future__ import annotations

import numpy as np

from depthforge.core.jit import njit

__all__ = ["smooth_columns_kernel", "warp_kernel", "warp_rows_kernel"]


@njit(cache=True, nogil=True, fastmath=False)
def _taps(pos: np.float32, size: int) -> tuple[int, np.float32]:
    """(lower tap index, fraction) along one axis; the index is clipped to [-2, size] (outside = dropped)."""
    f0 = np.floor(pos)
    frac = np.float32(pos - f0)
    if f0 < -2.0:
        f0 = np.float32(-2.0)
    elif f0 > size:
        f0 = np.float32(size)
    return int(f0), frac


@njit(cache=True, nogil=True, fastmath=False)
def warp_kernel(img, sx, sy, prio, tol, claim, coverage):  # type: ignore[no-untyped-def]
    """Forward warp of ``img`` (H, W, C) by (``sx``, ``sy``) (H, W) float32 with priorities ``prio`` float32.

    ``tol``, ``claim`` (> 0), ``coverage`` are float32 scalars.
    Returns (image (H, W, C) float32, holes (H, W) bool, priority (H, W) float32 with NaN in holes).
    """
    h, w, nc = img.shape
    one = np.float32(1.0)
    z = np.full((h, w), -np.inf, dtype=np.float32)
    wsum = np.zeros((h, w), dtype=np.float32)
    acc = np.zeros((h, w, nc), dtype=np.float32)
    # pass 0: each splat whose bilinear weights both reach ``claim`` claims its target; keep the max priority.
    # pass 1: accept the splats within ``tol`` of the front-most priority, accumulate weights and colours.
    for stage in range(2):
        for v in range(h):
            for u in range(w):
                x0, fx = _taps(np.float32(u) + sx[v, u], w)
                y0, fy = _taps(np.float32(v) + sy[v, u], h)
                p = prio[v, u]
                for j in range(2):
                    ty = y0 + j
                    wy = (one - fy) if j == 0 else fy
                    if ty < 0 or ty >= h or (stage == 0 and wy < claim):
                        continue
                    for k in range(2):
                        tx = x0 + k
                        wx = (one - fx) if k == 0 else fx
                        if tx < 0 or tx >= w:
                            continue
                        if stage == 0:
                            if wx >= claim and p > z[ty, tx]:
                                z[ty, tx] = p
                        elif p >= z[ty, tx] - tol:
                            wt = wx * wy
                            wsum[ty, tx] += wt
                            for ch in range(nc):
                                acc[ty, tx, ch] += wt * np.float32(img[v, u, ch])
    holes = np.empty((h, w), dtype=np.bool_)
    eps = np.float32(1e-12)
    for y in range(h):
        for x in range(w):
            s = wsum[y, x]
            holes[y, x] = s < coverage
            inv = one / max(s, eps)
            for ch in range(nc):
                acc[y, x, ch] *= inv
            if holes[y, x]:
                z[y, x] = np.nan
    return acc, holes, z


@njit(cache=True, nogil=True, fastmath=False)
def warp_rows_kernel(img, sx, prio, tol, claim, coverage):  # type: ignore[no-untyped-def]
    """:func:`warp_kernel` for a horizontal-only shift ``sx``, row by row (same arguments less ``sy``)."""
    h, w, nc = img.shape
    one = np.float32(1.0)
    eps = np.float32(1e-12)
    lo, hi = np.float32(-2.0), np.float32(w)
    z = np.empty((h, w), dtype=np.float32)
    out = np.empty((h, w, nc), dtype=np.float32)
    holes = np.empty((h, w), dtype=np.bool_)
    # row buffers padded by 2 before and 1 after: taps clipped to [-2, w + 1] land inside, dropped at the end
    zr = np.empty(w + 3, dtype=np.float32)
    ws = np.empty(w + 3, dtype=np.float32)
    ar = np.empty((w + 3, nc), dtype=np.float32)
    xs = np.empty(w, dtype=np.int64)
    fs = np.empty(w, dtype=np.float32)
    for v in range(h):
        zr[:] = -np.inf
        ws[:] = 0.0
        ar[:] = 0.0
        for u in range(w):
            pos = np.float32(u) + sx[v, u]
            f0 = np.floor(pos)
            fx = np.float32(pos - f0)
            x0 = int(min(max(f0, lo), hi)) + 2
            xs[u] = x0
            fs[u] = fx
            p = prio[v, u]
            if one - fx >= claim and p > zr[x0]:
                zr[x0] = p
            if fx >= claim and p > zr[x0 + 1]:
                zr[x0 + 1] = p
        for u in range(w):
            x0 = xs[u]
            fx = fs[u]
            p = prio[v, u]
            if p >= zr[x0] - tol:
                wt = one - fx
                ws[x0] += wt
                for ch in range(nc):
                    ar[x0, ch] += wt * np.float32(img[v, u, ch])
            if p >= zr[x0 + 1] - tol:
                ws[x0 + 1] += fx
                for ch in range(nc):
                    ar[x0 + 1, ch] += fx * np.float32(img[v, u, ch])
        for x in range(w):
            s = ws[x + 2]
            hole = s < coverage
            holes[v, x] = hole
            inv = one / max(s, eps)
            for ch in range(nc):
                out[v, x, ch] = ar[x + 2, ch] * inv
            z[v, x] = np.nan if hole else zr[x + 2]
    return out, holes, z


@njit(cache=True, nogil=True, fastmath=False)
def smooth_columns_kernel(image, holes, k):  # type: ignore[no-untyped-def]
    """In place: each hole pixel of ``image`` (H, W, C) float32 becomes the weighted mean of the hole pixels of its
    column, with the weights of two passes of a box of ``k`` rows (cv2.blur's anchor and zero border).
    """
    h, w, nc = image.shape
    a = k // 2
    b = k - 1 - a
    if k <= 1:
        return
    # source row s reaches target row y when y - s is in [-2b, 2a]
    size = 2 * a + 1
    ring = np.empty((size, w, nc), dtype=np.float32)  # original values of the last 2a rows and this one
    acc = np.empty(nc, dtype=np.float64)
    for y in range(h):
        slot = y % size
        for x in range(w):
            if holes[y, x]:
                for ch in range(nc):
                    ring[slot, x, ch] = image[y, x, ch]
        for x in range(w):
            if not holes[y, x]:
                continue
            acc[:] = 0.0
            den = 0.0
            for s in range(max(0, y - 2 * a), min(h, y + 2 * b + 1)):
                if not holes[s, x]:
                    continue
                # rows r of the first pass that both see s and are seen by y, inside the image
                wgt = min(y + b, s + a, h - 1) - max(y - a, s - b, 0) + 1
                if wgt <= 0:
                    continue
                den += wgt
                if s < y:
                    for ch in range(nc):
                        acc[ch] += wgt * ring[s % size, x, ch]
                else:
                    for ch in range(nc):
                        acc[ch] += wgt * image[s, x, ch]
            for ch in range(nc):
                image[y, x, ch] = np.float32(acc[ch] / den)
