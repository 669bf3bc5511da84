"""Fusion of segmentation and depth: the acceptance scenes (each single cue fails on one), prompts from depth,
the fused trimap, and the background pushed to the far value."""

from __future__ import annotations

import numpy as np
import pytest

from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import ValidationError
from depthforge.models.simulated_segmentation import SCENES, colour_model, segmentation_scene
from depthforge.render.fusion import depth_prompts, depth_without_background, fuse_segmentation
from depthforge.render.masks import depth_mask


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def scores(name: str) -> dict[str, float]:
    image, inverse, truth = segmentation_scene(name)
    depth = DepthMap(inverse, kind="relative")
    probability = colour_model(image)
    fused = fuse_segmentation(depth, probability)
    return {
        "depth": iou(depth_mask(depth), truth),
        "colour": iou(probability >= 0.5, truth),
        "fused": iou(fused.mask, truth),
    }


def test_fused_beats_each_failing_source():
    same_depth, same_colour = scores("same_depth"), scores("same_colour")
    assert same_depth["depth"] < 0.5 and same_colour["colour"] < 0.8  # each single cue fails on its scene
    assert same_depth["fused"] > same_depth["depth"] and same_colour["fused"] > same_colour["colour"]
    assert same_depth["fused"] >= 0.95 and same_colour["fused"] >= 0.95


def test_fused_trimap_and_inputs_unchanged():
    image, inverse, truth = segmentation_scene("same_colour")
    depth = DepthMap(inverse, kind="relative")
    probability = colour_model(image)
    before = probability.copy(), inverse.copy()
    fused = fuse_segmentation(depth, probability, band_px=3)
    np.testing.assert_array_equal(probability, before[0])
    np.testing.assert_array_equal(inverse, before[1])
    assert fused.split is not None and 0.5 < fused.split < 2.0
    assert fused.alpha.dtype == np.float32 and 0 <= fused.alpha.min() and fused.alpha.max() <= 1
    assert set(np.unique(fused.trimap)) <= {0, 128, 255}
    assert (fused.trimap[fused.mask] > 0).all()  # foreground is never sure background
    sure = fused.trimap == 255
    assert truth[sure].all() and not truth[fused.trimap == 0].any()
    assert fused.alpha[~fused.mask].max() < 0.5


def test_one_band_keeps_the_segmentation():
    """An object with a continuous depth extent (a ramp) is not cut by depth."""
    h, w = 80, 100
    probability = np.zeros((h, w), np.float32)
    probability[10:70, 20:80] = 1.0
    inverse = np.tile(np.linspace(0.2, 3.0, h, dtype=np.float32)[:, None], (1, w))
    fused = fuse_segmentation(DepthMap(inverse, kind="relative"), probability)
    assert fused.split is None and np.array_equal(fused.mask, probability >= 0.5)


def test_prompts_from_depth():
    _image, inverse, truth = segmentation_scene("same_colour")
    depth = DepthMap(inverse, kind="relative")
    prompt = depth_prompts(depth)
    x0, y0, x1, y1 = prompt.box_xyxy
    ys, xs = np.nonzero(truth)
    assert x0 <= xs.min() and y0 <= ys.min() and x1 >= xs.max() and y1 >= ys.max()
    assert (x1 - x0) * (y1 - y0) < 0.5 * truth.size  # the figure, not the scene
    (px, py), (nx, ny) = prompt.points_xy
    assert prompt.point_labels == (1, 0)
    assert truth[round(py), round(px)] and not truth[round(ny), round(nx)]
    clicked = depth_prompts(depth, click_xy=(77, 82))
    assert clicked.point_labels == (1, 1, 0) and iou(clicked.band, truth) > 0.9
    with pytest.raises(ValidationError, match="click_xy"):
        depth_prompts(depth, click_xy=(999, 5))


@pytest.mark.parametrize("kind", ["relative", "metric"])
def test_depth_without_background(kind):
    rng = np.random.default_rng(0)
    values = rng.uniform(1.0, 5.0, (40, 50)).astype(np.float32)
    alpha = np.zeros((40, 50), np.float32)
    alpha[5:30, 10:40] = 1.0
    depth = DepthMap(values, kind=kind)
    kept = depth.values.copy()
    out = depth_without_background(depth, alpha)
    fg = alpha >= 0.5
    np.testing.assert_array_equal(out.values[fg], values[fg])
    far = values[fg].max() if kind == "metric" else values[fg].min()
    assert (out.values[~fg] == far).all() and out.kind == kind
    np.testing.assert_array_equal(depth.values, kept)  # input untouched


@pytest.mark.parametrize("name", SCENES)
def test_scenes_are_deterministic(name):
    a, b = segmentation_scene(name), segmentation_scene(name)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
