"""encode_frames: frames streamed through the writer thread arrive complete and in order; every failure or
interruption of the producer leaves the target untouched (Ctrl-C keeps a partial file); bad input is refused.

The formats themselves are tested with the writer in ``tests/io/test_video.py``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from depthforge.core.errors import ValidationError
from depthforge.io.atomic import TEMP_MARK
from depthforge.io.video import iter_frames, probe_video
from depthforge.io.video_writer import partial_path
from depthforge.pipeline.encode import encode_frames


def _frames(n: int, h: int = 47, w: int = 65) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 200, w, dtype=np.float32)[None, :, None]
    return [np.clip(ramp + 5 * i + rng.integers(0, 20, (h, w, 3)), 0, 255).astype(np.uint8) for i in range(n)]


def test_streams_every_frame_in_order(tmp_path: Path) -> None:
    frames = _frames(12)
    calls: list[tuple[int, int | None]] = []
    done = encode_frames(iter(frames), tmp_path / "a.apng", fps=12, queue_size=1, progress=lambda *a: calls.append(a))
    assert (done.path, done.codec, done.width, done.height, done.frames) == (tmp_path / "a.apng", "apng", 65, 47, 12)
    assert calls == [(i, None) for i in range(1, 13)]  # a generator: no total
    back = list(iter_frames(done.path))
    assert len(back) == 12 and all(np.array_equal(a, b) for a, b in zip(frames, back, strict=True))  # lossless


@pytest.mark.parametrize(("odd_size", "size"), [("crop", (64, 46)), ("pad", (66, 48))])
def test_mp4_even_sizes(tmp_path: Path, odd_size: str, size: tuple[int, int]) -> None:
    done = encode_frames(_frames(3), tmp_path / "a.mp4", fps=10, odd_size=odd_size)
    info = probe_video(done.path)
    assert (done.width, done.height) == (info.width, info.height) == size
    assert (info.codec, info.frame_count, info.pix_fmt) == ("h264", 3, "yuv420p")


def test_producer_failure_leaves_no_output(tmp_path: Path) -> None:
    def crashing() -> Iterator[np.ndarray]:
        yield from _frames(3)
        raise RuntimeError("renderer crashed")

    with pytest.raises(RuntimeError):
        encode_frames(crashing(), tmp_path / "x.mp4", fps=10)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValidationError, match="size"):
        encode_frames([*_frames(2), *_frames(2, 30, 30), *_frames(4)], tmp_path / "x.gif", fps=10)
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_keeps_a_playable_partial(tmp_path: Path) -> None:
    def interrupted() -> Iterator[np.ndarray]:
        yield from _frames(5)
        raise KeyboardInterrupt

    target = tmp_path / "x.mkv"
    with pytest.raises(KeyboardInterrupt):
        encode_frames(interrupted(), target, fps=10, codec="h264", queue_size=8)
    kept = partial_path(target)
    assert not target.exists() and [p.name for p in tmp_path.iterdir()] == [kept.name]
    assert probe_video(kept).frame_count == 5


def test_ctrl_c_while_waiting_for_the_encoder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C that lands while the last queued frames are written (the producer is done) stops after the frame in
    progress: the encoder thread has ended before the partial output is moved, and every kept frame is whole
    (interrupt fuzz finding: the folder was moved under a frame being written, then the process exited)."""
    import os
    import signal
    import threading

    from PIL import Image

    from depthforge.io.video_writer import VideoWriter

    original = VideoWriter._write_png

    def slow(self: VideoWriter, a: np.ndarray) -> None:
        threading.Event().wait(0.15)
        original(self, a)

    monkeypatch.setattr(VideoWriter, "_write_png", slow)
    timer = threading.Timer(0.4, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    target = tmp_path / "frames"
    with pytest.raises(KeyboardInterrupt):
        encode_frames(_frames(12), target, fps=10, queue_size=16)
    timer.join()
    encoders = [t for t in threading.enumerate() if t.name == "depthforge-encoder"]
    for t in encoders:  # at most finishing its last statement; a thread still encoding needs >= 0.15 s
        t.join(0.05)
    assert not any(t.is_alive() for t in encoders)
    kept = sorted(partial_path(target).iterdir())
    assert 1 <= len(kept) < 12 and not target.exists()
    for p in kept:
        with Image.open(p) as im:
            im.load()


def test_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="suffix"):
        encode_frames(_frames(1), tmp_path / "a.avi", fps=5)
    with pytest.raises(ValidationError, match="fps"):
        encode_frames(_frames(1), tmp_path / "a.mp4", fps=0)
    with pytest.raises(ValidationError, match="queue_size"):
        encode_frames(_frames(1), tmp_path / "a.mp4", fps=5, queue_size=0)
    with pytest.raises(ValidationError, match="frame"):
        encode_frames([np.zeros((8, 8, 3), np.float32)], tmp_path / "a.mp4", fps=5)
    with pytest.raises(ValidationError, match="no frame"):
        encode_frames([], tmp_path / "a.gif", fps=5)
    assert not any(TEMP_MARK in p.name for p in tmp_path.iterdir()) and list(tmp_path.iterdir()) == []


def test_a_frames_folder_gets_the_users_permissions(tmp_path: Path) -> None:
    """The folder is built under a temporary name and moved; it was left 0700 (mkdtemp's mode) for PNG frames."""
    import os

    old = os.umask(0o022)
    try:
        done = encode_frames(_frames(2), tmp_path / "frames", fps=5)
    finally:
        os.umask(old)
    assert done.path.is_dir() and (done.path.stat().st_mode & 0o777) == 0o755
