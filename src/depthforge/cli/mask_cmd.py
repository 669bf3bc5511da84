"""``depthforge mask``: foreground masks from depth, cut-outs and background replacement.

Writes an 8-bit PNG mask (255 = foreground) of the image's size; ``--cutout`` writes the RGBA cut-out instead,
and ``--background`` / ``--background-image`` / ``--background-blur`` write the photo with a new background.
"""

from __future__ import annotations

import argparse

from depthforge.cli.common import add_photo_command, load_photo, note


def register(sub: argparse._SubParsersAction) -> None:
    summary = "foreground mask, cut-out or new background from depth"
    p = add_photo_command(sub, "mask", __doc__, summary, "output file (.png)", run=run)
    g = p.add_argument_group("foreground")
    g.add_argument(
        "--threshold",
        type=float,
        metavar="T",
        help="foreground = nearer than T: metres (metric maps), pixels (disparity), or 0..1 of the range, "
        "1 = nearest (relative maps); default automatic",
    )
    g.add_argument(
        "--auto",
        choices=("otsu", "gap"),
        default="otsu",
        help="automatic threshold: Otsu on inverse depth, or the largest depth gap",
    )
    g.add_argument("--largest", action="store_true", help="keep only the largest foreground region")
    g.add_argument(
        "--feather",
        type=int,
        metavar="PX",
        help="edge refinement radius in pixels (guided filter; 0 = hard edge; default 0.4%% of the size)",
    )
    g.add_argument(
        "--method",
        choices=("depth", "model"),
        default="depth",
        help="depth: depth + guided filter (default, no download); model: a matting model refines the edge",
    )
    g.add_argument("--seg-model", metavar="M", help="matting model for --method model (registry name, hub id, folder)")
    o = p.add_argument_group("output (default: the mask)")
    x = o.add_mutually_exclusive_group()
    x.add_argument("--cutout", action="store_true", help="write the RGBA cut-out instead of the mask")
    x.add_argument("--background", metavar="R,G,B", help="replace the background with this colour")
    x.add_argument("--background-image", metavar="FILE", help="replace the background with this image")
    x.add_argument("--background-blur", type=float, metavar="SIGMA", help="blur the background (Gaussian sigma, px)")


def _colour(text: str) -> tuple[int, int, int]:
    from depthforge.core.errors import ValidationError

    parts = text.replace(" ", "").lstrip("#")
    try:
        if "," in parts:
            r, g, b = (int(v) for v in parts.split(","))
        elif len(parts) == 6:
            r, g, b = (int(parts[i : i + 2], 16) for i in (0, 2, 4))
        else:
            raise ValueError
    except ValueError:
        raise ValidationError(f"--background: expected R,G,B (0..255) or #RRGGBB, got {text!r}") from None
    return r, g, b


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from depthforge.core.errors import ValidationError
    from depthforge.io.images import read_image, write_image
    from depthforge.render import masks

    out_path = Path(args.output)
    replace = any(v is not None for v in (args.background, args.background_image, args.background_blur))
    if not replace and out_path.suffix.lower() not in (".png", ".tif", ".tiff", ".webp"):
        raise ValidationError(f"--output: {out_path.name}: masks and cut-outs need .png (or .tiff/.webp)")
    colour = _colour(args.background) if args.background else None
    background = read_image(args.background_image).rgb if args.background_image else None
    image, depth = load_photo(args)
    if args.method == "model":
        from depthforge.models.segmentation import load_matting_model

        hard = masks.depth_mask(depth, threshold=args.threshold, method=args.auto, largest=args.largest)
        band = args.feather or max(4, round(0.01 * max(hard.shape)))
        model = load_matting_model(args.seg_model, device=args.device)
        note(f"matting model {model.spec.name} (licence: {model.spec.licence})")
        alpha = model.predict(image.as_uint8(), masks.trimap(hard, band=band))
    else:
        alpha = masks.foreground_alpha(
            depth, image=image, threshold=args.threshold, method=args.auto, largest=args.largest, radius_px=args.feather
        )
    if args.cutout:
        result = masks.cutout(image.rgb, alpha)
    elif replace:
        if background is not None and background.dtype != image.rgb.dtype:
            from depthforge.core.image import to_uint8

            background, rgb = to_uint8(background), image.as_uint8()
        else:
            rgb = image.rgb
        result = masks.replace_background(rgb, alpha, color=colour, background=background, blur=args.background_blur)
    else:
        result = masks.alpha_to_uint8(alpha)
    write_image(out_path, result)
    share = float((alpha >= 0.5).mean())
    print(f"{out_path}: foreground {100 * share:.1f} % of the image")
    return 0
