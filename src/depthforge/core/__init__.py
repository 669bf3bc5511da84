"""Core types: :class:`DepthMap`, :class:`Image`, :class:`Intrinsics`, errors and validation."""

from depthforge.core.depthmap import DEPTH_KINDS, DepthKind, DepthMap
from depthforge.core.errors import (
    DepthforgeError,
    InputError,
    MissingExtraError,
    ModelError,
    ModelNotAvailableError,
    ValidationError,
)
from depthforge.core.image import Image
from depthforge.core.intrinsics import DEFAULT_HFOV_DEG, Intrinsics
from depthforge.core.validation import check_array, check_choice, check_positive, check_range, check_same_hw

__all__ = [
    "DEPTH_KINDS",
    "DEFAULT_HFOV_DEG",
    "DepthKind",
    "DepthMap",
    "DepthforgeError",
    "Image",
    "InputError",
    "Intrinsics",
    "MissingExtraError",
    "ModelError",
    "ModelNotAvailableError",
    "ValidationError",
    "check_array",
    "check_choice",
    "check_positive",
    "check_range",
    "check_same_hw",
]
