"""Unprojection, projection, depth kinds -> z, panoramas."""

from __future__ import annotations

import numpy as np
import pytest

from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import ValidationError
from depthforge.core.intrinsics import Intrinsics
from depthforge.geometry.projection import (
    depth_to_z,
    pixel_grid,
    project,
    project_equirect,
    pseudo_depth,
    unproject,
    unproject_equirect,
)


@pytest.mark.parametrize("seed", range(8))
def test_round_trip_random_intrinsics_and_depths(seed: int) -> None:
    rng = np.random.default_rng(seed)
    h, w = int(rng.integers(20, 90)), int(rng.integers(20, 90))
    intr = Intrinsics(
        float(rng.uniform(20, 3000)),
        float(rng.uniform(20, 3000)),
        float(rng.uniform(-5, w + 5)),
        float(rng.uniform(-5, h + 5)),
        w,
        h,
    )
    z = rng.uniform(0.05, 500.0, size=(h, w)).astype(np.float32)
    uv = project(unproject(z, intr), intr)
    u, v = pixel_grid((h, w))
    err = max(np.abs(uv[..., 0] - u).max(), np.abs(uv[..., 1] - v).max())
    assert err < 1e-3, err


def test_unproject_is_exact_pinhole() -> None:
    intr = Intrinsics(100.0, 120.0, 10.0, 5.0, 20, 12)
    p = unproject(np.full((12, 20), 2.0, np.float32), intr)
    assert p[5, 10].tolist() == [0.0, 0.0, 2.0]
    np.testing.assert_allclose(p[0, 0], [(0 - 10) * 2 / 100, (0 - 5) * 2 / 120, 2.0], rtol=1e-6)


def test_non_positive_and_nan_depths_are_invalid_and_input_untouched() -> None:
    intr = Intrinsics.default((3, 4))
    z = np.array([[1.0, 0.0, -2.0, np.nan], [1, 1, 1, 1], [1, 1, 1, np.inf]], np.float32)
    before = z.copy()
    p = unproject(z, intr)
    assert np.isnan(p[0, 1:]).all() and np.isnan(p[2, 3]).all() and np.isfinite(p[1]).all()
    np.testing.assert_array_equal(z, before)


def test_intrinsics_size_mismatch_is_a_clear_error() -> None:
    with pytest.raises(ValidationError, match="intrinsics: made for 10x10, depth is 20x12"):
        unproject(np.ones((12, 20)), Intrinsics.default((10, 10)))


def test_metric_passes_through_and_disparity_gives_metres() -> None:
    intr = Intrinsics(500.0, 500.0, 9.5, 7.5, 20, 16)
    m = depth_to_z(DepthMap(np.full((16, 20), 2.5), kind="metric"))
    assert m.metric and np.allclose(m.z, 2.5)
    d = depth_to_z(DepthMap(np.full((16, 20), 50.0), kind="disparity"), intrinsics=intr, baseline_m=0.1)
    assert d.metric and np.allclose(d.z, 500 * 0.1 / 50)
    with pytest.raises(ValidationError, match="baseline"):
        depth_to_z(DepthMap(np.full((16, 20), 50.0), kind="disparity"), intrinsics=intr)


def test_relative_becomes_flagged_pseudo_depth_by_the_documented_rule() -> None:
    r = np.linspace(0.0, 1.0, 30, dtype=np.float32).reshape(5, 6)
    r[0, 0] = np.nan
    out = depth_to_z(DepthMap(r, kind="relative"), near_m=0.5, far_m=4.0)
    assert not out.metric and "NOT metric" in out.rule
    z = out.z
    assert np.isnan(z[0, 0])
    assert np.nanmin(z) == pytest.approx(0.5) and np.nanmax(z) == pytest.approx(4.0)
    t = (r - np.nanmin(r)) / (np.nanmax(r) - np.nanmin(r))
    np.testing.assert_allclose(1 / z, 1 / 4.0 + t * (1 / 0.5 - 1 / 4.0), rtol=1e-5)
    assert (np.diff(z[1:].ravel()) < 0).all()  # larger relative value = nearer
    with pytest.raises(ValidationError, match="near"):
        pseudo_depth(r, near_m=3.0, far_m=2.0)


def test_all_invalid_depth_is_a_clear_error() -> None:
    with pytest.raises(ValidationError, match="no valid pixel"):
        depth_to_z(DepthMap(np.full((4, 4), -1.0), kind="metric"))
    with pytest.raises(ValidationError, match="no valid pixel"):
        depth_to_z(DepthMap(np.full((4, 4), np.nan), kind="relative"))


def test_equirect_round_trip_and_radius() -> None:
    rng = np.random.default_rng(3)
    r = rng.uniform(0.5, 20, size=(32, 64)).astype(np.float32)
    p = unproject_equirect(r)
    np.testing.assert_allclose(np.linalg.norm(p, axis=2), r, rtol=1e-5)
    uv = project_equirect(p, size_hw=(32, 64))
    u, v = pixel_grid((32, 64))
    assert np.abs(uv[..., 0] - u).max() < 1e-3 and np.abs(uv[..., 1] - v).max() < 1e-3
    centre = p[16, 32] / np.linalg.norm(p[16, 32])  # just right of straight ahead, just below the horizon
    assert centre[2] > 0.99
