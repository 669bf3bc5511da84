"""Depth for whole video clips, streamed: decode, batch through the model, stabilise, encode, frame by frame.

Memory does not depend on the clip's length: frames are decoded by an ffmpeg child one at a time, run through
the model ``batch_size`` at a time, and every output is an ffmpeg child fed one frame at a time. The stages
overlap: a reader thread decodes and prepares the model inputs a few frames ahead
(:func:`~depthforge.core.threads.read_ahead`), the model keeps its requests in flight
(:meth:`~depthforge.models.estimator.DepthEstimator.predict_stream`; OpenVINO's throughput streams), the calling
thread stabilises in order, and a writer thread colours, composes and feeds the encoders a few frames behind
(:class:`~depthforge.core.threads.WriteBehind`).

Outputs for ``clip.mp4`` (names under the output folder, folder inputs mirror their sub-folders):

* ``clip_depth.mkv``: lossless 16-bit grayscale depth video (FFV1, ``gray16le``), near = white, with
  ``clip_depth.json`` (the display range: ``inverse depth = far + (near - far) * code / 65535``);
* ``clip_depth.mp4``: 8-bit visual depth video (colour map or gray, H.264 ``yuv420p``);
* ``clip_combined.mp4``: the input beside (or above) its depth;
* ``clip_depth_frames/clip_000001.png``: a PNG sequence (16-bit or 8-bit gray), or ``clip_000001.exr``: float32
  ``Z`` for compositing (a relative model's aligned inverse depth, a metric model's metres; the kind in the header);
* ``clip_3d_sbs_LR.mp4``, ``clip_3d_hsbs_3DH.mp4``, ``clip_3d_tab_TB.mp4``, ``clip_3d_htab_3DV.mp4``,
  ``clip_3d_anaglyph-<mode>.mp4``: a 3D video (full/half side by side, top-bottom, anaglyph) from
  :mod:`depthforge.render.stereo` and :func:`depthforge.stereo.compose`. The names carry the tags VR players
  (``_LR``, ``_3DH``, ``_TB``, ``_3DV``) and Kodi (``_sbs_``, ``_hsbs_``, ``_tab_``, ``_htab_``) read to pick
  the layout, and the H.264 stream declares its frame packing (:class:`~depthforge.io.video_writer.VideoWriter`).

Every video keeps the source's frame count, exact frame rate and audio. With ``temporal`` (the default) each
frame is aligned to the running reference by :class:`~depthforge.pipeline.temporal.TemporalStabilizer` and
the display range is fixed for the whole clip from the first batch (plus a margin), so nothing flickers;
what lies beyond it later (a subject coming closer than anything in the first frames) is stored at its ends,
and the share of such pixels is reported (``clipped`` in the JSON and the result). Without it every frame is
normalised to its own min..max, as photos are.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import ValidationError
from depthforge.core.threads import WriteBehind, read_ahead
from depthforge.core.validation import check_choice, check_range
from depthforge.io.atomic import atomic_write_text
from depthforge.io.depthfiles import write_depth
from depthforge.io.depthread import META_KEY
from depthforge.io.images import write_image
from depthforge.io.sequence import (
    DEFAULT_SEQUENCE_FPS,
    iter_clip,
    missing_numbers,
    probe_clip,
    sequence_frames,
    sequence_stem,
)
from depthforge.io.video import VideoInfo, is_sequence_pattern
from depthforge.io.video_writer import VideoWriter
from depthforge.models.callable import DepthFunction, as_estimator
from depthforge.models.estimator import DepthEstimator
from depthforge.pipeline.temporal import TemporalStabilizer
from depthforge.process.normalize import DisplayRange
from depthforge.render.visualize import COLORMAPS, colorize, combine

T = TypeVar("T")

__all__ = [
    "VideoOptions",
    "VideoResult",
    "STEREO_VIDEO_LAYOUTS",
    "FRAME_EXTENSIONS",
    "frame_files",
    "video_output_paths",
    "run_video",
    "display_frames",
]

#: The frame sequences a clip can also write (``VideoOptions.frames``), and their files' extension.
FRAME_EXTENSIONS = {"png16": ".png", "png8": ".png", "exr": ".exr"}

#: The name after the clip's stem of the packed 3D layouts' videos (anaglyphs: ``_3d_<layout>``), with the tags
#: that players read: VR players' ``_LR``/``_3DH``/``_TB``/``_3DV``, Kodi's ``_h?sbs_``/``_h?tab_`` and ``_3d_``.
STEREO_VIDEO_NAMES = {
    "left-right": "_3d_sbs_LR",
    "half-left-right": "_3d_hsbs_3DH",
    "top-bottom": "_3d_tab_TB",
    "half-top-bottom": "_3d_htab_3DV",
}
#: 3D layouts a video can take (one image per frame).
STEREO_VIDEO_LAYOUTS = (
    "left-right",
    "half-left-right",
    "top-bottom",
    "half-top-bottom",
    "anaglyph-dubois",
    "anaglyph-color",
    "anaglyph-half-color",
    "anaglyph-gray",
)


@dataclass(frozen=True)
class VideoOptions:
    """What to write for a clip and how to stabilise it.

    Attributes:
        depth16: write the lossless 16-bit depth video.
        depth8: write the 8-bit visual depth video (``colormap``).
        combine: ``horizontal`` / ``vertical``: also write the input beside / above its depth.
        frames: ``png16`` or ``png8``: also write a PNG frame sequence; ``exr``: float32 frames (the depth itself).
        stereo: a layout of :data:`STEREO_VIDEO_LAYOUTS`: also write a 3D video.
        colormap: colour map of the visual outputs.
        invert: near = black instead of white.
        temporal: align frames to the running reference and fix the display range (False: per-frame min..max).
        strength: temporal filter strength in [0, 1): weight of the pan-compensated previous output on pixels
            whose colour did not change (the new frame gets ``1 - strength``; 0 = alignment only).
        margin: share of the first batch's range added on each side of the fixed display range.
        batch_size: frames per model call.
        divergence, convergence: 3D parameters (see :class:`depthforge.render.stereo.StereoParams`).
        crf: H.264 quality of the 8-bit videos.
        input_size_hw: force the model input (height, width) (default: the model's size rule).
        sequence_fps: the frame rate of an image sequence (``shot.####.png``; video files keep their own).
        overwrite: replace existing outputs (default: they are kept, and only the missing ones written; a clip
            whose outputs all exist is skipped).
    """

    depth16: bool = True
    depth8: bool = True
    combine: str | None = None
    frames: str | None = None
    stereo: str | None = None
    colormap: str = "gray"
    invert: bool = False
    temporal: bool = True
    strength: float = 0.8
    margin: float = 0.05
    batch_size: int = 4
    divergence: float = 2.5
    convergence: float = 0.0
    crf: int = 18
    input_size_hw: tuple[int, int] | None = None
    overwrite: bool = False
    sequence_fps: float = DEFAULT_SEQUENCE_FPS

    def __post_init__(self) -> None:
        check_choice(self.colormap, "colormap", COLORMAPS)
        if self.combine is not None:
            check_choice(self.combine, "combine", ("horizontal", "vertical"))
        if self.frames is not None:
            check_choice(self.frames, "frames", tuple(FRAME_EXTENSIONS))
        if self.stereo is not None:
            check_choice(self.stereo, "stereo", STEREO_VIDEO_LAYOUTS)
        check_range(self.strength, "strength", low=0.0, high=0.99)
        check_range(self.margin, "margin", low=0.0, high=1.0)
        check_range(self.sequence_fps, "sequence_fps", low=0.0, low_inclusive=False, high=1000.0)
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValidationError(f"batch_size: expected an integer >= 1, got {self.batch_size!r}")
        if not (self.depth16 or self.depth8 or self.combine or self.frames or self.stereo):
            raise ValidationError("outputs: nothing to write (every video output is turned off)")


@dataclass(frozen=True)
class VideoResult:
    """What :func:`run_video` did: the source facts, the files written and the display range used."""

    info: VideoInfo
    frames: int
    paths: dict[str, Path]
    display: DisplayRange | None
    #: share of the valid pixels outside the clip's fixed display range, clipped to its ends (0 per frame)
    clipped: float = 0.0


def video_output_paths(
    outdir: str | os.PathLike[str], stem: str | os.PathLike[str], options: VideoOptions
) -> dict[str, Path]:
    """The files (and the frame folder) one clip produces, by role."""
    s = Path(stem)
    base = Path(outdir) / s.parent
    suffixes = {  # role: (wanted, file name after the stem)
        "depth16": (options.depth16, "_depth.mkv"),
        "sidecar": (options.depth16, "_depth.json"),
        "depth8": (options.depth8, "_depth.mp4"),
        "combined": (options.combine, "_combined.mp4"),
        "frames": (options.frames, "_depth_frames"),
        "stereo": (options.stereo, f"{STEREO_VIDEO_NAMES.get(str(options.stereo), f'_3d_{options.stereo}')}.mp4"),
    }
    return {role: base / f"{s.name}{suffix}" for role, (wanted, suffix) in suffixes.items() if wanted}


def _batches(items: Iterator[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def stage_threads(estimator: DepthEstimator) -> int | None:
    """The thread budget of the stages beside the model (preparing ahead, writing behind): 1 when the model runs
    on the CPU and keeps the process's budget busy, None (the whole budget) when it runs on a GPU."""
    backend = getattr(estimator, "backend", None)
    return 1 if getattr(backend, "device", "cpu") == "cpu" else None


def display_frames(
    frames: Iterator[np.ndarray],
    estimator: DepthEstimator,
    *,
    options: VideoOptions,
    counts: dict[str, int] | None = None,
) -> Iterator[tuple[np.ndarray, DepthMap, np.ndarray, DisplayRange]]:
    """The core stream: (frame, depth, display, range) for every frame, in order.

    Args:
        frames: (H, W, 3) uint8 RGB frames.
        estimator: the loaded model.
        options: ``temporal``, ``strength``, ``margin``, ``batch_size``, ``invert``.
        counts: when given, ``"valid"`` and ``"clipped"`` are added up in it: the valid pixels, and those outside
            the clip's fixed range (shown at its ends; none per frame).

    Yields:
        the frame, its :class:`DepthMap`, the (H, W) float32 display map in [0, 1] (near = 1 unless ``invert``),
        and the range used, in inverse depth (fixed for the clip with ``temporal``, per frame otherwise). With
        ``temporal`` the map is the aligned one (``meta["aligned"]``), of the model's kind: a relative model's
        aligned inverse depth (the first frame's 1st..99th percentiles at 0..1), a metric model's metres at the
        first frame's scale (a disparity's pixels likewise); without it, the model's own.
    """
    kind = estimator.spec.kind  # a metric model's clip keeps metres (1/m aligned to the first frame's scale)
    stab = TemporalStabilizer(strength=options.strength, keep_units=kind != "relative") if options.temporal else None
    fixed: DisplayRange | None = None
    size = options.input_size_hw
    items = ((f, estimator.prepare(f, input_size_hw=size)) for f in frames)
    prepared = read_ahead(items, size=options.batch_size, threads=stage_threads(estimator))
    estimated = estimator.predict_stream(prepared, batch_size=options.batch_size)
    for chunk in _batches(((f, d) for f, d in estimated if d is not None), options.batch_size):
        batch, depths = [f for f, _ in chunk], [d for _, d in chunk]
        if stab is None:
            for frame, depth in chunk:
                inv = depth.inverse_depth()
                ok = np.isfinite(inv)
                lo, hi = (float(inv[ok].min()), float(inv[ok].max())) if ok.any() else (0.0, 1.0)
                rng = DisplayRange(lo, hi)
                yield frame, depth, _normalise(inv, rng, options.invert), rng
            continue
        aligned = [stab.update(f, d)[0] for f, d in chunk]
        if fixed is None:
            fixed = _clip_range(aligned, options.margin, positive=kind == "metric")
        for frame, depth, a in zip(batch, depths, aligned, strict=True):
            if counts is not None:
                ok = np.isfinite(a)
                counts["valid"] = counts.get("valid", 0) + int(np.count_nonzero(ok))
                with np.errstate(invalid="ignore"):
                    out = np.count_nonzero((a < np.float32(fixed.far)) | (a > np.float32(fixed.near)))
                counts["clipped"] = counts.get("clipped", 0) + int(out)
            values = _from_inverse(a) if depth.kind == "metric" else a
            yield (
                frame,
                depth.with_values(values, meta={**depth.meta, "aligned": True}),
                _normalise(a, fixed, options.invert),
                fixed,
            )


def _from_inverse(inverse: np.ndarray) -> np.ndarray:
    """Metres from aligned inverse depth (1/m); NaN where it is not positive."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(inverse > 0, np.float32(1.0) / inverse, np.float32(np.nan)).astype(np.float32)


def _clip_range(aligned: list[np.ndarray], margin: float, *, positive: bool = False) -> DisplayRange:
    """The clip's display range from its first aligned maps, ``margin`` of the span wider on each side
    (``positive``: 1/m, whose far end stays above 0, at most twice the farthest distance seen)."""
    vals = np.concatenate([a[np.isfinite(a)].ravel() for a in aligned])
    if vals.size == 0:
        return DisplayRange(0.0, 1.0)
    lo, hi = (float(v) for v in np.percentile(vals, [0.5, 99.5]))
    span = hi - lo if hi > lo else 1.0
    far = max(lo - margin * span, 0.5 * lo) if positive and lo > 0 else lo - margin * span
    return DisplayRange(far, hi + margin * span)


def _normalise(inv: np.ndarray, rng: DisplayRange, invert: bool) -> np.ndarray:
    span = rng.near - rng.far
    out = (inv - np.float32(rng.far)) / np.float32(span) if span > 0 else np.full(inv.shape, 0.5, np.float32)
    out = np.clip(np.nan_to_num(out, nan=0.0), 0.0, 1.0).astype(np.float32)
    return 1.0 - out if invert else out


#: What a clip's depth values are, by kind (its display range is in inverse depth: these values, or 1/m for metres).
_UNITS = {"relative": "inverse depth (relative)", "metric": "m", "disparity": "px"}


class _Outputs:
    """The open writers of one clip; each video writer is created on its first frame (its size known then)."""

    def __init__(
        self, paths: dict[str, Path], info: VideoInfo, options: VideoOptions, stem: str, numbers: list[int]
    ) -> None:
        self.paths, self.info, self.options, self.stem = paths, info, options, stem
        self.numbers = numbers  # a sequence's own frame numbers, which its frame files keep (else 1, 2, ...)
        self.writers: dict[str, VideoWriter] = {}
        self.count = 0
        if "frames" in paths:
            paths["frames"].mkdir(parents=True, exist_ok=True)
            ext = FRAME_EXTENSIONS[str(options.frames)]
            for old in frame_files(paths["frames"], stem, ext):
                old.unlink()  # an interrupted earlier run's frames: the folder holds this run's only

    def _writer(self, role: str, frame: np.ndarray, codec: str, pix_fmt: str) -> VideoWriter:
        w = self.writers.get(role)
        if w is None:
            w = VideoWriter(
                self.paths[role],
                size_hw=frame.shape[:2],
                fps=self.info.fps,
                codec=codec,
                pix_fmt=pix_fmt,
                audio_from=self.info,
                quality=self.options.crf,
                preset="fast",
                stereo=_packing(self.options.stereo) if role == "stereo" else None,
                timecode=self.info.timecode or None,  # what an editor conforms the depth to the plate by
                pixel_aspect=self.info.pixel_aspect,
            )
            self.writers[role] = w
            if w.size_hw is not None and w.size_hw != frame.shape[:2]:  # user trial 6: 853 px became 854 unsaid
                (h, wd), (eh, ew) = frame.shape[:2], w.size_hw
                logging.getLogger("depthforge").info(
                    f"{self.paths[role].name}: H.264 needs even sizes, so {wd}x{h} is encoded as {ew}x{eh} (the last "
                    "column or row repeated)"
                    + ("; the lossless _depth.mkv keeps the size" if "depth16" in self.paths else "")
                )
        return w

    def write(self, frame: np.ndarray, depth: DepthMap, display: np.ndarray, rng: DisplayRange) -> None:
        o = self.options
        self.count += 1
        if "depth16" in self.paths:
            code = np.rint(display * 65535.0).astype(np.uint16)
            self._writer("depth16", code, "ffv1", "gray16le").write(code)
        vis = colorize(display, colormap=o.colormap) if (o.depth8 or o.combine) else None
        if vis is not None and "depth8" in self.paths:
            self._writer("depth8", vis, "h264", "rgb24").write(vis)
        if vis is not None and o.combine:
            both = combine(frame, vis, direction=o.combine)
            self._writer("combined", both, "h264", "rgb24").write(both)
        if o.frames == "exr":  # user trial 6: compositors want the depth itself, not display codes
            write_depth(self.paths["frames"] / f"{self.stem}_{self._number():06d}.exr", depth, format="exr")
        elif o.frames:
            top = 65535 if o.frames == "png16" else 255
            img = np.rint(display * float(top)).astype(np.uint16 if top > 255 else np.uint8)
            # the range in the frame itself, as a photo's depth PNG has it: read_depth gives the values back
            meta = {"kind": depth.kind, "units": _UNITS[depth.kind], "width": img.shape[1], "height": img.shape[0]}
            meta.update(encoding="display", display_far=rng.far, display_near=rng.near, invert=o.invert, max_code=top)
            name = f"{self.stem}_{self._number():06d}.png"
            write_image(self.paths["frames"] / name, img, text={META_KEY: json.dumps(meta)})
        if o.stereo:
            view = _stereo_frame(frame, depth, display, o)
            self._writer("stereo", view, "h264", "rgb24").write(view)

    def _number(self) -> int:
        return self.numbers[self.count - 1] if self.numbers else self.count

    def close(self) -> None:
        for w in self.writers.values():
            w.close()

    def abort(self, *, keep_partial: bool) -> None:
        for w in self.writers.values():
            w.abort(keep_partial=keep_partial)


def frame_files(folder: Path, stem: str, ext: str) -> list[Path]:
    """The frame files of a clip's frame folder: ``<stem>_<number of 6 digits or more><ext>``."""
    shape = re.compile(re.escape(stem) + r"_\d{6,}" + re.escape(ext))
    return [f for f in folder.glob(f"{glob.escape(stem)}_[0-9]*{ext}") if shape.fullmatch(f.name)]


def _sequence_listing(src: str | os.PathLike[str]) -> list[tuple[int, Path]] | None:
    """An image sequence's frames, listed once for the whole run (a notice names its gaps); None for a video."""
    if not is_sequence_pattern(src):
        return None
    listing = sequence_frames(src)
    numbers = [n for n, _ in listing]
    gaps, first = missing_numbers(numbers, most=10)
    if gaps:
        listed = ", ".join(map(str, first)) + (", ..." if gaps > len(first) else "")
        logging.getLogger("depthforge").info(
            f"{Path(src).name}: {gaps} frame(s) missing between {numbers[0]} and {numbers[-1]} ({listed}); "
            "the clip's frames follow one another"
        )
    return listing


def _packing(layout: str | None) -> str | None:
    """The stereo layout :class:`VideoWriter` declares for a 3D layout (None for anaglyphs)."""
    return layout if layout in STEREO_VIDEO_NAMES else None


def _stereo_frame(frame: np.ndarray, depth: DepthMap, display: np.ndarray, options: VideoOptions) -> np.ndarray:
    """One 3D frame; the parallax comes from the clip's fixed display map, so the 3D depth does not pump."""
    from depthforge.render.stereo import StereoParams, render_stereo
    from depthforge.stereo import compose

    params = StereoParams(divergence=options.divergence, convergence=options.convergence)
    near = 1.0 - display if options.invert else display
    parallax = np.float32(options.divergence / 100.0 * frame.shape[1]) * (near - np.float32(params.convergence))
    dm = DepthMap(near, kind="relative")
    left, right = render_stereo(frame, dm, params=params, parallax=parallax.astype(np.float32))
    return compose(left, right, layout=str(options.stereo))


def run_video(
    src: str | os.PathLike[str],
    outdir: str | os.PathLike[str],
    *,
    estimator: DepthEstimator | DepthFunction,
    options: VideoOptions | None = None,
    stem: str | os.PathLike[str] | None = None,
    info: VideoInfo | None = None,
    on_frame: Callable[[int, int], None] | None = None,
) -> VideoResult:
    """Estimate depth for every frame of a clip and write the requested outputs (streamed).

    Args:
        src: the video file, or an image sequence's pattern (``shot.####.png``).
        outdir: output folder.
        estimator: a loaded model (``depthforge.models.load_model``), or a function ``(H, W, 3) uint8 -> (H, W)``
            relative inverse depth (wrap it in a ``CallableEstimator`` to say another kind).
        options: what to write (default :class:`VideoOptions`).
        stem: output name stem relative to ``outdir`` (default: the file's stem; a sequence's name without its
            frame number, as :func:`~depthforge.io.sequence.sequence_stem`).
        info: the file's probe result, if already known.
        on_frame: called as ``on_frame(done, total)`` after each frame.

    Raises:
        InputError: unreadable, audio-only, empty, corrupt or variable-frame-rate input.

    Ctrl-C keeps the videos done so far as valid ``*.partial.*`` files; other errors remove partial videos.
    """
    opts = options or VideoOptions()
    estimator = as_estimator(estimator)  # user trial 8: a plain function was an AttributeError
    listing = _sequence_listing(src)  # once: the numbering and the frames read agree while a render adds files
    numbers = [n for n, _ in listing or []]
    meta = info or probe_clip(src, fps=opts.sequence_fps)
    if meta.interlaced:  # user trial 6: combed frames were taken without a word
        logging.getLogger("depthforge").info(
            f"{Path(src).name} is interlaced: its frames are read whole, so moving edges are combed; deinterlace it "
            "first for clean depth (e.g. ffmpeg -i IN -vf bwdif OUT)"
        )
    name = Path(stem) if stem is not None else Path(sequence_stem(src) if listing is not None else Path(src).stem)
    paths = video_output_paths(outdir, name, opts)
    outputs = _Outputs(paths, meta, opts, name.name, numbers)
    rng: DisplayRange | None = None
    counts: dict[str, int] = {}

    def write(item: tuple[np.ndarray, DepthMap, np.ndarray, DisplayRange]) -> None:
        outputs.write(*item)
        if on_frame is not None:
            on_frame(outputs.count, meta.frame_count)

    behind = WriteBehind(write, size=2, name="depthforge-video-writer", threads=stage_threads(estimator))
    try:
        stream = display_frames(iter_clip(src, info=meta, frames=listing), estimator, options=opts, counts=counts)
        for frame, depth, display, used in stream:
            behind.put((frame, depth, display, used))
            rng = used
        behind.close()
    except KeyboardInterrupt:
        behind.abort()
        outputs.abort(keep_partial=True)
        raise
    except BaseException:
        behind.abort()
        outputs.abort(keep_partial=False)
        raise
    outputs.close()
    clipped = counts.get("clipped", 0) / counts["valid"] if counts.get("valid") else 0.0
    if "sidecar" in paths:
        _write_sidecar(paths["sidecar"], meta, outputs.count, rng, opts, estimator, clipped, numbers)
    return VideoResult(meta, outputs.count, paths, rng if opts.temporal else None, clipped)


def _write_sidecar(
    path: Path,
    info: VideoInfo,
    frames: int,
    rng: DisplayRange | None,
    options: VideoOptions,
    est: DepthEstimator,
    clipped: float,
    numbers: list[int],
) -> None:
    inverse = {"metric": "inverse depth (1/m; metres = 1 / it)", "disparity": "disparity (px)"}
    doc: dict[str, object] = {
        "kind": est.spec.kind,
        "model": est.spec.name,
        "estimator": est.describe(),  # backend, device, dtype and detail (user trial 6)
        "encoding": f"{inverse.get(est.spec.kind, 'inverse depth')} = far + (near - far) * code / 65535 "
        "(code = 65535 - value when inverted)",
        "frames": frames,
        "fps": f"{info.fps.numerator}/{info.fps.denominator}",
        "width": info.width,
        "height": info.height,
        "invert": options.invert,
        "temporal": options.temporal,
        "options": {k: v for k, v in asdict(options).items() if k in ("strength", "margin", "batch_size")},
    }
    if numbers:  # an image sequence: its frames' own numbers, and the gaps
        gaps, listed = missing_numbers(numbers)
        doc["frame_numbers"] = {"first": numbers[0], "last": numbers[-1], "missing": gaps, "missing_first": listed}
    if options.temporal and rng is not None:
        units = {"metric": "1/m, aligned to the first frame's scale", "disparity": "px, aligned to the first frame"}
        doc["display_range"] = {
            "far": rng.far,
            "near": rng.near,
            "units": units.get(est.spec.kind, "aligned inverse depth (first frame 0..1)"),
        }
        doc["clipped"] = clipped  # share of valid pixels beyond the range, stored at its ends (codes 0 / 65535)
    else:
        doc["display_range"] = "per frame min..max (each PNG frame carries its own; the video's codes do not)"
    atomic_write_text(path, json.dumps(doc, indent=2))
