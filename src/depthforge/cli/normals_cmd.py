"""``depthforge normals``: a normal map (camera frame, OpenGL or DirectX encoding) from a photo's depth."""

from __future__ import annotations

import argparse

from depthforge.cli.camera import add_scene_command, load_scene


def register(sub: argparse._SubParsersAction) -> None:
    output, image = "output .png (or .tiff)", "the photo (sets the size and EXIF intrinsics)"
    summary = "photo + depth -> normal map PNG"
    g = add_scene_command(sub, "normals", __doc__, summary, output, group="normal map", image=image, run=run)
    g.add_argument("--directx", action="store_true", help="DirectX convention (green = down) instead of OpenGL")
    g.add_argument("--bits", type=int, default=8, choices=(8, 16), help="bits per channel (default 8)")
    g.add_argument("--smooth-depth", type=float, default=0.0, metavar="PX", help="Gaussian sigma on depth before")
    g.add_argument("--smooth-normals", type=float, default=0.0, metavar="PX", help="Gaussian sigma on normals after")


def run(args: argparse.Namespace) -> int:
    import json

    from depthforge.geometry.export import sidecar_metadata
    from depthforge.geometry.normals import depth_to_normals, encode_normals
    from depthforge.io.images import check_image_extension, write_image

    check_image_extension(args.output, bits=args.bits)  # before the depth is made
    image, intr, zd = load_scene(args, scale_free=True)
    n = depth_to_normals(
        zd,
        intrinsics=intr,
        equirect=intr is None,
        smooth_depth_px=args.smooth_depth,
        smooth_normals_px=args.smooth_normals,
    )
    convention = "directx" if args.directx else "opengl"
    encoded = encode_normals(n, convention=convention, bits=args.bits)
    meta = sidecar_metadata(image, intr, zd, convention=convention, bits=args.bits, encoding="rgb = n * 0.5 + 0.5")
    path = write_image(args.output, encoded, text={"depthforge": json.dumps(meta, default=str)})
    print(f"wrote {path} ({encoded.shape[1]}x{encoded.shape[0]}, {convention}, {args.bits} bit)")
    return 0
