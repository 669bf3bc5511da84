"""Video files as streams of frames, through the ffmpeg binary that imageio-ffmpeg ships.

* :func:`probe_video` reads size, exact frame rate, frame count, codec, pixel format, rotation and audio without
  decoding (one ffmpeg run that copies the video packets to a packet list).
* :func:`iter_frames` decodes one frame at a time from a pipe: memory does not depend on the clip's length.
* Writing is in :mod:`depthforge.io.video_writer` (one ``VideoWriter`` for every output format).

Variable frame rate input is refused with a clear message (the outputs promise the source's frame count and
frame timing; a constant-rate copy made with ffmpeg's ``-fps_mode cfr`` is accepted).
"""

from __future__ import annotations

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

from depthforge.core.errors import DepthforgeError, InputError, MissingExtraError
from depthforge.core.validation import check_choice
from depthforge.io.heif import is_heif_head
from depthforge.io.inputs import check_input_file, check_pixels, max_pixels_limit

__all__ = [
    "SEQUENCE_NUMBER",
    "is_sequence_pattern",
    "snap_frame_rate",
    "PIX_FMTS",
    "VIDEO_EXTENSIONS",
    "EncodeError",
    "VideoInfo",
    "ffmpeg_exe",
    "is_video_path",
    "input_args",
    "last_error_line",
    "read_stderr",
    "iter_frames",
    "start_ffmpeg",
    "probe_video",
]

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts", ".wmv", ".flv"}
)
_STANDARD_RATES = tuple(
    Fraction(r) for r in ("24000/1001", "30000/1001", "60000/1001", "120000/1001", "24", "25", "30", "48", "50", "60")
)
PIX_FMTS = {"gray16le": (1, np.uint16), "gray": (1, np.uint8), "rgb24": (3, np.uint8)}
#: Container formats (ffmpeg demuxer names) read from users' files: playlists (HLS), concat lists, image sequences
#: and every network protocol are refused, so a file can never make ffmpeg read another file or a URL.
_DEMUXERS = "mov,mp4,matroska,webm,avi,mpeg,mpegts,mpegvideo,asf,flv,gif,apng,ivf,m4v"


class EncodeError(DepthforgeError):
    """ffmpeg failed writing a video (the message names the file and carries ffmpeg's last error line)."""


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary (imageio-ffmpeg's bundled one; ``DEPTHFORGE_FFMPEG`` or ``IMAGEIO_FFMPEG_EXE``
    overrides it)."""
    env = os.environ.get("DEPTHFORGE_FFMPEG")
    if env:
        return env
    try:
        import imageio_ffmpeg
    except ImportError:  # pragma: no cover - base dependency
        raise MissingExtraError("imageio-ffmpeg", "video") from None
    return str(imageio_ffmpeg.get_ffmpeg_exe())


#: An image sequence's frame number in its file name: a ``#`` run or ``%0Nd`` (N in group 1), before the extension.
SEQUENCE_NUMBER = re.compile(r"(?:#+|%(0?\d*)d)(?=\.[A-Za-z0-9]+$)")


def is_sequence_pattern(path: str | os.PathLike[str]) -> bool:
    """Whether a path names an image sequence (:mod:`depthforge.io.sequence`): a file name whose frame number,
    just before the extension, is a ``#`` run or ``%0Nd`` (``shot.####.png``), and no such file."""
    return bool(SEQUENCE_NUMBER.search(Path(path).name)) and not os.path.exists(path)


