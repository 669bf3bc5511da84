"""``depthforge stereo``: 3D images (side-by-side, top-bottom, anaglyph, wiggle) from a photo and its depth.

With a disparity map (``--depth-kind disparity``) every pixel moves by exactly its disparity (the input is the
left view unless --balance says otherwise); other depth is scaled so the parallax spans --divergence % of the
width. A depth file of another size is resampled to the image, with a notice.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from depthforge.cli.common import (
    add_depth_source_options,
    add_photo_command,
    load_photo,
    note,
    note_unused,
    parse_numbers,
    pick,
    stereo_layout,
)
from depthforge.stereo.layouts import LAYOUTS

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np


_LAYOUTS = (*LAYOUTS, "separate", "wiggle", "quilt", "rgbd")


def register(sub: argparse._SubParsersAction) -> None:
    summary = "stereo 3D images from a photo and its depth"
    output = "output file (.png/.jpg; .gif or .png for wiggle; 'separate' writes OUT_left and OUT_right)"
    p = add_photo_command(sub, "stereo", __doc__, summary, output, run=run, depth_source=False)
    p.add_argument(
        "--layout",
        default="left-right",
        type=stereo_layout,
        help=f"one of: {', '.join(_LAYOUTS)} (default left-right; sbs, half-sbs, tb, half-tb: the same)",
    )
    p.add_argument("--divergence", type=float, default=2.5, help="parallax range, %% of the width (default 2.5)")
    p.add_argument(
        "--convergence",
        type=float,
        default=0.0,
        help="screen plane: nearness 0..1 (0 = farthest; -1..2 allowed), or disparity px in exact mode (default 0)",
    )
    p.add_argument(
        "--balance",
        type=float,
        default=None,
        help="-1..1: -1 keeps the input as left eye, +1 as right eye (default 0; -1 in exact mode)",
    )
    p.add_argument("--separation", type=float, default=0.0, help="extra eye separation, %% of the width (+ = nearer)")
    p.add_argument("--exponent", type=float, default=1.0, help="depth exponent (> 1 flattens the background)")
    p.add_argument(
        "--exact",
        choices=("auto", "on", "off"),
        default="auto",
        help="move pixels by exactly their disparity (auto: when the depth is a disparity map)",
    )
    p.add_argument(
        "--fill",
        choices=("background", "layers"),
        default="background",
        help="disocclusions: background (row fill from the far side) or layers (a layered scene, Telea-inpainted "
        "behind each depth edge; not for wiggle/quilt)",
    )
    p.add_argument("--views", type=int, default=2, help="wiggle: 2 = left/right, N >= 3 = sweep of N views")
    p.add_argument("--frame-ms", type=int, default=120, help="wiggle: milliseconds per frame")
    p.add_argument(
        "--quilt",
        default="8x6",
        metavar="COLSxROWS",
        help="quilt: Looking Glass grid (default 8x6; Go 11x6, 16/32-inch 7x7); OUT gets _qs{cols}x{rows}a{aspect}",
    )
    p.add_argument("--quilt-width", type=int, default=4096, help="quilt: largest quilt width in pixels (4096)")
    add_depth_source_options(p)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from depthforge.core.errors import ValidationError
    from depthforge.core.validation import check_choice
    from depthforge.io.images import check_animation, check_image_extension, icc_profile, write_animation, write_image
    from depthforge.render import stereo
    from depthforge.stereo import compose

    check_choice(args.layout, "layout", _LAYOUTS)
    from depthforge.io.video import VIDEO_EXTENSIONS

    video_out = args.layout != "wiggle" and Path(args.output).suffix.lower() in VIDEO_EXTENSIONS  # wiggle: below
    if video_out or Path(args.image).suffix.lower() in VIDEO_EXTENSIONS:  # user trial 4
        raise ValidationError(
            "output: stereo makes pictures; a 3D video comes from 'depthforge estimate CLIP -o DIR --stereo LAYOUT'"
        )
    if args.layout != "wiggle":
        note_unused(args, ["views", "frame_ms"], "for --layout wiggle")
    if args.layout != "quilt":
        note_unused(args, ["quilt", "quilt_width"], "for --layout quilt")
    if args.fill == "layers" and args.layout in ("wiggle", "quilt", "rgbd"):  # checked before the depth is made
        raise ValidationError(f"fill: layers is for pairs of views, not for {args.layout} (use the default fill)")
    exact = {"auto": None, "on": True, "off": False}[args.exact]
    params = stereo.StereoParams(
        **pick(args, "divergence", "convergence", "balance", "separation", "exponent"), exact=exact
    )
    out = Path(args.output)
    # the output's extension, before the depth is made
    if args.layout == "wiggle" and out.suffix.lower() not in (".gif", ".png", ".apng"):
        raise ValidationError(f"output: wiggle needs .gif or .png (APNG), got '{out.suffix}'")
    if args.layout == "wiggle":
        check_animation(out, frame_ms=args.frame_ms)
    if args.layout != "wiggle" and (out.suffix or args.layout not in ("separate", "quilt")):  # these add .png
        check_image_extension(out)
    image, depth = load_photo(args)
    rgb = image.rgb
    if args.layout == "wiggle":
        frames = stereo.wiggle_frames(rgb, depth, views=args.views, params=params)
        write_animation(out, frames, frame_ms=args.frame_ms)
        print(f"wrote {out} ({len(frames)} frames)")
        return 0
    if args.layout in ("quilt", "rgbd"):
        return _looking_glass(args, image, depth, params, out)
    par, used_exact = stereo.eye_parallax(depth, width=image.width, params=params)
    if used_exact:
        note("exact mode: pixels move by their disparity")
        note_unused(args, ["exponent", "divergence"], "exact mode moves pixels by their disparity; --exact off")
    if args.fill == "layers":
        from depthforge.render.scene import render_stereo_layers

        if rgb.dtype.itemsize > 1:
            note(f"--fill layers renders 8-bit colour: the {rgb.dtype.itemsize * 8}-bit photo's views are 8-bit")
        left, right = render_stereo_layers(rgb, depth, params=params)
    elif args.layout == "left":
        left, right = stereo.render_eye(rgb, depth, eye="left", params=params, parallax=par), rgb
    elif args.layout == "right":
        left, right = rgb, stereo.render_eye(rgb, depth, eye="right", params=params, parallax=par)
    else:
        left, right = stereo.render_stereo(rgb, depth, params=params, parallax=par)
    icc = icc_profile(image)  # the photo's colours, as it shows them (user trial 4: a Display P3 photo shifted)
    if args.layout == "separate":
        paths = [out.with_name(f"{out.stem}_{eye}{out.suffix or '.png'}") for eye in ("left", "right")]
        write_image(paths[0], _bits_for(paths[0], left), icc=icc)
        write_image(paths[1], _bits_for(paths[1], right), icc=icc)
        print(f"wrote {paths[0]} and {paths[1]}")
        return 0
    result = compose(left, right, layout=args.layout)
    write_image(out, _bits_for(out, result), icc=icc)
    print(f"wrote {out} ({result.shape[1]}x{result.shape[0]}, {args.layout})")
    return 0


def _bits_for(path: Path, view: np.ndarray) -> np.ndarray:
    """A 16-bit photo's view as 8 bits for a format that holds no more (JPEG, WebP), as bokeh writes it."""
    from depthforge.core.image import to_uint8

    return view if view.dtype.itemsize == 1 or path.suffix.lower() in (".png", ".tif", ".tiff") else to_uint8(view)


