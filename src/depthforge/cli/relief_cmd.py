"""``depthforge relief``: a watertight relief solid for 3D printing (binary STL, or PLY/OBJ/GLB with colours).

The top follows the depth's nearness (the same range as the depth PNG's grey levels: ``--clip`` and ``--percentile``
choose it), over a flat base; millimetres, z up, the photo upright seen from above. Slicers take the STL as it is.
"""

from __future__ import annotations

import argparse

from depthforge.cli.common import add_display_options, add_photo_command, display_range, load_depth_for, pick


def register(sub: argparse._SubParsersAction) -> None:
    summary = "photo + depth -> watertight relief for 3D printing (.stl)"
    p = add_photo_command(sub, "relief", __doc__, summary, "output .stl (or .ply, .obj, .glb)", run=run)
    g = p.add_argument_group("relief (millimetres)")
    g.add_argument("--width-mm", type=float, default=100.0, help="width along the photo's x axis (default 100)")
    g.add_argument("--relief-mm", type=float, default=10.0, help="height from farthest to nearest (default 10)")
    g.add_argument("--base-mm", type=float, default=2.0, help="thickness of the base under the farthest point (2)")
    g.add_argument("--resolution-mm", type=float, default=0.2, help="spacing of the surface grid (default 0.2)")
    g.add_argument("--smooth-mm", type=float, default=0.0, help="Gaussian smoothing of the surface (default 0: none)")
    g.add_argument("--no-fill", action="store_true", help="leave invalid depth as pits on the base (default: filled)")
    add_display_options(g, invert="near = low, far = high (a mould) instead of near = high")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from depthforge.cli.common import DEFAULT_MODEL
    from depthforge.geometry.export import check_mesh_extension, export_mesh
    from depthforge.geometry.relief import check_relief_options, relief_from_depth, relief_sidecar
    from depthforge.io.images import read_image
    from depthforge.process.normalize import check_display_options

    check_mesh_extension(args.output)  # every option before the depth is made
    sizes = pick(args, "width_mm", "relief_mm", "base_mm", "resolution_mm", "smooth_mm")
    check_display_options(**display_range(args))
    image = read_image(args.image, max_pixels=args.max_pixels)
    check_relief_options(image.size_hw, **sizes)
    depth = load_depth_for(image, args)
    options = {"invert": args.invert, "fill": not args.no_fill, **display_range(args)}
    mesh = relief_from_depth(depth, image=image, **sizes, **options)
    size = mesh.vertices.max(axis=0) - mesh.vertices.min(axis=0)
    source = {"depth_file": Path(args.depth).name} if args.depth else {"model": args.model or DEFAULT_MODEL}
    meta = relief_sidecar(source_image=Path(image.path).name, **sizes, **options, **source)
    files = export_mesh(args.output, mesh, metadata=meta)
    print(
        f"wrote {files[0]} ({size[0]:.1f} x {size[1]:.1f} x {size[2]:.1f} mm, {mesh.n_faces} triangles, "
        f"watertight); also {', '.join(str(f) for f in files[1:])}"
    )
    return 0
