"""The local engine of :mod:`depthforge.pipeline.batch`: a pool of worker processes, each loading the model once.

Workers are started with the 'spawn' context (safe with torch's threads), use ``cores // workers`` torch threads
each, and die with the driving process (even on ``kill -9``: a watchdog thread), so a killed run leaves no
writer behind. Each holds a shared lock on the output folder's workers lock file; the next
run waits for those to be released before it removes the killed run's temporary files.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from depthforge.core.errors import ModelError
from depthforge.core.threads import limit_library_threads, set_thread_budget, thread_budget
from depthforge.pipeline.batch_work import WORKERS_LOCK, BatchJob, WorkItem, failure_reason, process_item
from depthforge.pipeline.manifest import OutputRecord

__all__ = ["run_local"]


_WORKER: dict[str, Any] = {}


def _die_with_parent() -> None:
    """Workers exit within half a second when the driving process dies (even by SIGKILL: they are re-parented),
    so a killed run leaves no writer behind."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True, name="depthforge-parent-watch").start()


def _init_worker(job: BatchJob, threads: int) -> None:
    _die_with_parent()
    with contextlib.suppress(Exception):
        import fcntl

        fh = open(job.output_dir / WORKERS_LOCK, "a")  # held for the worker's lifetime
        fcntl.flock(fh, fcntl.LOCK_SH)
        _WORKER["lock"] = fh
    _load_model(job, threads)


def _load_model(job: BatchJob, threads: int) -> None:
    """A worker's model, with ``threads`` as its thread budget (its share of the parent's)."""
    try:
        set_thread_budget(threads)  # this worker's share: model, PNG and display-code pools alike
        _WORKER["estimator"] = job.load_estimator()
        limit_library_threads(threads)  # after loading: a backend may set its own count when it loads
    except Exception as exc:  # noqa: BLE001 - reported by the first task, as a clean error
        _WORKER["error"] = failure_reason(exc)


def _worker_task(job: BatchJob, item: WorkItem) -> tuple[str, Any]:
    if "error" in _WORKER:
        return "fatal", _WORKER["error"]
    try:
        return "ok", process_item(job, item, _WORKER["estimator"])
    except ModelError as exc:
        return "fatal", str(exc)


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
        before = limit_library_threads()
        try:
            limit_library_threads(threads)  # after loading: a backend may set its own count when it loads
            for item in work:
                on_result(item, process_item(job, item, estimator))
        finally:
            limit_library_threads(before)
        return
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

    ctx = multiprocessing.get_context("spawn")
    pending: dict[Future[tuple[str, Any]], WorkItem] = {}
    queue = iter(work)
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(job, threads)) as pool:
        try:
            while True:
                while len(pending) < 2 * workers:  # a bounded window: millions of items never sit in memory twice
                    nxt = next(queue, None)
                    if nxt is None:
                        break
                    pending[pool.submit(_worker_task, job, nxt)] = nxt
                if not pending:
                    break
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    item = pending.pop(fut)
                    status, value = fut.result()
                    if status == "fatal":
                        raise ModelError(value)
                    on_result(item, value)
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise
