"""Hole filling: exact on planes, background wins at depth edges, accurate on the real cones disparity."""

from __future__ import annotations

import numpy as np
import pytest

from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import ValidationError
from depthforge.process.fill import FILL_METHODS, fill_from_background, fill_from_nearest, fill_holes
from tests.conftest import cones_disparity


def _plane(h: int = 60, w: int = 80) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return (0.07 * x - 0.03 * y + 12.0).astype(np.float64)


def _blobs(valid: np.ndarray, fraction: float, max_radius: int, seed: int) -> np.ndarray:
    """Knock out discs of radius 1..max_radius until ``fraction`` of the valid pixels are gone."""
    import cv2

    rng = np.random.default_rng(seed)
    h, w = valid.shape
    knock = np.zeros((h, w), np.uint8)
    while (knock.astype(bool) & valid).sum() < fraction * valid.sum():
        centre = (int(rng.integers(w)), int(rng.integers(h)))
        cv2.circle(knock, centre, int(rng.integers(1, max_radius + 1)), 1, -1)
    return knock.astype(bool) & valid


@pytest.mark.parametrize("method", FILL_METHODS)
def test_every_method_fills_and_keeps_valid_pixels(method: str) -> None:
    d = _plane()
    holed = d.copy()
    holes = np.random.default_rng(1).random(d.shape) < 0.2
    holed[holes] = np.nan
    before = holed.copy()
    out = fill_holes(holed, method=method)
    np.testing.assert_array_equal(holed, before, err_msg="input modified")
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[~holes], d[~holes])
    assert np.abs(out - d).max() < 0.2  # no value beyond a few pixels' slope


@pytest.mark.parametrize("method", ["smooth", "auto"])
def test_smooth_fill_is_exact_on_a_plane(method: str) -> None:
    d = _plane()
    holed = d.copy()
    holes = _blobs(np.ones(d.shape, bool), 0.2, 3, seed=2)
    holed[holes] = np.nan
    out = fill_holes(holed, method=method)
    # Exact inside the image (corners of the image may fall back to neighbour averages).
    assert np.abs(out - d)[1:-1, 1:-1].max() < 1e-3


def test_background_fill_takes_the_far_side_of_an_edge() -> None:
    d = np.full((20, 40), 30.0)  # near (large disparity) on the left
    d[:, 20:] = 10.0  # far on the right
    holed = d.copy()
    holed[:, 16:24] = np.nan  # an occlusion band across the edge
    out = fill_holes(holed, method="background", axes="horizontal")
    np.testing.assert_allclose(out[:, 16:24], 10.0)
    nearest = fill_holes(holed, method="nearest")
    assert (nearest[:, 16:20] == 30.0).all() and (nearest[:, 20:24] == 10.0).all()


def test_metric_maps_prefer_the_larger_distance_and_keep_their_kind() -> None:
    z = np.full((10, 20), 1.0, dtype=np.float32)
    z[:, 10:] = 4.0
    z[:, 8:12] = np.nan
    out = fill_holes(DepthMap(z, kind="metric"), method="background")
    assert out.kind == "metric" and out.valid.all()
    np.testing.assert_allclose(out.values[:, 8:12], 4.0)
    # user trial 7: metres outside the holes came back 1 ulp off (float32 1/z); now bit for bit
    rng = np.random.default_rng(3)
    metres = rng.uniform(0.5, 30.0, (40, 50)).astype(np.float32)
    metres[10:20, 10:20] = np.nan
    for method in ("smooth", "background", "nearest", "auto"):
        filled = fill_holes(DepthMap(metres, kind="metric"), method=method).values
        np.testing.assert_array_equal(filled[np.isfinite(metres)], metres[np.isfinite(metres)])


def test_mask_limits_the_fill_and_large_holes_stay_for_smooth() -> None:
    d = _plane()
    holed = d.copy()
    holed[10:40, 10:40] = np.nan  # 900 px
    holed[50, 50] = np.nan
    out = fill_holes(holed, method="smooth", max_hole_px=100)
    assert np.isnan(out[10:40, 10:40]).all() and np.isfinite(out[50, 50])
    with pytest.warns(DeprecationWarning, match="max_hole= is now max_hole_px="):  # the name before units
        np.testing.assert_array_equal(fill_holes(holed, method="smooth", max_hole=100), out)
    mask = np.zeros(d.shape, bool)
    mask[50, 50] = True
    out = fill_holes(holed, method="nearest", mask=mask)
    assert np.isnan(out[10:40, 10:40]).all() and np.isfinite(out[50, 50])


def test_bad_input_is_a_clean_error() -> None:
    with pytest.raises(ValidationError, match="method"):
        fill_holes(_plane(), method="magic")
    with pytest.raises(ValidationError, match="depth"):
        fill_holes([[1.0, 2.0]])  # type: ignore[type-var]
    all_nan = np.full((4, 4), np.nan)
    assert np.isnan(fill_holes(all_nan)).all()


