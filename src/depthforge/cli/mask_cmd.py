"""``depthforge mask``: foreground masks from depth and/or a segmentation model, cut-outs and background replacement.

Writes an 8-bit PNG mask (255 = foreground) of the image's size; ``--cutout`` writes the RGBA cut-out instead,
and ``--background`` / ``--background-image`` / ``--background-blur`` write the photo with a new background.
``--source``: depth (threshold + guided filter), model (ViTMatte on the depth edge), rembg:MODEL (rembg's
background-removal models, e.g. rembg:u2net, rembg:isnet-general-use, rembg:birefnet-general; pip install
'depthforge[segment]'), sam (Segment Anything prompted from the nearest depth band or --click), fused (a
segmentation kept where it agrees with a depth band). ``--depth-out`` also writes the depth estimated with the
background removed first (background = far).
"""

from __future__ import annotations

import argparse
from typing import Any

from depthforge.cli.common import add_photo_command, note, note_unused, pick


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
        "--source",
        "--method",
        dest="method",
        default="depth",
        metavar="depth|model|rembg:MODEL|sam|fused",
        help="depth: depth + guided filter (default, no download); model: a matting model refines the depth edge; "
        "rembg:MODEL: one of rembg's models (u2net, u2netp, silueta, isnet-general-use, isnet-anime, "
        "birefnet-general, ...; no depth needed); sam: Segment Anything prompted from depth; fused: a segmentation "
        "(--segmenter) kept where it agrees with a depth band",
    )
    g.add_argument(
        "--segmenter", default="sam", metavar="sam|rembg:MODEL", help="segmentation for --source fused (default sam)"
    )
    g.add_argument("--seg-file", metavar="FILE", help="your ONNX file for rembg:u2net_custom, dis_custom or ben_custom")
    g.add_argument("--sam-model", metavar="M", help="SAM model: registry name (sam-vit-base), hub id or folder")
    g.add_argument(
        "--click", metavar="X,Y", help="a pixel on the object for sam/fused (default: the nearest depth band)"
    )
    g.add_argument(
        "--matting-model",
        "--seg-model",
        dest="seg_model",
        metavar="M",
        help="matting model (ViTMatte: registry name, hub id, folder) for --source model; with rembg/sam/fused it "
        "refines their edge on a trimap from both cues",
    )
    g.add_argument(
        "--allow-noncommercial",
        action="store_true",
        help="accept a model whose weights are licensed for non-commercial use only (rembg:bria-rmbg, RMBG-2.0)",
    )
    o = p.add_argument_group("output (default: the mask)")
    x = o.add_mutually_exclusive_group()
    x.add_argument("--cutout", action="store_true", help="write the RGBA cut-out instead of the mask")
    x.add_argument("--background", metavar="R,G,B", help="replace the background with this colour")
    x.add_argument("--background-image", metavar="FILE", help="replace the background with this image")
    x.add_argument("--background-blur", type=float, metavar="SIGMA", help="blur the background (Gaussian sigma, px)")
    o.add_argument(
        "--depth-out",
        metavar="FILE",
        help="also estimate depth with the background removed first (as the A1111 extension does) and write it "
        "here (background = the far value; any depth format by extension; needs a model, not --depth)",
    )


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


#: The :class:`~depthforge.pipeline.background.MaskOptions` fields set by the option of the same name.
_SAME_NAMED = ("method", "segmenter", "seg_file", "sam_model", "allow_noncommercial", "threshold", "auto", "largest")


def _options(args: argparse.Namespace) -> Any:
    from depthforge.cli.common import parse_pair
    from depthforge.core.validation import check_range
    from depthforge.pipeline.background import MaskOptions

    if args.feather is not None:  # 0 is a hard edge: the library's '> 0' read wrong for --feather (user trial 3)
        check_range(args.feather, "feather", low=0, high=10_000)
    return MaskOptions(
        matting_model=args.seg_model,
        feather_px=args.feather,
        click_xy=parse_pair(args.click, "--click") if args.click else None,
        **pick(args, *_SAME_NAMED, "device"),
    )


