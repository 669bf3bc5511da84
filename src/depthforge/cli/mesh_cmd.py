"""``depthforge mesh``: a textured 3D mesh (PLY, OBJ + MTL + PNG, or GLB) from a photo and its depth."""

from __future__ import annotations

import argparse

from depthforge.cli.camera import add_scene_command, load_scene
from depthforge.cli.common import note, pick


def register(sub: argparse._SubParsersAction) -> None:
    summary, image = (
        "photo + depth -> textured mesh (.ply, .obj, .glb, .stl)",
        "the photo (its colours become the texture)",
    )
    g = add_scene_command(
        sub, "mesh", __doc__, summary, "output .ply, .obj, .glb or .stl", group="mesh", image=image, run=run
    )
    g.add_argument(
        "--max-angle",
        type=float,
        default=87.0,
        metavar="DEG",
        help="drop triangles seen more obliquely than this (depth discontinuities; 90 = keep all)",
    )
    g.add_argument(
        "--max-jump",
        type=float,
        metavar="R",
        help="also drop triangles whose depth varies by more than this fraction (e.g. 0.1)",
    )
    g.add_argument("--target-vertices", type=int, metavar="N", help="simplify: at most N vertices (0: no limit)")
    g.add_argument("--stride", type=int, default=1, help="use every N-th pixel (default 1)")
    g.add_argument("--no-texture", action="store_true", help="vertex colours only, no texture image")
    g.add_argument(
        "--texture-format",
        default="png",
        choices=("png", "jpg"),
        help="texture file beside a .ply (default png; jpg is much faster for huge photos)",
    )


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from depthforge.core.errors import ValidationError
    from depthforge.geometry.export import check_mesh_extension, export_mesh, sidecar_metadata
    from depthforge.geometry.mesh import Mesh, mesh_from_depth

    if not 0 < args.max_angle <= 90:  # before the depth is made
        raise ValidationError(f"max_angle: {args.max_angle:g} degrees is outside (0, 90] (90 keeps every triangle)")
    check_mesh_extension(args.output)  # before the depth is made
    image, intr, zd = load_scene(args)
    max_angle = None if args.max_angle >= 90 else args.max_angle
    mesh = mesh_from_depth(
        zd,
        image=image,
        intrinsics=intr,
        max_angle_deg=max_angle,
        **pick(args, "equirect", "max_jump", "stride", "target_vertices"),
    )
    meta = sidecar_metadata(image, intr, zd, max_angle_deg=args.max_angle, max_jump=args.max_jump)
    unit = "metres"
    if args.output.lower().endswith(".stl"):  # slicers read an STL's numbers as millimetres
        mesh, unit = Mesh(mesh.vertices * np.float32(1000.0), mesh.faces), "millimetres"
        meta["units"] = "mm" if zd.metric else "pseudo-mm (not metric)"
        note("mesh: an STL of the open surface seen from the camera, in millimetres; 'depthforge relief' makes a solid")
    if mesh.n_faces == 0:
        note("mesh: no triangle survived (too few valid neighbouring pixels); writing vertices only")
    files = export_mesh(
        args.output, mesh, metadata=meta, texture=not args.no_texture, texture_format=args.texture_format
    )
    kind = f"metric, {unit}" if zd.metric else "pseudo-depth, NOT metric"
    print(
        f"wrote {files[0]} ({mesh.n_vertices} vertices, {mesh.n_faces} triangles, {kind}); "
        f"also {', '.join(str(f) for f in files[1:])}"
    )
    return 0
