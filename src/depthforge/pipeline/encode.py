"""Streaming frames to a video while they are still being made: rendering overlaps with encoding.

:func:`encode_frames` pulls frames from an iterable (typically a renderer's generator) in the calling thread and
hands them through a bounded queue to a writer thread that feeds :class:`depthforge.io.video_writer.VideoWriter`
(which owns formats, ffmpeg, atomic output and Ctrl-C partial files). Rendering frame ``i + 1`` thus runs while
frame ``i`` is piped to the encoder, and memory stays bounded by ``queue_size`` frames whatever the clip's
length.
"""

from __future__ import annotations

import inspect
import os
import queue
import threading
import warnings
from collections.abc import Callable, Iterable, Sized
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from depthforge.core.errors import ValidationError
from depthforge.core.threads import Worker
from depthforge.io.video_writer import VideoWriter

__all__ = ["EncodedVideo", "encode_frames"]


@dataclass(frozen=True)
class EncodedVideo:
    """What :func:`encode_frames` wrote: the ``path``, its ``codec``, the encoded ``width`` x ``height`` (even
    for H.264/VP9) and the number of ``frames``."""

    path: Path
    codec: str
    width: int
    height: int
    frames: int


class _WriterThread:
    """Feeds a :class:`VideoWriter` from a bounded queue in a daemon thread; errors come back on :meth:`put`."""

    def __init__(self, writer: VideoWriter, queue_size: int) -> None:
        self.writer = writer
        self.error: BaseException | None = None
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._thread = Worker(self._run, name="depthforge-encoder")

    def _run(self) -> None:
        while (frame := self._queue.get()) is not None:
            if self.error is None and not self._stop.is_set():
                try:
                    self.writer.write(frame)
                except BaseException as exc:  # noqa: BLE001 - handed to the producer by put()/finish()
                    self.error = exc  # keep draining, so the producer never blocks on a full queue

    def put(self, frame: np.ndarray) -> None:
        """Queue one frame (blocks while the queue is full); raises the writer's error if it failed."""
        if self.error is not None:
            raise self.error
        self._queue.put(frame)

    def finish(self, *, discard: bool) -> None:
        """Let the thread write what is queued (or drop it when ``discard``) and wait for it. Interrupted while
        waiting (Ctrl-C, SIGTERM), it drops what is still queued and waits for the frame being written, so the
        writer is never closed or moved under a frame in progress."""
        if discard:
            self._stop.set()
        try:
            self._queue.put(None)
            self._thread.wait()
        except BaseException:
            self._stop.set()  # the rest is skipped: the queue drains at once
            self._queue.put(None)  # if the first never went in; a second one is never read
            self._thread.wait()
            raise


def encode_frames(
    frames: Iterable[np.ndarray],
    path: str | os.PathLike[str],
    *,
    fps: Fraction | float,
    codec: str | None = None,
    quality: int | None = None,
    preset: str = "veryfast",
    odd_size: str = "pad",
    queue_size: int = 4,
    progress: Callable[[int, int | None], None] | None = None,
) -> EncodedVideo:
    """Encode frames to ``path`` as they are produced (see the module docstring).

    Args:
        frames: (H, W, 3) uint8 RGB frames, all the same size; consumed lazily in the calling thread.
        path: output file (its suffix picks the codec) or a folder (PNG frames); see
            :class:`depthforge.io.video_writer.VideoWriter` for ``fps``, ``codec``, ``quality``, ``preset`` and
            ``odd_size``.
        queue_size: frames buffered between the producer and the encoder (the memory bound), >= 1.
        progress: called as ``progress(done, total)`` after each frame is handed to the encoder, as the other
            pipelines' callbacks; ``total`` is ``len(frames)``, or None for a generator.

    Returns:
        what was written. On any error the target is left untouched; on Ctrl-C the frames done so far are kept
        as ``<name>.partial<ext>`` (:func:`depthforge.io.video_writer.partial_path`).

    Raises:
        ValidationError: bad options, frames of the wrong layout or size, or no frame at all.
        EncodeError: ffmpeg failed.
    """
    if not isinstance(queue_size, int) or queue_size < 1:
        raise ValidationError(f"queue_size: expected an integer >= 1, got {queue_size!r}")
    with VideoWriter(path, fps=fps, codec=codec, quality=quality, preset=preset, odd_size=odd_size) as writer:
        feed = _WriterThread(writer, queue_size)
        total = len(frames) if isinstance(frames, Sized) else None
        progress = _two_argument(progress)
        try:
            for done, frame in enumerate(frames, 1):
                feed.put(frame)
                if progress is not None:
                    progress(done, total)
        except BaseException as exc:
            feed.finish(discard=not isinstance(exc, KeyboardInterrupt))  # Ctrl-C: the queued frames are done too
            raise
        feed.finish(discard=False)
        if feed.error is not None:
            raise feed.error
    height, width = writer.size_hw or (0, 0)
    return EncodedVideo(writer.path, writer.codec, width, height, writer.frames)


def _two_argument(progress: Callable[..., Any] | None) -> Callable[[int, int | None], Any] | None:
    """``progress`` as a ``(done, total)`` callback; a one-argument callback of the earlier shape (``progress(1)``
    per frame, e.g. a tqdm bar's ``update``) is still served for one release, with a DeprecationWarning."""
    if progress is None:
        return None
    try:
        params = inspect.signature(progress).parameters.values()
    except (TypeError, ValueError):  # no signature to read: trust the documented shape
        return progress
    if any(p.kind is p.VAR_POSITIONAL for p in params) or sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                                                               for p in params) >= 2:  # fmt: skip
        return progress
    warnings.warn(
        "encode_frames(progress=): the callback is now called as progress(done, total); a one-argument callback "
        "gets progress(1) per frame for one release",
        DeprecationWarning,
        stacklevel=3,
    )
    return lambda done, total: progress(1)
