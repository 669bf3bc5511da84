"""Compiled kernel of :func:`depthforge.process.fill.fill_from_background` (numba): one pass per direction over the
image; a fill along rows only fills each run of holes as the pass finds it, other directions list the holes and
their candidates first."""

from __future__ import annotations

import numpy as np

from depthforge.core.jit import njit

__all__ = ["fill_from_sides"]


@njit(cache=True, nogil=True)
def fill_from_sides(data, fill, prio, rows, cols, tol, by_distance, out):  # type: ignore[no-untyped-def]
    """``out`` (H, W, C) float := ``data`` (H, W, C) of any number type, whose ``fill`` (H, W) bool pixels take the
    farther of their side candidates.

    A candidate is the nearest pixel to the left, right (``rows``), above, below (``cols``) that is not in ``fill``
    and has a finite ``prio`` (H, W) float (larger = nearer). The candidates within ``tol`` of the smallest
    priority are averaged, with weights 1 / distance when ``by_distance`` else equal. No candidate: NaN.
    """
    h, w, nc = data.shape
    out[...] = data
    acc = np.empty(nc, np.float64)
    inline = rows and not cols  # rows only: a run's two candidates are known when it is found, so it is filled at once
    n = 0
    if not inline:
        for y in range(h):
            for x in range(w):
                n += fill[y, x]
    # per pixel to fill, in raster order: its row and column, and its candidates' positions (-1 = none) to the
    # left, right (columns), above and below (rows); int32 (sides below 2**31): 24 bytes a hole
    at = np.empty((n, 2), np.int32)
    near = np.full((n, 4), -1, np.int32)
    side = np.full(4, -1, np.int32)  # the candidates of the run being filled inline
    k = 0
    for y in range(h):
        last = -1  # the last usable pixel so far
        after = -1  # the first usable pixel at or after x (valid while >= x)
        x = 0
        while x < w:
            if not fill[y, x]:
                if np.isfinite(prio[y, x]):
                    last = x
                x += 1
                continue
            start = x
            while x < w and fill[y, x]:
                x += 1
            if rows and after < x:
                after = x
                while after < w and (fill[y, after] or not np.isfinite(prio[y, after])):
                    after += 1
            if inline:
                side[0], side[1] = last, after if after < w else -1
                for t in range(start, x):
                    _fill_pixel(data, prio, y, t, side, tol, by_distance, acc, out)
                continue
            for t in range(start, x):
                at[k, 0], at[k, 1] = y, t
                if rows:
                    near[k, 0] = last
                    near[k, 1] = after if after < w else -1
                k += 1
    if inline:
        return
    seen = np.full(w, -1, np.int32)
    k = 0
    for y in range(h):
        for x in range(w):
            if fill[y, x]:
                near[k, 2] = seen[x]
                k += 1
            elif np.isfinite(prio[y, x]):
                seen[x] = y
    seen[:] = -1
    k = n - 1
    for y in range(h - 1, -1, -1):
        for x in range(w - 1, -1, -1):
            if fill[y, x]:
                near[k, 3] = seen[x]
                k -= 1
            elif np.isfinite(prio[y, x]):
                seen[x] = y
    for k in range(n):
        _fill_pixel(data, prio, at[k, 0], at[k, 1], near[k], tol, by_distance, acc, out)


@njit(cache=True, nogil=True)
def _fill_pixel(data, prio, y, x, near, tol, by_distance, acc, out):  # type: ignore[no-untyped-def]
    """``out[y, x]``: the mean of the candidates ``near`` (4,) (left and right columns in row ``y``, rows above and
    below in column ``x``; -1 = none) within ``tol`` of the farthest; NaN without any. ``acc``: (C,) scratch."""
    far = np.inf
    for j in range(4):
        pos = near[j]
        if pos >= 0:
            far = min(far, prio[y, pos] if j < 2 else prio[pos, x])
    acc[:] = 0.0
    total = 0.0
    for j in range(4):
        pos = near[j]
        if pos < 0:
            continue
        sy, sx = (y, pos) if j < 2 else (pos, x)
        if prio[sy, sx] > far + tol:
            continue
        wt = 1.0 / max(abs(pos - (x if j < 2 else y)), 1) if by_distance else 1.0
        total += wt
        for ch in range(data.shape[2]):
            acc[ch] += wt * data[sy, sx, ch]
    for ch in range(data.shape[2]):
        out[y, x, ch] = acc[ch] / total if total > 0 else np.nan
