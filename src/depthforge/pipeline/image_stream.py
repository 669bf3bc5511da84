"""Pipelined depth estimation over many photos: decode ahead, keep the model busy, write behind.

Three stages joined by bounded queues (so memory stays bounded whatever the folder size):

* a reader thread decodes each photo (at a reduced JPEG scale when only its size matters, see
  :func:`depthforge.io.images.read_image_reduced`) and prepares the model input (:meth:`DepthEstimator.prepare`);
* the calling thread runs them through :meth:`DepthEstimator.predict_stream`: with OpenVINO and several photos,
  each photo starts as soon as one of the throughput streams is free; otherwise consecutive photos of the same
  model input size form batches of up to ``batch_size``;
* a writer thread writes the outputs (atomically) and reports each photo.

A single photo runs through the same steps in the calling thread; when it is a JPEG decoded at a reduced size,
its depth map's memory is made ready in another thread while it decodes. Order is kept: photos
are reported in input order, each one exactly once. A bad photo (unreadable, too big)
fails alone; a model or option error stops the run with its message, as the sequential path does.
"""

from __future__ import annotations

import dataclasses
import queue
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from depthforge.core.errors import DepthforgeError, InputError, OutputError
from depthforge.core.image import Image
from depthforge.core.threads import Worker, put_unless_stopped
from depthforge.io.images import read_image, read_image_reduced
from depthforge.models.estimator import DepthEstimator, Prepared

__all__ = ["Job", "run_stream", "DEFAULT_BATCH"]

DEFAULT_BATCH = 2  # PyTorch: photos per forward; with OpenVINO any value > 1 streams (requests per free core)
_STOP = object()


@dataclass
class Job:
    """One photo to process: its file, where its outputs go, and whether outputs need its full pixels."""

    src: Path
    paths: dict[str, Path]
    full_pixels: bool = False
    skip: bool = False  # outputs exist already: reported as ``skipped`` in its place, nothing read
    error: str | None = None  # known to fail before reading (e.g. its outputs clash with another's): reported so


@dataclass
class _Item:
    job: Job
    image: Image | None = None
    prepared: Prepared | None = None
    error: DepthforgeError | None = None


