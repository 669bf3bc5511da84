"""Compiled kernel of :func:`depthforge.render.stereo.render_stereo` (numba): both eyes in one pass.

Stage 1, row by row (``_stereo_rows_numba.band_rows``): the row's parallax is computed once from the prepared
inverse depth and shared by the two eyes; each eye is forward-warped (the arithmetic of
``_warp_numba.warp_rows_kernel``), its holes are filled along the row from the far side (that of
``_fill_numba.fill_from_sides`` for rows, no tolerance, equal weights), and its known pixels are written straight
into the output dtype. The row-filled hole pixels are kept in a short list.
Stage 2: the kept pixels, sorted by column, are smoothed across rows among themselves with the weights of
``_warp_numba.smooth_columns_kernel`` and written. Every operation and its order match those functions, so the
views are bit-identical to :func:`~depthforge.render.warp.forward_warp` then
:func:`~depthforge.render.warp.fill_holes_background` for each eye.

Threads split stage 1 by bands of rows (rows are independent) and stage 2 by bands of columns (columns are
independent), so the result does not depend on their number. Scratch memory is allocated here, sized by the holes
actually met (only the pages written are ever touched), rather than as full-size planes.
What the kernel leaves to the caller's general path is reported per eye (status): a row with holes but no usable
pixel on either side, or holes too many for the sparse smoothing.
"""

from __future__ import annotations

import numpy as np

from depthforge.core.jit import njit, prange
from depthforge.render._stereo_rows_numba import band_rows

__all__ = ["stereo_pass", "stereo_pass_serial"]

# The arguments ``base``, ``mode``, ``fill``, ``fp`` and ``eyes`` and the status codes are described in the notes of
# ``_stereo_rows_numba``.


@njit(cache=True, nogil=True)
def _status(do, keep, limit, cnt, bad, moved, status):  # type: ignore[no-untyped-def]
    """Per eye: 0 = finished here, 1 = to the general path, 2 = nothing moved (see the module notes)."""
    for e in range(2):
        status[e] = 0
        if not do[e]:
            continue
        n = 0
        mv = False
        for b in range(cnt.shape[0]):
            n += cnt[b, e]
            mv |= moved[b, e]
            if bad[b, e]:
                status[e] = 1
        if not mv:
            status[e] = 2
        elif keep and n > limit:
            status[e] = 1


@njit(cache=True, nogil=True)
def _by_column(e, w, ey, ex, ev, cnt, starts, rows, vals):  # type: ignore[no-untyped-def]
    """Eye ``e``'s kept pixels sorted by column (stable, so rows stay increasing): column x owns entries
    [starts[e, x], starts[e, x + 1]) of ``rows[e]`` and ``vals[e]``."""
    nch = ev.shape[3]
    starts[e, :] = 0
    for b in range(cnt.shape[0]):
        for i in range(cnt[b, e]):
            starts[e, ex[b, e, i] + 1] += 1
    for x in range(w):
        starts[e, x + 1] += starts[e, x]
    at = starts[e, :w].copy()
    for b in range(cnt.shape[0]):
        for i in range(cnt[b, e]):
            x = ex[b, e, i]
            j = at[x]
            at[x] = j + 1
            rows[e, j] = ey[b, e, i]
            for ch in range(nch):
                vals[e, j, ch] = ev[b, e, i, ch]


@njit(cache=True, nogil=True, fastmath=False)
def _smooth(x0, x1, e, k, h, top, rnd, chans, starts, rows, vals, sums, out):  # type: ignore[no-untyped-def]
    """Stage 2 for columns [x0, x1) of eye ``e``: each kept pixel becomes the weighted mean of the kept pixels of its
    column, weights of two passes of a box of ``k`` rows (cv2.blur's anchor and zero border).

    Each source pixel adds its share to every target it reaches (a stride-1 loop over targets, which vectorises);
    every target still receives its terms in increasing source row, as when summing a window per target, and a
    zero-weight term adds +0.0 (a no-op: the sums start at +0.0). ``sums``: (2, C + 2, N) float64 scratch.
    """
    nch = len(chans)
    a = k // 2
    b = k - 1 - a
    zero = np.float32(0.0)
    ry = rows[e]
    den = sums[e, nch]
    wb = sums[e, nch + 1]
    s0, s1, s2, s3 = sums[e, 0], sums[e, min(1, nch - 1)], sums[e, min(2, nch - 1)], sums[e, min(3, nch - 1)]
    for x in range(x0, x1):
        start, end = starts[e, x], starts[e, x + 1]
        if start == end:
            continue
        for i in range(start, end):
            den[i] = 0.0
            for ch in range(nch):
                sums[e, ch, i] = 0.0
        i0 = i1 = start
        for j in range(start, end):
            s = ry[j]
            while ry[i0] < s - 2 * b:  # targets y see the sources in [y - 2a, y + 2b]
                i0 += 1
            while i1 < end and ry[i1] <= s + 2 * a:
                i1 += 1
            # unsigned indices: numba then emits no negative-index wraparound, and these loops vectorise
            for i in range(np.uint64(i0), np.uint64(i1)):
                y = ry[i]
                wb[i] = max(min(y + b, s + a, h - 1) - max(y - a, s - b, 0) + 1, 0)
            for i in range(np.uint64(i0), np.uint64(i1)):
                den[i] += wb[i]
            c0 = np.float64(vals[e, j, 0])
            c1 = np.float64(vals[e, j, 1]) if nch > 1 else 0.0
            c2 = np.float64(vals[e, j, 2]) if nch > 2 else 0.0
            c3 = np.float64(vals[e, j, 3]) if nch > 3 else 0.0
            if np.isfinite(c0) and np.isfinite(c1) and np.isfinite(c2) and np.isfinite(c3):
                for i in range(np.uint64(i0), np.uint64(i1)):
                    s0[i] += wb[i] * c0
                if nch > 1:
                    for i in range(np.uint64(i0), np.uint64(i1)):
                        s1[i] += wb[i] * c1
                if nch > 2:
                    for i in range(np.uint64(i0), np.uint64(i1)):
                        s2[i] += wb[i] * c2
                if nch > 3:
                    for i in range(np.uint64(i0), np.uint64(i1)):
                        s3[i] += wb[i] * c3
            else:  # 0 * inf would be NaN: only the targets this source reaches take it
                for i in range(i0, i1):
                    if wb[i] > 0:
                        for ch in range(nch):
                            sums[e, ch, i] += wb[i] * np.float64(vals[e, j, ch])
        for i in range(start, end):
            for ch in range(nch):
                c = np.float32(sums[e, ch, i] / den[i])
                if rnd:
                    c = min(max(np.rint(c), zero), top)
                out[e, ry[i], x, ch] = c


