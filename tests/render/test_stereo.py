"""Stereo view synthesis: warp invariants, background-side filling, bad input, Middlebury truth test."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from depthforge.cli.main import main
from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import ValidationError
from depthforge.render.stereo import (
    StereoParams,
    fill_invalid_background,
    render_eye,
    render_stereo,
    wiggle_frames,
)
from depthforge.render.warp import fill_holes_background, forward_warp
from tests.conftest import SHARED, cones_disparity


@pytest.fixture()
def scene() -> tuple[np.ndarray, DepthMap]:
    """A textured image (values 30..220, never 0) with a near square on a sloping background."""
    rng = np.random.default_rng(0)
    img = rng.integers(30, 221, (40, 60, 3), dtype=np.uint8)
    inv = np.tile(np.linspace(0.1, 0.4, 60, dtype=np.float32), (40, 1))
    inv[10:30, 20:35] = 1.0
    return img, DepthMap(inv, kind="relative")


def test_zero_shift_warp_is_identity() -> None:
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    res = forward_warp(img, np.zeros((9, 11)), priority=rng.random((9, 11)))
    assert not res.holes.any()
    np.testing.assert_array_equal(res.image, img.astype(np.float32))


def test_zero_divergence_returns_input(scene: tuple[np.ndarray, DepthMap]) -> None:
    img, depth = scene
    left, right = render_stereo(img, depth, params=StereoParams(divergence=0))
    np.testing.assert_array_equal(left, img)
    np.testing.assert_array_equal(right, img)


@pytest.mark.parametrize("d", [3.0, 2.5])
def test_constant_disparity_shifts_uniformly(d: float) -> None:
    rng = np.random.default_rng(2)
    img = rng.random((8, 30, 3)).astype(np.float32)
    right = render_eye(img, DepthMap(np.full((8, 30), d, np.float32), kind="disparity"), eye="right")
    k = int(np.floor(d))
    f = d - k
    expected = (1 - f) * img[:, k : 30 - 1] + f * img[:, k + 1 : 30] if f else img[:, k:]
    np.testing.assert_allclose(right[:, : expected.shape[1]], expected, atol=1e-5)
    assert np.isfinite(right).all()


def test_vertical_shift_moves_rows_down() -> None:
    img = np.arange(5 * 4, dtype=np.float32).reshape(5, 4)
    res = forward_warp(img, np.zeros((5, 4)), np.ones((5, 4)), priority=np.zeros((5, 4)))
    np.testing.assert_array_equal(res.image[1:], img[:-1])
    assert res.holes[0].all() and not res.holes[1:].any()


def test_left_and_right_eyes_are_mirror_operations(scene: tuple[np.ndarray, DepthMap]) -> None:
    img, depth = scene
    img = img.astype(np.float32)
    params = StereoParams(divergence=8, convergence=0.3)
    left = render_eye(img, depth, eye="left", params=params)
    flipped = DepthMap(np.ascontiguousarray(depth.values[:, ::-1]), kind="relative")
    right_of_flip = render_eye(np.ascontiguousarray(img[:, ::-1]), flipped, eye="right", params=params)
    np.testing.assert_allclose(left, right_of_flip[:, ::-1], atol=1e-3)


def test_positive_separation_brings_the_scene_nearer() -> None:
    """User trial 8: the docstring said farther. Crossed disparity (x_left - x_right) grows with separation."""
    img = np.zeros((40, 200, 3), np.uint8)
    img[:, 100:102] = 255
    d = np.ones((40, 200), np.float32)
    d[:, 90:110] = 2.0
    depth = DepthMap(d, kind="relative")

    def crossed(separation: float) -> float:
        left, right = render_stereo(img, depth, params=StereoParams(separation=separation))
        centre = [float(np.average(np.arange(200), weights=v[20, :, 0].astype(float) + 1e-9)) for v in (left, right)]
        return centre[0] - centre[1]

    assert crossed(0.0) == pytest.approx(5.0, abs=0.5)  # divergence 2.5 % of 200 px
    assert crossed(5.0) == pytest.approx(15.0, abs=0.5)  # + 5 % of 200 px: nearer
    assert crossed(-5.0) == pytest.approx(-5.0, abs=0.5)


def test_nearer_pixels_win_and_holes_fill_from_background() -> None:
    # one row: background colour 10 (priority 0), a near block colour 200 (priority 5) moving right by 3
    img = np.full((1, 20), 10.0, np.float32)
    img[0, 8:12] = 200.0
    prio = np.zeros((1, 20), np.float32)
    prio[0, 8:12] = 5.0
    shift = np.where(prio > 0, 3.0, 0.0).astype(np.float32)
    res = forward_warp(img, shift, priority=prio)
    assert res.image[0, 11:15].tolist() == [200.0] * 4  # the near block covers the background
    assert res.holes[0, 8:11].all()  # disocclusion behind its old position
    filled = fill_holes_background(res.image, res.holes, res.priority, smooth=0)
    assert filled[0, 8:11].tolist() == [10.0] * 3  # background colour, not the block's


def test_no_unfilled_pixels_in_eyes_or_wiggle_frames(scene: tuple[np.ndarray, DepthMap]) -> None:
    img, depth = scene
    params = StereoParams(divergence=10, convergence=0.5)
    left, right = render_stereo(img, depth, params=params)
    for eye in (left, right):
        assert eye.min() >= 30 and eye.max() <= 220  # holes filled from real colours, never black
    frames = wiggle_frames(img, depth, views=4, params=params)
    assert len(frames) == 6 and all(f.min() >= 30 for f in frames)


def test_invalid_depth_is_background_and_all_invalid_is_refused() -> None:
    v = np.array([[1.0, np.nan, 5.0, np.inf, np.nan]], np.float32)
    assert fill_invalid_background(v).tolist() == [[1.0, 1.0, 5.0, 5.0, 5.0]]
    with pytest.raises(ValidationError, match="no valid pixel"):
        fill_invalid_background(np.full((2, 2), np.nan))


def test_constant_relative_depth_is_flat() -> None:
    img = np.random.default_rng(3).integers(1, 255, (6, 10, 3), dtype=np.uint8)
    out = render_eye(img, DepthMap(np.ones((6, 10), np.float32)), eye="right")
    np.testing.assert_array_equal(out, img)  # no relief and convergence 0: no parallax at all


def test_bad_input_messages(scene: tuple[np.ndarray, DepthMap]) -> None:
    img, depth = scene
    with pytest.raises(ValidationError, match="does not match"):
        render_eye(img[:20], depth)
    with pytest.raises(ValidationError, match="balance"):
        StereoParams(balance=2)
    with pytest.raises(ValidationError, match="exact"):
        render_eye(img, depth, params=StereoParams(exact=True))
    # user trial: a convergence of 50 (a disparity in px, exact mode's unit) on a relative map drew a wild view
    for convergence in (50.0, -5.0):
        with pytest.raises(ValidationError, match="convergence: .* nearness"):
            render_eye(img, depth, params=StereoParams(convergence=convergence))
    disparity = DepthMap(depth.values * 10 + 1, kind="disparity")
    assert render_eye(img, disparity, params=StereoParams(convergence=50.0)).shape == img.shape  # px in exact mode
    with pytest.raises(ValidationError, match="shift_x"):
        forward_warp(img, np.full(img.shape[:2], np.nan), priority=np.zeros(img.shape[:2]))
    # user trial 8: a dict for params, and None for a match result, were AttributeErrors
    with pytest.raises(ValidationError, match=r"^params: expected a StereoParams \(e\.g\. StereoParams\(div"):
        render_stereo(img, depth, params={"divergence": 2})  # type: ignore[arg-type]
    from depthforge.stereo import stretch_half

    with pytest.raises(ValidationError, match="^result: expected a StereoResult"):
        stretch_half(None, layout="sbs")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"^image: a DepthMap .* render_stereo takes \(image, depth, \.\.\.\)"):
        render_stereo(depth, img)  # type: ignore[arg-type]


def _write(tmp: Path, img: np.ndarray, disp: np.ndarray) -> tuple[Path, Path]:
    from PIL import Image

    ip, dp = tmp / "img.png", tmp / "disp.npy"
    Image.fromarray(img).save(ip)
    np.save(dp, disp)
    return ip, dp


def test_cli_right_layout_with_disparity_keeps_size(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from PIL import Image

    img = np.random.default_rng(4).integers(0, 256, (24, 36, 3), dtype=np.uint8)
    disp = np.full((12, 18), 2.0, np.float32)  # half size: resampled (and scaled) with a notice
    disp[3, 4] = np.nan
    ip, dp = _write(tmp_path, img, disp)
    out = tmp_path / "right.png"
    code = main(
        ["stereo", str(ip), "--depth", str(dp), "--depth-kind", "disparity", "--layout", "right", "-o", str(out)]
    )
    assert code == 0
    assert np.asarray(Image.open(out)).shape == img.shape
    assert "resampled" in capsys.readouterr().err


def test_cli_16_bit_photo(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A 16-bit photo keeps 16 bits through the default fill; ``--fill layers`` (8-bit colour) says it writes 8."""
    import cv2

    rgb = np.random.default_rng(6).integers(0, 65536, (24, 36, 3), dtype=np.uint16)
    ip, dp = tmp_path / "img16.png", tmp_path / "d.npy"
    cv2.imwrite(str(ip), rgb[:, :, ::-1])
    np.save(dp, np.tile(np.linspace(0.1, 1, 36, dtype=np.float32), (24, 1)))
    base = ["stereo", str(ip), "--depth", str(dp), "--depth-kind", "relative"]
    for fill, dtype in (("background", np.uint16), ("layers", np.uint8)):
        out = tmp_path / f"{fill}.png"
        assert main([*base, "--fill", fill, "-o", str(out)]) == 0
        assert cv2.imread(str(out), cv2.IMREAD_UNCHANGED).dtype == dtype
        assert ("16-bit photo's views are 8-bit" in capsys.readouterr().err) == (fill == "layers")


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    img = np.zeros((8, 8, 3), np.uint8)
    ip, dp = _write(tmp_path, img, np.full((8, 8), np.nan, np.float32))
    for extra in (["--layout", "diagonal"], []):
        code = main(
            ["stereo", str(ip), "--depth", str(dp), "--depth-kind", "disparity", *extra, "-o", str(tmp_path / "o.png")]
        )
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and err[0].startswith("depthforge: error:"), err


