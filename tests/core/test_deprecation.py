"""Renamed keywords (issue 19's vocabulary) keep working for one release, with a DeprecationWarning."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest

from depthforge.core.deprecation import renamed_keywords
from depthforge.core.depthmap import DepthMap
from depthforge.io.depthfiles import write_depth
from depthforge.process.normalize import to_display


def test_old_keyword_warns_and_gives_the_same_result(tmp_path: Path) -> None:
    depth = DepthMap(np.linspace(0, 1, 50, dtype=np.float32).reshape(5, 10), kind="relative")
    new, rng_new = to_display(depth, clip_near=0.8, clip_far=0.2)
    with pytest.warns(DeprecationWarning, match=r"to_display\(\): near= is now clip_near="):
        old, rng_old = to_display(depth, near=0.8, far=0.2)
    np.testing.assert_array_equal(old, new)
    assert rng_old == rng_new
    a = write_depth(tmp_path / "a.png", depth, clip_near=0.8)
    with pytest.warns(DeprecationWarning, match="write_depth"):
        b = write_depth(tmp_path / "b.png", depth, near=0.8)
    assert a.read_bytes() == b.read_bytes()


def test_both_spellings_is_a_type_error_and_the_signature_shows_the_new_name() -> None:
    @renamed_keywords(size="size_px")
    def f(*, size_px: int = 3) -> int:
        return size_px

    with pytest.raises(TypeError, match="both size= and its new name size_px="):
        f(size=3, size_px=5)
    assert list(inspect.signature(f).parameters) == ["size_px"]
    assert list(inspect.signature(to_display).parameters)[:5] == ["depth", "kind", "invert", "clip_near", "clip_far"]


def test_geometry_keywords_renamed_in_issue_19_still_work() -> None:
    from depthforge.geometry import PointCloud, depth_to_z, pseudo_depth, voxel_downsample

    rel = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    with pytest.warns(DeprecationWarning, match="near= is now near_m="):
        old = depth_to_z(DepthMap(rel, kind="relative"), near=2.0, far=5.0)
    np.testing.assert_array_equal(old.z, depth_to_z(rel, kind="relative", near_m=2.0, far_m=5.0).z)
    with pytest.warns(DeprecationWarning, match="far= is now far_m="):
        np.testing.assert_array_equal(pseudo_depth(rel, far=5.0), pseudo_depth(rel, far_m=5.0))
    cloud = PointCloud(np.array([[0.1, 0.1, 0.1], [0.2, 0.2, 0.2], [3.0, 3.0, 3.0]], np.float32))
    with pytest.warns(DeprecationWarning, match="voxel_size= is now voxel_size_m="):
        assert len(voxel_downsample(cloud, voxel_size=1.0)) == 2


def test_keywords_renamed_in_the_vocabulary_review_still_work() -> None:
    """The names a review of the features of issues 20-26 found off the vocabulary: units in names
    (``margin_px``, ``smooth_px``, ``blur_px``, ``step_px``, ``resolution_px``), one name per concept
    (``supersample``, ``kind``, ``depth``, ``mesh``, ``fit_tiles``); the old spellings warn and still work."""
    from depthforge.models import marigold_source
    from depthforge.pipeline import TemporalStabilizer, flicker_index
    from depthforge.render import build_layers, replace_background
    from depthforge.render.layers import fill_width_px

    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)
    depth = DepthMap(np.tile(np.linspace(0.1, 1.0, 32, dtype=np.float32), (24, 1)), kind="relative")
    with pytest.warns(DeprecationWarning, match="margin= is now margin_px="):
        old = build_layers(image, depth, margin=2, smooth=0.5)
    new = build_layers(image, depth, margin_px=2, smooth_px=0.5)
    np.testing.assert_array_equal(old.layers[0], new.layers[0])
    with pytest.warns(DeprecationWarning, match="margin= is now margin_px="):
        assert fill_width_px(3.0, margin=2) == fill_width_px(3.0, margin_px=2) == 7.0
    alpha = np.zeros((24, 32), np.float32)
    alpha[8:16, 8:16] = 1.0
    with pytest.warns(DeprecationWarning, match="blur= is now blur_px="):
        blurred = replace_background(image, alpha, blur=2.0)
    np.testing.assert_array_equal(blurred, replace_background(image, alpha, blur_px=2.0))
    frames = [depth.values, depth.values + 0.01]
    with pytest.warns(DeprecationWarning, match="step= is now step_px="):
        assert flicker_index(frames, step=(0, 0)) == flicker_index(frames, step_px=(0, 0))
    with pytest.warns(DeprecationWarning, match="inverse_depth= is now depth="):
        aligned, _ = TemporalStabilizer().update(image, inverse_depth=depth.inverse_depth())
    np.testing.assert_allclose(aligned, TemporalStabilizer().update(image, depth)[0])  # a DepthMap is taken too
    with pytest.warns(DeprecationWarning, match="processing_resolution= is now resolution_px="):
        src = marigold_source("marigold-depth-v1-1", processing_resolution=64)
    assert src.spec.input_size_hw == marigold_source("marigold-depth-v1-1", resolution_px=64).spec.input_size_hw


def test_duration_is_duration_s() -> None:
    from depthforge.render import plan_motion

    with pytest.warns(DeprecationWarning, match="duration= is now duration_s="):
        old, _ = plan_motion((40, 60), motion="swing", duration=0.5, fps=8)
    assert old == plan_motion((40, 60), motion="swing", duration_s=0.5, fps=8)[0] and len(old) == 4