class _Buffer:
    """A float32 array of ``shape`` allocated in a background thread, each of its memory pages written once there:
    the kernel maps and zeroes fresh memory on first touch (~4 ms for a 12-megapixel depth map), which this
    moves off the critical path onto a core that is idle while a photo decodes (JPEG decoding is serial)."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self._array: Any = None
        self._thread = Worker(self._make, shape)

    def _make(self, shape: tuple[int, int]) -> None:
        import numpy as np

        try:
            a = np.empty(shape, np.float32)
            a.reshape(-1)[:: 4096 // a.itemsize] = 0.0  # one write per 4 KiB page
        except MemoryError:
            return
        self._array = a

    def get(self) -> Any:
        """The array (None if making it failed, e.g. out of memory: the model then allocates its own)."""
        self._thread.wait()
        return self._array


def run_stream(
    jobs: list[Job],
    estimator: DepthEstimator,
    *,
    write: Callable[[Image, Any, dict[str, Path]], None],
    report: Callable[[Job, str], None],
    max_pixels: int | None = None,
    batch_size: int = DEFAULT_BATCH,
    queue_size: int | None = None,
) -> None:
    """Process ``jobs`` in order through the three stages.

    Args:
        jobs: the photos, in the order they are reported.
        estimator: the loaded model.
        write: ``write(image, depth, paths)`` writes one photo's outputs (called in the writer thread).
        report: ``report(job, status)`` with ``done``, ``skipped`` or ``failed: reason``, in input order (called
            in the writer thread).
        max_pixels: decompression-bomb limit (see :func:`depthforge.io.images.read_image`).
        batch_size: photos per forward pass for PyTorch (1 = no batching); with OpenVINO, > 1 runs the photos as
            a stream of single-image requests (as many in flight as OpenVINO finds optimal), 1 one at a time.
        queue_size: photos held between stages (default ``2 * batch_size``): bounds memory.

    Raises:
        DepthforgeError: a model or option error (other than a bad input), after the stages have stopped.
    """
    batch_size = max(1, int(batch_size))
    size = queue_size or 2 * batch_size
    decoded: queue.Queue[Any] = queue.Queue(maxsize=size)
    finished: queue.Queue[Any] = queue.Queue(maxsize=size)
    stop = threading.Event()
    failures: list[BaseException] = []
    throughput = len(jobs) > 1 and batch_size > 1

    def need(h: int, w: int) -> tuple[int, int]:
        ih, iw = estimator.input_size((h, w))
        return 2 * ih, 2 * iw  # keep at least twice the model input for the anti-aliased resize

    def read(job: Job, ahead: bool = False) -> _Item:
        """Decode and prepare one photo; with ``ahead``, the depth map's array is allocated and its memory
        mapped in another thread while the photo decodes (a JPEG's size is known before its pixels)."""
        item = _Item(job)
        if job.error is not None:
            item.error = InputError(job.error)
        if job.skip or job.error is not None:
            return item
        buffer: _Buffer | None = None

        def need_and_buffer(h: int, w: int) -> tuple[int, int]:
            nonlocal buffer
            if ahead and buffer is None:
                buffer = _Buffer((h, w))
            return need(h, w)

        try:
            if job.full_pixels or estimator.spec.pad_reflect:
                item.image = read_image(job.src, max_pixels=max_pixels)
                full = None
            else:
                item.image, full = read_image_reduced(job.src, need_and_buffer, max_pixels=max_pixels)
            item.prepared = estimator.prepare(item.image, output_size_hw=full)
            if buffer is not None:
                item.prepared = dataclasses.replace(item.prepared, out=buffer.get())
        except InputError as exc:
            item.image, item.error = None, exc
        return item

    def finish(item: _Item, depth: Any) -> None:
        if item.job.skip:
            report(item.job, "skipped")
            return
        if item.error is None and item.image is not None:
            try:
                write(item.image, depth, item.job.paths)
            except (InputError, OutputError) as exc:  # this photo's outputs cannot be made: it fails alone
                item.error = exc
        report(item.job, "done" if item.error is None else f"failed: {item.error}")

    if len(jobs) == 1:  # one photo runs in the calling thread, without hand-offs (and its output array ahead)
        item = read(jobs[0], ahead=estimator.fills_out)
        depth = None if item.prepared is None else estimator.predict_prepared([item.prepared])[0]
        item.prepared = None
        finish(item, depth)
        return

    def reader() -> None:
        try:
            for job in jobs:
                if not put_unless_stopped(decoded, read(job), stop):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            failures.append(exc)
            stop.set()
        finally:
            put_unless_stopped(decoded, _STOP, stop)

    def writer() -> None:
        try:
            while True:
                got = finished.get()
                if got is _STOP:
                    return
                finish(*got)
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            failures.append(exc)
            stop.set()

    threads = [Worker(reader, name="depthforge-reader"), Worker(writer, name="depthforge-writer")]

    def decoded_items() -> Iterator[tuple[_Item, Prepared | None]]:
        while not stop.is_set():
            try:
                item = decoded.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is _STOP:
                return
            yield item, item.prepared

    try:
        for item, depth in estimator.predict_stream(decoded_items(), batch_size=batch_size, throughput=throughput):
            item.prepared = None  # the model input is no longer needed: free it before the write
            if not put_unless_stopped(finished, (item, depth), stop):
                break
    finally:  # on success and on a model error alike: stop the threads cleanly
        if failures or sys.exc_info()[0] is not None:
            stop.set()
        while threads[1].running:  # the writer finishes what it was given, then stops
            try:
                finished.put(_STOP, timeout=0.1)
                break
            except queue.Full:
                continue
        try:
            threads[1].wait()
        except BaseException:  # interrupted while the writer finishes: it stops after the file in progress
            stop.set()
            threads[1].wait()
            raise
        finally:
            stop.set()  # the reader stops at its next photo (it has normally finished already)
            threads[0].wait(timeout=10.0)
    if failures:
        raise failures[0]
