"""Foreground from a segmentation model and depth together: prompts from depth, fusion, trimap, depth cut-out.

A segmentation model knows what an object is but not where it is: it keeps a background that has the object's
colours. Depth knows where things are but not what they are: it cannot split a person from the wall they lean on.
Fusion keeps the segmented pixels that agree with a depth band: when the segmented pixels' inverse depths fall
into bands separated by an empty gap, only the nearest band that holds a real share of them is kept; when they
form one band (the object is at the background's depth, or has a continuous depth extent), the segmentation is
kept as it is. The trimap for a matting model comes from both (the fused edge plus pixels the model is unsure
of).

Conventions: ``probability`` and alpha are (H, W) float32 in [0, 1], 1 = foreground; inverse depth is larger =
nearer for every kind of map (:func:`depthforge.render.masks.filled_inverse_depth`); boxes are (x0, y0, x1, y1)
and points (x, y) in pixels, x right, y down.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from depthforge.core.depthmap import DepthMap, depth_arrays
from depthforge.core.errors import ValidationError
from depthforge.core.validation import check_array, check_range, check_same_hw
from depthforge.render.masks import depth_mask, filled_inverse_depth, trimap

__all__ = ["DepthPrompt", "depth_prompts", "FusedMask", "fuse_segmentation", "depth_without_background"]


@dataclass(frozen=True)
class DepthPrompt:
    """Prompts for a promptable segmenter (SAM) taken from the nearest depth band.

    Attributes:
        band: (H, W) bool, the depth band's region the prompts describe.
        box_xyxy: its bounding box, padded by 2 % of the image's longer side, pixels.
        points_xy: (x, y) pixels: on the object first (its most interior pixel, and the click if any), then one
            background point (the most interior pixel outside the band) when the band does not fill the image.
        point_labels: 1 (object) or 0 (background) per point.
    """

    band: np.ndarray
    box_xyxy: tuple[float, float, float, float]
    points_xy: tuple[tuple[float, float], ...]
    point_labels: tuple[int, ...]


def _most_interior(mask: np.ndarray) -> tuple[float, float]:
    import cv2

    dist = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return float(x), float(y)


@depth_arrays
def depth_prompts(
    depth: DepthMap, *, click_xy: tuple[float, float] | None = None, tolerance: float = 0.1
) -> DepthPrompt:
    """A box and points for SAM from depth: one click, or none.

    Args:
        depth: any kind of map of the image's size.
        click_xy: (x, y) pixel on the object, or None: the band is then the largest region of the near side of
            Otsu's threshold on inverse depth (the nearest depth band).
        tolerance: with a click, the band is the connected region around it whose inverse depth is within this
            fraction of the map's inverse-depth range (1st to 99th percentile) of the clicked pixel's.

    Returns:
        A :class:`DepthPrompt`.
    """
    import cv2

    q = filled_inverse_depth(depth)
    h, w = q.shape
    if click_xy is None:
        band = depth_mask(depth, method="otsu", largest=True)
    else:
        x, y = (round(float(v)) for v in click_xy)
        if not (0 <= x < w and 0 <= y < h):
            raise ValidationError(f"click_xy: ({x}, {y}) is outside the {w}x{h} image")
        lo, hi = np.percentile(q, [1, 99])
        tol = check_range(tolerance, "tolerance", low=0.0, low_inclusive=False) * max(float(hi - lo), 1e-12)
        near = (np.abs(q - q[y, x]) <= tol).astype(np.uint8)
        _, labels = cv2.connectedComponents(near, connectivity=8)
        band = labels == labels[y, x]
    if not band.any():
        band = np.ones((h, w), bool)
    ys, xs = np.nonzero(band)
    pad = 0.02 * max(h, w)
    box = (
        max(0.0, float(xs.min()) - pad),
        max(0.0, float(ys.min()) - pad),
        min(float(w), float(xs.max()) + 1 + pad),
        min(float(h), float(ys.max()) + 1 + pad),
    )
    points = [_most_interior(band)]
    if click_xy is not None:
        points.append((float(click_xy[0]), float(click_xy[1])))
    labels_out = [1] * len(points)
    if not band.all():
        points.append(_most_interior(~band))
        labels_out.append(0)
    return DepthPrompt(band, box, tuple(points), tuple(labels_out))


@dataclass(frozen=True)
class FusedMask:
    """The fused foreground.

    Attributes:
        alpha: (H, W) float32 in [0, 1]: the segmentation's probability where it agrees with the kept depth band,
            0 elsewhere.
        mask: (H, W) bool, ``alpha >= 0.5``.
        trimap: (H, W) uint8 for a matting model: 255 sure foreground, 0 sure background, 128 unknown (a band of
            ``band_px`` around the fused edge, and pixels of the kept band where the model is unsure, 0.1..0.9).
        split: inverse depth below which segmented pixels were dropped (None: depth did not split them).
    """

    alpha: np.ndarray
    mask: np.ndarray
    trimap: np.ndarray
    split: float | None


def _depth_gap(values: np.ndarray, *, min_gap: float, min_share: float, bins: int = 100) -> float | None:
    """The middle of the nearest empty stretch of a histogram of inverse depths (larger = nearer) that leaves at
    least ``min_share`` of the values on its near side; None when there is none as wide as ``min_gap`` of their
    spread (0.5th to 99.5th percentile). A bin holding under 0.2 % of the values counts as empty."""
    lo, hi = np.percentile(values, [0.5, 99.5])
    if hi <= lo:
        return None
    hist, edges = np.histogram(values, bins=bins, range=(float(lo), float(hi)))
    empty = hist < max(1.0, 0.002 * values.size)
    need = max(1, round(min_gap * bins))
    near_count = 0
    k = bins - 1
    while k >= 0:
        if not empty[k]:
            near_count += int(hist[k])
            k -= 1
            continue
        top = k
        while k >= 0 and empty[k]:
            k -= 1
        if top - k >= need and near_count >= min_share * values.size and k >= 0:
            return float(0.5 * (edges[k + 1] + edges[top + 1]))
    return None


@depth_arrays
def fuse_segmentation(
    depth: DepthMap,
    probability: np.ndarray,
    *,
    min_gap: float = 0.1,
    min_share: float = 0.02,
    band_px: int | None = None,
) -> FusedMask:
    """Keep the segmented pixels that agree with the nearest depth band (see the module docstring).

    Args:
        depth: any kind of map of the image's size.
        probability: (H, W) float in [0, 1], a segmentation model's foreground probability.
        min_gap: the smallest empty depth gap that separates bands, as a fraction of the segmented pixels'
            inverse-depth spread.
        min_share: the nearest band kept must hold at least this share of the segmented pixels (nearer specks
            are ignored).
        band_px: half-width of the trimap's unknown band around the edge (default 1 % of the longer side, >= 2).

    Returns:
        A :class:`FusedMask`.
    """
    p = check_array(probability, "probability", ndim=2, dtype_kind="uif").astype(np.float32)
    q = filled_inverse_depth(depth)
    check_same_hw(q, "depth", p, "probability")
    check_range(min_gap, "min_gap", low=0.0, high=1.0, low_inclusive=False)
    check_range(min_share, "min_share", low=0.0, high=1.0)
    band = max(2, round(0.01 * max(q.shape))) if band_px is None else int(check_range(band_px, "band_px", low=1))
    seg = p >= 0.5
    split = _depth_gap(q[seg], min_gap=min_gap, min_share=min_share) if seg.sum() >= 16 else None
    agree = q > split if split is not None else np.ones(q.shape, bool)
    alpha = np.where(agree, np.clip(p, 0.0, 1.0), 0.0).astype(np.float32)
    mask = alpha >= 0.5
    tri = trimap(mask, band=band) if mask.any() else np.zeros(q.shape, np.uint8)
    tri[agree & (p > 0.1) & (p < 0.9)] = 128
    return FusedMask(alpha, mask, tri, split)


@depth_arrays
def depth_without_background(depth: DepthMap, alpha: np.ndarray) -> DepthMap:
    """A depth map whose background is pushed to the far end: pixels with ``alpha < 0.5`` take the farthest value
    found among the foreground pixels (largest metres for metric maps, smallest value for relative and disparity
    maps); foreground values are unchanged.

    Args:
        depth: any kind of map.
        alpha: (H, W) float in [0, 1] of the same size, 1 = foreground.

    Returns:
        A new :class:`DepthMap` of the same kind (the input is not modified); unchanged when nothing is
        foreground.
    """
    a = check_array(alpha, "alpha", ndim=2, dtype_kind="uifb")
    check_same_hw(depth.values, "depth", a, "alpha")
    fg = (a >= 0.5) & np.isfinite(depth.values)
    if not fg.any():
        return depth
    far = float(depth.values[fg].max() if depth.kind == "metric" else depth.values[fg].min())
    return depth.with_values(np.where(a >= 0.5, depth.values, np.float32(far)).astype(np.float32))
