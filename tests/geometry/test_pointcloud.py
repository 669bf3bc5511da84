"""Point clouds: invalid pixels dropped, voxel downsampling, and the Middlebury cones pair projected back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import ValidationError
from depthforge.core.intrinsics import Intrinsics
from depthforge.geometry.export import export_pointcloud, to_viewer_frame
from depthforge.geometry.pointcloud import PointCloud, pointcloud_from_depth, voxel_downsample
from depthforge.geometry.projection import project
from tests.conftest import cones_disparity

#: Assumed camera for the quarter-size cones pair (the 2003 data set publishes no calibration): focal 450 px,
#: baseline 0.16 m; any positive values must round-trip exactly.
CONES_FOCAL_PX = 450.0
CONES_BASELINE_M = 0.16


def test_invalid_dropped_and_stride() -> None:
    z = np.full((10, 12), 3.0, np.float32)
    z[2, 3] = np.nan
    z[4, 4] = 0.0
    cloud = pointcloud_from_depth(z, kind="metric", intrinsics=Intrinsics.default((10, 12)))
    assert len(cloud) == 118 and np.isfinite(cloud.points).all()
    assert [3, 2] not in cloud.pixels.tolist()
    k = Intrinsics.default((10, 12))
    assert len(pointcloud_from_depth(z, kind="metric", intrinsics=k, stride=2)) == 29  # (4, 4) is invalid
    with pytest.raises(ValidationError, match="no valid pixel"):
        pointcloud_from_depth(np.zeros((4, 4), np.float32), kind="metric", intrinsics=Intrinsics.default((4, 4)))
    with pytest.raises(ValidationError, match="image: size 3x3 does not match depth size 12x10"):
        pointcloud_from_depth(z, kind="metric", intrinsics=k, image=np.zeros((3, 3, 3), np.uint8))


def test_voxel_downsample_averages() -> None:
    pts = np.array([[0.1, 0.1, 0.1], [0.3, 0.3, 0.3], [1.5, 0.2, 0.2]], np.float32)
    cols = np.array([[0, 0, 0], [100, 200, 50], [9, 9, 9]], np.uint8)
    nrm = np.array([[0, 0, -1], [0, 0, -1], [1, 0, 0]], np.float32)
    out = voxel_downsample(PointCloud(pts, cols, nrm), voxel_size_m=1.0)
    assert len(out) == 2 and out.pixels is None
    np.testing.assert_allclose(out.points[0], [0.2, 0.2, 0.2], atol=1e-6)
    np.testing.assert_array_equal(out.colors[0], [50, 100, 25])
    np.testing.assert_allclose(np.linalg.norm(out.normals, axis=1), 1.0, atol=1e-6)
    with pytest.raises(ValidationError, match="voxel_size_m"):
        voxel_downsample(PointCloud(pts), voxel_size_m=0)


def test_cones_point_cloud_projects_back_onto_its_pixels(cones: Path, tmp_path: Path) -> None:
    import trimesh
    from PIL import Image

    disp = cones_disparity(cones)
    img = np.asarray(Image.open(cones / "im2.png").convert("RGB"))
    h, w = disp.shape
    intr = Intrinsics(CONES_FOCAL_PX, CONES_FOCAL_PX, (w - 1) / 2, (h - 1) / 2, w, h)
    depth = DepthMap(disp, kind="disparity", intrinsics=intr, baseline_m=CONES_BASELINE_M)
    cloud = pointcloud_from_depth(depth, image=img)
    assert len(cloud) == int(np.isfinite(disp).sum())
    files = export_pointcloud(tmp_path / "cones.ply", cloud)
    back = trimesh.load(files[0], process=False)
    pts = to_viewer_frame(np.asarray(back.vertices))  # the same rotation undoes itself
    uv = project(pts, intr)
    err = np.abs(uv - cloud.pixels).max()
    assert err < 1e-3, err
    np.testing.assert_array_equal(back.colors[:, :3], img[cloud.pixels[:, 1], cloud.pixels[:, 0]])
    # and depth is f B / d
    d = disp[cloud.pixels[:, 1], cloud.pixels[:, 0]]
    np.testing.assert_allclose(pts[:, 2], CONES_FOCAL_PX * CONES_BASELINE_M / d, rtol=1e-5)


def test_an_isolated_point_gets_a_unit_normal_towards_the_camera() -> None:
    # user trial 4: isolated points had (0, 0, 0) normals, which viewers and Poisson meshing misread
    z = np.full((20, 30), 2.0, np.float32)
    z[8:13, 18:23] = np.nan
    z[10, 20] = 3.0  # alone in a hole: no neighbour to take a normal from
    k = Intrinsics(25.0, 25.0, 15.0, 10.0, 30, 20)
    cloud = pointcloud_from_depth(DepthMap(z, kind="metric"), intrinsics=k, with_normals=True)
    assert cloud.normals is not None
    np.testing.assert_allclose(np.linalg.norm(cloud.normals, axis=1), 1.0, atol=1e-5)
    alone = int(np.flatnonzero((cloud.pixels == (20, 10)).all(axis=1))[0])
    p = cloud.points[alone]
    np.testing.assert_allclose(cloud.normals[alone], -p / np.linalg.norm(p), atol=1e-6)
    flat = int(np.flatnonzero((cloud.pixels == (2, 2)).all(axis=1))[0])
    np.testing.assert_allclose(cloud.normals[flat], [0.0, 0.0, -1.0], atol=1e-5)  # the wall's own normal
