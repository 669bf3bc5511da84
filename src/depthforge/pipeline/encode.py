"""Streaming video encoding: frames go one by one to ffmpeg (the binary bundled with ``imageio-ffmpeg``).

Formats, chosen from the output's suffix (or ``video_format=``):

* ``.mp4`` / ``.m4v`` / ``.mov``: H.264 (libx264), yuv420p, sizes cropped to even numbers (the last row/column
  of an odd size is dropped), ``+faststart``.
* ``.webm``: VP9 (libvpx-vp9), yuv420p, even sizes, constant quality.
* ``.gif``: one 256-colour palette made from the first frame (so nothing has to be buffered), Bayer dithering,
  infinite loop.
* ``.apng``, ``.png``: animated PNG (lossless), infinite loop.
* a path without suffix (a folder): a PNG frame sequence ``frame_00000.png, ...``.

Memory does not depend on the number of frames: a writer thread takes frames from a bounded queue and pipes
them to ffmpeg (or writes the PNGs), so rendering the next frame overlaps with encoding. Output is written to a
temporary file (or folder) beside the target and renamed when complete; on error or interruption the target
is left untouched.

Note: ``depthforge.io.video`` (video reading/writing for depth videos) is being written at the same time; this
module is self-contained so the two can be merged later.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from depthforge.core.errors import DepthforgeError, ValidationError
from depthforge.core.validation import check_array, check_choice, check_range
from depthforge.io.atomic import TEMP_MARK, atomic_path

__all__ = [
    "VIDEO_FORMATS",
    "X264_PRESETS",
    "EncodeError",
    "VideoInfo",
    "VideoWriter",
    "encode_frames",
    "ffmpeg_exe",
    "probe",
]

VIDEO_FORMATS = ("mp4", "webm", "gif", "apng", "png-sequence")
_SUFFIX = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mp4", ".webm": "webm", ".gif": "gif", ".apng": "apng", ".png": "apng"}


class EncodeError(DepthforgeError):
    """ffmpeg failed or is missing (the message carries its last error lines)."""


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary shipped with imageio-ffmpeg (``IMAGEIO_FFMPEG_EXE`` overrides it)."""
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise EncodeError("video output needs 'imageio-ffmpeg' (pip install imageio-ffmpeg)") from exc
    return str(imageio_ffmpeg.get_ffmpeg_exe())


def format_for(path: str | os.PathLike[str], video_format: str | None = None) -> str:
    """The output format for ``path`` (one of :data:`VIDEO_FORMATS`)."""
    if video_format is not None:
        return str(check_choice(video_format, "video_format", VIDEO_FORMATS))
    suffix = Path(path).suffix.lower()
    if not suffix:
        return "png-sequence"
    if suffix not in _SUFFIX:
        raise ValidationError(f"output: unknown video suffix '{suffix}' (use {', '.join(sorted(_SUFFIX))} or a folder)")
    return _SUFFIX[suffix]


X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow")


def _codec_args(fmt: str, quality: int | None, preset: str = "veryfast") -> list[str]:
    if fmt == "mp4":
        crf = 18 if quality is None else quality
        return ["-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p",
                "-movflags", "+faststart", "-f", "mp4"]  # fmt: skip
    if fmt == "webm":
        crf = 32 if quality is None else quality
        return ["-c:v", "libvpx-vp9", "-crf", str(crf), "-b:v", "0", "-pix_fmt", "yuv420p", "-row-mt", "1",
                "-deadline", "realtime", "-cpu-used", "8", "-f", "webm"]  # fmt: skip
    if fmt == "apng":
        return ["-c:v", "apng", "-pix_fmt", "rgb24", "-plays", "0", "-f", "apng"]
    # gif: input 1 is the palette
    return ["-lavfi", "[0:v][1:v]paletteuse=dither=bayer:bayer_scale=3", "-loop", "0", "-f", "gif"]