def is_video_path(path: str | os.PathLike[str]) -> bool:
    """Whether a file is a video: a photo by its first bytes (JPEG, PNG, WebP) whatever its name, else by its
    extension (:data:`VIDEO_EXTENSIONS`; an image extension means a photo, as a HEIC is ISO media too), and a file
    with neither kind of extension by its first bytes (ISO media that is not HEIF/AVIF, Matroska, AVI). An image
    sequence's pattern (``shot.####.png``, :func:`is_sequence_pattern`) is a clip too."""
    from depthforge.io.images import IMAGE_EXTENSIONS

    if is_sequence_pattern(path):
        return True

    head = b""
    if os.path.isfile(path):  # a regular file: opening a named pipe would wait for a writer
        try:
            with open(path, "rb") as fh:
                head = fh.read(16)
        except OSError:
            pass
    if (
        head[:3] == b"\xff\xd8\xff"
        or head[:8] == b"\x89PNG\r\n\x1a\n"
        or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
    ):
        return False
    ext = Path(path).suffix.lower()
    if ext in VIDEO_EXTENSIONS or ext in IMAGE_EXTENSIONS:
        return ext in VIDEO_EXTENSIONS
    if head[4:8] == b"ftyp":  # ISO media: a HEIF/AVIF still image, or a video
        return not is_heif_head(head) and head[8:12] not in (b"avif", b"avis")
    return head[:4] == b"\x1a\x45\xdf\xa3" or (head[:4] == b"RIFF" and head[8:12] == b"AVI ")


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` learns about a file.

    Attributes:
        path: the file.
        width, height: frame size in pixels as decoded (rotation metadata applied).
        fps: exact constant frame rate (e.g. ``Fraction(30000, 1001)``).
        frame_count: number of video frames (packets of the first video stream).
        duration_s: frame_count / fps.
        codec: the video codec name (``h264``, ``ffv1``, ``vp9``, ``gif``, ``apng``...).
        rotation: display rotation in degrees that decoding applies (0, 90, 180, 270).
        audio_codecs: codec names of the audio streams (empty when silent).
        pix_fmt: the stored pixel format (``yuv420p``, ``gray16le``, ``rgb24``...; empty when not reported).
        pixel_aspect: the pixels' width / height as displayed (an anamorphic plate's 32/27; 1 for square pixels).
        timecode: the source's start timecode (``HH:MM:SS:FF``, ``;`` for drop-frame; empty when it has none).
        interlaced: the stream says its frames are interlaced (top or bottom field first); they are read as
            whole frames.
    """

    path: Path
    width: int
    height: int
    fps: Fraction
    frame_count: int
    codec: str
    rotation: int = 0
    audio_codecs: tuple[str, ...] = ()
    pix_fmt: str = ""
    pixel_aspect: Fraction = Fraction(1)
    timecode: str = ""
    interlaced: bool = False

    @property
    def has_audio(self) -> bool:
        return bool(self.audio_codecs)

    @property
    def duration_s(self) -> float:
        return float(self.frame_count / self.fps)


def input_args(path: str | os.PathLike[str]) -> list[str]:
    """ffmpeg arguments that open a user's video file, and nothing else (see :data:`_DEMUXERS`)."""
    return ["-protocol_whitelist", "file,pipe", "-format_whitelist", _DEMUXERS, "-i", os.fspath(path)]


def _run(args: list[str], *, timeout: float | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", *args], capture_output=True, timeout=timeout, check=False
    )


def start_ffmpeg(args: list[str], **streams: Any) -> subprocess.Popen[bytes]:
    """An ffmpeg child with ``args``, in its own session (the terminal's Ctrl-C reaches only Python, which then
    closes it in order); ``streams``: Popen's stdin, stdout, stderr."""
    return subprocess.Popen([ffmpeg_exe(), "-hide_banner", "-nostdin", *args], start_new_session=True, **streams)


def last_error_line(stderr: str) -> str:
    """The last meaningful line of ffmpeg's stderr (its error), without the ``[component]`` prefix, at most
    200 characters; "unreadable" when there is none."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if not ln.startswith(("Input #", "Stream #", "Metadata", "Duration", "At least one output")):
            return re.sub(r"^\[[^\]]*\]\s*", "", ln)[:200]
    return "unreadable"


def snap_frame_rate(rate: Fraction) -> Fraction:
    """``rate`` as the standard rate it stands for (23.976 -> 24000/1001, within 1/5000), else to 1/1001 steps."""
    for std in _STANDARD_RATES:
        if abs(rate - std) / std < Fraction(1, 5000):
            return std
    return rate.limit_denominator(1001)


def probe_video(path: str | os.PathLike[str], *, max_pixels: int | None = None) -> VideoInfo:
    """Read a video file's facts without decoding it.

    Args:
        path: the video file (it passes :func:`depthforge.io.inputs.check_input_file`; only the containers of
            :data:`VIDEO_EXTENSIONS` are opened, whatever the name says).
        max_pixels: largest frame accepted, width x height (default: ``DEPTHFORGE_MAX_PIXELS`` or 250 M). Frames
            are decoded one at a time, so the limit is per frame, not per clip.

    Raises:
        InputError: missing file, not a video, no video stream (audio only), no frames, a file cut short or with
            damaged packets, frames above the pixel limit, or a variable frame rate.
    """
    limit = max_pixels_limit(max_pixels)
    p = check_input_file(path, what="video")
    try:
        res = _run([*input_args(p), "-map", "0:v:0", "-c", "copy", "-f", "framecrc", "-"], timeout=600)
    except subprocess.TimeoutExpired:
        raise InputError(f"{p}: reading the video took longer than 600 s") from None
    err = res.stderr.decode("utf-8", "replace")
    if "Input #0" not in err:
        raise InputError(f"{p}: not a readable video ({last_error_line(err)})")
    streams = re.findall(r"Stream #0:\d+[^:]*: (Video|Audio): (\w+)", err)
    videos = [c for kind, c in streams if kind == "Video"]
    audios = tuple(c for kind, c in streams if kind == "Audio")
    if not videos or all(c in ("png", "mjpeg", "bmp") and "attached pic" in err for c in videos):
        what = "audio only" if audios else "no video stream"
        raise InputError(f"{p}: not a video ({what})")
    if res.returncode != 0:
        raise InputError(f"{p}: corrupt or unreadable video ({last_error_line(err)})")
    # ffmpeg reads the packets that are there and succeeds: a file cut short (its index lists frames beyond the
    # end) or with damaged packets says so only in its log
    damage = re.search(  # "File ended prematurely": Matroska cut short (user trial 6: 24 of 50 frames read)
        r"^.*(?:: partial file|Packet corrupt|corrupt input packet|File ended prematurely).*$", err, re.M
    )
    if damage is not None:
        line = re.sub(r"^\[[^]]*\] ", "", damage.group(0).strip())
        raise InputError(f"{p}: truncated or corrupt video ({line}); it is not read in part")
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
    check_pixels(p, [(width, height)], limit)
    fps = _frame_rate(np.sort(np.asarray(pts, np.int64)), tb, err, p)
    rot_m = re.search(r"rotation of (-?[\d.]+) degrees", err)
    rotation = round(-float(rot_m.group(1))) % 360 if rot_m else 0
    if rotation in (90, 270):
        width, height = height, width
    pix_m = re.search(r"Stream #0:\d+[^:]*: Video: \w+[^,\n]*, (\w+)", err)
    pix_fmt = pix_m.group(1) if pix_m else ""
    # what an editor lines the depth up by (user trial 6: outputs lost an anamorphic plate's aspect and timecode)
    # the first video stream's line only (a cover picture's comes later); values a writer would refuse are dropped
    line_m = re.search(r"Stream #0:\d+[^:]*: Video: [^\n]*", err)
    line = line_m.group(0) if line_m else ""
    sar_m = re.search(r"SAR (\d+):(\d+)", line)
    aspect = Fraction(int(sar_m.group(1)), int(sar_m.group(2))) if sar_m and int(sar_m.group(2)) > 0 else Fraction(1)
    aspect = (1 / aspect if rotation in (90, 270) else aspect) if Fraction(1, 100) <= aspect <= 100 else Fraction(1)
    tc_m = re.search(r"^\s*timecode\s*:\s*(\d\d:[0-5]\d:[0-5]\d[:;]\d\d)\s*$", err, re.M | re.I)
    timecode = tc_m.group(1) if tc_m else ""
    fields = re.search(r"\((?:[^)]*, )?(?:top|bottom) (?:first|coded first)", line)
    facts = (pix_fmt, aspect, timecode, fields is not None)
    return VideoInfo(p, width, height, fps, len(pts), videos[0], rotation, audios, *facts)


def _frame_rate(pts: np.ndarray, tb: Fraction, stderr: str, path: Path) -> Fraction:
    """Exact constant frame rate from the packet timestamps; refuses variable frame rates."""
    header = re.search(r"([\d.]+)(k?) fps", stderr)
    if len(pts) < 2:
        if header is None:
            raise InputError(f"{path}: the frame rate cannot be read")
        return snap_frame_rate(Fraction(header.group(1)) * (1000 if header.group(2) else 1))
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
        nominal = snap_frame_rate(Fraction(header.group(1)) * (1000 if header.group(2) else 1))
        if abs(1 / nominal - mean * tb) <= tb * Fraction(len(pts), len(pts) - 1):
            return nominal
    return snap_frame_rate(measured)


def read_stderr(fh: IO[bytes]) -> str:
    """Everything an ffmpeg child wrote to the temporary file given as its stderr, decoded (UTF-8, errors replaced)."""
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
    args = ["-v", "error", *input_args(path), "-map", "0:v:0", "-fps_mode", "passthrough"]
    args += ["-f", "rawvideo", "-pix_fmt", pix_fmt, "-"]
    err = tempfile.TemporaryFile()
    proc = start_ffmpeg(args, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL)
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
            raise InputError(f"{path}: decoding failed ({last_error_line(read_stderr(err))})")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        err.close()
