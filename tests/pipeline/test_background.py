"""Foreground by every method through one entry point, and depth estimated with the background removed first."""

from __future__ import annotations

import numpy as np
import pytest

from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import ValidationError
from depthforge.models.callable import CallableEstimator
from depthforge.models.simulated import coordinate_image, simulated_model
from depthforge.models.simulated_segmentation import segmentation_scene
from depthforge.pipeline.background import MaskOptions, estimate_without_background, foreground, needs_depth


def _ellipse(h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return ((x - 0.5 * w) / (0.3 * w)) ** 2 + ((y - 0.5 * h) / (0.35 * h)) ** 2 <= 1


def test_background_removed_before_estimation_is_far_and_foreground_kept():
    h, w = 96, 128
    truth = np.fromfunction(lambda y, x: 0.3 + 0.5 * y / h + 0.2 * np.sin(x / 9.0), (h, w))
    alpha = _ellipse(h, w).astype(np.float32)
    model = CallableEstimator(simulated_model(truth, native_px=None, seed=1), name="simulated")
    image = coordinate_image((h, w))
    plain = model.predict(image)
    cut = estimate_without_background(image, alpha, model=model)
    fg = alpha >= 0.5
    assert cut.kind == plain.kind and cut.values.shape == (h, w)
    assert (cut.values[~fg] == cut.values[fg].min()).all()  # background at the far value (relative: smallest)
    # foreground = the plain estimate up to the relative model's own deviation (its unknown scale and shift)
    a = np.stack([plain.values[fg], np.ones(int(fg.sum()))], axis=1)
    coef, *_ = np.linalg.lstsq(a, cut.values[fg], rcond=None)
    residual = np.abs(a @ coef - cut.values[fg]).max() / np.ptp(cut.values[fg])
    assert residual < 1e-4 and coef[0] > 0


def test_fused_and_rembg_methods_need_what_they_need():
    assert needs_depth(MaskOptions(method="fused")) and not needs_depth(MaskOptions(method="rembg:u2net"))
    with pytest.raises(ValidationError, match="method"):
        needs_depth(MaskOptions(method="rembg:"))
    with pytest.raises(ValidationError, match="method"):
        foreground(np.zeros((8, 8, 3), np.uint8), None, MaskOptions(method="colour"))
    with pytest.raises(ValidationError, match="needs a depth map"):
        foreground(np.zeros((8, 8, 3), np.uint8), None, MaskOptions(method="sam"))
    with pytest.raises(ValidationError, match="segmenter"):
        image, inverse, _ = segmentation_scene("same_colour", size_hw=(48, 64))
        foreground(image, DepthMap(inverse, kind="relative"), MaskOptions(method="fused", segmenter="depth"))


def test_depth_method_matches_the_mask_module():
    from depthforge.render.masks import foreground_alpha

    image, inverse, _ = segmentation_scene("same_colour", size_hw=(48, 64))
    depth = DepthMap(inverse, kind="relative")
    np.testing.assert_array_equal(foreground(image, depth), foreground_alpha(depth, image=image))


def test_batch_mask_and_cutout_from_a_segmentation_model(tmp_path, monkeypatch):
    """Batch outputs ``mask`` and ``cutout`` share one segmentation (rembg's custom path, a tiny ONNX model)."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from PIL import Image as PILImage

    from depthforge.models.rembg_backend import build_red_channel_onnx as red_channel_model
    from depthforge.models.testing import build_depth_anything
    from depthforge.pipeline.batch import BatchJob, run_batch
    from depthforge.pipeline.producers import BatchOptions

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    image = np.full((48, 64, 3), 40, np.uint8)
    image[10:40, 20:50, 0] = 230
    PILImage.fromarray(image).save(src / "a.png")
    options = BatchOptions(mask_source="rembg:u2net_custom", mask_seg_file=str(red_channel_model(tmp_path / "r.onnx")))
    job = BatchJob(
        src, out, outputs=("mask", "cutout"), model=str(build_depth_anything(tmp_path / "da")), options=options
    )
    summary = run_batch(job)
    assert summary.failed == 0
    mask = np.asarray(PILImage.open(out / "a_mask.png")) >= 128
    rgba = np.asarray(PILImage.open(out / "a_cutout.png"))
    truth = np.zeros((48, 64), bool)
    truth[10:40, 20:50] = True
    assert (mask == truth).mean() > 0.98 and np.array_equal(rgba[:, :, 3] >= 128, mask)
    np.testing.assert_array_equal(rgba[:, :, :3], image)
