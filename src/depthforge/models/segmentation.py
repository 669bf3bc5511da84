"""Matting models that refine a depth mask into a precise alpha matte (``depthforge mask --source model``).

The depth mask gives a trimap (sure foreground, sure background, an unknown band around the edge); a
trimap-based matting model from the Hugging Face hub (ViTMatte, through ``AutoModelForImageMatting``) predicts
alpha inside the band. Models are resolved, cached and loaded offline with the same helpers as depth models
(:mod:`depthforge.models.hub`); each entry carries its hub id, licence (shown to users) and preprocessing.

Facts follow the models' hub cards and ``preprocessor_config.json``: RGB rescaled to [0, 1], normalised with
mean = std = 0.5, the trimap rescaled to [0, 1] as a fourth channel, zero padding to a multiple of 32.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from depthforge.core.deprecation import renamed_attribute
from depthforge.core.image import Image, check_image
from depthforge.core.validation import check_array, check_same_hw
from depthforge.models.hub import local_config_file, normalisation, resolve_entry
from depthforge.models.torch_backend import PretrainedModel

__all__ = [
    "MattingSpec",
    "MATTING_REGISTRY",
    "DEFAULT_MATTING_MODEL",
    "resolve_matting_model",
    "prepare_matting",
    "MattingModel",
    "load_matting_model",
    "build_tiny_vitmatte",
]

DEFAULT_MATTING_MODEL = "vitmatte-small-composition-1k"


@dataclass(frozen=True)
class MattingSpec:
    """A trimap-based matting model and how to feed it.

    Attributes:
        name: registry name users type (``--matting-model``).
        hub_id: Hugging Face hub repository id ("" for a local folder).
        licence: licence of the weights, shown to users.
        multiple: inputs are zero-padded at the bottom/right to a multiple of this (pixels).
        mean, std: per-channel normalisation of RGB in [0, 1] (the trimap is only rescaled to [0, 1]).
        max_side: longer side the model runs at (larger images are reduced, alpha is resized back).
        params_millions: parameters in millions.
        notes: one line for listings.
    """

    name: str
    hub_id: str
    licence: str
    multiple: int = 32
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    max_side: int = 1024
    params_millions: float = 0.0
    params_m = renamed_attribute("params_millions", "params_m")  # the old name, for one release
    notes: str = ""


_DATASETS = {"composition-1k": "Composition-1k", "distinctions-646": "Distinctions-646"}


def _vitmatte(size: str, data: str, params: float) -> MattingSpec:
    return MattingSpec(
        name=f"vitmatte-{size}-{data}",
        hub_id=f"hustvl/vitmatte-{size}-{data}",
        licence="Apache-2.0",
        params_millions=params,
        notes=f"ViTMatte-{size[0].upper()} trained on {_DATASETS[data]}",
    )


MATTING_REGISTRY: dict[str, MattingSpec] = {
    s.name: s
    for s in (
        _vitmatte("small", "composition-1k", 25.0),
        _vitmatte("base", "composition-1k", 97.0),
        _vitmatte("small", "distinctions-646", 25.0),
        _vitmatte("base", "distinctions-646", 97.0),
    )
}


def _with_preprocessor(spec: MattingSpec, pre: dict[str, Any]) -> MattingSpec:
    changes: dict[str, Any] = {}
    div = pre.get("size_divisor", pre.get("size_divisibility"))
    if isinstance(div, int) and div >= 1:
        changes["multiple"] = div
    changes.update(normalisation(pre))
    return replace(spec, **changes) if changes else spec


def resolve_matting_model(model: str | None = None) -> tuple[MattingSpec, str, bool]:
    """(spec, location, is_local) for a registry name, a hub id or a local model folder.

    Raises:
        ModelError: unknown name, or a folder that is not a matting model.
    """
    spec, location, is_local = resolve_entry(
        model or DEFAULT_MATTING_MODEL, MATTING_REGISTRY, model_type="vitmatte", what="matting model", make=MattingSpec
    )
    if is_local:
        spec = _with_preprocessor(spec, local_config_file(location, "preprocessor_config.json"))
    return spec, location, is_local


def prepare_matting(image: np.ndarray | Image, trimap: np.ndarray, spec: MattingSpec) -> np.ndarray:
    """The model input for one image and its trimap.

    Args:
        image: (H, W, 3) uint8 RGB or an :class:`Image`.
        trimap: (H, W) uint8: 0 background, 128 unknown, 255 foreground.
        spec: the model's entry.

    Returns:
        (4, H', W') float32: normalised RGB and the trimap in [0, 1], zero-padded to multiples of ``spec.multiple``.
    """
    a = check_image(image, dtype_kind="u")
    t = check_array(trimap, "trimap", ndim=2, dtype_kind="u")
    check_same_hw(a, "image", t, "trimap")
    h, w = t.shape
    m = spec.multiple
    ph, pw = -h % m, -w % m
    out = np.zeros((4, h + ph, w + pw), np.float32)
    mean = np.asarray(spec.mean, np.float32)[:, None, None]
    std = np.asarray(spec.std, np.float32)[:, None, None]
    out[:3, :h, :w] = (a.transpose(2, 0, 1).astype(np.float32) / np.float32(255.0) - mean) / std
    out[3, :h, :w] = t.astype(np.float32) / np.float32(255.0)
    return out


class MattingModel(PretrainedModel[MattingSpec]):
    """A loaded matting model: ``predict(image, trimap) -> alpha``."""

    classes = ("AutoModelForImageMatting",)
    what = "matting model"
    flag = "--matting-model"

    def __init__(self, spec: MattingSpec, location: str, is_local: bool, *, device: str = "auto") -> None:
        super().__init__(spec, location, is_local, device=device)

    def predict(self, image: np.ndarray | Image, trimap: np.ndarray) -> np.ndarray:
        """Alpha matte for an image and its trimap.

        Args:
            image: (H, W, 3) uint8 RGB or an :class:`Image`.
            trimap: (H, W) uint8: 0 background, 128 unknown, 255 foreground.

        Returns:
            (H, W) float32 alpha in [0, 1]; sure foreground/background pixels of the trimap are kept as 1/0.
            Images longer than ``spec.max_side`` run at reduced size; the alpha is resized back.
        """
        import cv2

        a = check_image(image, dtype_kind="u")
        t = check_array(trimap, "trimap", ndim=2, dtype_kind="u")
        check_same_hw(a, "image", t, "trimap")
        h, w = t.shape
        scale = min(1.0, self.spec.max_side / max(h, w))
        small, tri = a, t
        if scale < 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            small = cv2.resize(a, size, interpolation=cv2.INTER_AREA)
            tri = cv2.resize(t, size, interpolation=cv2.INTER_NEAREST)
        x = self._torch.from_numpy(prepare_matting(small, tri, self.spec)[None]).to(self.device)
        with self._torch.inference_mode():
            alphas = self.model(pixel_values=x).alphas
        alpha = alphas[0, 0, : small.shape[0], : small.shape[1]].float().cpu().numpy()
        if scale < 1.0:
            alpha = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR)
        alpha = np.clip(alpha, 0.0, 1.0)
        alpha[t >= 192] = 1.0
        alpha[t < 64] = 0.0
        return alpha.astype(np.float32)


def load_matting_model(model: str | None = None, *, device: str = "auto") -> MattingModel:
    """Load a matting model by registry name, hub id or local folder (default :data:`DEFAULT_MATTING_MODEL`).

    Args:
        model: a name of :data:`MATTING_REGISTRY`, a hub id or a folder saved with ``save_pretrained``.
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda``, ``mps``.

    Returns:
        A :class:`MattingModel`: ``predict(image, trimap)`` gives an (H, W) float32 alpha in [0, 1].

    Raises:
        ModelError / ModelNotAvailableError: unknown, broken, or not cached while offline.
    """
    spec, location, is_local = resolve_matting_model(model)
    return MattingModel(spec, location, is_local, device=device)


def build_tiny_vitmatte(folder: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """A tiny random ViTMatte (~70 k parameters) saved with ``save_pretrained``, for tests without downloads."""
    import torch
    from transformers import VitDetConfig, VitMatteConfig, VitMatteForImageMatting
    from transformers.models.vitmatte.image_processing_pil_vitmatte import VitMatteImageProcessorPil

    torch.manual_seed(seed)
    backbone = VitDetConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        mlp_ratio=2,
        image_size=64,
        pretrain_image_size=64,
        patch_size=16,
        num_channels=4,
        out_features=["stage2"],  # type: ignore[call-arg]
        use_relative_position_embeddings=True,
    )
    cfg = VitMatteConfig(
        backbone_config=backbone,
        hidden_size=32,
        convstream_hidden_sizes=[8, 16, 16],
        fusion_hidden_sizes=[16, 16, 8, 8],
    )
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    VitMatteForImageMatting(cfg).eval().save_pretrained(out)
    VitMatteImageProcessorPil().save_pretrained(out)
    return out
