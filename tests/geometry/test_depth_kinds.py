"""Geometry takes a DepthMap of every kind (relative, metric, disparity) and converts it by the stated rules."""

from __future__ import annotations

import numpy as np
import pytest

from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import ValidationError
from depthforge.core.image import Image
from depthforge.core.intrinsics import Intrinsics
from depthforge.geometry import depth_to_normals, depth_to_z, mesh_from_depth, pointcloud_from_depth, project
from tests.geometry.scenes import tilted_plane

H, W = 24, 32
K = Intrinsics(40.0, 40.0, (W - 1) / 2, (H - 1) / 2, W, H, "test")


def _z_of(vertices: np.ndarray) -> np.ndarray:
    """The mesh's vertices are row-major over the full grid (stride 1, no invalid pixel): z as an (H, W) map."""
    return vertices[:, 2].reshape(H, W)


def test_metric_depthmap_is_used_as_it_is() -> None:
    z, _, _ = tilted_plane(K, distance=2.0, tilt_deg=20.0)
    mesh = mesh_from_depth(DepthMap(z, kind="metric", intrinsics=K))
    np.testing.assert_allclose(_z_of(mesh.vertices), z, rtol=1e-6)
    # the map's own intrinsics were used: the vertices project back onto their pixels
    v, u = np.mgrid[0:H, 0:W]
    np.testing.assert_allclose(project(mesh.vertices, K), np.stack([u.ravel(), v.ravel()], 1), atol=1e-3)
    # a plain array with kind= gives the same mesh
    same = mesh_from_depth(z, kind="metric", intrinsics=K)
    np.testing.assert_array_equal(same.vertices, mesh.vertices)
    np.testing.assert_array_equal(same.faces, mesh.faces)


def test_disparity_depthmap_becomes_metres_by_f_b_over_d() -> None:
    disp = np.linspace(8.0, 20.0, H * W, dtype=np.float32).reshape(H, W)
    depth = DepthMap(disp, kind="disparity", intrinsics=K, baseline_m=0.1)
    mesh = mesh_from_depth(depth)
    np.testing.assert_allclose(_z_of(mesh.vertices), 40.0 * 0.1 / disp, rtol=1e-6)
    cloud = pointcloud_from_depth(depth)
    np.testing.assert_allclose(cloud.points[:, 2], (40.0 * 0.1 / disp).ravel(), rtol=1e-6)
    # an explicit baseline wins over the map's own; a map without one is refused, naming the parameter
    np.testing.assert_allclose(
        _z_of(mesh_from_depth(disp, kind="disparity", intrinsics=K, baseline_m=0.2).vertices),
        40.0 * 0.2 / disp,
        rtol=1e-6,
    )
    with pytest.raises(ValidationError, match="^baseline_m: "):
        mesh_from_depth(DepthMap(disp, kind="disparity", intrinsics=K))
    # user trial 7: without a focal length, metres would rest on the default field of view's guess
    for build in (mesh_from_depth, pointcloud_from_depth, depth_to_normals):
        with pytest.raises(ValidationError, match="^intrinsics: a disparity map becomes metres by z = fx"):
            build(DepthMap(disp, kind="disparity", baseline_m=0.1))


def test_relative_depthmap_becomes_pseudo_depth_between_near_m_and_far_m() -> None:
    rel = np.tile(np.linspace(0.0, 1.0, W, dtype=np.float32), (H, 1))  # nearer to the right
    mesh = mesh_from_depth(DepthMap(rel, kind="relative"), near_m=0.5, far_m=4.0)
    z = _z_of(mesh.vertices)
    assert z[:, -1] == pytest.approx(0.5) and z[:, 0] == pytest.approx(4.0)
    assert (np.diff(z, axis=1) < 0).all()  # larger relative value = nearer
    np.testing.assert_allclose(z, depth_to_z(rel, kind="relative", near_m=0.5, far_m=4.0).z, rtol=1e-6)
    cloud = pointcloud_from_depth(DepthMap(rel, kind="relative"), near_m=0.5, far_m=4.0)
    assert cloud.points[:, 2].min() == pytest.approx(0.5) and cloud.points[:, 2].max() == pytest.approx(4.0)
    with pytest.raises(ValidationError, match="^near_m: "):
        mesh_from_depth(DepthMap(rel, kind="relative"), near_m=5.0, far_m=4.0)


