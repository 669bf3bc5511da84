"""Analytic scenes rendered as exact depth maps (ray casting), shared by the geometry tests and benchmark."""

from __future__ import annotations

import math

import numpy as np

from depthforge.core.intrinsics import Intrinsics


def rays(intrinsics: Intrinsics) -> np.ndarray:
    """(H, W, 3) float64 rays with z = 1 through every pixel centre."""
    v, u = np.mgrid[0 : intrinsics.height, 0 : intrinsics.width].astype(np.float64)
    return np.stack([(u - intrinsics.cx) / intrinsics.fx, (v - intrinsics.cy) / intrinsics.fy, np.ones_like(u)], -1)


def tilted_plane(intrinsics: Intrinsics, *, distance: float = 2.0, tilt_deg: float = 30.0, axis: str = "y"):
    """Plane through (0, 0, distance), normal tilted by ``tilt_deg`` about ``axis`` from facing the camera.

    Returns (z (H, W) float32, unit normal (3,) facing the camera, point on the plane (3,)).
    """
    t = math.radians(tilt_deg)
    n = np.array([math.sin(t), 0.0, -math.cos(t)]) if axis == "y" else np.array([0.0, math.sin(t), -math.cos(t)])
    p0 = np.array([0.0, 0.0, distance])
    z = (n @ p0) / (rays(intrinsics) @ n)
    return z.astype(np.float32), n, p0


def sphere(intrinsics: Intrinsics, *, centre=(0.1, -0.05, 3.0), radius: float = 0.8):
    """Depth of the front surface of a sphere (NaN where the ray misses)."""
    d = rays(intrinsics)
    c = np.asarray(centre, dtype=np.float64)
    a = np.einsum("...k,...k->...", d, d)
    b = -2.0 * (d @ c)
    cc = c @ c - radius**2
    disc = b * b - 4 * a * cc
    with np.errstate(invalid="ignore"):
        t = (-b - np.sqrt(disc)) / (2 * a)
    t[disc < 0] = np.nan
    return t.astype(np.float32), c, radius


def two_planes(height: int = 60, width: int = 80, *, near: float = 1.0, far: float = 3.0) -> np.ndarray:
    """Fronto-parallel planes at ``near`` (left half) and ``far`` (right half) meeting at a sharp edge."""
    z = np.full((height, width), far, dtype=np.float32)
    z[:, : width // 2] = near
    return z
