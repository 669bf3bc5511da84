"""Meshes from depth: grid triangulation that does not bridge depth discontinuities.

Triangulation: every 2 x 2 block of neighbouring valid grid points (a, b on one row, c, d below) gives the
triangles (a, c, b) and (b, c, d), wound counter-clockwise as seen from the camera, so face normals point toward
the camera.

**Discontinuity rule** (documented once, here). A triangle is dropped when

* its surface is seen at a grazing angle: the angle between its normal and the ray from the camera centre to its
  centroid exceeds ``max_angle_deg`` (default :data:`DEFAULT_MAX_ANGLE_DEG` = 87 degrees). A jump between a near
  and a far surface makes the bridging triangles almost parallel to the view ray, so they go, while real surfaces
  keep their triangles up to very oblique views. The rule is scale-free: it does not depend on units, on the
  pseudo-depth range or on the grid stride.
* optionally, the relative depth jump inside it is too large: ``(max r - min r) / min r > max_jump``, with r the
  distance of each vertex from the camera centre (off by default).

Simplification: ``target_vertices`` picks the smallest regular grid stride whose valid grid points number at most
the target (the last row and column are always kept, so the mesh covers the whole image). Vertices stay on
exact depth samples, so geometry is not smoothed.

Texture coordinates follow the OBJ convention (origin bottom-left): ``u = (x + 0.5) / W``, ``v = 1 - (y + 0.5) / H``
for the pixel (x, y), so the whole photo is the texture.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from depthforge.core.errors import ValidationError
from depthforge.core.intrinsics import Intrinsics
from depthforge.core.validation import check_array, check_positive, check_range, check_same_hw
from depthforge.geometry.unproject import unproject, unproject_equirect

__all__ = ["DEFAULT_MAX_ANGLE_DEG", "Mesh", "grid_mesh", "mesh_from_depth", "stride_for_target", "grid_indices"]

DEFAULT_MAX_ANGLE_DEG = 87.0


@dataclass(frozen=True, eq=False)
class Mesh:
    """A triangle mesh in the OpenCV camera frame.

    Attributes:
        vertices: (N, 3) float32, x right, y down, z forward (metres, or pseudo units for relative depth).
        faces: (M, 3) int32 vertex indices, counter-clockwise seen from the camera.
        uv: (N, 2) float32 texture coordinates, OBJ convention (origin bottom-left), or None.
        colors: (N, 3) uint8 RGB per vertex, or None.
        texture: (H, W, 3) uint8 RGB image the UVs refer to, or None.
        pixels: (N, 2) int32 source pixel (x, y) of each vertex (x may equal W for the panorama seam column).
    """

    vertices: np.ndarray
    faces: np.ndarray
    uv: np.ndarray | None = None
    colors: np.ndarray | None = None
    texture: np.ndarray | None = None
    pixels: np.ndarray | None = None

    @property
    def n_vertices(self) -> int:
        return int(self.vertices.shape[0])

    @property
    def n_faces(self) -> int:
        return int(self.faces.shape[0])


def grid_indices(size: int, stride: int) -> np.ndarray:
    """Sample positions 0, s, 2s, ... along an axis of ``size`` pixels, always ending with ``size - 1``."""
    idx = np.arange(0, size, stride)
    if idx[-1] != size - 1:
        idx = np.append(idx, size - 1)
    return idx


def stride_for_target(valid: np.ndarray, target_vertices: int) -> int:
    """The smallest stride whose grid keeps at most ``target_vertices`` valid points of the (H, W) bool mask."""
    t = int(check_positive(target_vertices, "target_vertices"))
    total = int(valid.sum())
    if total <= t:
        return 1
    s = max(1, math.floor(math.sqrt(total / t)))
    h, w = valid.shape
    while s < max(h, w):
        if int(valid[np.ix_(grid_indices(h, s), grid_indices(w, s))].sum()) <= t:
            return s
        s += 1
    return max(h, w)


def _cross_dot(a: np.ndarray, b: np.ndarray, c: np.ndarray, cos2: float, max_jump: float | None) -> np.ndarray:
    """Keep-mask for triangles (a, b, c) given as (..., 3) float32 arrays (see the module's rule)."""
    e1 = b - a
    e2 = c - a
    nx = e1[..., 1] * e2[..., 2] - e1[..., 2] * e2[..., 1]
    ny = e1[..., 2] * e2[..., 0] - e1[..., 0] * e2[..., 2]
    nz = e1[..., 0] * e2[..., 1] - e1[..., 1] * e2[..., 0]
    s = a + b + c  # 3 x centroid: direction of the view ray
    dot = nx * s[..., 0] + ny * s[..., 1] + nz * s[..., 2]
    nn = nx * nx + ny * ny + nz * nz
    ss = np.einsum("...k,...k->...", s, s)
    with np.errstate(invalid="ignore", over="ignore"):
        keep = (dot * dot >= np.float32(cos2) * nn * ss) & (nn > 0)
        if max_jump is not None:
            ra = np.sqrt(np.einsum("...k,...k->...", a, a))
            rb = np.sqrt(np.einsum("...k,...k->...", b, b))
            rc = np.sqrt(np.einsum("...k,...k->...", c, c))
            lo = np.minimum(np.minimum(ra, rb), rc)
            hi = np.maximum(np.maximum(ra, rb), rc)
            keep &= (hi - lo) <= np.float32(max_jump) * lo
    return keep


def grid_mesh(
    points: np.ndarray,
    *,
    image: np.ndarray | None = None,
    max_angle_deg: float | None = DEFAULT_MAX_ANGLE_DEG,
    max_jump: float | None = None,
    stride: int = 1,
    target_vertices: int | None = None,
    wrap: bool = False,
) -> Mesh:
    """Triangulate an organised point map over its valid pixels (rule in the module doc).

    Args:
        points: (H, W, 3) float points in the camera frame, NaN = invalid.
        image: (H, W, 3) uint8 RGB of the same size (vertex colours, texture and UVs), or None.
        max_angle_deg: largest angle between a triangle's normal and its view ray, in (0, 90]; None = no limit.
        max_jump: largest relative depth jump inside a triangle (e.g. 0.1 = 10 %); None = no limit.
        stride: grid step in pixels (1 = every pixel).
        target_vertices: when set, the stride is chosen so at most this many vertices remain (overrides stride).
        wrap: connect the last column to the first (360-degree panoramas); the seam column is duplicated with
            u = (W + 0.5) / W (textures repeat).

    Returns:
        A :class:`Mesh` in the frame of ``points``; vertices not used by any triangle are kept (they are valid
        depth samples).

    Raises:
        ValidationError: size mismatch, or no valid pixel.
    """
    p = check_array(points, "points", ndim=3, channels=3, dtype_kind="f")
    if image is not None:
        check_same_hw(p, "depth", check_array(image, "image", ndim=3, channels=3, dtype_kind="u"), "image")
    h, w = p.shape[:2]
    valid_full = np.isfinite(p).all(axis=2)
    if not valid_full.any():
        raise ValidationError("depth: no valid pixel to make a mesh from")
    cos2 = 0.0
    if max_angle_deg is not None:
        ang = check_range(max_angle_deg, "max_angle_deg", low=0.0, high=90.0, low_inclusive=False)
        cos2 = math.cos(math.radians(ang)) ** 2
    if max_jump is not None:
        check_positive(max_jump, "max_jump")
    s = stride_for_target(valid_full, target_vertices) if target_vertices else int(check_positive(stride, "stride"))
    rows = grid_indices(h, s)
    cols = grid_indices(w, s)
    if wrap:
        cols = np.append(cols, w)  # seam column: a copy of column 0
    src_cols = np.where(cols == w, 0, cols)
    if s == 1 and not wrap:
        g = p.astype(np.float32, copy=False)
    else:
        g = p[np.ix_(rows, src_cols)].astype(np.float32, copy=False)
    valid = np.isfinite(g).all(axis=2)
    gh, gw = valid.shape
    idx = np.full((gh, gw), -1, dtype=np.int64)
    n = int(valid.sum())
    idx[valid] = np.arange(n)
    vr, vc = np.nonzero(valid)
    vertices = np.ascontiguousarray(g[valid], dtype=np.float32)

    ia, ib, ic, id_ = idx[:-1, :-1], idx[:-1, 1:], idx[1:, :-1], idx[1:, 1:]
    a, b, c, d = g[:-1, :-1], g[:-1, 1:], g[1:, :-1], g[1:, 1:]
    ok1 = (ia >= 0) & (ib >= 0) & (ic >= 0)
    ok2 = (ib >= 0) & (ic >= 0) & (id_ >= 0)
    if max_angle_deg is not None or max_jump is not None:
        ok1 &= _cross_dot(a, c, b, cos2, max_jump)
        ok2 &= _cross_dot(b, c, d, cos2, max_jump)
    f1 = np.stack([ia[ok1], ic[ok1], ib[ok1]], axis=1)
    f2 = np.stack([ib[ok2], ic[ok2], id_[ok2]], axis=1)
    faces = np.concatenate([f1, f2]).astype(np.int32)

    px = np.stack([cols[vc], rows[vr]], axis=1).astype(np.int32)
    uv = colors = texture = None
    if image is not None:
        img = image if image.dtype == np.uint8 else None
        if img is None:
            from depthforge.io.images import to_uint8

            img = to_uint8(image)
        uv = np.empty((n, 2), dtype=np.float32)
        uv[:, 0] = (px[:, 0] + 0.5) / w
        uv[:, 1] = 1.0 - (px[:, 1] + 0.5) / h
        colors = np.ascontiguousarray(img[px[:, 1], np.where(px[:, 0] == w, 0, px[:, 0])])
        texture = img
    return Mesh(vertices, faces, uv, colors, texture, px)


def mesh_from_depth(
    z: np.ndarray,
    intrinsics: Intrinsics | None = None,
    *,
    image: np.ndarray | None = None,
    equirect: bool = False,
    max_angle_deg: float | None = DEFAULT_MAX_ANGLE_DEG,
    max_jump: float | None = None,
    stride: int = 1,
    target_vertices: int | None = None,
) -> Mesh:
    """A textured mesh from a z map (pinhole) or a radius map (equirectangular panorama).

    Args:
        z: (H, W) float; depth along z (pinhole) or distance from the centre (``equirect``); NaN or <= 0 = invalid.
        intrinsics: pinhole intrinsics of the same size (required unless ``equirect``).
        image: (H, W, 3) uint8 RGB of the same size, or None.
        equirect: 360-degree panorama; the longitude seam is closed.
        max_angle_deg, max_jump, stride, target_vertices: see :func:`grid_mesh`.

    Returns:
        A :class:`Mesh` in the OpenCV camera frame (convert with ``export.to_viewer_frame`` only when writing).
    """
    zz = check_array(z, "depth", ndim=2, dtype_kind="uif")
    if equirect:
        with np.errstate(invalid="ignore"):
            pts = unproject_equirect(np.where(zz > 0, zz, np.nan))
    else:
        if intrinsics is None:
            raise ValidationError("intrinsics: needed for a pinhole depth map (or set equirect=True)")
        pts = unproject(zz, intrinsics)
    return grid_mesh(
        pts,
        image=image,
        max_angle_deg=max_angle_deg,
        max_jump=max_jump,
        stride=stride,
        target_vertices=target_vertices,
        wrap=equirect,
    )
