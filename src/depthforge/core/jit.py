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

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
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
        if self.depth == 0:
            with _blocked():
                self.saved = _swap(self._record)
        self.depth += 1

    def on_end(self, event: Any) -> None:
        if threading.current_thread() is not threading.main_thread() or self.depth == 0:
            return
        self.depth -= 1
        if self.depth:
            return
        with _blocked():
            saved, self.saved = self.saved, {}
            _restore(saved)
            pending, self.pending = set(self.pending), []
        for s in sorted(pending, key=lambda s: s != signal.SIGTERM):  # the handlers put back run now (may raise)
            signal.raise_signal(s)

    def _record(self, signum: int, frame: FrameType | None) -> None:
        self.pending.append(signum)


@contextmanager
def _blocked() -> Iterator[None]:
    """SIGINT and SIGTERM held by the kernel for this thread meanwhile (delivered when unblocked)."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _swap(handler: Any) -> dict[int, Any]:
    """Install ``handler`` for SIGINT and SIGTERM; returns the handlers it replaced (a handler installed from C,
    which Python cannot put back, or ``handler`` itself, is left in place)."""
    saved: dict[int, Any] = {}
    try:
        for s in _HELD:
            old = signal.getsignal(s)
            if old is not None and old is not handler:
                signal.signal(s, handler)
                saved[s] = old
    except BaseException:
        _restore(saved)
        raise
    return saved


def _restore(saved: dict[int, Any]) -> None:
    """Put ``saved`` handlers back, all of them even when a handler raises in between."""
    left = dict(saved)
    try:
        for s, handler in saved.items():
            signal.signal(s, handler)
            del left[s]
    finally:
        for s, handler in left.items():
            signal.signal(s, handler)


event.register("numba:compiler_lock", _HoldSignals())
