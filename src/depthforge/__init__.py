"""depthforge: depth maps from photos, videos and stereo pairs, and everything made from them.

Quick use::

    import depthforge as df
    depth = df.estimate("photo.jpg", model="depth-anything-v2-small")   # a DepthMap
    model = df.load_model("depth-anything-v2-small")                    # load once, reuse
    depth = df.estimate("other.jpg", model=model)

The top level holds the names a user starts from; everything else lives in its subpackage, each with an
explicit ``__all__``: :mod:`depthforge.core` (types, errors), :mod:`depthforge.process` (depth -> depth),
:mod:`depthforge.io` (files), :mod:`depthforge.models`, :mod:`depthforge.geometry` (3D),
:mod:`depthforge.render` (images and clips made from an image and its depth), :mod:`depthforge.stereo` (pairs),
:mod:`depthforge.pipeline` (folders, videos, batches). ``depthforge.render`` and the others load on first use.

Heavy libraries (torch, transformers, OpenCV) are imported only when first needed.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

__version__ = "0.1.0"

#: name -> the module that defines it, imported on first use (``import depthforge`` stays light).
_LAZY = {
    # types and the error to catch
    "DepthMap": "depthforge.core.depthmap",
    "Image": "depthforge.core.image",
    "Intrinsics": "depthforge.core.intrinsics",
    "DepthforgeError": "depthforge.core.errors",
    # depth from photos
    "load_model": "depthforge.models.estimator",
    "estimate": "depthforge.pipeline.estimation",
    # files
    "read_image": "depthforge.io.images",
    "write_image": "depthforge.io.images",
    "read_depth": "depthforge.io.depthfiles",
    "write_depth": "depthforge.io.depthfiles",
    # looking at depth, and making it better
    "to_display": "depthforge.process.normalize",
    "colorize": "depthforge.render.visualize",
    "fill_holes": "depthforge.process.fill",
    "align_to_points": "depthforge.process.align",
    "evaluate": "depthforge.process.metrics",
    # stereo
    "render_stereo": "depthforge.render.stereo",
    "match_stereo": "depthforge.stereo.matching",
    # 3D
    "mesh_from_depth": "depthforge.geometry.mesh",
    "pointcloud_from_depth": "depthforge.geometry.pointcloud",
    "depth_to_normals": "depthforge.geometry.normals",
    "export_mesh": "depthforge.geometry.export",
    "export_pointcloud": "depthforge.geometry.export",
    "resolve_intrinsics": "depthforge.geometry.camera",
    # clips and masks
    "render_frames": "depthforge.render.parallax",
    "foreground_alpha": "depthforge.render.masks",
    "run_video": "depthforge.pipeline.video",
    # images generated from depth (the diffusion extra)
    "generate": "depthforge.pipeline.generation",
}

#: The subpackages, importable as attributes (``df.render.bokeh``) without a separate import.
_SUBPACKAGES = ("core", "process", "io", "models", "geometry", "render", "stereo", "pipeline")

#: Names that were top-level before 0.1 (issue 19) -> the subpackage that exports them now. They still resolve,
#: with a DeprecationWarning, for one release.
_MOVED = {
    "InputError": "core",
    "ModelError": "core",
    "ModelNotAvailableError": "core",
    "ValidationError": "core",
    "REGISTRY": "models",
    "DepthEstimator": "models",
    "clear_model_cache": "models",
    "load_matting_model": "models",
    "bilateral_filter": "process",
    "median_filter": "process",
    "guided_filter": "process",
    "remove_speckles": "process",
    "fit_scale_shift": "process",
    "align_to_depth": "process",
    "Alignment": "process",
    "depth_metrics": "process",
    "disparity_metrics": "process",
    "resize_depth": "process",
    "split_stereo": "stereo",
    "check_rectified": "stereo",
    "StereoResult": "stereo",
    "compose": "stereo",
    "anaglyph": "stereo",
    "forward_warp": "render",
    "fill_holes_background": "render",
    "render_eye": "render",
    "wiggle_frames": "render",
    "StereoParams": "render",
    "bokeh": "render",
    "plan_bokeh": "render",
    "depth_mask": "render",
    "cutout": "render",
    "replace_background": "render",
    "render_view": "render",
    "build_layers": "render",
    "ParallaxRenderer": "render",
    "CameraPose": "render",
    "camera_path": "render",
    "encode_normals": "geometry",
    "depth_to_z": "geometry",
    "Mesh": "geometry",
    "PointCloud": "geometry",
    "probe_video": "io",
    "iter_frames": "io",
    "VideoWriter": "io",
    "encode_frames": "pipeline",
    "VideoOptions": "pipeline",
    "TemporalStabilizer": "pipeline",
    "flicker_index": "pipeline",
    "run_batch": "pipeline",
}

__all__ = sorted([*_LAZY, "__version__"])


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value
    if name in _SUBPACKAGES:
        return importlib.import_module(f"depthforge.{name}")
    if name in _MOVED:
        where = f"depthforge.{_MOVED[name]}"
        warnings.warn(
            f"depthforge.{name} moved to {where}.{name} (the top-level name will be removed in the next release)",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(where), name)
    raise AttributeError(f"module 'depthforge' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*__all__, *_SUBPACKAGES])
