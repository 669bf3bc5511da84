"""Compiled kernels: numba's ``njit`` and ``prange``, with Ctrl-C and SIGTERM held back while numba compiles.

numba compiles a kernel on its first call, or loads it from its cache, holding its compiler lock. LLVM calls back
into Python through ctypes meanwhile, and a signal handler that raises there (Ctrl-C's ``KeyboardInterrupt``, the
CLI's SIGTERM) raises inside the callback, where Python can only print the exception: the command printed a
traceback and ran to the end, or came back with a ``SystemError`` (interrupt fuzz campaign, seeds 2 and 16). So
while the main thread holds the compiler lock, SIGINT and SIGTERM are recorded instead, and delivered to the
handlers that were in place as soon as the lock is released: an interrupt comes at most one compilation late (a
few seconds on the first run of a kernel; nothing once numba's cache holds it), and is never lost. Other threads
are left alone: Python runs signal handlers in the main thread only.

Every kernel module imports ``njit`` and ``prange`` from here, so the listener is in place before any compiles.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from numba import njit, prange
from numba.core import event

__all__ = ["njit", "prange"]

_HELD = (signal.SIGINT, signal.SIGTERM)


class _HoldSignals(event.Listener):  # type: ignore[misc]
    """Records SIGINT and SIGTERM while the main thread holds numba's compiler lock; delivers them on release."""

    def __init__(self) -> None:
        self.depth = 0  # nested acquisitions by the main thread (the lock is re-entrant)
        self.saved: dict[int, Any] = {}
        self.pending: list[int] = []

    def on_start(self, event: Any) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        self.depth += 1
        if self.depth == 1:
            self.pending = []
            # a handler installed from C (getsignal gives None) cannot be put back from Python: leave it in place
            held = [s for s in _HELD if signal.getsignal(s) is not None]
            self.saved = {s: signal.signal(s, self._record) for s in held}

    def on_end(self, event: Any) -> None:
        if threading.current_thread() is not threading.main_thread() or self.depth == 0:
            return
        self.depth -= 1
        if self.depth == 0:
            for s, handler in self.saved.items():
                signal.signal(s, handler)
            pending, self.pending = list(dict.fromkeys(self.pending)), []
            for s in pending:  # the handler put back runs now (it may raise, or end the process)
                signal.raise_signal(s)

    def _record(self, signum: int, frame: FrameType | None) -> None:
        self.pending.append(signum)


event.register("numba:compiler_lock", _HoldSignals())
