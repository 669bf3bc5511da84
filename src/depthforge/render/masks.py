"""Foreground masks from depth, refined against the image; cut-outs and background replacement.

The foreground is the near part of the scene: pixels whose inverse depth (larger = nearer, for every kind of
map) is above a threshold. The threshold is given by the user or found automatically (Otsu's method or the
largest gap in the inverse-depth distribution). The hard mask's edge is then feathered and snapped to the
image's edges with a guided filter, only inside a narrow band around the depth edge (a trimap's unknown zone),
so texture far from the edge never leaks into the mask.

Alpha convention: (H, W) float32 in [0, 1], 1 = foreground; as an image, 8-bit with 255 = foreground.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

from depthforge.core.deprecation import renamed_keywords
from depthforge.core.depthmap import DepthMap, depth_arrays
from depthforge.core.errors import ValidationError
from depthforge.core.image import Image, check_image
from depthforge.core.validation import check_array, check_choice, check_extent, check_range, check_same_hw
from depthforge.process.fill import fill_holes

__all__ = [
    "THRESHOLD_METHODS",
    "filled_inverse_depth",
    "user_value_to_inverse",
    "auto_threshold",
    "depth_mask",
    "largest_region",
    "trimap",
    "refine_alpha",
    "foreground_alpha",
    "alpha_to_uint8",
    "cutout",
    "replace_background",
]

THRESHOLD_METHODS = ("otsu", "gap")
#: Side of the tiles the guided filter runs on (at least four times its reach), in pixels.
_TILE_PX = 512


_log = logging.getLogger("depthforge")


def filled_inverse_depth(depth: DepthMap) -> np.ndarray:
    """Inverse depth (larger = nearer) with invalid pixels filled from the nearest valid pixel
    (:func:`depthforge.process.fill.fill_holes`, ``method="nearest"``), so an invalid band along an object's edge
    is split between the object and its background.

    Returns:
        (H, W) float32, finite everywhere (1/m for metric maps, px for disparity, raw values for relative).

    Raises:
        ValidationError: when the map has no valid pixel.
    """
    q = depth.inverse_depth()
    valid = np.isfinite(q)
    if valid.all():
        return q.astype(np.float32, copy=False)
    if not valid.any():
        raise ValidationError("depth: the depth map has no valid pixel")
    return fill_holes(q.astype(np.float32), method="nearest")


def user_value_to_inverse(depth: DepthMap, value: float, *, name: str = "threshold") -> float:
    """Turn a user's depth value into inverse depth (larger = nearer).

    Args:
        depth: the map the value refers to.
        value: metres for ``metric`` maps, pixels for ``disparity`` maps, and for ``relative`` maps a fraction
            0..1 of the map's range as shown in the display image (1 = nearest, white).
        name: the option name used in error messages.
    """
    if depth.kind == "metric":
        return 1.0 / check_range(value, name, low=0.0, low_inclusive=False)
    if depth.kind == "disparity":
        return check_range(value, name, low=0.0, low_inclusive=False)
    from depthforge.process.normalize import display_range

    frac = check_range(value, name, low=0.0, high=1.0)
    rng = display_range(depth)
    return rng.far + frac * (rng.near - rng.far)


def _widest_gap(v: np.ndarray, *, side: float = 0.05, min_width: float = 0.02) -> float | None:
    """The middle of the widest empty stretch of the histogram of ``v`` (bins twice its value step, the 0.5 %
    extremes left out) with at least ``side`` of the values on each side and at least ``min_width`` of the range
    wide; None when there is none (user trial 3: the largest gap between sorted values lay in the far tail of a
    continuous scene, and 99.6 % of it became foreground)."""
    lo, hi = (float(x) for x in np.quantile(v, [0.005, 0.995]))
    u = np.unique(v[(v >= lo) & (v <= hi)])
    if u.size < 2:
        return None
    bins = int(max(8, min(256, (hi - lo) / (2 * float(np.min(np.diff(u)))))))
    hist, edges = np.histogram(v, bins=bins, range=(lo, hi))
    below = np.concatenate([[0], np.cumsum(hist)]) / v.size  # share of the values below each bin
    empty = np.flatnonzero(np.diff(np.concatenate([[0], (hist == 0).astype(np.int8), [0]])))
    best, where = 0, None
    for k, j in zip(empty[::2], empty[1::2], strict=True):  # runs [k, j) of empty bins
        if j - k > best and side <= below[k] <= 1 - side:
            best, where = j - k, float(0.5 * (edges[k] + edges[j]))
    return where if best >= min_width * bins else None


def auto_threshold(inverse: np.ndarray, *, method: str = "otsu", bins: int = 1024) -> float:
    """A threshold separating near from far in an inverse-depth map.

    Args:
        inverse: (H, W) float inverse depth (larger = nearer); NaN ignored.
        method: ``otsu`` (maximise the between-class variance of the histogram) or ``gap`` (the middle of the
            widest empty stretch of the histogram with at least 5 % of the pixels on each side, the 0.5 % extremes
            left out; Otsu's threshold, with a notice, when the depths have no such stretch).
        bins: histogram bins for Otsu's method.

    Returns:
        The threshold: foreground is ``inverse > threshold``.
    """
    check_choice(method, "method", THRESHOLD_METHODS)
    q = check_array(inverse, "inverse", ndim=2, dtype_kind="uif").astype(np.float64)
    v = q[np.isfinite(q)]
    if v.size == 0:
        raise ValidationError("depth: the depth map has no valid pixel")
    if v.size > 400_000:
        v = v[:: v.size // 200_000]
    lo, hi = float(v.min()), float(v.max())
    if hi <= lo:
        return lo
    if method == "gap":
        found = _widest_gap(v)
        if found is not None:
            return found
        _log.info("mask: no empty stretch between near and far depths; Otsu's threshold is used instead of the gap")
    hist, edges = np.histogram(v, bins=bins, range=(lo, hi))
    p = hist.astype(np.float64) / hist.sum()
    centres = 0.5 * (edges[:-1] + edges[1:])
    w0 = np.cumsum(p)
    m0 = np.cumsum(p * centres)
    total = m0[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total * w0 - m0) ** 2 / (w0 * (1.0 - w0))
    between[~np.isfinite(between)] = -1.0
    k = int(np.argmax(between[:-1]))
    # The class boundary is the upper edge of bin k; for separated modes take the middle of the empty stretch.
    upper = int(np.flatnonzero(hist[k + 1 :])[0]) + k + 1 if hist[k + 1 :].any() else k + 1
    return float(0.5 * (edges[k + 1] + edges[upper]))


@depth_arrays
def depth_mask(
    depth: DepthMap, *, threshold: float | None = None, method: str = "otsu", largest: bool = False
) -> np.ndarray:
    """The hard foreground mask: pixels nearer than the threshold.

    Args:
        depth: any kind; invalid pixels are filled from their nearest valid neighbour.
        threshold: in the map's units (see :func:`user_value_to_inverse`); None = automatic by ``method``.
        method: ``otsu`` or ``gap`` (used when ``threshold`` is None).
        largest: keep only the largest connected foreground region.

    Returns:
        (H, W) bool, True = foreground.
    """
    q = filled_inverse_depth(depth)
    t = user_value_to_inverse(depth, threshold) if threshold is not None else auto_threshold(q, method=method)
    return largest_region(q > t) if largest else q > t


def largest_region(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected region of an (H, W) bool mask, as a bool mask (all False when there is none)."""
    import cv2

    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n < 2:
        return np.zeros(mask.shape, dtype=bool)
    return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


def trimap(mask: np.ndarray, *, band: int) -> np.ndarray:
    """A trimap around a hard mask's edge.

    Args:
        mask: (H, W) bool foreground.
        band: half-width of the unknown zone in pixels (>= 1).

    Returns:
        (H, W) uint8: 255 sure foreground, 0 sure background, 128 unknown (within ``band`` px of the edge).
    """
    import cv2

    m = check_array(mask, "mask", ndim=2).astype(np.uint8)
    b = int(check_range(band, "band", low=1))
    # Euclidean distances to the other side (linear time whatever the band; an erosion by a disc of radius
    # ``band`` costs band-times more, seconds for a wide band on a long image)
    to_background = cv2.distanceTransform(m, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    to_foreground = cv2.distanceTransform(1 - m, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    out = np.full(m.shape, 128, np.uint8)
    out[to_background > b] = 255
    out[to_foreground > b] = 0
    return out


@renamed_keywords(radius="radius_px")
def refine_alpha(
    image: np.ndarray | Image, mask: np.ndarray, *, radius_px: int | None = None, eps: float = 1e-3
) -> np.ndarray:
    """Feather a hard mask and snap its edge to the image with a guided filter (He et al.).

    Only the band of ``radius_px`` either side of the mask's edge changes; elsewhere alpha stays 0 or 1.

    Args:
        image: (H, W, 3) uint8/uint16 RGB guide of the same size, or an :class:`Image`. (Until this release the
            order was ``(mask, image)``; that call is recognised by the shapes, warned about and still served.)
        mask: (H, W) bool or float in [0, 1], 1 = foreground.
        radius_px: guided-filter window radius and band half-width in pixels (default 0.4 % of the longer side,
            at least 2).
        eps: regularisation (image values in [0, 1]); larger = smoother, less edge-following.

    Returns:
        (H, W) float32 alpha in [0, 1].
    """
    import cv2

    if not isinstance(image, Image) and np.ndim(image) == 2 and (isinstance(mask, Image) or np.ndim(mask) == 3):
        warnings.warn(
            "refine_alpha(mask, image) is now refine_alpha(image, mask) (the old order will be refused next release)",
            DeprecationWarning,
            stacklevel=3,
        )
        image, mask = mask, image  # type: ignore[assignment]
    m = check_array(mask, "mask", ndim=2)
    img = check_image(image, dtype_kind="uif")
    check_same_hw(img, "image", m, "mask")
    if radius_px is None:
        r = max(2, round(0.004 * max(m.shape)))
    else:
        r = int(check_extent(radius_px, "radius_px", shape=m.shape, positive=True))
    check_range(eps, "eps", low=0.0, low_inclusive=False)
    hard = m.astype(np.float32)
    scale = np.float32(65535.0 if img.dtype == np.uint16 else 255.0)
    unknown = trimap(hard > 0.5, band=r) == 128
    out = hard.copy()
    # The filter in tiles that hold unknown pixels, each with the filter's reach (two windows) around it: the
    # same values as filtering the whole photo, without its dozen full-size float planes (4.4 GB for a 40 MP photo).
    h, w = hard.shape
    reach, tile = 2 * r + 1, max(_TILE_PX, 4 * (2 * r + 1))
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            y1, x1 = min(h, y0 + tile), min(w, x0 + tile)
            todo = unknown[y0:y1, x0:x1]
            if not todo.any():
                continue
            h0, h1, w0, w1 = max(0, y0 - reach), min(h, y1 + reach), max(0, x0 - reach), min(w, x1 + reach)
            guide = img[h0:h1, w0:w1].astype(np.float32) / scale
            refined = cv2.ximgproc.guidedFilter(guide, hard[h0:h1, w0:w1], r, eps)
            out[y0:y1, x0:x1][todo] = np.clip(refined[y0 - h0 : y1 - h0, x0 - w0 : x1 - w0][todo], 0.0, 1.0)
    return out


@renamed_keywords(radius="radius_px")
@depth_arrays
def foreground_alpha(
    depth: DepthMap,
    *,
    image: np.ndarray | Image | None = None,
    threshold: float | None = None,
    method: str = "otsu",
    largest: bool = False,
    radius_px: int | None = None,
    eps: float = 1e-3,
) -> np.ndarray:
    """The foreground alpha from depth: :func:`depth_mask`, refined with :func:`refine_alpha` when an image
    is given.

    Args:
        depth: a :class:`DepthMap` (any kind) of the image's size.
        image: the photo ((H, W, 3) uint8/uint16 RGB or an :class:`Image`) whose edges the mask's edge snaps to;
            None = the hard mask.
        threshold, method, largest: see :func:`depth_mask`.
        radius_px, eps: see :func:`refine_alpha` (``radius_px=0`` disables the refinement).

    Returns:
        (H, W) float32 in [0, 1], 1 = foreground.
    """
    mask = depth_mask(depth, threshold=threshold, method=method, largest=largest)
    if image is None or radius_px == 0:
        return mask.astype(np.float32)
    return refine_alpha(image, mask, radius_px=radius_px, eps=eps)


def alpha_to_uint8(alpha: np.ndarray) -> np.ndarray:
    """(H, W) float alpha in [0, 1] -> (H, W) uint8, 255 = foreground."""
    a = check_array(alpha, "alpha", ndim=2, dtype_kind="uifb")
    return (np.clip(a.astype(np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _as_float(image: np.ndarray | Image) -> tuple[np.ndarray, float]:
    img = check_image(image, dtype_kind="u")
    scale = 65535.0 if img.dtype == np.uint16 else 255.0
    return img.astype(np.float32) / np.float32(scale), scale


def cutout(image: np.ndarray | Image, alpha: np.ndarray) -> np.ndarray:
    """The foreground cut out: RGB unchanged, alpha from ``alpha``.

    Args:
        image: (H, W, 3) uint8 or uint16 RGB.
        alpha: (H, W) float in [0, 1].

    Returns:
        (H, W, 4) RGBA of the image's dtype (alpha max = foreground).
    """
    img = check_image(image, dtype_kind="u")
    a = check_array(alpha, "alpha", ndim=2, dtype_kind="uif")
    check_same_hw(img, "image", a, "alpha")
    top = 65535.0 if img.dtype == np.uint16 else 255.0
    a8 = (np.clip(a.astype(np.float32), 0.0, 1.0) * top + 0.5).astype(img.dtype)
    return np.concatenate([img, a8[:, :, None]], axis=2)


@renamed_keywords(blur="blur_px")
def replace_background(
    image: np.ndarray | Image,
    alpha: np.ndarray,
    *,
    color: tuple[int, int, int] | None = None,
    background: np.ndarray | None = None,
    blur_px: float | None = None,
) -> np.ndarray:
    """Composite the foreground over a new background: a colour, another image, or the blurred background.

    Exactly one of ``color`` (0..255 RGB), ``background`` ((H, W, 3) image, resized to fit when its size
    differs) or ``blur_px`` (Gaussian sigma in pixels; the background is blurred with the foreground masked out,
    so it never bleeds into the background) must be given.

    Returns:
        (H, W, 3) of the image's dtype.
    """
    import cv2

    f, scale = _as_float(image)
    a = check_array(alpha, "alpha", ndim=2, dtype_kind="uif").astype(np.float32)
    check_same_hw(f, "image", a, "alpha")
    given = [x is not None for x in (color, background, blur_px)]
    if sum(given) != 1:
        raise ValidationError("background: give exactly one of color, background image or blur_px")
    a = np.clip(a, 0.0, 1.0)[:, :, None]
    bg: np.ndarray
    if color is not None:
        if len(color) != 3:
            raise ValidationError(f"color: expected three values 0..255, got {color!r}")
        bg = np.asarray([check_range(v, "color", low=0, high=255) / 255.0 for v in color], np.float32)
    elif background is not None:
        bg, _ = _as_float(background)
        if bg.shape[:2] != f.shape[:2]:
            bg = cv2.resize(bg, (f.shape[1], f.shape[0]), interpolation=cv2.INTER_AREA)
    else:
        sigma = check_extent(blur_px, "blur_px", shape=f.shape, positive=True)
        w = 1.0 - a
        num = cv2.GaussianBlur(f * w, (0, 0), sigma)
        den = cv2.GaussianBlur(w[:, :, 0], (0, 0), sigma)[:, :, None]
        bg = np.where(den > 1e-4, num / np.maximum(den, 1e-4), f)
    out = a * f + (1.0 - a) * bg
    return (np.clip(out, 0.0, 1.0) * np.float32(scale) + 0.5).astype(np.uint16 if scale > 255 else np.uint8)
