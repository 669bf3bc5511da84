"""Edge-preserving depth filters and speckle removal.

All filters work in inverse depth (larger = nearer; metric maps are converted and back), keep the valid mask
as it is (invalid pixels stay invalid and never leak into valid ones: they are left out of every average) and
are vectorised: loops run over window offsets or image chunks, never over pixels.

* :func:`bilateral_filter`: weights by distance in the image plane and by difference in depth.
* :func:`median_filter`: the median of the valid pixels of a square window.
* :func:`guided_filter`: He et al.'s guided filter with a colour (or grey) image as the guide, so depth edges
  snap to image edges.
* :func:`remove_speckles`: small connected patches that differ from their surroundings become invalid.
"""

from __future__ import annotations

import numpy as np

from depthforge.core.deprecation import renamed_keywords
from depthforge.core.image import Image, check_image
from depthforge.core.validation import check_extent, check_positive, check_range, check_same_hw
from depthforge.process._common import D, unwrap, valid_range

__all__ = ["FILTERS", "bilateral_filter", "median_filter", "guided_filter", "remove_speckles", "estimate_noise"]

FILTERS = ("bilateral", "median", "guided", "speckle")


def estimate_noise(depth: np.ndarray) -> float:
    """Robust standard deviation of pixel noise from horizontal and vertical neighbour differences (MAD).

    Args:
        depth: (H, W) float values (any kind), NaN = invalid.

    Returns:
        The estimated noise sigma in the units of ``depth`` (0.0 for noise-free or too small inputs).
    """
    diffs = np.concatenate([np.diff(depth, axis=1).ravel(), np.diff(depth, axis=0).ravel()])
    diffs = diffs[np.isfinite(diffs)]
    if diffs.size == 0:
        return 0.0
    mad = float(np.median(np.abs(diffs - np.median(diffs))))
    return mad * 1.4826 / np.sqrt(2.0)


@renamed_keywords(sigma_space="sigma_space_px", radius="radius_px")
def bilateral_filter(
    depth: D,
    *,
    sigma_space_px: float = 2.0,
    sigma_range: float | None = None,
    radius_px: int | None = None,
) -> D:
    """Bilateral filter on inverse depth that ignores invalid pixels.

    Args:
        depth: a :class:`DepthMap` or an (H, W) float array (larger = nearer, NaN = invalid). Not modified.
        sigma_space_px: Gaussian sigma of the spatial weight, pixels.
        sigma_range: Gaussian sigma of the depth weight, in inverse-depth units (1/m for metric maps, px for
            disparity); default: 3 x the estimated noise (at least 0.5 % of the value range), which smooths noise
            and stops at steps much higher than the noise.
        radius_px: window half-size in pixels (default ``ceil(2 * sigma_space_px)``).

    Returns:
        The same type as ``depth``, filtered; invalid pixels stay invalid.
    """
    inv, rewrap = unwrap(depth)
    sigma_space = check_extent(sigma_space_px, "sigma_space_px", shape=inv.shape, positive=True)
    if sigma_range is None:
        sigma_range = max(3.0 * estimate_noise(inv), 0.005 * valid_range(inv))
    sigma_range = check_positive(sigma_range, "sigma_range")
    r = (
        int(np.ceil(2.0 * sigma_space))
        if radius_px is None
        else int(check_range(radius_px, "radius_px", low=1, high=50))
    )
    valid = np.isfinite(inv)
    src = np.pad(np.where(valid, inv, 0.0), r)
    ok = np.pad(valid, r)
    h, w = inv.shape
    centre = np.where(valid, inv, 0.0)
    num = np.zeros((h, w))
    den = np.zeros((h, w))
    inv_2ss = -0.5 / sigma_space**2
    inv_2sr = -0.5 / sigma_range**2
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            spatial = np.exp((dy * dy + dx * dx) * inv_2ss)
            nb = src[r + dy : r + dy + h, r + dx : r + dx + w]
            nb_ok = ok[r + dy : r + dy + h, r + dx : r + dx + w]
            wgt = np.where(nb_ok, spatial * np.exp((nb - centre) ** 2 * inv_2sr), 0.0)
            num += wgt * nb
            den += wgt
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(valid, num / den, np.nan)
    return rewrap(out)


