"""Video files as streams of frames, through the ffmpeg binary that imageio-ffmpeg ships.

* :func:`probe_video` reads size, exact frame rate, frame count, codec, rotation and audio without decoding
  (one ffmpeg run that copies the video packets to a packet list).
* :func:`iter_frames` decodes one frame at a time from a pipe: memory does not depend on the clip's length.
* :class:`VideoWriter` encodes frames fed one at a time: lossless 16-bit grayscale (FFV1 in MKV, ``gray16le``),
  8-bit H.264 (``yuv420p``, even sizes, BT.709 tags) or lossless RGB FFV1; the source's audio can be copied in.

Outputs are written to a temporary file beside the target and renamed when complete. An error removes the
temporary file; Ctrl-C (``KeyboardInterrupt``) finishes the stream cleanly and keeps a valid, playable
``<name>.partial<ext>`` with the frames done so far. The ffmpeg children run in their own session, so the
terminal's Ctrl-C reaches only Python, which then closes them in order.

Variable frame rate input is refused with a clear message (the outputs promise the source's frame count and
frame timing; a constant-rate copy made with ffmpeg's ``-fps_mode cfr`` is accepted).
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import numpy as np

from depthforge.core.errors import InputError, MissingExtraError, ValidationError
from depthforge.core.validation import check_array, check_choice
from depthforge.io.atomic import TEMP_MARK

__all__ = [
    "VIDEO_EXTENSIONS",
    "VideoInfo",
    "VideoWriter",
    "ffmpeg_exe",
    "is_video_path",
    "iter_frames",
    "probe_video",
    "partial_path",
]

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts", ".wmv", ".flv"}
)
_STANDARD_RATES = tuple(
    Fraction(r) for r in ("24000/1001", "30000/1001", "60000/1001", "120000/1001", "24", "25", "30", "48", "50", "60")
)
#: Containers H.264 outputs may carry these audio codecs in without re-encoding (others become AAC).
_MP4_AUDIO = frozenset({"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"})
CODECS = ("ffv1", "h264")
PIX_FMTS = {"gray16le": (1, np.uint16), "gray": (1, np.uint8), "rgb24": (3, np.uint8)}


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary (imageio-ffmpeg's bundled one; ``DEPTHFORGE_FFMPEG`` overrides)."""
    env = os.environ.get("DEPTHFORGE_FFMPEG")
    if env:
        return env
    try:
        import imageio_ffmpeg
    except ImportError:  # pragma: no cover - base dependency
        raise MissingExtraError("imageio-ffmpeg", "video") from None
    return str(imageio_ffmpeg.get_ffmpeg_exe())


def is_video_path(path: str | os.PathLike[str]) -> bool:
    """True when the file name has a video extension (see :data:`VIDEO_EXTENSIONS`)."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` learns about a file.

    Attributes:
        path: the file.
        width, height: frame size in pixels as decoded (rotation metadata applied).
        fps: exact constant frame rate (e.g. ``Fraction(30000, 1001)``).
        frame_count: number of video frames (packets of the first video stream).
        duration_s: frame_count / fps.
        codec: the video codec name (``h264``, ``ffv1``...).
        rotation: display rotation in degrees that decoding applies (0, 90, 180, 270).
        audio_codecs: codec names of the audio streams (empty when silent).
    """

    path: Path
    width: int
    height: int
    fps: Fraction
    frame_count: int
    codec: str
    rotation: int = 0
    audio_codecs: tuple[str, ...] = ()

    @property
    def has_audio(self) -> bool:
        return bool(self.audio_codecs)

    @property
    def duration_s(self) -> float:
        return float(self.frame_count / self.fps)


def _run(args: list[str], *, timeout: float | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", *args], capture_output=True, timeout=timeout, check=False
    )


