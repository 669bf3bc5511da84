"""The local engine of :mod:`depthforge.pipeline.batch`: a pool of worker processes, each loading the model once.

Workers are started with the 'spawn' context (safe with torch's threads) and each keeps at most its share of the
thread budget busy (``cores // workers``): it decodes, predicts and writes one item after the other, with every
library pool sized to the share. A worker dies with the driving process (even on ``kill -9``), so a killed run
leaves no writer behind, and holds a shared lock on the output folder's workers lock file; the next run waits for
those to be released before it removes the killed run's temporary files.

A terminal's Ctrl-C reaches the whole process group, workers included. The driver says it, once, and stops the
pool: queued items are cancelled (the few already handed to the pool fail at once), running ones stop. A worker
starts with SIGINT blocked (blocked in the thread that starts it, and a process inherits its mask), so a Ctrl-C
while it imports waits for its initializer, which then exits; once its model is loaded, a Ctrl-C stops the item it
works on and every later one, and does nothing while it waits for work or exits. At each of these moments it used
to print its traceback (the interrupt fuzz campaign). A driver that ignores SIGINT has workers that ignore it.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing.context import SpawnContext, SpawnProcess
from typing import Any

from depthforge.core.errors import ModelError
from depthforge.core.signals import blocked, deliver_lost_interrupts, held_signals
from depthforge.core.threads import limit_library_threads, thread_budget
from depthforge.pipeline.batch_work import (
    WORKERS_LOCK,
    BatchJob,
    WorkItem,
    failure_reason,
    limit_pools,
    load_for_worker,
    process_item,
)
from depthforge.pipeline.manifest import OutputRecord

__all__ = ["run_local"]


_WORKER: dict[str, Any] = {}
_SIGINT = (signal.SIGINT,)


class _WorkerProcess(SpawnProcess):
    """A spawned worker that starts with SIGINT blocked (see the module's docstring)."""

    def start(self) -> None:
        with blocked(_SIGINT):
            super().start()


class _WorkerContext(SpawnContext):
    """The 'spawn' context (safe with torch's threads), with :class:`_WorkerProcess`."""

    Process = _WorkerProcess


def _on_interrupt(signum: int, frame: object) -> None:
    """A worker's SIGINT (the driver has been interrupted too): stops the item it is working on, and every item it
    is given after (the few already queued, which the pool cannot cancel); nothing while it waits or exits."""
    _WORKER["interrupted"] = True
    if _WORKER.get("busy"):
        raise KeyboardInterrupt


def _die_with_parent() -> None:
    """Exit as soon as the driving process dies (even by SIGKILL). The watching thread only waits, on the
    parent's sentinel (a pipe that the parent's death closes), so it never competes with the worker's work."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="depthforge-parent-watch").start()


def _init_worker(job: BatchJob, threads: int) -> None:
    # a driver started with SIGINT ignored (a background job, ``trap '' INT``) has workers that ignore it too
    stops = signal.getsignal(signal.SIGINT) is not signal.SIG_IGN
    try:
        deliver_lost_interrupts()
        if hasattr(signal, "pthread_sigmask"):
            if stops:
                signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGINT)  # a Ctrl-C while this process started lands here
        _die_with_parent()
        with contextlib.suppress(ImportError, OSError):  # not POSIX: no locking
            import fcntl

            _WORKER["lock"] = open(job.output_dir / WORKERS_LOCK, "a")  # held for the worker's lifetime
            fcntl.flock(_WORKER["lock"], fcntl.LOCK_SH)
        _load_model(job, threads)
        if stops:
            signal.signal(signal.SIGINT, _on_interrupt)
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the driver says it, once (user trial 4:
        os._exit(130)  # the executor printed each starting worker's traceback)


def _load_model(job: BatchJob, threads: int) -> None:
    """A worker's model, with ``threads`` as its thread budget (its share of the parent's)."""
    try:
        _WORKER["estimator"] = load_for_worker(job, threads)
    except Exception as exc:  # noqa: BLE001 - reported by the first task, as a clean error
        _WORKER["error"] = failure_reason(exc)


def _worker_task(job: BatchJob, item: WorkItem) -> list[OutputRecord]:
    if "error" in _WORKER:
        raise ModelError(_WORKER["error"])
    if _WORKER.get("interrupted"):
        raise KeyboardInterrupt
    try:
        _WORKER["busy"] = True
        return process_item(job, item, _WORKER["estimator"])
    except ModelError as exc:  # stops the run; as a plain ModelError, which always pickles
        raise ModelError(str(exc)) from None
    finally:
        _WORKER["busy"] = False


def run_local(
    job: BatchJob,
    work: list[WorkItem],
    *,
    workers: int,
    threads: int | None = None,
    on_result: Callable[[WorkItem, list[OutputRecord]], None],
) -> None:
    """Process ``work`` on ``workers`` processes (1: in this process); ``on_result`` runs here, once per item.

    ``threads``: threads per worker (default: the thread budget // workers, so all workers together keep at most
    :func:`~depthforge.core.threads.thread_budget` threads busy).
    """
    if not work:
        return
    threads = threads or max(1, thread_budget() // workers)
    if workers == 1:
        estimator = job.load_estimator()
        limit_pools(threads)
        try:
            for item in work:
                on_result(item, process_item(job, item, estimator))
        finally:
            limit_library_threads()  # back to the process's budget
        return
    pending: dict[Future[list[OutputRecord]], WorkItem] = {}
    with ProcessPoolExecutor(
        workers, mp_context=_WorkerContext(), initializer=_init_worker, initargs=(job, threads)
    ) as pool:
        try:
            for nxt in itertools.chain(work, [None]):
                # a bounded window (millions of items never sit in memory twice); the driver sleeps in wait()
                while pending and (nxt is None or len(pending) >= 2 * workers):
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        on_result(pending.pop(fut), fut.result())  # a worker's ModelError is raised here
                if nxt is not None:
                    with held_signals():  # a Ctrl-C or SIGTERM lands once the pool has recorded a process it starts
                        pending[pool.submit(_worker_task, job, nxt)] = nxt
        except BaseException:
            # queued items are cancelled, running ones finish. The pool's own thread cancels them: cancelling them
            # here raced with its handling of a pool that a Ctrl-C broke (a starting worker's exit), which then
            # failed (InvalidStateError, CPython 3.11) before it stopped the other workers, left running without
            # their driver (user trial 4; the interrupt fuzz campaign)
            pool.shutdown(wait=True, cancel_futures=True)
            raise