@renamed_keywords(size="size_px")
def median_filter(depth: D, *, size_px: int = 5) -> D:
    """Median of the valid pixels in a ``size_px`` x ``size_px`` window (edges stay where the majority puts them).

    Args:
        depth: a :class:`DepthMap` or an (H, W) float array (larger = nearer, NaN = invalid). Not modified.
        size_px: odd window side in pixels, 3..15.

    Returns:
        The same type as ``depth``; invalid pixels stay invalid. With an even number of valid neighbours the
        two middle values are averaged.
    """
    size = int(check_range(size_px, "size_px", low=3, high=15))
    if size % 2 == 0:
        from depthforge.core.errors import ValidationError

        raise ValidationError(f"size_px: must be odd, got {size}")
    inv, rewrap = unwrap(depth)
    inv32 = inv.astype(np.float32)
    if size > 5 or not np.isfinite(inv).all() or not np.array_equal(inv32, inv):
        out = _nan_median(inv, size)
        out[~np.isfinite(inv)] = np.nan
        return rewrap(out)
    import cv2

    # no NaN (and float32 values): OpenCV's median (float32 up to 5 x 5); its border replicates, ours shrinks the
    # window to the image, so the frame of ``size // 2`` pixels is redone on thin strips
    out = cv2.medianBlur(inv32, size).astype(np.float64)
    r = size // 2
    for a, b in ((inv, out), (inv.T, out.T)):  # top and bottom rows, then left and right columns
        b[:r] = _nan_median(a[: 2 * r], size)[:r]
        b[-r:] = _nan_median(a[-2 * r :], size)[-r:]
    return rewrap(out)


