"""3D from depth: intrinsics, unprojection, point clouds, meshes, normals and export (numpy only at import).

Frames: everything is computed in the OpenCV camera frame (x right, y down, z forward); files for viewers are
converted once, at export, by :func:`depthforge.geometry.export.to_viewer_frame`.
"""

from depthforge.geometry.camera import describe_intrinsics, intrinsics_from_exif, resolve_intrinsics
from depthforge.geometry.export import export_mesh, export_pointcloud, to_viewer_frame
from depthforge.geometry.layered import LayeredMesh, LayerMesh, export_layered, layered_mesh
from depthforge.geometry.mesh import Mesh, grid_mesh, mesh_from_depth
from depthforge.geometry.normals import depth_to_normals, encode_normals, normals_from_points
from depthforge.geometry.pointcloud import PointCloud, pointcloud_from_depth, voxel_downsample
from depthforge.geometry.projection import ZDepth, depth_to_z, project, pseudo_depth, unproject, unproject_equirect
from depthforge.geometry.relief import relief_from_depth

__all__ = [
    "LayeredMesh",
    "Mesh",
    "PointCloud",
    "ZDepth",
    "depth_to_normals",
    "depth_to_z",
    "describe_intrinsics",
    "encode_normals",
    "export_layered",
    "export_mesh",
    "export_pointcloud",
    "grid_mesh",
    "intrinsics_from_exif",
    "layered_mesh",
    "mesh_from_depth",
    "normals_from_points",
    "pointcloud_from_depth",
    "project",
    "relief_from_depth",
    "pseudo_depth",
    "resolve_intrinsics",
    "to_viewer_frame",
    "unproject",
    "unproject_equirect",
    "voxel_downsample",
    "LayerMesh",
]
