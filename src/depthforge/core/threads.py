"""Threads: the process's one thread budget, and background threads that can be waited for safely.

:func:`thread_budget` is how many threads depthforge may keep busy at once: ``set_thread_budget(n)`` (the CLI's
``--threads``), else ``DEPTHFORGE_THREADS``, else ``OMP_NUM_THREADS``, else the cores this process may run on
(``os.sched_getaffinity``, which respects ``taskset`` and container CPU sets). Every pool of our own and every
library pool (torch, OpenCV, OpenVINO) is sized from it by :func:`limit_library_threads`; ``batch --workers N``
gives each worker process its share. numba kernels are single-threaded except ``render_stereo``'s, which sizes
numba's pool (per calling thread) from :func:`thread_budget` at each call. A stream's stage thread started with
``threads=`` (:func:`read_ahead`, :class:`WriteBehind`) has that share as its budget: the video path's decoder
and writer (colours, the 3D frames' stereo kernel) take one thread each while a CPU model keeps the budget busy.

On Python < 3.13, ``Thread.join()`` interrupted by a signal handler's exception (Ctrl-C's ``KeyboardInterrupt``,
the CLI's SIGTERM) may mark the thread as ended while it still runs, so a second ``join()`` returns at once and
the caller moves or closes what the thread is still writing. :class:`Worker` waits on an event its target sets
when it returns, which a second wait honours.

Stages of a stream overlap through bounded queues: :func:`read_ahead` runs an iterator (decoding, preparing) in a
background thread a few items ahead of its consumer, and :class:`WriteBehind` runs a consumer (encoding,
writing) in a background thread a few items behind its producer; memory stays bounded by the queue sizes.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

from depthforge.core.errors import ValidationError

__all__ = [
    "MAX_THREADS",
    "Worker",
    "WriteBehind",
    "limit_library_threads",
    "put_unless_stopped",
    "read_ahead",
    "set_thread_budget",
    "thread_budget",
]

#: The most threads any budget, pool or worker count may ask for (larger numbers overflow C libraries' ints).
MAX_THREADS = 4096

_OVERRIDE: int | None = None
_LOCAL = threading.local()  # .budget: a stage thread's share (read_ahead / WriteBehind ``threads=``)
_END = object()
T = TypeVar("T")


def _available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def thread_budget() -> int:
    """Threads depthforge may keep busy at once in this process (>= 1; see the module docstring); in a stage
    thread started with ``threads=`` (:func:`read_ahead`, :class:`WriteBehind`), that thread's share."""
    share = getattr(_LOCAL, "budget", None)
    budget = _process_budget()
    return budget if share is None else min(int(share), budget)


def _process_budget() -> int:
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
    """Set the budget for this process (None: back to ``DEPTHFORGE_THREADS`` or the available cores). torch and
    OpenCV, when already imported, follow at once (:func:`limit_library_threads`); an OpenVINO graph compiled
    before keeps its count (set the budget before loading such a model)."""
    import sys

    global _OVERRIDE
    _check_threads(threads)
    _OVERRIDE = threads
    if "torch" in sys.modules or "cv2" in sys.modules:  # user trial 5: a loaded model kept the old count
        limit_library_threads()


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


def put_unless_stopped(q: queue.Queue[Any], item: Any, stop: threading.Event) -> bool:
    """Put ``item`` on ``q``, waiting while it is full; gives up (False) once ``stop`` is set, so no thread hangs on a
    full queue whose consumer has stopped."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _get(q: queue.Queue[Any], stop: threading.Event | None = None) -> Any:
    """Blocking get in short waits (so Ctrl-C reaches the waiting thread at once); the end mark once ``stop`` is
    set and nothing is queued."""
    while True:
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            if stop is not None and stop.is_set():
                return _END


def _check_threads(threads: int | None) -> None:
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValidationError(f"threads: expected a whole number >= 1, got {threads!r}")
    if threads is not None and threads > MAX_THREADS:
        raise ValidationError(f"threads: {threads} is above the allowed range (<= {MAX_THREADS})")


def read_ahead(
    items: Iterable[T], *, size: int = 2, name: str = "depthforge-ahead", threads: int | None = None
) -> Iterator[T]:
    """The items of ``items`` in order, produced in a background thread up to ``size`` items ahead.

    ``threads``: the producing thread's :func:`thread_budget` (the work it calls sizes its pools from it), for a
    stage that runs while another keeps the process's budget busy; None: the process's budget.

    An exception raised while producing is raised here, after the items produced before it. When the consumer
    stops early (``break``, an exception, ``close()``), the producer stops at its next item and ``items`` is
    closed (a generator's ``finally`` runs, e.g. an ffmpeg child is ended) before this returns.
    """
    if not isinstance(size, int) or size < 1:
        raise ValidationError(f"size: expected an integer >= 1, got {size!r}")
    _check_threads(threads)
    q: queue.Queue[Any] = queue.Queue(maxsize=size)
    stop = threading.Event()
    failures: list[BaseException] = []

    def produce() -> None:
        _LOCAL.budget = threads
        source = iter(items)
        try:
            for item in source:
                if not put_unless_stopped(q, item, stop):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            failures.append(exc)
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()
            put_unless_stopped(q, _END, stop)

    worker = Worker(produce, name=name)
    try:
        while (item := _get(q)) is not _END:
            yield item
        if failures:
            raise failures[0]
    finally:
        stop.set()
        worker.wait()


class WriteBehind(Generic[T]):
    """Calls ``consume(item)`` for every :meth:`put` item, in order, in a background thread at most ``size`` items
    behind the producer; :meth:`close` waits for the last one. An exception raised by ``consume`` stops it and is
    raised by the next :meth:`put` or by :meth:`close`; :meth:`abort` drops what is queued and waits for the item
    in progress (use it before cleaning up what ``consume`` writes to). ``threads``: the consuming thread's
    :func:`thread_budget`, as in :func:`read_ahead`."""

    def __init__(
        self,
        consume: Callable[[T], None],
        *,
        size: int = 2,
        name: str = "depthforge-behind",
        threads: int | None = None,
    ) -> None:
        if not isinstance(size, int) or size < 1:
            raise ValidationError(f"size: expected an integer >= 1, got {size!r}")
        _check_threads(threads)
        self._threads = threads
        self._consume = consume
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=size)
        self._stop = threading.Event()
        self._failures: list[BaseException] = []
        self._worker = Worker(self._run, name=name)

    def _run(self) -> None:
        _LOCAL.budget = self._threads
        try:
            while (item := _get(self._queue, self._stop)) is not _END and not self._stop.is_set():
                self._consume(item)
        except BaseException as exc:  # noqa: BLE001 - handed to the producer
            self._failures.append(exc)
            self._stop.set()

    def _raise(self) -> None:
        if self._failures:
            raise self._failures[0]

    def put(self, item: T) -> None:
        """Queue one item (blocks while ``size`` items wait)."""
        self._raise()
        if not put_unless_stopped(self._queue, item, self._stop):
            self._raise()

    def close(self) -> None:
        """Wait until every queued item is consumed; raise the consumer's exception if it had one."""
        put_unless_stopped(self._queue, _END, self._stop)
        self._worker.wait()
        self._raise()

    def abort(self) -> None:
        """Stop after the item in progress and wait for it; queued items are dropped, exceptions are not raised."""
        self._stop.set()
        self._worker.wait()
