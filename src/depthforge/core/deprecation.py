"""Renamed keyword arguments keep working for one release, with a :class:`DeprecationWarning`."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["renamed_keywords"]

F = TypeVar("F", bound=Callable[..., Any])


def renamed_keywords(**old_to_new: str) -> Callable[[F], F]:
    """Accept the old spelling of renamed keyword arguments, warn, and pass them on under the new name.

    The decorated function's signature (``inspect.signature``, the docs, the API snapshot) shows only the new
    names. Giving both spellings is a ``TypeError``, as for any duplicated argument.

    >>> @renamed_keywords(near="clip_near")
    ... def f(*, clip_near=None):
    ...     return clip_near
    >>> import warnings
    >>> with warnings.catch_warnings(record=True):
    ...     warnings.simplefilter("always")
    ...     f(near=0.5)
    0.5
    """

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in old_to_new.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(f"{fn.__name__}() got both {old}= and its new name {new}=")
                    warnings.warn(
                        f"{fn.__name__}(): {old}= is now {new}= (the old name will be removed in the next release)",
                        DeprecationWarning,
                        stacklevel=2,
                    )
                    kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
