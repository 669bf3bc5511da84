"""``depthforge estimate``: depth maps for photos and folders."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from depthforge.cli.common import (
    add_detail_options,
    add_model_options,
    detail_options,
    model_options,
    note,
    parse_pair,
    progress,
    progress_bar,
)

if TYPE_CHECKING:
    from depthforge.pipeline.estimation import Summary


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("estimate", help="estimate depth maps for photos or folders", description=__doc__)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders (recursive)")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder")
    add_model_options(p)
    add_detail_options(p)
    g = p.add_argument_group("outputs")
    g.add_argument(
        "--format",
        default="png16",
        choices=("png16", "png8", "png16mm", "tiff", "npy", "pfm", "exr", "gdepth", "dynamic-depth", "facebook3d"),
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
        choices=("gray", "inferno", "turbo", "viridis", "magma", "plasma"),
        help="also write a colour-mapped PNG (any map but gray)",
    )
    g.add_argument("--invert", action="store_true", help="near = black instead of white (display formats)")
    g.add_argument("--clip", metavar="FAR,NEAR", help="clip and renormalise: fractions 0..1 of the range, e.g. 0.1,0.9")
    g.add_argument("--percentile", metavar="LOW,HIGH", help="normalise between these percentiles, e.g. 2,98")
    g.add_argument("--combine", choices=("horizontal", "vertical"), help="also write the photo beside its depth")
    g.add_argument("--controlnet", action="store_true", help="also write a ControlNet conditioning image")
    g.add_argument("--overwrite", action="store_true", help="replace existing outputs (default: skip them)")
    v = p.add_argument_group(
        "video inputs (clip_depth.mkv 16-bit lossless + clip_depth.mp4; --combine: clip_combined.mp4)"
    )
    v.add_argument("--frames", choices=("png16", "png8"), help="also write a PNG frame sequence")
    v.add_argument(
        "--stereo",
        metavar="LAYOUT",
        help="also write a 3D video: left-right, half-left-right, "
        "top-bottom, half-top-bottom, anaglyph-dubois, anaglyph-color, anaglyph-half-color, anaglyph-gray",
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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from depthforge.io.video import is_video_path
    from depthforge.pipeline.estimation import EstimateOptions, collect_inputs, run_estimate

    far = near = None
    if args.clip:
        far, near = parse_pair(args.clip, "--clip")
    pct = parse_pair(args.percentile, "--percentile") if args.percentile else None
    options = EstimateOptions(
        format=args.format,
        colormap=args.colormap,
        invert=args.invert,
        clip_near=near,
        clip_far=far,
        percentiles=pct,
        combine=args.combine,
        controlnet=args.controlnet,
        overwrite=args.overwrite,
        depth_bits=args.depth_bits,
        use_embedded_depth=args.use_embedded_depth,
    )
    detail = detail_options(args)
    items = collect_inputs(args.inputs)
    if not items:
        note("no images or videos found in the given inputs")
        return 2
    video = _video_options(args)
    if any(is_video_path(src) for src, _ in items):
        return _run_with_frames(args, options, video, len(items), detail)
    with progress(len(items), "estimating") as advance:

        def on_item(path: object, status: str) -> None:
            advance()
            if status.startswith("failed"):
                note(status[len("failed: ") :])

        summary = run_estimate(
            args.inputs,
            args.output,
            model=args.model,
            options=options,
            max_pixels=args.max_pixels,
            on_item=on_item,
            detail=detail,
            **model_options(args),
        )
    _say_embedded(summary)
    print(summary.line())
    return 1 if summary.failed else 0


def _say_embedded(summary: Summary) -> None:
    """One notice per photo whose own depth was used (``--use-embedded-depth``); the others were estimated."""
    for line in summary.embedded:
        note(f"used the photo's own depth: {line}")


def _video_options(args: argparse.Namespace) -> object:
    from depthforge.pipeline.video import VideoOptions

    return VideoOptions(
        depth8=not args.no_visual,
        combine=args.combine,
        frames=args.frames,
        stereo=args.stereo,
        colormap=args.colormap,
        invert=args.invert,
        temporal=not args.no_temporal,
        strength=args.temporal_strength,
        batch_size=args.batch_size,
        divergence=args.divergence,
        overwrite=args.overwrite,
    )


def _run_with_frames(args: argparse.Namespace, options: object, video: object, n_items: int, detail: object) -> int:
    """Inputs with videos: a files bar and a frames bar (frames/s and ETA) on stderr."""
    from depthforge.pipeline.estimation import run_estimate

    with progress_bar(rate=True) as bar:
        files = bar.add_task("files", total=n_items, rate="")
        frames = bar.add_task("frames", total=None, rate="")

        def on_item(path: object, status: str) -> None:
            bar.advance(files)
            if status.startswith("failed"):
                note(status[len("failed: ") :])

        def on_frame(done: int, total: int) -> None:
            if done == 1:
                bar.reset(frames, total=total or None, rate="")
            bar.update(frames, completed=done)
            speed = bar.tasks[frames].speed
            if speed:
                bar.update(frames, rate=f"{speed:.1f} frames/s")

        summary = run_estimate(
            args.inputs,
            args.output,
            model=args.model,
            options=options,  # type: ignore[arg-type]
            max_pixels=args.max_pixels,
            on_item=on_item,
            video=video,  # type: ignore[arg-type]
            on_frame=on_frame,
            detail=detail,  # type: ignore[arg-type]
            **model_options(args),
        )
    _say_embedded(summary)
    print(summary.line())
    return 1 if summary.failed else 0
