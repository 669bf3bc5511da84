"""``depthforge match``: disparity (and metric depth) from a rectified stereo pair or a side-by-side image.

Examples::

    depthforge match left.png right.png -o disparity.pfm
    depthforge match movie_frame_sbs.jpg --sbs --half -o disparity.pfm --confidence conf.png
    depthforge match left.png right.png -o disp.pfm --focal-px 1400 --baseline-m 0.12 --metric-out depth.tiff
"""

from __future__ import annotations

import argparse
from pathlib import Path

from depthforge.cli.common import DEPTH_FORMATS, add_command, add_max_pixels, note


def register(sub: argparse._SubParsersAction) -> None:
    summary = "depth from a rectified stereo pair or a side-by-side / top-bottom image (no model, offline)"
    output = (
        "disparity of the left view in pixels (.pfm = Middlebury convention; .tiff/.npy/.exr raw; "
        ".png a normalised display image)"
    )
    p = add_command(sub, "match", __doc__, summary, raw=True, run=run, output=output)
    p.add_argument("left", metavar="LEFT", help="left view, or the whole stereo image with --sbs / --tb")
    p.add_argument("right", metavar="RIGHT", nargs="?", help="right view (omit with --sbs / --tb)")
    p.add_argument("--format", choices=DEPTH_FORMATS, help="output format (default: from the extension)")
    layout = p.add_mutually_exclusive_group()
    layout.add_argument("--sbs", action="store_true", help="one side-by-side image: left half | right half")
    layout.add_argument("--tb", action="store_true", help="one top-bottom image: left on top")
    p.add_argument(
        "--half",
        action="store_true",
        help="the halves are squeezed (half-SBS / half-TB): the output is stretched back to full aspect",
    )
    g = p.add_argument_group("matching")
    g.add_argument("--max-disparity", type=int, metavar="PX", help="largest disparity searched (default: width / 8)")
    g.add_argument(
        "--min-disparity",
        type=int,
        default=0,
        metavar="PX",
        help="smallest disparity searched (default 0; negative for converged views such as 3D-film "
        "frames: the output is then relative depth)",
    )
    g.add_argument("--block-size", type=int, default=3, help="odd matching block size 1..11 (default 3)")
    g.add_argument(
        "--smoothing",
        choices=("median", "fgs", "none"),
        default="median",
        help="edge-aware clean-up guided by the image (default: weighted median)",
    )
    g.add_argument("--no-check", action="store_true", help="skip the rectification check (match anyway)")
    add_max_pixels(g)
    m = p.add_argument_group("metric depth and extra outputs")
    m.add_argument("--focal-px", "--fx", dest="focal_px", type=float, help="focal length in pixels, full-size view")
    m.add_argument("--baseline-m", type=float, help="distance between the two cameras in metres")
    m.add_argument(
        "--metric-out",
        metavar="FILE",
        help="also write metric depth z = f * B / d in metres (needs --focal-px and --baseline-m)",
    )
    m.add_argument(
        "--confidence",
        metavar="FILE",
        help="also write the left-right agreement, 0..1 (.png 8-bit 0..255, .npy / .tiff float)",
    )


def run(args: argparse.Namespace) -> int:
    from depthforge.core.errors import ValidationError
    from depthforge.io.depthfiles import check_extension, write_depth
    from depthforge.io.images import read_image
    from depthforge.stereo import match_stereo, split_stereo, stretch_half

    layout = "sbs" if args.sbs else "tb" if args.tb else None
    if layout and args.right:
        raise ValidationError(f"right: give one image with --{layout}, or two images without it")
    if not layout and not args.right:
        raise ValidationError("right: missing; give LEFT RIGHT, or one stereo image with --sbs / --tb")
    if args.half and not layout:
        raise ValidationError("half: --half describes a squeezed --sbs / --tb image")
    if args.metric_out and (args.focal_px is None or args.baseline_m is None):
        raise ValidationError("metric_out: --metric-out needs --focal-px and --baseline-m")
    if args.confidence and Path(args.confidence).suffix.lower() not in _CONFIDENCE_SUFFIXES:  # before any work
        raise ValidationError(f"confidence: cannot write '{Path(args.confidence).suffix}' (use .png, .npy or .tiff)")
    for path, fmt in ((args.output, args.format), (args.metric_out, None)):
        if path:
            check_extension(path, format=fmt)

    first = read_image(args.left, max_pixels=args.max_pixels)
    if layout:
        left, right = split_stereo(first.as_uint8(), layout=layout)
    else:
        left, right = first.as_uint8(), read_image(args.right, max_pixels=args.max_pixels).as_uint8()
    focal, baseline = args.focal_px, args.baseline_m
    result = match_stereo(
        left,
        right,
        max_disparity_px=args.max_disparity,
        min_disparity_px=args.min_disparity,
        block_size=args.block_size,
        smoothing=args.smoothing,
        focal_px=None if args.half else focal,
        baseline_m=None if args.half else baseline,
        check=not args.no_check,
    )
    if args.half:
        result = stretch_half(result, layout=layout or "sbs", focal_px=focal, baseline_m=baseline)
    for text in result.notes:
        note(text)
    out = write_depth(args.output, result.disparity, format=args.format)
    h, w = result.disparity.shape
    what = "disparity (px)" if result.disparity.kind == "disparity" else "relative depth (disparity up to a shift)"
    print(f"{out}: {what} {w}x{h}, {result.matched_fraction:.0%} matched left-right consistently")
    if args.metric_out:
        metric_path = write_depth(args.metric_out, result.metric())
        print(f"{metric_path}: metric depth (m), f = {focal:g} px, B = {baseline:g} m")
    if args.confidence:
        print(f"{_write_confidence(Path(args.confidence), result.confidence)}: confidence 0..1")
    return 0


def _write_confidence(path: Path, confidence: object) -> Path:
    import numpy as np

    from depthforge.core.errors import ValidationError
    from depthforge.io.atomic import atomic_path
    from depthforge.io.images import write_image

    conf = np.asarray(confidence, dtype=np.float32)
    ext = path.suffix.lower()
    if ext == ".png":
        return write_image(path, (np.clip(conf, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))
    if ext == ".npy":
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.save(fh, conf)
        return path
    if ext in (".tif", ".tiff"):
        import tifffile

        with atomic_path(path) as tmp:
            tifffile.imwrite(tmp, conf)
        return path
    raise ValidationError(f"confidence: cannot write '{ext}' (use .png, .npy or .tiff)")


_CONFIDENCE_SUFFIXES = (".png", ".npy", ".tif", ".tiff")
