"""Surface normals from depth and intrinsics (true 3D, not image gradients), and normal-map encoding.

Normals are computed from the 3D points, so they are correct for any camera and any depth, including slanted
planes seen off-axis. Per pixel, the tangents along u and v are finite differences of neighbouring points:
central differences where both neighbours are valid, one-sided where only one is, and at depth discontinuities
(one side's depth step more than twice the other's) the one-sided difference with the smaller step, so edges do
not bend the normals of the surface they bound. ``n = normalise(dP/dv x dP/du)``, oriented to face the camera
(``n . P < 0``).

Encoding (CONVENTIONS.md §3): unit normals in the camera frame, written in the OpenGL convention (x right, y up,
z toward the viewer), ``rgb = (n * 0.5 + 0.5) * max_code`` rounded, so a wall facing the camera is (128, 128, 255)
in 8 bit; the DirectX convention flips y (green). Invalid pixels encode as (0, 0, 0).
"""

from __future__ import annotations

from functools import partial

import numpy as np

from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import ValidationError
from depthforge.core.intrinsics import Intrinsics
from depthforge.core.validation import check_array, check_choice, check_extent
from depthforge.geometry.projection import DEFAULT_FAR_M, DEFAULT_NEAR_M, ZDepth, scene_points

#: One-sided differences replace central ones when one side's depth step exceeds the other's by this factor.
_EDGE_RATIO = 2.0
#: Rows of a point or normal map computed or encoded at a time (bounds the float64 temporaries).
_BAND_ROWS = 256

__all__ = ["normals_from_points", "depth_to_normals", "smooth_depth", "smooth_normals", "encode_normals"]


def _tangent(p: np.ndarray, axis: int) -> np.ndarray:
    """Edge-aware finite difference of an (H, W, 3) float64 point map along ``axis`` (0 = v, 1 = u)."""
    d = np.diff(p, axis=axis)
    edge = np.full_like(np.take(p, [0], axis=axis), np.nan)  # no neighbour beyond the border
    fwd = np.concatenate([d, edge], axis=axis)
    bwd = np.concatenate([edge, d], axis=axis)
    f_ok = np.isfinite(fwd).all(axis=2)
    b_ok = np.isfinite(bwd).all(axis=2)
    fz = np.abs(fwd[:, :, 2])
    bz = np.abs(bwd[:, :, 2])
    with np.errstate(invalid="ignore"):
        use_f = f_ok & (~b_ok | (fz * _EDGE_RATIO < bz))
        use_b = b_ok & (~f_ok | (bz * _EDGE_RATIO < fz))
    out = 0.5 * (fwd + bwd)
    out[use_f] = fwd[use_f]
    out[use_b] = bwd[use_b]
    return out


def normals_from_points(points: np.ndarray) -> np.ndarray:
    """Unit normals of an organised point map (pinhole or panorama), facing the origin.

    Args:
        points: (H, W, 3) float, camera frame, NaN = invalid.

    Returns:
        (H, W, 3) float32 unit normals in the same frame (``n . P < 0``), NaN where the point or both of its
        neighbours along an axis are invalid.
    """
    p = check_array(points, "points", ndim=3, channels=3, dtype_kind="f")
    height = p.shape[0]
    out = np.empty(p.shape, np.float32)
    # in bands of rows with a one-row halo (the same result, bit for bit): float64 temporaries of a whole 40 MP map
    # took about 6 GB
    for r0 in range(0, height, _BAND_ROWS):
        r1 = min(height, r0 + _BAND_ROWS)
        a, b = max(0, r0 - 1), min(height, r1 + 1)
        out[r0:r1] = _band_normals(p[a:b].astype(np.float64))[r0 - a : r1 - a]
    return out


