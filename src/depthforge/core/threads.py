"""Threads: the process's one thread budget, and background threads that can be waited for safely.

:func:`thread_budget` is how many threads depthforge may keep busy at once: ``set_thread_budget(n)`` (the CLI's
``--threads``), else ``DEPTHFORGE_THREADS``, else ``OMP_NUM_THREADS``, else the cores this process may run on
(``os.sched_getaffinity``, which respects ``taskset`` and container CPU sets). Every pool of our own and every
library pool (torch, OpenCV, OpenVINO; numba kernels here are single-threaded) is sized from it by
:func:`limit_library_threads`; ``batch --workers N`` gives each worker process its share.

On Python < 3.13, ``Thread.join()`` interrupted by a signal handler's exception (Ctrl-C's ``KeyboardInterrupt``,
the CLI's SIGTERM) may mark the thread as ended while it still runs, so a second ``join()`` returns at once and
the caller moves or closes what the thread is still writing. :class:`Worker` waits on an event its target sets
when it returns, which a second wait honours.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from depthforge.core.errors import ValidationError

__all__ = ["Worker", "limit_library_threads", "set_thread_budget", "thread_budget"]

_OVERRIDE: int | None = None


def _available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def thread_budget() -> int:
    """Threads depthforge may keep busy at once in this process (>= 1; see the module docstring)."""
    if _OVERRIDE is not None:
        return _OVERRIDE
    for name in ("DEPTHFORGE_THREADS", "OMP_NUM_THREADS"):
        text = os.environ.get(name, "").strip()
        if text:
            try:
                value = int(text)
            except ValueError:
                raise ValidationError(f"{name}: expected a whole number >= 1, got {text[:40]!r}") from None
            if value < 1:
                raise ValidationError(f"{name}: expected a whole number >= 1, got {value}")
            return value
    return _available_cores()


def set_thread_budget(threads: int | None) -> None:
    """Set the budget for this process (None: back to ``DEPTHFORGE_THREADS`` or the available cores)."""
    global _OVERRIDE
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValidationError(f"threads: expected a whole number >= 1, got {threads!r}")
    _OVERRIDE = threads


def limit_library_threads(threads: int | None = None) -> int:
    """Size the thread pools of torch (intra-op; inter-op once, before its first parallel work) and OpenCV to
    ``threads`` (default :func:`thread_budget`); torch only if this process has imported it, OpenCV always (an
    OpenCV pool sized after its first use keeps a spinning spare thread); returns the count.
    Called when a model is loaded and by the command line, so importing depthforge changes nothing by itself."""
    import sys

    n = thread_budget() if threads is None else threads
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != n:
        torch.set_num_threads(n)
    import cv2  # a base dependency, imported here so that its pool is sized before its first parallel call

    if cv2.getNumThreads() != n:
        cv2.setNumThreads(n)
    return n


class Worker:
    """A started daemon thread running ``target(*args)``; :meth:`wait` returns once the target has returned."""

    def __init__(self, target: Callable[..., Any], *args: Any, name: str | None = None) -> None:
        self._target = target
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=args, name=name, daemon=True)
        self._thread.start()

    def _run(self, *args: Any) -> None:
        try:
            self._target(*args)
        finally:
            self._done.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the target has returned (or ``timeout`` seconds passed); True when it has. An interrupted
        wait may simply be called again."""
        return self._done.wait(timeout)

    @property
    def running(self) -> bool:
        """Whether the target has not returned yet."""
        return not self._done.is_set()
