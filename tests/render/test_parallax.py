"""Parallax renderer: two textured planes at known depths (exact expectations), loops, holes, cones truth test."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import ValidationError
from depthforge.render.motion import EASINGS, MOTIONS, CameraPose, camera_path, ease, max_disocclusion_px, plan_motion
from depthforge.render.parallax import ParallaxRenderer, build_layers, render_frames, render_view, split_thresholds
from tests.conftest import SHARED, cones_disparity

H, W = 128, 200
RECT = (slice(20, 100), slice(60, 140))  # the near plane
D_FAR, D_NEAR = 4.0, 12.0  # disparities (px): nearness 1/3 and 1


def _texture(seed: int, tint: tuple[int, int, int]) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.random((H, W)).astype(np.float32), (0, 0), 1.2)
    noise = (noise - noise.min()) / np.ptp(noise)
    base = np.array(tint, np.float32)[None, None, :]
    return np.clip(base + 90.0 * (noise[:, :, None] - 0.5), 30, 225).astype(np.uint8)


@pytest.fixture(scope="module")
def planes() -> tuple[np.ndarray, DepthMap]:
    """Far plane (bluish texture, disparity 4) behind a near square (reddish texture, disparity 12)."""
    image = _texture(1, (70, 110, 170))
    image[RECT] = _texture(2, (180, 90, 60))[RECT]
    d = np.full((H, W), D_FAR, np.float32)
    d[RECT] = D_NEAR
    return image, DepthMap(d, kind="disparity")


@pytest.fixture(scope="module")
def renderer(planes: tuple[np.ndarray, DepthMap]) -> ParallaxRenderer:
    return ParallaxRenderer(build_layers(*planes), focus=0.0)


def _shift(a: np.ndarray, b: np.ndarray, window: tuple[slice, slice]) -> tuple[float, float]:
    """(dx, dy) of b relative to a inside the window, by phase correlation."""
    ga = cv2.cvtColor(a[window], cv2.COLOR_RGB2GRAY).astype(np.float32)
    gb = cv2.cvtColor(b[window], cv2.COLOR_RGB2GRAY).astype(np.float32)
    hann = cv2.createHanningWindow(ga.shape[::-1], cv2.CV_32F)
    (dx, dy), _ = cv2.phaseCorrelate(ga, gb, hann)
    return dx, dy


NEAR_WIN = (slice(30, 90), slice(72, 128))  # inside the square before and after shifts up to ~10 px
FAR_WIN = (slice(104, 128), slice(8, 192))  # below the square


def test_two_planes_split_into_two_layers(planes: tuple[np.ndarray, DepthMap]) -> None:
    scene = build_layers(*planes)
    assert len(scene.layers) == 2
    (t,) = scene.thresholds
    assert 1 / 3 < t <= 1.0
    assert split_thresholds(np.zeros((8, 8), np.float32)) == []


@pytest.mark.parametrize("method", ["remap", "splat"])
def test_zero_motion_returns_the_input(planes: tuple[np.ndarray, DepthMap], method: str) -> None:
    image, depth = planes
    r = ParallaxRenderer(build_layers(image, depth), focus=0.3)
    assert np.array_equal(r.render(CameraPose(), method=method), image)
    frames = list(render_frames(image, depth, motion="circle", amplitude=0.0, duration_s=0.5, fps=8))
    assert len(frames) == 4
    for f in frames:
        assert np.array_equal(f, image)


@pytest.mark.parametrize("method", ["remap", "splat"])
def test_near_plane_moves_by_the_geometric_ratio(renderer: ParallaxRenderer, planes: tuple, method: str) -> None:
    image = planes[0]
    x = 9.0  # camera to the right: near plane moves -9 px, far plane -9 / 3 px
    out = renderer.render(CameraPose(x=x), method=method)
    near_dx, near_dy = _shift(image, out, NEAR_WIN)
    far_dx, far_dy = _shift(image, out, FAR_WIN)
    assert near_dx == pytest.approx(-x, rel=0.1)
    assert far_dx == pytest.approx(-x * D_FAR / D_NEAR, rel=0.1)
    assert near_dx / far_dx == pytest.approx(D_NEAR / D_FAR, rel=0.1)
    assert abs(near_dy) < 0.5 and abs(far_dy) < 0.5


@pytest.mark.parametrize("pose", [CameraPose(x=8.0), CameraPose(x=-6.0, y=5.0), CameraPose(z=0.3, zoom=0.9)])
def test_focus_plane_stays_put(planes: tuple[np.ndarray, DepthMap], pose: CameraPose) -> None:
    image, depth = planes
    focus = D_FAR / D_NEAR  # the far plane is the steady one; dolly-zoom zoom = 1 - z * focus keeps its size
    r = ParallaxRenderer(build_layers(image, depth), focus=focus)
    out = r.render(pose)
    dx, dy = _shift(image, out, FAR_WIN)
    assert abs(dx) < 0.5 and abs(dy) < 0.5
    if pose.z == 0.0:
        ndx, ndy = _shift(image, out, NEAR_WIN)
        assert ndx == pytest.approx(-pose.x * (1 - focus), abs=0.5)
        assert ndy == pytest.approx(-pose.y * (1 - focus), abs=0.5)


def test_disocclusion_is_filled_with_background(renderer: ParallaxRenderer) -> None:
    for method in ("remap", "splat"):
        out = renderer.render(CameraPose(x=10.0), method=method).astype(np.float32)
        # the square moved 10 px left, the background 3.3 px: a strip on the square's right is disoccluded
        strip = out[30:90, 132:137]
        blue, red = np.array([70, 110, 170], np.float32), np.array([180, 90, 60], np.float32)
        d_bg = np.linalg.norm(strip - blue, axis=2)
        d_fg = np.linalg.norm(strip - red, axis=2)
        assert (d_bg < d_fg).mean() > 0.95, method  # background colours, no stretched foreground
        assert out.min() >= 25 and out.max() <= 230  # no black holes anywhere (input values lie in 30..225)


def test_every_pixel_of_every_frame_is_filled(planes: tuple[np.ndarray, DepthMap]) -> None:
    image, depth = planes
    for motion in ("circle", "zoom-in", "dolly-zoom", "orbit", "swing-vertical"):
        for frame in render_frames(image, depth, motion=motion, amplitude=6.0, duration_s=0.5, fps=6, focus=0.5):
            assert frame.shape == image.shape and frame.dtype == np.uint8
            assert frame.min() >= 25 and frame.max() <= 230, motion


def test_a_loop_shows_no_frame_twice(planes: tuple[np.ndarray, DepthMap]) -> None:
    # a looping clip is one cycle: played in a loop, the first frame does not follow a copy of itself (the seam
    # moves like the first step, and mirrors it for these symmetric motions), and it is the photo's own view
    image, depth = planes
    for motion in ("circle", "dolly", "swing"):
        frames = list(render_frames(image, depth, motion=motion, amplitude=5.0, duration_s=0.5, fps=10, easing="cubic"))
        assert len(frames) == 5
        assert not np.array_equal(frames[-1], frames[0]) and not np.array_equal(frames[1], frames[0]), motion
        seam, first = (np.abs(f.astype(int) - frames[0]).mean() for f in (frames[-1], frames[1]))
        assert seam == pytest.approx(first, rel=0.1), motion
    assert np.array_equal(next(iter(render_frames(image, depth, motion="swing", duration_s=0.5, fps=10))), image)


def test_camera_paths() -> None:
    for e in EASINGS:
        assert ease(0.0, e) == 0.0 and ease(1.0, e) == 1.0
        assert ease(0.25, e) <= ease(0.5, e) <= ease(0.75, e)
    for motion in MOTIONS:
        poses = camera_path(motion, frames=8, amplitude_px=10.0, dolly=0.2, focus=0.5)
        assert len(poses) == 8 and (motion == "circle" or poses[0] == CameraPose())  # starts at the input view
        # one cycle: the pose after the last would be the first again, so the seam's step is like any other
        longer = camera_path(motion, frames=16, amplitude_px=10.0, dolly=0.2, focus=0.5)
        assert poses == longer[::2]
    one_way = camera_path("linear", frames=5, amplitude_px=10.0, loop=False, easing="linear")
    assert [p.x for p in one_way] == [0.0, 2.5, 5.0, 7.5, 10.0]
    vertigo = camera_path("dolly-zoom", frames=3, amplitude_px=0.0, dolly=0.2, focus=0.5, loop=False)
    assert vertigo[-1].z == pytest.approx(0.2) and vertigo[-1].zoom == pytest.approx(1 - 0.2 * 0.5)
    circle = camera_path("circle", frames=8, amplitude_px=4.0, easing="cubic")  # a steady circle, whatever the easing
    assert [p.x for p in circle] == pytest.approx([4 * math.sin(math.pi * i / 4) for i in range(8)])
    # sine easing is simple harmonic motion; the easing shapes each stretch between the turning points, so the
    # camera slows into the ends (+-A) and never stalls or jumps at the loop's seam
    sine = camera_path("swing", frames=12, amplitude_px=8.0)
    assert [p.x for p in sine] == pytest.approx([8 * math.sin(math.pi * i / 6) for i in range(12)])
    for easing in EASINGS:
        x = np.array([p.x for p in camera_path("swing", frames=24, amplitude_px=8.0, easing=easing)])
        steps = np.abs(np.diff(np.append(x, x[0])))
        assert steps.min() > 0 and steps.max() <= 3 * 32 / 24 + 1e-9, easing  # the cubic's steepest is 3x linear
        assert easing == "linear" or np.argmin(steps[:6]) == 5, easing  # slowest going into the turning point at +A
    orbit = camera_path("orbit", frames=8, amplitude_px=4.0, dolly=0.2)
    assert [p.z for p in orbit] == pytest.approx([0.1 * (1 - math.cos(math.pi * i / 4)) for i in range(8)])


def test_plan_motion() -> None:
    # amplitude is % of the width; the reach is the widest disocclusion of the planned poses
    poses, reach = plan_motion((100, 200), motion="swing", duration_s=1.0, fps=8, amplitude=5.0, easing="linear")
    assert len(poses) == 8 and max(abs(p.x) for p in poses) == pytest.approx(10.0)
    assert reach == max_disocclusion_px(poses, size_hw=(100, 200), focus=0.5) and reach > 0
    # the linear motion runs between the given poses
    start, end = CameraPose(x=-3.0, y=1.0), CameraPose(x=6.0, z=0.1)
    poses, _ = plan_motion((100, 200), motion="linear", fps=3, duration_s=1.0, loop=False, start=start, end=end)
    assert poses[0] == start and poses[-1].x == pytest.approx(6.0) and poses[-1].z == pytest.approx(0.1)
    assert plan_motion((10, 20), motion="static", duration_s=0.5, fps=4)[1] == 0.0
    with pytest.raises(ValidationError, match="amplitude"):
        plan_motion((10, 20), amplitude=60.0)


def test_bad_input(planes: tuple[np.ndarray, DepthMap]) -> None:
    image, depth = planes
    with pytest.raises(ValidationError, match="depth"):
        build_layers(image[:50], depth)
    with pytest.raises(ValidationError, match="motion"):
        camera_path("spin", frames=3, amplitude_px=1.0)
    with pytest.raises(ValidationError, match="z"):
        CameraPose(z=1.0)
    with pytest.raises(ValidationError, match="method"):
        ParallaxRenderer(build_layers(image, depth)).render(CameraPose(), method="magic")
    with pytest.raises(ValidationError, match="duration"):
        next(render_frames(image, depth, duration_s=0))
    # user trial 8: end=(3, 0) was a TypeError; inpaint="x" named "method"; smooth_px=-1 passed
    path = camera_path("linear", frames=3, amplitude_px=1.0, loop=False, end=(3, 0))
    assert path == camera_path("linear", frames=3, amplitude_px=1.0, loop=False, end=CameraPose(x=3.0))
    with pytest.raises(ValidationError, match=r"^end: z: 5 is above"):  # review: it said "z:" alone
        camera_path("linear", frames=3, amplitude_px=1.0, end=(0, 0, 5))
    with pytest.raises(ValidationError, match=r"^end: a CameraPose or its numbers"):
        camera_path("linear", frames=3, amplitude_px=1.0, end=3)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="^inpaint: 'x' is not one of"):
        build_layers(image, depth, inpaint="x")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="^smooth_px: "):
        build_layers(image, depth, smooth_px=-1.0)


def _score(path: Path) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, str(SHARED / "tools" / "score_view.py"), str(path)], capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[1]), float(out[3])


def test_cones_one_baseline_to_the_right(cones: Path, tmp_path: Path) -> None:
    """The view one baseline to the right, scored against the real right view (README reference figures)."""
    from depthforge.io.images import read_image, write_image

    image = read_image(cones / "im2.png").rgb
    d = cones_disparity(cones)
    depth = DepthMap(d, kind="disparity")
    pose = CameraPose(x=float(np.nanmax(d)))  # nearness = d / d_max: x = d_max is one baseline
    write_image(tmp_path / "view.png", render_view(image, depth, pose))
    seen, every = _score(tmp_path / "view.png")
    assert seen >= 27.5 and every >= 22.5
    # the fast video path: layering at depth edges beats a single rubber sheet by a wide margin
    scores = {}
    for layers in (1, 8):
        r = ParallaxRenderer(build_layers(image, depth, max_layers=layers), focus=0.0)
        write_image(tmp_path / f"remap{layers}.png", r.render(pose))
        scores[layers] = _score(tmp_path / f"remap{layers}.png")
    assert scores[8][0] > scores[1][0] + 3.0 and scores[8][1] > scores[1][1] + 1.0


def test_supersampling_keeps_geometry(planes: tuple[np.ndarray, DepthMap]) -> None:
    image, depth = planes
    scene = build_layers(image, depth)
    still = ParallaxRenderer(scene, focus=0.0, supersample=2).render(CameraPose())
    assert still.shape == image.shape and np.abs(still.astype(int) - image.astype(int)).mean() < 3.0
    moved = ParallaxRenderer(scene, focus=0.0, supersample=2).render(CameraPose(x=9.0))
    assert _shift(image, moved, NEAR_WIN)[0] == pytest.approx(-9.0, rel=0.1)
    assert _shift(image, moved, FAR_WIN)[0] == pytest.approx(-3.0, rel=0.1)
