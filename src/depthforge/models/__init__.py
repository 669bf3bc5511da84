"""Depth models: the registry, hub resolution, preprocessing and backends, and the matting model for masks."""

from depthforge.models.callable import CallableEstimator
from depthforge.models.estimator import DepthEstimator, clear_model_cache, load_model
from depthforge.models.hub import ModelSource, is_cached, resolve_model
from depthforge.models.registry import DEFAULT_MODEL, REGISTRY, ModelSpec, get_spec
from depthforge.models.segmentation import MattingModel, load_matting_model

__all__ = [
    "DEFAULT_MODEL",
    "REGISTRY",
    "CallableEstimator",
    "DepthEstimator",
    "MattingModel",
    "ModelSource",
    "ModelSpec",
    "clear_model_cache",
    "get_spec",
    "is_cached",
    "load_matting_model",
    "load_model",
    "resolve_model",
]
