"""The ComfyUI nodes: load a model, estimate, bring your own depth, save 16-bit / EXR, stereo, normals, mask,
bokeh, mesh export and parallax video.

Each node is a class in ComfyUI's (V1) form: ``INPUT_TYPES`` (a classmethod), ``RETURN_TYPES``, ``FUNCTION`` and
``CATEGORY``; output nodes write into ComfyUI's output folder and return the paths they wrote. Images and masks
follow ComfyUI's contracts (see :mod:`depthforge.integrations.comfyui.convert`); depth travels as
``DEPTHFORGE_DEPTH`` with its kind and units.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from depthforge.core.depthmap import DEPTH_KINDS, DepthMap
from depthforge.integrations.comfyui.convert import (
    NORMALISATIONS,
    DepthBatch,
    arrays_to_images,
    arrays_to_masks,
    comfy_device,
    depth_to_images,
    images_to_arrays,
    output_file,
)

__all__ = ["NODES"]

_CATEGORY = "depthforge"
_DETAIL = ("off", "auto", "4", "9", "16")
_DEPTH_FORMATS = {"png16": ".png", "exr": ".exr", "tiff": ".tiff", "npy": ".npy", "pfm": ".pfm", "png16mm": ".png"}
_MODEL = ("DEPTHFORGE_MODEL",)
_DEPTH = ("DEPTHFORGE_DEPTH",)
_IMAGE: Any = ("IMAGE",)


def _float(default: float, low: float, high: float, step: float = 0.01) -> tuple[str, dict[str, float]]:
    return ("FLOAT", {"default": default, "min": low, "max": high, "step": step})


def _int(default: int, low: int, high: int, step: int = 1) -> tuple[str, dict[str, int]]:
    return ("INT", {"default": default, "min": low, "max": high, "step": step})


def _choice(options: Any, default: str) -> tuple[list[str], dict[str, str]]:
    return (list(options), {"default": default})


class _Node:
    CATEGORY = _CATEGORY
    FUNCTION = "run"
    DISPLAY: ClassVar[str] = ""


class LoadModel(_Node):
    """A depth model: a registry name, or a local folder (``save_pretrained`` layout) when ``folder`` is set.
    Runs on ComfyUI's device unless ``device`` says otherwise."""

    DISPLAY = "Load depth model (depthforge)"
    RETURN_TYPES = _MODEL

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        from depthforge.models.registry import REGISTRY

        return {
            "required": {
                "model": _choice(REGISTRY, "depth-anything-v2-small"),
                "device": _choice(("comfy", "auto", "cpu", "cuda", "mps"), "comfy"),
            },
            "optional": {"folder": ("STRING", {"default": ""})},
        }

    def run(self, model: str, device: str, folder: str = "") -> tuple[Any]:
        from depthforge.models.estimator import load_model

        return (load_model(folder.strip() or model, device=comfy_device() if device == "comfy" else device),)


class Estimate(_Node):
    """Depth of every frame: a display ``IMAGE`` (near = white) and the raw ``DEPTHFORGE_DEPTH``."""

    DISPLAY = "Estimate depth (depthforge)"
    RETURN_TYPES = ("IMAGE", "DEPTHFORGE_DEPTH")
    RETURN_NAMES = ("depth_image", "depth")

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "model": _MODEL,
                "image": _IMAGE,
                "normalisation": _choice(NORMALISATIONS, "per-batch"),
                "detail": _choice(_DETAIL, "off"),
                "invert": ("BOOLEAN", {"default": False}),
            }
        }

    def run(self, model: Any, image: Any, normalisation: str, detail: str, invert: bool) -> tuple[Any, DepthBatch]:
        from depthforge.pipeline.detail import estimate_detailed, parse_detail

        frames = images_to_arrays(image)
        mode = parse_detail(detail)
        if mode is None:
            maps = model.predict_batch(frames)
        else:
            maps = [estimate_detailed(f, model, detail=mode) for f in frames]
        depth = DepthBatch(tuple(maps))
        return arrays_to_images(depth_to_images(depth, normalisation=normalisation, invert=invert)), depth


class DepthToImage(_Node):
    """A ``DEPTHFORGE_DEPTH`` as a display ``IMAGE`` (e.g. for ControlNet), with a chosen normalisation."""

    DISPLAY = "Depth to image (depthforge)"
    RETURN_TYPES = _IMAGE

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        from depthforge.render.visualize import COLORMAPS

        return {
            "required": {
                "depth": _DEPTH,
                "normalisation": _choice(NORMALISATIONS, "per-batch"),
                "invert": ("BOOLEAN", {"default": False}),
                "colormap": _choice(COLORMAPS, "gray"),
            }
        }

    def run(self, depth: DepthBatch, normalisation: str, invert: bool, colormap: str) -> tuple[Any]:
        from depthforge.render.visualize import colorize

        shown = depth_to_images(depth, normalisation=normalisation, invert=invert)
        return (arrays_to_images([colorize(s, colormap=colormap) for s in shown]),)


