"""Depth layers for parallax rendering: the scene split at strong depth edges, hidden parts filled.

**Layers.** :func:`build_layers` splits the image at strong depth edges into layers ordered far to near
(nearness thresholds chosen greedily to cut as much depth-edge strength as possible, :func:`split_thresholds`).
Where nearer layers hide layer ``k``, its colour and depth are *filled from the background side*: only farther
pixels are sources, and the ``margin`` px next to the nearer layers are skipped (their colours mix in the
foreground's edge). Depth is filled smoothly (pyramid push-pull); colour from the nearest source pixels along the
row and column, interpolated by inverse distance and blurred among the filled pixels (``fill="streak"``,
:func:`depthforge.process.fill.fill_from_background`), or by OpenCV's Telea inpainting at reduced resolution
(``fill="inpaint"``). Layer ``k`` is opaque on its own pixels and on the hidden pixels whose filled
depth still belongs to it (so a farther layer, not this one, shows where the fill says the far background
continues). Beyond its opaque region a layer's colour is extended from the nearest opaque pixel and its depth
smoothly, so each layer's depth is smooth across its own edges: object edges move rigidly (no rubber-sheet
stretching) and disocclusions show filled background (no holes).

Nearness ``n`` (:func:`nearness`): relative maps are scaled to [0, 1] over their range (the farthest point is
treated as infinitely far); metric maps use ``z_min / z`` and disparity maps ``d / d_max`` (true inverse depth,
nearest = 1), so a disparity map rendered with ``CameraPose(x=d_max)`` and focus 0 gives the view one stereo
baseline to the right.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import ValidationError
from depthforge.core.image import Image, to_uint8
from depthforge.core.validation import check_array, check_range
from depthforge.process.fill import fill_from_background, fill_from_nearest
from depthforge.render.stereo import check_image_depth, fill_invalid_background
from depthforge.render.warp import smooth_filled

__all__ = ["LayeredScene", "build_layers", "nearness", "split_thresholds"]


def nearness(depth: DepthMap) -> np.ndarray:
    """(H, W) float32 nearness in [0, 1], 1 = nearest (see the module docstring); invalid pixels take the
    farther of their row neighbours (:func:`depthforge.render.stereo.fill_invalid_background`)."""
    if not isinstance(depth, DepthMap):
        raise ValidationError(f"depth: expected a DepthMap, got {type(depth).__name__}")
    inv = fill_invalid_background(depth.inverse_depth())
    if depth.kind == "relative":
        lo, hi = float(inv.min()), float(inv.max())
        if hi <= lo:
            return np.zeros_like(inv)
        return ((inv - lo) / (hi - lo)).astype(np.float32)
    return np.clip(inv / np.float32(inv.max()), 0.0, 1.0).astype(np.float32)


def split_thresholds(
    near: np.ndarray, *, max_layers: int = 4, edge: float = 0.05, span: int = 2, min_cut: float = 0.02
) -> list[float]:
    """Nearness thresholds (ascending, at most ``max_layers - 1``) that cut the strongest depth edges.

    An edge is a pair of pixels ``span`` apart along a row or column whose nearness differs by more than
    ``edge``; a threshold ``t`` cuts it when ``lo < t <= hi``. Thresholds are chosen greedily to cut the largest
    total jump still uncut; the search stops when the best remaining cut covers < 2 % of the initial total.

    Args:
        near: (H, W) float nearness in [0, 1].
        max_layers: >= 1.
        edge: minimum jump (nearness units) of a strong edge, > 0.
        span: pixel distance of the compared pairs (2 catches edges blurred over a pixel).
    """
    n = check_array(near, "near", ndim=2, dtype_kind="f")
    if not isinstance(max_layers, int) or max_layers < 1:
        raise ValidationError(f"max_layers: expected an integer >= 1, got {max_layers!r}")
    e = check_range(edge, "edge", low=0.0, low_inclusive=False)
    lo_parts, hi_parts = [], []
    for a, b in ((n[:, :-span], n[:, span:]), (n[:-span, :], n[span:, :])):
        if a.size == 0:
            continue
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        strong = hi - lo > e
        lo_parts.append(lo[strong])
        hi_parts.append(hi[strong])
    if max_layers == 1 or not lo_parts:
        return []
    lo = np.concatenate(lo_parts)
    hi = np.concatenate(hi_parts)
    if lo.size == 0:
        return []
    bins = 512
    k_lo = np.clip(np.floor(lo * bins).astype(np.intp) + 1, 0, bins + 1)
    k_hi = np.clip(np.floor(hi * bins).astype(np.intp) + 1, 0, bins + 1)
    weight = (hi - lo).astype(np.float64)
    total = float(weight.sum())
    active = np.ones(lo.size, dtype=bool)
    chosen: list[float] = []
    for _ in range(max_layers - 1):
        diff = np.bincount(k_lo[active], weight[active], bins + 2) - np.bincount(k_hi[active], weight[active], bins + 2)
        cover = np.cumsum(diff)
        k = int(np.argmax(cover[1 : bins + 1])) + 1
        if cover[k] < min_cut * total:
            break
        t = k / bins
        chosen.append(t)
        active &= ~((lo < t) & (hi >= t))
        if not active.any():
            break
    return sorted(chosen)


@dataclass(frozen=True, eq=False)
class LayeredScene:
    """What :func:`build_layers` returns.

    Attributes:
        layers: tuple of (H, W, 4) uint8 RGBA per layer, far to near: colour filled behind nearer layers and
            extended beyond the layer's own pixels; alpha 255 where the layer is opaque, else 0 (the farthest
            layer is opaque everywhere).
        boxes: tuple of (y0, y1, x0, x1) per layer, the bounding box of its opaque pixels.
        warp_depth: tuple of (h, w) float32 nearness per layer on the coarse map grid (smooth across edges):
            coarse pixel (j, i) averages the input block of ``cell`` x ``cell`` pixels starting at (j, i) * cell.
        cell: the coarse grid's cell size in input pixels.
        near: (H, W) float32 nearness of the input.
        image: (H, W, 3) uint8 RGB, the input view.
        thresholds: the nearness thresholds between layers.
    """

    layers: tuple[np.ndarray, ...]
    boxes: tuple[tuple[int, int, int, int], ...]
    warp_depth: tuple[np.ndarray, ...]
    near: np.ndarray
    thresholds: tuple[float, ...]
    image: np.ndarray
    cell: int

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W)."""
        return (int(self.near.shape[0]), int(self.near.shape[1]))


