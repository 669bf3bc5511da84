"""``depthforge eval``: perfect on identical maps, matches numpy with noise, clean errors on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from depthforge.cli.main import main
from depthforge.core.depthmap import DepthMap
from depthforge.io.depthfiles import write_depth
from tests.conftest import cones_disparity

GT_OPTS = ["--gt-kind", "disparity", "--gt-scale", "0.25"]
KEYS = ("abs_rel", "sq_rel", "rmse", "rmse_log", "delta1", "delta2", "delta3", "bad1", "bad2", "bad4", "epe")


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, float]:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.data
def test_cones_ground_truth_against_itself_is_perfect(cones: Path, capsys: pytest.CaptureFixture[str]) -> None:
    disp = str(cones / "disp2.png")
    m = _json(capsys, ["eval", disp, disp, "--pred-kind", "disparity", "--pred-scale", "0.25", *GT_OPTS, "--json"])
    assert set(KEYS) <= set(m)
    assert m["abs_rel"] == m["sq_rel"] == m["rmse"] == m["rmse_log"] == 0.0
    assert m["delta1"] == m["delta2"] == m["delta3"] == 1.0
    assert m["bad1"] == m["bad2"] == m["bad4"] == m["epe"] == 0.0
    # The table form prints the same figures.
    assert main(["eval", disp, disp, "--pred-kind", "disparity", "--pred-scale", "0.25", *GT_OPTS]) == 0
    assert "bad-2 (%)        0.0000" in capsys.readouterr().out


@pytest.mark.data
def test_cones_with_noise_matches_numpy(cones: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt = cones_disparity(cones).astype(np.float64)
    rng = np.random.default_rng(7)
    noisy = (gt + rng.normal(0.0, 1.5, gt.shape)).astype(np.float32)
    noisy[np.isnan(gt)] = 20.0  # predictions exist where the ground truth does not; they must be ignored
    noisy[rng.random(gt.shape) < 0.03] = np.nan  # missing estimates
    pred_file = write_depth(tmp_path / "pred.npy", DepthMap(noisy, kind="disparity"))
    m = _json(capsys, ["eval", str(pred_file), str(cones / "disp2.png"), *GT_OPTS, "--json"])

    # Independent computation: depth metrics on z = 1/d, disparity metrics on d, only where gt is known.
    p = noisy.astype(np.float64)
    p[p <= 0] = np.nan  # a disparity <= 0 is no estimate
    known = np.isfinite(gt)
    both = known & np.isfinite(p)
    zp, zg = 1.0 / p[both], 1.0 / gt[both]
    ratio = np.maximum(zp / zg, zg / zp)
    err = np.abs(p[known] - gt[known])
    bad = lambda t: 100.0 * np.mean(np.isnan(err) | (err > t))  # noqa: E731
    expected = {
        "abs_rel": np.mean(np.abs(zp - zg) / zg),
        "sq_rel": np.mean((zp - zg) ** 2 / zg),
        "rmse": np.sqrt(np.mean((zp - zg) ** 2)),
        "rmse_log": np.sqrt(np.mean((np.log(zp) - np.log(zg)) ** 2)),
        "delta1": np.mean(ratio < 1.25),
        "delta2": np.mean(ratio < 1.5625),
        "delta3": np.mean(ratio < 1.953125),
        "bad1": bad(1.0),
        "bad2": bad(2.0),
        "bad4": bad(4.0),
        "epe": np.nanmean(err),
    }
    for k, v in expected.items():
        assert m[k] == pytest.approx(v, rel=1e-6), k
    assert m["n_pixels"] == both.sum()


@pytest.mark.data
def test_relative_prediction_aligned_and_mask(cones: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt = cones_disparity(cones)
    rel = (0.02 * gt - 0.3).astype(np.float32)  # what a relative model could say: affine in disparity
    pred = write_depth(tmp_path / "rel.tiff", DepthMap(rel, kind="relative"))
    m = _json(capsys, ["eval", str(pred), str(cones / "disp2.png"), *GT_OPTS, "--json"])
    assert m["align"] == "scale-shift" and m["epe"] < 1e-3 and m["bad1"] == 0.0
    from PIL import Image

    mask = np.zeros(gt.shape, np.uint8)
    mask[:, : gt.shape[1] // 2] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    m2 = _json(
        capsys, ["eval", str(pred), str(cones / "disp2.png"), *GT_OPTS, "--mask", str(tmp_path / "mask.png"), "--json"]
    )
    assert m2["n_pixels"] == np.isfinite(gt[:, : gt.shape[1] // 2]).sum()


def test_bad_inputs_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write_depth(tmp_path / "a.npy", DepthMap(np.ones((8, 10), np.float32) * 3, kind="metric"))
    rel = write_depth(tmp_path / "r.npy", DepthMap(np.ones((8, 10), np.float32)))
    (tmp_path / "bad.png").write_bytes(b"not an image at all")
    from PIL import Image

    Image.fromarray(np.zeros((3, 3), np.uint8)).save(tmp_path / "small_mask.png")
    cases = [
        ["eval", str(tmp_path / "missing.npy"), str(good)],
        ["eval", str(good), str(tmp_path / "bad.png"), "--gt-kind", "metric"],
        ["eval", str(good), str(rel)],  # ground truth that does not say what it is
        ["eval", str(good), str(good), "--mask", str(tmp_path / "small_mask.png")],
        ["eval", str(rel), str(good), "--align", "none"],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("depthforge: error:") and err.count("\n") == 1, err
