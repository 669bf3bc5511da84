"""Compiled kernel of :func:`depthforge.render.stereo.render_stereo` (numba): both eyes in one pass.

Stage 1, row by row: the row's parallax is computed once from the prepared inverse depth and shared by the two
eyes; each eye is forward-warped (the arithmetic of ``_warp_numba.warp_rows_kernel``), its holes are filled along
the row from the far side (that of ``_fill_numba.fill_from_sides`` for rows, no tolerance, equal weights), and its
known pixels are written straight into the output dtype. The row-filled hole pixels are kept in a short list.
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
from numba import njit, prange

__all__ = ["stereo_pass", "stereo_pass_serial"]

# ``fp``: float32 [lo, rng, conv, dw, tol, claim, coverage, top, gap]. Parallax ``mode``: 0 = ``base`` is the
# parallax; 1 = exact, base - conv; 2 = normalised, ((base - lo) / rng - conv) * dw; 3 = normalised flat map,
# (0 - conv) * dw. With ``fill``, non-finite values of ``base`` are first filled along their row (``_fill_invalid``).
# ``eyes``: (2, 3) float32 rows (frac, sep, sign), shift = sign * (frac * parallax + sep). Status per eye: 0 = done
# here, 1 = to the general path, 2 = no pixel moved (the caller copies the input).


@njit(cache=True, nogil=True, fastmath=False)
def _band(r0, r1, b, img, base, mode, fill, fp, eyes, do, rnd, keep, chans, out, ey, ex, ev, cnt, bad, moved):  # type: ignore[no-untyped-def]
    """Stage 1 for rows [r0, r1) (band ``b``): both eyes warped, row-filled, known pixels written. With ``keep``,
    hole pixels go to the band's lists ``ey``/``ex``/``ev`` (``cnt`` long; ``bad`` when full or when a row has
    no usable pixel); without, they are written too. ``chans``: a tuple of C items (its length fixes the loops)."""
    nch = len(chans)
    w = img.shape[1]
    cap = ey.shape[2]
    lo, rng, conv, dw, tol, claim, cov, top = fp[0], fp[1], fp[2], fp[3], fp[4], fp[5], fp[6], fp[7]
    one = np.float32(1.0)
    eps = np.float32(1e-12)
    lo_x, hi_x = np.float32(-2.0), np.float32(w)
    zero = np.float32(0.0)
    brow = np.empty(w, dtype=np.float32)  # the row of ``base`` with its invalid values filled
    prow = np.empty(w, dtype=np.float32)  # the row's parallax, shared by both eyes
    rowf = np.empty(w * nch, dtype=np.float32)  # the row's colours as float32
    zr = np.empty(w + 3, dtype=np.float32)  # padded by 2 before and 1 after, as in warp_rows_kernel
    ws = np.empty(w + 3, dtype=np.float32)
    ar = np.empty((w + 3) * nch, dtype=np.float32)
    xs = np.empty(w, dtype=np.int64)
    fs = np.empty(w, dtype=np.float32)
    inv = np.empty(w * nch, dtype=np.float32)
    vals = np.empty(w * nch, dtype=np.float32)
    hole = np.empty(w, dtype=np.bool_)
    acc = np.empty(nch, dtype=np.float64)
    for v in range(r0, r1):
        src = base[v]
        if fill:
            invalid = False
            for u in range(w):
                x = src[u]
                brow[u] = x
                invalid |= not np.isfinite(x)
            if invalid:
                _fill_invalid(brow, fp[8])
            src = brow
        for u in range(w):
            x = src[u]
            if mode == 0:
                prow[u] = x
            elif mode == 1:
                prow[u] = x - conv
            elif mode == 2:
                prow[u] = ((x - lo) / rng - conv) * dw
            else:
                prow[u] = (zero - conv) * dw
        irow = img[v].reshape(w * nch)
        for i in range(w * nch):
            rowf[i] = np.float32(irow[i])
        for e in range(2):
            if not do[e]:
                continue
            f, sp, sg = eyes[e, 0], eyes[e, 1], eyes[e, 2]
            mv = False
            for u in range(w):  # landing points (nothing else stored: the loop vectorises)
                s = f * prow[u]
                s += sp
                s *= sg
                mv |= s != zero
                pos = np.float32(u) + s
                f0 = np.floor(pos)
                fs[u] = np.float32(pos - f0)
                xs[u] = int(min(max(f0, lo_x), hi_x)) + 2
            moved[b, e] |= mv
            zr[:] = -np.inf
            ws[:] = 0.0
            ar[:] = 0.0
            for u in range(w):  # claims: the largest priority among the splats nearest to each target
                p = prow[u]
                x0 = xs[u]
                fx = fs[u]
                if one - fx >= claim and p > zr[x0]:
                    zr[x0] = p
                if fx >= claim and p > zr[x0 + 1]:
                    zr[x0 + 1] = p
            # accepted splats. The target being summed stays in registers (c*) until another target is touched,
            # so consecutive pixels do not wait on each other's stores; the additions and their order are unchanged.
            ct = -1
            cw = c0 = c1 = c2 = c3 = zero
            for u in range(w):
                x0 = xs[u]
                fx = fs[u]
                p = prow[u]
                j = u * nch
                v0 = rowf[j]
                v1 = rowf[j + 1] if nch > 1 else zero
                v2 = rowf[j + 2] if nch > 2 else zero
                v3 = rowf[j + 3] if nch > 3 else zero
                for tap in range(2):
                    t = x0 + tap
                    if not p >= zr[t] - tol:
                        continue
                    wt = one - fx if tap == 0 else fx
                    if t != ct:
                        if ct >= 0:
                            _store(ws, ar, ct, nch, cw, c0, c1, c2, c3)
                        ct = t
                        cw = ws[t]
                        q = t * nch
                        c0 = ar[q]
                        if nch > 1:
                            c1 = ar[q + 1]
                        if nch > 2:
                            c2 = ar[q + 2]
                        if nch > 3:
                            c3 = ar[q + 3]
                    cw += wt
                    c0 += wt * v0
                    if nch > 1:
                        c1 += wt * v1
                    if nch > 2:
                        c2 += wt * v2
                    if nch > 3:
                        c3 += wt * v3
            if ct >= 0:
                _store(ws, ar, ct, nch, cw, c0, c1, c2, c3)
            any_hole = False
            for x in range(w):
                s = ws[x + 2]
                hl = s < cov
                hole[x] = hl
                any_hole |= hl
                r = one / max(s, eps)
                for ch in range(nch):
                    inv[x * nch + ch] = r
            orow = out[e, v].reshape(w * nch)
            for i in range(w * nch):  # hole pixels are written again below or by stage 2
                c = ar[i + 2 * nch] * inv[i]
                vals[i] = c
                if rnd:
                    c = min(max(np.rint(c), zero), top)
                orow[i] = c
            if not any_hole:
                continue
            last = -1  # the last usable pixel (known, finite priority) so far
            x = 0
            while x < w:
                if not hole[x]:
                    if np.isfinite(zr[x + 2]):
                        last = x
                    x += 1
                    continue
                first = x
                while x < w and hole[x]:
                    x += 1
                after = x
                while after < w and (hole[after] or not np.isfinite(zr[after + 2])):
                    after += 1
                if after >= w:
                    after = -1
                far = np.inf
                if last >= 0:
                    far = min(far, zr[last + 2])
                if after >= 0:
                    far = min(far, zr[after + 2])
                acc[:] = 0.0
                total = 0.0
                if last >= 0 and not zr[last + 2] > far:
                    total += 1.0
                    for ch in range(nch):
                        acc[ch] += 1.0 * vals[last * nch + ch]
                if after >= 0 and not zr[after + 2] > far:
                    total += 1.0
                    for ch in range(nch):
                        acc[ch] += 1.0 * vals[after * nch + ch]
                if total == 0.0 or (keep and cnt[b, e] + (x - first) > cap):
                    bad[b, e] = True
                    continue
                for t in range(first, x):
                    if keep:
                        n = cnt[b, e]
                        ey[b, e, n] = v
                        ex[b, e, n] = t
                        for ch in range(nch):
                            ev[b, e, n, ch] = acc[ch] / total
                        cnt[b, e] = n + 1
                    else:
                        for ch in range(nch):
                            c = np.float32(acc[ch] / total)
                            if rnd:
                                c = min(max(np.rint(c), zero), top)
                            orow[t * nch + ch] = c


@njit(cache=True, nogil=True, inline="always")
def _store(ws, ar, t, nch, cw, c0, c1, c2, c3):  # type: ignore[no-untyped-def]
    """The running sums of target ``t`` written back: its weight ``cw`` to ``ws``, its first ``nch`` colour sums
    of ``c0``..``c3`` to ``ar`` (inlined, so ``nch`` stays a compile-time constant of the caller)."""
    ws[t] = cw
    q = t * nch
    ar[q] = c0
    if nch > 1:
        ar[q + 1] = c1
    if nch > 2:
        ar[q + 2] = c2
    if nch > 3:
        ar[q + 3] = c3


@njit(cache=True, nogil=True, fastmath=False)
def _fill_invalid(row, gap):  # type: ignore[no-untyped-def]
    """In place: each run of non-finite values of ``row`` (larger = nearer) takes the farther (smaller) of the valid
    values on either side, their mean when equal (``_fill_numba.fill_from_sides`` along a row, no tolerance, as
    ``stereo.fill_invalid_background`` uses it); ``gap`` when the row has no valid value."""
    w = row.shape[0]
    last = -1
    u = 0
    while u < w:
        if np.isfinite(row[u]):
            last = u
            u += 1
            continue
        first = u
        while u < w and not np.isfinite(row[u]):
            u += 1
        after = u if u < w else -1
        far = np.inf
        if last >= 0:
            far = min(far, row[last])
        if after >= 0:
            far = min(far, row[after])
        acc = 0.0
        total = 0.0
        if last >= 0 and not row[last] > far:
            total += 1.0
            acc += 1.0 * row[last]
        if after >= 0 and not row[after] > far:
            total += 1.0
            acc += 1.0 * row[after]
        value = np.float32(acc / total) if total > 0 else gap
        for t in range(first, u):
            row[t] = value


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
        img: (H, W, C) uint8/uint16/float32. base: (H, W) float32, the parallax source (``mode``, ``fill``, ``fp``
            above).
        eyes: (2, 3) float32 (frac, sep, sign) per eye; do: (2,) bool, the eyes to render.
        k: box width of the hole smoothing (<= 1: none). rnd: round and clip to [0, top] (integer outputs).
        chans: a tuple of C items. out: (2, H, W, C) output. status: (2,) int64, written (see the module notes).
    """
    h, w = img.shape[0], img.shape[1]
    keep, limit, ey, ex, ev, cnt, bad, moved = _scratch(bands, h, w, len(chans), k)
    for c in prange(bands):
        r0, r1 = c * h // bands, (c + 1) * h // bands
        _band(r0, r1, c, img, base, mode, fill, fp, eyes, do, rnd, keep, chans, out, ey, ex, ev, cnt, bad, moved)
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
        _band(r0, r1, c, img, base, mode, fill, fp, eyes, do, rnd, keep, chans, out, ey, ex, ev, cnt, bad, moved)
    _status(do, keep, limit, cnt, bad, moved, status)
    if not keep:
        return
    starts, rows, vals, sums = _gather(w, len(chans), ey, ex, ev, cnt, status)
    for e in range(2):
        if status[e] == 0:
            _smooth(0, w, e, k, h, fp[7], rnd, chans, starts, rows, vals, sums, out)