class DepthFromImage(_Node):
    """Your own depth map (an ``IMAGE``, channel 0) as ``DEPTHFORGE_DEPTH``: values x ``scale`` of ``kind``
    (relative: near = white; metric: metres; disparity: pixels)."""

    DISPLAY = "Depth from image (depthforge)"
    RETURN_TYPES = _DEPTH

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "depth_image": _IMAGE,
                "kind": _choice(DEPTH_KINDS, "relative"),
                "scale": _float(1.0, 1e-6, 1e6, 0.001),
            }
        }

    def run(self, depth_image: Any, kind: str, scale: float) -> tuple[DepthBatch]:
        array = depth_image.detach().cpu().float().numpy() if hasattr(depth_image, "detach") else depth_image
        array = np.asarray(array, dtype=np.float32)
        array = array[None] if array.ndim == 3 else array
        maps = tuple(DepthMap(frame[:, :, 0] * np.float32(scale), kind=kind) for frame in array)  # type: ignore[arg-type]
        return (DepthBatch(maps),)


class SaveDepth(_Node):
    """Write every map of the batch: 16-bit PNG (range in its metadata), EXR / TIFF / NPY / PFM (raw float32), or
    PNG millimetres (metric maps). Returns the paths, one a line."""

    DISPLAY = "Save depth 16-bit / EXR (depthforge)"
    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("paths",)
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "depth": _DEPTH,
                "filename_prefix": ("STRING", {"default": "depthforge/depth"}),
                "format": _choice(_DEPTH_FORMATS, "png16"),
            }
        }

    def run(self, depth: DepthBatch, filename_prefix: str, format: str) -> tuple[str]:  # noqa: A002
        from depthforge.io.depthfiles import write_depth

        paths = [
            write_depth(output_file(filename_prefix, _DEPTH_FORMATS[format]), m, format=format) for m in depth.maps
        ]
        return ("\n".join(str(p) for p in paths),)


class Stereo(_Node):
    """Stereo 3D images: side by side, top-bottom, or anaglyph."""

    DISPLAY = "Stereo 3D (depthforge)"
    RETURN_TYPES = _IMAGE

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        from depthforge.stereo.layouts import LAYOUTS

        return {
            "required": {
                "image": _IMAGE,
                "depth": _DEPTH,
                "layout": _choice(LAYOUTS, "left-right"),
                "divergence": _float(2.5, 0.0, 20.0, 0.1),
                "convergence": _float(0.0, 0.0, 1.0),
                "separation": _float(0.0, -20.0, 20.0, 0.1),
            }
        }

    def run(
        self, image: Any, depth: DepthBatch, layout: str, divergence: float, convergence: float, separation: float
    ) -> tuple[Any]:
        from depthforge.render.stereo import StereoParams, render_stereo
        from depthforge.stereo.layouts import compose

        params = StereoParams(divergence=divergence, convergence=convergence, separation=separation)
        out = [
            compose(*render_stereo(img, d, params=params), layout=layout)
            for img, d in depth.pair(images_to_arrays(image))
        ]
        return (arrays_to_images(out),)


class Normals(_Node):
    """Normal maps (OpenGL or DirectX convention) from depth through a pinhole camera of ``fov_deg``."""

    DISPLAY = "Normal map (depthforge)"
    RETURN_TYPES = _IMAGE

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "depth": _DEPTH,
                "fov_deg": _float(60.0, 5.0, 170.0, 1.0),
                "smooth_px": _float(1.0, 0.0, 20.0, 0.5),
                "convention": _choice(("opengl", "directx"), "opengl"),
            }
        }

    def run(self, depth: DepthBatch, fov_deg: float, smooth_px: float, convention: str) -> tuple[Any]:
        from depthforge.geometry.camera import resolve_intrinsics
        from depthforge.geometry.normals import depth_to_normals, encode_normals

        out = []
        for d in depth.maps:
            intr = resolve_intrinsics(d.shape, fov_deg=fov_deg, fallback=d.intrinsics)
            normals = depth_to_normals(d, intrinsics=intr, smooth_depth_px=smooth_px)
            out.append(encode_normals(normals, convention=convention, bits=16))
        return (arrays_to_images(out),)


class Mask(_Node):
    """Foreground ``MASK`` from depth (1 = near). ``threshold`` < 0: automatic (Otsu); relative maps: a fraction of
    the range (1 = nearest); metric: metres; disparity: pixels. With ``image``, edges snap to the photo's."""

    DISPLAY = "Depth mask (depthforge)"
    RETURN_TYPES = ("MASK",)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "depth": _DEPTH,
                "threshold": _float(-1.0, -1.0, 1000.0),
                "largest": ("BOOLEAN", {"default": False}),
            },
            "optional": {"image": _IMAGE},
        }

    def run(self, depth: DepthBatch, threshold: float, largest: bool, image: Any = None) -> tuple[Any]:
        from depthforge.render.masks import foreground_alpha

        thr = None if threshold < 0 else threshold
        if image is None:
            alphas = [foreground_alpha(d, threshold=thr, largest=largest) for d in depth.maps]
        else:
            pairs = depth.pair(images_to_arrays(image))
            alphas = [foreground_alpha(d, image=img, threshold=thr, largest=largest) for img, d in pairs]
        return (arrays_to_masks(alphas),)


