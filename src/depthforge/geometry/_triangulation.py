"""Grid triangulation for :mod:`depthforge.geometry.mesh`: the discontinuity rule, band by band.

The rule itself (grazing angle and optional relative jump) is documented once, in :mod:`depthforge.geometry.mesh`.
Here are its two evaluations (on 3D points, and in closed form from inverse depth for pinhole grids) and the
triangulation that applies it: every 2 x 2 block of valid grid points (a, b on one row, c, d below) gives the
triangles (a, c, b) and (b, c, d).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["Rule", "pinhole_rule", "points_rule", "triangulate"]

#: Grid rows processed at a time: keeps every temporary small enough to stay in cache (12 MP in a few seconds).
_BAND_ROWS = 64


Rule = Callable[[int, int], tuple[np.ndarray, np.ndarray]]


def points_rule(g: np.ndarray, cos2: float | None, max_jump: float | None) -> Rule:
    """The discontinuity rule on 3D points, for any organised grid (panoramas included).

    Returns a function of a band of quad rows [r0, r1) giving the keep-masks of the triangles (a, c, b) and
    (b, c, d) of every quad (a, b top-left/top-right, c, d bottom-left/bottom-right).
    """
    c2 = np.float32(0.0 if cos2 is None else cos2)

    def rule(r0: int, r1: int) -> tuple[np.ndarray, np.ndarray]:
        band = g[r0 : r1 + 1]
        x, y, z = (np.ascontiguousarray(band[:, :, k]) for k in range(3))
        du = [q[:, 1:] - q[:, :-1] for q in (x, y, z)]  # along rows: b - a (top), d - c (bottom)
        dv = [q[1:] - q[:-1] for q in (x, y, z)]  # along columns: c - a (left), d - b (right)
        ab = [q[:-1] for q in du]
        ac = [q[:, :-1] for q in dv]
        bd = [q[:, 1:] for q in dv]
        bc = [q[1:, :-1] - q[:-1, 1:] for q in (x, y, z)]  # not ac - ab: a may be invalid
        ray = [q[:-1, 1:] + q[1:, :-1] for q in (x, y, z)]  # b + c: through the middle of the shared diagonal
        rr = ray[0] * ray[0] + ray[1] * ray[1] + ray[2] * ray[2]
        masks = []
        for e1, e2 in ((ac, ab), (bc, bd)):  # normals (c - a) x (b - a) and (c - b) x (d - b)
            nx = e1[1] * e2[2] - e1[2] * e2[1]
            ny = e1[2] * e2[0] - e1[0] * e2[2]
            nz = e1[0] * e2[1] - e1[1] * e2[0]
            dot = nx * ray[0] + ny * ray[1] + nz * ray[2]
            nn = nx * nx + ny * ny + nz * nz
            with np.errstate(invalid="ignore", over="ignore"):
                masks.append((dot * dot >= c2 * nn * rr) & (nn > 0))
        if max_jump is not None:
            with np.errstate(invalid="ignore", over="ignore"):
                r = np.sqrt(x * x + y * y + z * z)
                _jump_masks(r, float(max_jump), masks)
        return masks[0], masks[1]

    return rule


def pinhole_rule(z: np.ndarray, xs: np.ndarray, ys: np.ndarray, cos2: float | None, max_jump: float | None) -> Rule:
    """The same rule in closed form for a pinhole grid, from inverse depth only (about 2.5x fewer operations).

    On a plane, inverse depth w = 1 / z is affine in normalised image coordinates (x, y) = ((u - cx) / fx,
    (v - cy) / fy): w = A x + B y + C, and the plane's normal is proportional to (A, B, C). The view ray through
    (x, y) is (x, y, 1) with n . ray = w(x, y), so cos^2(angle) = w^2 / ((A^2 + B^2 + C^2) (x^2 + y^2 + 1)).
    ``xs``, ``ys``: normalised coordinates of the grid columns and rows.
    """
    c2 = np.float32(0.0 if cos2 is None else cos2)
    idx_ = (1.0 / np.diff(xs)).astype(np.float32)[None, :]
    idy_ = (1.0 / np.diff(ys)).astype(np.float32)[:, None]
    xm_all = (0.5 * (xs[1:] + xs[:-1])).astype(np.float32)[None, :]
    ym_all = (0.5 * (ys[1:] + ys[:-1])).astype(np.float32)

    def rule(r0: int, r1: int) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            w = np.float32(1.0) / z[r0 : r1 + 1]
            ym = ym_all[r0:r1, None]
            idy = idy_[r0:r1]
            wu = (w[:, 1:] - w[:, :-1]) * idx_  # dw/dx along rows
            wv = (w[1:] - w[:-1]) * idy  # dw/dy along columns
            wm = np.float32(0.5) * (w[:-1, 1:] + w[1:, :-1])  # w at the middle of the shared diagonal
            lim = c2 * (xm_all * xm_all + ym * ym + np.float32(1.0))
            wm2 = wm * wm
            masks = []
            for a, b in ((wu[:-1], wv[:, :-1]), (wu[1:], wv[:, 1:])):  # (top, left) and (bottom, right) edges
                c = wm - a * xm_all - b * ym
                nn = a * a + b * b + c * c
                masks.append((wm2 >= lim * nn) & (nn > 0))
            if max_jump is not None:
                _jump_masks(np.float32(1.0) / w, float(max_jump), masks)
        return masks[0], masks[1]

    return rule


def _jump_masks(r: np.ndarray, max_jump: float, masks: list[np.ndarray]) -> None:
    """And the relative-jump rule into the two masks: (max r - min r) <= max_jump * min r per triangle."""
    ra, rb, rc, rd = r[:-1, :-1], r[:-1, 1:], r[1:, :-1], r[1:, 1:]
    lo_bc, hi_bc = np.minimum(rb, rc), np.maximum(rb, rc)
    f = np.float32(max_jump)
    for m, other in ((masks[0], ra), (masks[1], rd)):
        lo = np.minimum(lo_bc, other)
        hi = np.maximum(hi_bc, other)
        m &= (hi - lo) <= f * lo


def triangulate(valid: np.ndarray, idx: np.ndarray, rule: Rule | None) -> np.ndarray:
    """Faces (M, 3) int32 of an organised grid, band by band: (a, c, b) and (b, c, d) of every valid quad."""
    gh, gw = valid.shape
    idx_flat = idx.ravel()  # vertex index of every grid point, row-major (meaningful where valid)
    faces = np.empty((2 * max(gh - 1, 0) * max(gw - 1, 0), 3), dtype=np.int32)
    if gh < 2 or gw < 2:
        return faces
    quad_cols = np.arange(gw - 1, dtype=np.int32)
    cand_buf = np.empty((min(_BAND_ROWS, gh - 1) * (gw - 1), 3), dtype=np.int32)
    n = 0
    for r0 in range(0, gh - 1, _BAND_ROWS):
        r1 = min(r0 + _BAND_ROWS, gh - 1)
        v = valid[r0 : r1 + 1]
        ok1 = v[:-1, :-1] & v[:-1, 1:] & v[1:, :-1]
        ok2 = v[:-1, 1:] & v[1:, :-1] & v[1:, 1:]
        if rule is not None and (ok1.any() or ok2.any()):
            k1, k2 = rule(r0, r1)
            ok1 &= k1
            ok2 &= k2
        # grid index of the top-left corner of every quad of the band
        base = ((np.arange(r0, r1, dtype=np.int32) * np.int32(gw))[:, None] + quad_cols[None, :]).ravel()
        cand = cand_buf[: base.shape[0]]
        # every grid point of the band valid: vertex index = grid index + a constant (no lookup needed)
        shift = int(idx_flat[r0 * gw]) - r0 * gw if v.all() else None
        for ok, corners in ((ok1, (0, gw, 1)), (ok2, (1, gw, gw + 1))):
            keep = ok.ravel()
            k = int(np.count_nonzero(keep))
            if k == 0:
                continue
            for j, off in enumerate(corners):
                if shift is None:
                    cand[:, j] = np.take(idx_flat, base + np.int32(off))
                else:
                    np.add(base, np.int32(off + shift), out=cand[:, j])
            np.compress(keep, cand, axis=0, out=faces[n : n + k])
            n += k
    return faces[:n]
