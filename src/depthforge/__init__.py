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
    "Image": "depthforge.core.image",
    "read_image": "depthforge.io.images",
    "write_image": "depthforge.io.images",
    "read_depth": "depthforge.io.depthfiles",
    "write_depth": "depthforge.io.depthfiles",
    "load_model": "depthforge.models.estimator",
    "REGISTRY": "depthforge.models.registry",
    "estimate": "depthforge.pipeline.estimation",
    "to_display": "depthforge.process.normalize",
    "colorize": "depthforge.render.visualize",
    # processing and evaluation
    "fill_holes": "depthforge.process.fill",
    "bilateral_filter": "depthforge.process.filters",
    "median_filter": "depthforge.process.filters",
    "guided_filter": "depthforge.process.filters",
    "remove_speckles": "depthforge.process.filters",
    "fit_scale_shift": "depthforge.process.align",
    "align_to_points": "depthforge.process.align",
    "align_to_depth": "depthforge.process.align",
    "Alignment": "depthforge.process.align",
    "evaluate": "depthforge.process.metrics",
    "depth_metrics": "depthforge.process.metrics",
    "disparity_metrics": "depthforge.process.metrics",
    "resize_depth": "depthforge.process.resample",
    # stereo pairs: matching, splitting, composing
    "match_stereo": "depthforge.stereo",
    "split_stereo": "depthforge.stereo",
    "check_rectified": "depthforge.stereo",
    "StereoResult": "depthforge.stereo",
    "compose": "depthforge.stereo",
    "anaglyph": "depthforge.stereo",
    # image outputs
    "forward_warp": "depthforge.render.warp",
    "fill_holes_background": "depthforge.render.warp",
    "render_eye": "depthforge.render.stereo",
    "render_stereo": "depthforge.render.stereo",
    "wiggle_frames": "depthforge.render.stereo",
    "StereoParams": "depthforge.render.stereo",
    "bokeh": "depthforge.render.defocus",
    "plan_bokeh": "depthforge.render.defocus",
    "foreground_alpha": "depthforge.render.masks",
    "depth_mask": "depthforge.render.masks",
    "cutout": "depthforge.render.masks",
    "replace_background": "depthforge.render.masks",
    "render_view": "depthforge.render.parallax",
    "render_frames": "depthforge.render.parallax",
    "build_layers": "depthforge.render.layers",
    "ParallaxRenderer": "depthforge.render.parallax",
    "CameraPose": "depthforge.render.motion",
    "camera_path": "depthforge.render.motion",
    # 3D
    "mesh_from_depth": "depthforge.geometry",
    "pointcloud_from_depth": "depthforge.geometry",
    "depth_to_normals": "depthforge.geometry",
    "encode_normals": "depthforge.geometry",
    "export_mesh": "depthforge.geometry",
    "export_pointcloud": "depthforge.geometry",
    "resolve_intrinsics": "depthforge.geometry",
    "depth_to_z": "depthforge.geometry",
    "Mesh": "depthforge.geometry",
    "PointCloud": "depthforge.geometry",
    # models
    "DepthEstimator": "depthforge.models.estimator",
    "clear_model_cache": "depthforge.models.estimator",
    "load_matting_model": "depthforge.models.segmentation",
    # video, batches
    "probe_video": "depthforge.io.video",
    "iter_frames": "depthforge.io.video",
    "VideoWriter": "depthforge.io.video_writer",
    "encode_frames": "depthforge.pipeline.encode",
    "run_video": "depthforge.pipeline.video",
    "VideoOptions": "depthforge.pipeline.video",
    "TemporalStabilizer": "depthforge.pipeline.temporal",
    "flicker_index": "depthforge.pipeline.temporal",
    "run_batch": "depthforge.pipeline.batch",
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
