"""Depth-conditioned generation on tiny random pipelines (built here, loaded through the real code path)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from depthforge.core.depthmap import DepthMap

try:
    import diffusers  # noqa: F401

    HAVE_DIFFUSERS = True
except ImportError:
    HAVE_DIFFUSERS = False
needs_diffusers = pytest.mark.skipif(
    not HAVE_DIFFUSERS, reason="needs the diffusion extra (pip install 'depthforge[diffusion]')"
)

SIZE_HW = (32, 64)  # non-square: a width/height swap changes the shape


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from depthforge.models import diffusion_testing as t

    root = tmp_path_factory.mktemp("diffusion")
    return {
        "sd": t.build_tiny_sd(root / "sd"),
        "cn": t.build_tiny_controlnet(root / "cn"),
        "d2i": t.build_tiny_depth2img(root / "d2i"),
    }


def _ramp(invert: bool = False) -> DepthMap:
    """Relative inverse depth rising to the right (near on the right), or the opposite."""
    values = np.tile(np.linspace(0.1, 1.0, 70, dtype=np.float32), (40, 1))
    return DepthMap(values[:, ::-1].copy() if invert else values)


def _photo() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (40, 70, 3), dtype=np.uint8)


def _run(tiny: dict[str, Path], depth: DepthMap, **options: Any) -> Any:
    from depthforge.pipeline.generation import generate

    options = {"steps": 2, "seeds": [1], "size_hw": SIZE_HW, "prompt": "a cabin at dusk", **options}
    return generate(_photo(), depth, base=str(tiny["sd"]), controlnet=str(tiny["cn"]), device="cpu", **options)


def _plain_image(tiny: dict[str, Path], cls: Any, *, seed: int, **extra: Any) -> np.ndarray:
    """The uint8 image the plain pipeline ``cls`` (the ControlNet pipeline's own components without the ControlNet)
    draws for :func:`_run`'s prompt, size and steps with ``seed``."""
    import torch

    from depthforge.models.diffusion import load_generation_pipeline, resolve_generation_model

    pipe = load_generation_pipeline(
        "controlnet",
        base=resolve_generation_model(str(tiny["sd"]), role="base"),
        controlnet=resolve_generation_model(str(tiny["cn"]), role="controlnet"),
    )
    plain = cls(**{k: v for k, v in pipe.components.items() if k != "controlnet"}, **extra)
    plain.set_progress_bar_config(disable=True)
    ref = plain(
        "a cabin at dusk",
        height=SIZE_HW[0],
        width=SIZE_HW[1],
        num_inference_steps=2,
        guidance_scale=7.5,
        generator=[torch.Generator().manual_seed(seed)],
        output_type="np",
    ).images[0]
    return (np.clip(ref, 0, 1) * 255 + 0.5).astype(np.uint8)


@needs_diffusers
def test_control_scale_zero_is_plain_stable_diffusion(tiny: dict[str, Path]) -> None:
    from diffusers import StableDiffusionPipeline

    ours = _run(tiny, _ramp(), control_scale=0.0, seeds=[3]).images[0]
    ref8 = _plain_image(tiny, StableDiffusionPipeline, seed=3, requires_safety_checker=False)
    assert np.array_equal(ours, ref8)
    assert not np.array_equal(ours, _run(tiny, _ramp(), control_scale=1.0, seeds=[3]).images[0])


@needs_diffusers
def test_depth_changes_the_image_and_seeds_repeat(tiny: dict[str, Path]) -> None:
    a = _run(tiny, _ramp(), seeds=[1, 2])
    b = _run(tiny, _ramp(), seeds=[1, 2])
    c = _run(tiny, _ramp(invert=True), seeds=[1, 2])
    assert a.images[0].shape == (*SIZE_HW, 3)  # (height, width): no swap
    assert np.array_equal(a.images[0], b.images[0]) and np.array_equal(a.images[1], b.images[1])
    assert not np.array_equal(a.images[0], a.images[1])  # another seed, another image
    assert np.abs(a.images[0].astype(int) - c.images[0].astype(int)).mean() > 0.2  # another depth


@pytest.fixture(scope="module")
def tiny_xl(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from depthforge.models import diffusion_testing as t

    root = tmp_path_factory.mktemp("diffusion_xl")
    return {"sd": t.build_tiny_sdxl(root / "sd"), "cn": t.build_tiny_controlnet(root / "cn", sdxl=True)}


@needs_diffusers
def test_sdxl_controlnet(tiny_xl: dict[str, Path], tiny: dict[str, Path]) -> None:
    """The SDXL path (two text encoders, added time embedding) with tiny random pipelines of SDXL's architecture:
    at control scale 0 it is plain SDXL (the same seed through two code paths, the same image); the depth and the
    seed change the image; an SD 1.5 ControlNet for an SDXL base is one line."""
    from diffusers import StableDiffusionXLPipeline

    from depthforge.core.errors import ModelError
    from depthforge.models.diffusion import resolve_generation_model

    base = resolve_generation_model(str(tiny_xl["sd"]), role="base")
    assert base.spec.arch == "sdxl" and resolve_generation_model(str(tiny_xl["cn"]), role="controlnet").spec.arch == (
        "sdxl"
    )
    ours = _run(tiny_xl, _ramp(), control_scale=0.0, seeds=[3]).images[0]
    assert np.array_equal(ours, _plain_image(tiny_xl, StableDiffusionXLPipeline, seed=3))
    a, c = _run(tiny_xl, _ramp(), seeds=[3, 2]), _run(tiny_xl, _ramp(invert=True), seeds=[3])
    assert a.images[0].shape == (*SIZE_HW, 3) and not np.array_equal(a.images[0], a.images[1])
    assert np.abs(a.images[0].astype(int) - c.images[0].astype(int)).mean() > 0.2
    with pytest.raises(ModelError, match="is for sd15"):
        _run({"sd": tiny_xl["sd"], "cn": tiny["cn"]}, _ramp())


@needs_diffusers
def test_near_is_white_for_every_kind(tiny: dict[str, Path]) -> None:
    import torch

    from depthforge.models.diffusion import load_generation_pipeline, resolve_generation_model

    pipe = load_generation_pipeline(
        "controlnet",
        base=resolve_generation_model(str(tiny["sd"]), role="base"),
        controlnet=resolve_generation_model(str(tiny["cn"]), role="controlnet"),
    )
    seen: list[torch.Tensor] = []
    hook = pipe.controlnet.register_forward_hook(
        lambda module, args, kwargs, out: seen.append(kwargs["controlnet_cond"].detach().clone()), with_kwargs=True
    )
    try:
        _run(tiny, _ramp(), steps=1)
        relative = seen[-1][0].float().mean(dim=0).numpy()  # (H, W) in [0, 1] as the ControlNet sees it
        # the same scene as metres (near = small z): the same control image
        metric = DepthMap(1.0 / _ramp().values, kind="metric")
        _run(tiny, metric, steps=1)
        from_metric = seen[-1][0].float().mean(dim=0).numpy()
    finally:
        hook.remove()
    assert relative.shape == SIZE_HW
    assert relative[:, -4:].mean() > 0.9 and relative[:, :4].mean() < 0.1  # near (right) white, far black
    np.testing.assert_allclose(from_metric, relative, atol=0.02)


def test_polarity_error_would_be_caught() -> None:
    from depthforge.pipeline.generation import conditioning_image

    right = conditioning_image(_ramp(), size_hw=SIZE_HW)
    inverted = conditioning_image(_ramp(invert=True), size_hw=SIZE_HW)
    assert right[:, -1].mean() > 250 and right[:, 0].mean() < 5
    assert inverted[:, 0].mean() > 250  # an inverted map puts white on the other side: a test comparing sides sees it


@needs_diffusers
def test_depth2img_with_our_map_and_with_its_own_estimator(tiny: dict[str, Path]) -> None:
    from depthforge.pipeline.generation import generate

    photo = _photo()
    ours = generate(
        photo, _ramp(), prompt="a statue", mode="depth2img", base=str(tiny["d2i"]), steps=2, size_hw=SIZE_HW
    )
    own = generate(photo, None, prompt="a statue", mode="depth2img", base=str(tiny["d2i"]), steps=2, size_hw=SIZE_HW)
    assert ours.images[0].shape == own.images[0].shape == (*SIZE_HW, 3)
    assert ours.conditioning is not None and ours.conditioning.shape == SIZE_HW and own.conditioning is None
    assert ours.conditioning[:, -1].mean() > ours.conditioning[:, 0].mean()  # relative: larger = nearer, as given
    tall = generate(
        photo.transpose(1, 0, 2),
        None,
        prompt="x",
        mode="depth2img",
        base=str(tiny["d2i"]),
        steps=1,
        strength=1.0,
        size_hw=SIZE_HW[::-1],
    )
    assert tall.images[0].shape == (SIZE_HW[1], SIZE_HW[0], 3)


def test_generation_size_keeps_orientation() -> None:
    from depthforge.pipeline.generation import generation_size

    assert generation_size((3000, 4000)) == (384, 512)
    assert generation_size((4000, 3000)) == (512, 384)
    assert generation_size((768, 1024), long_side_px=1024) == (768, 1024)
    # the photo's aspect within a few pixels (user trial 3: multiples of 64 stretched 16:9 to 2:1, 375x450 at 128 to
    # a square)
    for hw, long_side in (((360, 640), 512), ((375, 450), 128), ((375, 450), 512), ((1350, 375), 1024)):
        h, w = generation_size(hw, long_side_px=long_side)
        assert max(h, w) == long_side and h % 8 == 0 and w % 8 == 0
        scale = long_side / max(hw)
        assert abs(h - hw[0] * scale) <= 4 and abs(w - hw[1] * scale) <= 4, (hw, h, w)


@needs_diffusers
def test_bad_options_and_models_are_clean_errors(tiny: dict[str, Path]) -> None:
    from depthforge.core.errors import ModelError, ValidationError
    from depthforge.pipeline.generation import generate

    with pytest.raises(ValidationError, match="control_start"):
        _run(tiny, _ramp(), control_start=0.8, control_end=0.2)
    with pytest.raises(ValidationError, match="size_hw"):
        _run(tiny, _ramp(), size_hw=(30, 64))
    with pytest.raises(ModelError, match="depth2img"):
        generate(_photo(), _ramp(), prompt="x", mode="depth2img", base=str(tiny["sd"]), steps=2)
    with pytest.raises(ModelError, match="not a registry name"):
        generate(_photo(), _ramp(), prompt="x", base="no-such-model", steps=1)


@needs_diffusers
def test_cli_generate(tiny: dict[str, Path], tmp_path: Path) -> None:
    from PIL import Image

    from depthforge.cli.main import main
    from depthforge.io.depthfiles import write_depth

    Image.fromarray(_photo()).save(tmp_path / "p.png")
    write_depth(tmp_path / "d.png", _ramp())
    args = ["generate", str(tmp_path / "p.png"), "--depth", str(tmp_path / "d.png"), "--base", str(tiny["sd"]),
            "--controlnet", str(tiny["cn"]), "--prompt", "a cabin", "--steps", "2", "--size", "32,64",
            "--seeds", "1,5", "-o", str(tmp_path / "out.png")]  # fmt: skip
    assert main(args) == 0
    for seed in (1, 5):
        made = Image.open(tmp_path / f"out_seed{seed}.png")
        assert made.size == (64, 32)
        # how it was made, where AUTOMATIC1111's PNG Info looks: the prompt, then the settings with this seed
        prompt, settings = made.text["parameters"].split("\n")
        assert prompt == "a cabin" and "Steps: 2, Sampler: " in settings and f"Seed: {seed}, Size: 64x32" in settings
        assert 'ControlNet 0: "Module: depthforge, Model: ' in settings and "Weight: 1, " in settings
    args[-1] = str(tmp_path / "out.jpg")  # JPEG: EXIF's UserComment, UTF-16 after "UNICODE"
    assert main([*args[:-4], "--seed", "7", "--negative-prompt", "blur, fog", "-o", args[-1]]) == 0
    comment = Image.open(args[-1]).getexif().get_ifd(0x8769)[0x9286]
    assert comment.startswith(b"UNICODE\0")
    text = comment[8:].decode("utf-16-be")
    assert text.startswith("a cabin\nNegative prompt: blur, fog\nSteps: 2, ") and "Seed: 7, " in text


@needs_diffusers
def test_registry_default_offline_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from PIL import Image

    from depthforge.cli.main import main
    from depthforge.models import diffusion

    monkeypatch.setattr(diffusion, "offline_mode", lambda: True)  # as HF_HUB_OFFLINE=1: never the network
    monkeypatch.setattr(diffusion, "cached_folder", lambda hub_id, filename: None)  # nothing cached
    Image.fromarray(np.zeros((40, 70, 3), np.uint8)).save(tmp_path / "p.png")
    args = ["generate", str(tmp_path / "p.png"), "--depth", str(tmp_path / "p.png"), "--depth-kind", "relative",
            "--prompt", "x", "--device", "cpu", "-o", str(tmp_path / "o.png")]  # fmt: skip
    assert main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "is not cached" in lines[0] and "sd15" in lines[0]
    assert not (tmp_path / "o.png").exists()


def test_missing_extra_is_one_line(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['diffusers'] = None; from depthforge.cli.main import main;"
        f"sys.exit(main(['generate', 'x.jpg', '--prompt', 'x', '-o', r'{tmp_path}/o.png']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "depthforge[diffusion]" in done.stderr


@needs_diffusers
def test_uncached_models_offline_are_one_line_naming_base_or_controlnet(
    tiny: dict[str, Path],
    tmp_path: Path,
    hub_unavailable: str,
    no_download: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Offline or unreachable, nothing cached: ``generate`` says so in one line naming --controlnet or --base,
    before diffusers is imported, and the pipeline loader (the hub client, which retried ~30 s) is never reached."""
    import diffusers
    from PIL import Image

    from depthforge.cli.main import main
    from depthforge.core.errors import ModelNotAvailableError
    from depthforge.models import diffusion

    def installed_only(*, load: bool = True) -> None:
        assert not load, "diffusers was imported before the models were checked"

    no_download(diffusion, "_load_pipeline")
    monkeypatch.setattr(diffusion, "require_diffusers", installed_only)
    Image.fromarray(np.zeros((40, 70, 3), np.uint8)).save(tmp_path / "p.png")
    args = ["generate", str(tmp_path / "p.png"), "--depth", str(tmp_path / "p.png"), "--depth-kind", "relative",
            "--prompt", "x", "--device", "cpu", "-o", str(tmp_path / "o.png")]  # fmt: skip
    for extra, name, flag in (
        ([], "control-v11f1p-sd15-depth", "--controlnet"),
        (["--controlnet", str(tiny["cn"])], "stable-diffusion-v1-5", "--base"),
    ):
        assert main([*args, *extra]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and f"'{name}' is not cached" in lines[0], lines
        assert lines[0].endswith(f"or pass a local folder with {flag} PATH")
    assert not (tmp_path / "o.png").exists()
    # the library loader checks the same way before importing diffusers
    base = diffusion.resolve_generation_model("stable-diffusion-v1-5", role="base")
    control = diffusion.resolve_generation_model(str(tiny["cn"]), role="controlnet")
    with pytest.raises(ModelNotAvailableError, match="--base PATH"):
        diffusion.load_generation_pipeline("controlnet", base=base, controlnet=control)
    # and so does from_pretrained itself (Marigold passes its own hint: it is chosen with --model)
    no_download(diffusers.ControlNetModel)
    with pytest.raises(ModelNotAvailableError, match="--base PATH$"):
        diffusion.from_pretrained(diffusers.ControlNetModel, base)
    with pytest.raises(ModelNotAvailableError, match="--model PATH$"):
        diffusion.from_pretrained(diffusers.ControlNetModel, base, hint="a local folder with --model PATH")


def test_generate_says_which_options_it_does_not_use(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # user trial 3: --batch beside --seeds, and the ControlNet tuning in depth2img mode, were dropped without a word
    from depthforge.cli.main import main

    base = ["generate", "--prompt", "x", "--base", str(tmp_path / "none"), "-o", str(tmp_path / "g.png")]
    assert main([*base, "--seeds", "1,2", "--batch", "3"]) == 2
    assert "--batch: not used (--seeds gives every image's seed)" in capsys.readouterr().err
    assert main([*base, "--mode", "depth2img", "--control-scale", "0.5"]) == 2
    assert "--control-scale: not used (they tune a ControlNet; depth2img has none)" in capsys.readouterr().err
    assert main([*base[:-1], str(tmp_path / "g.bmp")]) == 2  # the missing model, after the note
    assert "'.bmp' files keep no metadata" in capsys.readouterr().err


def test_generation_options_are_checked_without_any_model() -> None:
    from depthforge.core.errors import ValidationError
    from depthforge.pipeline.generation import MAX_SEEDS, check_generation_options

    assert check_generation_options(prompt="a cat", mode="depth2img") == ([0], 0.8)
    assert check_generation_options(prompt="a cat", seeds=[2**64 - 1, -(2**63)])[0] == [2**64 - 1, -(2**63)]
    # an empty prompt is normal with a ControlNet (the depth alone guides it), not with depth2img (user trial 3)
    assert check_generation_options(prompt="")[0] == [0]
    bad = [
        ({"prompt": "  ", "mode": "depth2img"}, "prompt"),
        ({"prompt": "x", "seeds": 3}, "seeds"),  # a TypeError before (user trial 3)
        ({"prompt": "x", "steps": 0}, "steps"),
        ({"prompt": "x", "steps": 1001}, "steps"),
        ({"prompt": "x", "seeds": [2**64]}, "seed"),
        ({"prompt": "x", "seeds": list(range(MAX_SEEDS + 1))}, "seeds"),
        ({"prompt": "x", "seeds": []}, "seeds"),
        ({"prompt": "x", "size_hw": (512, 500)}, "size_hw"),
        ({"prompt": "x", "size_hw": (8192, 512)}, "size_hw"),
        ({"prompt": "x", "strength": 0.5, "steps": 1}, "steps"),
        ({"prompt": "x", "control_start": 0.5, "control_end": 0.5}, "control_start"),
        ({"prompt": "x", "seeds": ["a"]}, "seeds"),  # user trial 8: a ValueError
        ({"prompt": "x", "seeds": [1.7]}, "seeds"),  # became 1
        ({"prompt": "x", "steps": 2.5}, "steps"),
        ({"prompt": "x", "steps": True}, "steps"),
    ]
    for kwargs, name in bad:
        with pytest.raises(ValidationError, match=f"^{name}: "):
            check_generation_options(**kwargs)  # type: ignore[arg-type]


def test_malformed_hub_ids_are_unknown_models(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An ``org/name`` text the hub client would refuse (too long, bad characters) is no model: the usual one-line
    'not a registry name' error naming the role, never the hub client's own exception (found by the fuzz campaign,
    ``generate --base org/nnn...``)."""
    from PIL import Image

    from depthforge.cli.main import main
    from depthforge.core.errors import ModelError
    from depthforge.models.diffusion import resolve_generation_model
    from depthforge.models.hub import cached_folder

    for text in ("org/" + "n" * 120, "org/bad name", "org/-x-", "org/a..b"):
        assert cached_folder(text) is None
        for role in ("base", "controlnet"):
            with pytest.raises(ModelError, match=f"^{role}: .* is not a registry name"):
                resolve_generation_model(text, role=role)  # type: ignore[arg-type]
    Image.fromarray(np.zeros((40, 70, 3), np.uint8)).save(tmp_path / "p.png")
    for flag in ("--base", "--controlnet"):
        args = ["generate", str(tmp_path / "p.png"), "--prompt", "x", "-o", str(tmp_path / "o.png")]
        assert main([*args, flag, "org/" + "n" * 120]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and "is not a registry name" in lines[0] and "internal" not in lines[0], lines
    assert not (tmp_path / "o.png").exists()
