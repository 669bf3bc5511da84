"""Point clouds from depth: valid pixels only, with colours, optional normals, and voxel downsampling."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from depthforge.core.deprecation import renamed_keywords
from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import ValidationError
from depthforge.core.image import Image
from depthforge.core.intrinsics import Intrinsics
from depthforge.core.validation import check_extent, check_positive
from depthforge.geometry.normals import normals_from_points
from depthforge.geometry.projection import DEFAULT_FAR_M, DEFAULT_NEAR_M, ZDepth, scene_points

__all__ = ["PointCloud", "pointcloud_from_depth", "voxel_downsample"]


@dataclass(frozen=True, eq=False)
class PointCloud:
    """An unorganised point cloud in the OpenCV camera frame.

    Attributes:
        points: (N, 3) float32, x right, y down, z forward (metres, or pseudo units for relative depth).
        colors: (N, 3) uint8 RGB, or None.
        normals: (N, 3) float32 unit normals facing the camera (an isolated point's: towards the camera), or None.
        pixels: (N, 2) int32 source pixel (u, v) of each point, or None (after downsampling).
    """

    points: np.ndarray
    colors: np.ndarray | None = None
    normals: np.ndarray | None = None
    pixels: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.points.shape[0])


@renamed_keywords(voxel_size="voxel_size_m")
def pointcloud_from_depth(
    depth: DepthMap | ZDepth | np.ndarray,
    *,
    image: np.ndarray | Image | None = None,
    intrinsics: Intrinsics | None = None,
    kind: str | None = None,
    near_m: float = DEFAULT_NEAR_M,
    far_m: float = DEFAULT_FAR_M,
    baseline_m: float | None = None,
    with_normals: bool = False,
    equirect: bool = False,
    stride: int = 1,
    voxel_size_m: float | None = None,
) -> PointCloud:
    """A point cloud from a depth map seen through a pinhole camera, or from an equirectangular panorama.

    Depth kinds become z as in :func:`~depthforge.geometry.mesh.mesh_from_depth` (metric as it is, disparity by
    ``z = fx * baseline_m / d``, relative as a pseudo-depth between ``near_m`` and ``far_m``).

    Args:
        depth: a :class:`DepthMap` (relative, metric or disparity), an (H, W) array with ``kind``, or the
            :class:`ZDepth` of ``depth_to_z``; invalid pixels are dropped. For ``equirect``, the distance from the
            centre (not disparity).
        image: (H, W, 3) uint8 RGB or an :class:`Image` of the same size (point colours), or None; an Image's EXIF
            focal length sets the camera when ``intrinsics`` is None.
        intrinsics: pinhole camera of the same size; default: the image's EXIF, ``depth.intrinsics``, else the
            stated 60-degree field of view.
        kind: what a plain array holds (``"relative"``, ``"metric"``, ``"disparity"``).
        near_m, far_m: pseudo-depth range for relative maps, 0 < near_m < far_m.
        baseline_m: stereo baseline for disparity maps (default ``depth.baseline_m``).
        with_normals: also compute per-point normals (from the full-resolution depth).
        equirect: treat the map as a 360-degree equirectangular panorama.
        stride: keep every ``stride``-th pixel.
        voxel_size_m: when set, average the points inside each cube of this edge (metres, pseudo-metres for
            relative maps).

    Returns:
        A :class:`PointCloud` in the OpenCV camera frame.

    >>> pointcloud_from_depth(np.full((2, 3), 2.0), kind="metric").points.shape
    (6, 3)
    """
    pts, pixels, _ = scene_points(
        depth,
        kind=kind,
        image=image,
        intrinsics=intrinsics,
        baseline_m=baseline_m,
        near_m=near_m,
        far_m=far_m,
        equirect=equirect,
    )
    s = int(check_extent(stride, "stride", shape=pts.shape, positive=True))
    ps = pts[::s, ::s]
    ok = np.isfinite(ps).all(axis=2)
    if not ok.any():
        raise ValidationError("depth: no valid pixel to make a point cloud from")
    v, u = np.nonzero(ok)
    normals = None
    points = np.ascontiguousarray(ps[ok], dtype=np.float32)
    if with_normals:  # from the full-resolution points; where undefined (an isolated point), towards the camera
        normals = normals_from_points(pts)[::s, ::s][ok].astype(np.float32)
        lost = ~np.isfinite(normals).all(axis=1)  # were (0, 0, 0), which viewers and Poisson meshing misread
        if lost.any():  # (user trial 4: 46 zero-length normals)
            towards = -points[lost]
            normals[lost] = towards / np.linalg.norm(towards, axis=1, keepdims=True)
    cloud = PointCloud(
        points,
        np.ascontiguousarray(pixels[::s, ::s][ok], dtype=np.uint8) if pixels is not None else None,
        normals,
        np.stack([u * s, v * s], axis=1).astype(np.int32),
    )
    if voxel_size_m is not None:
        cloud = voxel_downsample(cloud, voxel_size_m=voxel_size_m)
    return cloud


@renamed_keywords(voxel_size="voxel_size_m")
def voxel_downsample(cloud: PointCloud, *, voxel_size_m: float) -> PointCloud:
    """Average the points (and colours, normals) that fall in the same cube of edge ``voxel_size_m`` (the cloud's
    units: metres, or pseudo-metres).

    Cubes are aligned to the origin: a point p belongs to ``floor(p / voxel_size_m)``. Normals are averaged and
    renormalised. Source pixels are dropped (a voxel mixes several).

    Returns:
        A new :class:`PointCloud` with one point per occupied voxel (order: sorted by voxel index).
    """
    size = check_positive(voxel_size_m, "voxel_size_m")
    if len(cloud) == 0:
        return cloud
    cells = np.floor(cloud.points.astype(np.float64) / size).astype(np.int64)
    cells -= cells.min(axis=0)
    span = cells.max(axis=0) + 1
    if float(span[0]) * float(span[1]) * float(span[2]) < 2**62:
        key = (cells[:, 0] * span[1] + cells[:, 1]) * span[2] + cells[:, 2]
        _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    else:  # astronomically many cells: fall back to row-unique
        _, inverse, counts = np.unique(cells, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    m = counts.shape[0]

    def mean(a: np.ndarray) -> np.ndarray:
        out = np.empty((m, a.shape[1]), dtype=np.float64)
        for k in range(a.shape[1]):
            out[:, k] = np.bincount(inverse, weights=a[:, k].astype(np.float64), minlength=m)
        return out / counts[:, None]

    pts = mean(cloud.points).astype(np.float32)
    colors = None
    if cloud.colors is not None:
        colors = np.clip(np.floor(mean(cloud.colors) + 0.5), 0, 255).astype(np.uint8)
    normals = None
    if cloud.normals is not None:
        n = mean(cloud.normals)
        norm = np.linalg.norm(n, axis=1, keepdims=True)
        normals = np.where(norm > 0, n / np.where(norm > 0, norm, 1.0), 0.0).astype(np.float32)
    return replace(cloud, points=pts, colors=colors, normals=normals, pixels=None)
