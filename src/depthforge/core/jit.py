"""Compiled kernels: numba's ``njit`` and ``prange``, with Ctrl-C and SIGTERM held back while numba compiles.

numba compiles a kernel on its first call, or loads it from its cache, holding its compiler lock. LLVM calls back
into Python through ctypes meanwhile, and a signal handler that raises there (Ctrl-C's ``KeyboardInterrupt``, the
CLI's SIGTERM) raises inside the callback, where Python can only print the exception: the command printed a
traceback and ran to the end, or came back with a ``SystemError`` or a broken compile (interrupt fuzz campaign,
seeds 2 and 16; RESULTS.md). So from the moment the main thread asks for the compiler lock (waiting for another
thread's compilation included) until it releases it, SIGINT and SIGTERM are recorded instead, and delivered to
the handlers that were in place as soon as it is released, SIGTERM first: an interrupt comes at most one
compilation late (a few seconds on the first run of a kernel; nothing once numba's cache holds it), and is never
lost. The handlers are swapped with both signals blocked, and put back whatever happens. Other threads are left
alone: Python runs signal handlers in the main thread only. (A signal delivered at the release raises from this
listener's end event, so listeners registered after it miss that one event.)

Every kernel module imports ``njit`` and ``prange`` from here, so the listener is in place before any compiles.
"""

from __future__ import annotations

from typing import Any

from numba import njit, prange
from numba.core import event

from depthforge.core.signals import SignalHold

__all__ = ["njit", "prange"]


class _HoldSignals(event.Listener):  # type: ignore[misc]
    """Holds SIGINT and SIGTERM while the main thread holds numba's compiler lock; delivers them on release."""

    def __init__(self) -> None:
        self.hold = SignalHold()

    def on_start(self, event: Any) -> None:
        self.hold.enter()

    def on_end(self, event: Any) -> None:
        self.hold.leave()


event.register("numba:compiler_lock", _HoldSignals())
