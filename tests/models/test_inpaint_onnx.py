"""The learned inpainter (LaMa convention on onnxruntime): a tiny two-layer conv net exported with torch in the test
runs end to end (padding undone, only masked pixels replaced, both output ranges), a fixed-size graph is resized,
and a missing file, an unknown name or an unreachable hub is refused with one line, all without network access."""

from __future__ import annotations

import socket
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

from depthforge.core.errors import ModelError, ModelNotAvailableError  # noqa: E402
from depthforge.models import hub  # noqa: E402
from depthforge.models.inpaint import (  # noqa: E402
    CLASSIC_INPAINT_METHODS,
    INPAINT_REGISTRY,
    OnnxInpainter,
    load_inpainter,
)
from depthforge.render.inpainting import INPAINT_METHODS, inpaint  # noqa: E402


class _TwoLayer(torch.nn.Module):
    """Two 3x3 convolutions fixed to a known answer: the first keeps the known pixels (image * (1 - mask)) and the
    mask, the second writes the 3x3 mean of the known neighbours divided by their share (a normalised box fill)
    into the holes; scaled by ``gain`` (1: output in [0, 1]; 255: output in [0, 255])."""

    def __init__(self, gain: float) -> None:
        super().__init__()
        self.a = torch.nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.b = torch.nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.gain = gain
        with torch.no_grad():
            self.a.weight.zero_()
            for c in range(4):
                self.a.weight[c, c, 1, 1] = 1.0  # identity: known colours and the known-pixel indicator
            self.b.weight.zero_()
            for c in range(4):
                self.b.weight[c, c] = 1.0 / 9.0  # box sums of colour and of the indicator

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        keep = 1.0 - mask
        x = self.a(torch.cat([image * keep, keep], 1))
        y = self.b(x)
        fill = y[:, :3] / torch.clamp(y[:, 3:], min=1e-6)
        return (image * keep + fill * mask) * self.gain


def _export(path: Path, *, gain: float = 1.0, fixed_hw: tuple[int, int] | None = None) -> Path:
    h, w = fixed_hw or (16, 24)
    dynamic = None if fixed_hw else {"image": {2: "h", 3: "w"}, "mask": {2: "h", 3: "w"}, "output": {2: "h", 3: "w"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            _TwoLayer(gain).eval(),
            (torch.rand(1, 3, h, w), torch.zeros(1, 1, h, w)),
            str(path),
            input_names=["image", "mask"],
            output_names=["output"],
            dynamic_axes=dynamic,
            dynamo=False,
        )
    return path


def _reference(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The tiny net's answer in numpy: each hole pixel takes the mean of its known 3x3 neighbours."""
    import cv2

    keep = (~mask).astype(np.float64)
    num = cv2.boxFilter(image.astype(np.float64) * keep[:, :, None], -1, (3, 3), normalize=False,
                        borderType=cv2.BORDER_CONSTANT)  # fmt: skip
    den = cv2.boxFilter(keep, -1, (3, 3), normalize=False, borderType=cv2.BORDER_CONSTANT)
    out = image.copy()
    fill = np.clip(np.rint(num / np.maximum(den, 1e-6)[:, :, None]), 0, 255)
    out[mask] = fill[mask]
    return out


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def _photo(h: int = 37, w: int = 53) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), bool)
    mask[10:14, 20:27] = True
    mask[h - 7, w - 3] = True
    return image, mask


@pytest.mark.parametrize("gain", [1.0, 255.0])
def test_exported_model_runs_end_to_end(tmp_path: Path, no_network: None, gain: float) -> None:
    """37x53 is padded to 40x56 (multiple of 8) and cropped back; both output ranges give the same answer."""
    model = load_inpainter(f"onnx:{_export(tmp_path / 'tiny.onnx', gain=gain)}")
    assert isinstance(model, OnnxInpainter) and model.size_hw is None and model.licence == "your file's"
    image, mask = _photo()
    out = model(image, mask)
    assert out.shape == image.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[~mask], image[~mask])  # only masked pixels are replaced
    ref = _reference(image, mask)
    assert np.abs(out[mask].astype(int) - ref[mask].astype(int)).max() <= 1
    # through the one interface (and as the fill of a layered scene's render.inpaint)
    via = inpaint(image, mask, method=model)
    np.testing.assert_array_equal(via, out)


