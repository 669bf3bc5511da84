"""Writing video files: one :class:`VideoWriter` for every output format, through imageio-ffmpeg's ffmpeg.

Frames are fed one at a time; the codec comes from the file's suffix (see :data:`CODECS`): lossless FFV1 in MKV
(16-bit ``gray16le``, 8-bit gray or RGB), H.264 (``.mp4``/``.mov``/``.mkv``) and VP9 (``.webm``) in ``yuv420p``
with BT.709 tags, GIF (one palette made from the first frame, so nothing is buffered), animated PNG
(``.apng``/``.png``), or a folder of ``frame_00000.png`` files. The source's audio can be copied in; frame ``i`` is
shown at exactly ``i / fps``.

Outputs are written to a temporary file (or folder) beside the target and renamed when complete. An error removes
the temporary output; Ctrl-C (``KeyboardInterrupt``) finishes the stream cleanly and keeps a valid, playable
``<name>.partial<ext>`` with the frames done so far (and the audio cut to them). The ffmpeg children run in their
own session, so the terminal's Ctrl-C reaches only Python, which then closes them in order.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import numpy as np

from depthforge.core.errors import ValidationError
from depthforge.core.validation import check_array, check_choice, check_range, check_size_hw
from depthforge.io.atomic import OUTPUT_MODE, atomic_path, sweep_stale, temp_prefix
from depthforge.io.images import GIF_MIN_FRAME_MS
from depthforge.io.video import (
    PIX_FMTS,
    EncodeError,
    VideoInfo,
    ffmpeg_exe,
    input_args,
    last_error_line,
    read_stderr,
    start_ffmpeg,
)

__all__ = ["CODECS", "STEREO_PACKINGS", "X264_PRESETS", "VideoWriter", "codec_for", "partial_path"]


def partial_path(path: str | os.PathLike[str]) -> Path:
    """Where an interrupted output is kept: ``clip_depth.mkv`` -> ``clip_depth.partial.mkv``, ``seq`` ->
    ``seq.partial``."""
    p = Path(path)
    return p.with_name(f"{p.stem}.partial{p.suffix}")


#: What :class:`VideoWriter` can write: codec -> the suffixes it may go in, the first one's default codec first
#: (``""``: a folder of ``frame_00000.png`` files).
CODECS: dict[str, tuple[str, ...]] = {
    "ffv1": (".mkv",),
    "h264": (".mp4", ".m4v", ".mov", ".mkv"),
    "vp9": (".webm", ".mkv"),
    "gif": (".gif",),
    "apng": (".apng", ".png"),
    "png": ("",),
}
_MUXERS = {".mkv": "matroska", ".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".webm": "webm", ".gif": "gif",
           ".apng": "apng", ".png": "apng"}  # fmt: skip
#: Audio codecs each container takes as they are (others are re-encoded: AAC in MP4/MOV, Opus in WebM).
_AUDIO_COPY = {"mp4": {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"}, "mov": {"aac", "mp3", "ac3", "eac3",
               "alac", "opus", "flac"}, "webm": {"opus", "vorbis"}}  # fmt: skip
_AUDIO_ENCODE = {"mp4": ["-c:a", "aac", "-b:a", "192k"], "mov": ["-c:a", "aac", "-b:a", "192k"],
                 "webm": ["-c:a", "libopus", "-b:a", "128k"]}  # fmt: skip
#: Stereo layouts :class:`VideoWriter` can declare (left eye first): Matroska's ``stereo_mode``, the H.264
#: frame-packing SEI (x264's value: only for the half layouts, the broadcast format it describes; a 3D TV would
#: squeeze a full one) and, in Matroska, the pixel aspect that makes its display size one full view (Matroska's
#: display size is one eye's: ffmpeg halves the frame's).
STEREO_PACKINGS: dict[str, tuple[str, int | None, str | None]] = {
    "left-right": ("left_right", None, None),
    "top-bottom": ("top_bottom", None, None),
    "half-left-right": ("left_right", 3, "2/1"),
    "half-top-bottom": ("top_bottom", 4, "1/2"),
}
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow")
_CRF = {"h264": (18, 51), "vp9": (32, 63)}  # default, largest
_YUV420 = ["-vf", "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p", "-colorspace", "bt709",
           "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv"]  # fmt: skip
_LOSSLESS_PIX = {"ffv1": {"gray16le": "gray16le", "gray": "gray", "rgb24": "bgr0"},
                 "apng": {"gray16le": "gray16be", "gray": "gray", "rgb24": "rgb24"}}  # fmt: skip


def codec_for(path: str | os.PathLike[str], codec: str | None = None) -> str:
    """The codec a :class:`VideoWriter` uses for ``path`` (one of :data:`CODECS`; default: the suffix's first).

    Raises:
        ValidationError: unknown suffix, or a codec the suffix's container cannot hold.
    """
    suffix = Path(path).suffix.lower()
    allowed = [c for c, suffixes in CODECS.items() if suffix in suffixes]
    if not allowed:
        known = ", ".join(sorted(_MUXERS))
        raise ValidationError(f"path: unknown video suffix '{suffix}' (use {known}, or a folder for PNG frames)")
    if codec is None:
        return allowed[0]
    check_choice(codec, "codec", tuple(CODECS))
    if codec not in allowed:
        where = " or ".join(s or "a folder" for s in CODECS[codec])
        raise ValidationError(f"path: {codec.upper()} needs a {where} file, got '{suffix or Path(path).name}'")
    return codec


class VideoWriter:
    """Encode frames to a video file as they come (use as a context manager, or call :meth:`close`).

    Args:
        path: target file, its suffix picks the codec (:func:`codec_for`); a path without suffix is a folder
            of ``frame_00000.png, ...``.
        fps: exact frame rate, > 0 (a Fraction keeps 30000/1001 exact).
        size_hw: (height, width) of the frames given to :meth:`write` (default: the first frame's).
        codec: one of :data:`CODECS` the suffix allows (``.mkv`` takes ``ffv1`` (default), ``h264`` or ``vp9``).
        pix_fmt: frames' layout: ``gray16le`` (H, W) uint16, ``gray`` (H, W) uint8, ``rgb24`` (H, W, 3) uint8
            (default ``gray16le`` for FFV1, ``rgb24`` otherwise).
        audio_from: a probed file whose audio streams are copied in (timing kept; MKV takes any codec, MP4/MOV
            re-encode other codecs to AAC and WebM to Opus). GIF, APNG and PNG frames cannot carry audio.
        quality: H.264/VP9 CRF (0..51 / 0..63, lower is better; default 18 / 32); the other codecs are lossless
            or palette-based and ignore it.
        preset: x264 speed preset (one of :data:`X264_PRESETS`; faster = larger files).
        odd_size: H.264 and VP9 (``yuv420p``) need even sizes: ``pad`` repeats the last row/column, ``crop``
            drops it. The other codecs keep any size.
        stereo: the frames are a stereo pair, one of :data:`STEREO_PACKINGS` (``half-`` for views squeezed into
            the frame), said once: by MKV and WebM in their StereoMode (and pixel aspect), by MP4/MOV in the H.264
            stream for the half layouts (a frame-packing SEI, which 3D TVs and players read); said twice, ffmpeg's
            own decoder fails on it. GIF, APNG and PNG frames have no such field and are refused.
        timecode: the start timecode to record (``HH:MM:SS:FF``, ``;`` before the frames for drop-frame), e.g. the
            source's (:attr:`VideoInfo.timecode`); MP4/MOV/MKV/WebM only.
        pixel_aspect: the pixels' width / height when displayed (an anamorphic source's, e.g. ``Fraction(32, 27)``;
            None or 1: square), multiplied with a half stereo layout's in MKV/WebM; MP4/MOV/MKV/WebM only.

    Frame ``i`` is shown at ``i / fps``; the frame count is exactly the number of :meth:`write` calls.

    Example:
        >>> with VideoWriter("out.mp4", fps=30) as video:  # doctest: +SKIP
        ...     for frame in frames:
        ...         video.write(frame)
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fps: Fraction | float,
        size_hw: tuple[int, int] | None = None,
        codec: str | None = None,
        pix_fmt: str | None = None,
        audio_from: VideoInfo | None = None,
        quality: int | None = None,
        preset: str = "veryfast",
        stereo: str | None = None,
        odd_size: str = "pad",
        timecode: str | None = None,
        pixel_aspect: Fraction | None = None,
    ) -> None:
        self.path = Path(path)
        self.codec = codec_for(self.path, codec)
        self.pix_fmt = str(check_choice(pix_fmt or ("gray16le" if self.codec == "ffv1" else "rgb24"), "pix_fmt",
                                        tuple(PIX_FMTS)))  # fmt: skip
        check_range(fps, "fps", low=0.0, low_inclusive=False, high=1000.0)
        self.fps = (fps if isinstance(fps, Fraction) else Fraction(float(fps))).limit_denominator(1_000_000)
        if self.codec == "gif" and self.fps > 1000 / GIF_MIN_FRAME_MS:
            raise ValidationError(
                f"fps: {float(self.fps):g} is too fast for a GIF: players show frames under {GIF_MIN_FRAME_MS} ms for "
                f"100 ms (give at most {1000 // GIF_MIN_FRAME_MS}, or write .mp4, .webm or .apng)"
            )
        self.preset = str(check_choice(preset, "preset", X264_PRESETS))
        self.odd_size = str(check_choice(odd_size, "odd_size", ("pad", "crop")))
        self.stereo = None if stereo is None else str(check_choice(stereo, "stereo", tuple(STEREO_PACKINGS)))
        if self.stereo is not None and self.codec in ("gif", "apng", "png"):
            raise ValidationError(f"stereo: {self.codec.upper()} output cannot say it holds a stereo pair")
        if timecode and not re.fullmatch(r"\d\d:[0-5]\d:[0-5]\d[:;]\d\d", str(timecode)):
            raise ValidationError(f"timecode: expected HH:MM:SS:FF (';' for drop-frame), got {str(timecode)[:40]!r}")
        square = pixel_aspect is None or pixel_aspect == 1
        if not square:
            check_range(pixel_aspect, "pixel_aspect", low=0.01, high=100.0)
        for name, given in (("timecode", bool(timecode)), ("pixel_aspect", not square)):
            if given and self.codec in ("gif", "apng", "png"):
                raise ValidationError(f"{name}: {self.codec.upper()} output has no field for it")
        self.timecode = str(timecode) if timecode else None
        self.pixel_aspect = None if square else Fraction(pixel_aspect).limit_denominator(10_000)  # type: ignore[arg-type]
        top = _CRF.get(self.codec, (0, 63))[1]
        if quality is not None and (not isinstance(quality, int) or not 0 <= quality <= top):
            raise ValidationError(f"quality: expected an integer CRF in 0..{top}, got {quality!r}")
        self.quality = quality
        self.width: int | None = None
        self.height: int | None = None
        if size_hw is not None:
            self.height, self.width = check_size_hw(size_hw)
        self._audio = audio_from if audio_from is not None and audio_from.has_audio else None
        if self._audio is not None and self.codec in ("gif", "apng", "png"):
            raise ValidationError(f"audio_from: {self.codec.upper()} output cannot carry audio")
        self.frames = 0
        self._stack = ExitStack()
        self._tmp: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._err: IO[bytes] | None = None
        self._closed = False

    @property
    def size_hw(self) -> tuple[int, int] | None:
        """(height, width) as encoded (even for H.264/VP9), None before the first frame when not given."""
        if self.width is None or self.height is None:
            return None
        if self.codec not in _CRF:
            return self.height, self.width
        step = 1 if self.odd_size == "pad" else -1
        return self.height + self.height % 2 * step, self.width + self.width % 2 * step

    def write(self, frame: np.ndarray) -> None:
        """Append one frame of the layout given by ``pix_fmt`` and the writer's size."""
        if self._closed:
            raise ValidationError("frame: the writer is closed")
        channels, dtype = PIX_FMTS[self.pix_fmt]
        a = check_array(frame, "frame", ndim=3 if channels > 1 else 2)
        if a.dtype != dtype or (channels > 1 and a.shape[2] != channels):
            layout = f"(H, W, {channels})" if channels > 1 else "(H, W)"
            raise ValidationError(f"frame: expected {layout} {np.dtype(dtype).name}, got {a.shape} {a.dtype}")
        if self.width is None:
            self.width, self.height = a.shape[1], a.shape[0]
        if a.shape[:2] != (self.height, self.width):
            raise ValidationError(f"frame: size {a.shape[1]}x{a.shape[0]} differs from {self.width}x{self.height}")
        if self._tmp is None:
            self._start(a)
        a = self._fit(a)
        if self.codec == "png":
            self._write_png(a)
        else:
            if self._proc is None or self._proc.stdin is None:  # pragma: no cover - started above
                raise EncodeError(f"{self.path}: the encoder is not running")
            try:
                self._proc.stdin.write(a.data)
            except BrokenPipeError:
                raise EncodeError(f"{self.path}: the encoder stopped ({self._finish_error()})") from None
        self.frames += 1

    def close(self) -> Path:
        """Finish the stream and move the output into place, removing what an interrupted earlier run kept
        (:func:`partial_path`); returns the final path."""
        if self._closed:
            return self.path
        self._closed = True
        try:
            if self.frames == 0:
                raise ValidationError("frames: no frame was written")
            if self._finish() != 0:
                raise EncodeError(f"{self.path}: encoding failed ({self._stderr_tail()})")
        except BaseException as exc:
            self._stack.__exit__(type(exc), exc, exc.__traceback__)
            raise
        self._stack.close()
        stale = partial_path(self.path)
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
        return self.path

    def abort(self, *, keep_partial: bool = False) -> Path | None:
        """Stop writing. ``keep_partial``: finish the stream and keep it as :func:`partial_path` (if any frame
        was written and the encoder finished cleanly); otherwise remove everything. Returns the kept path."""
        if self._closed:
            return None
        self._closed = True
        kept = None
        try:
            if keep_partial and self._tmp is not None and self.frames > 0 and self._finish() == 0:
                kept = partial_path(self.path)
                if kept.is_dir():
                    shutil.rmtree(kept)
                if not self._tmp.is_dir():  # the permissions of a finished output, not mkstemp's 0600
                    os.chmod(self._tmp, OUTPUT_MODE)
                if self._audio is not None:
                    self._cut_audio(self._tmp)
                os.replace(self._tmp, kept)
        finally:
            if self._proc is not None:
                self._proc.kill()
                self._proc.wait()
            err = EncodeError("aborted")
            self._stack.__exit__(EncodeError, err, None)  # removes the temporary output (moved when kept)
        return kept

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort(keep_partial=issubclass(exc_type, KeyboardInterrupt))  # Ctrl-C, or SIGTERM in the CLI

    # -- internals ------------------------------------------------------------------------------------------
    def _fit(self, a: np.ndarray) -> np.ndarray:
        """Even sizes for yuv420p: pad (edge rows/columns) or crop; a C-contiguous array."""
        h, w = self.size_hw or (0, 0)
        if (h, w) != a.shape[:2]:
            if self.odd_size == "crop":
                a = a[:h, :w]
            else:
                pad = ((0, h - a.shape[0]), (0, w - a.shape[1])) + (((0, 0),) if a.ndim == 3 else ())
                a = np.pad(a, pad, mode="edge")
        return np.ascontiguousarray(a)

    def _start(self, first: np.ndarray) -> None:
        h, w = self.size_hw or (0, 0)
        if w < 1 or h < 1:
            raise ValidationError(f"frame: {self.codec} needs at least 2x2 pixels, got {self.width}x{self.height}")
        sweep_stale([self.path.parent])  # temporary files of a killed earlier run
        if self.codec == "png":
            self._tmp = self._stack.enter_context(_atomic_folder(self.path))
            return
        self._tmp = self._stack.enter_context(atomic_path(self.path))
        self._err = self._stack.enter_context(tempfile.TemporaryFile())
        args = ["-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", self.pix_fmt, "-s", f"{w}x{h}"]
        args += ["-framerate", f"{self.fps.numerator}/{self.fps.denominator}", "-i", "-"]
        if self.codec == "gif":
            args += ["-i", str(self._palette(self._tmp, first))]
        if self._audio is not None:
            args += [*input_args(self._audio.path), "-map", "0:v:0", "-map", "1:a"]
        args += self._codec_args()
        muxer = _MUXERS[self.path.suffix.lower()]
        sar = self.pixel_aspect
        if self.stereo is not None and muxer in ("matroska", "webm"):
            mode, _, half = STEREO_PACKINGS[self.stereo]
            args += ["-metadata:s:v:0", f"stereo_mode={mode}"]
            sar = (sar or Fraction(1)) * Fraction(half) if half is not None else sar
        if sar is not None and "-vf" in args:  # after the codec's own filters
            args[args.index("-vf") + 1] += f",setsar={sar.numerator}/{sar.denominator}"
        elif sar is not None:
            args += ["-vf", f"setsar={sar.numerator}/{sar.denominator}"]
        if self.timecode:
            args += ["-timecode", self.timecode]
        if self._audio is not None:
            copy = muxer == "matroska" or set(self._audio.audio_codecs) <= _AUDIO_COPY[muxer]
            args += ["-c:a", "copy"] if copy else _AUDIO_ENCODE[muxer]
        args += ["-f", muxer, str(self._tmp)]
        self._proc = start_ffmpeg(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._err)

    def _codec_args(self) -> list[str]:
        crf = str(self.quality if self.quality is not None else _CRF.get(self.codec, (0, 0))[0])
        if self.codec == "h264":
            args = ["-c:v", "libx264", "-preset", self.preset, "-crf", crf, *_YUV420]
            sei = STEREO_PACKINGS[self.stereo][1] if self.stereo is not None else None
            if sei is not None and self.path.suffix.lower() != ".mkv":  # MKV says it once, in StereoMode
                args += ["-x264-params", f"frame-packing={sei}"]
            return args + (["-movflags", "+faststart"] if self.path.suffix.lower() != ".mkv" else [])
        if self.codec == "vp9":
            return ["-c:v", "libvpx-vp9", "-crf", crf, "-b:v", "0", "-row-mt", "1", "-deadline", "realtime",
                    "-cpu-used", "8", *_YUV420]  # fmt: skip
        if self.codec == "gif":  # input 1 is the palette
            return ["-lavfi", "[0:v][1:v]paletteuse=dither=bayer:bayer_scale=3", "-loop", "0"]
        out = _LOSSLESS_PIX[self.codec][self.pix_fmt]
        if self.codec == "apng":
            return ["-c:v", "apng", "-pix_fmt", out, "-plays", "0"]
        return ["-c:v", "ffv1", "-level", "3", "-g", "1", "-slicecrc", "1", "-pix_fmt", out]

    def _cut_audio(self, tmp: Path) -> None:
        """Cut the finished ``tmp`` (streams copied, not re-encoded) to the frames written: the source's audio ran
        on to its end. Kept as it is if ffmpeg fails (a partial file with too much audio beats none)."""
        cut = tmp.with_name(f"{tmp.stem}_cut{tmp.suffix}")
        seconds = f"{float(self.frames / self.fps):.6f}"
        muxer = _MUXERS[self.path.suffix.lower()]
        args = ["-v", "error", "-y", "-i", str(tmp), "-map", "0", "-c", "copy", "-t", seconds]
        args += [*(["-movflags", "+faststart"] if muxer in ("mp4", "mov") else []), "-f", muxer, str(cut)]
        try:
            done = _run_ffmpeg(args)
        except KeyboardInterrupt:  # a second Ctrl-C: keep the partial file uncut rather than lose it
            done = None
        if done is not None and done.returncode == 0:
            os.replace(cut, tmp)
        else:
            cut.unlink(missing_ok=True)

    def _palette(self, tmp: Path, first: np.ndarray) -> Path:
        """GIF: a 256-colour palette from the first frame (beside the temporary output), so the encoder streams."""
        palette = tmp.with_name(f"{tmp.stem}_palette.png")
        self._stack.callback(lambda: palette.unlink(missing_ok=True))
        h, w = first.shape[:2]
        args = ["-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", self.pix_fmt, "-s", f"{w}x{h}", "-i", "-"]
        args += ["-vf", "palettegen=stats_mode=full", "-frames:v", "1", str(palette)]
        done = _run_ffmpeg(args, data=first.tobytes())
        if done.returncode != 0:
            why = last_error_line(done.stderr.decode("utf-8", "replace"))
            raise EncodeError(f"{self.path}: GIF palette failed ({why})")
        return palette

    def _write_png(self, a: np.ndarray) -> None:
        import cv2

        name = Path(str(self._tmp)) / f"frame_{self.frames:05d}.png"
        if not cv2.imwrite(str(name), cv2.cvtColor(a, cv2.COLOR_RGB2BGR) if a.ndim == 3 else a):
            raise EncodeError(f"{self.path}: could not write {name.name}")

    def _finish(self) -> int:
        proc, self._proc = self._proc, None
        if proc is None:
            return 0
        if proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError, OSError):
                proc.stdin.close()
        return proc.wait()

    def _stderr_tail(self) -> str:
        return last_error_line(read_stderr(self._err)) if self._err is not None else "no message"

    def _finish_error(self) -> str:
        return self._stderr_tail() if self._finish() else "no message"


@contextlib.contextmanager
def _atomic_folder(target: Path) -> Iterator[Path]:
    """A temporary folder beside ``target``, moved over it (replacing an old folder as a whole) on success."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if os.path.exists(target) and not os.path.isdir(target):
        raise ValidationError(f"path: {target} exists and is not a folder")
    tmp = target.parent / f"{temp_prefix(target)}{secrets.token_hex(4)}"
    tmp.mkdir()  # as the user's umask says (mkdtemp's 0700 would stay on the moved folder)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = target.with_name(f"{temp_prefix(target)}old")
    if os.path.exists(target):
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


def _run_ffmpeg(args: list[str], *, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """ffmpeg run to its end with ``args`` (``data`` on its standard input), output captured, in its own session
    (a terminal's Ctrl-C reaches only Python)."""
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", *args]
    return subprocess.run(command, input=data, capture_output=True, check=False, start_new_session=True)
