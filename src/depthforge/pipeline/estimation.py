"""Estimating depth for images and folders, and writing the requested outputs.

Outputs for ``photo.jpg`` (folder inputs mirror their sub-folders under the output folder):

* ``photo_depth.<ext>``: the depth file in the chosen format (16-bit PNG by default, near = white);
* ``photo_depth_<colormap>.png`` with a colour map other than gray;
* ``photo_combined.png`` with ``combine`` (the photo beside its depth);
* ``photo_controlnet.png`` with ``controlnet`` (3-channel 8-bit, near = white, sides multiples of 64);
* depth photos instead of a depth file (:mod:`depthforge.io.depthphoto_write`): ``photo_gdepth.jpg`` (GDepth),
  ``photo_dynamic_depth.jpg`` (Dynamic Depth) or ``photo_fb3d.jpg`` + ``photo_fb3d_depth.jpg`` (Facebook 3D).

With ``use_embedded_depth``, a photo that carries its own depth (GDepth, Dynamic Depth, HEIC) is not estimated:
its depth (resampled to the photo) is written instead, and :attr:`Summary.embedded` names it.

Video files (see :mod:`depthforge.pipeline.video`) are streamed through the video path.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import InputError, ModelError, OutputError, ValidationError
from depthforge.core.image import Image
from depthforge.core.validation import check_choice
from depthforge.io.atomic import prepare_folder, sweep_stale
from depthforge.io.depthfiles import DEPTH_FORMATS, FORMAT_EXTENSIONS, write_depth
from depthforge.io.depthphoto_read import embedded_depth_kind, read_depth_photo
from depthforge.io.depthphoto_write import PHOTO_FORMATS, write_depth_photo
from depthforge.io.images import IMAGE_EXTENSIONS, read_image, write_image
from depthforge.io.sequence import probe_clip, sequence_stem
from depthforge.io.video import VIDEO_EXTENSIONS, EncodeError, VideoInfo, is_sequence_pattern, is_video_path
from depthforge.models.callable import DepthFunction, as_estimator
from depthforge.models.estimator import DepthEstimator, load_model
from depthforge.pipeline.detail import (
    DetailOptions,
    as_detail_options,
    estimate_detailed,
    parse_detail,
    with_detail,
)
from depthforge.pipeline.image_stream import DEFAULT_BATCH, Job, run_stream
from depthforge.pipeline.video import (
    FRAME_EXTENSIONS,
    STEREO_VIDEO_LAYOUTS,
    VideoOptions,
    frame_files,
    run_video,
    video_output_paths,
)
from depthforge.process.normalize import to_display
from depthforge.process.resample import resize_depth
from depthforge.render.visualize import COLORMAPS, colorize, combine, controlnet_image

__all__ = ["estimate", "EstimateOptions", "Summary", "collect_inputs", "output_paths", "run_estimate", "write_outputs"]


_log = logging.getLogger("depthforge")


def estimate(
    image: str | os.PathLike[str] | Image | np.ndarray,
    *,
    model: str | DepthEstimator | DepthFunction = "depth-anything-v2-small",
    model_kind: str = "relative",
    detail: int | str | None = None,
    tile_overlap: float = 0.25,
    fusion: str = "blend",
    device: str = "auto",
    dtype: str = "auto",
    backend: str = "auto",
    quantize: str | None = None,
    max_pixels: int | None = None,
) -> DepthMap:
    """Estimate depth for one photo.

    Args:
        image: a file path, an :class:`Image` or an (H, W, 3) uint8 RGB array.
        model: registry name, hub id, local folder, an already loaded :class:`DepthEstimator`, or any function
            ``f(image: (H, W, 3) uint8) -> (H, W) float`` (see :class:`~depthforge.models.callable.CallableEstimator`).
        model_kind: what a function returns: ``relative`` inverse depth, ``metric`` metres or ``disparity``.
        detail: high-resolution detail (:mod:`depthforge.pipeline.detail`): None or ``"off"``, ``"auto"``, or a
            tile count N >= 2; ``tile_overlap`` and ``fusion`` (``blend`` or ``poisson``) tune it.
        device, dtype, backend, quantize: see :func:`depthforge.models.load_model`.
        max_pixels: refuse a photo file with more pixels than this before decoding it (None: the
            ``DEPTHFORGE_MAX_PIXELS`` environment variable, else the default limit of :mod:`depthforge.io.inputs`).

    Returns:
        A :class:`DepthMap` of the photo's size (after EXIF rotation).
    """
    if isinstance(image, (str, os.PathLike)):
        image = read_image(image, max_pixels=max_pixels)
    if isinstance(model, DepthEstimator) or callable(model):
        est = as_estimator(model, kind=model_kind)
    else:
        est = load_model(model, device=device, dtype=dtype, backend=backend, quantize=quantize)
    mode = parse_detail(detail)
    if mode is None:
        return est.predict(image)
    return estimate_detailed(image, est, detail=mode, tile_overlap=tile_overlap, fusion=fusion)


@dataclass(frozen=True)
class EstimateOptions:
    """What to write for each image (see the module docstring for the file names).

    Attributes:
        format: the depth file's format (:data:`~depthforge.io.depthfiles.DEPTH_FORMATS`) or a depth photo
            format (:data:`~depthforge.io.depthphoto_write.PHOTO_FORMATS`: gdepth, dynamic-depth, facebook3d).
        colormap: also a colour-mapped image unless ``"gray"``.
        invert, clip_near, clip_far, percentiles: the display range (see
            :func:`~depthforge.process.normalize.to_display`).
        combine: also the photo beside the colour-mapped depth, ``"horizontal"`` or ``"vertical"``.
        controlnet: also a ControlNet conditioning image.
        overwrite: replace existing outputs (otherwise they are kept and only the missing ones written).
        depth_bits: 8 or 16, the depth image of gdepth and dynamic-depth.
        use_embedded_depth: use a photo's own depth (GDepth, Dynamic Depth, HEIC) instead of estimating.
    """

    format: str = "png16"
    colormap: str = "gray"
    invert: bool = False
    clip_near: float | None = None
    clip_far: float | None = None
    percentiles: tuple[float, float] | None = None
    combine: str | None = None
    controlnet: bool = False
    overwrite: bool = False
    depth_bits: int = 8
    use_embedded_depth: bool = False

    def __post_init__(self) -> None:
        check_choice(self.format, "format", (*DEPTH_FORMATS, *PHOTO_FORMATS))
        check_choice(self.depth_bits, "depth_bits", (8, 16))
        check_choice(self.colormap, "colormap", COLORMAPS)
        if self.combine is not None:
            check_choice(self.combine, "combine", ("horizontal", "vertical"))


@dataclass
class Summary:
    """Counts of a run and the failures' one-line reasons."""

    done: int = 0
    skipped: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    embedded: list[str] = field(default_factory=list)  # "photo.jpg: gdepth" for each photo whose own depth was used
    clipped: list[str] = field(default_factory=list)  # "clip.mp4: 4.0 %" for each clip with depth beyond its range
    kept: list[str] = field(default_factory=list)  # "photo.jpg: photo_depth.exr" for outputs kept, others written

    def line(self) -> str:
        return f"{self.done} done, {self.skipped} skipped, {self.failed} failed"


