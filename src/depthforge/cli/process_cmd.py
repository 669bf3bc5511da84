"""``depthforge process``: clean up a depth map and make it metric.

Steps run in this order: speckle removal, hole filling, filters (in the order given), alignment to known
distances (``--known`` points or a ``--reference`` map).
"""

from __future__ import annotations

import argparse

from depthforge.cli.common import DEPTH_FORMATS, add_command, add_depth_file_options, note, parse_numbers


def register(sub: argparse._SubParsersAction) -> None:
    summary = "filter, fill holes and align a depth map to known distances"
    output = "output depth file (format from extension)"
    p = add_command(sub, "process", __doc__, summary, raw=True, run=run, output=output)
    p.add_argument("input", metavar="IN", help="a depth file (any format 'depthforge estimate' writes)")
    p.add_argument("--format", choices=DEPTH_FORMATS, help="output format (default: from the extension)")
    add_depth_file_options(p, "input's", "multiply the input's raw values (e.g. 0.25 for Middlebury)")
    g = p.add_argument_group("filters")
    g.add_argument(
        "--filter",
        action="append",
        default=[],
        choices=("bilateral", "median", "guided", "speckle"),
        help="apply a filter (repeatable, applied in order; speckle removal always runs first)",
    )
    g.add_argument("--image", metavar="FILE", help="guide image for --filter guided")
    g.add_argument("--sigma-space", type=float, default=2.0, help="bilateral: spatial sigma, px (default 2)")
    g.add_argument("--sigma-range", type=float, help="bilateral: depth sigma in inverse-depth units (default: auto)")
    g.add_argument("--median-size", type=int, default=5, help="median: odd window size (default 5)")
    g.add_argument("--radius", type=int, default=8, help="guided: window radius, px (default 8)")
    g.add_argument("--eps", type=float, default=1e-3, help="guided: regularisation (default 1e-3)")
    g.add_argument("--speckle-size", type=int, default=100, help="speckle: remove patches smaller than this (px)")
    g.add_argument("--speckle-diff", type=float, help="speckle: largest step inside a patch (default 2%% of range)")
    f = p.add_argument_group("hole filling")
    f.add_argument(
        "--fill",
        choices=("auto", "background", "nearest", "smooth"),
        help="fill invalid pixels (auto: smooth for small holes, background for the rest)",
    )
    f.add_argument("--max-hole", type=int, default=256, help="largest hole filled smoothly, px (default 256)")
    f.add_argument(
        "--fill-axes",
        choices=("both", "horizontal"),
        default="both",
        help="background fill: search rows and columns, or rows only (stereo occlusions)",
    )
    a = p.add_argument_group("alignment (the result is metric; disparity for a disparity reference without a baseline)")
    a.add_argument(
        "--known", action="append", default=[], metavar="X,Y,METRES", help="a pixel with a known distance (repeatable)"
    )
    a.add_argument("--reference", metavar="FILE", help="a sparse, partial or full metric (or disparity) map")
    a.add_argument("--ref-kind", choices=("metric", "disparity"), help="what the reference's values mean")
    a.add_argument("--ref-scale", type=float, help="multiply the reference's raw values by this")
    a.add_argument("--fit", choices=("scale", "scale-shift"), help="default: scale-shift (scale with one point)")
    a.add_argument("--no-robust", action="store_true", help="plain least squares (no outlier rejection)")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from depthforge.cli.common import read_depth_flagged
    from depthforge.core.errors import ValidationError
    from depthforge.io.depthfiles import check_extension, read_depth, write_depth
    from depthforge.process import align, fill, filters

    if args.known and args.reference:
        raise ValidationError("--known: give either --known points or --reference, not both")
    check_extension(args.output, format=args.format)  # before any work
    if "guided" not in args.filter and (args.image or args.radius != 8 or args.eps != 1e-3):
        note("--image, --radius and --eps: for --filter guided, which was not asked for")
    depth = read_depth(args.input, kind=args.depth_kind, scale=args.depth_scale)
    steps = list(args.filter)
    if "speckle" in steps:
        before = int(depth.valid.sum())
        depth = filters.remove_speckles(depth, max_size_px=args.speckle_size, max_diff=args.speckle_diff)
        note(f"speckles: {before - int(depth.valid.sum())} pixels removed")
    if args.fill:
        holes = int((~depth.valid).sum())
        depth = fill.fill_holes(depth, method=args.fill, max_hole_px=args.max_hole, axes=args.fill_axes)
        note(f"filled {holes - int((~depth.valid).sum())} of {holes} invalid pixels ({args.fill})")
    for name in steps:
        if name == "bilateral":
            depth = filters.bilateral_filter(depth, sigma_space_px=args.sigma_space, sigma_range=args.sigma_range)
        elif name == "median":
            depth = filters.median_filter(depth, size_px=args.median_size)
        elif name == "guided":
            if not args.image:
                raise ValidationError("--image: the guided filter needs a guide image (--image FILE)")
            from depthforge.io.images import read_image

            image = read_image(args.image)
            if image.size_hw != depth.shape:
                from depthforge.process.resample import check_not_sideways, resize_depth

                check_not_sideways(depth.shape, image.size_hw)
                note(f"depth resampled to the guide image size {image.width}x{image.height}")
                depth = resize_depth(depth, image.size_hw)
            depth = filters.guided_filter(image, depth, radius_px=args.radius, eps=args.eps)
    robust = not args.no_robust
    if args.known:
        points = [parse_numbers(t, "--known", 3, form="X,Y,METRES (three numbers)") for t in args.known]
        depth, result = align.align_to_points(depth, points, fit=args.fit, robust=robust)
        print(f"aligned to {len(points)} known point(s): {result.line()}")
        for x, y, z in points:
            got = float(depth.values[int(np.floor(y + 0.5)), int(np.floor(x + 0.5))])
            print(f"  ({x:g}, {y:g}): known {z:.4g} m, aligned {got:.4g} m")
    elif args.reference:
        ref = read_depth_flagged(args.reference, kind=args.ref_kind, scale=args.ref_scale, flag="ref")
        if ref.kind == "disparity" and (ref.baseline_m and ref.intrinsics):
            ref = ref.to_metric()
        if ref.kind not in ("metric", "disparity"):
            raise ValidationError(f"--reference: needs metric depth or disparity, got {ref.kind}; give --ref-kind")
        if ref.kind == "disparity":
            note("the reference is a disparity map without intrinsics and baseline: the output is disparity (px)")
        depth, result = align.align_to_depth(depth, ref, fit=args.fit or "scale-shift", robust=robust)
        print(f"aligned to the reference: {result.line()}")
    out = write_depth(args.output, depth, format=args.format)
    print(f"wrote {out} ({depth.kind}, {depth.units})")
    return 0
