"""Image outputs made from an image and its depth: stereo views, parallax clips, bokeh, masks, colour maps.

Every function that takes both takes ``(image, depth, *, ...)``: ``image`` an (H, W, 3) RGB array or an
:class:`~depthforge.core.image.Image`, ``depth`` a :class:`~depthforge.core.depthmap.DepthMap` of the same size.
Composing two views into one picture (side by side, anaglyph) is :func:`depthforge.stereo.compose`.
"""

from depthforge.render.defocus import BokehPlan, bokeh, plan_bokeh
from depthforge.render.fusion import DepthPrompt, FusedMask, depth_prompts, depth_without_background, fuse_segmentation
from depthforge.render.inpainting import INPAINT_METHODS, InpaintMethod, inpaint
from depthforge.render.layered_scene import LayeredScene
from depthforge.render.layers import build_layers
from depthforge.render.masks import (
    THRESHOLD_METHODS,
    alpha_to_uint8,
    cutout,
    depth_mask,
    foreground_alpha,
    refine_alpha,
    replace_background,
)
from depthforge.render.motion import EASINGS, MOTIONS, CameraPose, camera_path, max_disocclusion_px, plan_motion
from depthforge.render.parallax import ParallaxRenderer, render_frames, render_view
from depthforge.render.quilt import QUILT_PRESETS, quilt_suffix, quilt_views, render_quilt
from depthforge.render.scene import render_stereo_layers, scene_frames
from depthforge.render.stereo import StereoParams, render_eye, render_stereo, wiggle_frames
from depthforge.render.visualize import COLORMAPS, colorize, combine, controlnet_image
from depthforge.render.warp import WarpResult, fill_holes_background, forward_warp

__all__ = [
    "COLORMAPS",
    "EASINGS",
    "INPAINT_METHODS",
    "MOTIONS",
    "QUILT_PRESETS",
    "THRESHOLD_METHODS",
    "BokehPlan",
    "CameraPose",
    "FusedMask",
    "LayeredScene",
    "ParallaxRenderer",
    "StereoParams",
    "WarpResult",
    "alpha_to_uint8",
    "bokeh",
    "build_layers",
    "camera_path",
    "colorize",
    "combine",
    "controlnet_image",
    "cutout",
    "depth_mask",
    "depth_prompts",
    "depth_without_background",
    "fill_holes_background",
    "foreground_alpha",
    "forward_warp",
    "fuse_segmentation",
    "inpaint",
    "max_disocclusion_px",
    "plan_motion",
    "plan_bokeh",
    "quilt_suffix",
    "quilt_views",
    "refine_alpha",
    "render_eye",
    "render_frames",
    "render_quilt",
    "render_stereo",
    "render_stereo_layers",
    "render_view",
    "replace_background",
    "scene_frames",
    "wiggle_frames",
    "DepthPrompt",
    "InpaintMethod",
]
