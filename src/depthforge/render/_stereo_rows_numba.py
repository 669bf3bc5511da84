"""Stage 1 of the compiled both-eyes kernel (:mod:`depthforge.render._stereo_numba`), row by row (numba).

For a band of rows: the row's parallax is computed once from the prepared inverse depth (its invalid values first
filled along the row, :func:`_fill_invalid`) and shared by the two eyes; each eye is forward-warped (the arithmetic
of ``_warp_numba.warp_rows_kernel``), its holes are filled along the row from the far side (that of
``_fill_numba.fill_from_sides`` for rows, no tolerance, equal weights), and its known pixels are written straight
into the output dtype; the row-filled hole pixels are kept in the band's short lists for stage 2 (or written when
there is no smoothing).
"""

from __future__ import annotations

import numpy as np

from depthforge.core.jit import njit

__all__ = ["band_rows"]

# ``fp``: float32 [lo, rng, conv, dw, tol, claim, coverage, top, gap]. Parallax ``mode``: 0 = ``base`` is the
# parallax; 1 = exact, base - conv; 2 = normalised, ((base - lo) / rng - conv) * dw; 3 = normalised flat map,
# (0 - conv) * dw. With ``fill``, non-finite values of ``base`` are first filled along their row (``_fill_invalid``).
# ``eyes``: (2, 3) float32 rows (frac, sep, sign), shift = sign * (frac * parallax + sep). Status per eye: 0 = done
# here, 1 = to the general path, 2 = no pixel moved (the caller copies the input).


@njit(cache=True, nogil=True, fastmath=False)
def band_rows(r0, r1, b, img, base, mode, fill, fp, eyes, do, rnd, keep, chans, out, ey, ex, ev, cnt, bad, moved):  # type: ignore[no-untyped-def]
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
