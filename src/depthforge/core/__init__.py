"""Core types: :class:`DepthMap`, :class:`Image`, :class:`Intrinsics`, errors, validation and the thread budget."""

from depthforge.core.depthmap import DEPTH_KINDS, DepthKind, DepthMap, as_depthmap
from depthforge.core.errors import (
    DepthforgeError,
    InputError,
    MissingExtraError,
    ModelError,
    ModelNotAvailableError,
    OutputError,
    TooLargeError,
    ValidationError,
)
from depthforge.core.image import Image, check_image, to_uint8
from depthforge.core.intrinsics import DEFAULT_HFOV_DEG, Intrinsics
from depthforge.core.threads import set_thread_budget, thread_budget
from depthforge.core.validation import (
    check_array,
    check_choice,
    check_positive,
    check_range,
    check_same_hw,
    check_size_hw,
)

__all__ = [
    "DEFAULT_HFOV_DEG",
    "DEPTH_KINDS",
    "DepthKind",
    "DepthMap",
    "DepthforgeError",
    "Image",
    "InputError",
    "Intrinsics",
    "MissingExtraError",
    "ModelError",
    "ModelNotAvailableError",
    "OutputError",
    "TooLargeError",
    "ValidationError",
    "as_depthmap",
    "check_array",
    "check_choice",
    "check_image",
    "check_positive",
    "check_range",
    "check_same_hw",
    "check_size_hw",
    "set_thread_budget",
    "thread_budget",
    "to_uint8",
]
