"""``depthforge bokeh``: simulated shallow depth of field ("portrait mode") from a photo and its depth."""

from __future__ import annotations

import argparse
from typing import Any

from depthforge.cli.common import add_photo_command, load_photo, note


def register(sub: argparse._SubParsersAction) -> None:
    summary = "blur a photo by depth, as a wide-aperture lens would"
    p = add_photo_command(sub, "bokeh", __doc__, summary, "output image (.png keeps 16 bit, .jpg, ...)", run=run)
    g = p.add_argument_group("focus (default: auto, the nearest large region or else the image centre)")
    f = g.add_mutually_exclusive_group()
    f.add_argument("--focus-xy", nargs=2, type=float, metavar=("X", "Y"), help="focus on this pixel (x right, y down)")
    f.add_argument(
        "--focus-depth",
        type=float,
        metavar="D",
        help="focus at this depth: metres (metric maps), pixels (disparity), or 0..1 of the range, "
        "1 = nearest (relative maps)",
    )
    f.add_argument("--focus", choices=("auto",), help="automatic focus (the default)")
    a = p.add_argument_group("lens")
    ap = a.add_mutually_exclusive_group()
    ap.add_argument(
        "--aperture",
        type=float,
        metavar="PX",
        help="blur radius in pixels from the scene's nearest to its farthest 0.5 %% (outliers blur a little more; "
        "default 2%% of the longer side; 0 = no blur)",
    )
    ap.add_argument(
        "--f-number",
        type=float,
        metavar="N",
        help="metric maps: a full-frame lens at f/N with the photo's field of view (thin lens)",
    )
    a.add_argument("--blades", type=int, default=0, help="aperture blades: 0 = round bokeh, 3..16 = polygon")
    a.add_argument("--rotation", type=float, default=0.0, metavar="DEG", help="rotation of the polygonal aperture")
    a.add_argument(
        "--highlights",
        type=float,
        default=1.0,
        metavar="GAIN",
        help="boost clipped highlights by this factor in linear light so they bloom (1 = off)",
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from depthforge.io.images import check_image_extension, exif_bytes, icc_profile, write_image
    from depthforge.render.defocus import bokeh, plan_bokeh

    check_image_extension(args.output)  # before the depth is made
    image, depth = load_photo(args)
    lens: dict[str, Any] = {
        "focus_xy": tuple(args.focus_xy) if args.focus_xy else None,
        "focus_depth": args.focus_depth,
        "aperture_px": args.aperture,
        "f_number": args.f_number,
    }
    plan = plan_bokeh(depth, **lens)
    if plan.intrinsics_source:
        note(f"intrinsics: {plan.intrinsics_source}")
    out = bokeh(
        image.rgb,
        depth,
        **lens,
        blades=args.blades,
        rotation_deg=args.rotation,
        highlight_gain=args.highlights,
    )
    if out.dtype != "uint8" and Path(args.output).suffix.lower() not in (".png", ".tif", ".tiff"):
        from depthforge.core.image import to_uint8

        out = to_uint8(out)
    write_image(args.output, out, exif=exif_bytes(image), icc=icc_profile(image))  # the photo's facts and colours
    print(
        f"{args.output}: focus {plan.focus_source} (inverse depth {plan.focus_inverse:.4g}), "
        f"largest blur radius {plan.max_radius_px:.1f} px"
    )
    return 0