class VideoWriter:
    """Write frames to a video file as they come (a context manager; see the module docstring).

    Args:
        path: output file (suffix picks the format) or folder (PNG sequence).
        fps: frames per second, > 0.
        video_format: force one of :data:`VIDEO_FORMATS`.
        quality: codec quality (x264/VP9 CRF; lower = better); None = a good default.
        queue_size: frames buffered between the renderer and the encoder (memory bound), >= 1.
        preset: x264 speed preset for mp4 (one of :data:`X264_PRESETS`; faster = larger files).

    Frames: (H, W, 3) uint8 RGB, all of the first frame's size (odd sizes cropped to even for mp4/webm).

    Example:
        >>> with VideoWriter("out.mp4", fps=30) as video:  # doctest: +SKIP
        ...     for frame in frames:
        ...         video.write(frame)
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fps: float,
        video_format: str | None = None,
        quality: int | None = None,
        queue_size: int = 4,
        preset: str = "veryfast",
    ) -> None:
        self.preset = check_choice(preset, "preset", X264_PRESETS)
        self.path = Path(path)
        self.format = format_for(self.path, video_format)
        self.fps = check_range(fps, "fps", low=0.0, low_inclusive=False, high=240.0)
        if quality is not None and (not isinstance(quality, int) or not 0 <= quality <= 63):
            raise ValidationError(f"quality: expected an integer CRF in 0..63, got {quality!r}")
        if not isinstance(queue_size, int) or queue_size < 1:
            raise ValidationError(f"queue_size: expected an integer >= 1, got {queue_size!r}")
        self.quality = quality
        self.frames = 0
        self.size: tuple[int, int] | None = None  # (width, height) as written
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: Any = None
        self._stack = ExitStack()
        self._tmp: Path | None = None
        self._closed = False

    # -- public ---------------------------------------------------------------------------------------------
    def write(self, frame: np.ndarray) -> None:
        """Queue one frame (blocks while the queue is full); raises :class:`EncodeError` if the encoder failed."""
        if self._closed:
            raise ValidationError("frame: the writer is closed")
        img = check_array(frame, "frame", ndim=3, channels=3)
        if img.dtype != np.uint8:
            raise ValidationError(f"frame: expected uint8 RGB, got {img.dtype}")
        if self.size is None:
            self._start(img.shape[1], img.shape[0])
        assert self.size is not None
        w, h = self.size
        if img.shape[:2] != self._shape_in:
            raise ValidationError(f"frame: size {img.shape[1]}x{img.shape[0]} differs from the first frame's")
        self._raise_if_failed()
        self._queue.put(np.ascontiguousarray(img[:h, :w]))
        self.frames += 1

    def close(self) -> Path:
        """Finish encoding, rename the temporary output to the target and return its path."""
        if self._closed:
            return self.path
        self._closed = True
        if self.size is None:
            self._stack.close()
            raise ValidationError("frames: no frame was written")
        self._queue.put(None)
        assert self._thread is not None
        self._thread.join()
        try:
            self._finish_process()
            self._raise_if_failed()
        except BaseException as exc:
            self._stack.__exit__(type(exc), exc, exc.__traceback__)
            raise
        self._stack.close()
        return self.path

    def abort(self) -> None:
        """Stop without producing the output (temporary files removed)."""
        if self._closed:
            return
        self._closed = True
        if self._proc is not None:
            self._proc.kill()
        if self._thread is not None:
            while self._thread.is_alive():
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    pass
                try:
                    self._queue.put_nowait(None)
                except queue.Full:
                    pass
                self._thread.join(timeout=0.1)
        if self._proc is not None:
            self._proc.wait()
        err = EncodeError("aborted")
        self._stack.__exit__(EncodeError, err, None)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # -- internals ------------------------------------------------------------------------------------------
    def _start(self, width: int, height: int) -> None:
        self._shape_in = (height, width)
        if self.format in ("mp4", "webm"):
            width, height = width - width % 2, height - height % 2
            if width < 2 or height < 2:
                raise ValidationError(f"frame: {self.format} needs at least 2x2 pixels")
        self.size = (width, height)
        if self.format == "png-sequence":
            self._tmp = Path(self._stack.enter_context(_atomic_dir(self.path)))
            target = self._write_pngs
        else:
            self._tmp = self._stack.enter_context(atomic_path(self.path))
            self._launch()
            target = self._pipe
        self._thread = threading.Thread(target=target, name="depthforge-encoder", daemon=True)
        self._thread.start()

    def _launch(self) -> None:
        assert self.size is not None and self._tmp is not None
        w, h = self.size
        exe = ffmpeg_exe()
        cmd = [exe, "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24"]
        cmd += ["-s", f"{w}x{h}", "-framerate", f"{self.fps:g}", "-i", "-"]
        if self.format == "gif":
            palette = self._tmp.with_name(self._tmp.stem + "_palette.png")
            self._stack.callback(lambda: palette.unlink(missing_ok=True))
            self._palette = palette
            cmd += ["-i", str(palette)]
        cmd += [*_codec_args(self.format, self.quality, self.preset), str(self._tmp)]
        self._cmd = cmd
        self._stderr = self._stack.enter_context(tempfile.TemporaryFile())
        if self.format != "gif":
            self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=self._stderr, stdout=subprocess.DEVNULL)

    def _make_palette(self, first: np.ndarray) -> None:
        """GIF: a palette from the first frame, so the main encoder streams."""
        h, w = first.shape[:2]
        cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24"]
        cmd += ["-s", f"{w}x{h}", "-i", "-", "-vf", "palettegen=stats_mode=full", "-frames:v", "1", str(self._palette)]
        done = subprocess.run(cmd, input=first.tobytes(), capture_output=True, check=False)
        if done.returncode != 0:
            raise EncodeError(f"ffmpeg palette: {done.stderr.decode(errors='replace').strip()[-300:]}")
        self._proc = subprocess.Popen(self._cmd, stdin=subprocess.PIPE, stderr=self._stderr, stdout=subprocess.DEVNULL)

    def _pipe(self) -> None:
        try:
            while (frame := self._queue.get()) is not None:
                if self._proc is None:
                    self._make_palette(frame)
                assert self._proc is not None and self._proc.stdin is not None
                self._proc.stdin.write(frame.data)
        except BaseException as exc:  # noqa: BLE001 - reported to the caller by write()/close()
            self._error = exc
            while self._queue.get() is not None:  # drain so the producer never blocks
                pass

    def _write_pngs(self) -> None:
        import cv2

        assert self._tmp is not None
        i = 0
        try:
            while (frame := self._queue.get()) is not None:
                name = str(self._tmp / f"frame_{i:05d}.png")
                if not cv2.imwrite(name, cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)):
                    raise EncodeError(f"could not write {name}")
                i += 1
        except BaseException as exc:  # noqa: BLE001 - reported to the caller by write()/close()
            self._error = exc
            while self._queue.get() is not None:
                pass

    def _finish_process(self) -> None:
        if self._proc is None:
            return
        if self._proc.stdin is not None:
            try:
                self._proc.stdin.close()
            except BrokenPipeError:
                pass
        code = self._proc.wait()
        if code != 0 and self._error is None:
            self._error = EncodeError(f"ffmpeg exited with status {code}")

    def _raise_if_failed(self) -> None:
        if self._error is None:
            return
        err = self._error
        if isinstance(err, EncodeError | ValidationError) and "ffmpeg" not in str(err):
            raise err
        tail = ""
        if self._stderr is not None:
            self._stderr.seek(0)
            tail = self._stderr.read().decode(errors="replace").strip()[-400:]
        raise EncodeError(f"ffmpeg failed writing {self.path.name} ({self.format}): {tail or err}") from err


def _atomic_dir(target: Path) -> Any:
    """Context manager yielding a temporary folder beside ``target``, renamed over it on success."""
    from contextlib import contextmanager

    @contextmanager
    def manager() -> Any:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() and not target.is_dir():
            raise ValidationError(f"output: {target} exists and is not a folder")
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}{TEMP_MARK}", dir=target.parent))
        try:
            yield tmp
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}{TEMP_MARK}old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    return manager()


def encode_frames(
    frames: Iterable[np.ndarray],
    path: str | os.PathLike[str],
    *,
    fps: float,
    video_format: str | None = None,
    quality: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Encode an iterable of (H, W, 3) uint8 RGB frames to ``path`` (streamed; see :class:`VideoWriter`).

    ``progress(1)`` is called after each frame is handed to the encoder.
    """
    with VideoWriter(path, fps=fps, video_format=video_format, quality=quality) as video:
        for frame in frames:
            video.write(frame)
            if progress is not None:
                progress(1)
    return Path(path)


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` reads back: ``codec`` (ffmpeg's name, e.g. h264, vp9, gif, apng, png), ``width``,
    ``height``, ``fps`` (as stored; GIF rounds frame delays to 1/100 s), ``frames`` (decoded count), ``pix_fmt``."""

    codec: str
    width: int
    height: int
    fps: float
    frames: int
    pix_fmt: str


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Read a video's stream facts with ``ffmpeg -i`` and count its frames by decoding it (no ffprobe needed)."""
    p = Path(path)
    if p.is_dir():
        files = sorted(p.glob("frame_*.png"))
        if not files:
            raise EncodeError(f"{p}: no frame_*.png files")
        import cv2

        first = cv2.imread(str(files[0]))
        if first is None:
            raise EncodeError(f"{files[0]}: not a readable PNG")
        return VideoInfo("png", int(first.shape[1]), int(first.shape[0]), 0.0, len(files), "rgb24")
    cmd = [ffmpeg_exe(), "-hide_banner", "-i", str(p), "-map", "0:v:0", "-f", "null", "-"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False).stderr
    m = re.search(r"Stream #\S+.*?Video: (\w+)[^,]*, (\w+)[^,]*(?:\([^)]*\))?, .*?(\d+)x(\d+)", out)
    if m is None:
        raise EncodeError(f"{p.name}: no video stream ({out.strip()[-200:]})")
    fps_m = re.search(r"([\d.]+) (?:fps|tbr)", out[m.end() :])
    frames = re.findall(r"frame=\s*(\d+)", out)
    return VideoInfo(
        codec=m.group(1),
        width=int(m.group(3)),
        height=int(m.group(4)),
        fps=float(fps_m.group(1)) if fps_m else 0.0,
        frames=int(frames[-1]) if frames else 0,
        pix_fmt=m.group(2),
    )
