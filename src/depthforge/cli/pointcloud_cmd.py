"""``depthforge pointcloud``: a coloured point cloud (binary PLY) from a photo and its depth."""

from __future__ import annotations

import argparse

from depthforge.cli.camera import add_scene_command, load_scene


def register(sub: argparse._SubParsersAction) -> None:
    summary = "photo + depth -> coloured point cloud (.ply)"
    g = add_scene_command(
        sub,
        "pointcloud",
        __doc__,
        summary,
        "output .ply",
        group="point cloud",
        image="the photo (point colours)",
        run=run,
    )
    g.add_argument("--normals", action="store_true", help="also write per-point normals")
    g.add_argument(
        "--voxel-m",
        "--voxel",
        dest="voxel",
        type=float,
        metavar="SIZE",
        help="average the points in each cube of this edge, metres (pseudo-metres for relative maps)",
    )
    g.add_argument("--stride", type=int, default=1, help="use every N-th pixel (default 1)")


def run(args: argparse.Namespace) -> int:
    from depthforge.geometry.export import check_mesh_extension, export_pointcloud, sidecar_metadata
    from depthforge.geometry.pointcloud import pointcloud_from_depth

    check_mesh_extension(args.output, points=True)  # before the depth is made
    image, intr, zd = load_scene(args)
    cloud = pointcloud_from_depth(
        zd,
        image=image,
        intrinsics=intr,
        with_normals=args.normals,
        equirect=args.equirect,
        stride=args.stride,
        voxel_size_m=args.voxel,
    )
    meta = sidecar_metadata(image, intr, zd, normals=bool(args.normals), voxel=args.voxel)
    files = export_pointcloud(args.output, cloud, metadata=meta)
    kind = "metric, metres" if zd.metric else "pseudo-depth, NOT metric"
    print(f"wrote {files[0]} ({len(cloud)} points, {kind}); also {files[1]}")
    return 0
