"""The one validation helper family: each check raises :class:`ValidationError` naming the bad parameter."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from depthforge.core.errors import ValidationError

__all__ = [
    "check_array",
    "check_choice",
    "check_range",
    "check_positive",
    "check_same_hw",
    "check_size_hw",
    "check_extent",
]


def check_array(
    value: Any,
    name: str,
    *,
    ndim: int | tuple[int, ...] | None = None,
    channels: int | tuple[int, ...] | None = None,
    dtype_kind: str | None = None,
    finite: bool = False,
) -> np.ndarray:
    """Check that ``value`` is a numpy array of the expected form and return it (not copied).

    Args:
        value: the array to check.
        name: the parameter name used in the error message.
        ndim: allowed number(s) of dimensions.
        channels: allowed size(s) of the last axis (only checked for 3-D arrays).
        dtype_kind: allowed numpy dtype kinds, e.g. ``"uif"`` (unsigned, signed, float).
        finite: require every value to be finite.

    Raises:
        ValidationError: naming ``name``, with expected and actual.
    """
    if not isinstance(value, np.ndarray):
        raise ValidationError(f"{name}: expected a numpy array, got {type(value).__name__}")
    limits = [(ndim, value.ndim, "dimensions")] + ([(channels, value.shape[2], "channels")] if value.ndim == 3 else [])
    for allowed, actual, what in limits:
        allowed = (allowed,) if isinstance(allowed, int) else allowed
        if allowed is not None and actual not in allowed:
            raise ValidationError(f"{name}: expected {' or '.join(map(str, allowed))} {what}, got shape {value.shape}")
    if value.size == 0:
        raise ValidationError(f"{name}: array is empty (shape {value.shape})")
    if dtype_kind is not None and value.dtype.kind not in dtype_kind:
        raise ValidationError(f"{name}: dtype {value.dtype} is not allowed (kinds '{dtype_kind}')")
    if finite and value.dtype.kind == "f" and not np.isfinite(value).all():
        raise ValidationError(f"{name}: contains NaN or infinite values")
    return value


def check_choice(value: Any, name: str, choices: Iterable[Any]) -> Any:
    """Check that ``value`` is one of ``choices`` and return it."""
    options = list(choices)
    if value not in options:
        raise ValidationError(f"{name}: {value!r} is not one of {', '.join(map(str, options))}")
    return value


def check_range(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """Check that a real number lies in a range and return it as ``float``."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValidationError(f"{name}: expected a number, got {value!r}") from None
    if not np.isfinite(x):
        raise ValidationError(f"{name}: expected a finite number, got {value!r}")
    if low is not None and (x < low or (x == low and not low_inclusive)):
        raise ValidationError(f"{name}: {x:g} is below the allowed range ({'>=' if low_inclusive else '>'} {low:g})")
    if high is not None and (x > high or (x == high and not high_inclusive)):
        raise ValidationError(f"{name}: {x:g} is above the allowed range ({'<=' if high_inclusive else '<'} {high:g})")
    return x


def check_int(value: Any, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """Check that ``value`` is an integer (not a bool, not a float) in ``low..high`` and return it as ``int``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValidationError(f"{name}: expected an integer, got {value!r:.60}")
    if (low is not None and value < low) or (high is not None and value > high):
        span = f"{'' if low is None else low}..{'' if high is None else high}"
        raise ValidationError(f"{name}: {int(value)} is outside the allowed range ({span})")
    return int(value)


def check_instance(value: Any, name: str, cls: type, *, example: str = "") -> Any:
    """Check that ``value`` is a ``cls`` (e.g. an options object, not a dict) and return it; ``example`` shows
    how one is made."""
    if not isinstance(value, cls):
        how = f" (e.g. {example})" if example else ""
        raise ValidationError(f"{name}: expected a {cls.__name__}{how}, got {type(value).__name__}")
    return value


def check_positive(value: Any, name: str) -> float:
    """Check that a number is finite and > 0 and return it as ``float``."""
    return check_range(value, name, low=0.0, low_inclusive=False)


def check_same_hw(a: np.ndarray, name_a: str, b: np.ndarray, name_b: str) -> None:
    """Check that two arrays share height and width (first two axes)."""
    if a.shape[:2] != b.shape[:2]:
        raise ValidationError(
            f"{name_b}: size {b.shape[1]}x{b.shape[0]} does not match {name_a} size {a.shape[1]}x{a.shape[0]}"
        )


def check_size_hw(value: Any, name: str = "size_hw") -> tuple[int, int]:
    """Check an image size given as ``(height, width)`` (two integers > 0) and return it as a tuple of ints."""
    try:
        h, w = value
        hi, wi = int(h), int(w)
    except (TypeError, ValueError):
        raise ValidationError(f"{name}: expected (height, width), got {value!r}") from None
    if hi != h or wi != w or hi <= 0 or wi <= 0:
        raise ValidationError(f"{name}: expected (height, width) as integers > 0, got {value!r}")
    return hi, wi


def check_extent(value: Any, name: str, *, shape: tuple[int, ...], positive: bool = False) -> float:
    """Check a distance in pixels (a radius, a blur sigma) on an image of ``shape`` (H, W, ...): finite, >= 0
    (> 0 with ``positive``) and at most the image's longer side (beyond it every such filter is a plain average,
    and its kernel would only cost time and memory). Returns it as ``float``."""
    return check_range(value, name, low=0.0, low_inclusive=not positive, high=float(max(shape[0], shape[1], 1)))
