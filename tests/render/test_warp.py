"""render/warp: the splatting rules and the background-side hole filling, checked on values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from depthforge.render import warp


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int64, np.float32, np.float64])
def test_integer_shift_moves_pixels_exactly_for_every_dtype(dtype) -> None:  # type: ignore[no-untyped-def]
    img = (np.arange(4 * 7 * 3).reshape(4, 7, 3) % 200).astype(dtype)
    res = warp.forward_warp(img, np.full((4, 7), 2.0), priority=np.zeros((4, 7)))
    assert res.image.dtype == np.float32 and res.image.shape == img.shape
    np.testing.assert_array_equal(res.image[:, 2:], img[:, :-2].astype(np.float32))
    assert res.holes[:, :2].all() and not res.holes[:, 2:].any()
    assert np.isnan(res.priority[:, :2]).all() and (res.priority[:, 2:] == 0).all()


def test_half_pixel_shift_splats_bilinearly() -> None:
    img = np.array([[0.0, 10.0, 20.0, 30.0]], np.float32)
    res = warp.forward_warp(img, np.full((1, 4), 0.5), priority=np.zeros((1, 4)))
    # pixel u lands at u + 0.5: half on u, half on u + 1; target 0 gets half a pixel (not below coverage 0.5),
    # the others the mean of two neighbours
    np.testing.assert_allclose(res.image[0], [0.0, 5.0, 15.0, 25.0])
    assert not res.holes.any()
    assert warp.forward_warp(img, np.full((1, 4), 0.5), priority=np.zeros((1, 4)), coverage=0.6).holes[0, 0]


def test_nearer_splat_hides_a_farther_one_and_close_priorities_blend() -> None:
    img = np.array([[100.0, 200.0, 0.0]], np.float32)
    shift = np.array([[1.0, 0.0, 0.0]])  # pixel 0 lands on pixel 1
    near_wins = warp.forward_warp(img, shift, priority=np.array([[5.0, 1.0, 1.0]]))
    assert near_wins.image[0, 1] == 100.0 and near_wins.priority[0, 1] == 5.0
    far_hidden = warp.forward_warp(img, shift, priority=np.array([[1.0, 5.0, 5.0]]))
    assert far_hidden.image[0, 1] == 200.0
    blended = warp.forward_warp(img, shift, priority=np.array([[1.0, 1.5, 1.5]]), tolerance=1.0)
    assert blended.image[0, 1] == 150.0  # within tolerance: the weight-normalised mean


def test_claim_zero_lets_the_foreground_grow_by_a_pixel() -> None:
    img = np.array([[0.0, 0.0, 100.0, 0.0, 0.0]], np.float32)
    prio = np.array([[0.0, 0.0, 9.0, 0.0, 0.0]])
    shift = np.array([[0.0, 0.0, 0.25, 0.0, 0.0]])  # the near pixel touches pixel 3 with weight 0.25
    strict = warp.forward_warp(img, shift, priority=prio)
    grown = warp.forward_warp(img, shift, priority=prio, claim=0.0, coverage=0.2)
    assert strict.priority[0, 3] == 0.0 and strict.image[0, 3] == pytest.approx(100 * 0.25 / 1.25)
    assert grown.priority[0, 3] == 9.0 and grown.image[0, 3] == 100.0  # the background splat is hidden there
    assert warp.forward_warp(img, shift, priority=prio, claim=0.0).holes[0, 3]  # 0.25 of a pixel: uncovered


def test_vertical_kernel_with_zero_vertical_shift_equals_the_row_kernel() -> None:
    rng = np.random.default_rng(4)
    img = (rng.random((11, 23, 3)) * 255).astype(np.float32)
    sx = rng.normal(0.0, 3.0, (11, 23))
    sx[::2] = np.round(sx[::2] * 2) / 2  # exact half-pixel ties for the claims
    prio = rng.integers(0, 4, (11, 23)).astype(np.float64)  # many equal priorities
    rows = warp.forward_warp(img, sx, priority=prio, tolerance=0.5)
    general = warp.forward_warp(img, sx, np.zeros((11, 23)), priority=prio, tolerance=0.5)
    np.testing.assert_array_equal(general.holes, rows.holes)
    np.testing.assert_array_equal(general.priority, rows.priority)
    np.testing.assert_allclose(general.image, rows.image, rtol=1e-6)


def test_two_d_image_warps_like_each_channel() -> None:
    rng = np.random.default_rng(5)
    img = rng.random((6, 9, 2)).astype(np.float32)
    sx, sy, prio = rng.normal(0, 2, (6, 9)), rng.normal(0, 2, (6, 9)), rng.random((6, 9))
    both = warp.forward_warp(img, sx, sy, priority=prio)
    for ch in range(2):
        one = warp.forward_warp(img[:, :, ch], sx, sy, priority=prio)
        np.testing.assert_array_equal(one.holes, both.holes)
        np.testing.assert_allclose(one.image, both.image[:, :, ch], rtol=1e-6)


def test_fill_takes_the_farther_side_ties_take_the_mean_and_known_pixels_stay() -> None:
    img = np.array([[10.0, 0.0, 0.0, 200.0, 0.0, 30.0, 0.0, 50.0]], np.float32)
    holes = np.array([[False, True, True, False, True, False, True, False]])
    prio = np.array([[1.0, np.nan, np.nan, 5.0, np.nan, 2.0, np.nan, 2.0]], np.float32)
    out = warp.fill_holes_background(img, holes, prio, smooth=0)
    assert out.tolist() == [[10.0, 10.0, 10.0, 200.0, 30.0, 30.0, 40.0, 50.0]]


def test_fill_border_band_comes_from_inside_and_an_empty_row_takes_the_mean_colour() -> None:
    img = np.array([[0.0, 0.0, 8.0, 4.0], [0.0, 0.0, 0.0, 0.0]], np.float32)
    holes = np.array([[True, True, False, False], [True, True, True, True]])
    out = warp.fill_holes_background(img, holes, np.zeros((2, 4), np.float32), smooth=0)
    assert out.tolist() == [[8.0, 8.0, 8.0, 4.0], [6.0, 6.0, 6.0, 6.0]]


def test_column_fill_is_the_transposed_row_fill_and_both_takes_the_farthest() -> None:
    rng = np.random.default_rng(6)
    img = rng.random((12, 17, 3)).astype(np.float32)
    holes = rng.random((12, 17)) < 0.4
    prio = rng.integers(0, 5, (12, 17)).astype(np.float32)
    col = warp.fill_holes_background(img, holes, prio, direction="column", smooth=0)
    row_t = warp.fill_holes_background(img.transpose(1, 0, 2), holes.T, prio.T, direction="row", smooth=0)
    np.testing.assert_array_equal(col, row_t.transpose(1, 0, 2))
    both = warp.fill_holes_background(img[:, :, 0], holes, img[:, :, 0], direction="both", smooth=0)
    row = warp.fill_holes_background(img[:, :, 0], holes, img[:, :, 0], smooth=0)
    assert (both <= row + 1e-7)[holes].all()  # a fourth candidate can only make the fill farther
    np.testing.assert_array_equal(both[~holes], img[~holes, 0])


@pytest.mark.parametrize("smooth", [1.0, 2.5, 7.0])  # box widths 3, 6 (even: asymmetric anchor), 17
def test_smoothing_touches_only_filled_pixels_and_its_two_paths_agree(smooth: float) -> None:
    rng = np.random.default_rng(int(smooth * 10))
    img = (rng.random((31, 23, 3)) * 200).astype(np.float32)
    holes = rng.random((31, 23)) < 0.05  # sparse: the compiled column kernel
    prio = rng.integers(0, 3, (31, 23)).astype(np.float32)
    sparse = warp.fill_holes_background(img, holes, prio, smooth=smooth)
    np.testing.assert_array_equal(sparse[~holes], img[~holes])
    reference = warp.fill_holes_background(img, holes, prio, smooth=0)
    warp.smooth_filled(reference, holes, sigma=smooth, direction="row")  # the OpenCV box-filter path
    np.testing.assert_allclose(sparse, reference, rtol=1e-5, atol=1e-3)
    flat = warp.fill_holes_background(np.full((31, 23), 7.0, np.float32), holes, prio, smooth=smooth)
    np.testing.assert_allclose(flat, 7.0)  # a blur of a constant fill is the constant


@pytest.mark.parametrize("direction", ["row", "column"])
def test_smoothing_in_bands_equals_one_pass(cones, monkeypatch: pytest.MonkeyPatch, direction: str) -> None:
    # the cones photo warped by its own disparity (wide disocclusions), then filled: the blur across the fill
    # direction leaves the other axis independent, so 7 px bands give the whole-image values exactly
    from PIL import Image

    from tests.conftest import cones_disparity

    img = np.asarray(Image.open(cones / "im2.png").convert("RGB")).astype(np.float32)
    disparity = np.nan_to_num(cones_disparity(cones), nan=0.0)
    if direction == "column":
        img, disparity = img.transpose(1, 0, 2).copy(), disparity.T.copy()
    warped = warp.forward_warp(img, -disparity, priority=disparity)
    assert warped.holes.mean() > 0.05
    filled = warp.fill_holes_background(warped.image, warped.holes, warped.priority, smooth=0)
    whole = filled.copy()
    warp.smooth_filled(whole, warped.holes, sigma=8.0, direction=direction)
    monkeypatch.setattr(warp, "_BAND_PX", 7)
    banded = filled.copy()
    warp.smooth_filled(banded, warped.holes, sigma=8.0, direction=direction)
    np.testing.assert_array_equal(banded, whole)
    assert not np.array_equal(whole, filled)  # the blur did change the filled pixels
