"""Compiled kernel for :mod:`depthforge.process.normalize`: display codes of inverse depth in one pass (numba)."""

from __future__ import annotations

import numpy as np

from depthforge.core.jit import njit

__all__ = ["quantise_rows"]


@njit(cache=True, nogil=True)
def quantise_rows(inv, far, scale, top, invert, out):  # type: ignore[no-untyped-def]
    """Display codes of ``inv`` ((n, W) float32 inverse depth) into ``out`` ((n, W) uint8/uint16), with the same
    float32 arithmetic as :func:`depthforge.process.normalize.display_code_rows`: ``d = (inv - far) * scale``
    clipped to [0, 1] (NaN -> 0), ``1 - d`` when ``invert``, then ``trunc(d * top + 0.5)``."""
    n, w = inv.shape
    f = np.float32(far)
    s = np.float32(scale)
    t = np.float32(top)
    half = np.float32(0.5)
    one = np.float32(1.0)
    zero = np.float32(0.0)
    for y in range(n):
        for x in range(w):
            d = (inv[y, x] - f) * s
            if not d > zero:  # also NaN
                d = zero
            elif d > one:
                d = one
            if invert:
                d = one - d
            out[y, x] = np.int64(d * t + half)
