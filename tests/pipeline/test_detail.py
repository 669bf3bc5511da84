"""High-resolution detail (issue 20): quality on simulated models of known scenes, and the plumbing on real
(tiny, random) models of every family."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import ValidationError
from depthforge.models.callable import CallableEstimator
from depthforge.models.simulated import coordinate_image, simulated_model, synthetic_scene
from depthforge.pipeline.detail import estimate_detailed, parse_detail, plan_tiles
from depthforge.pipeline.estimation import estimate
from depthforge.process.metrics import evaluate, flat_region_rmse
from tests.conftest import cones_disparity


def _filled(disparity: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    known = np.isfinite(disparity)
    idx = ndimage.distance_transform_edt(~known, return_distances=False, return_indices=True)
    return np.asarray(disparity[tuple(idx)], dtype=np.float64)


def _scores(depth: DepthMap, gt: np.ndarray) -> dict[str, float]:
    m = evaluate(depth, DepthMap(gt.astype(np.float32), kind="disparity"), align="scale-shift")
    return {
        "f1": m["boundary_f1"],
        "abs_rel": m["abs_rel"],
        "flat": flat_region_rmse(depth.values, gt),
        "ordinal": m["ordinal_error"],
    }


def _compare(truth: np.ndarray, gt: np.ndarray, native_px: int, **kwargs: object) -> tuple[dict, dict]:
    image = coordinate_image(truth.shape)
    model = CallableEstimator(simulated_model(truth, native_px=native_px, seed=1), resolution_px=native_px)
    glob = _scores(model.predict(image), gt)
    tiled = _scores(estimate_detailed(image, model, **kwargs), gt)  # type: ignore[arg-type]
    return glob, tiled


def _acceptance(glob: dict, tiled: dict) -> None:
    assert tiled["f1"] >= 3 * glob["f1"], (glob, tiled)
    assert tiled["abs_rel"] <= 1.1 * glob["abs_rel"], (glob, tiled)
    assert tiled["flat"] <= 1.5 * glob["flat"] + 1e-9, (glob, tiled)


@pytest.mark.parametrize("fusion", ["blend", "poisson"])
def test_cones_quarter_resolution_model(cones: Path, fusion: str) -> None:
    gt = cones_disparity(cones)
    truth = _filled(gt)
    glob, tiled = _compare(truth, gt, max(truth.shape) // 4, detail=16, fusion=fusion)
    _acceptance(glob, tiled)
    assert tiled["ordinal"] <= glob["ordinal"]


@pytest.mark.parametrize("fusion", ["blend", "poisson"])
def test_synthetic_scene_quarter_resolution_model(fusion: str) -> None:
    truth = synthetic_scene(1024)
    glob, tiled = _compare(truth, truth, 256, detail=25, fusion=fusion)
    _acceptance(glob, tiled)


def test_without_the_per_tile_fit_global_structure_breaks(cones: Path) -> None:
    gt = cones_disparity(cones)
    truth = _filled(gt)
    glob, tiled = _compare(truth, gt, max(truth.shape) // 4, detail=16, fit_tiles=False)
    assert tiled["flat"] > 1.5 * glob["flat"], (glob, tiled)


@pytest.mark.parametrize("fusion", ["blend", "poisson"])
def test_a_perfect_model_gives_the_truth(fusion: str) -> None:
    truth = synthetic_scene(384, seed=5)
    image = coordinate_image(truth.shape)
    model = CallableEstimator(simulated_model(truth, native_px=None, seed=2))
    fused = estimate_detailed(image, model, detail=9, fusion=fusion).values.astype(np.float64)
    a, b = np.polyfit(fused.ravel(), truth.ravel(), 1)
    assert np.max(np.abs(a * fused + b - truth)) <= 1e-5 * np.max(truth)
    assert model.describe() == {"model": "callable", "kind": "relative", "backend": "callable"}  # no dtype claimed


def test_metric_tiles_are_fitted_by_scale_only() -> None:
    truth = 1.0 / synthetic_scene(256, seed=7)  # metres
    image = coordinate_image(truth.shape)
    rng = np.random.default_rng(0)

    def metric(crop: np.ndarray) -> np.ndarray:
        h, w = crop.shape[:2]
        y0, x0 = int(crop[0, 0, 1]), int(crop[0, 0, 0])
        return (truth[y0 : y0 + h, x0 : x0 + w] * rng.uniform(0.8, 1.2)).astype(np.float32)

    depth = estimate(image, model=metric, model_kind="metric", detail=4)
    assert depth.kind == "metric"
    ratio = depth.values / truth
    assert np.ptp(ratio) <= 1e-4 * np.mean(ratio)  # one scale everywhere: the global pass's


def test_tiles_cover_every_pixel_and_auto_skips_flat_tiles() -> None:
    for detail, size in ((4, (300, 451)), (16, (513, 1025)), (6, (400, 600)), (25, (1024, 1024))):
        grid = plan_tiles(np.zeros((*size, 3), np.uint8), detail=detail, native_hw=(256, 256))
        assert len(grid.tiles) == detail == grid.rows * grid.cols
        covered = np.zeros(size, int)
        for t in grid.tiles:
            covered[t.y0 : t.y1, t.x0 : t.x1] += 1
            assert (t.y1 - t.y0, t.x1 - t.x0) == (
                grid.tiles[0].y1 - grid.tiles[0].y0,
                grid.tiles[0].x1 - grid.tiles[0].x0,
            )
        assert covered.min() >= 1
    assert plan_tiles(np.zeros((400, 600, 3), np.uint8), detail=6, native_hw=(256, 256)).cols == 3
    busy = np.zeros((512, 512, 3), np.uint8)
    busy[:256, :256] = (np.indices((256, 256)).sum(0) % 8 < 4)[..., None] * 255  # edges in one quadrant only
    auto = plan_tiles(busy, detail="auto", native_hw=(256, 256))
    assert (auto.rows, auto.cols) == (2, 2) and len(auto.tiles) == 1
    assert len(plan_tiles(busy, detail="auto", native_hw=(256, 256), skip_flat=False).tiles) == 4


def test_parse_detail() -> None:
    assert parse_detail("off") is None and parse_detail(None) is None
    assert parse_detail("auto") == "auto" and parse_detail("16") == 16
    for bad in ("1", "x", "1000"):
        with pytest.raises(ValidationError, match="detail"):
            parse_detail(bad)


@pytest.mark.parametrize("family", ["depth_anything", "dpt", "zoedepth", "depth_pro"])
def test_real_models_batched_equals_one_by_one_and_deterministic(tiny_models: dict[str, Path], family: str) -> None:
    from skimage import data

    from depthforge.models.estimator import load_model

    est = load_model(str(tiny_models[family]), backend="torch")
    image = np.ascontiguousarray(data.coffee()[:160, :224])
    grid = plan_tiles(image, detail=4, native_hw=est.input_size(image.shape[:2]))
    crops = [image[t.y0 : t.y1, t.x0 : t.x1] for t in grid.tiles]
    for crop in crops:
        h, w = est.input_size(crop.shape[:2])
        assert h > 0 and w > 0 and (est.spec.multiple <= 1 or (h % est.spec.multiple, w % est.spec.multiple) == (0, 0))
    batched = est.predict_batch(crops)
    single = [est.predict(c) for c in crops]
    for b, s in zip(batched, single, strict=True):  # in inverse depth, what the networks output (Depth Pro too)
        inv_b, inv_s = b.inverse_depth(), s.inverse_depth()  # metric z = f / inv: 1e4 m where a random inv is ~0
        np.testing.assert_allclose(inv_b, inv_s, rtol=1e-4, atol=1e-5 * float(np.nanmax(np.abs(inv_s))))
    first = estimate_detailed(image, est, detail=4)
    again = estimate_detailed(image, est, detail=4)
    assert first.shape == image.shape[:2] and first.kind == est.spec.kind
    np.testing.assert_array_equal(first.values, again.values)
    assert first.meta["detail"]["tiles"] == 4


def test_cli_estimate_with_detail(tiny_da: Path, photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from depthforge.cli.main import main
    from depthforge.io.depthfiles import read_depth

    out = tmp_path / "out"
    src = str(photos / "coffee.jpg")
    assert main(["estimate", src, "--model", str(tiny_da), "--detail", "4", "--fusion", "poisson", "-o", str(out)]) == 0
    depth = read_depth(out / "coffee_depth.png")
    assert depth.shape == (400, 600)
    assert main(["estimate", src, "--model", str(tiny_da), "--detail", "many", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "depthforge: error: --detail: expected off, auto or a tile count, got 'many'"


def test_video_with_detail_uses_the_same_tiles_every_frame(tiny_da: Path, tmp_path: Path) -> None:
    from depthforge.cli.main import main
    from depthforge.io.video import probe_video
    from tests.io.test_video import make_clip

    clip = make_clip(tmp_path / "clip.mp4", frames=4)
    out = tmp_path / "out"
    assert main(["estimate", str(clip), "--model", str(tiny_da), "--detail", "auto", "-o", str(out)]) == 0
    assert probe_video(out / "clip_depth.mkv").frame_count == 4
    # the clip's JSON says what made it (user trial 6: backend, dtype and tiling were not recorded)
    made_by = json.loads((out / "clip_depth.json").read_text())["estimator"]
    assert made_by["backend"] == "torch" and made_by["dtype"] == "fp32" and made_by["model"] == tiny_da.name
    assert made_by["detail"] == {"detail": "auto", "tile_overlap": 0.25, "fusion": "blend"}
    # the grid of a video does not depend on the frame's content: flat tiles are not skipped
    flat = np.zeros((64, 96, 3), np.uint8)
    assert len(plan_tiles(flat, detail="auto", native_hw=(32, 48), skip_flat=False).tiles) == 4


def test_batch_with_detail(tiny_da: Path, photos: Path, tmp_path: Path) -> None:
    from depthforge.cli.main import main
    from depthforge.pipeline.batch_work import BatchJob
    from depthforge.pipeline.detail import DetailOptions

    plain = BatchJob(photos, tmp_path / "a", model=str(tiny_da))
    tiled = BatchJob(photos, tmp_path / "a", model=str(tiny_da), detail=DetailOptions(4))
    assert plain.option_hashes() != tiled.option_hashes()  # a detail run does not count plain outputs as done
    assert BatchJob(photos, tmp_path / "a", model=str(tiny_da), detail=None).option_hashes() == plain.option_hashes()
    # detail as estimate() takes it: "off" is no detail, a tile count the default DetailOptions of that count
    assert BatchJob(photos, tmp_path / "a", model=str(tiny_da), detail="off").detail is None
    assert BatchJob(photos, tmp_path / "a", model=str(tiny_da), detail=4).option_hashes() == tiled.option_hashes()
    out = tmp_path / "out"
    args = ["batch", str(photos), "-o", str(out), "--model", str(tiny_da), "--detail", "4", "--workers", "1"]
    assert main(args) == 0
    assert len(list(out.rglob("*_depth.png"))) == len(list(photos.iterdir()))


def test_plain_functions_are_models_in_every_entry_point(tmp_path: Path) -> None:
    """User trial 8: ``estimate_detailed`` and ``run_estimate`` took a function for a registry name or failed with
    an AttributeError, although the README calls any function a model."""
    from PIL import Image as PILImage

    from depthforge.io.depthread import read_depth
    from depthforge.pipeline.estimation import EstimateOptions, run_estimate

    image = coordinate_image((96, 96))

    def function(rgb: np.ndarray) -> np.ndarray:
        return rgb[:, :, 0].astype(np.float32) / 255.0 + 0.5

    wrapped = CallableEstimator(function)
    np.testing.assert_array_equal(
        estimate_detailed(image, function, detail=4).values, estimate_detailed(image, wrapped, detail=4).values
    )
    (tmp_path / "in").mkdir()
    PILImage.fromarray(image).save(tmp_path / "in" / "scene.png")
    summary = run_estimate([tmp_path / "in"], tmp_path / "out", model=function, options=EstimateOptions(format="npy"))
    assert (summary.done, summary.failed) == (1, 0)
    np.testing.assert_array_equal(
        read_depth(tmp_path / "out" / "scene_depth.npy").values, wrapped.predict(image).values
    )
