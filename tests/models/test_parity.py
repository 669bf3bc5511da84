"""Parity of our preprocessing + postprocessing with the reference transformers pipeline (tiny models)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from depthforge.models import load_model
from depthforge.models.preprocess import prepare

TOLERANCE = 0.01  # mean |ours - reference| <= 1 % of mean |reference|


def _photos() -> dict[str, np.ndarray]:
    from skimage import data

    return {
        "square": data.astronaut(),  # 512x512
        "landscape": data.coffee(),  # 400x600
        "portrait": np.ascontiguousarray(np.rot90(data.coffee())),  # 600x400
    }


def _reference(folder: Path) -> tuple[object, object]:
    from transformers import AutoImageProcessor, pipeline

    return pipeline("depth-estimation", model=str(folder), device="cpu"), AutoImageProcessor.from_pretrained(
        str(folder)
    )


def _rel_diff(ours: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(ours - ref).mean() / np.abs(ref).mean())


@pytest.mark.parametrize("family", ["depth_anything", "dpt", "dpt_hybrid"])
def test_prediction_matches_transformers_pipeline(tiny_models: dict[str, Path], family: str) -> None:
    folder = tiny_models[family]
    pipe, processor = _reference(folder)
    est = load_model(str(folder), device="cpu", dtype="fp32")
    for name, photo in _photos().items():
        ref_input = processor(images=Image.fromarray(photo), return_tensors="np")["pixel_values"]  # type: ignore[operator]
        ours_input = prepare(photo, est.spec)
        assert ours_input.shape == ref_input.shape[1:], f"{family}/{name}: input shape"
        # the same resize (Pillow's) and normalisation: equal up to float32 rounding
        np.testing.assert_allclose(ours_input, ref_input[0], rtol=0, atol=1e-5, err_msg=f"{family}/{name}: input")
        ref = pipe(Image.fromarray(photo))["predicted_depth"].numpy()  # type: ignore[operator]
        ours = est.predict_raw(photo)
        assert ours.shape == ref.shape == photo.shape[:2]
        diff = _rel_diff(ours, ref)
        print(f"parity {family} {name} {photo.shape[1]}x{photo.shape[0]}: {100 * diff:.3f} %")
        assert diff <= TOLERANCE, f"{family}/{name}: mean abs difference {100 * diff:.2f} % of the mean"


@pytest.mark.parametrize("family", ["depth_anything", "dpt"])
def test_parity_check_catches_wrong_preprocessing(tiny_models: dict[str, Path], family: str) -> None:
    """The same check fails with BGR input or without normalisation: the tolerance is meaningful."""
    folder = tiny_models[family]
    pipe, _ = _reference(folder)
    est = load_model(str(folder), device="cpu", dtype="fp32")
    photo = _photos()["landscape"]
    ref = pipe(Image.fromarray(photo))["predicted_depth"].numpy()  # type: ignore[operator]
    bgr = est.predict_raw(np.ascontiguousarray(photo[:, :, ::-1]))
    assert _rel_diff(bgr, ref) > TOLERANCE
    unnormalised = replace(est.spec, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    raw, _ = est.backend.forward(prepare(photo, unnormalised)[None])
    assert _rel_diff(est._resize_back(raw[0], photo.shape[:2]), ref) > TOLERANCE
    wrong_size = est.predict_raw(photo, input_size_hw=(518, 518))
    assert _rel_diff(wrong_size, ref) > TOLERANCE