def collect_inputs(
    paths: Iterable[str | os.PathLike[str]], *, exclude: str | os.PathLike[str] | None = None
) -> list[tuple[Path, Path]]:
    """Expand files and folders (recursively, image and video extensions) into (file, relative output stem) pairs.

    A missing path is kept, so that it fails alone with a clear message when processed. Files inside ``exclude``
    (the output folder) are left out when it lies strictly inside an input folder, so a second run does not take
    the first run's outputs for photos. When the output folder is the input folder, the files named as another
    input's outputs are left out instead (``x_depth.png``, ``x_depth_inferno.png``, ``x_gdepth.jpg``, a video's
    ``x_depth_frames/``... beside ``x.jpg`` or ``x.mp4``).

    Raises:
        ValidationError: an empty path (it would otherwise mean the current folder, recursively).
    """
    out: list[tuple[Path, Path]] = []
    skip = Path(os.path.realpath(exclude)) if exclude is not None else None
    for raw in paths:
        if not os.fspath(raw).strip():
            raise ValidationError("inputs: an empty path was given (name a file or a folder; '.' is this folder)")
        p = Path(raw)
        if os.path.isdir(p):
            inside = Path(os.path.realpath(p))
            below = skip if skip is not None and skip != inside and skip.is_relative_to(inside) else None
            found = [
                f
                for f in sorted(p.rglob("*"))
                if f.is_file()
                and (f.suffix.lower() in IMAGE_EXTENSIONS or f.suffix.lower() in VIDEO_EXTENSIONS)
                and not f.name.startswith(".")
                and (below is None or not Path(os.path.realpath(f)).is_relative_to(below))
            ]
            if skip == inside:  # outputs are written beside the inputs: a rerun must not take them for inputs
                stems = {(f.parent, f.stem) for f in found}
                found = [f for f in found if not _named_as_output(f, p, stems)]
            out += [(f, f.relative_to(p).with_suffix("")) for f in found]
        else:  # a file, or an image sequence's pattern (shot.####.png: stem "shot")
            out.append((p, Path(sequence_stem(p)) if is_sequence_pattern(p) else Path(p.stem)))
    return out


