"""The Ray engine of :mod:`depthforge.pipeline.batch`: the same job as a Ray Data pipeline.

``from_items`` (the planned work, already compared with the manifest) -> ``map`` with an actor class that loads
the model once and decodes, predicts and writes one item after the other (the local worker's code, hence the
same bytes; an actor keeps ``threads`` threads busy, no more) -> the driver streams the results and commits each
item to the manifest.

Runs on a local Ray (started here when none is running, and stopped after) or on a cluster
(``address="ray://head:10001"`` or ``"auto"``); on a cluster the input and output folders must be on a file
system every node sees. Ray is an optional extra: ``pip install 'depthforge[ray]'``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

from depthforge.core.errors import MissingExtraError, ModelError, ValidationError
from depthforge.core.signals import held_signals
from depthforge.pipeline.batch_work import BatchJob, WorkItem, load_for_worker, process_item
from depthforge.pipeline.manifest import OutputRecord

__all__ = ["connect_ray", "ensure_ray", "run_ray"]


def ensure_ray() -> Any:
    """Import Ray (with Ray Data) or raise a one-line :class:`MissingExtraError`.

    Unless the user's environment says otherwise, Ray is told not to install its C++ failure-signal handler (read
    when Ray is imported; the Ray processes this one starts inherit it, so a crash of theirs logs no C++ stack): in
    the driver it printed a stack dump on SIGTERM and ended the batch with status -6 (the interrupt sweep of
    2026-12-07).
    """
    if "ray" not in sys.modules:  # read once, at Ray's import
        os.environ.setdefault("RAY_DISABLE_FAILURE_SIGNAL_HANDLER", "1")
    try:
        import ray
        import ray.data
    except ImportError:
        raise MissingExtraError("ray", "ray") from None
    return ray


@contextlib.contextmanager
def _restoring_sigterm(handler: Any) -> Iterator[None]:
    """The SIGTERM ``handler`` put back after the body (None: nothing to put back)."""
    try:
        yield
    finally:
        if handler is not None:
            signal.signal(signal.SIGTERM, handler)


def connect_ray(address: str | None = None, *, gpus_per_actor: float = 0.0) -> bool:
    """Join the Ray cluster at ``address`` (None: the running Ray, else a new local one) unless this process already
    has; True when this call started Ray (the caller shuts it down).

    Raises:
        ValidationError: the cluster cannot be reached, or a local Ray has fewer GPUs than ``gpus_per_actor`` (its
            actors would wait for one forever). Both before any work (user trial 4: exit 3 and a hang).
    """
    ray = ensure_ray()
    if ray.is_initialized():
        return False
    main = threading.current_thread() is threading.main_thread()
    on_term = signal.getsignal(signal.SIGTERM) if main else None
    try:
        # a Ctrl-C while a local Ray starts lands once it has started (an interrupted ray.init left the process to
        # crash at its exit, status -11: the interrupt sweep of 2026-12-07); joining a cluster stays interruptible
        # (an unreachable one is retried for half a minute). Ray replaces the SIGTERM handler as it begins: a SIGTERM
        # meanwhile is Ray's sys.exit(15), turned below into the caller's. The caller's handler is put back after,
        # in place of Ray's (which ended the run with status 15 and a stack dump: user trial 4).
        with held_signals() if address is None else _restoring_sigterm(on_term):
            ray.init(address=address, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
        why = " ".join(str(exc).split()).split(". ")[0][:160]  # Ray's hint names its own flag, not --ray-address
        raise ValidationError(f"ray_address: cannot join a Ray cluster at {address!r}: {why}") from None
    except BaseException as exc:  # interrupted while Ray starts: what it started is stopped (its daemons ignore Ctrl-C)
        with contextlib.suppress(Exception):
            ray.shutdown()
        if isinstance(exc, SystemExit) and exc.code == signal.SIGTERM and callable(on_term):
            on_term(signal.SIGTERM, None)  # Ray's handler of those seconds: sys.exit(15); the caller's runs instead
        raise
    gpus = float(ray.cluster_resources().get("GPU", 0.0))
    if gpus_per_actor > gpus and address is None:
        ray.shutdown()
        raise ValidationError(f"gpus_per_actor: {gpus_per_actor:g} GPU per actor, and this machine's Ray has {gpus:g}")
    return True


class _ItemActor:
    """Holds one loaded model; processes each row's item (a pickled :class:`WorkItem`) like a local worker."""

    def __init__(self, job: BatchJob, threads: int) -> None:
        self.job = job
        self.estimator = load_for_worker(job, threads)

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        records = process_item(self.job, pickle.loads(row["item"]), self.estimator)
        return {"item": row["item"], "records": pickle.dumps(records)}


def run_ray(
    job: BatchJob,
    work: list[WorkItem],
    *,
    actors: int = 1,
    address: str | None = None,
    gpus_per_actor: float = 0.0,
    cpus_per_actor: float = 1.0,
    threads: int | None = None,
    on_result: Callable[[WorkItem, list[OutputRecord]], None],
) -> None:
    """Process ``work`` with Ray Data; ``on_result`` runs in this (driver) process once per item.

    Args:
        actors: model actors (each holds one copy of the model).
        address: Ray address; None = the running Ray, else a new local one.
        gpus_per_actor: GPUs reserved per actor (0 = CPU only); cpus_per_actor: CPUs reserved per actor.
        threads: torch threads per actor (default: cpus_per_actor, at least 1).
    """
    if not work:
        return
    ray = ensure_ray()
    started = connect_ray(address)  # one way to start Ray: its Ctrl-C hold and SIGTERM handling included
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "Progress bars disabled": ours
        gpus: dict[str, Any] = {"num_gpus": gpus_per_actor} if gpus_per_actor > 0 else {}
        ds = ray.data.from_items([{"item": pickle.dumps(w)} for w in work]).map(
            _ItemActor,
            fn_constructor_kwargs={"job": job, "threads": threads or max(1, int(cpus_per_actor))},
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=cpus_per_actor,
            **gpus,
        )
        try:
            for row in ds.iter_rows():
                on_result(pickle.loads(row["item"]), pickle.loads(row["records"]))
        except Exception as exc:
            cause = getattr(exc, "cause", None) or exc.__cause__
            if isinstance(cause, ModelError):
                raise ModelError(str(cause)) from None
            raise
    finally:
        if started:
            ray.shutdown()
