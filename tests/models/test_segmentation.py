"""Matting models: registry facts, preprocessing parity with transformers, a tiny random ViTMatte end to end."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from depthforge.core.errors import ModelError, ModelNotAvailableError
from depthforge.models.segmentation import (
    DEFAULT_MATTING_MODEL,
    MATTING_REGISTRY,
    MattingModel,
    build_tiny_vitmatte,
    load_matting_model,
    prepare_matting,
    resolve_matting_model,
)


@pytest.fixture(scope="module")
def tiny_vitmatte(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_vitmatte(tmp_path_factory.mktemp("matting") / "vitmatte")


@pytest.mark.parametrize("name", sorted(MATTING_REGISTRY))
def test_registry_entries_are_complete(name):
    spec = MATTING_REGISTRY[name]
    assert spec.name == name and spec.hub_id.count("/") == 1
    assert spec.licence and spec.multiple == 32 and spec.params_millions > 0
    assert len(spec.mean) == 3 and len(spec.std) == 3 and min(spec.std) > 0
    assert resolve_matting_model(spec.hub_id)[0] is spec
    assert DEFAULT_MATTING_MODEL in MATTING_REGISTRY


def _inputs(h: int = 50, w: int = 70) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    tri = np.zeros((h, w), np.uint8)
    tri[10:40, 15:55] = 128
    tri[18:32, 25:45] = 255
    return img, tri


def test_preprocessing_matches_transformers(tiny_vitmatte):
    from transformers import AutoImageProcessor

    img, tri = _inputs()
    spec, _, is_local = resolve_matting_model(str(tiny_vitmatte))
    assert is_local and spec.multiple == 32
    ours = prepare_matting(img, tri, spec)
    ref = AutoImageProcessor.from_pretrained(tiny_vitmatte)(images=img, trimaps=tri, return_tensors="np")
    assert ours.shape == ref["pixel_values"][0].shape == (4, 64, 96)
    np.testing.assert_allclose(ours, ref["pixel_values"][0], atol=1e-5)


def test_tiny_model_predicts_alpha(tiny_vitmatte):
    import torch
    from transformers import AutoModelForImageMatting

    img, tri = _inputs()
    model = load_matting_model(str(tiny_vitmatte), device="cpu")
    alpha = model.predict(img, tri)
    assert alpha.shape == tri.shape and alpha.dtype == np.float32
    assert alpha.min() >= 0 and alpha.max() <= 1
    assert np.all(alpha[tri == 255] == 1) and np.all(alpha[tri == 0] == 0)
    ref_model = AutoModelForImageMatting.from_pretrained(tiny_vitmatte).eval()
    x = torch.from_numpy(prepare_matting(img, tri, model.spec)[None])
    with torch.inference_mode():
        ref = ref_model(pixel_values=x).alphas[0, 0, :50, :70].numpy()
    band = tri == 128
    np.testing.assert_allclose(alpha[band], np.clip(ref[band], 0, 1), atol=1e-5)
    # large images run at reduced size and come back at full size
    small = MattingModel.__new__(MattingModel)
    small.__dict__.update(model.__dict__)
    small.spec = replace(model.spec, max_side=32)
    assert small.predict(img, tri).shape == tri.shape


def test_unknown_and_wrong_models(tmp_path, monkeypatch):
    with pytest.raises(ModelError, match="not in the registry"):
        resolve_matting_model("no-such-matting-model")
    (tmp_path / "config.json").write_text('{"model_type": "depth_anything"}')
    with pytest.raises(ModelError, match="not a matting model"):
        resolve_matting_model(str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotAvailableError, match="not cached"):
        load_matting_model("nobody-x9/not-a-real-matting-model", device="cpu")


def test_uncached_matting_model_offline_is_one_line_naming_matting_model(hub_unavailable, no_download):
    """Offline or unreachable: the one-line error at once, naming --matting-model, and the hub client never asked
    (before, huggingface_hub retried for about 30 s and the message named --model)."""
    import transformers

    no_download(transformers.AutoModelForImageMatting)
    for name in (DEFAULT_MATTING_MODEL, "nobody-x9/not-a-real-matting-model"):
        with pytest.raises(ModelNotAvailableError) as info:
            load_matting_model(name, device="cpu")
        message = str(info.value)
        assert "\n" not in message and f"'{name}' is not cached" in message
        assert message.endswith("pass a local folder with --matting-model PATH")
