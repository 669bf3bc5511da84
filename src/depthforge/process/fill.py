"""Hole filling: give invalid (NaN) pixels a value from their valid surroundings.

Every method works in inverse depth (larger = nearer; metric maps are converted and back), where a plane is an
affine function of the pixel coordinates, and all of them are vectorised (no per-pixel Python loops):

* ``nearest``: the value of the nearest valid pixel (Euclidean distance).
* ``background``: look for the nearest valid pixel left, right, up and down; keep the farthest of them and any
  others on the same surface (within ``edge_tol``), and interpolate those by inverse distance. Holes at depth
  edges (stereo occlusions, sensor shadows) take the background's value instead of smearing the foreground;
  holes inside a surface are interpolated linearly along rows and columns.
* ``smooth``: a harmonic (Laplace) fill of holes of at most ``max_hole_px`` pixels, exact on planes; larger holes
  are left invalid.
* ``auto``: ``smooth`` for holes of at most ``max_hole_px`` pixels, ``background`` for the rest.
"""

from __future__ import annotations

import numpy as np

from depthforge.core.deprecation import renamed_keywords
from depthforge.core.validation import check_array, check_choice, check_range, check_same_hw
from depthforge.process._common import D, unwrap, valid_range

__all__ = ["FILL_METHODS", "fill_from_background", "fill_from_nearest", "fill_holes"]

FILL_METHODS = ("auto", "background", "nearest", "smooth")


@renamed_keywords(max_hole="max_hole_px")
def fill_holes(
    depth: D,
    *,
    method: str = "auto",
    max_hole_px: int = 256,
    edge_tol: float = 0.05,
    axes: str = "both",
    mask: np.ndarray | None = None,
) -> D:
    """Fill invalid pixels.

    Args:
        depth: a :class:`DepthMap` of any kind, or an (H, W) float array of larger = nearer values (disparity
            in pixels, relative inverse depth) with NaN = invalid. Not modified.
        method: ``auto`` (default), ``background``, ``nearest`` or ``smooth`` (see the module docstring).
        max_hole_px: the largest hole (4-connected pixel count) that ``smooth`` and ``auto`` fill smoothly.
        edge_tol: for ``background``: candidates within this fraction of the map's inverse-depth range
            (1st-99th percentile) of the farthest one count as the same surface and are interpolated.
        axes: for ``background``: ``both`` (rows and columns) or ``horizontal`` (rows only: stereo occlusions).
        mask: optional (H, W) bool, True where filling is wanted; other invalid pixels stay invalid.

    Returns:
        The same type as ``depth`` (kind, units and dtype kept), with holes filled. Pixels that cannot be
        filled (no valid pixel at all, or holes too large for ``smooth``) stay NaN.

    Example:
        >>> import numpy as np
        >>> d = np.array([[1.0, np.nan, 3.0]], dtype=np.float32)
        >>> fill_holes(d, method="background", axes="horizontal").tolist()
        [[1.0, 1.0, 3.0]]
    """
    check_choice(method, "method", FILL_METHODS)
    check_choice(axes, "axes", ("both", "horizontal"))
    max_hole = int(check_range(max_hole_px, "max_hole_px", low=0))
    edge_tol = check_range(edge_tol, "edge_tol", low=0)
    inv, rewrap = unwrap(depth)
    holes = ~np.isfinite(inv)
    if mask is not None:
        m = check_array(mask, "mask", ndim=2)
        check_same_hw(inv, "depth", m, "mask")
        holes &= m.astype(bool)
    if not holes.any() or holes.all() or (~np.isfinite(inv)).all():
        return rewrap(inv)
    out = inv.copy()
    if method == "nearest":
        out[holes] = fill_from_nearest(inv, ~np.isfinite(inv))[holes]
    elif method == "background":
        out[holes] = _background(inv, holes, edge_tol=edge_tol, horizontal_only=axes == "horizontal")
    else:
        small = _small_holes(holes, max_hole)
        if method == "auto":
            big = holes & ~small
            if big.any():
                out[big] = _background(inv, big, edge_tol=edge_tol, horizontal_only=axes == "horizontal")
        if small.any():
            out = _harmonic(out, small, edge_tol=edge_tol)
    return rewrap(out)


