"""Tiny randomly initialised models of the real architectures, for tests and benchmarks (no downloads).

Each builder writes a complete model folder (``config.json``, weights, ``preprocessor_config.json``) with
``save_pretrained``, so loading runs the real ``from_pretrained`` code path. ``full=True`` builds the full-size
architecture (still random weights) for speed measurements.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["build_depth_anything", "build_dpt", "build_zoedepth", "build_depth_pro", "TINY_BUILDERS"]


def _save(model: object, processor: object, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)  # type: ignore[attr-defined]
    processor.save_pretrained(folder)  # type: ignore[attr-defined]
    return folder


def _preprocessing(size_hw: tuple[int, int], resample: int, mean: list[float], std: list[float]) -> dict[str, object]:
    """The image processor settings every family shares: resize to ``size_hw``, rescale to [0, 1], normalise."""
    h, w = size_hw
    return {
        "do_resize": True,
        "size": {"height": h, "width": w},
        "resample": resample,
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": mean,
        "image_std": std,
    }


_HALF = [0.5, 0.5, 0.5]
#: A tiny ViT: DPT's own backbone and ZoeDepth's BEiT.
_TINY_VIT: dict[str, Any] = dict(
    hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64, image_size=64, patch_size=16
)
#: A tiny DPT (MiDaS 3.0) on that ViT: here and as depth2img's own estimator (:mod:`.diffusion_testing`).
TINY_DPT: dict[str, Any] = dict(
    **_TINY_VIT,
    neck_hidden_sizes=[8, 16, 32, 32],
    fusion_hidden_size=16,
    backbone_out_indices=[0, 1, 2, 3],
    readout_type="project",
)


def build_depth_anything(
    folder: str | os.PathLike[str], *, metric: bool = False, full: bool = False, seed: int = 0, lively: bool = False
) -> Path:
    """Depth Anything V2 (tiny: ~121 k parameters; ``full``: the V2 Small architecture, 24.8 M).

    ``lively``: weights of every linear and convolution layer drawn with variance 1 / fan-in, so activations keep
    their scale through the layers and the output varies over the image as a trained model's does (with the
    default small initialisation a tiny model's output is almost constant, which hides any loss of precision).
    """
    import torch
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config, DPTImageProcessor

    torch.manual_seed(seed)
    # (backbone hidden size, layers, heads, mlp ratio, image size, out indices), (fusion, neck sizes, head)
    size = (
        ((384, 12, 6, 4, 518, [3, 6, 9, 12]), (64, [48, 96, 192, 384], 32))  # V2 Small
        if full
        else ((32, 4, 2, 2, 70, [1, 2, 3, 4]), (16, [8, 16, 32, 32], 8))  # ~121 k parameters
    )
    (hidden, layers, heads, mlp, image_size, out_indices), (fusion, neck, head) = size
    backbone = Dinov2Config(
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        mlp_ratio=mlp,
        patch_size=14,
        image_size=image_size,
        out_indices=out_indices,
        reshape_hidden_states=False,
    )
    cfg = DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=hidden,
        fusion_hidden_size=fusion,
        neck_hidden_sizes=neck,
        head_hidden_size=head,
    )
    if metric:
        cfg.depth_estimation_type = "metric"
        cfg.max_depth = 20
    model = DepthAnythingForDepthEstimation(cfg).eval()
    if lively:
        _rescale_weights(model, seed)
    imagenet = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    pre = _preprocessing((518, 518), 3, *imagenet)
    processor = DPTImageProcessor(**pre, keep_aspect_ratio=True, ensure_multiple_of=14, do_pad=False)
    return _save(model, processor, Path(folder))


def _rescale_weights(model: Any, seed: int) -> None:
    """Redraw the weights of linear and convolution layers with variance 1 / fan-in (in place)."""
    import math

    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in model.modules():
            if isinstance(layer, torch.nn.Linear | torch.nn.Conv2d | torch.nn.ConvTranspose2d):
                w = layer.weight
                fan_in = w.shape[0] * w[0, 0].numel() if isinstance(layer, torch.nn.ConvTranspose2d) else w[0].numel()
                w.copy_(torch.randn(w.shape, generator=gen) / math.sqrt(fan_in))


def build_dpt(folder: str | os.PathLike[str], *, hybrid: bool = False, full: bool = False, seed: int = 0) -> Path:
    """DPT (MiDaS 3.0) with a tiny ViT backbone; ``hybrid`` uses a tiny BiT + ViT (DPT-Hybrid's architecture).

    ``full=True`` with ``hybrid`` builds the full-size DPT-Hybrid architecture (BiT-ResNet50 stages 3-4-9 and
    ViT-B/16 at 384, ~123 M parameters, random weights) for speed measurements.
    """
    import torch
    from transformers import DPTConfig, DPTForDepthEstimation, DPTImageProcessor

    torch.manual_seed(seed)
    if full and not hybrid:
        raise ValueError("full=True is available for the hybrid architecture (hybrid=True)")
    common = dict(TINY_DPT)
    if hybrid and full:
        cfg = DPTConfig(
            is_hybrid=True,
            image_size=384,
            patch_size=16,
            neck_hidden_sizes=[256, 512, 768, 768],
            fusion_hidden_size=256,
            backbone_out_indices=[2, 5, 8, 11],
            readout_type="project",
            backbone_featmap_shape=[1, 1024, 24, 24],
        )
    elif hybrid:
        from transformers import BitConfig

        bit = BitConfig(
            global_padding="same",
            layer_type="bottleneck",
            depths=[1, 1, 1],
            hidden_sizes=[16, 32, 64],
            out_features=["stage1", "stage2", "stage3"],
            embedding_dynamic_padding=True,
            num_groups=4,
            embedding_size=16,
        )
        # DPT-Hybrid's embeddings need the input size the processor produces (384) as image_size.
        common["image_size"] = 384
        cfg = DPTConfig(is_hybrid=True, backbone_config=bit, backbone_featmap_shape=[1, 64, 24, 24], **common)  # type: ignore[arg-type]
        cfg.neck_hidden_sizes = [16, 32, 32, 32]
    else:
        cfg = DPTConfig(**common)  # type: ignore[arg-type]
    model = DPTForDepthEstimation(cfg).eval()
    pre = _preprocessing((384, 384), 3, _HALF, _HALF)
    processor = DPTImageProcessor(**pre, keep_aspect_ratio=False, ensure_multiple_of=32, do_pad=False)
    return _save(model, processor, Path(folder))


def build_zoedepth(folder: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """ZoeDepth with a tiny BEiT backbone."""
    import torch
    from transformers import BeitConfig, ZoeDepthConfig, ZoeDepthForDepthEstimation, ZoeDepthImageProcessor

    torch.manual_seed(seed)
    beit = BeitConfig(
        **_TINY_VIT,
        out_indices=[1, 2, 3, 4],
        use_relative_position_bias=True,
        reshape_hidden_states=False,
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )
    cfg = ZoeDepthConfig(
        backbone_config=beit,
        neck_hidden_sizes=[8, 16, 32, 32],
        fusion_hidden_size=16,
        reassemble_hidden_size=32,
        num_relative_features=8,
        bottleneck_features=16,
        num_attractors=[4, 4, 4, 4],
        bin_embedding_dim=8,
        patch_transformer_hidden_size=16,
        patch_transformer_intermediate_size=32,
        patch_transformer_num_attention_heads=2,
        bin_configurations=[{"n_bins": 8, "min_depth": 0.001, "max_depth": 10.0, "name": "nyu"}],
    )
    model = ZoeDepthForDepthEstimation(cfg).eval()
    pre = _preprocessing((384, 512), 2, _HALF, _HALF)
    processor = ZoeDepthImageProcessor(do_pad=True, **pre, keep_aspect_ratio=True, ensure_multiple_of=32)
    return _save(model, processor, Path(folder))


def build_depth_pro(folder: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """Depth Pro with tiny DINOv2 encoders (image, patch and field-of-view)."""
    import json

    import torch
    from transformers import DepthProConfig, DepthProForDepthEstimation, Dinov2Config

    torch.manual_seed(seed)

    def enc() -> Dinov2Config:
        return Dinov2Config(
            hidden_size=32, num_hidden_layers=4, num_attention_heads=2, mlp_ratio=2, patch_size=16, image_size=64
        )

    cfg = DepthProConfig(
        fusion_hidden_size=16,
        patch_size=64,
        intermediate_hook_ids=[1, 0],
        intermediate_feature_dims=[8, 8],
        scaled_images_ratios=[0.5, 1.0],
        scaled_images_overlap_ratios=[0.0, 0.25],
        scaled_images_feature_dims=[16, 16],
        use_fov_model=True,
        image_model_config=enc(),
        patch_model_config=enc(),
        fov_model_config=enc(),
    )
    model = DepthProForDepthEstimation(cfg).eval()
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    # DepthProImageProcessor needs torchvision; its config is plain JSON, written as the processor would.
    pre = {"image_processor_type": "DepthProImageProcessor", **_preprocessing((128, 128), 2, _HALF, _HALF)}
    (out / "preprocessor_config.json").write_text(json.dumps(pre, indent=2))
    return out


TINY_BUILDERS = {
    "depth_anything": build_depth_anything,
    "dpt": build_dpt,
    "zoedepth": build_zoedepth,
    "depth_pro": build_depth_pro,
}
