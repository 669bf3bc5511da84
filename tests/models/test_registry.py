"""The registry: every entry's facts and size rule, and every architecture family through the real loader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from depthforge.core.errors import ModelError
from depthforge.models import REGISTRY, load_model, resolve_model
from depthforge.models.preprocess import model_input_size, prepare

SIZES = [(480, 640), (640, 480), (512, 512), (375, 450), (1080, 1920), (3000, 4000)]


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_entry_is_complete(name: str) -> None:
    spec = REGISTRY[name]
    assert spec.hub_id.count("/") == 1
    assert spec.licence and spec.kind in ("relative", "metric")
    assert len(spec.mean) == 3 and len(spec.std) == 3 and min(spec.std) > 0
    assert spec.params_millions > 0
    assert resolve_model(name).spec is spec or resolve_model(name).spec.name == name
    assert resolve_model(spec.hub_id).spec.name == name  # the hub id resolves to the same entry


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_size_rule_matches_the_transformers_processor(name: str) -> None:
    spec = REGISTRY[name]
    for h, w in SIZES:
        ours = model_input_size((h, w), spec)
        if spec.family == "zoedepth":
            from transformers.models.zoedepth.image_processing_pil_zoedepth import get_resize_output_image_size as zoe

            ref = tuple(
                int(v)
                for v in zoe(np.zeros((3, h, w)), spec.input_size_hw, spec.keep_aspect, spec.multiple, "channels_first")
            )
        elif spec.family == "depth_pro":
            ref = spec.input_size_hw
        elif spec.family == "marigold":
            # diffusers resizes the longer side to processing_resolution (h * res // max(h, w)), then pads to a
            # multiple of 8; we resize each side to the nearest multiple of 8 (the pipeline then keeps that size)
            res = max(spec.input_size_hw)
            exact = (h * res // max(h, w), w * res // max(h, w))
            assert max(ours) == res and all(
                abs(o - e) <= spec.multiple / 2 + 1 for o, e in zip(ours, exact, strict=True)
            ), ours
            ref = ours
        else:
            from transformers.models.dpt.image_processing_pil_dpt import get_resize_output_image_size as dpt

            size = dpt(np.zeros((3, h, w)), spec.input_size_hw, spec.keep_aspect, spec.multiple)
            ref = (size.height, size.width)
        assert ours == ref, (name, (h, w))
        assert ours[0] % spec.multiple == 0 and ours[1] % spec.multiple == 0
        if spec.keep_aspect:
            assert abs(ours[1] / ours[0] - w / h) < 0.1 * w / h


def test_unknown_names_are_model_errors() -> None:
    with pytest.raises(ModelError, match="depth-anything-v7"):
        resolve_model("depth-anything-v7")
    with pytest.raises(ModelError, match="did you mean"):
        resolve_model("small")


def test_folder_without_config_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="config.json"):
        resolve_model(str(tmp_path))


@pytest.mark.parametrize(
    "family,kind",
    [
        ("depth_anything", "relative"),
        ("depth_anything_metric", "metric"),
        ("dpt", "relative"),
        ("dpt_hybrid", "relative"),
        ("zoedepth", "metric"),
        ("depth_pro", "metric"),
    ],
)
def test_every_family_loads_and_predicts(tiny_models: dict[str, Path], family: str, kind: str) -> None:
    est = load_model(str(tiny_models[family]), device="cpu")
    assert est.spec.kind == kind
    assert load_model(str(tiny_models[family]), device="cpu") is est  # cached in-process
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)
    depth = est.predict(image)
    assert depth.kind == kind and depth.shape == (90, 120)
    assert depth.valid.mean() > 0.99
    assert est.input_size((90, 120)) == prepare(image, est.spec).shape[1:]
    if family == "depth_pro":
        assert depth.intrinsics is not None and "fov" in depth.intrinsics.source
    batch = est.predict_batch([image, image[:, ::-1].copy(), image[:60]])
    assert [d.shape for d in batch] == [(90, 120), (90, 120), (60, 120)]
    # Depth Pro's metres are 1 / (a random tiny network's output), and batched convolutions may take other CPU
    # kernels (seen on AVX-512 AMD CPUs): float32 rounding differences come out up to ~1e-3 relative there
    rtol = 2e-3 if family == "depth_pro" else 1e-4
    np.testing.assert_allclose(batch[0].values, depth.values, rtol=rtol, atol=1e-6)


def test_folder_preprocessor_config_overrides_defaults(tiny_models: dict[str, Path]) -> None:
    spec = resolve_model(str(tiny_models["dpt"])).spec
    assert spec.family == "dpt" and spec.input_size_hw == (384, 384) and spec.mean == (0.5, 0.5, 0.5)
    zoe = resolve_model(str(tiny_models["zoedepth"])).spec
    assert zoe.pad_reflect and zoe.kind == "metric"