def test_padding_is_reflect_and_cropped(tmp_path: Path) -> None:
    """A hole on the bottom-right border sees the reflected image, not zeros: a flat image stays flat."""
    model = load_inpainter(f"onnx:{_export(tmp_path / 'tiny.onnx')}")
    assert isinstance(model, OnnxInpainter)
    image = np.full((13, 21, 3), 180, np.uint8)
    mask = np.zeros((13, 21), bool)
    mask[-1, -1] = True
    mask[-2, -3] = True
    assert np.array_equal(model(image, mask), image)


def test_fixed_size_graph_is_resized(tmp_path: Path) -> None:
    model = load_inpainter(f"onnx:{_export(tmp_path / 'fixed.onnx', fixed_hw=(32, 32))}")
    assert isinstance(model, OnnxInpainter) and model.size_hw == (32, 32)
    yy, xx = np.mgrid[0:50, 0:70]
    image = np.dstack([xx * 3, yy * 4, np.full_like(xx, 90)]).astype(np.uint8)  # a smooth ramp
    mask = np.zeros((50, 70), bool)
    mask[20:22, 30:32] = True  # every hole pixel of the 32x32 input keeps a known neighbour
    out = model(image, mask)
    np.testing.assert_array_equal(out[~mask], image[~mask])
    assert np.abs(out[mask].astype(int) - image[mask].astype(int)).mean() < 12.0


def test_classic_names_pass_through_and_match_render() -> None:
    assert CLASSIC_INPAINT_METHODS == INPAINT_METHODS
    for name in CLASSIC_INPAINT_METHODS:
        assert load_inpainter(name.upper()) == name
    assert set(INPAINT_REGISTRY) == {"lama"} and INPAINT_REGISTRY["lama"].licence


def test_missing_file_and_bad_names_are_one_line(tmp_path: Path) -> None:
    for text, kind in (
        (f"onnx:{tmp_path / 'absent.onnx'}", ModelError),
        ("onnx:", ModelError),
        ("magic", ModelError),
        ("not a hub id/x y", ModelError),
    ):
        with pytest.raises(kind) as info:
            load_inpainter(text)
        assert "\n" not in str(info.value)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a graph")
    with pytest.raises(ModelError, match="not a usable ONNX model"):
        load_inpainter(f"onnx:{broken}")


def test_unreachable_hub_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither cached nor reachable: the registry name and a hub id fail at once with one line."""
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(hub, "_REACHABLE", False)
    for text in ("lama", "someone/some-inpainter", "someone/some-inpainter:model.onnx"):
        with pytest.raises(ModelNotAvailableError) as info:
            load_inpainter(text)
        assert "\n" not in str(info.value) and "cannot be reached" in str(info.value)


def test_cached_hub_model_loads_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: None) -> None:
    """A hub id whose snapshot is cached (refs/main + snapshot folder) resolves without the network."""
    import huggingface_hub.constants as hc

    root = tmp_path / "hub"
    snap = root / "models--someone--tiny-inpaint" / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (root / "models--someone--tiny-inpaint" / "refs").mkdir()
    (root / "models--someone--tiny-inpaint" / "refs" / "main").write_text("abc123")
    _export(snap / "model.onnx")
    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for text in ("someone/tiny-inpaint", "someone/tiny-inpaint:model.onnx"):
        model = load_inpainter(text)
        assert isinstance(model, OnnxInpainter) and "model card" in model.licence
        image, mask = _photo(20, 20)
        np.testing.assert_array_equal(model(image, mask)[~mask], image[~mask])


def test_uncached_hub_inpainter_offline_names_the_onnx_flag(
    hub_unavailable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Offline or unreachable, nothing cached: one line naming --inpaint onnx:FILE, and only the hub client's
    cache lookups (local_files_only=True) run: never a download, which retried for about 30 s."""
    import huggingface_hub

    def cache_only(*args: object, local_files_only: bool = False, **kwargs: object) -> str:
        assert local_files_only, "a download was attempted although the hub is unavailable"
        raise FileNotFoundError("not cached")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", cache_only)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", cache_only)
    for text in ("lama", "someone/some-inpainter", "someone/some-inpainter:model.onnx"):
        with pytest.raises(ModelNotAvailableError) as info:
            load_inpainter(text)
        message = str(info.value)
        assert "\n" not in message and f"'{text}' is not cached" in message
        assert message.endswith("or pass a local ONNX file with --inpaint onnx:FILE")
