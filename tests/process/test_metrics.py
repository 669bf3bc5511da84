"""Metrics: perfect scores on identical maps, agreement with an independent numpy computation."""

from __future__ import annotations

import numpy as np
import pytest

from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import ValidationError
from depthforge.process.metrics import depth_metrics, disparity_metrics, evaluate
from tests.conftest import cones_disparity


def reference_depth_metrics(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """Textbook definitions, written independently of the library."""
    ok = np.isfinite(gt) & np.isfinite(pred) & (gt > 0) & (pred > 0)
    p, g = pred[ok], gt[ok]
    thresh = np.maximum(p / g, g / p)
    return {
        "abs_rel": np.mean(np.abs(g - p) / g),
        "sq_rel": np.mean(((g - p) ** 2) / g),
        "rmse": np.sqrt(np.mean((g - p) ** 2)),
        "rmse_log": np.sqrt(np.mean((np.log(g) - np.log(p)) ** 2)),
        "delta1": np.mean(thresh < 1.25),
        "delta2": np.mean(thresh < 1.25**2),
        "delta3": np.mean(thresh < 1.25**3),
    }


def reference_disparity_metrics(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    known = np.isfinite(gt) & (gt > 0)
    e = np.abs(pred[known] - gt[known])
    missing = ~np.isfinite(e)
    return {
        "bad1": 100 * np.mean(missing | (e > 1)),
        "bad2": 100 * np.mean(missing | (e > 2)),
        "bad4": 100 * np.mean(missing | (e > 4)),
        "epe": np.mean(e[~missing]),
    }


def test_identical_maps_score_perfectly() -> None:
    g = np.random.default_rng(0).uniform(1.0, 10.0, (30, 40))
    m = depth_metrics(g, g)
    assert m["abs_rel"] == m["sq_rel"] == m["rmse"] == m["rmse_log"] == 0.0
    assert m["delta1"] == m["delta2"] == m["delta3"] == 1.0 and m["coverage"] == 1.0


def test_depth_metrics_match_numpy() -> None:
    rng = np.random.default_rng(1)
    g = rng.uniform(0.5, 20.0, (50, 60))
    g[rng.random(g.shape) < 0.1] = np.nan
    p = g * rng.lognormal(0.0, 0.2, g.shape)
    p[rng.random(g.shape) < 0.05] = np.nan
    ours = depth_metrics(p, g)
    ref = reference_depth_metrics(p, g)
    for k, v in ref.items():
        assert ours[k] == pytest.approx(v, rel=1e-12), k
    known = np.isfinite(g)
    assert ours["coverage"] == pytest.approx(np.mean(np.isfinite(p[known])))


def test_relative_prediction_is_aligned_in_inverse_depth() -> None:
    rng = np.random.default_rng(2)
    z = rng.uniform(1.0, 8.0, (40, 50)).astype(np.float32)
    rel = (3.0 / z + 0.4).astype(np.float32)  # an affine function of inverse depth
    m = evaluate(DepthMap(rel, kind="relative"), DepthMap(z, kind="metric"))
    assert m["align"] == "scale-shift"
    assert m["abs_rel"] < 1e-5 and m["delta1"] == 1.0
    assert m["alignment"]["scale"] == pytest.approx(1 / 3.0, rel=1e-5)
    with pytest.raises(ValidationError, match="align"):
        evaluate(DepthMap(rel, kind="relative"), DepthMap(z, kind="metric"), align="none")
    with pytest.raises(ValidationError, match="gt"):
        evaluate(DepthMap(rel), DepthMap(rel))
    # plain arrays take their kinds by keyword, as kind= elsewhere (user trial 5: an AttributeError before)
    assert evaluate(rel, z, pred_kind="relative", gt_kind="metric")["abs_rel"] == pytest.approx(m["abs_rel"])
    with pytest.raises(ValidationError, match="^pred_kind: an array as pred needs pred_kind="):
        evaluate(rel, DepthMap(z, kind="metric"))


@pytest.mark.data
def test_cones_against_itself_and_with_noise(cones) -> None:  # type: ignore[no-untyped-def]
    gt = cones_disparity(cones)
    g = DepthMap(gt, kind="disparity")
    m = evaluate(g, g)
    assert m["abs_rel"] == 0 and m["rmse"] == 0 and m["epe"] == 0 and m["bad1"] == 0 and m["delta1"] == 1
    rng = np.random.default_rng(3)
    noisy = (gt + rng.normal(0.0, 1.5, gt.shape)).astype(np.float32)
    noisy[rng.random(gt.shape) < 0.02] = np.nan
    m = evaluate(DepthMap(noisy, kind="disparity"), g)
    p = DepthMap(noisy, kind="disparity").values.astype(np.float64)  # (<= 0 becomes invalid, like any disparity)
    ref = {**reference_depth_metrics(1.0 / p, 1.0 / gt.astype(np.float64)), **reference_disparity_metrics(p, gt)}
    for k, v in ref.items():
        assert m[k] == pytest.approx(v, rel=1e-6), k
    assert disparity_metrics(p, gt)["bad2"] == pytest.approx(ref["bad2"])