def _describe(options: Any) -> None:
    """Name the models used and their licences (after they ran: a refused model is one line only)."""
    method = options.segmenter if options.method == "fused" else options.method
    if options.method == "model" or (options.matting_model and options.method not in ("depth", "model")):
        from depthforge.models.segmentation import resolve_matting_model

        matting = resolve_matting_model(options.matting_model)[0]
        note(f"matting model {matting.name} (licence: {matting.licence})")
    if method == "sam":
        from depthforge.models.sam import resolve_sam_model

        sam = resolve_sam_model(options.sam_model)[0]
        note(f"segmentation model {sam.name} (licence: {sam.licence})")
    if method.startswith("rembg:"):
        from depthforge.models.rembg_backend import REMBG_REGISTRY

        spec = REMBG_REGISTRY.get(method[6:].lower())
        if spec is not None:
            note(f"segmentation model rembg:{spec.name} (licence: {spec.licence})")


def _note_unused(args: argparse.Namespace, options: Any) -> None:
    """Say which of the given model options the chosen ``--source`` does not use."""
    segmentation = options.segmenter if options.method == "fused" else options.method
    if segmentation != "sam":
        note_unused(args, ("sam_model", "click"), "for --source sam, or fused with --segmenter sam")
    if options.method != "fused":
        note_unused(args, ("segmenter",), "for --source fused")
    if not (segmentation.startswith("rembg:") and segmentation.endswith("_custom")):
        note_unused(args, ("seg_file",), "for the rembg:*_custom segmenters")
    if options.method == "depth":
        note_unused(args, ("seg_model",), "--source depth uses no matting model")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from depthforge.cli.common import load_depth_for
    from depthforge.core.errors import ValidationError
    from depthforge.io.images import exif_bytes, icc_profile, read_image, write_image
    from depthforge.pipeline.background import foreground, needs_depth, require_models
    from depthforge.render import masks

    out_path = Path(args.output)
    replace = any(v is not None for v in (args.background, args.background_image, args.background_blur))
    if not replace and out_path.suffix.lower() not in (".png", ".tif", ".tiff", ".webp"):
        raise ValidationError(f"--output: {out_path.name}: masks and cut-outs need .png (or .tiff/.webp)")
    if args.depth_out and args.depth:
        raise ValidationError("--depth-out: estimating with the background removed needs a model, not --depth FILE")
    colour = _colour(args.background) if args.background else None
    background = read_image(args.background_image).rgb if args.background_image else None
    options = _options(args)
    _note_unused(args, options)
    require_models(options)  # a model neither cached nor reachable: one line before the depth is estimated
    image = read_image(args.image, max_pixels=args.max_pixels)
    depth = load_depth_for(image, args) if needs_depth(options) else None
    alpha = foreground(image, depth, options)
    _describe(options)
    if args.depth_out:
        _write_foreground_depth(Path(args.depth_out), image, alpha, args)
    if args.cutout:
        result = masks.cutout(image.rgb, alpha)
    elif replace:
        if background is not None and background.dtype != image.rgb.dtype:
            from depthforge.core.image import to_uint8

            background, rgb = to_uint8(background), image.as_uint8()
        else:
            rgb = image.rgb
        result = masks.replace_background(rgb, alpha, color=colour, background=background, blur_px=args.background_blur)
    else:
        result = masks.alpha_to_uint8(alpha)
    if replace or args.cutout:  # a photo's: its camera facts and colour profile go with it
        write_image(out_path, result, exif=exif_bytes(image), icc=icc_profile(image))
    else:
        write_image(out_path, result)
    share = float((alpha >= 0.5).mean())
    print(f"{out_path}: foreground {100 * share:.1f} % of the image")
    return 0


def _write_foreground_depth(path: Any, image: Any, alpha: Any, args: argparse.Namespace) -> None:
    from depthforge.cli.common import DEFAULT_MODEL, model_options
    from depthforge.io.depthfiles import write_depth
    from depthforge.models.estimator import load_model
    from depthforge.pipeline.background import estimate_without_background

    model = load_model(args.model or DEFAULT_MODEL, **model_options(args))
    write_depth(path, estimate_without_background(image, alpha, model=model))
    print(f"{path}: depth estimated with the background removed (background = far)")
