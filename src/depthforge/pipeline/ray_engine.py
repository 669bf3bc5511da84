"""The Ray engine of :mod:`depthforge.pipeline.batch`: the same job as a Ray Data pipeline.

``from_items`` (the planned work, already compared with the manifest) -> ``map`` (read and decode each photo)
-> ``map_batches`` with an actor class that loads the model once and predicts one image at a time (the same
calls as the local engine, hence the same bytes) -> ``map`` (write the outputs atomically) -> the driver
streams the results and commits each item to the manifest.

Runs on a local Ray (started here when none is running, and stopped after) or on a cluster
(``address="ray://head:10001"`` or ``"auto"``); on a cluster the input and output folders must be on a file
system every node sees. Ray is an optional extra: ``pip install 'depthforge[ray]'``.
"""

from __future__ import annotations

import json
import logging
import pickle
from collections.abc import Callable
from typing import Any

from depthforge.core.errors import MissingExtraError, ModelError
from depthforge.pipeline.batch_work import (
    BatchJob,
    WorkItem,
    decode_item,
    failure_reason,
    is_video,
    process_video,
    write_item,
)
from depthforge.pipeline.manifest import OutputRecord

__all__ = ["ensure_ray", "run_ray"]


def ensure_ray() -> Any:
    """Import Ray (with Ray Data) or raise a one-line :class:`MissingExtraError`."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise MissingExtraError("ray", "ray") from None
    return ray


def _decode_row(row: dict[str, Any], *, job: BatchJob) -> dict[str, Any]:
    item = _item(row)
    row["records"] = ""
    if is_video(item.source):  # a clip is decoded, estimated and written by the actor, streamed
        row["image"], row["error"] = b"", ""
        return row
    try:
        image = decode_item(job, item)
        row["image"], row["error"] = pickle.dumps(image), ""
    except Exception as exc:  # noqa: BLE001 - a corrupt photo fails alone
        row["image"], row["error"] = b"", failure_reason(exc)
    return row


class _DepthActor:
    """Holds one loaded model; predicts each image of a batch on its own (same numerics as the local engine)."""

    def __init__(self, job: BatchJob, threads: int) -> None:
        from depthforge.core.threads import limit_library_threads, set_thread_budget

        self.job = job
        set_thread_budget(max(1, threads))
        self.estimator = job.load_estimator()
        limit_library_threads()  # after loading: a backend may set its own count when it loads

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        depths = []
        errors = list(batch["error"])
        records = list(batch["records"])
        for i, blob in enumerate(batch["image"]):
            if not errors[i] and is_video(str(batch["source"][i])):
                done = process_video(self.job, _item({k: batch[k][i] for k in _ITEM_KEYS}), self.estimator)
                records[i] = _dump(done)
                depths.append(b"")
                continue
            if errors[i]:
                depths.append(b"")
                continue
            try:
                depths.append(pickle.dumps(self.estimator.predict(pickle.loads(blob))))
            except ModelError:
                raise
            except Exception as exc:  # noqa: BLE001
                depths.append(b"")
                errors[i] = failure_reason(exc)
        out = {k: v for k, v in batch.items() if k != "image"}
        out["image"] = batch["image"]
        out["depth"] = np.array(depths, dtype=object)
        out["error"] = np.array(errors, dtype=object)
        out["records"] = np.array(records, dtype=object)
        return out


def _write_row(row: dict[str, Any], *, job: BatchJob) -> dict[str, Any]:
    item = _item(row)
    if row["records"]:
        return {"key": item.key, "records": row["records"]}
    if row["error"]:
        records = [OutputRecord(name, error=str(row["error"])) for name in item.todo]
    else:
        records = write_item(job, item, pickle.loads(row["image"]), pickle.loads(row["depth"]))
    return {"key": item.key, "records": _dump(records)}


_ITEM_KEYS = ("key", "source", "stem", "todo", "signature")


def _dump(records: list[OutputRecord]) -> str:
    return json.dumps([[r.output, list(r.files), r.error] for r in records])


def _item(row: dict[str, Any]) -> WorkItem:
    return WorkItem(
        str(row["key"]), str(row["source"]), str(row["stem"]), tuple(json.loads(row["todo"])), str(row["signature"])
    )


def run_ray(
    job: BatchJob,
    work: list[WorkItem],
    *,
    actors: int = 1,
    address: str | None = None,
    gpus_per_actor: float = 0.0,
    cpus_per_actor: float = 1.0,
    threads: int | None = None,
    batch_size: int = 8,
    on_result: Callable[[WorkItem, list[OutputRecord]], None],
) -> None:
    """Process ``work`` with Ray Data; ``on_result`` runs in this (driver) process once per item.

    Args:
        actors: model actors (each holds one copy of the model).
        address: Ray address; None = the running Ray, else a new local one.
        gpus_per_actor: GPUs reserved per actor (0 = CPU only); cpus_per_actor: CPUs reserved per actor.
        threads: torch threads per actor (default: cpus_per_actor, at least 1).
        batch_size: rows per ``map_batches`` call.
    """
    if not work:
        return
    ray = ensure_ray()
    started = False
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
        started = True
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        by_key = {w.key: w for w in work}
        rows = [
            {
                "key": w.key,
                "source": w.source,
                "stem": w.stem,
                "todo": json.dumps(list(w.todo)),
                "signature": w.signature,
            }
            for w in work
        ]
        actor_opts: dict[str, Any] = {"num_cpus": cpus_per_actor}
        if gpus_per_actor > 0:
            actor_opts["num_gpus"] = gpus_per_actor
        ds = (
            ray.data.from_items(rows)
            .map(_decode_row, fn_kwargs={"job": job}, num_cpus=0.25)
            .map_batches(
                _DepthActor,
                fn_constructor_kwargs={"job": job, "threads": threads or max(1, int(cpus_per_actor))},
                batch_size=batch_size,
                batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=actors),
                **actor_opts,
            )
            .map(_write_row, fn_kwargs={"job": job}, num_cpus=0.25)
        )
        try:
            for row in ds.iter_rows():
                records = [OutputRecord(o, tuple(f), e) for o, f, e in json.loads(row["records"])]
                on_result(by_key[str(row["key"])], records)
        except Exception as exc:
            cause = getattr(exc, "cause", None) or exc.__cause__
            if isinstance(cause, ModelError):
                raise ModelError(str(cause)) from None
            raise
    finally:
        if started:
            ray.shutdown()
