"""Compiled kernels for :mod:`depthforge.models.preprocess` (numba, optional).

Pillow's separable resampling in its own fixed-point arithmetic: each output value is
``(2**21 + sum(pixel * k)) >> 22`` clipped to 0..255, with integer coefficients ``k`` (22 fractional bits) that
the caller computes. Both passes work on bands of output rows, so callers can run bands on several threads
(the kernels release the GIL). Imported lazily; without numba the sparse-matrix code in ``preprocess.py`` gives
the same bytes.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["horizontal_kernel", "normalise_kernel", "vertical_kernel"]


@njit(cache=True, nogil=True, fastmath=False)
def horizontal_kernel(src, lo, count, coef, out, r0, r1):  # type: ignore[no-untyped-def]
    """Rows r0..r1 of ``out`` (H, W_out, C) uint8 from ``src`` (H, W_in, C) uint8 along the width.

    ``lo`` (W_out,) first input column, ``count`` (W_out,) taps, ``coef`` (W_out, K) int32 coefficients.
    Sums are int32, as in Pillow (they cannot overflow: |coefficients| sum to well under 2**23).
    """
    w_out = out.shape[1]
    nc = out.shape[2]
    half = np.int32(1 << 21)
    shift = np.int32(22)
    acc = np.empty(nc, np.int32)
    if nc == 3:  # RGB: three scalar accumulators (much faster than a small array)
        for y in range(r0, r1):
            row = src[y]
            for x in range(w_out):
                x0 = lo[x]
                a0 = half
                a1 = half
                a2 = half
                for t in range(count[x]):
                    k = coef[x, t]
                    a0 += np.int32(row[x0 + t, 0]) * k
                    a1 += np.int32(row[x0 + t, 1]) * k
                    a2 += np.int32(row[x0 + t, 2]) * k
                a0 >>= shift
                a1 >>= shift
                a2 >>= shift
                out[y, x, 0] = 0 if a0 < 0 else (255 if a0 > 255 else a0)
                out[y, x, 1] = 0 if a1 < 0 else (255 if a1 > 255 else a1)
                out[y, x, 2] = 0 if a2 < 0 else (255 if a2 > 255 else a2)
        return
    for y in range(r0, r1):
        row = src[y]
        for x in range(w_out):
            x0 = lo[x]
            acc[:] = half
            for t in range(count[x]):
                k = coef[x, t]
                for ch in range(nc):
                    acc[ch] += np.int32(row[x0 + t, ch]) * k
            for ch in range(nc):
                ss = acc[ch] >> shift
                out[y, x, ch] = 0 if ss < 0 else (255 if ss > 255 else ss)


@njit(cache=True, nogil=True, fastmath=False)
def vertical_kernel(src, lo, count, coef, out, r0, r1):  # type: ignore[no-untyped-def]
    """Rows r0..r1 of ``out`` (H_out, N) uint8 from ``src`` (H_in, N) uint8 along the height (N = W * C).

    ``lo`` (H_out,) first input row, ``count`` (H_out,) taps, ``coef`` (H_out, K) int32 coefficients.
    """
    n_cols = out.shape[1]
    acc = np.empty(n_cols, np.int32)
    half = np.int32(1 << 21)
    shift = np.int32(22)
    for y in range(r0, r1):
        acc[:] = half
        y0 = lo[y]
        for t in range(count[y]):
            k = coef[y, t]
            row = src[y0 + t]
            for i in range(n_cols):
                acc[i] += np.int32(row[i]) * k
        for i in range(n_cols):
            ss = acc[i] >> shift
            out[y, i] = 0 if ss < 0 else (255 if ss > 255 else ss)


@njit(cache=True, nogil=True)
def normalise_kernel(small, lut, out, r0, r1):  # type: ignore[no-untyped-def]
    """Rows r0..r1 of ``out`` (C, H, W) float32 from ``small`` (H, W, C) uint8 through ``lut`` (C, 256) float32:
    ``out[c, y, x] = lut[c, small[y, x, c]]`` (channel-first model input from interleaved pixels)."""
    nc = out.shape[0]
    w = out.shape[2]
    for c in range(nc):
        table = lut[c]
        for y in range(r0, r1):
            src = small[y]
            dst = out[c, y]
            for x in range(w):
                dst[x] = table[src[x, c]]
