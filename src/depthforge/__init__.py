"""depthforge: depth maps from photos, videos and stereo pairs, and everything made from them.

Quick use::

    import depthforge as df
    depth = df.estimate("photo.jpg", model="depth-anything-v2-small")   # a DepthMap
    model = df.load_model("depth-anything-v2-small")                    # load once, reuse
    depth = df.estimate("other.jpg", model=model)

Heavy libraries (torch, transformers, OpenCV) are imported only when first needed.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "DepthMap": "depthforge.core.depthmap",
    "Intrinsics": "depthforge.core.intrinsics",
    "DepthforgeError": "depthforge.core.errors",
    "InputError": "depthforge.core.errors",
    "ModelError": "depthforge.core.errors",
    "ModelNotAvailableError": "depthforge.core.errors",
    "ValidationError": "depthforge.core.errors",
    "Image": "depthforge.io.images",
    "read_image": "depthforge.io.images",
    "write_image": "depthforge.io.images",
    "read_depth": "depthforge.io.depthfiles",
    "write_depth": "depthforge.io.depthfiles",
    "load_model": "depthforge.models.estimator",
    "REGISTRY": "depthforge.models.registry",
    "estimate": "depthforge.pipeline.estimate",
    "to_display": "depthforge.process.normalize",
    "colorize": "depthforge.render.visualize",
}

__all__ = sorted([*_LAZY, "__version__"])


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'depthforge' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
