"""One error hierarchy for depthforge.

Every error a user can cause derives from :class:`DepthforgeError`; front ends (CLI, web) turn these into a
one-line message (CLI exit status 2) instead of a traceback.
"""

from __future__ import annotations

__all__ = [
    "DepthforgeError",
    "InputError",
    "OutputError",
    "TooLargeError",
    "ValidationError",
    "ModelError",
    "ModelNotAvailableError",
    "MissingExtraError",
    "raise_if_interrupted",
]


class DepthforgeError(Exception):
    """Base class of every error depthforge raises on purpose."""


class ValidationError(DepthforgeError, ValueError):
    """A parameter has a wrong value, type or shape (the message names the parameter)."""


class InputError(DepthforgeError):
    """An input file is missing, unreadable, corrupt or too large (the message names the file)."""


class TooLargeError(InputError):
    """An input is larger than a limit: bytes, pixels (all pages together), pages (a server answers 413)."""


class OutputError(DepthforgeError):
    """An output cannot be written: a folder that is a file, no permission, no space, a name too long (the message
    names the path)."""


class ModelError(DepthforgeError):
    """A model name is unknown or a model cannot be loaded or run."""


class ModelNotAvailableError(ModelError):
    """The model is not cached and the hub cannot be reached (offline)."""


class MissingExtraError(DepthforgeError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(f"this feature needs '{module}': pip install 'depthforge[{extra}]'")
        self.module = module
        self.extra = extra


def raise_if_interrupted(exc: BaseException) -> None:
    """Re-raise the Ctrl-C (or the CLI's SIGTERM) behind ``exc``, if one is in its cause or context chain.

    An interrupt that lands inside compiled code can come back wrapped: numba's dispatcher, interrupted while it
    compiles, returns ``SystemError("... returned a result with an exception set")`` whose context is the
    ``KeyboardInterrupt``. Code that catches ``Exception`` to report a failure calls this first, so an interrupt
    stops the run instead of being recorded as one item's failure.
    """
    seen: set[int] = set()
    inner: BaseException | None = exc
    while inner is not None and id(inner) not in seen:
        if isinstance(inner, KeyboardInterrupt):
            raise inner
        seen.add(id(inner))
        inner = inner.__cause__ or inner.__context__