def _pushpull(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Smooth fill of the unknown pixels of a (H, W) float map (pyramid push-pull); known pixels are kept."""
    import cv2

    v: np.ndarray = np.where(known, values, 0.0).astype(np.float32)
    wt: np.ndarray = known.astype(np.float32)
    levels = [(v, wt)]
    while min(v.shape) > 1 and float(wt.min()) <= 0.0:
        size = (max(1, (v.shape[1] + 1) // 2), max(1, (v.shape[0] + 1) // 2))
        v = cv2.resize(v, size, interpolation=cv2.INTER_AREA)
        wt = cv2.resize(wt, size, interpolation=cv2.INTER_AREA)
        levels.append((v, wt))
    v, wt = levels[-1]
    up: np.ndarray = np.where(wt > 0, v / np.maximum(wt, 1e-12), float(v.sum() / max(float(wt.sum()), 1e-12))).astype(
        np.float32
    )
    for v, wt in reversed(levels[:-1]):
        up = cv2.resize(up, (v.shape[1], v.shape[0]), interpolation=cv2.INTER_LINEAR).reshape(v.shape)
        up = v + (1.0 - wt) * up  # v is the known-weighted mean: known pixels exact, gaps from the coarser level
    return np.where(known, values, up).astype(np.float32)


def _fill_hidden(
    image: np.ndarray, near: np.ndarray, hidden: np.ndarray, *, margin: int, inpaint_pixels: int, fill: str
) -> tuple[np.ndarray, np.ndarray]:
    """Colour (Telea inpainting) and nearness (smooth push-pull) of the hidden region, from the farther pixels."""
    import cv2

    h, w = hidden.shape
    unknown: np.ndarray = hidden.astype(np.uint8)
    if margin > 0:
        unknown = cv2.dilate(unknown, np.ones((2 * margin + 1, 2 * margin + 1), np.uint8))
    filled = _pushpull(near, unknown == 0)
    if fill == "inpaint":
        f = max(1.0, math.sqrt(h * w / inpaint_pixels))
        if f > 1.0:
            size = (max(1, round(w / f)), max(1, round(h / f)))
            img_s = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            mask_s = (cv2.resize(unknown.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0).astype(np.uint8)
        else:
            img_s, mask_s = image, unknown
        col = cv2.inpaint(img_s, mask_s, 3, cv2.INPAINT_TELEA)
        if f > 1.0:
            col = cv2.resize(col, (w, h), interpolation=cv2.INTER_LINEAR)
    else:
        # every side candidate along the row and column, weighted by 1 / distance, blurred among the filled pixels
        holes = unknown.astype(bool)
        flat = np.zeros((h, w), np.float32)
        sides = fill_from_background(image.astype(np.float32), holes, priority=flat, direction="both", by_distance=True)
        lost = np.isnan(sides).any(axis=2) & holes
        sides[lost] = fill_from_nearest(image, holes)[lost]
        smooth_filled(sides, holes, sigma=max(1.0, 0.01 * max(h, w)), direction="both")
        col = np.clip(np.rint(sides), 0, 255).astype(np.uint8)
    colour = np.where(hidden[:, :, None], col, image)
    return colour, np.where(hidden, filled, near).astype(np.float32)


def build_layers(
    image: np.ndarray | Image,
    depth: DepthMap,
    *,
    max_layers: int = 4,
    edge: float = 0.03,
    margin: int = 2,
    inpaint_pixels: int = 300_000,
    map_pixels: int = 130_000,
    smooth: float = 1.5,
    fill: str = "streak",
    min_cut: float = 0.002,
) -> LayeredScene:
    """Split an image and its depth into background-filled layers (see the module docstring).

    Args:
        image: (H, W, 3) or (H, W, 4) uint8/uint16/float-in-[0, 1] RGB(A) (alpha ignored); not modified.
        depth: DepthMap of the same (H, W), any kind.
        max_layers: at most this many layers (1 = a single rubber sheet).
        edge: minimum nearness jump of a depth edge that layers are cut at.
        min_cut: stop adding layers when the best further cut covers less than this share of all edge strength.
        fill: colour behind nearer layers: ``"streak"`` (the nearest farther pixels along the row and column,
            interpolated by inverse distance and blurred among the filled pixels) or ``"inpaint"`` (OpenCV Telea,
            at reduced resolution for large images).
        margin: px around nearer layers not used as a fill source (their edge colours mix in the foreground).
        inpaint_pixels: hidden regions are inpainted on an image of at most about this many pixels.
        map_pixels: size of the coarse grid the warp is solved on.
        smooth: Gaussian sigma (coarse-grid px) applied to each layer's warp depth.

    Returns:
        :class:`LayeredScene`.
    """
    import cv2

    img = check_image_depth(image, depth, channels=(3, 4), dtype_kind="uf")
    if not isinstance(margin, int) or margin < 0:
        raise ValidationError(f"margin: expected an integer >= 0, got {margin!r}")
    check_range(inpaint_pixels, "inpaint_pixels", low=1000)
    check_range(map_pixels, "map_pixels", low=100)
    rgb = np.ascontiguousarray(to_uint8(img[:, :, :3]))
    near = nearness(depth)
    ts = split_thresholds(near, max_layers=max_layers, edge=edge, min_cut=min_cut)
    bounds = [-np.inf, *ts, np.inf]
    h, w = near.shape
    cell = max(1, round(math.sqrt(h * w / map_pixels)))
    hm, wm = -(-h // cell), -(-w // cell)
    layers, boxes, warps = [], [], []
    for k in range(len(bounds) - 1):
        hidden = near >= bounds[k + 1]
        colour, filled = rgb, near
        if hidden.any():
            colour, filled = _fill_hidden(
                rgb, near, hidden, margin=margin, inpaint_pixels=int(inpaint_pixels), fill=fill
            )
        if k > 0:
            # opaque where the (filled) surface belongs to this layer: behind a nearer object only where the
            # background-side fill says this layer continues there, not where a farther layer does
            inside = filled >= bounds[k]
            colour = fill_from_nearest(colour, ~inside)
            filled = _pushpull(filled, inside)
        else:
            inside = np.ones((h, w), dtype=bool)
        layers.append(np.dstack([colour, inside.astype(np.uint8) * np.uint8(255)]))
        ys = np.flatnonzero(inside.any(axis=1))
        xs = np.flatnonzero(inside.any(axis=0))
        boxes.append((int(ys[0]), int(ys[-1]) + 1, int(xs[0]), int(xs[-1]) + 1) if ys.size else (0, 0, 0, 0))
        padded = cv2.copyMakeBorder(filled, 0, hm * cell - h, 0, wm * cell - w, cv2.BORDER_REPLICATE)
        wd = cv2.resize(padded, (wm, hm), interpolation=cv2.INTER_AREA)
        # a light blur keeps the fixed-point inverse convergent at the small edges left inside a layer
        warps.append(cv2.GaussianBlur(wd, (0, 0), smooth) if smooth > 0 else wd)
    return LayeredScene(tuple(layers), tuple(boxes), tuple(warps), near, tuple(ts), rgb, cell)