def _last_error(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if not ln.startswith(("Input #", "Stream #", "Metadata", "Duration", "At least one output")):
            return re.sub(r"^\[[^\]]*\]\s*", "", ln)[:200]
    return "unreadable"


def _snap_rate(rate: Fraction) -> Fraction:
    for std in _STANDARD_RATES:
        if abs(rate - std) / std < Fraction(1, 5000):
            return std
    return rate.limit_denominator(1001)


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Read a video file's facts without decoding it.

    Raises:
        InputError: missing file, not a video, no video stream (audio only), no frames, or a variable frame rate.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    res = _run(["-i", str(p), "-map", "0:v:0", "-c", "copy", "-f", "framecrc", "-"], timeout=600)
    err = res.stderr.decode("utf-8", "replace")
    if "Input #0" not in err:
        raise InputError(f"{p}: not a readable video ({_last_error(err)})")
    streams = re.findall(r"Stream #0:\d+[^:]*: (Video|Audio): (\w+)", err)
    videos = [c for kind, c in streams if kind == "Video"]
    audios = tuple(c for kind, c in streams if kind == "Audio")
    if not videos or all(c in ("png", "mjpeg", "bmp") and "attached pic" in err for c in videos):
        what = "audio only" if audios else "no video stream"
        raise InputError(f"{p}: not a video ({what})")
    if res.returncode != 0:
        raise InputError(f"{p}: corrupt or unreadable video ({_last_error(err)})")
    out = res.stdout.decode("utf-8", "replace")
    tb_m = re.search(r"^#tb 0: (\d+)/(\d+)", out, re.M)
    dim_m = re.search(r"^#dimensions 0: (\d+)x(\d+)", out, re.M)
    pts = []
    for line in out.splitlines():
        if line and not line.startswith("#"):
            parts = [s.strip() for s in line.split(",")]
            if len(parts) >= 4:
                pts.append(int(parts[2]))
    if not pts:
        raise InputError(f"{p}: the video stream has no frames")
    if tb_m is None or dim_m is None:
        raise InputError(f"{p}: corrupt or unreadable video (no stream header)")
    tb = Fraction(int(tb_m.group(1)), int(tb_m.group(2)))
    width, height = int(dim_m.group(1)), int(dim_m.group(2))
    fps = _frame_rate(np.sort(np.asarray(pts, np.int64)), tb, err, p)
    rot_m = re.search(r"rotation of (-?[\d.]+) degrees", err)
    rotation = round(-float(rot_m.group(1))) % 360 if rot_m else 0
    if rotation in (90, 270):
        width, height = height, width
    return VideoInfo(p, width, height, fps, len(pts), videos[0], rotation, audios)


def _frame_rate(pts: np.ndarray, tb: Fraction, stderr: str, path: Path) -> Fraction:
    """Exact constant frame rate from the packet timestamps; refuses variable frame rates."""
    header = re.search(r"([\d.]+)(k?) fps", stderr)
    if len(pts) < 2:
        if header is None:
            raise InputError(f"{path}: the frame rate cannot be read")
        return _snap_rate(Fraction(header.group(1)) * (1000 if header.group(2) else 1))
    deltas = np.diff(pts)
    if (deltas <= 0).any():
        raise InputError(f"{path}: repeated frame timestamps; re-encode it (ffmpeg -i IN -fps_mode cfr OUT)")
    mean = Fraction(int(pts[-1] - pts[0]), len(pts) - 1)
    # constant rate: every interval within one tick (rounding in coarse time bases like MKV's 1 ms) or 1 %
    tol = max(1.0, 0.01 * float(mean))
    if np.abs(deltas - float(mean)).max() > tol:
        ratio = deltas.max() / max(int(deltas.min()), 1)
        raise InputError(
            f"{path}: variable frame rate (frame intervals differ up to {ratio:.1f}x); make a constant-rate copy "
            "first, e.g. ffmpeg -i IN -fps_mode cfr -r 30 OUT.mp4"
        )
    measured = 1 / (mean * tb)
    if header is not None:
        # the container's nominal rate (e.g. MKV's default duration) is exact where 1 ms ticks are not
        nominal = _snap_rate(Fraction(header.group(1)) * (1000 if header.group(2) else 1))
        if abs(1 / nominal - mean * tb) <= tb * Fraction(len(pts), len(pts) - 1):
            return nominal
    return _snap_rate(measured)


def _stderr_file() -> IO[bytes]:
    return tempfile.TemporaryFile()


def _read_err(fh: IO[bytes]) -> str:
    fh.seek(0)
    return fh.read().decode("utf-8", "replace")


def iter_frames(
    path: str | os.PathLike[str], *, pix_fmt: str = "rgb24", info: VideoInfo | None = None
) -> Iterator[np.ndarray]:
    """Decode frames one at a time.

    Args:
        path: a video file.
        pix_fmt: ``rgb24`` -> (H, W, 3) uint8 RGB; ``gray16le`` -> (H, W) uint16; ``gray`` -> (H, W) uint8.
        info: the file's :func:`probe_video` result (probed here when None).

    Yields:
        one new array per frame, in presentation order, no frame dropped or repeated.

    Raises:
        InputError: when decoding fails part way (after the frames that did decode).
    """
    check_choice(pix_fmt, "pix_fmt", tuple(PIX_FMTS))
    meta = info or probe_video(path)
    channels, dtype = PIX_FMTS[pix_fmt]
    shape = (meta.height, meta.width, channels) if channels > 1 else (meta.height, meta.width)
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    args = ["-v", "error", "-i", str(path), "-map", "0:v:0", "-fps_mode", "passthrough"]
    args += ["-f", "rawvideo", "-pix_fmt", pix_fmt, "-"]
    err = _stderr_file()
    proc = subprocess.Popen(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", *args],
        stdout=subprocess.PIPE,
        stderr=err,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        if proc.stdout is None:  # pragma: no cover - Popen contract
            raise RuntimeError("ffmpeg pipe missing")
        while True:
            buf = proc.stdout.read(nbytes)
            if len(buf) < nbytes:
                break
            yield np.frombuffer(buf, dtype=dtype).reshape(shape).copy()
        proc.stdout.close()
        code = proc.wait()
        if code != 0:
            raise InputError(f"{path}: decoding failed ({_last_error(_read_err(err))})")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        err.close()


def partial_path(path: str | os.PathLike[str]) -> Path:
    """Where an interrupted output is kept: ``clip_depth.mkv`` -> ``clip_depth.partial.mkv``."""
    p = Path(path)
    return p.with_name(f"{p.stem}.partial{p.suffix}")


class VideoWriter:
    """Encode frames to a video file as they come (use as a context manager, or call :meth:`close`).

    Args:
        path: target file; ``.mkv`` (Matroska) or ``.mp4``/``.mov`` (H.264 only).
        width, height: frame size of the frames given to :meth:`write`.
        fps: exact frame rate (a Fraction keeps 30000/1001 exact).
        codec: ``ffv1`` (lossless) or ``h264`` (8-bit ``yuv420p``; odd sizes are padded to even by repeating
            the last row/column).
        pix_fmt: frames' layout: ``gray16le`` (H, W) uint16, ``gray`` (H, W) uint8, ``rgb24`` (H, W, 3) uint8.
        audio_from: a file whose audio streams are copied in (timing kept: frame ``i`` starts at ``i / fps``).
        crf: H.264 quality (0..51, lower is better).

    Frame ``i`` is shown at ``i / fps``; the frame count is exactly the number of :meth:`write` calls.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        width: int,
        height: int,
        fps: Fraction | float,
        codec: str = "ffv1",
        pix_fmt: str = "gray16le",
        audio_from: VideoInfo | None = None,
        crf: int = 18,
    ) -> None:
        check_choice(codec, "codec", CODECS)
        check_choice(pix_fmt, "pix_fmt", tuple(PIX_FMTS))
        if width < 1 or height < 1:
            raise ValidationError(f"size: expected positive width and height, got {width}x{height}")
        self.path = Path(path)
        ext = self.path.suffix.lower()
        if codec == "ffv1" and ext != ".mkv":
            raise ValidationError(f"path: FFV1 needs a .mkv file, got '{ext or self.path.name}'")
        if ext not in (".mkv", ".mp4", ".mov"):
            raise ValidationError(f"path: expected .mkv, .mp4 or .mov, got '{ext or self.path.name}'")
        self.width, self.height, self.codec, self.pix_fmt = width, height, codec, pix_fmt
        self.fps = Fraction(fps).limit_denominator(1_000_000)
        self.frames = 0
        self._pad = codec == "h264" and (width % 2 or height % 2)
        enc_w, enc_h = width + width % 2 * self._pad, height + height % 2 * self._pad
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self.path.stem}{TEMP_MARK}", suffix=self.path.suffix, dir=self.path.parent
        )
        os.close(fd)
        self._tmp = Path(tmp)
        args = ["-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", pix_fmt, "-s", f"{enc_w}x{enc_h}"]
        args += ["-framerate", f"{self.fps.numerator}/{self.fps.denominator}", "-i", "-"]
        audio = audio_from is not None and audio_from.has_audio
        if audio and audio_from is not None:
            args += ["-i", str(audio_from.path), "-map", "0:v:0", "-map", "1:a"]
        if codec == "ffv1":
            out_fmt = "gray16le" if pix_fmt == "gray16le" else ("gray" if pix_fmt == "gray" else "bgr0")
            args += ["-c:v", "ffv1", "-level", "3", "-g", "1", "-slicecrc", "1", "-pix_fmt", out_fmt]
        else:
            args += ["-c:v", "libx264", "-preset", "fast", "-crf", str(crf)]
            args += ["-vf", "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p"]
            args += ["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv"]
        if audio and audio_from is not None:
            copy_ok = ext == ".mkv" or all(c in _MP4_AUDIO for c in audio_from.audio_codecs)
            args += ["-c:a", "copy"] if copy_ok else ["-c:a", "aac", "-b:a", "192k"]
        if ext in (".mp4", ".mov"):
            args += ["-movflags", "+faststart"]
        args += ["-f", "matroska" if ext == ".mkv" else ext[1:], str(self._tmp)]
        self._err = _stderr_file()
        self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [ffmpeg_exe(), "-hide_banner", "-nostdin", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self._err,
            start_new_session=True,
        )

    def write(self, frame: np.ndarray) -> None:
        """Append one frame of the layout given by ``pix_fmt`` and the writer's size."""
        channels, dtype = PIX_FMTS[self.pix_fmt]
        a = check_array(frame, "frame", ndim=3 if channels > 1 else 2)
        want = (self.height, self.width, channels) if channels > 1 else (self.height, self.width)
        if a.shape != want or a.dtype != dtype:
            raise ValidationError(f"frame: expected {want} {np.dtype(dtype).name}, got {a.shape} {a.dtype}")
        if self._pad:
            pad = ((0, self.height % 2), (0, self.width % 2)) + (((0, 0),) if channels > 1 else ())
            a = np.pad(a, pad, mode="edge")
        if self._proc is None or self._proc.stdin is None:
            raise ValidationError("frame: the writer is closed")
        try:
            self._proc.stdin.write(np.ascontiguousarray(a).tobytes())
        except BrokenPipeError:
            raise InputError(f"{self.path}: the encoder stopped ({self._finish_error()})") from None
        self.frames += 1

    def _finish(self) -> int:
        proc = self._proc
        self._proc = None
        if proc is None:
            return 0
        if proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError, OSError):
                proc.stdin.close()
        return proc.wait()

    def _finish_error(self) -> str:
        code = self._finish()
        return _last_error(_read_err(self._err)) if code else "no message"

    def close(self) -> Path:
        """Finish the stream and move the file into place; returns the final path."""
        if self._proc is None and not self._tmp.exists():
            return self.path
        try:
            code = self._finish()
            if code != 0:
                raise InputError(f"{self.path}: encoding failed ({_last_error(_read_err(self._err))})")
            if self.frames == 0:
                raise InputError(f"{self.path}: no frames were written")
            os.replace(self._tmp, self.path)
        finally:
            self._cleanup()
        return self.path

    def abort(self, *, keep_partial: bool = False) -> Path | None:
        """Stop writing. ``keep_partial``: finish the stream and keep it as :func:`partial_path` (if any frame
        was written and the encoder finished cleanly); otherwise remove everything. Returns the kept path."""
        kept = None
        try:
            code = self._finish()
            if keep_partial and code == 0 and self.frames > 0 and self._tmp.exists():
                kept = partial_path(self.path)
                os.replace(self._tmp, kept)
        finally:
            self._cleanup()
        return kept

    def _cleanup(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None
        with contextlib.suppress(FileNotFoundError):
            self._tmp.unlink()
        self._err.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort(keep_partial=exc_type is KeyboardInterrupt)
