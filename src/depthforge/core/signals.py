"""Signals: Ctrl-C (SIGINT) and SIGTERM held back where a handler that raises would do harm, and raised again where
Python could not raise them.

Python runs a signal's handler in the main thread, between any two bytecodes. Where the handler's exception cannot
go anywhere useful (inside a callback from compiled code, half-way through starting a process or a library), the
signal is held back instead: :class:`SignalHold` records it and delivers it to the handlers that were in place when
the hold ends, SIGTERM first; an interrupt comes late, never lost. :func:`blocked` only masks the calling thread (the
kernel gives a signal sent to the process to another thread, and Python still runs its handler in the main one): it
makes a process started meanwhile start with the signals blocked, and keeps a handler swap whole.
"""

from __future__ import annotations

import _thread
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

__all__ = ["HELD", "SignalHold", "blocked", "deliver_lost_interrupts", "held_signals"]

#: The signals a command line stops on: Ctrl-C, and SIGTERM (which the CLI turns into an interrupt).
HELD = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def blocked(signals: tuple[int, ...] = HELD) -> Iterator[None]:
    """``signals`` blocked for this thread meanwhile (not for the process: see the module's docstring), so a process
    started meanwhile starts with them blocked (it inherits the mask). Nothing where POSIX masks are missing."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


class SignalHold:
    """Records SIGINT and SIGTERM from :meth:`enter` to :meth:`leave` (nested calls count) in the main thread, and
    delivers them when the outermost hold ends; calls from other threads do nothing (Python runs signal handlers in
    the main thread only). The handlers are swapped with both signals blocked and put back whatever happens; a
    handler the held code installs meanwhile is replaced by the one from before the hold."""

    def __init__(self) -> None:
        self.depth = 0
        self.saved: dict[int, Any] = {}
        self.pending: list[int] = []

    def enter(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        if self.depth == 0:
            with blocked():
                self.saved = _swap(self._record)
        self.depth += 1

    def leave(self) -> None:
        if threading.current_thread() is not threading.main_thread() or self.depth == 0:
            return
        self.depth -= 1
        if self.depth:
            return
        with blocked():
            pending, self.pending = set(self.pending), []  # first: a handler run by the restore cannot leave them
            saved, self.saved = self.saved, {}
            _restore(saved)
        for s in sorted(pending, key=lambda s: s != signal.SIGTERM):  # the handlers put back run now (may raise)
            signal.raise_signal(s)

    def _record(self, signum: int, frame: FrameType | None) -> None:
        self.pending.append(signum)


@contextmanager
def held_signals() -> Iterator[None]:
    """SIGINT and SIGTERM held back while the body runs (see :class:`SignalHold`), delivered when it ends."""
    hold = SignalHold()
    hold.enter()
    try:
        yield
    finally:
        hold.leave()


def _swap(handler: Any) -> dict[int, Any]:
    """Install ``handler`` for SIGINT and SIGTERM; returns the handlers it replaced (a handler installed from C,
    which Python cannot put back, or ``handler`` itself, is left in place)."""
    saved: dict[int, Any] = {}
    try:
        for s in HELD:
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


def deliver_lost_interrupts() -> None:
    """Make a Ctrl-C (or the CLI's SIGTERM) that Python could not raise count: raise it again, 50 ms later.

    Python runs a signal's handler between any two bytecodes, including inside a callback that cannot raise (a
    weakref's, an import lock's); the ``KeyboardInterrupt`` then goes to :data:`sys.unraisablehook`, which prints
    "Exception ignored ... Traceback" and forgets it, so the command goes on. Installed (once) by the CLI and by
    batch workers, this hook sends the same signal to the main thread again (``exc.signum``, default SIGINT) from a
    timer thread (a signal raised inside the hook would be lost the same way); other unraisable errors go to the
    hook that was there before.
    """
    previous = sys.unraisablehook
    if getattr(previous, "_depthforge", False):
        return

    def hook(args: sys.UnraisableHookArgs) -> None:
        if isinstance(args.exc_value, KeyboardInterrupt):
            signum = getattr(args.exc_value, "signum", signal.SIGINT)
            threading.Timer(0.05, _raise_in_main, (signum,)).start()
            return
        previous(args)

    hook._depthforge = True  # type: ignore[attr-defined]
    sys.unraisablehook = hook


def _raise_in_main(signum: int) -> None:
    """``signum`` sent to the main thread: it wakes a blocking wait, stays pending while blocked, and takes the
    default action once the handler is the default (a real signal; Windows: Python's flag only)."""
    if hasattr(signal, "pthread_kill"):
        signal.pthread_kill(threading.main_thread().ident or 0, signum)
    else:
        _thread.interrupt_main(signal.Signals(signum))
