"""``depthforge estimate``: depth maps for photos and folders."""

from __future__ import annotations

import argparse

from depthforge.cli.common import add_model_options, note, parse_pair, progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("estimate", help="estimate depth maps for photos or folders", description=__doc__)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders (recursive)")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder")
    add_model_options(p)
    g = p.add_argument_group("outputs")
    g.add_argument("--format", default="png16", choices=("png16", "png8", "png16mm", "tiff", "npy", "pfm", "exr"))
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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from depthforge.pipeline.estimate import EstimateOptions, collect_inputs, run_estimate

    far = near = None
    if args.clip:
        far, near = parse_pair(args.clip, "--clip")
    pct = parse_pair(args.percentile, "--percentile") if args.percentile else None
    options = EstimateOptions(
        format=args.format,
        colormap=args.colormap,
        invert=args.invert,
        near=near,
        far=far,
        percentiles=pct,
        combine=args.combine,
        controlnet=args.controlnet,
        overwrite=args.overwrite,
    )
    items = collect_inputs(args.inputs)
    if not items:
        note("no images found in the given inputs")
        return 2
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
            device=args.device,
            dtype=args.dtype,
            max_pixels=args.max_pixels,
            on_item=on_item,
        )
    print(summary.line())
    return 1 if summary.failed else 0
