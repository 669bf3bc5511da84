"""rembg's models on onnxruntime: a tiny ONNX model with a known answer through the cached and the custom paths,
the licence gate and the offline message, all without network access."""

from __future__ import annotations

import socket

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from depthforge.core.errors import ModelError, ModelNotAvailableError  # noqa: E402
from depthforge.models import rembg_backend as rb  # noqa: E402

red_channel_model = rb.build_red_channel_onnx


@pytest.fixture
def no_network(monkeypatch):
    """Every attempt to open a connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DEPTHFORGE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _square_photo(h: int = 90, w: int = 120) -> tuple[np.ndarray, np.ndarray]:
    image = np.full((h, w, 3), (20, 90, 160), np.uint8)
    truth = np.zeros((h, w), bool)
    truth[20:70, 30:90] = True
    image[truth] = (250, 90, 160)
    return image, truth


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def test_registry_is_complete():
    for name, spec in rb.REMBG_REGISTRY.items():
        assert spec.name == name and spec.licence and spec.size_px in (320, 1024)
        assert spec.custom == name.endswith("_custom")
        assert spec.custom or spec.known_hash.split(":")[0] in ("md5", "sha256")
        assert spec.sigmoid == name.startswith("birefnet")
    assert [s.name for s in rb.REMBG_REGISTRY.values() if not s.commercial] == ["bria-rmbg"]


def test_cached_model_runs_offline_with_known_answer(cache, no_network):
    """u2net's file in depthforge's cache (rembg's name and layout) is used as it is: alpha = min-max of red."""
    spec = rb.REMBG_REGISTRY["u2net"]
    path = red_channel_model(rb.rembg_model_path(spec))
    assert path == cache / "rembg" / "models" / "u2net" / "u2net.onnx"
    image, truth = _square_photo()
    model = rb.load_rembg_model("u2net")
    x = model.prepare(image)
    assert x.shape == (1, 3, 320, 320) and x.dtype == np.float32
    # rembg's normalisation: divided by the resized image's own maximum (not 255), then ImageNet mean/std
    raw = x[0] * np.asarray(spec.std)[:, None, None] + np.asarray(spec.mean)[:, None, None]
    assert abs(float(raw.max()) - 1.0) < 1e-5
    np.testing.assert_allclose(raw[:, 160, 160] / raw[0, 160, 160], np.array([250, 90, 160]) / 250, atol=1e-5)
    alpha = model.predict(image)
    assert alpha.shape == truth.shape and alpha.dtype == np.float32
    assert 0.0 <= alpha.min() and alpha.max() <= 1.0
    assert _iou(alpha > 0.5, truth) > 0.98
    # a smooth red ramp (no resampling ringing): the answer is the ramp itself, min-max normalised
    ramp = np.zeros((90, 120, 3), np.uint8)
    ramp[:, :, 0] = np.linspace(10, 240, 120).round().astype(np.uint8)
    ramp[:, :, 1:] = 100
    expected = (ramp[:, :, 0].astype(np.float32) - 10) / 230
    assert np.abs(model.predict(ramp) - expected)[:, 3:-3].max() < 0.01


def test_custom_file_and_birefnet_convention(tmp_path, cache, no_network):
    image, truth = _square_photo(64, 80)
    file = red_channel_model(tmp_path / "mine.onnx")
    custom = rb.load_rembg_model("dis_custom", model_path=file)
    x = custom.prepare(image)
    assert x.shape == (1, 3, 1024, 1024)  # IS-Net convention: 1024, mean 0.5, std 1
    assert _iou(custom.predict(image) > 0.5, truth) > 0.98
    red_channel_model(rb.rembg_model_path(rb.REMBG_REGISTRY["birefnet-general"]))
    ramp = np.zeros((60, 100, 3), np.uint8)
    ramp[:, :, 0] = np.linspace(10, 240, 100).round().astype(np.uint8)
    ramp[:, :, 1:] = 100
    alpha = rb.load_rembg_model("birefnet-general").predict(ramp)
    # sigmoid before min-max: the answer is the min-max of sigmoid((red / 240 - 0.485) / 0.229)
    s = 1 / (1 + np.exp(-(ramp[:, :, 0] / 240.0 - 0.485) / 0.229))
    expected = (s - s.min()) / (s.max() - s.min())
    assert np.abs(alpha - expected)[:, 3:-3].max() < 0.01
    with pytest.raises(ModelError, match="--seg-file"):
        rb.load_rembg_model("u2net_custom")
    with pytest.raises(ModelError, match="only for the"):
        rb.load_rembg_model("u2net", model_path=file)


def test_noncommercial_model_needs_the_flag(cache, no_network):
    with pytest.raises(ModelError) as info:
        rb.load_rembg_model("bria-rmbg")
    message = str(info.value)
    assert "CC-BY-NC-4.0" in message and "--allow-noncommercial" in message and "\n" not in message
    red_channel_model(rb.rembg_model_path(rb.REMBG_REGISTRY["bria-rmbg"]))
    assert rb.load_rembg_model("bria-rmbg", allow_noncommercial=True).spec.name == "bria-rmbg"


def test_absent_model_offline_is_one_line(cache, monkeypatch, no_network):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotAvailableError) as info:
        rb.load_rembg_model("u2netp")
    assert "u2netp" in str(info.value) and "\n" not in str(info.value)


def test_absent_model_unreachable_network_is_one_line(cache, monkeypatch, capfd):
    """No HF_HUB_OFFLINE: the release site is probed and cannot be reached (the connection is refused here): one
    line, and nothing before it (pooch logged "Downloading data from ..." before failing)."""
    pytest.importorskip("pooch")
    from depthforge.models import hub

    monkeypatch.setattr(hub, "_HOSTS", {})

    def refuse(*args, **kwargs):
        raise OSError("network unreachable (test)")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    with pytest.raises(ModelNotAvailableError, match="cannot be reached"):
        rb.load_rembg_model("silueta")
    assert not rb.rembg_model_path(rb.REMBG_REGISTRY["silueta"]).exists()
    assert capfd.readouterr().err == ""


def test_unknown_and_broken(tmp_path, cache):
    with pytest.raises(ModelError, match="unknown"):
        rb.load_rembg_model("u3net")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not a usable ONNX model"):
        rb.load_rembg_model("u2net_custom", model_path=bad)