def fill_from_background(
    data: np.ndarray,
    mask: np.ndarray,
    *,
    priority: np.ndarray | None = None,
    direction: str = "row",
    tolerance: float = 0.0,
    by_distance: bool = False,
) -> np.ndarray:
    """Fill the ``mask`` pixels from their farther (background) side: the one row/area hole filler.

    Each pixel to fill looks for the nearest usable pixel (not in ``mask``, finite priority) on each side along
    its row (``direction="row"``), its column (``"column"``) or both (``"both"``); the image border offers none.
    The farthest candidate (smallest priority) wins together with those within ``tolerance`` of it, averaged
    with weights 1 / distance (``by_distance``) or equally, so a run of holes between two equally far pixels
    takes the mean of both. Holes at depth edges (occlusions, disocclusions) thus take the background's value
    instead of smearing the foreground.

    Args:
        data: (H, W) or (H, W, C) float or integer values to fill (depth, colour); not modified.
        mask: (H, W) bool, True = to fill.
        priority: (H, W) float, larger = nearer; default ``data`` itself (then (H, W)). NaN, inf = not usable.
        direction: ``"row"``, ``"column"`` or ``"both"``.
        tolerance: candidates within this much priority of the farthest one are averaged with it.
        by_distance: weight the averaged candidates by 1 / distance (a linear interpolation along a surface).

    Returns:
        A float array of ``data``'s shape (its dtype when float, else float32) with the mask pixels filled;
        pixels with no candidate (no usable pixel along their row/column) are NaN.

    Example:
        >>> row = np.array([[5.0, np.nan, np.nan, 2.0]])
        >>> fill_from_background(row, np.isnan(row)).tolist()
        [[5.0, 2.0, 2.0, 2.0]]
    """
    from depthforge.process._fill_numba import fill_from_sides

    check_choice(direction, "direction", ("row", "column", "both"))
    arr = check_array(data, "data", ndim=(2, 3), dtype_kind="uif")
    m = check_array(mask, "mask", ndim=2)
    check_same_hw(arr, "data", m, "mask")
    prio = arr if priority is None else check_array(priority, "priority", ndim=2, dtype_kind="uif")
    check_same_hw(arr, "data", prio, "priority")
    rows, cols = direction != "column", direction != "row"
    # 8- and 16-bit integers are read as they are (no float copy of a whole image: 480 MB for 40 MP RGB); wider ones
    # are rounded to float32 first, as before, and the kernel takes the machine's byte order only
    if arr.dtype.kind in "ui" and (arr.dtype.itemsize > 2 or not arr.dtype.isnative):
        arr = arr.astype(np.float32)
    elif not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    out = np.empty(arr.shape, arr.dtype if arr.dtype.kind == "f" else np.float32)
    fill_from_sides(
        np.ascontiguousarray(arr if arr.ndim == 3 else arr[:, :, None]),
        np.ascontiguousarray(m, dtype=bool),
        np.ascontiguousarray(prio if prio.dtype.kind == "f" else prio.astype(np.float32)),
        rows,
        cols,
        float(tolerance),
        bool(by_distance),
        out if out.ndim == 3 else out[:, :, None],
    )
    return out


