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


def test_the_reviews_missing_aliases() -> None:
    """A review found renames without their old names: render_scene_video(ssaa=), frame_count(duration=), the
    LayeredScene fields and params_m; each is served for one release, with a warning."""
    from depthforge.models.registry import REGISTRY
    from depthforge.render import build_layers
    from depthforge.render.motion import frame_count

    with pytest.warns(DeprecationWarning, match="duration= is now duration_s="):
        assert frame_count(duration=1.0, fps=10) == frame_count(1.0, 10) == 10
    image = np.zeros((16, 24, 3), np.uint8)
    scene = build_layers(image, DepthMap(np.ones((16, 24), np.float32), kind="relative"))
    for old, new in (("near", "nearness"), ("layer_near", "layer_nearness"), ("warp_depth", "warp_nearness")):
        with pytest.warns(DeprecationWarning, match=f"LayeredScene.{old} is now .{new}"):
            assert getattr(scene, old) is getattr(scene, new)
    with pytest.warns(DeprecationWarning, match="colour is now .color"):
        np.testing.assert_array_equal(scene.colour(0), scene.color(0))
    spec = next(iter(REGISTRY.values()))
    with pytest.warns(DeprecationWarning, match="params_m is now .params_millions"):
        assert spec.params_m == spec.params_millions > 0


def test_render_scene_video_keeps_ssaa(tmp_path: Path) -> None:
    from depthforge.pipeline.layered_photo import render_scene_video
    from depthforge.render import build_layers

    scene = build_layers(np.zeros((16, 24, 3), np.uint8), DepthMap(np.ones((16, 24), np.float32), kind="relative"))
    with pytest.warns(DeprecationWarning, match="ssaa= is now supersample="):
        done = render_scene_video(scene, tmp_path / "c.gif", duration_s=0.2, fps=10, ssaa=2)
    assert done.frames == 2


def test_one_argument_progress_callbacks_still_count_frames(tmp_path: Path) -> None:
    from depthforge.pipeline.encode import encode_frames

    counted: list[int] = []
    frames = [np.zeros((8, 8, 3), np.uint8)] * 3
    with pytest.warns(DeprecationWarning, match="progress"):
        encode_frames(frames, tmp_path / "a.gif", fps=5, progress=counted.append)  # e.g. a tqdm bar's update
    assert counted == [1, 1, 1]
    pairs: list[tuple[int, int | None]] = []
    encode_frames(frames, tmp_path / "b.gif", fps=5, progress=lambda done, total: pairs.append((done, total)))
    assert pairs == [(1, 3), (2, 3), (3, 3)]  # a list: its length is the total
