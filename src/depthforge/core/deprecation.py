"""Renamed keyword arguments and attributes keep working for one release, with a :class:`DeprecationWarning`."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["renamed_keywords", "renamed_attribute"]

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


def renamed_attribute(new: str, old: str) -> Any:
    """A read-only property under the old name ``old`` that warns and returns the attribute ``new`` (a field or a
    method) of the instance.

    >>> class P:
    ...     nearness = 1.0
    ...     near = renamed_attribute("nearness", "near")
    >>> with warnings.catch_warnings(record=True):
    ...     warnings.simplefilter("always")
    ...     P().near
    1.0
    """

    def get(self: Any) -> Any:
        warnings.warn(
            f"{type(self).__name__}.{old} is now .{new} (the old name will be removed in the next release)",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(self, new)

    return property(get, doc=f"Deprecated: the old name of :attr:`{new}`.")
