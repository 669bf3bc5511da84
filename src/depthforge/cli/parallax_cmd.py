"""``depthforge parallax``: a "3D photo" clip, the photo re-rendered from a moving virtual camera.

The scene is split at strong depth edges into layers, each filled behind the nearer ones from the background
side, and every frame composites the layers back to front (no holes, no stretched edges). Frames stream to
ffmpeg (bundled with imageio-ffmpeg): .mp4 (H.264), .webm (VP9), .gif, .apng/.png (animated PNG), or a folder
(a PNG sequence).
"""

from __future__ import annotations

import argparse

from depthforge.cli.common import (
    add_depth_source_options,
    add_motion_options,
    add_photo_command,
    load_photo,
    note,
    progress,
)

_MOTIONS = ("circle", "swing", "swing-vertical", "zoom-in", "dolly", "orbit", "dolly-zoom", "linear", "static")
_EASINGS = ("linear", "sine", "quad", "cubic")  # render.motion.EASINGS (not imported: the CLI starts light)


def register(sub: argparse._SubParsersAction) -> None:
    summary = "3D photo videos (camera moves around a photo)"
    output = "output: .mp4, .webm, .gif, .apng/.png, or a folder for a PNG sequence"
    p = add_photo_command(sub, "parallax", __doc__, summary, output, run=run, depth_source=False)
    p.add_argument("--motion", default="circle", help=f"camera path: one of {', '.join(_MOTIONS)} (default circle)")
    add_motion_options(p)
    p.add_argument(
        "--dolly",
        type=float,
        default=None,
        help="forward travel of zoom/orbit/dolly-zoom, fraction of the nearest distance (default 4x amplitude %%)",
    )
    p.add_argument("--easing", default="sine", choices=_EASINGS, help="slowing into each turn (default sine)")
    p.add_argument("--no-loop", dest="loop", action="store_false", help="one-way motion (default: seamless loop)")
    p.add_argument(
        "--start", default=None, metavar="X,Y", help="linear motion: start offset, %% of the width (default 0,0)"
    )
    p.add_argument("--end", default=None, metavar="X,Y", help="linear motion: end offset, %% of the width")
    p.add_argument("--layers", type=int, default=4, help="maximum number of depth layers (default 4)")
    p.add_argument("--quality", type=int, default=None, help="mp4/webm CRF (lower = better; default 18/32)")
    add_depth_source_options(p)


def run(args: argparse.Namespace) -> int:
    from depthforge.cli.common import parse_pair
    from depthforge.core.validation import check_choice, check_range
    from depthforge.io.video_writer import VideoWriter
    from depthforge.pipeline.encode import encode_frames
    from depthforge.render.motion import CameraPose, camera_path, frame_count
    from depthforge.render.parallax import ParallaxRenderer, build_layers

    check_choice(args.motion, "motion", _MOTIONS)
    if (args.start or args.end) and args.motion != "linear":
        note(f"--start/--end: for --motion linear; {args.motion} follows its own path")
    codec = VideoWriter(args.output, fps=args.fps, quality=args.quality).codec  # every option checked before work
    if args.quality is not None and codec not in ("h264", "vp9"):
        note(f"--quality: a CRF for mp4/webm; {codec} output is written without loss")
    frames = frame_count(args.duration, args.fps)
    amplitude = check_range(args.amplitude, "amplitude", low=0.0, high=50.0)
    image, depth = load_photo(args)
    scene = build_layers(image.rgb, depth, max_layers=args.layers)
    width = image.width

    def pose(text: str | None, name: str) -> CameraPose | None:
        if text is None:
            return None
        x, y = parse_pair(text, name)
        return CameraPose(x=x / 100.0 * width, y=y / 100.0 * width)

    start, end = pose(args.start, "start"), pose(args.end, "end")
    dolly = min(0.9, 4.0 * amplitude / 100.0) if args.dolly is None else args.dolly
    poses = camera_path(
        args.motion, frames=frames, amplitude_px=amplitude / 100.0 * width, dolly=dolly, focus=args.focus,
        loop=args.loop, easing=args.easing, start=start, end=end,
    )  # fmt: skip
    renderer = ParallaxRenderer(scene, focus=args.focus, supersample=args.supersample)
    note(f"{len(scene.layers)} layer(s), {frames} frames at {args.fps:g} fps, {codec}")
    with progress(frames, "parallax") as advance:
        rendered = (renderer.render(pose) for pose in poses)
        done = encode_frames(rendered, args.output, fps=args.fps, quality=args.quality, progress=lambda *_: advance())
    print(f"wrote {args.output} ({done.frames} frames, {done.width}x{done.height}, {args.fps:g} fps, {codec})")
    return 0
