"""Background threads that can be waited for safely while the user presses Ctrl-C.

On Python < 3.13, ``Thread.join()`` interrupted by a signal handler's exception (Ctrl-C's ``KeyboardInterrupt``,
the CLI's SIGTERM) may mark the thread as ended while it still runs, so a second ``join()`` returns at once and
the caller moves or closes what the thread is still writing. :class:`Worker` waits on an event its target sets
when it returns, which a second wait honours.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["Worker"]


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
