"""``depthforge estimate``: depth maps for photos and folders."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from depthforge.cli.common import (
    COLORMAPS,
    DEFAULT_MODEL,
    DEPTH_FORMATS,
    add_command,
    add_display_options,
    add_model_options,
    detail_options,
    display_range,
    model_options,
    note,
    note_unused,
    pick,
    progress,
    progress_bar,
    stereo_layout,
)

if TYPE_CHECKING:
    from depthforge.pipeline.detail import DetailOptions
    from depthforge.pipeline.estimation import EstimateOptions, Summary


def register(sub: argparse._SubParsersAction) -> None:
    summary = "estimate depth maps for photos or folders"
    p = add_command(sub, "estimate", __doc__, summary, run=run, output="output folder", metavar="OUTDIR")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders (recursive)")
    add_model_options(p, detail=True)
    g = p.add_argument_group("outputs")
    g.add_argument(
        "--format",
        default="png16",
        choices=(*DEPTH_FORMATS, "gdepth", "dynamic-depth", "facebook3d"),
        help="depth file, or a depth photo: gdepth / dynamic-depth (photo_*.jpg), facebook3d (photo_fb3d*.jpg)",
    )
    g.add_argument("--depth-bits", type=int, choices=(8, 16), default=8, help="gdepth/dynamic-depth depth image (8)")
    g.add_argument(
        "--use-embedded-depth",
        action="store_true",
        help="use a photo's own depth (iPhone HEIC, GDepth, Dynamic Depth) when it has one; estimate otherwise",
    )
    g.add_argument(
        "--colormap",
        default="gray",
        choices=COLORMAPS,
        help="also write a colour-mapped PNG (any map but gray)",
    )
    add_display_options(g, invert="near = black instead of white (display formats)")
    g.add_argument("--combine", choices=("horizontal", "vertical"), help="also write the photo beside its depth")
    g.add_argument("--controlnet", action="store_true", help="also write a ControlNet conditioning image")
    g.add_argument("--overwrite", action="store_true", help="replace existing outputs (default: skip them)")
    v = p.add_argument_group(
        "video inputs (clip_depth.mkv 16-bit lossless + clip_depth.mp4; --combine: clip_combined.mp4)"
    )
    v.add_argument(
        "--frames",
        choices=("png16", "png8", "exr"),
        help="also write a frame sequence: 16/8-bit PNG, or float32 EXR (metres from a metric model)",
    )
    v.add_argument(
        "--stereo",
        metavar="LAYOUT",
        type=stereo_layout,
        help="also write a 3D video: left-right, half-left-right, top-bottom, half-top-bottom, anaglyph-dubois, "
        "anaglyph-color, anaglyph-half-color, anaglyph-gray (sbs, half-sbs, tb, half-tb: the same)",
    )
    v.add_argument("--divergence", type=float, default=2.5, help="3D strength in %% of the width (default 2.5)")
    v.add_argument("--no-visual", action="store_true", help="skip the 8-bit visual depth video")
    v.add_argument("--no-temporal", action="store_true", help="no temporal alignment: each frame its own min..max")
    v.add_argument(
        "--temporal-strength",
        type=float,
        default=0.8,
        help="temporal filter: weight of the previous frame on unchanged pixels, 0..0.99 (0.8; 0 = align only)",
    )
    v.add_argument("--batch-size", type=int, default=4, help="frames per model call (default 4)")
    v.add_argument("--fps", type=float, default=24.0, help="frame rate of an image sequence, shot.####.png (24)")


def run(args: argparse.Namespace) -> int:
    from depthforge.io.video import is_sequence_pattern, is_video_path
    from depthforge.pipeline.estimation import EstimateOptions, collect_inputs

    options = EstimateOptions(
        **display_range(args),
        **pick(
            args,
            "format",
            "colormap",
            "invert",
            "combine",
            "controlnet",
            "overwrite",
            "depth_bits",
            "use_embedded_depth",
        ),
    )
    detail = detail_options(args)
    if args.format not in ("gdepth", "dynamic-depth"):  # user trial 4: --depth-bits 16 was dropped without a word
        note_unused(args, ["depth_bits"], "for --format gdepth or dynamic-depth; facebook3d's depth JPEG is 8-bit")
    if args.format == "png16mm" and not args.use_embedded_depth:
        _check_metric_model(args.model or DEFAULT_MODEL)
    items = collect_inputs(args.inputs, exclude=args.output)
    if not items:
        note("no images or videos found in the given inputs")
        return 2
    video = _video_options(args)
    if any(is_video_path(src) for src, _ in items):
        _note_photo_only_options(args)
        if args.no_temporal:
            note_unused(args, ["temporal_strength"], "--no-temporal")
        if not any(is_sequence_pattern(src) for src, _ in items):
            note_unused(args, ["fps"], "for image sequences only: video files keep their own rate")
        return _run_with_frames(args, options, video, len(items), detail)
    # user trial 6: video options on photos were taken without a word
    videos_only = [
        "frames",
        "stereo",
        "divergence",
        "no_visual",
        "no_temporal",
        "temporal_strength",
        "batch_size",
        "fps",
    ]
    note_unused(args, videos_only, "for videos only: no video among the inputs")
    with progress(len(items), "estimating") as advance:
        summary = _run_estimate(args, options, detail, _on_item(advance))
    return _finish(summary)


def _check_metric_model(model: str) -> None:
    """``--format png16mm`` holds millimetres: refuse a relative model before any photo is skipped or estimated
    (user trial: an existing output made it '1 skipped', a fresh folder failed after the model ran)."""
    from depthforge.core.errors import ValidationError
    from depthforge.models.estimator import resolve_depth_model

    source = resolve_depth_model(model)
    kind = source.spec.kind
    if kind != "metric" and not getattr(source, "guessed", False):  # a hub id not yet fetched: checked once loaded
        raise ValidationError(
            f"format: png16mm holds millimetres and {model} gives {kind} depth; use png16, tiff, npy or exr, or a "
            "metric model (depthforge models)"
        )


def _note_photo_only_options(args: argparse.Namespace) -> None:
    """Say which of the given options a video does not use (they still apply to the photos among the inputs)."""
    given = [
        flag
        for flag, used in (
            (f"--format {args.format}", args.format != "png16"),
            ("--depth-bits", args.depth_bits != 8),
            ("--controlnet", args.controlnet),
            ("--use-embedded-depth", args.use_embedded_depth),
            ("--clip", args.clip),
            ("--percentile", args.percentile),
        )
        if used
    ]
    if given:
        video = "a video is written as clip_depth.mkv, 16-bit lossless, and its video outputs"
        note(f"{', '.join(given)}: for photos only ({video})")


def _on_item(advance: Callable[[], object]) -> Callable[[object, str], None]:
    """The per-file callback: advance the files bar, and say why a file failed."""

    def on_item(path: object, status: str) -> None:
        advance()
        if status.startswith("failed"):
            note(status[len("failed: ") :])

    return on_item


def _run_estimate(
    args: argparse.Namespace,
    options: EstimateOptions,
    detail: DetailOptions | None,
    on_item: Callable[[object, str], None],
    **video: Any,
) -> Summary:
    """:func:`~depthforge.pipeline.estimation.run_estimate` on the inputs with the parsed options (``video``:
    its ``video`` and ``on_frame``, for inputs with videos)."""
    from depthforge.pipeline.estimation import run_estimate

    return run_estimate(
        args.inputs,
        args.output,
        model=args.model,
        options=options,
        max_pixels=args.max_pixels,
        on_item=on_item,
        detail=detail,
        **video,
        **model_options(args),
    )


def _finish(summary: Summary) -> int:
    """Report the run (photos whose own depth was used, then the summary line); 1 when a file failed."""
    _say_embedded(summary)
    print(summary.line())
    return 1 if summary.failed else 0


def _say_embedded(summary: Summary) -> None:
    """One notice per photo whose own depth was used (``--use-embedded-depth``); the others were estimated."""
    for line in summary.embedded:
        note(f"used the photo's own depth: {line}")
    for line in summary.kept:
        note(f"kept existing outputs, wrote the others: {line} (--overwrite replaces them)")
    for line in summary.clipped:
        note(
            f"{line} of the depth lies beyond the clip's range, fixed from its first frames, and is stored at its "
            "ends (--no-temporal: each frame its own range)"
        )


def _video_options(args: argparse.Namespace) -> object:
    from depthforge.pipeline.video import VideoOptions

    return VideoOptions(
        depth8=not args.no_visual,
        temporal=not args.no_temporal,
        strength=args.temporal_strength,
        sequence_fps=args.fps,
        **pick(args, "combine", "frames", "stereo", "colormap", "invert", "batch_size", "divergence", "overwrite"),
    )


def _run_with_frames(
    args: argparse.Namespace, options: EstimateOptions, video: object, n_items: int, detail: DetailOptions | None
) -> int:
    """Inputs with videos: a files bar and a frames bar (frames/s and ETA) on stderr."""
    with progress_bar(rate=True) as bar:
        files = bar.add_task("files", total=n_items, rate="")
        frames = bar.add_task("frames", total=None, rate="")

        def on_frame(done: int, total: int) -> None:
            if done == 1:
                bar.reset(frames, total=total or None, rate="")
            bar.update(frames, completed=done)
            speed = bar.tasks[frames].speed
            if speed:
                bar.update(frames, rate=f"{speed:.1f} frames/s")

        on_item = _on_item(lambda: bar.advance(files))
        summary = _run_estimate(args, options, detail, on_item, video=video, on_frame=on_frame)
    return _finish(summary)
