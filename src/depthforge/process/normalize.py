"""Display normalisation: depth -> [0, 1] with near = white. Only for images made for display or export.

Processing never rescales silently; these functions are called where a display image is made.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from depthforge.core.deprecation import renamed_keywords
from depthforge.core.depthmap import DepthMap, depth_arrays, nan_min_max
from depthforge.core.errors import ValidationError
from depthforge.core.validation import check_range

__all__ = [
    "DisplayRange",
    "check_display_options",
    "display_range",
    "to_display",
    "display_codes",
    "display_code_rows",
    "invert_relative",
]


@dataclass(frozen=True)
class DisplayRange:
    """The inverse-depth values mapped to 0 (far, black) and 1 (near, white).

    Attributes:
        far, near: values of :meth:`DepthMap.inverse_depth` (the map's units: none, 1/m or px), not distances and
            not fractions; named as in the files' metadata (``{"far": ..., "near": ...}``) that records them.
    """

    far: float
    near: float


def check_display_options(
    *,
    clip_near: float | None = None,
    clip_far: float | None = None,
    percentiles: tuple[float, float] | None = None,
) -> tuple[float, float, tuple[float, float] | None]:
    """The display options of :func:`display_range`, checked: ``(clip_near, clip_far, percentiles)`` with the
    clip points' defaults filled in (1 and 0).

    Raises:
        ValidationError: a clip point outside [0, 1] or ``clip_far >= clip_near``; percentiles outside [0, 100]
            or not increasing.
    """
    pct = None
    if percentiles is not None:
        pct = (
            check_range(percentiles[0], "percentiles[0]", low=0, high=100),
            check_range(percentiles[1], "percentiles[1]", low=0, high=100),
        )
        if pct[0] >= pct[1]:
            raise ValidationError(f"percentiles: low {pct[0]:g} must be below high {pct[1]:g}")
    f = check_range(clip_far, "clip_far", low=0, high=1) if clip_far is not None else 0.0
    n = check_range(clip_near, "clip_near", low=0, high=1) if clip_near is not None else 1.0
    if f >= n:
        raise ValidationError(f"clip_far: the far point {f:g} must be below the near point {n:g}")
    return n, f, pct


@renamed_keywords(near="clip_near", far="clip_far")
@depth_arrays
def display_range(
    depth: DepthMap,
    *,
    clip_near: float | None = None,
    clip_far: float | None = None,
    percentiles: tuple[float, float] | None = None,
) -> DisplayRange:
    """The range of inverse depth (larger = nearer) that becomes [0, 1].

    Args:
        depth: any kind; metric maps use 1/z, so near is white for every kind.
        clip_near, clip_far: clip points as fractions [0, 1] of the full min..max range (``clip_far`` <
            ``clip_near``); e.g. ``clip_far=0.1`` maps everything in the farthest 10 % to black.
        percentiles: (low, high) percentiles (0..100) of the valid values used as far and near instead of
            min and max; robust to outliers.
    """
    inv = depth.inverse_depth()
    lo, hi = nan_min_max(inv) if depth.kind == "metric" else depth.value_range()  # else inv is the values
    if percentiles is not None or not (np.isfinite(lo) and np.isfinite(hi)):  # or infinities (1/z of a tiny z)
        valid = inv[np.isfinite(inv)]
        if valid.size == 0:
            return DisplayRange(0.0, 1.0)
        lo, hi = float(valid.min()), float(valid.max())
    n, f, pct = check_display_options(clip_near=clip_near, clip_far=clip_far, percentiles=percentiles)
    if pct is not None:
        lo, hi = (float(v) for v in np.percentile(valid, pct))
    span = hi - lo
    return DisplayRange(lo + f * span, lo + n * span)


@renamed_keywords(near="clip_near", far="clip_far")
@depth_arrays
def to_display(
    depth: DepthMap,
    *,
    invert: bool = False,
    clip_near: float | None = None,
    clip_far: float | None = None,
    percentiles: tuple[float, float] | None = None,
    value_range: DisplayRange | None = None,
) -> tuple[np.ndarray, DisplayRange]:
    """Normalise for display.

    Args:
        depth: any kind (metric maps through 1/z, so near is white for every kind).
        invert: near = black instead of white.
        clip_near, clip_far, percentiles: the range, see :func:`display_range`.
        value_range: a range already chosen (e.g. for every frame of a clip); overrides the three above.

    Returns:
        (H, W) float32 in [0, 1], near = 1 (white), far = 0; invalid pixels 0 (or 1 when inverted), and the
        range used (so the encoding can be undone). ``invert`` flips to near = black.
    """
    rng = value_range or display_range(depth, clip_near=clip_near, clip_far=clip_far, percentiles=percentiles)
    return _normalise(depth.inverse_depth(), rng, invert), rng


def _normalise(inv: np.ndarray, rng: DisplayRange, invert: bool) -> np.ndarray:
    """(inv - far) / (near - far) clipped to [0, 1], NaN -> 0, optionally 1 - that: a new float32 array."""
    span = rng.near - rng.far
    if span > 0:
        # float32 in place: (inv - far) / span, then fmax/fmin clip to [0, 1] and turn NaN into 0 in one go
        scale = 1.0 / span
        out = np.subtract(inv, np.float32(rng.far), dtype=np.float32)
        np.multiply(out, np.float32(scale), out=out)
        np.fmax(out, np.float32(0.0), out=out)
        np.fmin(out, np.float32(1.0), out=out)
    else:
        out = np.full(inv.shape, 0.5, dtype=np.float32)
    if invert:
        np.subtract(np.float32(1.0), out, out=out)
    return out


def display_codes(
    depth: DepthMap, *, top: int, invert: bool = False, value_range: DisplayRange | None = None, **range_options: Any
) -> tuple[np.ndarray, DisplayRange]:
    """:func:`to_display` quantised to integer codes ``round(display * top)`` (the display PNG's values), with no
    full-size float temporary (beyond 1/z for metric maps).

    Args:
        top: 255 (uint8 codes) or 65535 (uint16 codes).
        invert, value_range: as :func:`to_display`.
        range_options: ``clip_near``, ``clip_far``, ``percentiles`` of :func:`display_range` (without
            ``value_range``).

    Returns:
        (H, W) uint8 or uint16 codes (near = top unless ``invert``; invalid pixels 0, or top when inverted) and
        the range used.
    """
    rng = value_range or display_range(depth, **range_options)
    return display_code_rows(depth, rng, top=top, invert=invert)(0, depth.shape[0]), rng


def display_code_rows(
    depth: DepthMap, rng: DisplayRange, *, top: int, invert: bool = False
) -> Callable[[int, int], np.ndarray]:
    """The codes of :func:`display_codes` computed on request for rows r0..r1 (thread-safe; for relative maps and
    disparity no full-size temporary, metric maps take 1/z once), for encoders that consume an image a few rows
    at a time.

    Returns:
        ``rows(r0, r1)`` -> (r1 - r0, W) uint8 (``top`` 255) or uint16 (``top`` 65535) codes.
    """
    from depthforge.process._normalize_numba import quantise_rows

    inv = depth.inverse_depth()
    dtype = np.uint16 if top > 255 else np.uint8
    span = rng.near - rng.far

    def rows(r0: int, r1: int) -> np.ndarray:
        if span <= 0:  # no range: every pixel mid-grey, as :func:`to_display`
            return np.full((r1 - r0, inv.shape[1]), int(0.5 * top + 0.5), dtype)
        out = np.empty((r1 - r0, inv.shape[1]), dtype)
        quantise_rows(inv[r0:r1].astype(np.float32, copy=False), rng.far, 1.0 / span, top, invert, out)
        return out

    return rows


@depth_arrays
def invert_relative(depth: DepthMap) -> DepthMap:
    """Flip a relative map's ordering (near <-> far) within its own range: v -> max + min - v.

    For models or files whose convention is larger = farther. Only meaningful for ``relative`` maps.
    """
    if depth.kind != "relative":
        raise ValidationError(f"kind: only relative maps can be inverted, this one is {depth.kind}")
    lo, hi = depth.value_range()
    return depth if np.isnan(lo) else depth.with_values((hi + lo) - depth.values)