class Bokeh(_Node):
    """Shallow depth of field; the focus point as fractions of the width and height (< 0: automatic)."""

    DISPLAY = "Bokeh (depthforge)"
    RETURN_TYPES = _IMAGE

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "image": _IMAGE,
                "depth": _DEPTH,
                "focus_x": _float(-1.0, -1.0, 1.0),
                "focus_y": _float(-1.0, -1.0, 1.0),
                "aperture_px": _float(12.0, 0.0, 100.0, 0.5),
                "blades": _int(0, 0, 12),
                "highlight_gain": _float(2.0, 1.0, 8.0, 0.5),
            }
        }

    def run(
        self,
        image: Any,
        depth: DepthBatch,
        focus_x: float,
        focus_y: float,
        aperture_px: float,
        blades: int,
        highlight_gain: float,
    ) -> tuple[Any]:
        from depthforge.render.defocus import bokeh

        out = []
        for img, d in depth.pair(images_to_arrays(image)):
            h, w = d.shape
            xy = None if focus_x < 0 or focus_y < 0 else (focus_x * (w - 1), focus_y * (h - 1))
            sides = 0 if blades < 3 else blades
            out.append(bokeh(img, d, focus_xy=xy, aperture_px=aperture_px, blades=sides, highlight_gain=highlight_gain))
        return (arrays_to_images(out),)


class MeshExport(_Node):
    """A textured mesh per frame (GLB, PLY or OBJ); relative maps become pseudo-depth between ``near_m`` and
    ``far_m`` (not metric). Returns the paths, one a line."""

    DISPLAY = "Export mesh (depthforge)"
    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("paths",)
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "image": _IMAGE,
                "depth": _DEPTH,
                "filename_prefix": ("STRING", {"default": "depthforge/mesh"}),
                "format": _choice(("glb", "ply", "obj"), "glb"),
                "fov_deg": _float(60.0, 5.0, 170.0, 1.0),
                "near_m": _float(1.0, 0.01, 1000.0),
                "far_m": _float(10.0, 0.02, 10000.0),
                "target_vertices": _int(200_000, 16, 2_000_000, 1000),
            }
        }

    def run(
        self,
        image: Any,
        depth: DepthBatch,
        filename_prefix: str,
        format: str,  # noqa: A002
        fov_deg: float,
        near_m: float,
        far_m: float,
        target_vertices: int,
    ) -> tuple[str]:
        from depthforge.geometry.camera import resolve_intrinsics
        from depthforge.geometry.export import export_mesh
        from depthforge.geometry.mesh import mesh_from_depth

        paths = []
        for img, d in depth.pair(images_to_arrays(image)):
            intr = resolve_intrinsics(d.shape, fov_deg=fov_deg, fallback=d.intrinsics)
            mesh = mesh_from_depth(
                d, image=img, intrinsics=intr, near_m=near_m, far_m=far_m, target_vertices=target_vertices
            )
            paths += export_mesh(output_file(filename_prefix, f".{format}"), mesh)
        return ("\n".join(str(p) for p in paths),)


class ParallaxVideo(_Node):
    """A parallax ("3D photo") clip per frame: MP4 (H.264), WebM (VP9) or GIF. Returns the paths, one a line."""

    DISPLAY = "Parallax video (depthforge)"
    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("paths",)
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        from depthforge.render.motion import MOTIONS

        return {
            "required": {
                "image": _IMAGE,
                "depth": _DEPTH,
                "filename_prefix": ("STRING", {"default": "depthforge/parallax"}),
                "motion": _choice(MOTIONS, "circle"),
                "format": _choice(("mp4", "webm", "gif"), "mp4"),
                "duration_s": _float(3.0, 0.5, 30.0, 0.5),
                "fps": _int(24, 1, 60),
                "amplitude": _float(2.0, 0.0, 10.0, 0.1),
            }
        }

    def run(
        self,
        image: Any,
        depth: DepthBatch,
        filename_prefix: str,
        motion: str,
        format: str,  # noqa: A002
        duration_s: float,
        fps: int,
        amplitude: float,
    ) -> tuple[str]:
        from depthforge.pipeline.encode import encode_frames
        from depthforge.render.parallax import render_frames

        paths = []
        for img, d in depth.pair(images_to_arrays(image)):
            out = output_file(filename_prefix, f".{format}")
            frames = render_frames(img, d, motion=motion, duration=duration_s, fps=fps, amplitude=amplitude)
            encode_frames(frames, out, fps=fps)
            paths.append(out)
        return ("\n".join(str(p) for p in paths),)


#: Every node, keyed by its ComfyUI class name.
NODES: dict[str, type[_Node]] = {
    f"Depthforge{cls.__name__}": cls
    for cls in (
        LoadModel,
        Estimate,
        DepthToImage,
        DepthFromImage,
        SaveDepth,
        Stereo,
        Normals,
        Mask,
        Bokeh,
        MeshExport,
        ParallaxVideo,
    )
}