#: The names :func:`output_paths` and the video outputs give after an input's stem (any colour map or layout).
_OUTPUT_SUFFIX = re.compile(
    rf"_(?:depth(?:_(?:{'|'.join(COLORMAPS)}|frames))?|combined|controlnet|gdepth|dynamic_depth|fb3d(?:_depth)?"
    rf"|3d_(?:{'|'.join(STEREO_VIDEO_LAYOUTS)}))"
)


def _named_as_output(f: Path, root: Path, stems: set[tuple[Path, str]]) -> bool:
    """Whether ``f``, or a folder it is in below ``root``, is named as an output of an input beside it: its name
    is that input's stem, then one of the suffixes outputs get (every split of the name is tried)."""
    node, name = f, f.stem
    while node != root:
        for i, c in enumerate(name):
            if c == "_" and (node.parent, name[:i]) in stems and _OUTPUT_SUFFIX.fullmatch(name[i:]):
                return True
        node = node.parent
        name = node.name
    return False


_PHOTO_NAMES = {"gdepth": "_gdepth.jpg", "dynamic-depth": "_dynamic_depth.jpg", "facebook3d": "_fb3d.jpg"}


def output_paths(outdir: Path, stem: Path, options: EstimateOptions) -> dict[str, Path]:
    """The files one image produces, by role."""
    base = outdir / stem.parent
    name = stem.name
    if options.format in PHOTO_FORMATS:
        paths = {"depth": base / f"{name}{_PHOTO_NAMES[options.format]}"}
        if options.format == "facebook3d":
            paths["depth_image"] = base / f"{name}_fb3d_depth.jpg"  # written with it (Facebook's pair naming)
    else:
        paths = {"depth": base / f"{name}_depth{FORMAT_EXTENSIONS[options.format]}"}
    if options.colormap != "gray":
        paths["color"] = base / f"{name}_depth_{options.colormap}.png"
    if options.combine:
        paths["combined"] = base / f"{name}_combined.png"
    if options.controlnet:
        paths["controlnet"] = base / f"{name}_controlnet.png"
    return paths