@pytest.mark.data
@pytest.mark.parametrize("method", ["auto", "background", "nearest", "smooth"])
def test_cones_blobs_filled_within_one_pixel_of_disparity(cones, method: str) -> None:  # type: ignore[no-untyped-def]
    import cv2

    gt = cones_disparity(cones)
    valid = np.isfinite(gt)
    knocked = _blobs(valid, 0.20, 5, seed=0)
    assert 0.20 <= knocked.sum() / valid.sum() < 0.22
    holed = gt.copy()
    holed[knocked] = np.nan
    out = fill_holes(holed, method=method)
    # Depth edges: a jump of more than 1 px to a neighbour, or unknown ground truth next door; "away" = > 5 px.
    g = np.nan_to_num(gt, nan=-100.0)
    edge = np.zeros(gt.shape, bool)
    jx = np.abs(np.diff(g, axis=1)) > 1
    jy = np.abs(np.diff(g, axis=0)) > 1
    edge[:, 1:] |= jx
    edge[:, :-1] |= jx
    edge[1:] |= jy
    edge[:-1] |= jy
    away = cv2.distanceTransform((~edge).astype(np.uint8), cv2.DIST_L2, 5) > 5
    sel = knocked & away
    err = np.abs(out - gt)[sel]
    if method == "smooth":  # merged blobs larger than max_hole stay unfilled by design
        err = err[np.isfinite(err)]
        assert err.size > 0.5 * sel.sum()
    assert np.isfinite(err).all()
    assert err.mean() <= 1.0, f"{method}: MAE {err.mean():.3f} px"


def test_fill_from_background_rows_columns_and_interpolation() -> None:
    row = np.array([[5.0, np.nan, np.nan, 2.0, np.nan]])
    assert fill_from_background(row, np.isnan(row)).tolist() == [[5.0, 2.0, 2.0, 2.0, 2.0]]
    # the same surface on both sides (within tolerance): a linear interpolation by 1 / distance
    ramp = np.array([[1.0, np.nan, np.nan, 4.0]])
    out = fill_from_background(ramp, np.isnan(ramp), tolerance=10.0, by_distance=True)
    np.testing.assert_allclose(out, [[1.0, 2.0, 3.0, 4.0]])
    np.testing.assert_array_equal(
        fill_from_background(row.T, np.isnan(row.T), direction="column"), fill_from_background(row, np.isnan(row)).T
    )
    # no usable pixel along the row: NaN, unless the column has one
    grid = np.array([[np.nan, np.nan], [3.0, 1.0]])
    assert np.isnan(fill_from_background(grid, np.isnan(grid))[0]).all()
    assert fill_from_background(grid, np.isnan(grid), direction="both")[0].tolist() == [3.0, 1.0]


def test_fill_from_background_colours_by_a_separate_priority() -> None:
    colour = np.zeros((1, 5, 3), np.float32)
    colour[0, 0] = (255, 0, 0)  # far
    colour[0, 4] = (0, 0, 255)  # near
    prio = np.array([[1.0, np.nan, 7.0, np.inf, 9.0]], np.float32)  # pixel 2 is known, 3 has no usable priority
    mask = np.array([[False, True, False, True, False]])
    out = fill_from_background(colour, mask, priority=prio)
    assert out.dtype == np.float32 and out[0, 1].tolist() == [255, 0, 0]
    assert out[0, 3].tolist() == [0, 0, 0]  # pixel 2 (7) is farther than pixel 4 (9)
    np.testing.assert_array_equal(out[~mask], colour[~mask])
    with pytest.raises(ValidationError, match="priority"):
        fill_from_background(colour, mask, priority=prio[:, :4])


def test_row_fill_and_integer_colours_match_the_general_path(cones) -> None:
    # rows only are filled as each run is found (no per-hole lists), the other directions from the lists: the same
    # values, shown by a row fill against the column fill of the transpose; colours of an integer type are read as
    # they are (no float copy) and give what their float32 copy gives. Real data: the cones photo and ground-truth
    # disparity, its unknown pixels and a band of occlusions as holes.
    from PIL import Image

    disparity = cones_disparity(cones)
    colour = np.asarray(Image.open(cones / "im2.png").convert("RGB"))
    holes = np.isnan(disparity)
    holes[100:140, 150:260] = True
    prio = np.where(holes, np.nan, disparity)
    assert 0.05 < holes.mean() < 0.5
    for tolerance, by_distance in ((0.0, False), (2.0, True)):
        rows = fill_from_background(prio, holes, tolerance=tolerance, by_distance=by_distance)
        cols = fill_from_background(prio.T, holes.T, direction="column", tolerance=tolerance, by_distance=by_distance)
        np.testing.assert_array_equal(rows, cols.T)
        assert np.isfinite(rows).mean() > 0.99
    for direction in ("row", "both"):
        ints = fill_from_background(colour, holes, priority=prio, direction=direction)
        floats = fill_from_background(colour.astype(np.float32), holes, priority=prio, direction=direction)
        assert ints.dtype == np.float32
        np.testing.assert_array_equal(ints, floats)
        np.testing.assert_array_equal(ints[~holes], colour[~holes])
    # wider integers are rounded to float32 first (as always), other byte orders read in the machine's; the inputs
    # are left as they were
    wide = colour.astype(np.int32) * 2**20 + 63
    kept = wide.copy()
    np.testing.assert_array_equal(
        fill_from_background(wide, holes, priority=prio),
        fill_from_background(wide.astype(np.float32), holes, priority=prio),
    )
    np.testing.assert_array_equal(wide, kept)
    swapped = colour.astype(">u2")
    np.testing.assert_array_equal(
        fill_from_background(swapped, holes, priority=prio), fill_from_background(colour, holes, priority=prio)
    )


def test_fill_from_nearest_takes_the_closest_unmasked_pixel() -> None:
    d = np.array([[1.0, 0.0, 0.0, 0.0, 9.0]])
    mask = np.array([[False, True, True, True, False]])
    out = fill_from_nearest(d, mask)
    assert out[0, [0, 1, 3, 4]].tolist() == [1.0, 1.0, 9.0, 9.0] and out[0, 2] in (1.0, 9.0)  # a tie in the middle
    colour = np.dstack([d, 2 * d])
    np.testing.assert_array_equal(fill_from_nearest(colour, mask)[..., 1], 2 * out)
