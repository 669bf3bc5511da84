"""``depthforge mask --source rembg:MODEL|sam|fused`` (alias ``--method``) and ``--depth-out`` end to end on
tiny local models, offline."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from depthforge.cli.main import main
from depthforge.core.depthmap import DepthMap
from depthforge.io.depthfiles import read_depth, write_depth
from depthforge.models.simulated_segmentation import colour_model, segmentation_scene

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from tests.models.test_rembg_backend import red_channel_model


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same-colour scene, with the red channel high only on red things (what the tiny ONNX model sees)."""
    root = tmp_path_factory.mktemp("segment_cli")
    image, inverse, truth = segmentation_scene("same_colour")
    red = colour_model(image) >= 0.5
    image[:, :, 0] = np.where(red, 220, 30).astype(np.uint8)
    PILImage.fromarray(image).save(root / "scene.png")
    write_depth(root / "scene_depth.npy", DepthMap(inverse, kind="relative"))
    np.save(root / "truth.npy", truth)
    return {
        "image": root / "scene.png",
        "depth": root / "scene_depth.npy",
        "truth": root / "truth.npy",
        "onnx": red_channel_model(root / "red.onnx"),
        "root": root,
    }


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("DEPTHFORGE_CACHE", str(tmp_path / "cache"))


def _iou(mask_png: Path, truth: np.ndarray) -> float:
    m = np.asarray(PILImage.open(mask_png)) >= 128
    return float((m & truth).sum() / (m | truth).sum())


def test_rembg_custom_needs_no_depth(scene, tmp_path):
    out = tmp_path / "rembg.png"
    args = ["mask", str(scene["image"]), "--method", "rembg:u2net_custom", "--seg-file", str(scene["onnx"])]
    assert main([*args, "-o", str(out)]) == 0  # no --depth and no model: depth is not estimated
    truth = np.load(scene["truth"])
    assert _iou(out, truth) < 0.8  # the red poster is taken too: colour alone fails here


def test_fused_keeps_the_near_figure(scene, tmp_path, capsys):
    out = tmp_path / "fused.png"
    args = ["mask", str(scene["image"]), "--depth", str(scene["depth"]), "--source", "fused"]
    args += ["--segmenter", "rembg:u2net_custom", "--seg-file", str(scene["onnx"]), "--cutout", "-o", str(out)]
    assert main(args) == 0
    rgba = np.asarray(PILImage.open(out))
    assert rgba.shape[2] == 4
    truth = np.load(scene["truth"])
    PILImage.fromarray(rgba[:, :, 3]).save(tmp_path / "alpha.png")
    assert _iou(tmp_path / "alpha.png", truth) >= 0.95


def test_sam_from_depth(scene, tmp_path):
    from depthforge.models.sam import build_tiny_sam

    sam = build_tiny_sam(tmp_path / "sam")
    out = tmp_path / "sam.png"
    args = ["mask", str(scene["image"]), "--depth", str(scene["depth"]), "--source", "sam", "--sam-model", str(sam)]
    assert main([*args, "--click", "77,82", "-o", str(out)]) == 0
    assert np.asarray(PILImage.open(out)).shape == np.load(scene["truth"]).shape


def test_licence_gate_and_clean_errors(scene, tmp_path, capsys):
    out = str(tmp_path / "m.png")
    assert main(["mask", str(scene["image"]), "--method", "rembg:bria-rmbg", "-o", out]) == 2
    err = capsys.readouterr().err.strip()
    assert "CC-BY-NC-4.0" in err and "--allow-noncommercial" in err and len(err.splitlines()) == 1
    assert main(["mask", str(scene["image"]), "--method", "rembg:u2net", "-o", out]) == 2  # not cached, offline
    assert "not in the cache" in capsys.readouterr().err
    assert main(["mask", str(scene["image"]), "--method", "colour", "-o", out]) == 2
    assert "--source: " in capsys.readouterr().err  # the flag, not the library's parameter name
    bad = ["mask", str(scene["image"]), "--depth", str(scene["depth"]), "--depth-out", str(tmp_path / "d.npy")]
    assert main([*bad, "-o", out]) == 2
    assert main(["mask", str(scene["image"]), "--depth", str(scene["depth"]), "--click", "5", "-o", out]) == 2


def test_depth_out_removes_the_background_first(scene, tmp_path):
    from depthforge.models.testing import build_depth_anything

    model = build_depth_anything(tmp_path / "da")
    out, depth_out = tmp_path / "m.png", tmp_path / "fg_depth.npy"
    args = ["mask", str(scene["image"]), "--model", str(model), "--method", "rembg:u2net_custom"]
    assert main([*args, "--seg-file", str(scene["onnx"]), "--depth-out", str(depth_out), "-o", str(out)]) == 0
    d = read_depth(depth_out).values
    fg = np.asarray(PILImage.open(out)) >= 128
    assert d.shape == fg.shape and (d[~fg] == d[fg].min()).all()


@pytest.mark.parametrize(
    ("source", "flag"), [("model", "--matting-model"), ("sam", "--sam-model"), ("fused", "--sam-model")]
)
def test_uncached_models_offline_are_one_line_naming_their_flag(
    scene, tmp_path, capsys, monkeypatch, no_download, source, flag
):
    """HF_HUB_OFFLINE=1 (the autouse fixture) and an empty hub cache: one line naming the model's own flag, and
    the hub client is never asked (before: about 30 s of retries, then '--model PATH')."""
    import huggingface_hub.constants as hc
    import transformers

    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path / "hub"))
    no_download(transformers.AutoModelForImageMatting)
    no_download(transformers.SamModel)
    out = tmp_path / "m.png"
    assert main(["mask", str(scene["image"]), "--depth", str(scene["depth"]), "--source", source, "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not cached" in err[0], err
    assert err[0].endswith(f"or pass a local folder with {flag} PATH")
    assert not out.exists()


def test_batch_checks_the_sam_model_before_any_work(tmp_path, capsys, monkeypatch):
    """``batch --outputs mask --mask-source sam|fused`` offline: one line before the depth model is loaded."""
    import huggingface_hub.constants as hc

    import depthforge.pipeline.batch as batch

    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path / "hub"))
    seen = []
    monkeypatch.setattr(batch, "run_batch", lambda job, **kw: seen.append(job))
    (tmp_path / "in").mkdir()
    args = ["batch", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--outputs", "depth16,mask"]
    for source in ("sam", "fused"):
        assert main([*args, "--mask-source", source]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "'sam-vit-base' is not cached" in err[0], err
        assert err[0].endswith("or pass a local folder with --sam-model PATH")
    assert not seen


def test_batch_masks_with_a_local_sam_offline(scene, tmp_path):
    """The flag the offline message names exists in batch too: ``--sam-model FOLDER`` runs SAM with no hub."""
    import shutil

    from depthforge.models.sam import build_tiny_sam
    from depthforge.models.testing import build_depth_anything

    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(scene["image"], src / "scene.png")
    sam, model = build_tiny_sam(tmp_path / "sam"), build_depth_anything(tmp_path / "da")
    out = tmp_path / "out"
    args = ["batch", str(src), "-o", str(out), "--model", str(model), "--outputs", "mask", "--workers", "1"]
    assert main([*args, "--mask-source", "sam", "--sam-model", str(sam)]) == 0
    mask = np.asarray(PILImage.open(out / "scene_mask.png"))
    assert mask.shape == np.asarray(PILImage.open(scene["image"])).shape[:2] and mask.dtype == np.uint8
