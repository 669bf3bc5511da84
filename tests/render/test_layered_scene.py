"""The layered scene on a synthetic photo with a known answer: a textured background plane behind a nearer box.

Layer count and order, opacity and depth per layer (z per depth kind), the fill band derived from the camera
motion, and novel views: no holes, and the revealed background no worse than the background-side row fill.
"""

from __future__ import annotations

import numpy as np
import pytest

from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import ValidationError
from depthforge.core.intrinsics import Intrinsics
from depthforge.render.layers import DEFAULT_FAR_M, DEFAULT_NEAR_M, build_layers, fill_width_px
from depthforge.render.motion import CameraPose, camera_path, max_disocclusion_px
from depthforge.render.parallax import ParallaxRenderer
from depthforge.render.scene import plan_motion, scene_frames

H, W = 120, 180
BOX = (slice(35, 85), slice(60, 120))
Z_BOX, Z_BG = 1.0, 4.0  # metres: nearness 1 and 0.25


def _background() -> np.ndarray:
    """The known background texture: smooth colour ramps with a periodic pattern."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    r = 120 + 60 * np.sin(xx / 9.0) * np.cos(yy / 13.0)
    return np.clip(np.dstack([r, 100 + 0.5 * xx, 90 + 0.6 * yy]), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def photo() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image, z in metres, background texture)."""
    bg = _background()
    image = bg.copy()
    rng = np.random.default_rng(3)
    image[BOX] = np.clip(rng.normal(200, 25, (50, 60, 3)), 0, 255).astype(np.uint8)
    z = np.full((H, W), Z_BG, np.float32)
    z[BOX] = Z_BOX
    return image, z, bg


