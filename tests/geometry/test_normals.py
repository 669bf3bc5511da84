"""Normals from depth + intrinsics on analytic scenes, and their encoding."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from depthforge.core.errors import ValidationError
from depthforge.core.intrinsics import Intrinsics
from depthforge.geometry.normals import depth_to_normals, encode_normals, smooth_depth
from tests.geometry.scenes import sphere, tilted_plane

K = Intrinsics(300.0, 310.0, 61.3, 44.8, 128, 96)


def angle_deg(n: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return np.degrees(np.arccos(np.clip(np.sum(n * truth, axis=-1), -1.0, 1.0)))


@pytest.mark.parametrize("axis", ["x", "y"])
def test_tilted_plane_normals_within_half_a_degree(axis: str) -> None:
    z, n_true, _ = tilted_plane(K, distance=2.0, tilt_deg=30.0, axis=axis)
    n = depth_to_normals(z, kind="metric", intrinsics=K)
    err = angle_deg(n[2:-2, 2:-2].astype(np.float64), n_true)
    assert err.max() < 0.5, err.max()
    # smoothing before or after does not bend a plane's normals
    ns = depth_to_normals(z, kind="metric", intrinsics=K, smooth_depth_px=1.5, smooth_normals_px=1.0)
    assert angle_deg(ns[4:-4, 4:-4].astype(np.float64), n_true).max() < 0.5


def test_sphere_normals_point_outward_from_centre() -> None:
    z, c, _ = sphere(K)
    n = depth_to_normals(z, kind="metric", intrinsics=K)
    from depthforge.geometry.projection import unproject

    p = unproject(z, K).astype(np.float64)
    truth = (p - c) / np.linalg.norm(p - c, axis=2, keepdims=True)
    err = angle_deg(n.astype(np.float64), truth)
    view = np.degrees(np.arccos(np.abs(np.sum(truth * p / np.linalg.norm(p, axis=2, keepdims=True), axis=2))))
    ok = np.isfinite(z)
    ok[:2] = ok[-2:] = False
    ok[:, :2] = ok[:, -2:] = False
    # finite differences are exact to first order; only near the grazing limb does curvature show
    assert np.median(err[ok]) < 0.05
    assert err[ok & (view < 60)].max() < 0.5


def test_fronto_parallel_plane_encodes_to_128_128_255() -> None:
    n = depth_to_normals(np.full((40, 50), 2.0, np.float32), kind="metric", intrinsics=Intrinsics.default((40, 50)))
    enc = encode_normals(n)
    assert enc.dtype == np.uint8 and (enc == [128, 128, 255]).all()
    enc16 = encode_normals(n, bits=16)
    assert enc16.dtype == np.uint16 and (enc16 == [32768, 32768, 65535]).all()


def test_opengl_green_is_up_and_directx_flips_it() -> None:
    # a floor-like plane tilted so its normal points up (-y in the OpenCV frame) and toward the camera
    z, n_true, _ = tilted_plane(K, tilt_deg=-30.0, axis="x")
    assert n_true[1] < 0  # up in OpenCV frame
    n = depth_to_normals(z, kind="metric", intrinsics=K)
    gl = encode_normals(n)[48, 64].astype(int)
    dx = encode_normals(n, convention="directx")[48, 64].astype(int)
    assert gl[1] > 128 + 50 and dx[1] < 128 - 50
    assert gl[0] == dx[0] and gl[2] == dx[2]


def test_invalid_pixels_encode_black_and_bad_options() -> None:
    z = np.full((10, 10), 2.0, np.float32)
    z[:, :5] = np.nan
    enc = encode_normals(depth_to_normals(z, kind="metric", intrinsics=Intrinsics.default((10, 10))))
    assert (enc[:, :5] == 0).all() and (enc[:, 6:] == [128, 128, 255]).all()
    with pytest.raises(ValidationError, match="bits"):
        encode_normals(depth_to_normals(z, kind="metric", intrinsics=Intrinsics.default((10, 10))), bits=12)
    with pytest.raises(ValidationError, match="no pixel has a defined normal"):
        encode_normals(np.full((3, 3, 3), np.nan, np.float32))


def test_smoothing_ignores_invalid_pixels() -> None:
    z = np.full((20, 20), 3.0, np.float32)
    z[5, 5] = np.nan
    out = smooth_depth(z, sigma_px=2.0)
    assert np.isnan(out[5, 5]) and np.allclose(out[np.isfinite(out)], 3.0)
    assert np.isnan(z[5, 5]) and np.nanmax(z) == 3.0


def test_bands_of_rows_give_the_whole_maps_normals(cones, monkeypatch: pytest.MonkeyPatch) -> None:
    """Normals are computed and encoded in bands of rows (bounded memory: a 40 MP map's float64 temporaries took
    about 6 GB, its encoding about 2.9 GB); the result is the same, bit for bit, as all rows at once, on real depth
    with holes and edges (Middlebury cones ground truth, disparity with its unknown pixels)."""
    from depthforge.core.depthmap import DepthMap
    from depthforge.geometry import normals
    from tests.conftest import cones_disparity

    depth = DepthMap(cones_disparity(cones), kind="disparity")
    assert np.isnan(depth.values).any()
    whole = depth_to_normals(depth, baseline_m=0.16, intrinsics=Intrinsics.from_fov(depth.values.shape, fov_deg=60.0))
    styles = [(convention, bits) for convention in ("opengl", "directx") for bits in (8, 16)]
    codes = [encode_normals(whole, convention=c, bits=b) for c, b in styles]
    assert depth.values.shape[0] > normals._BAND_ROWS  # the default already splits this map in two bands
    smooth = {"smooth_depth_px": 2.0, "smooth_normals_px": 3.0}
    intrinsics = Intrinsics.from_fov(depth.values.shape, fov_deg=60.0)
    smoothed = depth_to_normals(depth, baseline_m=0.16, intrinsics=intrinsics, **smooth)
    for rows in (1, 7, 10**6):
        monkeypatch.setattr(normals, "_BAND_ROWS", rows)
        banded = depth_to_normals(
            depth, baseline_m=0.16, intrinsics=Intrinsics.from_fov(depth.values.shape, fov_deg=60.0)
        )
        np.testing.assert_array_equal(banded, whole)
        np.testing.assert_array_equal(
            depth_to_normals(depth, baseline_m=0.16, intrinsics=intrinsics, **smooth), smoothed, strict=True
        )
        for (c, b), code in zip(styles, codes, strict=True):
            np.testing.assert_array_equal(encode_normals(banded, convention=c, bits=b), code)
    assert len(np.unique(codes[1].reshape(-1, 3), axis=0)) > 1000  # a real map's many directions, not a flat one
    # the masked blur runs in place (OpenCV does not promise that dst may be src): the same as into a new array
    values = np.nan_to_num(whole, nan=0.0)
    ok = np.isfinite(whole).all(axis=2)
    ref = cv2.GaussianBlur(
        np.where(ok[:, :, None], values, 0).astype(np.float32), (0, 0), 3.0, borderType=cv2.BORDER_REPLICATE
    )
    np.testing.assert_array_equal(normals._masked_blur(whole, ok, 3.0), ref)
    assert not np.array_equal(smoothed, whole, equal_nan=True)  # the smoothing did something
    assert np.isfinite(whole).all(axis=2).mean() > 0.8 and np.isnan(whole).any()