def write_outputs(image: Image, depth: DepthMap, paths: dict[str, Path], options: EstimateOptions) -> None:
    """Write every requested output of one image (each atomically); ``paths`` may hold only some roles."""
    if "depth" in paths and options.format in PHOTO_FORMATS:
        write_depth_photo(paths["depth"], image, depth, format=options.format, bits=options.depth_bits)
    elif "depth" in paths:
        write_depth(
            paths["depth"],
            depth,
            format=options.format,
            invert=options.invert,
            clip_near=options.clip_near,
            clip_far=options.clip_far,
            percentiles=options.percentiles,
        )
    if not paths.keys() & {"color", "combined", "controlnet"}:
        return
    display, _ = to_display(
        depth,
        invert=options.invert,
        clip_near=options.clip_near,
        clip_far=options.clip_far,
        percentiles=options.percentiles,
    )
    vis = colorize(display, colormap=options.colormap)
    if "color" in paths:
        write_image(paths["color"], vis)
    if "combined" in paths and options.combine:
        write_image(paths["combined"], combine(image.as_uint8(), vis, direction=options.combine))
    if "controlnet" in paths:  # near = white whatever --invert says: what the ControlNet models were trained on
        write_image(paths["controlnet"], controlnet_image(1.0 - display if options.invert else display))


def _embedded_kind(src: Path) -> str | None:
    """The depth ``src`` carries; None, with a notice, when it names one whose data is damaged (user trial 4: the
    model's depth replaced a damaged GDepth without a word)."""
    try:
        return embedded_depth_kind(src, strict=True)
    except InputError as exc:
        _log.info(f"{exc}; the model estimates its depth instead")
        return None


