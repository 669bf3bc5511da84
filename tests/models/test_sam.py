"""SAM through its real loading path on a tiny SamConfig model, prompted from depth, with no network access."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest

from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import ModelError, ModelNotAvailableError, ValidationError
from depthforge.models.sam import SAM_REGISTRY, build_tiny_sam, load_sam_model, resolve_sam_model
from depthforge.models.simulated_segmentation import segmentation_scene
from depthforge.render.fusion import depth_prompts


@pytest.fixture(scope="module")
def tiny_sam(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_sam(tmp_path_factory.mktemp("sam") / "sam")


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_registry():
    for name, spec in SAM_REGISTRY.items():
        assert spec.name == name and spec.hub_id.startswith("facebook/") and spec.licence == "Apache-2.0"
        assert resolve_sam_model(spec.hub_id)[0] is spec


def test_tiny_sam_prompted_from_depth(tiny_sam, no_network):
    image, inverse, _truth = segmentation_scene("same_colour", size_hw=(96, 128))
    prompt = depth_prompts(DepthMap(inverse, kind="relative"))
    model = load_sam_model(str(tiny_sam), device="cpu")
    assert model.spec.licence.startswith("unknown")
    before = image.copy()
    p = model.predict(image, box_xyxy=prompt.box_xyxy, points_xy=prompt.points_xy, point_labels=prompt.point_labels)
    assert p.shape == (96, 128) and p.dtype == np.float32 and 0 <= p.min() and p.max() <= 1
    np.testing.assert_array_equal(image, before)
    # the same prompt gives the same mask; a box alone and points alone are valid prompts
    again = model.predict(image, box_xyxy=prompt.box_xyxy, points_xy=prompt.points_xy, point_labels=prompt.point_labels)
    np.testing.assert_array_equal(p, again)
    assert model.predict(image, box_xyxy=prompt.box_xyxy).shape == (96, 128)
    assert model.predict(image, points_xy=[(10, 10)]).shape == (96, 128)


def test_bad_prompts(tiny_sam, no_network):
    model = load_sam_model(str(tiny_sam), device="cpu")
    image = np.zeros((40, 50, 3), np.uint8)
    with pytest.raises(ValidationError, match="box_xyxy, points_xy"):
        model.predict(image)
    with pytest.raises(ValidationError, match="box_xyxy"):
        model.predict(image, box_xyxy=(10, 10, 5, 30))
    with pytest.raises(ValidationError, match="points_xy"):
        model.predict(image, points_xy=[(60, 10)])
    with pytest.raises(ValidationError, match="point_labels"):
        model.predict(image, points_xy=[(5, 10)], point_labels=[2])


def test_malformed_hub_ids_are_unknown_models(no_network):
    """An org/name the hub client would refuse is not looked up at all (it raised the client's own validation
    error on a machine with internet); SAM and matting share this resolver."""
    from depthforge.models.segmentation import resolve_matting_model

    assert resolve_sam_model("org/sam-like")[1] == "org/sam-like"  # a well-formed id is taken as given
    for text in ("org/" + "n" * 120, "org/bad name", "org/-x-"):
        with pytest.raises(ModelError, match="^SAM model .* is not in the registry"):
            resolve_sam_model(text)
        with pytest.raises(ModelError, match="^matting model .* is not in the registry"):
            resolve_matting_model(text)


def test_not_a_sam_folder_and_offline(tmp_path, monkeypatch, no_network):
    other = tmp_path / "depth"
    other.mkdir()
    (other / "config.json").write_text('{"model_type": "depth_anything"}')
    with pytest.raises(ModelError, match="not a SAM model folder"):
        load_sam_model(str(other))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotAvailableError) as info:
        load_sam_model("sam-vit-base")
    assert "\n" not in str(info.value)


def test_uncached_sam_offline_is_one_line_naming_sam_model(hub_unavailable, no_download):
    """Offline or unreachable: the one-line error at once, naming --sam-model, and the hub client never asked."""
    import transformers

    no_download(transformers.SamModel)
    no_download(transformers.SamProcessor)
    for name in ("sam-vit-base", "nobody-x9/not-a-real-sam"):
        with pytest.raises(ModelNotAvailableError) as info:
            load_sam_model(name, device="cpu")
        message = str(info.value)
        assert "\n" not in message and f"'{name}' is not cached" in message
        assert message.endswith("pass a local folder with --sam-model PATH")