def test_layer_count_order_and_depth(photo: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    image, z, _ = photo
    scene = build_layers(image, DepthMap(z, kind="metric"))
    assert scene.num_layers == 2 and 0.25 < scene.thresholds[0] <= 1.0
    far, near = 0, 1
    box = np.zeros((H, W), bool)
    box[BOX] = True
    # far to near: the far layer is opaque everywhere (hidden part filled), the near one exactly on the box
    assert scene.alpha(far).min() == 1.0
    np.testing.assert_array_equal(scene.alpha(near) == 1.0, box)
    np.testing.assert_array_equal(scene.color(near)[box], image[box])
    np.testing.assert_array_equal(scene.color(far)[~box], image[~box])
    # metric z: exact on each layer's own pixels, and the background's depth continues behind the box
    np.testing.assert_allclose(scene.layer_z(near)[box], Z_BOX, rtol=1e-5)
    np.testing.assert_allclose(scene.layer_z(far), Z_BG, rtol=1e-5)
    assert scene.z_is_metric and scene.z_rule() == "metric depth (m)"
    assert scene.intrinsics == Intrinsics.default((H, W)) and scene.layer_z(-1).dtype == np.float32
    with pytest.raises(ValidationError, match="k"):
        scene.layer_z(2)


def test_z_per_depth_kind(photo: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    image, z, _ = photo
    box = np.zeros((H, W), bool)
    box[BOX] = True
    intr = Intrinsics.from_fov((H, W), fov_deg=50.0)
    # disparity with a baseline: z = fx * B / d, metres
    d = (intr.fx * 0.1 / z).astype(np.float32)
    scene = build_layers(image, DepthMap(d, kind="disparity", baseline_m=0.1, intrinsics=intr))
    assert scene.z_is_metric and scene.intrinsics == intr
    np.testing.assert_allclose(scene.layer_z(1)[box], Z_BOX, rtol=1e-4)
    np.testing.assert_allclose(scene.layer_z(0)[~box], Z_BG, rtol=1e-4)
    # relative: the geometry's pseudo-depth rule, nearest at near_m, farthest at far_m
    rel = build_layers(image, DepthMap(1.0 / z, kind="relative"))
    assert not rel.z_is_metric and "NOT metric" in rel.z_rule()
    np.testing.assert_allclose(rel.layer_z(1)[box], DEFAULT_NEAR_M, rtol=1e-5)
    np.testing.assert_allclose(rel.layer_z(0)[~box], DEFAULT_FAR_M, rtol=1e-5)
    np.testing.assert_allclose(rel.layer_z(1, near_m=2.0, far_m=5.0)[box], 2.0, rtol=1e-5)
    with pytest.raises(ValidationError, match="near_m"):
        rel.layer_z(0, near_m=5.0, far_m=2.0)


def test_pseudo_depth_rule_matches_geometry(photo: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    from depthforge.geometry import projection

    assert (DEFAULT_NEAR_M, DEFAULT_FAR_M) == (projection.DEFAULT_NEAR_M, projection.DEFAULT_FAR_M)
    image, z, _ = photo
    rng = np.random.default_rng(0)
    inv = (1.0 / z + 0.05 * rng.random((H, W))).astype(np.float32)
    scene = build_layers(image, DepthMap(inv, kind="relative"), max_layers=1)
    np.testing.assert_allclose(scene.layer_z(0, near_m=1.5, far_m=8.0),
                               projection.pseudo_depth(inv, near_m=1.5, far_m=8.0), rtol=1e-5)  # fmt: skip


def test_fill_band_follows_the_motion(photo: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    """The far layer is opaque only on the band of the box that the motion can reveal; wider motion, wider band."""
    image, z, _ = photo
    depth = DepthMap(z, kind="metric")
    box = np.zeros((H, W), bool)
    box[BOX] = True
    opaque_behind = []
    for amplitude_px in (4.0, 12.0):
        poses = camera_path("circle", frames=24, amplitude_px=amplitude_px)
        reach = max_disocclusion_px(poses, size_hw=(H, W), focus=0.5)
        assert reach == pytest.approx(amplitude_px, rel=0.02)
        scene = build_layers(image, depth, reach_px=reach)
        assert scene.fill_px == fill_width_px(reach)
        behind = (scene.alpha(0) == 1.0) & box
        # the opaque band: every box pixel within the fill width of the box edge, none deeper
        inner = np.zeros((H, W), bool)
        w = int(np.ceil(scene.fill_px))
        inner[35 + w + 1 : 85 - w - 1, 60 + w + 1 : 120 - w - 1] = True
        edge = box.copy()
        edge[35 + w - 1 : 85 - w + 1, 60 + w - 1 : 120 - w + 1] = False
        assert behind[edge].all() and not behind[inner].any()
        opaque_behind.append(int(behind.sum()))
        # the motion never shows a pixel the fill left transparent: frames equal those of the full fill
        full = build_layers(image, depth)
        a = list(scene_frames(scene, poses[:6], focus=0.5))
        b = list(scene_frames(full, poses[:6], focus=0.5))
        for fa, fb in zip(a, b, strict=True):
            assert np.abs(fa.astype(int) - fb.astype(int)).max() <= 1
    assert opaque_behind[1] > opaque_behind[0]


def test_disocclusion_of_forward_motion() -> None:
    """Dolly: the gap between n = 1 and n = 0 at the frame corner, zoom * |u - cx| * z / (1 - z)."""
    reach = max_disocclusion_px([CameraPose(z=0.2)], size_hw=(101, 201))
    assert reach == pytest.approx(np.hypot(100, 50) * 0.2 / 0.8, rel=1e-6)
    assert max_disocclusion_px([CameraPose()], size_hw=(10, 10)) == 0.0
    with pytest.raises(ValidationError, match="poses"):
        max_disocclusion_px([], size_hw=(10, 10))


def _revealed(x: float) -> np.ndarray:
    """Background pixels of the view from CameraPose(x) (focus 0) that the box hid in the photo."""
    old = np.zeros((H, W), bool)
    old[BOX] = True
    rev = np.roll(old, -round(x * 0.25), axis=1) & ~np.roll(old, -round(x), axis=1)
    rev[:, :14] = False
    rev[:, -14:] = False
    return rev


@pytest.mark.parametrize("x", [6.0, 12.0, -12.0])
def test_novel_view_has_no_holes_and_beats_the_row_fill(
    photo: tuple[np.ndarray, np.ndarray, np.ndarray], x: float
) -> None:
    image, z, bg = photo
    depth = DepthMap(z, kind="metric")
    pose = CameraPose(x=x)
    truth = np.roll(bg, -round(x * 0.25), axis=1)  # the background moves by x * nearness 0.25
    rev = _revealed(x)
    scene = build_layers(image, depth, reach_px=abs(x))
    r = ParallaxRenderer(scene, focus=0.0)
    row_fill = r.render(pose, method="splat", holes="background")  # today's background-side fill

    def err(view: np.ndarray) -> float:
        return float(np.abs(view.astype(float) - truth.astype(float))[rev].mean())

    for view in (r.render(pose), r.render(pose, method="splat", holes="scene")):
        # no holes: every revealed pixel is background-like (the box's colours are far brighter)
        assert view.shape == image.shape and err(view) < 8.0
        assert err(view) <= err(row_fill)
        # the box moved rigidly by x, the background by x / 4
        np.testing.assert_array_equal(view[40:80, 74:94], np.roll(image, -round(x), axis=1)[40:80, 74:94])
    for method in ("telea", "ns"):  # the other inpainters fill as well (all within the row fill's error + 2)
        other = ParallaxRenderer(build_layers(image, depth, inpaint=method), focus=0.0).render(pose)
        assert err(other) <= err(row_fill) + 2.0


def test_supersample_and_plan(photo: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    image, z, _ = photo
    poses, reach = plan_motion((H, W), motion="swing", duration_s=0.5, fps=8, amplitude=4.0)
    assert len(poses) == 4 and reach == pytest.approx(0.04 * W, rel=0.02)
    scene = build_layers(image, DepthMap(z, kind="metric"), reach_px=reach)
    plain = list(scene_frames(scene, poses))
    smooth = list(scene_frames(scene, poses, supersample=2))
    assert len(plain) == len(smooth) == 4 and all(f.shape == image.shape for f in smooth)
    np.testing.assert_array_equal(plain[0], image)  # the loop starts at the photo
    assert np.abs(smooth[0].astype(int) - image.astype(int)).mean() < 3.0
    with pytest.raises(ValidationError, match="supersample"):
        next(scene_frames(scene, poses, supersample=4))


@pytest.mark.parametrize("method", ["background", "telea"])
def test_noisy_depth_still_gives_a_complete_scene(method: str) -> None:
    """Noise-like depth (a random model's output) makes strong edges everywhere, so the margin around hidden
    pixels would swallow every source pixel: the scene is still built, the base layer covers every pixel and
    every layer's depth is finite."""
    rng = np.random.default_rng(0)
    image = rng.integers(40, 200, (60, 90, 3), dtype=np.uint8)
    depth = DepthMap(rng.random((60, 90)).astype(np.float32), kind="relative")
    before = image.copy()
    scene = build_layers(image, depth, inpaint=method)
    assert np.array_equal(image, before)
    assert scene.num_layers >= 2
    assert (scene.layers[0][:, :, 3] == 255).all()
    assert all(np.isfinite(n).all() for n in scene.layer_nearness)
