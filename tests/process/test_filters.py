"""Filters: step edges stay sharp while noise on flat parts drops; invalid pixels stay out; parity with OpenCV."""

from __future__ import annotations

import numpy as np
import pytest

from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import ValidationError
from depthforge.process.filters import (
    bilateral_filter,
    estimate_noise,
    guided_filter,
    median_filter,
    remove_speckles,
)

H, W, STEP, NOISE = 96, 128, 10.0, 0.5


def _step_scene() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A vertical step from 20 to 30 (disparity px) at column 64, Gaussian noise sigma 0.5, and a guide image."""
    clean = np.full((H, W), 20.0)
    clean[:, 64:] = 30.0
    noisy = clean + np.random.default_rng(0).normal(0.0, NOISE, (H, W))
    guide = np.where(clean > 25, 200, 60).astype(np.uint8)
    return clean, noisy, guide


def edge_width(a: np.ndarray) -> float:
    """Mean over rows of the distance (px) from the last pixel below 10 % of the step to the first above 90 %."""
    lo, hi = 20.0 + 0.1 * STEP, 20.0 + 0.9 * STEP
    widths = []
    for row in a:
        below = np.nonzero(row <= lo)[0]
        above = np.nonzero(row >= hi)[0]
        first_above = above[above > below.min()].min()
        last_below = below[below < first_above].max()
        widths.append(first_above - last_below)
    return float(np.mean(widths))


FILTERS = {
    "bilateral": lambda d, g: bilateral_filter(d, sigma_space_px=2.0),
    "median": lambda d, g: median_filter(d, size_px=5),
    "guided": lambda d, g: guided_filter(g, d, radius_px=8, eps=1e-3),
}


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_step_edge_stays_sharp_and_flat_noise_drops(name: str) -> None:
    clean, noisy, guide = _step_scene()
    out = FILTERS[name](noisy, guide)
    flat = np.zeros((H, W), bool)
    flat[10:-10, 10:54] = True
    flat[10:-10, 74:-10] = True
    reduction = 1.0 - np.var((out - clean)[flat]) / np.var((noisy - clean)[flat])
    assert reduction >= 0.70, f"{name}: noise variance reduced by {100 * reduction:.1f} %"
    assert edge_width(out) <= edge_width(clean) + 1.0
    # The edge did not move: the mean of each side next to the edge keeps its level.
    assert abs(np.mean(out[:, 62]) - 20.0) < 1.0 and abs(np.mean(out[:, 65]) - 30.0) < 1.0


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_invalid_pixels_stay_invalid_and_do_not_leak(name: str) -> None:
    _, noisy, guide = _step_scene()
    holed = noisy.copy()
    holed[40:50, 30:40] = np.nan
    before = holed.copy()
    out = FILTERS[name](holed, guide)
    np.testing.assert_array_equal(holed, before, err_msg="input modified")
    np.testing.assert_array_equal(np.isnan(out), np.isnan(holed))
    assert np.isfinite(out[~np.isnan(holed)]).all()


def test_metric_maps_are_filtered_in_inverse_depth_and_keep_kind() -> None:
    _, noisy, _ = _step_scene()
    dm = DepthMap((1.0 / noisy).astype(np.float32), kind="metric", model="x")
    out = bilateral_filter(dm)
    assert out.kind == "metric" and out.model == "x"
    ref = bilateral_filter(dm.inverse_depth().astype(np.float64))
    np.testing.assert_allclose(out.values, 1.0 / ref, rtol=1e-5)


def test_guided_filter_matches_opencv_ximgproc_inside() -> None:
    cv2 = pytest.importorskip("cv2")
    if not hasattr(cv2, "ximgproc"):
        pytest.skip("opencv-contrib not installed")
    rng = np.random.default_rng(3)
    img = rng.random((60, 80, 3)).astype(np.float32)
    d = rng.random((60, 80)).astype(np.float32)
    ours = guided_filter(img, d, radius_px=4, eps=1e-2)
    ref = cv2.ximgproc.guidedFilter(img, d, 4, 1e-2)
    # OpenCV mirrors at the border, we leave outside pixels out: compare beyond 2 radii from the border.
    np.testing.assert_allclose(ours[9:-9, 9:-9], ref[9:-9, 9:-9], atol=1e-5)


def test_median_matches_opencv_on_full_maps() -> None:
    import cv2

    d = np.random.default_rng(4).random((40, 50)).astype(np.float32)
    for size in (3, 5):
        np.testing.assert_array_equal(median_filter(d, size_px=size)[2:-2, 2:-2], cv2.medianBlur(d, size)[2:-2, 2:-2])


@pytest.mark.parametrize("size", [3, 5, 7])
@pytest.mark.parametrize("holes", [False, True])
def test_median_equals_the_median_of_the_valid_window_pixels_up_to_the_border(size: int, holes: bool) -> None:
    """NaN-free maps take OpenCV's path (up to 5 x 5), others the NaN-aware one: both are the plain median of the
    finite pixels of the window clipped to the image, border included."""
    rng = np.random.default_rng(size)
    d = rng.random((13, 17)).astype(np.float32)
    if holes:
        d[rng.random(d.shape) < 0.2] = np.nan
    r = size // 2
    expected = np.full(d.shape, np.nan)
    for y in range(13):
        for x in range(17):
            win = d[max(0, y - r) : y + r + 1, max(0, x - r) : x + r + 1]
            if np.isfinite(d[y, x]):
                expected[y, x] = np.median(win[np.isfinite(win)].astype(np.float64))
    np.testing.assert_allclose(median_filter(d, size_px=size), expected.astype(np.float32), rtol=1e-6)


def test_speckles_removed_large_regions_kept() -> None:
    d = np.full((50, 50), 5.0, dtype=np.float32)
    d[10:13, 10:13] = 20.0  # 9 px speckle
    d[30:40, 30:40] = 15.0  # 100 px region
    out = remove_speckles(d, max_size_px=20, max_diff=1.0)
    assert np.isnan(out[10:13, 10:13]).all()
    assert np.isnan(out).sum() == 9
    out = remove_speckles(d, max_size_px=9, max_diff=1.0)  # "smaller than 9" keeps a 9 px patch
    assert np.isfinite(out).all()


def test_noise_estimate_and_bad_options() -> None:
    _, noisy, guide = _step_scene()
    assert abs(estimate_noise(noisy) - NOISE) < 0.05
    with pytest.raises(ValidationError, match="^size_px: must be odd"):
        median_filter(noisy, size_px=4)
    with pytest.raises(ValidationError, match="image"):
        guided_filter(guide[:10], noisy)
    with pytest.raises(ValidationError, match="^sigma_space_px: "):
        bilateral_filter(noisy, sigma_space_px=0)
