"""Depth models: the registry, hub resolution, preprocessing and backends; matting and segmentation models for masks
(ViTMatte, rembg's models on onnxruntime, SAM); learned inpainters; the catalogue of every named model."""

from depthforge.models.callable import CallableEstimator
from depthforge.models.estimator import DepthEstimator, clear_model_cache, load_model
from depthforge.models.hub import ModelSource, is_cached, resolve_model
from depthforge.models.inpaint import INPAINT_REGISTRY, OnnxInpainter, load_inpainter
from depthforge.models.listing import TASKS, CatalogueEntry, catalogue
from depthforge.models.marigold import marigold_source
from depthforge.models.registry import DEFAULT_MODEL, REGISTRY, ModelSpec, get_spec
from depthforge.models.rembg_backend import REMBG_REGISTRY, RembgModel, load_rembg_model
from depthforge.models.sam import DEFAULT_SAM_MODEL, SAM_REGISTRY, SamSegmenter, load_sam_model
from depthforge.models.segmentation import MattingModel, load_matting_model

__all__ = [
    "DEFAULT_MODEL",
    "INPAINT_REGISTRY",
    "REGISTRY",
    "REMBG_REGISTRY",
    "SAM_REGISTRY",
    "CallableEstimator",
    "CatalogueEntry",
    "DepthEstimator",
    "MattingModel",
    "ModelSource",
    "ModelSpec",
    "OnnxInpainter",
    "RembgModel",
    "SamSegmenter",
    "catalogue",
    "clear_model_cache",
    "get_spec",
    "is_cached",
    "load_inpainter",
    "load_matting_model",
    "load_model",
    "marigold_source",
    "load_rembg_model",
    "load_sam_model",
    "resolve_model",
    "TASKS",
    "DEFAULT_SAM_MODEL",
]
