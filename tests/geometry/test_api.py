"""The public names of depthforge.geometry stay available (a removal must be deliberate)."""

from __future__ import annotations

import depthforge.geometry as geometry

EXPECTED = {
    "Mesh",
    "PointCloud",
    "ZDepth",
    "depth_to_normals",
    "depth_to_z",
    "describe_intrinsics",
    "encode_normals",
    "export_mesh",
    "export_pointcloud",
    "grid_mesh",
    "intrinsics_from_exif",
    "mesh_from_depth",
    "normals_from_points",
    "pointcloud_from_depth",
    "project",
    "pseudo_depth",
    "resolve_intrinsics",
    "to_viewer_frame",
    "unproject",
    "unproject_equirect",
    "voxel_downsample",
}


def test_public_names() -> None:
    assert set(geometry.__all__) >= EXPECTED
    for name in geometry.__all__:
        assert getattr(geometry, name) is not None
