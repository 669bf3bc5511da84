"""Private helpers shared by the depth processing modules: accept a DepthMap or a bare array, give the same back."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np

from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import ValidationError
from depthforge.core.validation import check_array

D = TypeVar("D", DepthMap, np.ndarray)


def unwrap(depth: D, name: str = "depth") -> tuple[np.ndarray, Callable[[np.ndarray], D]]:
    """Split ``depth`` into its inverse-depth values (larger = nearer, NaN = invalid) and a function that turns
    processed inverse-depth values back into the caller's type and kind.

    Working in inverse depth keeps every kind on one footing: planes are affine in inverse depth, and
    "farther" is always "smaller". Bare arrays are taken as larger = nearer (disparity-like) values.

    Returns:
        (values (H, W) float64 copy, rewrap).
    """
    if isinstance(depth, DepthMap):
        dm = depth

        def rewrap_map(out: np.ndarray) -> DepthMap:
            if dm.kind == "metric":
                with np.errstate(divide="ignore", invalid="ignore"):
                    out = 1.0 / out
            return dm.with_values(np.asarray(out, dtype=np.float32))

        if dm.kind != "metric":
            return dm.inverse_depth().astype(np.float64), rewrap_map  # type: ignore[return-value]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # float64: 1 / (1 / z) gives z back
            return 1.0 / dm.values.astype(np.float64), rewrap_map  # type: ignore[return-value]
    if not isinstance(depth, np.ndarray):
        raise ValidationError(f"{name}: expected a DepthMap or a numpy array, got {type(depth).__name__}")
    arr = check_array(depth, name, ndim=2, dtype_kind="uif")
    dtype = arr.dtype if arr.dtype.kind == "f" else np.dtype(np.float32)
    inv = arr.astype(np.float64)
    inv[~np.isfinite(inv)] = np.nan
    return inv, lambda out: np.asarray(out, dtype=dtype)  # type: ignore[return-value]


def valid_range(values: np.ndarray) -> float:
    """A robust spread of the valid values (1st to 99th percentile), > 0; 1.0 when there is no spread."""
    ok = values[np.isfinite(values)]
    if ok.size < 2:
        return 1.0
    lo, hi = np.percentile(ok, [1.0, 99.0])
    span = float(hi - lo)
    if span <= 0:
        span = float(np.max(np.abs(ok))) or 1.0
    return span
