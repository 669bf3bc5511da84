"""The Mask tab's method list: what this server can run, and why the others are unavailable (no browser)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from depthforge.models.rembg_backend import REMBG_REGISTRY, rembg_model_path
from depthforge.web.ui_mask import _options, mask_methods


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DEPTHFORGE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_nothing_cached_offers_depth_and_names_the_rest(empty_cache: Path) -> None:
    from depthforge.models.hub import is_cached

    if is_cached("facebook/sam-vit-base") or is_cached("hustvl/vitmatte-small-composition-1k"):
        pytest.skip("this machine's hub cache holds SAM or ViTMatte")
    rows = mask_methods()
    available = [value for _label, value, why in rows if why is None]
    assert available == ["depth"]
    reasons = {value: why for _label, value, why in rows}
    assert "sam-vit-base is not in this server's model cache" in str(reasons["sam"])
    assert reasons["fused:sam"] == reasons["sam"]
    assert "vitmatte" in str(reasons["model"])
    rembg = [v for v in reasons if v.startswith("rembg:")]
    assert rembg == ["rembg:u2net"]  # one entry stands for the whole family
    assert "no rembg model" in str(reasons["rembg:u2net"]) or "onnxruntime" in str(reasons["rembg:u2net"])
    assert [r[2] is None for r in rows] == sorted((r[2] is None for r in rows), reverse=True)  # available first


def test_a_cached_rembg_model_is_offered_alone_and_fused(empty_cache: Path) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from depthforge.models.rembg_backend import build_red_channel_onnx
    from depthforge.pipeline.background import foreground

    build_red_channel_onnx(rembg_model_path(REMBG_REGISTRY["u2netp"]))
    rows = mask_methods()
    available = [value for _label, value, why in rows if why is None]
    assert available == ["depth", "rembg:u2netp", "fused:rembg:u2netp"]
    # the values map onto the library's options; the cached model runs (its alpha is the normalised red channel)
    opts = _options("fused:rembg:u2netp", 0, "otsu", False, -1)
    assert (opts.method, opts.segmenter, opts.feather_px, opts.threshold) == ("fused", "rembg:u2netp", None, None)
    image = np.zeros((32, 48, 3), np.uint8)
    image[:, :24, 0] = 255  # red on the left
    alpha = foreground(image, None, _options("rembg:u2netp", 0, "otsu", False, 0))
    assert alpha.shape == (32, 48) and alpha[:, :20].min() > 0.9 and alpha[:, 28:].max() < 0.1


def test_downloads_allowed_offer_every_commercial_model(empty_cache: Path) -> None:
    rows = mask_methods(allow_download=True)
    values = [value for _label, value, _why in rows]
    assert "rembg:bria-rmbg" not in values and not any(v.endswith("_custom") for v in values)
    offered = [n for n, s in REMBG_REGISTRY.items() if s.commercial and not s.custom]
    assert {f"rembg:{n}" for n in offered} <= set(values)
    assert {value for _label, value, why in rows if why is not None} <= {v for v in values if "rembg" in v}


def test_the_operators_local_sam_and_vitmatte_are_offered_and_used(
    empty_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # user trial 3: an offline operator with local SAM / ViTMatte folders could not offer them (serve refused
    # --allow-model for them, and the Mask tab called them uncached)
    pytest.importorskip("transformers")
    from depthforge.cli.main import main
    from depthforge.models.sam import build_tiny_sam
    from depthforge.models.segmentation import build_tiny_vitmatte
    from depthforge.pipeline.background import foreground

    sam, matting = build_tiny_sam(tmp_path / "my-sam"), build_tiny_vitmatte(tmp_path / "my-matte")
    rows = mask_methods(sam_model=str(sam), matting_model=str(matting))
    available = {value for _label, value, why in rows if why is None}
    assert {"depth", "model", "sam", "fused:sam"} <= available
    assert any("my-sam" in label and str(tmp_path) not in label for label, value, _why in rows if value == "sam")
    opts = _options("sam", 0, "otsu", False, -1, sam_model=str(sam))
    image = np.random.default_rng(0).integers(0, 255, (40, 56, 3), dtype=np.uint8)
    depth = np.tile(np.linspace(0.1, 1.0, 56, dtype=np.float32), (40, 1))
    from depthforge.core.depthmap import DepthMap

    alpha = foreground(image, DepthMap(depth, kind="relative"), opts)  # the tiny SAM runs (random weights)
    assert alpha.shape == (40, 56)
    # serve checks them before serving: a missing folder is one line, exit 2
    assert main(["serve", "--port", "1", "--sam-model", str(tmp_path / "nowhere")]) == 2  # before the port
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nowhere" in err[0], err