def run_estimate(
    inputs: Iterable[str | os.PathLike[str]],
    outdir: str | os.PathLike[str],
    *,
    model: str | DepthEstimator | DepthFunction,
    options: EstimateOptions,
    device: str = "auto",
    dtype: str = "auto",
    backend: str = "auto",
    quantize: str | None = None,
    max_pixels: int | None = None,
    on_item: Callable[[Path, str], None] | None = None,
    video: VideoOptions | None = None,
    on_frame: Callable[[int, int], None] | None = None,
    batch_size: int = DEFAULT_BATCH,
    detail: DetailOptions | int | str | None = None,
) -> Summary:
    """Estimate and write outputs for every input; one bad input fails alone.

    Photos are pipelined (:mod:`depthforge.pipeline.image_stream`): decoded ahead in a thread (JPEGs at a
    reduced scale when no output needs their full pixels), run in batches of ``batch_size`` photos of the same
    model input size, and written behind in another thread. ``on_item(path, status)`` is called after each item,
    in input order, with status ``done``, ``skipped`` or ``failed: reason`` (from the writer thread for photos).
    The model is loaded once, only if some item needs it. Video files go through
    :func:`depthforge.pipeline.video.run_video` with ``video`` options (default: derived from ``options``),
    calling ``on_frame(done, total)`` after each frame. ``detail``: high-resolution detail for photos and videos
    (:mod:`depthforge.pipeline.detail`; videos use the same tiles on every frame): ``"auto"``, a tile count or
    ``"off"`` as :func:`estimate` takes it, or a :class:`DetailOptions` to set the overlap and fusion too.

    Args:
        inputs: photo and video files, image sequence patterns (``shot.####.png``) and folders (their photos and
            videos, recursively; outputs keep the sub-folders).
        outdir: output folder (made when missing); existing outputs are kept unless ``options.overwrite``.
        model: as :func:`estimate` takes it (a function is taken as relative inverse depth; wrap it in a
            :class:`~depthforge.models.callable.CallableEstimator` to say another kind).
        options: the photo outputs (:class:`EstimateOptions`); ``video``: the clip outputs (:class:`VideoOptions`).
        device, dtype, backend, quantize: see :func:`depthforge.models.load_model`.
        max_pixels: the largest photo or frame accepted, in pixels (None: the default limit).
        on_item, on_frame, batch_size, detail: as above.

    Returns:
        A :class:`Summary`: counts of done, skipped and failed items, the errors, and notes (kept outputs, clips
        beyond their range, depth read from photos).
    """
    detail = as_detail_options(detail)
    items = collect_inputs(inputs, exclude=outdir)
    made = not os.path.exists(outdir)
    out = prepare_folder(outdir)
    summary = Summary()
    estimator: DepthEstimator | None = None
    if isinstance(model, DepthEstimator) or (callable(model) and not isinstance(model, (str, os.PathLike))):
        estimator = as_estimator(model)  # user trial 8: a function was "not in the registry"

    def loaded(*, video: bool = False) -> DepthEstimator:
        nonlocal estimator
        if estimator is None:
            estimator = load_model(str(model), device=device, dtype=dtype, backend=backend, quantize=quantize)
        return estimator if detail is None else with_detail(estimator, detail, skip_flat=not video)

    kept: dict[Path, str] = {}  # inputs whose existing outputs are kept -> the note, given when the rest is done

    def report(job: Job, status: str) -> None:
        if status == "done":
            summary.done += 1
            if (line := kept.pop(job.src, None)) is not None:
                summary.kept.append(line)
        elif status == "skipped":
            summary.skipped += 1
        else:
            summary.failed += 1
            summary.errors.append(status.removeprefix("failed: "))
        _notify(on_item, job.src, status)

    def write(image: Image, depth: DepthMap, paths: dict[str, Path]) -> None:
        write_outputs(image, depth, paths, options)

    photos: list[Job] = []
    claimed: dict[Path, Path] = {}  # output file -> the input that writes it

    def clash(src: Path, outputs: Iterable[Path]) -> str | None:
        """The input whose outputs ``src``'s would overwrite (None: no clash; the outputs are now claimed)."""
        mine = [p for p in outputs]
        for p in mine:
            other = claimed.get(p)
            if other is not None:
                return f"{src}: its outputs would overwrite those of {other}; rename one of them"
        claimed.update((p, src) for p in mine)
        return None

    def fail(src: Path, reason: str) -> None:
        summary.failed += 1
        summary.errors.append(reason)
        _notify(on_item, src, f"failed: {reason}")

    def run_photos() -> None:
        if photos and not all(j.skip or j.error for j in photos):
            run_stream(photos, loaded(), write=write, report=report, max_pixels=max_pixels, batch_size=batch_size)
        else:
            for job in photos:
                report(job, f"failed: {job.error}" if job.error else "skipped")
        photos.clear()

    try:
        vopts = video or VideoOptions(colormap=options.colormap, invert=options.invert, combine=options.combine)
        planned = [
            (
                src,
                stem,
                output_paths(out, stem, options) if not is_video_path(src) else video_output_paths(out, stem, vopts),
            )
            for src, stem in items
        ]
        sweep_stale({p.parent for _, _, paths in planned for p in paths.values()})  # left by a killed earlier run
        for src, stem, paths in planned:
            reason = clash(src, paths.values())
            if not is_video_path(src) and reason is None and options.use_embedded_depth and _embedded_kind(src):
                run_photos()  # in input order
                todo = paths if options.overwrite else _to_write(src, paths, kept)  # the missing ones only (review)
                report(Job(src, todo), _write_embedded(src, todo, options, max_pixels, summary))
                continue
            if not is_video_path(src):
                todo = paths if options.overwrite else _to_write(src, paths, kept)
                photos.append(
                    Job(
                        src,
                        todo,
                        full_pixels="combined" in todo or ("depth" in todo and options.format in PHOTO_FORMATS),
                        skip=reason is None and not todo,
                        error=reason,
                    )
                )
                continue
            run_photos()  # photos before this video are reported before it
            if reason is not None:
                fail(src, reason)
                continue
            try:
                info = probe_clip(src, max_pixels=max_pixels, fps=vopts.sequence_fps)
                todo = (
                    paths
                    if options.overwrite or vopts.overwrite
                    else _to_write(src, paths, kept, video=info, frame_ext=FRAME_EXTENSIONS[vopts.frames or "png16"])
                )
                if not todo:
                    report(Job(src, todo), "skipped")
                    continue
                done = run_video(
                    src,
                    out,
                    estimator=loaded(video=True),
                    options=_only(vopts, todo),
                    stem=stem,
                    info=info,
                    on_frame=on_frame,
                )
                if done.clipped >= 0.001:
                    summary.clipped.append(f"{src}: {100 * done.clipped:.1f} %")
            except (InputError, OutputError, EncodeError, ValidationError) as exc:  # a clip's own facts: it fails alone
                fail(src, str(exc))
                continue
            report(Job(src, todo), "done")
        run_photos()
        return summary
    except ModelError:
        if made and not any(out.iterdir()):
            out.rmdir()  # user trial 6: an offline run without the model left an empty output folder
        raise


