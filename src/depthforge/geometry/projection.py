"""Depth to 3D points and back: pinhole (OpenCV frame) and equirectangular panoramas.

Frames (CONVENTIONS.md §3): camera frame x right, y down, z forward, metres; pixel (u, v) with u to the right,
v down, pixel centres at integer coordinates. A pinhole pixel (u, v) with depth z (distance along the optical
axis) is the point ``((u - cx) z / fx, (v - cy) z / fy, z)``.

Depth kinds become z by :func:`depth_to_z` (the geometry functions call it for you):

* ``metric``: used as it is (exact).
* ``disparity``: ``z = fx * baseline_m / d`` (metres; needs the stereo baseline and the focal length).
* ``relative`` (inverse depth of unknown scale and shift): a **pseudo-depth** for display meshes, not metric.
  The rule: the valid values are normalised to ``t = (r - min) / (max - min)`` in [0, 1] and treated as an affine
  inverse depth between ``1 / far_m`` (t = 0) and ``1 / near_m`` (t = 1)::

      z = 1 / (1 / far_m + t * (1 / near_m - 1 / far_m))

  so the farthest pixel lands at ``far_m`` and the nearest at ``near_m`` (defaults 1 and 10 pseudo-metres), and
  ordering and the inverse-depth shape of the map are kept. The result is flagged ``metric=False``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from depthforge.core.deprecation import renamed_keywords
from depthforge.core.depthmap import DepthMap, as_depthmap
from depthforge.core.errors import ValidationError
from depthforge.core.image import Image, check_image, to_uint8
from depthforge.core.intrinsics import Intrinsics
from depthforge.core.validation import check_array, check_positive, check_same_hw, check_size_hw

__all__ = [
    "DEFAULT_NEAR_M",
    "DEFAULT_FAR_M",
    "scene_points",
    "ZDepth",
    "depth_to_z",
    "pseudo_depth",
    "pixel_grid",
    "check_intrinsics_size",
    "unproject",
    "project",
    "unproject_equirect",
    "project_equirect",
]

#: Default pseudo-depth range for relative maps (nearest and farthest pixel), pseudo-metres.
DEFAULT_NEAR_M = 1.0
DEFAULT_FAR_M = 10.0


@dataclass(frozen=True, eq=False)
class ZDepth:
    """Depth along z (or radius for panoramas), ready to unproject.

    Attributes:
        z: (H, W) float32, > 0, NaN = invalid. Metres when ``metric`` is True, pseudo units otherwise.
        metric: True for metric and disparity inputs, False for the pseudo-depth of relative maps.
        rule: how ``z`` was obtained, for reports and file metadata.
    """

    z: np.ndarray
    metric: bool
    rule: str


@renamed_keywords(near="near_m", far="far_m")
def pseudo_depth(depth: np.ndarray, *, near_m: float = DEFAULT_NEAR_M, far_m: float = DEFAULT_FAR_M) -> np.ndarray:
    """Pseudo-depth from relative inverse depth by the documented rule (see module doc).

    Args:
        depth: (H, W) float relative inverse depth, larger = nearer, NaN = invalid.
        near_m, far_m: z given to the nearest and the farthest valid pixel, ``0 < near_m < far_m``.

    Returns:
        (H, W) float32 in [near_m, far_m], NaN where the input is invalid. A constant map becomes
        ``2 / (1/near_m + 1/far_m)`` (t = 0.5).

    >>> pseudo_depth(np.array([[0.0, 1.0]]), near_m=1.0, far_m=4.0).tolist()
    [[4.0, 1.0]]
    """
    r = check_array(depth, "depth", ndim=2, dtype_kind="uif").astype(np.float64)
    n = check_positive(near_m, "near_m")
    f = check_positive(far_m, "far_m")
    if n >= f:
        raise ValidationError(f"near_m: {n:g} must be below far_m {f:g}")
    ok = np.isfinite(r)
    if not ok.any():
        raise ValidationError("depth: no valid pixel (every value is NaN or infinite)")
    lo, hi = float(r[ok].min()), float(r[ok].max())
    t = (r - lo) / (hi - lo) if hi > lo else np.full(r.shape, 0.5)
    with np.errstate(invalid="ignore"):
        z = 1.0 / (1.0 / f + t * (1.0 / n - 1.0 / f))
    z[~ok] = np.nan
    return z.astype(np.float32)


@renamed_keywords(near="near_m", far="far_m")
def depth_to_z(
    depth: DepthMap | ZDepth | np.ndarray,
    *,
    kind: str | None = None,
    intrinsics: Intrinsics | None = None,
    baseline_m: float | None = None,
    near_m: float = DEFAULT_NEAR_M,
    far_m: float = DEFAULT_FAR_M,
) -> ZDepth:
    """Turn any depth into z (see the module doc for the rule per kind).

    Args:
        depth: a :class:`DepthMap` of any kind, an (H, W) array with ``kind``, or a :class:`ZDepth` (returned as
            it is).
        kind: what a plain array holds: ``"relative"``, ``"metric"`` or ``"disparity"``.
        intrinsics: camera for disparity maps (``fx``); defaults to ``depth.intrinsics``.
        baseline_m: stereo baseline in metres for disparity maps; defaults to ``depth.baseline_m``.
        near_m, far_m: pseudo-depth range for relative maps (pseudo-metres).

    Raises:
        ValidationError: no valid pixel; an array without ``kind``; disparity without baseline or focal length.

    >>> depth_to_z(np.full((2, 2), 3.0), kind="metric").rule
    'metric depth (m)'
    """
    if isinstance(depth, ZDepth):
        return depth
    depth = as_depthmap(depth, kind=kind)
    if not depth.valid.any():
        raise ValidationError(
            f"depth: no valid pixel ({depth.kind} map of {depth.shape[1]}x{depth.shape[0]}: every value is NaN, "
            "infinite or, for metric and disparity, <= 0)"
        )
    if depth.kind == "metric":
        return ZDepth(np.asarray(depth.values, dtype=np.float32), True, "metric depth (m)")
    if depth.kind == "disparity":
        intr = intrinsics or depth.intrinsics
        b = baseline_m if baseline_m is not None else depth.baseline_m
        if b is None:
            why = "a disparity map needs the stereo baseline to give metres"
            raise ValidationError(f"baseline_m: {why} (baseline_m=, --baseline-m)")
        m = depth.to_metric(focal_px=intr.fx if intr else None, baseline_m=b)
        fx = intr.fx if intr else float("nan")
        rule = f"z = fx * baseline / d (fx={fx:.2f} px, b={b:g} m)"
        return ZDepth(np.asarray(m.values, dtype=np.float32), True, rule)
    z = pseudo_depth(depth.values, near_m=near_m, far_m=far_m)
    return ZDepth(z, False, f"pseudo-depth from relative inverse depth, range {near_m:g}..{far_m:g} (NOT metric)")


def scene_points(
    depth: DepthMap | ZDepth | np.ndarray,
    *,
    kind: str | None,
    image: np.ndarray | Image | None,
    intrinsics: Intrinsics | None,
    baseline_m: float | None,
    near_m: float,
    far_m: float,
    equirect: bool,
    z_filter: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray | None, Intrinsics | None]:
    """The front end of the geometry functions: depth and camera to 3D points, and the image as their colours.

    The camera, for pinhole maps: ``intrinsics`` when given, else by :func:`~depthforge.geometry.camera.
    resolve_intrinsics` from the EXIF of ``image`` (when it is an :class:`~depthforge.core.image.Image`), the
    depth map's own intrinsics, or the stated default field of view; None for panoramas (``equirect``), whose
    depth is the distance from the centre (metric or relative, not disparity); a disparity map is refused without
    a known focal length. The depth becomes z by
    :func:`depth_to_z`, then passes through ``z_filter`` (e.g. a smoothing) when given.

    Returns:
        (points (H, W, 3) float32 in the OpenCV camera frame, NaN = invalid; ``image`` as (H, W, 3) uint8 pixels
        checked against the depth's size, or None; the intrinsics used, or None for a panorama).
    """
    from depthforge.geometry.camera import resolve_intrinsics

    dm = None if isinstance(depth, ZDepth) else as_depthmap(depth, kind=kind)
    size_hw = depth.z.shape[:2] if isinstance(depth, ZDepth) else dm.shape  # type: ignore[union-attr]
    if equirect:
        if dm is not None and dm.kind == "disparity":
            raise ValidationError(
                "depth: a panorama (equirect=True) needs metric or relative depth (distance from "
                "the centre), not a stereo disparity map"
            )
    elif intrinsics is None:
        intrinsics = resolve_intrinsics(
            size_hw,
            exif=image.exif if isinstance(image, Image) else None,
            fallback=dm.intrinsics if dm is not None else None,
        )
        if dm is not None and dm.kind == "disparity" and intrinsics.source.startswith("default"):
            raise ValidationError(  # user trial 7: metres from a guessed focal length, as DepthMap.to_metric refuses
                "intrinsics: a disparity map becomes metres by z = fx * baseline_m / d: give intrinsics= (or a map or "
                "photo carrying them); the default field of view would be a guess"
            )
    zd = depth_to_z(
        depth if dm is None else dm, intrinsics=intrinsics, baseline_m=baseline_m, near_m=near_m, far_m=far_m
    )
    z = zd.z if z_filter is None else z_filter(zd.z)
    pixels = None
    if image is not None:
        pixels = check_image(image, dtype_kind="uf")
        check_same_hw(z, "depth", pixels, "image")
        pixels = to_uint8(pixels)
    if equirect:
        with np.errstate(invalid="ignore"):
            return unproject_equirect(np.where(z > 0, z, np.nan)), pixels, None
    assert intrinsics is not None  # resolved above for every pinhole map
    return unproject(z, intrinsics), pixels, intrinsics


def check_intrinsics_size(intrinsics: Intrinsics, size_hw: tuple[int, ...], name: str) -> None:
    """Check that ``intrinsics`` belong to an image of ``size_hw`` (the size of parameter ``name``)."""
    if intrinsics.size_hw != tuple(size_hw[:2]):
        raise ValidationError(
            f"intrinsics: made for {intrinsics.width}x{intrinsics.height}, {name} is {size_hw[1]}x{size_hw[0]} "
            "(rescale them with Intrinsics.scaled)"
        )


def pixel_grid(size_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) pixel-centre coordinates for an image of ``size_hw`` = (height, width), each (H, W) float64
    (u = column, v = row)."""
    height, width = check_size_hw(size_hw)
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    return u, v


def unproject(depth: np.ndarray, intrinsics: Intrinsics) -> np.ndarray:
    """Back-project a z map through a pinhole camera.

    Args:
        depth: (H, W) float z, depth along the optical axis (metres or pseudo-metres); NaN, infinite or <= 0 =
            invalid. (Other kinds: :func:`depth_to_z` first.)
        intrinsics: pinhole intrinsics for an image of the same size.

    Returns:
        (H, W, 3) float32 points in the OpenCV camera frame, all three coordinates NaN where ``z`` is invalid.

    >>> from depthforge.core.intrinsics import Intrinsics
    >>> unproject(np.full((2, 2), 2.0), Intrinsics(1.0, 1.0, 0.0, 0.0, 2, 2))[1, 1].tolist()
    [2.0, 2.0, 2.0]
    """
    zz = check_array(depth, "depth", ndim=2, dtype_kind="uif")
    check_intrinsics_size(intrinsics, zz.shape, "depth")
    h, w = zz.shape
    x = (np.arange(w, dtype=np.float64) - intrinsics.cx) / intrinsics.fx
    y = (np.arange(h, dtype=np.float64) - intrinsics.cy) / intrinsics.fy
    out = np.empty((h, w, 3), dtype=np.float32)
    zf = zz.astype(np.float32, copy=False)
    with np.errstate(invalid="ignore"):
        zf = np.where((zf > 0) & np.isfinite(zf), zf, np.float32(np.nan))
    np.multiply(zf, x.astype(np.float32)[None, :], out=out[:, :, 0])
    np.multiply(zf, y.astype(np.float32)[:, None], out=out[:, :, 1])
    out[:, :, 2] = zf
    return out


def project(points: np.ndarray, intrinsics: Intrinsics) -> np.ndarray:
    """Project camera-frame points to pixels.

    Args:
        points: (..., 3) float, OpenCV camera frame, z > 0.

    Returns:
        (..., 2) float64 pixel coordinates (u, v); NaN for points with z <= 0 or NaN.
    """
    p = check_array(points, "points", dtype_kind="uif")
    if p.shape[-1] != 3:
        raise ValidationError(f"points: expected (..., 3), got shape {p.shape}")
    pp = p.astype(np.float64)
    z = pp[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        zi = np.where(z > 0, 1.0 / z, np.nan)
    return np.stack(
        [pp[..., 0] * zi * intrinsics.fx + intrinsics.cx, pp[..., 1] * zi * intrinsics.fy + intrinsics.cy], -1
    )


def unproject_equirect(depth: np.ndarray) -> np.ndarray:
    """Points of an equirectangular panorama whose depth is the distance from the centre (radius).

    Args:
        depth: (H, W) float, distance from the centre along each pixel's ray (metres or pseudo-metres), NaN =
            invalid.

    Returns:
        (H, W, 3) float32 points ``r * d`` in the OpenCV frame, with the unit view direction
        ``d = (cos lat sin lon, -sin lat, cos lat cos lon)`` of pixel (u, v): longitude ``lon = 2 pi (u + 0.5) / W
        - pi`` (0 = straight ahead, +z; positive to the right, +x), latitude ``lat = pi / 2 - pi (v + 0.5) / H``
        (positive up, -y).
    """
    r = check_array(depth, "depth", ndim=2, dtype_kind="uif").astype(np.float64)
    height, width = r.shape
    lon = 2.0 * np.pi * (np.arange(width) + 0.5) / width - np.pi
    lat = 0.5 * np.pi - np.pi * (np.arange(height) + 0.5) / height
    cl = np.cos(lat)[:, None]
    out = np.empty((height, width, 3), dtype=np.float32)
    out[:, :, 0] = cl * np.sin(lon)[None, :] * r
    out[:, :, 1] = -np.sin(lat)[:, None] * r
    out[:, :, 2] = cl * np.cos(lon)[None, :] * r
    return out


def project_equirect(points: np.ndarray, *, size_hw: tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`unproject_equirect` for a panorama of ``size_hw`` = (height, width): (..., 3) points ->
    (..., 2) pixel coordinates (u, v), float64."""
    height, width = check_size_hw(size_hw)
    p = check_array(points, "points", dtype_kind="uif").astype(np.float64)
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    lon = np.arctan2(x, z)
    lat = np.arctan2(-y, np.hypot(x, z))
    return np.stack([(lon + np.pi) * width / (2.0 * np.pi) - 0.5, (0.5 * np.pi - lat) * height / np.pi - 0.5], -1)