def test_cli_wiggle_gif(tmp_path: Path) -> None:
    from PIL import Image

    img = np.random.default_rng(5).integers(0, 256, (16, 20, 3), dtype=np.uint8)
    ip, dp = _write(tmp_path, img, np.tile(np.linspace(0.1, 1, 20, dtype=np.float32), (16, 1)))
    out = tmp_path / "w.gif"
    assert main(["stereo", str(ip), "--depth", str(dp), "--layout", "wiggle", "--views", "3", "-o", str(out)]) == 0
    assert Image.open(out).n_frames == 4


def _score_view() -> object:
    spec = importlib.util.spec_from_file_location("score_view", SHARED / "tools" / "score_view.py")
    if spec is None or spec.loader is None or not (SHARED / "tools" / "score_view.py").exists():
        pytest.skip("../shared/tools/score_view.py is not present")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_cones_right_view_beats_the_best_open_generator(cones: Path) -> None:
    from PIL import Image

    sv = _score_view()
    left = np.asarray(Image.open(cones / "im2.png").convert("RGB"))
    real = np.asarray(Image.open(cones / "im6.png").convert("RGB"))
    raw = np.asarray(Image.open(cones / "disp2.png"))
    right = render_eye(left, DepthMap(cones_disparity(cones), kind="disparity"), eye="right")
    assert right.shape == left.shape and right.dtype == np.uint8
    gt = sv.dense_disparity(raw, 4.0)  # type: ignore[attr-defined]
    band = np.zeros(gt.shape, bool)
    band[:, int(gt.max()) + 2 :] = True
    seen = sv.psnr(right, real, band & sv.seen_from_left(gt))  # type: ignore[attr-defined]
    every = sv.psnr(right, real, band)  # type: ignore[attr-defined]
    assert seen >= 27.5 and every >= 22.5, (seen, every)