def _looking_glass(args: argparse.Namespace, image: object, depth: object, params: object, out: Path) -> int:
    """Looking Glass outputs: a quilt of views (``--quilt``) or an RGB-D image (photo left, depth right)."""
    from depthforge.io.depthphoto_write import write_rgbd
    from depthforge.io.images import write_image
    from depthforge.render.quilt import render_quilt

    if args.layout == "rgbd":
        write_rgbd(out, image, depth)  # type: ignore[arg-type]
        print(f"wrote {out} (Looking Glass RGB-D: photo left, depth right, near = white)")
        return 0
    cols, rows = parse_numbers(args.quilt.lower().replace("x", ","), "--quilt", 2, int, form="COLSxROWS, e.g. 8x6")
    quilt, suffix = render_quilt(
        image.rgb,  # type: ignore[attr-defined]
        depth,  # type: ignore[arg-type]
        columns=cols,
        rows=rows,
        max_width_px=args.quilt_width,
        params=params,  # type: ignore[arg-type]
    )
    path = out if "_qs" in out.stem else out.with_name(f"{out.stem}{suffix}{out.suffix or '.png'}")
    write_image(path, quilt)
    print(
        f"wrote {path} ({cols}x{rows} views of {quilt.shape[1] // cols}x{quilt.shape[0] // rows}, view 0 bottom-left)"
    )
    return 0
