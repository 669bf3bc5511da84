"""Tiny randomly initialised diffusion pipelines of the real architectures, for tests and benchmarks (no downloads).

Each builder writes a complete pipeline folder (``model_index.json`` and one sub-folder per component) with
``save_pretrained``, so loading runs the real ``from_pretrained`` code path of :mod:`depthforge.models.diffusion`
and :mod:`depthforge.models.marigold`. The text side is a tiny CLIP text encoder with a byte-level CLIP tokenizer
(every byte a token, no merges) written to the folder. The VAE has two blocks (a latent is half the image's size,
where Stable Diffusion's is an eighth), so images of a few tens of pixels run in milliseconds.

A ControlNet built from a config has zero-initialised "zero convolutions": its control image then has no effect
at all. :func:`build_tiny_controlnet` randomises them (``randomise=True``, the default) so tests can see the
conditioning. Requires the ``diffusion`` extra (diffusers).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from depthforge.models.testing import TINY_DPT

__all__ = [
    "build_tiny_sd",
    "build_tiny_sdxl",
    "build_tiny_controlnet",
    "build_tiny_depth2img",
    "build_tiny_marigold",
    "sd15_unet_config",
]

_TEXT_DIM = 32
_BLOCKS = (32, 64)
#: What makes a UNet or ControlNet an SDXL one: the pooled text embedding of the second encoder and six size and
#: crop numbers (8 channels each) added to the time embedding; cross-attention over both encoders' features.
_SDXL = {
    "addition_embed_type": "text_time",
    "addition_time_embed_dim": 8,
    "projection_class_embeddings_input_dim": _TEXT_DIM + 6 * 8,
    "cross_attention_dim": 2 * _TEXT_DIM,
}


def _tokenizer(folder: Path) -> Any:
    """A byte-level CLIP tokenizer: every printable byte character (and its end-of-word form) is one token."""
    from transformers import CLIPTokenizer

    chars = _byte_characters()
    vocab: dict[str, int] = {}
    for token in [*chars, *(c + "</w>" for c in chars), "<|startoftext|>", "<|endoftext|>"]:
        vocab.setdefault(token, len(vocab))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    tok = CLIPTokenizer(
        str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=16, pad_token="<|endoftext|>"
    )
    tok.save_pretrained(folder)
    return tok


def _byte_characters() -> list[str]:
    """The 256 characters GPT-2 / CLIP byte-level BPE uses for the bytes 0..255: printable Latin-1 bytes stand for
    themselves, the others for the code points 256, 257, ... in byte order."""
    printable = {*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)}
    out, extra = [], 0
    for b in range(256):
        if b in printable:
            out.append(chr(b))
        else:
            out.append(chr(256 + extra))
            extra += 1
    return out


def _text_encoder(vocab_size: int, *, projection: bool = False) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    cfg = CLIPTextConfig(
        hidden_size=_TEXT_DIM,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        vocab_size=vocab_size,
        max_position_embeddings=16,
        bos_token_id=vocab_size - 2,
        eos_token_id=vocab_size - 1,
        pad_token_id=vocab_size - 1,
        projection_dim=_TEXT_DIM,
    )
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(cfg).eval()


def _unet(in_channels: int = 4, *, sdxl: bool = False) -> Any:
    from diffusers import UNet2DConditionModel

    extra = _SDXL if sdxl else {"cross_attention_dim": _TEXT_DIM}
    unet: Any = UNet2DConditionModel(
        **extra,
        sample_size=16,
        in_channels=in_channels,
        out_channels=4,
        block_out_channels=_BLOCKS,
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=8,
        norm_num_groups=8,
    )
    return unet.eval()


def _vae() -> Any:
    from diffusers import AutoencoderKL

    vae: Any = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=_BLOCKS,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=32,
    )
    return vae.eval()


def _text_parts(folder: Path) -> tuple[Any, Any]:
    from depthforge.models.diffusion import require_diffusers

    require_diffusers()  # and quiet diffusers' and transformers' logs and progress bars
    tok = _tokenizer(folder / "tokenizer")
    return tok, _text_encoder(len(tok))


def build_tiny_sd(folder: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """A tiny Stable Diffusion 1.5-style text-to-image pipeline (``StableDiffusionPipeline``, DDIM scheduler)."""
    import torch
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    torch.manual_seed(seed)
    out = Path(folder)
    tok, text = _text_parts(out)
    pipe: Any = StableDiffusionPipeline(
        vae=_vae(),
        text_encoder=text,
        tokenizer=tok,
        unet=_unet(),
        scheduler=DDIMScheduler(
            beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False, steps_offset=1
        ),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(out)
    return out


def build_tiny_sdxl(folder: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """A tiny Stable Diffusion XL text-to-image pipeline (``StableDiffusionXLPipeline``: two text encoders, the
    second with a projection; a UNet with SDXL's added time embedding; Euler scheduler)."""
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline

    torch.manual_seed(seed)
    out = Path(folder)
    tok, text = _text_parts(out)
    tok_2 = _tokenizer(out / "tokenizer_2")
    pipe: Any = StableDiffusionXLPipeline(
        vae=_vae(),
        text_encoder=text,
        text_encoder_2=_text_encoder(len(tok_2), projection=True),
        tokenizer=tok,
        tokenizer_2=tok_2,
        unet=_unet(sdxl=True),
        scheduler=EulerDiscreteScheduler(beta_schedule="scaled_linear", steps_offset=1, timestep_spacing="leading"),
    )
    pipe.save_pretrained(out)
    return out


def build_tiny_controlnet(
    folder: str | os.PathLike[str], *, randomise: bool = True, seed: int = 0, sdxl: bool = False
) -> Path:
    """A tiny depth ControlNet for :func:`build_tiny_sd`'s UNet (``ControlNetModel``), or with ``sdxl`` for
    :func:`build_tiny_sdxl`'s.

    ``randomise``: give the zero convolutions (and the conditioning embedding's last conv) random weights, so the
    control image changes the result (from a config they are zeros and the ControlNet adds nothing).
    """
    import torch
    from diffusers import ControlNetModel

    torch.manual_seed(seed)
    extra = _SDXL if sdxl else {"cross_attention_dim": _TEXT_DIM}
    net: Any = ControlNetModel(
        **extra,
        in_channels=4,
        block_out_channels=_BLOCKS,
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        attention_head_dim=8,
        norm_num_groups=8,
        conditioning_embedding_out_channels=(16, 32),
    )
    net.eval()
    if randomise:
        zero = [*net.controlnet_down_blocks, net.controlnet_mid_block, net.controlnet_cond_embedding.conv_out]
        with torch.no_grad():
            for conv in zero:
                torch.nn.init.normal_(conv.weight, std=0.3)
                torch.nn.init.normal_(conv.bias, std=0.3)
    out = Path(folder)
    net.save_pretrained(out)
    return out


def build_tiny_depth2img(folder: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """A tiny ``StableDiffusionDepth2ImgPipeline`` (a 5-channel UNet: latents + depth) with a tiny DPT estimator
    for the pipeline's own depth path."""
    import torch
    from diffusers import DDIMScheduler, StableDiffusionDepth2ImgPipeline
    from transformers import DPTConfig, DPTForDepthEstimation, DPTImageProcessor

    torch.manual_seed(seed)
    out = Path(folder)
    tok, text = _text_parts(out)
    dpt = DPTConfig(**{**TINY_DPT, "image_size": 32})
    processor = DPTImageProcessor(
        size={"height": 32, "width": 32}, keep_aspect_ratio=False, ensure_multiple_of=16, do_pad=False
    )
    pipe: Any = StableDiffusionDepth2ImgPipeline(
        vae=_vae(),
        text_encoder=text,
        tokenizer=tok,
        unet=_unet(in_channels=5),
        scheduler=DDIMScheduler(
            beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False, steps_offset=1
        ),
        depth_estimator=DPTForDepthEstimation(dpt).eval(),
        feature_extractor=processor,
    )
    pipe.save_pretrained(out)
    return out


def build_tiny_marigold(folder: str | os.PathLike[str], *, lcm: bool = False, seed: int = 0) -> Path:
    """A tiny ``MarigoldDepthPipeline`` (an 8-channel UNet: image latent + depth latent; DDIM, or LCM with
    ``lcm``) with 2 default steps at a processing resolution of 32 pixels."""
    import torch
    from diffusers import DDIMScheduler, LCMScheduler, MarigoldDepthPipeline

    torch.manual_seed(seed)
    out = Path(folder)
    tok, text = _text_parts(out)
    schedule: dict[str, Any] = {"beta_schedule": "scaled_linear", "timestep_spacing": "trailing"}
    scheduler = LCMScheduler(**schedule) if lcm else DDIMScheduler(**schedule, prediction_type="v_prediction")
    pipe: Any = MarigoldDepthPipeline(
        unet=_unet(in_channels=8),
        vae=_vae(),
        scheduler=scheduler,
        text_encoder=text,
        tokenizer=tok,
        prediction_type="depth",
        scale_invariant=True,
        shift_invariant=True,
        default_denoising_steps=2,
        default_processing_resolution=32,
    )
    pipe.save_pretrained(out)
    return out


def sd15_unet_config() -> dict[str, Any]:
    """The UNet configuration of Stable Diffusion 1.5 (860 M parameters; 64x64 latents for 512x512 images), for
    speed measurements of the full-size architecture with random weights."""
    return {
        "sample_size": 64,
        "in_channels": 4,
        "out_channels": 4,
        "block_out_channels": (320, 640, 1280, 1280),
        "layers_per_block": 2,
        "down_block_types": ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        "up_block_types": ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        "cross_attention_dim": 768,
        "attention_head_dim": 8,
        "norm_num_groups": 32,
    }
