"""Batch runs over a folder tree that resume after a crash, on a local process pool or on Ray.

``run_batch(BatchJob(input_dir, output_dir, outputs=("depth16", "colormap")))`` walks ``input_dir`` (images,
recursively; videos too, through :mod:`depthforge.pipeline.video`), and for each item writes every requested
output (see :mod:`depthforge.pipeline.producers`), mirroring the tree: ``a/b/x.jpg`` -> ``OUTDIR/a/b/x_depth.png``.

Resume: the manifest (:mod:`depthforge.pipeline.manifest`) records each finished output of each item with a hash
of the options and model it was made with and the input's size and modification time; a later run does only the
outputs that are missing, whose files are gone, whose input changed, or that were made with other options.
Outputs are written atomically, and the manifest is committed once per item by the driving process only, so a
``kill -9`` loses at most the items in flight, which the next run redoes (leftover temporary files of a killed
run are removed at the next start).

Engines: ``local`` (a pool of ``workers`` processes, 'spawn' context, each loading the model once with
cores / workers torch threads) and ``ray`` (:mod:`depthforge.pipeline.ray_engine`). Both predict one image at a
time with the same code, so their outputs are identical byte for byte given the same number of torch threads
per worker (``threads``; torch's float sums, hence the last bits of the depth, depend on it). The job description
and the work of one item, which the engines share, are in :mod:`depthforge.pipeline.batch_work` (imports go one
way: batch -> engines -> batch_work); ``BatchJob`` and ``WorkItem`` are re-exported here.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from depthforge.core.errors import DepthforgeError, InputError
from depthforge.core.threads import MAX_THREADS
from depthforge.core.validation import check_choice, check_range
from depthforge.io.atomic import prepare_folder, sweep_stale
from depthforge.io.images import IMAGE_EXTENSIONS
from depthforge.io.video import VIDEO_EXTENSIONS, is_video_path
from depthforge.pipeline.batch_work import VIDEO_OUTPUTS, WORKERS_LOCK, BatchJob, WorkItem
from depthforge.pipeline.manifest import Manifest, OutputRecord, source_signature

__all__ = ["BatchJob", "BatchSummary", "WorkItem", "plan_batch", "run_batch", "FAILURE_LOG"]

#: Failures' reasons, appended by every run, in the output folder.
FAILURE_LOG = "depthforge-batch-failures.log"
_LOCK = ".depthforge-batch.lock"
_RUNNING = ".depthforge-batch.running"
_INPUTS = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS


@dataclass
class BatchSummary:
    """Counts of a run, per item: done (every requested output made), skipped (nothing to do), failed."""

    total: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    outputs_written: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    log_path: Path | None = None

    def line(self) -> str:
        rate = (self.done + self.failed) / self.seconds if self.seconds > 0 else 0.0
        text = f"{self.done} done, {self.skipped} skipped, {self.failed} failed ({rate:.1f} items/s, start-up included)"
        if self.failed and self.log_path is not None:
            text += f"; reasons in {self.log_path}"
        return text


def plan_batch(job: BatchJob, manifest: Manifest) -> tuple[list[WorkItem], int, list[tuple[str, str]]]:
    """Walk the input folder (photos and videos, recursively, sorted; hidden files and an output folder inside the
    input folder left out) and compare with the manifest.

    Returns:
        (work items, number of items with nothing left to do, [(key, reason)] of inputs refused outright:
        two inputs that would write the same outputs, e.g. ``x.jpg`` and ``x.png`` in one folder).
    """
    if not os.path.isdir(job.input_dir):
        raise InputError(f"{job.input_dir}: not a folder")
    state, hashes, skip = manifest.done_state(), job.option_hashes(), job.output_dir.resolve()
    work: list[WorkItem] = []
    clashes: list[tuple[str, str]] = []
    stems: dict[str, str] = {}
    for src in sorted(job.input_dir.rglob("*")):
        if src.suffix.lower() not in _INPUTS or src.name.startswith(".") or not src.is_file():
            continue
        if src.resolve().is_relative_to(skip):
            continue
        rel = src.relative_to(job.input_dir)
        key, stem = rel.as_posix(), rel.with_suffix("").as_posix()
        if stem in stems:
            clashes.append((key, f"{key}: its outputs would overwrite those of {stems[stem]}; rename one"))
            continue
        stems[stem] = key
        sig = source_signature(src)
        wanted = [o for o in job.outputs if o in VIDEO_OUTPUTS] if is_video_path(src) else job.outputs
        todo = tuple(o for o in wanted if not _is_done(state.get((key, o)), sig, hashes[o], job.output_dir))
        if todo:
            work.append(WorkItem(key, str(src), stem, todo, sig))
    return work, len(stems) - len(work), clashes


def _is_done(rec: tuple[str, str, tuple[str, ...]] | None, sig: str, digest: str, outdir: Path) -> bool:
    return rec is not None and rec[:2] == (sig, digest) and all(os.path.isfile(outdir / f) for f in rec[2])


# ---- driver --------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _exclusive(outdir: Path) -> Iterator[None]:
    """One run per output folder; wait for orphaned workers of a killed run, then remove its temporary files."""
    prepare_folder(outdir)  # OutputError: a file of that name, not writable
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no locking
        yield
        return
    with open(outdir / _LOCK, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DepthforgeError(f"{outdir}: another batch run is writing to this folder") from None
        with open(outdir / WORKERS_LOCK, "a") as wl:  # closing it releases the lock
            for _ in range(300):  # a killed run's workers exit at once (they watch their parent): 30 s at most
                with contextlib.suppress(BlockingIOError):
                    fcntl.flock(wl, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                time.sleep(0.1)
            else:
                raise DepthforgeError(f"{outdir}: workers of an earlier run are still alive")
        running = outdir / _RUNNING
        if running.exists():  # the last run did not finish cleanly: drop its half-written temporary files
            sweep_stale(root for root, _, _ in os.walk(outdir))
        running.touch()
        yield
        running.unlink()


def run_batch(
    job: BatchJob,
    *,
    engine: str = "local",
    workers: int = 1,
    threads: int | None = None,
    ray_address: str | None = None,
    gpus_per_actor: float = 0.0,
    on_plan: Callable[[int, int], None] | None = None,
    on_item: Callable[[str, str], None] | None = None,
) -> BatchSummary:
    """Run (or resume) a batch job.

    Args:
        job: the job.
        engine: ``local`` or ``ray``.
        workers: worker processes (local) or model actors (ray), >= 1.
        threads: torch threads per worker or actor (default: cores // workers locally, 1 per Ray actor).
        ray_address: Ray cluster address (``ray``; None = start or join a local Ray).
        gpus_per_actor: GPUs reserved by each Ray actor (0 = CPU).
        on_plan: called once with (items to process, items already done).
        on_item: called after each processed item with (key, ``done`` or ``failed: reason``).

    Returns:
        The run's summary; failures' reasons are appended to ``OUTDIR/depthforge-batch-failures.log``.

    Raises:
        InputError: the input is not a folder. ModelError: the model cannot be loaded or run (stops the run).
        MissingExtraError: ``engine="ray"`` without Ray installed. ValidationError: the Ray cluster cannot be joined,
            or a local Ray has fewer GPUs than ``gpus_per_actor`` (before the output folder is touched).
    """
    check_choice(engine, "engine", ("local", "ray"))
    workers = int(check_range(workers, "workers", low=1, high=MAX_THREADS))
    if threads is not None:
        threads = int(check_range(threads, "threads", low=1, high=MAX_THREADS))
    if engine == "ray":
        from depthforge.pipeline.ray_engine import ensure_ray

        ensure_ray()
    if engine == "local" or ray_address is None:  # a cluster's workers may have models this machine has not
        from depthforge.models.estimator import check_model_available

        check_model_available(job.model)  # before the output folder is touched (user trial 4)
    if engine == "ray":
        from depthforge.pipeline.ray_engine import connect_ray, run_ray

        started = connect_ray(ray_address, gpus_per_actor=gpus_per_actor)  # before the output folder is touched
        run = functools.partial(run_ray, actors=workers, address=ray_address, gpus_per_actor=gpus_per_actor)
        try:
            return _run(job, engine, workers, threads, run, on_plan, on_item)
        finally:
            if started:
                import ray

                ray.shutdown()
    from depthforge.pipeline.local_engine import run_local

    return _run(job, engine, workers, threads, functools.partial(run_local, workers=workers), on_plan, on_item)


def _run(
    job: BatchJob,
    engine: str,
    workers: int,
    threads: int | None,
    run: Callable[..., None],
    on_plan: Callable[[int, int], None] | None,
    on_item: Callable[[str, str], None] | None,
) -> BatchSummary:
    """Plan, run and record a batch with the engine's ``run`` (:func:`run_batch`)."""
    start = time.perf_counter()
    log_path = job.output_dir / FAILURE_LOG
    summary = BatchSummary(log_path=log_path)
    with _exclusive(job.output_dir), Manifest(job.output_dir) as manifest:
        try:
            work, summary.skipped, clashes = plan_batch(job, manifest)
            summary.total = len(work) + summary.skipped + len(clashes)
            run_id = manifest.start_run(engine=engine, workers=workers)
            if on_plan is not None:
                on_plan(len(work) + len(clashes), summary.skipped)
            hashes = job.option_hashes()
            with open(log_path, "a", encoding="utf-8") as log:

                def report(key: str, reason: str | None) -> None:
                    if reason is None:
                        summary.done += 1
                    else:
                        summary.failed += 1
                        summary.errors.append((key, reason))
                        log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')}\trun {run_id}\t{key}\t{reason}\n")
                        log.flush()
                    if on_item is not None:
                        on_item(key, "done" if reason is None else f"failed: {reason}")

                def on_result(item: WorkItem, records: list[OutputRecord]) -> None:
                    manifest.commit_item(item.key, item.signature, records, hashes)
                    failed = [r for r in records if r.error]
                    summary.outputs_written += len(records) - len(failed)
                    reasons = {r.error for r in failed}
                    if len(reasons) > 1:
                        reasons = {"; ".join(f"{r.output}: {r.error}" for r in failed)}
                    report(item.key, reasons.pop() if reasons else None)

                for key, reason in clashes:
                    report(key, reason)
                run(job, work, threads=threads, on_result=on_result)
        finally:  # also when interrupted (under the lock, so never another run's log): no empty failure log
            with contextlib.suppress(OSError):
                if log_path.stat().st_size == 0:
                    log_path.unlink()
    summary.seconds = time.perf_counter() - start
    return summary