@njit(cache=True, nogil=True)
def _scratch(bands, h, w, nch, k):  # type: ignore[no-untyped-def]
    """Stage 1's scratch: the bands' hole lists (capacity: the most holes the sparse smoothing takes, or the
    band's pixels) and their counters, zeroed."""
    keep = k > 1
    limit = (8 * h * w) // (2 * k - 1) if keep else 0
    cap = min(((h + bands - 1) // bands) * w, limit) if keep else 1
    ey = np.empty((bands, 2, cap), dtype=np.int32)
    ex = np.empty((bands, 2, cap), dtype=np.int32)
    ev = np.empty((bands, 2, cap, nch), dtype=np.float32)
    cnt = np.zeros((bands, 2), dtype=np.int64)
    bad = np.zeros((bands, 2), dtype=np.bool_)
    moved = np.zeros((bands, 2), dtype=np.bool_)
    return keep, limit, ey, ex, ev, cnt, bad, moved


@njit(cache=True, nogil=True)
def _gather(w, nch, ey, ex, ev, cnt, status):  # type: ignore[no-untyped-def]
    """Stage 2's input: the kept pixels of each eye still to finish here (status 0), sorted by column
    (:func:`_by_column`), and the smoothing's scratch sums."""
    n = max(cnt[:, 0].sum(), cnt[:, 1].sum())
    starts = np.empty((2, w + 1), dtype=np.int64)
    rows = np.empty((2, n + 1), dtype=np.int64)
    vals = np.empty((2, n + 1, nch), dtype=np.float32)
    sums = np.empty((2, nch + 2, n + 1), dtype=np.float64)
    for e in range(2):
        if status[e] == 0:
            _by_column(e, w, ey, ex, ev, cnt, starts, rows, vals)
    return starts, rows, vals, sums


@njit(cache=True, nogil=True, parallel=True)
def stereo_pass(bands, img, base, mode, fill, fp, eyes, do, k, rnd, chans, out, status):  # type: ignore[no-untyped-def]
    """Both eyes of ``img`` into ``out``, the rows (then the columns) split into ``bands`` bands run by numba's
    pool (sized by the caller).

    Args (arrays C-contiguous):
        img: (H, W, C) uint8/uint16/float32. base: (H, W) float32, the parallax source (``mode``, ``fill``, ``fp``:
            ``_stereo_rows_numba``'s notes).
        eyes: (2, 3) float32 (frac, sep, sign) per eye; do: (2,) bool, the eyes to render.
        k: box width of the hole smoothing (<= 1: none). rnd: round and clip to [0, top] (integer outputs).
        chans: a tuple of C items. out: (2, H, W, C) output. status: (2,) int64, written (see the module notes).
    """
    h, w = img.shape[0], img.shape[1]
    keep, limit, ey, ex, ev, cnt, bad, moved = _scratch(bands, h, w, len(chans), k)
    for c in prange(bands):
        r0, r1 = c * h // bands, (c + 1) * h // bands
        band_rows(r0, r1, c, img, base, mode, fill, fp, eyes, do, rnd, keep, chans, out, ey, ex, ev, cnt, bad, moved)
    _status(do, keep, limit, cnt, bad, moved, status)
    if not keep:
        return
    starts, rows, vals, sums = _gather(w, len(chans), ey, ex, ev, cnt, status)
    for c in prange(2 * bands):
        e, part = c % 2, c // 2
        if status[e] == 0:
            x0, x1 = part * w // bands, (part + 1) * w // bands
            _smooth(x0, x1, e, k, h, fp[7], rnd, chans, starts, rows, vals, sums, out)


@njit(cache=True, nogil=True)
def stereo_pass_serial(bands, img, base, mode, fill, fp, eyes, do, k, rnd, chans, out, status):  # type: ignore[no-untyped-def]
    """:func:`stereo_pass` in the calling thread (same arguments), without numba's thread pool."""
    h, w = img.shape[0], img.shape[1]
    keep, limit, ey, ex, ev, cnt, bad, moved = _scratch(bands, h, w, len(chans), k)
    for c in range(bands):
        r0, r1 = c * h // bands, (c + 1) * h // bands
        band_rows(r0, r1, c, img, base, mode, fill, fp, eyes, do, rnd, keep, chans, out, ey, ex, ev, cnt, bad, moved)
    _status(do, keep, limit, cnt, bad, moved, status)
    if not keep:
        return
    starts, rows, vals, sums = _gather(w, len(chans), ey, ex, ev, cnt, status)
    for e in range(2):
        if status[e] == 0:
            _smooth(0, w, e, k, h, fp[7], rnd, chans, starts, rows, vals, sums, out)