def _band_normals(p: np.ndarray) -> np.ndarray:
    """:func:`normals_from_points` of an (h, W, 3) float64 point map, all at once."""
    du = _tangent(p, 1)
    dv = _tangent(p, 0)
    n = np.cross(dv, du)
    norm = np.linalg.norm(n, axis=2, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        n = n / norm
        flip = np.sum(n * p, axis=2) > 0
    n[flip] *= -1.0
    bad = ~(np.isfinite(n).all(axis=2) & (norm[:, :, 0] > 0) & np.isfinite(p).all(axis=2))
    n[bad] = np.nan
    return n.astype(np.float32)


def _masked_blur(values: np.ndarray, ok: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian blur (float32, edges replicated) of ``values`` with the pixels outside ``ok`` set to 0."""
    import cv2

    # float32 throughout (a Python 0.0 made np.where return a float64 copy: 960 MB for a 40 MP normal map)
    kept = np.where(ok if values.ndim == 2 else ok[:, :, None], values, np.float32(0)).astype(np.float32, copy=False)
    # in place (``kept`` is this function's own): no second full-size array
    return cv2.GaussianBlur(kept, (0, 0), sigma_px, dst=kept, borderType=cv2.BORDER_REPLICATE)


def smooth_depth(depth: np.ndarray, *, sigma_px: float) -> np.ndarray:
    """Gaussian smoothing of a depth map that ignores invalid pixels (normalised convolution).

    Args:
        depth: (H, W) float values (any kind), NaN = invalid.
        sigma_px: standard deviation in pixels (0 = unchanged).

    Returns:
        (H, W) float32; invalid pixels stay NaN.
    """
    zz = check_array(depth, "depth", ndim=2, dtype_kind="uif")
    s = check_extent(sigma_px, "sigma_px", shape=zz.shape)
    if s == 0:
        return zz.astype(np.float32)
    ok = np.isfinite(zz)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = _masked_blur(zz, ok, s) / _masked_blur(ok, ok, s)
    out[~ok] = np.nan
    return out.astype(np.float32)


def smooth_normals(normals: np.ndarray, *, sigma_px: float) -> np.ndarray:
    """Gaussian smoothing of a normal map (invalid pixels ignored), renormalised to unit length."""
    n = check_array(normals, "normals", ndim=3, channels=3, dtype_kind="f")
    s = check_extent(sigma_px, "sigma_px", shape=n.shape)
    if s == 0:
        return n.astype(np.float32)
    ok = np.isfinite(n).all(axis=2)
    out = _masked_blur(n, ok, s)
    # in place and in bands of rows: a 40 MP normal map is 480 MB a copy
    for r0 in range(0, out.shape[0], _BAND_ROWS):
        band = out[r0 : r0 + _BAND_ROWS]
        with np.errstate(invalid="ignore", divide="ignore"):
            band /= np.linalg.norm(band, axis=2, keepdims=True)
    out[~ok] = np.nan
    return out


def depth_to_normals(
    depth: DepthMap | ZDepth | np.ndarray,
    *,
    intrinsics: Intrinsics | None = None,
    kind: str | None = None,
    near_m: float = DEFAULT_NEAR_M,
    far_m: float = DEFAULT_FAR_M,
    baseline_m: float | None = None,
    equirect: bool = False,
    smooth_depth_px: float = 0.0,
    smooth_normals_px: float = 0.0,
) -> np.ndarray:
    """Per-pixel unit normals in the OpenCV camera frame from a depth map and its camera.

    Depth kinds become z as in :func:`~depthforge.geometry.mesh.mesh_from_depth` (metric as it is, disparity by
    ``z = fx * baseline_m / d``, relative as a pseudo-depth between ``near_m`` and ``far_m``).

    Args:
        depth: a :class:`DepthMap` (relative, metric or disparity), an (H, W) array with ``kind``, or the
            :class:`ZDepth` of ``depth_to_z``.
        intrinsics: pinhole camera of the same size; default ``depth.intrinsics``, else the stated 60-degree field
            of view.
        kind: what a plain array holds (``"relative"``, ``"metric"``, ``"disparity"``).
        near_m, far_m: pseudo-depth range for relative maps.
        baseline_m: stereo baseline for disparity maps (default ``depth.baseline_m``).
        equirect: the map is a 360-degree equirectangular panorama (depth = distance from the centre).
        smooth_depth_px: Gaussian sigma (px) applied to the depth before differencing (0 = off).
        smooth_normals_px: Gaussian sigma (px) applied to the normals after (0 = off).

    Returns:
        (H, W, 3) float32 unit normals, OpenCV frame (x right, y down, z forward), facing the camera (n_z < 0
        for surfaces in front of it), NaN where undefined.

    >>> depth_to_normals(np.full((3, 3), 2.0), kind="metric")[1, 1].round(3).tolist()
    [0.0, 0.0, -1.0]
    """
    z_filter = partial(smooth_depth, sigma_px=smooth_depth_px) if smooth_depth_px else None
    points, _, _ = scene_points(
        depth,
        kind=kind,
        image=None,
        intrinsics=intrinsics,
        baseline_m=baseline_m,
        near_m=near_m,
        far_m=far_m,
        equirect=equirect,
        z_filter=z_filter,
    )
    n = normals_from_points(points)
    del points  # not kept while the normals are smoothed
    return smooth_normals(n, sigma_px=smooth_normals_px) if smooth_normals_px else n


def encode_normals(normals: np.ndarray, *, convention: str = "opengl", bits: int = 8) -> np.ndarray:
    """Encode OpenCV-frame unit normals as a normal-map image.

    Args:
        normals: (H, W, 3) float unit normals in the OpenCV camera frame, NaN = invalid.
        convention: ``"opengl"`` (x right, y up, z toward the viewer; default) or ``"directx"`` (y down).
        bits: 8 (uint8) or 16 (uint16).

    Returns:
        (H, W, 3) uint8 or uint16 RGB, ``round((n * 0.5 + 0.5) * max_code)``; invalid pixels (0, 0, 0).

    >>> encode_normals(np.array([[[0.0, 0.0, -1.0]]])).tolist()
    [[[128, 128, 255]]]
    """
    n = check_array(normals, "normals", ndim=3, channels=3, dtype_kind="f")
    check_choice(convention, "convention", ("opengl", "directx"))
    check_choice(bits, "bits", (8, 16))
    top = 255.0 if bits == 8 else 65535.0
    sign = np.array([1.0, -1.0 if convention == "opengl" else 1.0, -1.0])
    out = np.empty(n.shape, np.uint8 if bits == 8 else np.uint16)
    defined = False
    # in bands of rows (the same codes): the float64 temporaries of a whole 40 MP map took about 2.9 GB
    for r0 in range(0, n.shape[0], _BAND_ROWS):
        band = n[r0 : r0 + _BAND_ROWS]
        ok = np.isfinite(band).all(axis=2)
        defined = defined or bool(ok.any())
        enc = (np.clip(np.where(ok[:, :, None], band, 0.0) * sign, -1.0, 1.0) * 0.5 + 0.5) * top
        codes = out[r0 : r0 + _BAND_ROWS]
        codes[...] = np.floor(enc + 0.5)
        codes[~ok] = 0
    if not defined:
        raise ValidationError("depth: no pixel has a defined normal (the depth map has no valid neighbourhood)")
    return out
