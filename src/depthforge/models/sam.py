"""Segment Anything (SAM) through transformers, prompted with a box and points (``depthforge mask --source sam``).

SAM is transformers-native (``SamModel`` and ``SamProcessor``, Apache-2.0 weights): no remote code, no extra.
Models are resolved, cached and loaded offline with the same helpers as depth and matting models
(:mod:`depthforge.models.hub`). The prompts usually come from depth (the nearest depth band gives a box and
points: :func:`depthforge.render.fusion.depth_prompts`), so an object mask needs one click or none.

Facts follow transformers' SAM processor: the longer side is resized to 1024 and padded to 1024 x 1024
(ImageNet mean/std), prompts are given in the original image's pixels and rescaled by the processor, masks come
back as logits at 256 x 256 and are upscaled to the image by ``post_process_masks``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from depthforge.core.deprecation import renamed_attribute
from depthforge.core.errors import ValidationError
from depthforge.core.image import Image, check_image, to_uint8
from depthforge.models.hub import resolve_entry
from depthforge.models.torch_backend import PretrainedModel

__all__ = [
    "SamSpec",
    "SAM_REGISTRY",
    "DEFAULT_SAM_MODEL",
    "resolve_sam_model",
    "SamSegmenter",
    "load_sam_model",
    "build_tiny_sam",
]

DEFAULT_SAM_MODEL = "sam-vit-base"


@dataclass(frozen=True)
class SamSpec:
    """A SAM checkpoint: registry name, hub id ("" for a local folder), licence (shown to users), size."""

    name: str
    hub_id: str
    licence: str
    params_millions: float = 0.0
    params_m = renamed_attribute("params_millions", "params_m")  # the old name, for one release


SAM_REGISTRY: dict[str, SamSpec] = {
    s.name: s
    for s in (
        SamSpec("sam-vit-base", "facebook/sam-vit-base", "Apache-2.0", 94.0),
        SamSpec("sam-vit-large", "facebook/sam-vit-large", "Apache-2.0", 312.0),
        SamSpec("sam-vit-huge", "facebook/sam-vit-huge", "Apache-2.0", 641.0),
    )
}


def resolve_sam_model(model: str | None = None) -> tuple[SamSpec, str, bool]:
    """(spec, location, is_local) for a registry name, a hub id or a local folder saved with ``save_pretrained``.

    Raises:
        ModelError: unknown name, or a folder that is not a SAM model.
    """
    return resolve_entry(model or DEFAULT_SAM_MODEL, SAM_REGISTRY, model_type="sam", what="SAM model", make=SamSpec)


def _box(box_xyxy: Sequence[float], size_hw: tuple[int, int]) -> list[float]:
    if len(box_xyxy) != 4:
        raise ValidationError(f"box_xyxy: expected (x0, y0, x1, y1), got {tuple(box_xyxy)!r}")
    x0, y0, x1, y1 = (float(v) for v in box_xyxy)
    h, w = size_hw
    if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
        raise ValidationError(f"box_xyxy: ({x0:g}, {y0:g}, {x1:g}, {y1:g}) is not a box inside the {w}x{h} image")
    return [x0, y0, x1, y1]


def _points(points_xy: Sequence[Sequence[float]], point_labels: Sequence[int] | None, size_hw: tuple[int, int]):
    pts = np.asarray(points_xy, np.float64).reshape(-1, 2)
    labels = np.ones(len(pts), np.int64) if point_labels is None else np.asarray(point_labels, np.int64).ravel()
    if labels.shape != (len(pts),) or not np.isin(labels, (0, 1)).all():
        raise ValidationError(f"point_labels: expected one 0 (background) or 1 (foreground) per point, got {labels}")
    h, w = size_hw
    if not (np.isfinite(pts).all() and (pts >= 0).all() and (pts[:, 0] < w).all() and (pts[:, 1] < h).all()):
        raise ValidationError(f"points_xy: every point must lie inside the {w}x{h} image")
    return pts.tolist(), labels.tolist()


class SamSegmenter(PretrainedModel[SamSpec]):
    """A loaded SAM model: ``predict(image, box_xyxy=..., points_xy=...) -> probability``."""

    classes = ("SamModel", "SamProcessor")
    what = "SAM model"
    flag = "--sam-model"

    def __init__(self, spec: SamSpec, location: str, is_local: bool, *, device: str = "auto") -> None:
        super().__init__(spec, location, is_local, device=device)

    def predict(
        self,
        image: np.ndarray | Image,
        *,
        box_xyxy: Sequence[float] | None = None,
        points_xy: Sequence[Sequence[float]] | None = None,
        point_labels: Sequence[int] | None = None,
    ) -> np.ndarray:
        """The object's mask for a box and/or points.

        Args:
            image: (H, W, 3) uint8/uint16 RGB or an :class:`Image`.
            box_xyxy: (x0, y0, x1, y1) in the image's pixels (x right, y down), or None.
            points_xy: (x, y) pixel positions, or None; at least one of box and points is needed.
            point_labels: 1 (on the object) or 0 (background) per point; default all 1.

        Returns:
            (H, W) float32 in [0, 1]: the sigmoid of SAM's mask logits for the best of its three proposals
            (highest predicted IoU), 1 = object.
        """
        a = to_uint8(check_image(image, dtype_kind="u"))
        size_hw = (a.shape[0], a.shape[1])
        if box_xyxy is None and points_xy is None:
            raise ValidationError("box_xyxy, points_xy: give a box, points or both")
        prompts: dict[str, object] = {}
        if box_xyxy is not None:
            prompts["input_boxes"] = [[_box(box_xyxy, size_hw)]]
        if points_xy is not None:
            pts, labels = _points(points_xy, point_labels, size_hw)
            prompts["input_points"] = [[pts]]
            prompts["input_labels"] = [[labels]]
        inputs = self.processor(images=a, return_tensors="pt", **prompts)
        feed = {k: v.to(self.device) for k, v in inputs.items() if k not in ("original_sizes", "reshaped_input_sizes")}
        with self._torch.inference_mode():
            out = self.model(**feed, multimask_output=True)
        best = int(out.iou_scores[0, 0].argmax())
        logits = self.processor.image_processor.post_process_masks(
            out.pred_masks[:, :, best : best + 1].float().cpu(),
            inputs["original_sizes"],
            inputs["reshaped_input_sizes"],
            binarize=False,
        )[0][0, 0]
        return self._torch.sigmoid(logits).numpy().astype(np.float32)


def load_sam_model(model: str | None = None, *, device: str = "auto") -> SamSegmenter:
    """Load SAM by registry name, hub id or local folder (default :data:`DEFAULT_SAM_MODEL`).

    Args:
        model: a name of :data:`SAM_REGISTRY`, a hub id or a folder saved with ``save_pretrained``.
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda``, ``mps``.

    Returns:
        A :class:`SamSegmenter`, prompted with a box and points.

    Raises:
        ModelError / ModelNotAvailableError: unknown, broken, or not cached while offline.
    """
    spec, location, is_local = resolve_sam_model(model)
    return SamSegmenter(spec, location, is_local, device=device)


def build_tiny_sam(folder: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """A tiny random SAM (~94 k parameters, 64-pixel input) and its processor saved with ``save_pretrained``,
    for tests without downloads."""
    import torch
    from transformers import (
        SamConfig,
        SamMaskDecoderConfig,
        SamModel,
        SamProcessor,
        SamPromptEncoderConfig,
        SamVisionConfig,
    )
    from transformers.models.sam.image_processing_pil_sam import SamImageProcessorPil

    torch.manual_seed(seed)
    vision = SamVisionConfig(
        hidden_size=32,
        output_channels=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=64,
        patch_size=16,
        window_size=2,
        global_attn_indexes=[1],
        num_pos_feats=16,
        mlp_dim=64,
    )
    prompt = SamPromptEncoderConfig(hidden_size=32, image_size=64, patch_size=16, mask_input_channels=4)
    decoder = SamMaskDecoderConfig(
        hidden_size=32, mlp_dim=64, num_hidden_layers=2, num_attention_heads=2, iou_head_hidden_dim=32
    )
    config = SamConfig(vision_config=vision, prompt_encoder_config=prompt, mask_decoder_config=decoder)
    processor = SamProcessor(
        image_processor=SamImageProcessorPil(
            size={"longest_edge": 64},
            pad_size={"height": 64, "width": 64},
            mask_size={"longest_edge": 16},
            mask_pad_size={"height": 16, "width": 16},
        )
    )
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    SamModel(config).eval().save_pretrained(out)
    processor.save_pretrained(out)
    return out