def fill_from_nearest(data: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Copy of ``data`` ((H, W) or (H, W, C)) whose ``mask`` pixels take the value of the nearest (Euclidean)
    pixel outside ``mask`` (OpenCV's labelled distance transform); unchanged when nothing or everything is masked."""
    import cv2

    if not mask.any() or mask.all():
        return data.copy()
    _, labels = cv2.distanceTransformWithLabels(
        mask.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE, labelType=cv2.DIST_LABEL_PIXEL
    )
    # Labels number the unmasked (zero) pixels in raster order, starting at 1.
    return data[~mask][labels - 1]


def _background(inv: np.ndarray, where: np.ndarray, *, edge_tol: float, horizontal_only: bool) -> np.ndarray:
    """Background-preferring fill (see the module docstring) of the ``where`` pixels, as 1-D values in row-major
    order; what no row or column reaches takes the nearest valid value."""
    out = fill_from_background(
        inv,
        where,
        direction="row" if horizontal_only else "both",
        tolerance=edge_tol * valid_range(inv),
        by_distance=True,
    )
    lost = np.isnan(out) & where
    if lost.any():
        out[lost] = fill_from_nearest(inv, ~np.isfinite(inv))[lost]
    return out[where]


def _small_holes(holes: np.ndarray, max_hole: int) -> np.ndarray:
    """The hole pixels whose 4-connected component has at most ``max_hole`` pixels."""
    import cv2

    if max_hole <= 0:
        return np.zeros_like(holes)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(holes.astype(np.uint8), connectivity=4)
    keep = stats[:, cv2.CC_STAT_AREA] <= max_hole
    keep[0] = False
    return keep[labels] & holes


def _component_extent(mask: np.ndarray) -> np.ndarray:
    """(H, W) float: the larger bounding-box side of each pixel's 4-connected component of ``mask`` (0 outside)."""
    import cv2

    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=4)
    side = np.max(stats[:, [cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT]], axis=1).astype(np.float64)
    side[0] = 0.0
    return side[labels]


def _harmonic(inv: np.ndarray, fill: np.ndarray, *, edge_tol: float, max_iter: int = 1000) -> np.ndarray:
    """Solve the Laplace equation on the ``fill`` pixels with the other valid pixels as boundary values.

    Red-black successive over-relaxation over the hole pixels only (flat index arrays), started from the
    background fill, with each hole's over-relaxation factor chosen for its size. Neighbours outside the image
    or invalid and not being filled are left out of the stencil.
    """
    out = inv.copy()
    out[fill] = _background(np.where(fill, np.nan, inv), fill, edge_tol=edge_tol, horizontal_only=False)
    h, w = inv.shape
    ys, xs = np.nonzero(fill)
    flat = out.ravel()
    known = np.isfinite(flat)
    idx = np.empty((4, ys.size), dtype=np.intp)
    ok = np.empty((4, ys.size), dtype=bool)
    for k, (dy, dx) in enumerate(((-1, 0), (1, 0), (0, -1), (0, 1))):
        y2, x2 = ys + dy, xs + dx
        inside = (y2 >= 0) & (y2 < h) & (x2 >= 0) & (x2 < w)
        idx[k] = np.where(inside, np.clip(y2, 0, h - 1) * w + np.clip(x2, 0, w - 1), 0)
        ok[k] = inside & known[idx[k]]
    # An axis takes part when both its neighbours are usable (a second difference, exact on planes); a pixel
    # with no complete axis (a corner of the usable region) averages whatever neighbours it has.
    full_v = ok[0] & ok[1]
    full_h = ok[2] & ok[3]
    use = np.stack([full_v, full_v, full_h, full_h])
    fallback = ~(full_v | full_h)
    use[:, fallback] = ok[:, fallback]
    count = use.sum(axis=0).astype(np.float64)
    weight = use / np.maximum(count, 1.0)
    # Optimal SOR factor for a hole of side n: 2 / (1 + sin(pi / (n + 1))).
    omega = 2.0 / (1.0 + np.sin(np.pi / (_component_extent(fill)[ys, xs] + 1.0)))
    own = ys * w + xs
    parts = []
    for parity in (0, 1):
        sel = (((ys + xs) % 2) == parity) & (count > 0)
        parts.append((own[sel], idx[:, sel], weight[:, sel], omega[sel]))
    tol = 1e-5 * valid_range(inv)
    for _ in range(max_iter):
        change = 0.0
        for p_own, p_idx, p_wt, p_om in parts:
            if p_own.size == 0:
                continue
            delta = p_om * (np.einsum("kn,kn->n", flat[p_idx], p_wt) - flat[p_own])
            flat[p_own] += delta
            change = max(change, float(np.max(np.abs(delta))))
        if change < tol:
            break
    return flat.reshape(h, w)