def _to_write(
    src: Path, paths: dict[str, Path], kept: dict[Path, str], *, video: VideoInfo | None = None, frame_ext: str = ".png"
) -> dict[str, Path]:
    """The outputs of ``src`` still to write (without ``overwrite``): those whose file does not exist, and the
    files written together (a depth video and its JSON; Facebook's photo and depth pair) when one of them is
    missing. A clip's frame folder counts as there when it holds all of its frames of ``frame_ext`` (an interrupted
    run leaves some).
    The outputs kept while others are written are noted in ``kept[src]`` (for ``Summary.kept`` once ``src`` is
    done: a photo that then fails keeps its outputs without a word about it)."""

    def there(role: str) -> bool:
        p = paths[role]
        if role != "frames" or video is None:
            return os.path.exists(p)  # False for a name too long, which the writer reports (Path.exists raises)
        stem = p.name.removesuffix("_depth_frames")  # the frames' names: see pipeline.video
        return p.is_dir() and len(frame_files(p, stem, frame_ext)) == video.frame_count

    present = {role for role in paths if there(role)}
    for group in ({"depth16", "sidecar"}, {"depth", "depth_image"}):
        if group & paths.keys() and not group & paths.keys() <= present:
            present -= group
    todo = {role: p for role, p in paths.items() if role not in present}
    if todo and present:
        kept[src] = f"{src}: {', '.join(sorted(paths[r].name for r in present))}"
    return todo


def _only(options: VideoOptions, paths: dict[str, Path]) -> VideoOptions:
    """``options`` writing only the outputs in ``paths`` (by role)."""
    return replace(
        options,
        depth16="depth16" in paths,
        depth8="depth8" in paths,
        combine=options.combine if "combined" in paths else None,
        frames=options.frames if "frames" in paths else None,
        stereo=options.stereo if "stereo" in paths else None,
    )


def _write_embedded(
    src: Path,
    paths: dict[str, Path],
    options: EstimateOptions,
    max_pixels: int | None,
    summary: Summary,
) -> str:
    """The outputs ``paths`` of a photo from the depth it carries (resampled to the photo); the depth's source is
    listed in ``summary.embedded``. Returns the item's status: ``done``, ``skipped`` or ``failed: reason``."""
    if not paths:
        return "skipped"
    try:
        image = read_image(src, max_pixels=max_pixels)
        photo = read_depth_photo(src, max_pixels=max_pixels)
        write_outputs(image, resize_depth(photo.depth, image.size_hw), paths, options)
    except (InputError, OutputError, ValidationError) as exc:
        return f"failed: {exc}"
    summary.embedded.append(f"{src}: {photo.source} ({photo.depth.kind})")
    return "done"


def _notify(cb: Callable[[Path, str], None] | None, path: Path, status: str) -> None:
    if cb is not None:
        cb(path, status)
