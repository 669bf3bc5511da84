"""Alignment: exact recovery of scale and shift, robustness to outliers, known points and reference maps."""

from __future__ import annotations

import numpy as np
import pytest

from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import ValidationError
from depthforge.process.align import align_to_depth, align_to_points, fit_scale_shift, tukey_fit

SCALE, SHIFT = 0.37, 0.052  # 1/z = SCALE * relative + SHIFT


def _scene(h: int = 90, w: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """Metric depth of a tilted plane plus a box (1.2 .. 6 m) and the relative map a model would give."""
    y, x = np.mgrid[0:h, 0:w]
    z = 1.5 + 4.0 * y / h + 0.5 * x / w
    z[20:50, 30:70] = 1.2
    rel = (1.0 / z - SHIFT) / SCALE
    return z, rel


@pytest.mark.parametrize("fit", ["scale", "scale-shift"])
@pytest.mark.parametrize("robust", [False, True])
def test_exact_recovery_on_synthetic_data(fit: str, robust: bool) -> None:
    z, rel = _scene()
    shift = SHIFT if fit == "scale-shift" else 0.0
    target = 1.0 / (1.0 / z - SHIFT + shift)  # scale-only data has no shift
    al = fit_scale_shift(rel, 1.0 / target, fit=fit, robust=robust)
    assert abs(al.scale - SCALE) < 1e-5 * SCALE
    assert abs(al.shift - shift) < 1e-5
    assert al.rms < 1e-9 and al.abs_rel < 1e-9


def test_ten_percent_outliers_move_the_fit_less_than_one_percent() -> None:
    z, rel = _scene()
    rng = np.random.default_rng(0)
    inv = 1.0 / z * (1.0 + rng.normal(0.0, 0.01, z.shape))  # 1 % noise everywhere
    bad = rng.random(z.shape) < 0.10
    inv[bad] = rng.uniform(0.05, 2.0, bad.sum())  # 10 % wild values
    al = fit_scale_shift(rel, inv)
    assert abs(al.scale / SCALE - 1.0) < 0.01
    assert abs(al.shift / SHIFT - 1.0) < 0.01
    assert 0.85 < al.n_inliers / al.n_points < 0.95
    plain = fit_scale_shift(rel, inv, robust=False)
    assert abs(plain.scale / SCALE - 1.0) > 0.05  # the outliers do matter without robustness


def test_known_points_give_a_metric_map() -> None:
    z, rel = _scene()
    dm = DepthMap(rel.astype(np.float32), kind="relative", model="m")
    pts = [(10, 80, z[80, 10]), (100, 5, z[5, 100]), (50, 30, z[30, 50])]
    out, al = align_to_points(dm, pts)
    assert out.kind == "metric" and out.meta["alignment"]["fit"] == "scale-shift"
    np.testing.assert_allclose(out.values, z, rtol=1e-5)
    assert al.n_points == 3
    one, al1 = align_to_points(dm, pts[:1])
    assert al1.fit == "scale" and abs(one.values[80, 10] - z[80, 10]) < 1e-5


def test_points_that_contradict_the_maps_order_are_refused() -> None:
    """A user trial's three points gave scale -0.48: the map turned inside out (9 km maxima, NaN). Now one line."""
    z, rel = _scene()
    dm = DepthMap(rel.astype(np.float32), kind="relative")
    near, far = (50, 30), (10, 80)  # the box at 1.2 m and the far end of the plane
    swapped = [(*near, z[far[1], far[0]]), (*far, z[near[1], near[0]])]
    with pytest.raises(ValidationError, match="near/far order"):
        align_to_points(dm, swapped)


def test_partial_reference_map() -> None:
    z, rel = _scene()
    sparse = np.full(z.shape, np.nan, dtype=np.float32)
    rng = np.random.default_rng(5)
    pick = rng.random(z.shape) < 0.03  # a LiDAR-like 3 % of pixels
    sparse[pick] = z[pick]
    out, al = align_to_depth(DepthMap(rel.astype(np.float32)), DepthMap(sparse, kind="metric"))
    np.testing.assert_allclose(out.values, z, rtol=1e-4)
    assert al.n_points == pick.sum()


def test_disparity_reference_gives_disparity() -> None:
    z, rel = _scene()
    disp = (60.0 / z).astype(np.float32)
    out, al = align_to_depth(DepthMap(rel.astype(np.float32)), DepthMap(disp, kind="disparity"))
    assert out.kind == "disparity"
    np.testing.assert_allclose(out.values, disp, rtol=1e-4)
    assert al.units == "px" and " px, mean relative depth error" in al.line()  # user trial 7: not "inverse depth"
    # a plain array as the reference, with its kind (user trial 7: an AttributeError)
    same, al2 = align_to_depth(rel.astype(np.float32), disp, kind="relative", reference_kind="disparity")
    np.testing.assert_array_equal(same.values, out.values)
    assert al2 == al
    with pytest.raises(ValidationError, match="^reference_kind: an array as reference needs reference_kind="):
        align_to_depth(out, disp)
    with pytest.raises(ValidationError, match="^reference_kind: 'metric' given for a disparity DepthMap"):
        align_to_depth(out, out, reference_kind="metric")
    metric = align_to_depth(out, (60.0 / disp).astype(np.float32), reference_kind="metric")[1]
    assert metric.units == "1/m" and " 1/m, mean" in metric.line()


def test_bad_alignment_input() -> None:
    _, rel = _scene()
    dm = DepthMap(rel.astype(np.float32))
    with pytest.raises(ValidationError, match="outside"):
        align_to_points(dm, [(500, 1, 2.0)])
    with pytest.raises(ValidationError, match="metres"):
        align_to_points(dm, [(5, 1, -2.0)])
    with pytest.raises(ValidationError, match="^points: a scale-shift fit needs at least 2"):
        align_to_points(dm, [(5, 1, 2.0)], fit="scale-shift")
    with pytest.raises(ValidationError, match="equal"):
        fit_scale_shift(np.ones(10), np.arange(1.0, 11.0))
    with pytest.raises(ValidationError, match="reference"):
        align_to_depth(dm, dm)


def test_fit_errors_name_the_callers_parameters() -> None:
    """The fit's own names (``source``, ``target``) are not the caller's: the errors name ``points``/``reference``."""
    flat = DepthMap(np.ones((20, 20), np.float32))
    with pytest.raises(ValidationError, match="^points: the depth map has one value at every known point"):
        align_to_points(flat, [(1, 1, 2.0), (5, 5, 3.0)])
    unknown = DepthMap(np.full((20, 20), np.nan, np.float32), kind="metric")
    with pytest.raises(ValidationError, match="^reference: a scale-shift fit needs at least 2 usable point"):
        align_to_depth(flat, unknown)
    assert align_to_points(flat, [(1, 1, 2.0), (5, 5, 3.0)], fit="scale")[0].kind == "metric"
    with pytest.raises(ValidationError, match="^fit: "):  # review: the caller's own names stay
        align_to_points(flat, [(1, 1, 2.0), (5, 5, 3.0)], fit="bogus")


def test_tukey_fit_gives_a_robust_location_and_keeps_its_start_on_exact_data() -> None:
    rng = np.random.default_rng(2)
    y = 5.0 + rng.normal(0.0, 0.01, 1000)
    y[:300] += rng.uniform(1.0, 50.0, 300)  # 30 % gross outliers, all on one side
    ones = np.ones_like(y)
    loc, shift, inliers = tukey_fit(ones, y, ones, fit="scale", start=(float(np.median(y)), 0.0))
    assert loc == pytest.approx(5.0, abs=2e-3) and shift == 0.0 and not inliers[:300].any()
    x = np.arange(10.0)
    s, t, _ = tukey_fit(x, 3.0 * x + 1.0, np.ones(10), fit="scale-shift", start=(3.0, 1.0))
    assert (s, t) == (3.0, 1.0)
