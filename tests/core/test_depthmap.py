"""DepthMap, Intrinsics and validation: invariants and clean errors."""

from __future__ import annotations

import numpy as np
import pytest

from depthforge.core import DepthforgeError, DepthMap, Intrinsics, ValidationError, check_array, check_range


def test_values_are_copied_float32_and_read_only() -> None:
    src = np.arange(12, dtype=np.float64).reshape(3, 4)
    d = DepthMap(src, kind="relative")
    assert d.values.dtype == np.float32
    assert not d.values.flags.writeable
    src[0, 0] = 99.0
    assert d.values[0, 0] == 0.0  # the input is not shared


def test_read_only_owned_clean_arrays_are_adopted_others_copied() -> None:
    fresh = np.array([[1.0, np.nan], [2.0, 3.0]], np.float32)
    fresh.setflags(write=False)
    assert np.shares_memory(DepthMap(fresh).values, fresh)  # nothing can change it any more: no copy
    assert np.shares_memory(DepthMap(fresh, kind="metric").values, fresh)
    writable = np.array([[1.0, 2.0]], np.float32)
    assert not np.shares_memory(DepthMap(writable).values, writable)
    view = np.zeros((4, 4), np.float32)[1:3]  # read-only view of memory someone else can still write
    view.setflags(write=False)
    assert not np.shares_memory(DepthMap(view).values, view)
    for bad, kind in ((np.inf, "relative"), (-np.inf, "relative"), (0.0, "metric"), (-1.0, "disparity")):
        src = np.array([[1.0, bad]], np.float32)
        src.setflags(write=False)
        d = DepthMap(src, kind=kind)  # type: ignore[arg-type]
        assert not np.shares_memory(d.values, src) and np.isnan(d.values[0, 1]) and src[0, 1] == bad
    everything_nan = np.full((2, 2), np.nan, np.float32)
    everything_nan.setflags(write=False)
    assert not DepthMap(everything_nan, kind="metric").valid.any()


@pytest.mark.parametrize("kind", ["metric", "disparity"])
def test_non_positive_and_non_finite_are_invalid_for_metric_kinds(kind: str) -> None:
    d = DepthMap(np.array([[1.0, 0.0], [-2.0, np.inf]]), kind=kind)  # type: ignore[arg-type]
    assert d.valid.tolist() == [[True, False], [False, False]]
    assert np.isnan(d.values[0, 1])


def test_relative_keeps_zero_valid() -> None:
    d = DepthMap(np.array([[0.0, 1.0]]), kind="relative")
    assert d.valid.all()


def test_disparity_to_metric_round_trip() -> None:
    disp = np.array([[10.0, 20.0], [40.0, 5.0]], np.float32)
    d = DepthMap(disp, kind="disparity", baseline_m=0.1)
    z = d.to_metric(focal_px=500.0)
    assert z.kind == "metric" and z.units == "m"
    np.testing.assert_allclose(z.values, 500.0 * 0.1 / disp, rtol=1e-6)
    back = 500.0 * 0.1 / z.values
    np.testing.assert_allclose(back, disp, rtol=1e-6)
    # the Python names first (user trial 7: the library's errors named flags only, one of which does not exist)
    with pytest.raises(ValidationError, match=r"^focal_px: needed .* \(focal_px=, or the map's intrinsics; --fx"):
        d.to_metric()
    with pytest.raises(ValidationError, match=r"^baseline_m: needed .* \(baseline_m=; --baseline-m\)"):
        DepthMap(disp, kind="disparity").to_metric(focal_px=500.0)


def test_relative_cannot_become_metric_without_alignment() -> None:
    with pytest.raises(ValidationError, match=r"align it .* \(process\.align_to_points or align_to_depth;"):
        DepthMap(np.ones((2, 2)), kind="relative").to_metric(focal_px=1.0, baseline_m=1.0)


def test_bad_kind_and_shape_name_the_parameter() -> None:
    with pytest.raises(ValidationError, match="kind"):
        DepthMap(np.ones((2, 2)), kind="depth")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="values"):
        DepthMap(np.ones((2, 2, 3)))
    assert issubclass(ValidationError, DepthforgeError)


def test_intrinsics_must_match_size() -> None:
    intr = Intrinsics.from_fov((6, 8), fov_deg=60)
    DepthMap(np.ones((6, 8)), intrinsics=intr)
    with pytest.raises(ValidationError, match="intrinsics"):
        DepthMap(np.ones((5, 8)), intrinsics=intr)


def test_intrinsics_scaling_keeps_the_field_of_view_and_pixel_centres() -> None:
    intr = Intrinsics.from_fov((480, 640), fov_deg=70)
    half = intr.scaled((240, 320))
    assert half.hfov_deg == pytest.approx(70.0)
    # the image centre stays the image centre
    assert half.cx == pytest.approx((320 - 1) / 2) and half.cy == pytest.approx((240 - 1) / 2)
    assert intr.scaled((480, 640)) == intr


def test_with_values_rescales_intrinsics() -> None:
    d = DepthMap(np.ones((6, 8)), kind="metric", intrinsics=Intrinsics.from_fov((6, 8), fov_deg=60))
    small = d.with_values(np.ones((3, 4), np.float32))
    assert small.intrinsics is not None and (small.intrinsics.width, small.intrinsics.height) == (4, 3)


def test_validation_messages_show_expected_and_actual() -> None:
    with pytest.raises(ValidationError, match=r"image: expected 3 dimensions, got shape \(2, 2\)"):
        check_array(np.zeros((2, 2)), "image", ndim=3)
    with pytest.raises(ValidationError, match="divergence"):
        check_range(-1, "divergence", low=0)
    with pytest.raises(ValidationError, match="fx"):
        Intrinsics(0.0, 1.0, 0.0, 0.0, 4, 4)


@pytest.mark.parametrize("adopted", [True, False])
def test_value_range_is_the_valid_min_max_and_follows_new_values(adopted: bool) -> None:
    """value_range: NaN-skipping min and max, the same whether the array was adopted (range found while checking
    it) or copied (found on first use), on a megapixel map; a map made with new values gets their range, and a map
    with no valid value gives (NaN, NaN)."""
    rng = np.random.default_rng(0)
    v = rng.normal(size=(1100, 1000)).astype(np.float32)
    v[rng.random(v.shape) < 0.1] = np.nan
    v[5, 7] = 50.0
    v[900, 3] = -40.0
    if adopted:
        v.setflags(write=False)
    d = DepthMap(v)
    assert np.shares_memory(d.values, v) == adopted
    assert d.value_range() == (-40.0, 50.0) == (float(np.nanmin(v)), float(np.nanmax(v)))
    assert d.with_values(np.array([[3.0, np.nan, 4.0]], np.float32)).value_range() == (3.0, 4.0)
    lo, hi = DepthMap(np.full((2, 2), np.nan, np.float32)).value_range()
    assert np.isnan(lo) and np.isnan(hi)
