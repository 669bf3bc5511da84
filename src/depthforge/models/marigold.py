"""Marigold, the diffusion-based depth estimator, behind the one model interface (``--model marigold-...``).

Marigold (``MarigoldDepthPipeline`` in diffusers; needs the ``diffusion`` extra) predicts **affine-invariant
depth** ``d`` in [0, 1] with 0 = near: depth itself (not inverse depth), up to an unknown scale and shift. Its
training normalised each scene's depth between its 2nd and 98th percentiles, so ``d = 0`` and ``d = 1`` stand for
a near and a far distance whose ratio ``k = far / near`` the network does not tell.

depthforge hands Marigold's output on as a ``relative`` map (inverse depth, larger = nearer), converted with a
stated assumption about that ratio (:func:`affine_depth_to_relative`)::

    relative = 1 / (1 + (k - 1) * d)        k = far_near_ratio, default 10

This is exact inverse depth (up to scale) for a scene whose far/near ratio is ``k``: the geometry's default
pseudo-depth range (``near_m`` = 1, ``far_m`` = 10, see :func:`depthforge.geometry.projection.pseudo_depth`) then
gives back ``z = 1 + 9 d`` exactly, Marigold's own affine depth, so meshes, stereo, parallax and bokeh treat it as
depth, not as inverse depth. What it loses: the true ratio (a deep landscape has k >> 10, a table-top k ~ 2), so
disparities are exact in order but not in proportion unless ``k`` is set to the scene's ratio; aligning to known
distances (``process --known``) fits scale and shift in inverse-depth space and inherits that error.
The raw ``d`` is one call away: :func:`relative_to_affine_depth` inverts the conversion exactly.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from depthforge.core.deprecation import renamed_keywords
from depthforge.core.errors import ModelError, ValidationError
from depthforge.core.validation import check_positive
from depthforge.models.hub import MODEL_HINT, ModelSource, cached_folder, local_config_file, valid_hub_id
from depthforge.models.registry import ModelSpec, get_spec, spec_for_family

__all__ = [
    "MarigoldBackend",
    "DEFAULT_FAR_NEAR_RATIO",
    "affine_depth_to_relative",
    "relative_to_affine_depth",
    "marigold_source",
    "resolve_marigold",
]

DEFAULT_FAR_NEAR_RATIO = 10.0
_OPTIONS = ("steps", "ensemble_size", "seed", "far_near_ratio")


def affine_depth_to_relative(depth: np.ndarray, *, far_near_ratio: float = DEFAULT_FAR_NEAR_RATIO) -> np.ndarray:
    """Marigold's affine-invariant depth -> relative inverse depth, assuming the scene's far/near ratio.

    Args:
        depth: (H, W) float, affine-invariant depth in [0, 1], 0 = near (values outside are clipped); NaN kept.
        far_near_ratio: ``k`` = the distance ``d = 1`` stands for over the distance ``d = 0`` stands for (> 1).

    Returns:
        (H, W) float32 in [1 / k, 1], larger = nearer: ``1 / (1 + (k - 1) * d)``.

    >>> affine_depth_to_relative(np.array([[0.0, 1.0]]), far_near_ratio=4.0).tolist()
    [[1.0, 0.25]]
    """
    k = check_positive(far_near_ratio, "far_near_ratio")
    if k <= 1:
        raise ValidationError(f"far_near_ratio: {k:g} must be above 1 (far is farther than near)")
    d = np.clip(np.asarray(depth, dtype=np.float32), 0.0, 1.0)
    return (1.0 / (1.0 + np.float32(k - 1.0) * d)).astype(np.float32)


def relative_to_affine_depth(relative: np.ndarray, *, far_near_ratio: float = DEFAULT_FAR_NEAR_RATIO) -> np.ndarray:
    """The inverse of :func:`affine_depth_to_relative`: (H, W) float32 affine depth in [0, 1], 0 = near."""
    k = check_positive(far_near_ratio, "far_near_ratio")
    with np.errstate(divide="ignore", invalid="ignore"):
        return ((1.0 / np.asarray(relative, dtype=np.float32) - 1.0) / np.float32(k - 1.0)).astype(np.float32)


def _marigold_spec(name: str, hub_id: str = "", index: dict[str, Any] | None = None) -> ModelSpec:
    """A Marigold spec for a model outside the registry (a folder or a cached hub id); the pipeline's own
    ``default_processing_resolution`` (its ``model_index.json``) is the processing size when it states one."""
    spec = spec_for_family("marigold", kind="relative", name=name, hub_id=hub_id)
    size = (index or {}).get("default_processing_resolution")
    if isinstance(size, int) and not isinstance(size, bool) and 8 <= size <= 4096:
        spec = spec.with_overrides(input_size_hw=(size, size))
    return spec


def resolve_marigold(model: str) -> ModelSource | None:
    """A Marigold registry name, hub id or local pipeline folder as a :class:`ModelSource`; None for anything
    else (then it is resolved as a transformers depth model)."""
    text = model.strip()
    path = Path(text).expanduser()
    if path.is_dir():
        index = local_config_file(path, "model_index.json")
        if str(index.get("_class_name", "")).startswith("Marigold"):
            return ModelSource(_marigold_spec(path.name, index=index), str(path.resolve()), True)
        return None
    spec = get_spec(text)
    if spec is not None:
        return ModelSource(spec, spec.hub_id, False) if spec.family == "marigold" else None
    if text.count("/") == 1 and "://" not in text and valid_hub_id(text):
        folder = cached_folder(text, "model_index.json")
        index = local_config_file(folder, "model_index.json") if folder is not None else {}
        if str(index.get("_class_name", "")).startswith("Marigold"):
            return ModelSource(_marigold_spec(text, text, index), text, False)
    return None


@renamed_keywords(processing_resolution="resolution_px")
def marigold_source(
    model: str = "marigold-depth-v1-1",
    *,
    steps: int | None = None,
    ensemble_size: int = 1,
    resolution_px: int | None = None,
    seed: int = 0,
    far_near_ratio: float = DEFAULT_FAR_NEAR_RATIO,
) -> ModelSource:
    """A Marigold model with its options, for :func:`depthforge.models.load_model`.

    Args:
        model: a Marigold registry name, hub id or local pipeline folder.
        steps: denoising steps (None: the model's own default, e.g. 4 for v1-1 and the LCM variant).
        ensemble_size: predictions per image, aligned and averaged (>= 3 also gives an uncertainty map).
        resolution_px: long side (pixels) the image is processed at, diffusers' ``processing_resolution``
            (None: the pipeline's own ``default_processing_resolution``, else 768).
        seed: the noise seed: the same seed gives the same depth.
        far_near_ratio: the assumed far/near ratio of the conversion to relative inverse depth (module doc).

    Raises:
        ModelError: ``model`` is not a Marigold model. ValidationError: an option out of range.
    """
    source = resolve_marigold(model)
    if source is None:
        raise ModelError(f"model '{model}' is not a Marigold model (see 'depthforge models')")
    if steps is not None and steps < 1:
        raise ValidationError(f"steps: {steps} must be at least 1")
    if ensemble_size < 1:
        raise ValidationError(f"ensemble_size: {ensemble_size} must be at least 1")
    affine_depth_to_relative(np.zeros((1, 1)), far_near_ratio=far_near_ratio)  # checks the ratio
    extra = {
        **source.spec.extra,
        "steps": float(steps or 0),
        "ensemble_size": float(ensemble_size),
        "seed": float(seed),
        "far_near_ratio": float(far_near_ratio),
    }
    changes: dict[str, Any] = {"extra": extra}
    if resolution_px is not None:
        if resolution_px < 8:
            raise ValidationError(f"resolution_px: {resolution_px} must be at least 8 pixels")
        changes["input_size_hw"] = (resolution_px, resolution_px)
    return dataclasses.replace(source, spec=source.spec.with_overrides(**changes))


class MarigoldBackend:
    """Runs a ``MarigoldDepthPipeline`` on the estimator's prepared batch (PyTorch; fp16 on GPUs).

    The estimator resizes each photo by the spec's size rule; the pipeline then processes it at that size
    (``processing_resolution=0``) and returns Marigold's affine depth at that size, which the estimator resizes back
    and converts (:func:`affine_depth_to_relative`).
    """

    name = "torch"
    static_shapes = False

    def __init__(self, source: ModelSource, *, device: str = "auto", dtype: str = "auto") -> None:
        import torch

        from depthforge.models.diffusion import GenerationSource, GenerationSpec, from_pretrained, require_diffusers
        from depthforge.models.torch_backend import pick_device, set_cpu_threads

        diffusers = require_diffusers()
        self.device = pick_device(device)
        self.dtype = dtype if dtype != "auto" else ("fp16" if self.device in ("cuda", "mps") else "fp32")
        if self.device == "cpu":
            set_cpu_threads()
        torch_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[self.dtype]
        self.spec = source.spec
        # loaded like the generation pipelines: offline-first, one-line error when neither cached nor reachable
        as_pipeline = GenerationSpec(
            source.spec.name, source.spec.hub_id, "base", "sd2-depth", source.spec.licence, 768
        )
        pipe = from_pretrained(
            diffusers.MarigoldDepthPipeline,
            GenerationSource(as_pipeline, source.location, source.is_local),
            hint=MODEL_HINT,  # a Marigold model is chosen with --model
            torch_dtype=torch_dtype,
        )
        pipe.set_progress_bar_config(disable=True)
        self.pipe = pipe.to(self.device)
        self.deviation: float | None = 0.0 if self.dtype == "fp32" else None

    def option(self, name: str, default: float) -> float:
        """One of the spec's Marigold options (steps, ensemble_size, seed, far_near_ratio)."""
        return float(self.spec.extra.get(name, default))

    def run(self, batch: np.ndarray, *, uncertainty: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """(B, 3, h, w) float32 normalised input -> affine depth (B, h, w) float32 in [0, 1] (0 = near) and, with
        ``uncertainty`` (ensembles of 3 or more), the ensemble's spread (B, h, w) in the same units."""
        import torch

        ensemble = int(self.option("ensemble_size", 1))
        if uncertainty and ensemble < 3:
            raise ValidationError(f"ensemble_size: an uncertainty map needs at least 3 predictions, not {ensemble}")
        mean = np.asarray(self.spec.mean, np.float32)[None, :, None, None]
        std = np.asarray(self.spec.std, np.float32)[None, :, None, None]
        pixels = np.clip(batch * std + mean, 0.0, 1.0)  # back to [0, 1]: the pipeline normalises itself
        steps = int(self.option("steps", 0)) or None
        generator = torch.Generator(device=self.device).manual_seed(int(self.option("seed", 0)))
        out = self.pipe(
            torch.from_numpy(np.ascontiguousarray(pixels)),
            num_inference_steps=steps,
            ensemble_size=ensemble,
            processing_resolution=0,
            match_input_resolution=True,
            generator=generator,
            output_type="np",
            output_uncertainty=uncertainty,
        )
        depth = np.asarray(out.prediction, dtype=np.float32)[..., 0]
        spread = None if out.uncertainty is None else np.asarray(out.uncertainty, dtype=np.float32)[..., 0]
        return depth, spread

    def forward(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(B, 3, h, w) float32 normalised input -> (affine depth (B, h, w) float32, None)."""
        return self.run(batch)[0], None
