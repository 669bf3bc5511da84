"""Depth models: the registry, hub resolution, preprocessing and backends."""

from depthforge.models.estimator import DepthEstimator, clear_model_cache, load_model
from depthforge.models.hub import ModelSource, is_cached, resolve_model
from depthforge.models.registry import DEFAULT_MODEL, REGISTRY, ModelSpec, get_spec

__all__ = [
    "DEFAULT_MODEL",
    "REGISTRY",
    "DepthEstimator",
    "ModelSource",
    "ModelSpec",
    "clear_model_cache",
    "get_spec",
    "is_cached",
    "load_model",
    "resolve_model",
]