def test_normals_of_every_kind_face_the_camera() -> None:
    flat = np.full((H, W), 2.0, np.float32)
    for depth in (
        DepthMap(flat, kind="metric", intrinsics=K),
        DepthMap(flat * 10, kind="disparity", intrinsics=K, baseline_m=0.1),
        DepthMap(flat, kind="relative", intrinsics=K),
    ):
        n = depth_to_normals(depth)
        inner = n[2:-2, 2:-2].reshape(-1, 3)
        np.testing.assert_allclose(inner, np.broadcast_to([0.0, 0.0, -1.0], inner.shape), atol=1e-5)


def test_camera_defaults_to_image_exif_then_depth_intrinsics_then_stated_fov() -> None:
    depth = DepthMap(np.full((H, W), 2.0, np.float32), kind="metric")
    x_right = float(mesh_from_depth(depth).vertices[:, 0].max())
    # the stated default: 60 degrees horizontal, so the right edge is at about z * tan(30 deg)
    assert x_right == pytest.approx(2.0 * (W - 1) / 2 / Intrinsics.default((H, W)).fx, rel=1e-5)
    with_k = mesh_from_depth(DepthMap(depth.values, kind="metric", intrinsics=K)).vertices[:, 0].max()
    assert with_k == pytest.approx(2.0 * (W - 1) / 2 / K.fx, rel=1e-5)
    # an Image's EXIF (35 mm equivalent on the diagonal) sets the focal length
    photo = Image(np.zeros((H, W, 3), np.uint8), exif={"focal_length_35mm": 50.0})
    f = 50.0 * np.hypot(W, H) / np.hypot(36.0, 24.0)
    from_exif = mesh_from_depth(depth, image=photo).vertices[:, 0].max()
    assert from_exif == pytest.approx(2.0 * (W - 1) / 2 / f, rel=1e-5)
    # explicit intrinsics win over all of them
    assert mesh_from_depth(depth, image=photo, intrinsics=K).vertices[:, 0].max() == pytest.approx(with_k)


def test_image_as_array_or_image_gives_the_same_texture() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)
    depth = DepthMap(np.full((H, W), 2.0, np.float32), kind="metric", intrinsics=K)
    a = mesh_from_depth(depth, image=rgb)
    b = mesh_from_depth(depth, image=Image(rgb))
    assert a.texture is not None and b.texture is not None
    np.testing.assert_array_equal(a.texture, b.texture)
    np.testing.assert_array_equal(a.colors, rgb.reshape(-1, 3))


def test_errors_name_real_parameters() -> None:
    z = np.full((H, W), 2.0, np.float32)
    with pytest.raises(ValidationError, match="^kind: an array as depth needs kind="):
        mesh_from_depth(z)
    with pytest.raises(ValidationError, match="^kind: 'metric' given for a relative DepthMap"):
        pointcloud_from_depth(DepthMap(z, kind="relative"), kind="metric")
    with pytest.raises(ValidationError, match="^image: size 4x4 does not match depth size 32x24"):
        mesh_from_depth(z, kind="metric", image=np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValidationError, match="^image: size 4x4 does not match depth size 32x24"):
        pointcloud_from_depth(z, kind="metric", image=np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValidationError, match="^depth: a panorama"):
        mesh_from_depth(DepthMap(z, kind="disparity", baseline_m=0.1), equirect=True)
    with pytest.raises(ValidationError, match="^kind: "):
        mesh_from_depth(z, kind="inverse")