def _nan_median(inv: np.ndarray, size: int) -> np.ndarray:
    """Median of the finite values of each ``size`` x ``size`` window (inside the image), float64; the mean of
    the two middle values for an even count; NaN where the window has none."""
    r = size // 2
    h, w = inv.shape
    padded = np.pad(inv, r, constant_values=np.nan)
    out = np.full((h, w), np.nan)
    rows_per_chunk = max(1, 2_000_000 // (w * size * size))
    for y0 in range(0, h, rows_per_chunk):
        y1 = min(h, y0 + rows_per_chunk)
        win = np.lib.stride_tricks.sliding_window_view(padded[y0 : y1 + 2 * r], (size, size))
        stack = np.sort(win.reshape(y1 - y0, w, size * size), axis=2)  # NaN sorts last
        n = np.isfinite(stack).sum(axis=2)
        lo = np.take_along_axis(stack, np.maximum((n - 1) // 2, 0)[..., None], axis=2)[..., 0]
        hi = np.take_along_axis(stack, np.maximum(n // 2, 0)[..., None], axis=2)[..., 0]
        out[y0:y1] = 0.5 * (lo + hi)
    return out


def _box(a: np.ndarray, r: int) -> np.ndarray:
    """Sum over a (2r+1)^2 window, zero outside the image (float64)."""
    import cv2

    return cv2.boxFilter(a, cv2.CV_64F, (2 * r + 1, 2 * r + 1), normalize=False, borderType=cv2.BORDER_CONSTANT)


@renamed_keywords(radius="radius_px")
def guided_filter(image: np.ndarray | Image, depth: D, *, radius_px: int = 8, eps: float = 1e-3) -> D:
    """Guided filter: locally, depth = a . image + b fitted by least squares over each window, then averaged.

    Invalid depth pixels are left out of the fits (weighted box sums), so they do not pull valid ones.

    Args:
        image: the guide: an :class:`Image`, or an (H, W, 3) or (H, W) array, uint8/uint16 or float in [0, 1]
            (same size as ``depth``).
        depth: a :class:`DepthMap` or an (H, W) float array (larger = nearer, NaN = invalid). Not modified.
        radius_px: window half-size in pixels.
        eps: regularisation, in squared guide units ([0, 1] intensities); larger = smoother, edges weaker.

    Returns:
        The same type as ``depth``; invalid pixels stay invalid.
    """
    radius = int(check_range(radius_px, "radius_px", low=1, high=200))
    eps = check_positive(eps, "eps")
    img = check_image(image, ndim=(2, 3), channels=(1, 3), dtype_kind="uif")
    inv, rewrap = unwrap(depth)
    check_same_hw(inv, "depth", img, "image")
    guide = img.astype(np.float64)
    if img.dtype.kind in "ui":
        guide /= float(np.iinfo(img.dtype).max)
    if guide.ndim == 2:
        guide = guide[..., None]
    valid = np.isfinite(inv)
    m = valid.astype(np.float64)
    p = np.where(valid, inv, 0.0)
    n = np.maximum(_box(m, radius), 1e-9)
    c = guide.shape[2]
    mean_i = [_box(guide[..., k] * m, radius) / n for k in range(c)]
    mean_p = _box(p, radius) / n
    cov_ip = [_box(guide[..., k] * p, radius) / n - mean_i[k] * mean_p for k in range(c)]
    sig = np.empty((inv.shape[0], inv.shape[1], c, c))
    for i in range(c):
        for j in range(i, c):
            v = _box(guide[..., i] * guide[..., j] * m, radius) / n - mean_i[i] * mean_i[j]
            sig[..., i, j] = sig[..., j, i] = v
    sig += eps * np.eye(c)
    a = np.linalg.solve(sig, np.stack(cov_ip, axis=-1)[..., None])[..., 0]
    b = mean_p - np.einsum("hwk,khw->hw", a, np.stack(mean_i))
    # Average the coefficients over the windows holding each pixel (only windows that had valid depth).
    has = _box(m, radius) > 0.5
    cnt = np.maximum(_box(has.astype(np.float64), radius), 1e-9)
    a_mean = np.stack([_box(np.where(has, a[..., k], 0.0), radius) / cnt for k in range(c)], axis=-1)
    b_mean = _box(np.where(has, b, 0.0), radius) / cnt
    out = (a_mean * guide).sum(axis=2) + b_mean
    out[~valid] = np.nan
    return rewrap(out)


@renamed_keywords(max_size="max_size_px")
def remove_speckles(depth: D, *, max_size_px: int = 100, max_diff: float | None = None) -> D:
    """Invalidate small patches: 4-connected regions (neighbours differ by at most ``max_diff``) of fewer than
    ``max_size_px`` pixels, like stereo matchers' speckle filters.

    Args:
        depth: a :class:`DepthMap` or an (H, W) float array (larger = nearer, NaN = invalid). Not modified.
        max_size_px: patches smaller than this many pixels are removed.
        max_diff: largest inverse-depth step inside one patch (px for disparity, 1/m for metric); default 2 %
            of the value range (1st-99th percentile).

    Returns:
        The same type as ``depth`` with speckles set invalid (NaN).
    """
    import cv2

    max_size = int(check_range(max_size_px, "max_size_px", low=1))
    inv, rewrap = unwrap(depth)
    valid = np.isfinite(inv)
    if not valid.any():
        return rewrap(inv)
    if max_diff is None:
        max_diff = 0.02 * valid_range(inv)
    max_diff = check_positive(max_diff, "max_diff")
    # OpenCV's speckle filter works on int16: quantise the valid range onto +-32000 codes (1/64000 steps).
    lo, hi = float(inv[valid].min()), float(inv[valid].max())
    step = max((hi - lo) / 64000.0, max_diff / 1000.0, 1e-12)
    codes = np.full(inv.shape, -32768, dtype=np.int16)
    codes[valid] = np.round((inv[valid] - lo) / step - 32000).astype(np.int16)
    diff_codes = int(min(max(round(max_diff / step), 0), 32000))
    cv2.filterSpeckles(codes, -32768, max_size - 1, diff_codes)
    out = np.where(codes == -32768, np.nan, inv)
    return rewrap(out)
