"""The ComfyUI nodes: load a model, estimate, bring your own depth, save 16-bit / EXR, stereo, normals, mask,
bokeh, mesh export and parallax video.

Each node is a class in ComfyUI's (V1) form: ``INPUT_TYPES`` (a classmethod), ``RETURN_TYPES``, ``FUNCTION`` and
``CATEGORY``; output nodes write into ComfyUI's output folder and return the paths they wrote. Images and masks
follow ComfyUI's contracts (see :mod:`depthforge.integrations.comfyui.convert`); depth travels as
``DEPTHFORGE_DEPTH`` with its kind and units.

A node declares only its inputs (``REQUIRED``, ``OPTIONAL``) and its function; :class:`_Node` turns the
declaration into ``INPUT_TYPES``. Nodes that work frame by frame implement ``frame(image, depth, **options)``
and :class:`_FrameNode` pairs the batch's frames and packs the results as their ``RETURN_TYPES`` says.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
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
    image_batch,
    images_to_arrays,
    output_file,
    previews,
)

__all__ = ["NODES"]

_CATEGORY = "depthforge"
_DETAIL = ("off", "auto", "4", "9", "16")
_DEPTH_FORMATS = {"png16": ".png", "exr": ".exr", "tiff": ".tiff", "npy": ".npy", "pfm": ".pfm", "png16mm": ".png"}
_MODEL = ("DEPTHFORGE_MODEL",)
_DEPTH = ("DEPTHFORGE_DEPTH",)
_IMAGE: Any = ("IMAGE",)
_PATHS = ("STRING",)


@dataclass(frozen=True)
class _Later:
    """Choices read from ``module.name`` when ComfyUI asks for the inputs (the module is not imported before)."""

    module: str
    name: str

    def __call__(self) -> Any:
        return getattr(importlib.import_module(self.module), self.name)


def _float(default: float, low: float, high: float, step: float = 0.01) -> tuple[str, dict[str, float]]:
    return ("FLOAT", {"default": default, "min": low, "max": high, "step": step})


def _int(default: int, low: int, high: int, step: int = 1) -> tuple[str, dict[str, int]]:
    return ("INT", {"default": default, "min": low, "max": high, "step": step})


def _choice(options: Any, default: str) -> tuple[Any, dict[str, str]]:
    return (options if isinstance(options, _Later) else list(options), {"default": default})


def _bool(default: bool = False) -> tuple[str, dict[str, bool]]:
    return ("BOOLEAN", {"default": default})


def _text(default: str) -> tuple[str, dict[str, str]]:
    return ("STRING", {"default": default})


def _spec(**inputs: Any) -> Mapping[str, Any]:
    """A node's declared inputs, in order (read-only: :func:`_inputs` hands ComfyUI a copy)."""
    return MappingProxyType(inputs)


def _inputs(declared: Mapping[str, Any]) -> dict[str, Any]:
    """A fresh copy of declared inputs, with :class:`_Later` choices read now."""
    out = {}
    for name, (kind, *options) in declared.items():
        kind = list(kind()) if isinstance(kind, _Later) else list(kind) if isinstance(kind, list) else kind
        out[name] = (kind, *(dict(o) for o in options))
    return out


class _Node:
    CATEGORY = _CATEGORY
    FUNCTION = "run"
    DISPLAY: ClassVar[str] = ""
    RETURN_TYPES: ClassVar[tuple[str, ...]]
    REQUIRED: ClassVar[Mapping[str, Any]] = MappingProxyType({})
    OPTIONAL: ClassVar[Mapping[str, Any]] = MappingProxyType({})

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        spec = {"required": _inputs(cls.REQUIRED)}
        if cls.OPTIONAL:
            spec["optional"] = _inputs(cls.OPTIONAL)
        return spec


def _paths(results: list[Any]) -> str:
    """The paths written (one or a list per frame), one a line."""
    flat = [p for r in results for p in (r if isinstance(r, list) else [r])]
    return "\n".join(str(p) for p in flat)


_PACK = {"IMAGE": arrays_to_images, "MASK": arrays_to_masks, "STRING": _paths}


class _FrameNode(_Node):
    """A node run frame by frame: ``frame(image, depth, **options)`` for each map of the batch, with the matching
    frame of ``image`` when the node has one (None otherwise); the results packed as the one output's type."""

    def run(self, depth: DepthBatch, image: Any = None, **options: Any) -> tuple[Any]:
        if image is None:
            pairs: list[tuple[np.ndarray | None, DepthMap]] = [(None, d) for d in depth.maps]
        else:
            pairs = list(depth.pair(images_to_arrays(image)))
        results = [self.frame(img, d, **options) for img, d in pairs]
        return (_PACK[self.RETURN_TYPES[0]](results),)

    def frame(self, *args: Any, **options: Any) -> Any:
        """The result for one frame: ``frame(image, depth, **options)``."""
        raise NotImplementedError


class _FileNode(_FrameNode):
    """A frame node that writes a file per frame into ComfyUI's output folder (``filename_prefix``, with the
    suffix of ``format``) and returns the paths, one a line; ``write(path, image, depth, **options)`` writes it."""

    RETURN_TYPES = _PATHS
    RETURN_NAMES = ("paths",)
    OUTPUT_NODE = True

    def run(self, depth: DepthBatch, image: Any = None, **options: Any) -> dict[str, Any]:  # type: ignore[override]
        """The paths as the output, and the pictures among them shown on the node (ComfyUI's ``ui`` result; user
        trial 9: the node showed nothing)."""
        (paths,) = super().run(depth, image, **options)
        return {"ui": {"images": previews([Path(p) for p in paths.splitlines()])}, "result": (paths,)}

    def frame(self, image: Any, depth: DepthMap, *, filename_prefix: str, format: str, **options: Any) -> Any:  # noqa: A002
        return self.write(output_file(filename_prefix, f".{format}", size_hw=depth.shape), image, depth, **options)

    def write(self, *args: Any, **options: Any) -> Any:
        """The path(s) written for one frame: ``write(path, image, depth, **options)``."""
        raise NotImplementedError


class LoadModel(_Node):
    """A depth model: a registry name, or a local folder (``save_pretrained`` layout) when ``folder`` is set.
    Runs on ComfyUI's device unless ``device`` says otherwise."""

    DISPLAY = "Load depth model (depthforge)"
    RETURN_TYPES = _MODEL
    REQUIRED = _spec(
        model=_choice(_Later("depthforge.models.registry", "REGISTRY"), "depth-anything-v2-small"),
        device=_choice(("comfy", "auto", "cpu", "cuda", "mps"), "comfy"),
    )
    OPTIONAL = _spec(folder=_text(""))

    def run(self, model: str, device: str, folder: str = "") -> tuple[Any]:
        from depthforge.models.estimator import load_model

        return (load_model(folder.strip() or model, device=comfy_device() if device == "comfy" else device),)


class Estimate(_Node):
    """Depth of every frame: a display ``IMAGE`` (near = white) and the raw ``DEPTHFORGE_DEPTH``."""

    DISPLAY = "Estimate depth (depthforge)"
    RETURN_TYPES = ("IMAGE", "DEPTHFORGE_DEPTH")
    RETURN_NAMES = ("depth_image", "depth")
    REQUIRED = _spec(
        model=_MODEL,
        image=_IMAGE,
        normalisation=_choice(NORMALISATIONS, "per-batch"),
        detail=_choice(_DETAIL, "off"),
        invert=_bool(),
    )

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
    REQUIRED = _spec(
        depth=_DEPTH,
        normalisation=_choice(NORMALISATIONS, "per-batch"),
        invert=_bool(),
        colormap=_choice(_Later("depthforge.render.visualize", "COLORMAPS"), "gray"),
    )

    def run(self, depth: DepthBatch, normalisation: str, invert: bool, colormap: str) -> tuple[Any]:
        from depthforge.render.visualize import colorize

        shown = depth_to_images(depth, normalisation=normalisation, invert=invert)
        return (arrays_to_images([colorize(s, colormap=colormap) for s in shown]),)


class DepthFromImage(_Node):
    """Your own depth map (an ``IMAGE``, channel 0) as ``DEPTHFORGE_DEPTH``: values x ``scale`` of ``kind``
    (relative: near = white; metric: metres; disparity: pixels)."""

    DISPLAY = "Depth from image (depthforge)"
    RETURN_TYPES = _DEPTH
    REQUIRED = _spec(depth_image=_IMAGE, kind=_choice(DEPTH_KINDS, "relative"), scale=_float(1.0, 1e-6, 1e6, 0.001))

    def run(self, depth_image: Any, kind: str, scale: float) -> tuple[DepthBatch]:
        array = image_batch(depth_image, "depth_image")
        maps = tuple(DepthMap(frame[:, :, 0] * np.float32(scale), kind=kind) for frame in array)  # type: ignore[arg-type]
        return (DepthBatch(maps),)


class SaveDepth(_FileNode):
    """Write every map of the batch: 16-bit PNG (range in its metadata), EXR / TIFF / NPY / PFM (raw float32), or
    PNG millimetres (metric maps). Returns the paths, one a line."""

    DISPLAY = "Save depth 16-bit / EXR (depthforge)"
    REQUIRED = _spec(depth=_DEPTH, filename_prefix=_text("depthforge/depth"), format=_choice(_DEPTH_FORMATS, "png16"))

    def frame(self, image: None, depth: DepthMap, *, filename_prefix: str, format: str, **_: Any) -> Path:  # noqa: A002
        from depthforge.io.depthfiles import write_depth

        path = output_file(filename_prefix, _DEPTH_FORMATS[format], size_hw=depth.shape)
        return write_depth(path, depth, format=format)


class Stereo(_FrameNode):
    """Stereo 3D images: side by side, top-bottom, or anaglyph."""

    DISPLAY = "Stereo 3D (depthforge)"
    RETURN_TYPES = _IMAGE
    REQUIRED = _spec(
        image=_IMAGE,
        depth=_DEPTH,
        layout=_choice(_Later("depthforge.stereo.layouts", "LAYOUTS"), "left-right"),
        divergence=_float(2.5, 0.0, 20.0, 0.1),
        convergence=_float(0.0, 0.0, 1.0),
        separation=_float(0.0, -20.0, 20.0, 0.1),
    )

    def frame(self, image: np.ndarray, depth: DepthMap, *, layout: str, **params: Any) -> np.ndarray:
        """``params``: divergence, convergence and separation, as :class:`~depthforge.render.stereo.StereoParams`."""
        from depthforge.render.stereo import StereoParams, render_stereo
        from depthforge.stereo.layouts import compose

        return compose(*render_stereo(image, depth, params=StereoParams(**params)), layout=layout)


def _shape_only(depth: DepthMap) -> DepthMap:
    """``depth`` for the geometry nodes: a disparity map without a stereo baseline (none can be given in a graph)
    has no metres, only shape: it is used as relative depth (disparity is proportional to inverse depth)."""
    if depth.kind == "disparity" and not depth.baseline_m:
        return DepthMap(depth.values, kind="relative", intrinsics=depth.intrinsics)
    return depth


class Normals(_FrameNode):
    """Normal maps (OpenGL or DirectX convention) from depth through a pinhole camera of ``fov_deg`` (a disparity
    map without a baseline is used as relative depth)."""

    DISPLAY = "Normal map (depthforge)"
    RETURN_TYPES = _IMAGE
    REQUIRED = _spec(
        depth=_DEPTH,
        fov_deg=_float(60.0, 5.0, 170.0, 1.0),
        smooth_px=_float(1.0, 0.0, 20.0, 0.5),
        convention=_choice(("opengl", "directx"), "opengl"),
    )

    def frame(self, image: None, depth: DepthMap, *, fov_deg: float, smooth_px: float, convention: str) -> np.ndarray:
        from depthforge.geometry.camera import resolve_intrinsics
        from depthforge.geometry.normals import depth_to_normals, encode_normals

        intr = resolve_intrinsics(depth.shape, fov_deg=fov_deg, fallback=depth.intrinsics)
        normals = depth_to_normals(_shape_only(depth), intrinsics=intr, smooth_depth_px=smooth_px)
        return encode_normals(normals, convention=convention, bits=16)


class Mask(_FrameNode):
    """Foreground ``MASK`` from depth (1 = near). ``threshold`` < 0: automatic (Otsu); relative maps: a fraction of
    the range (1 = nearest); metric: metres; disparity: pixels. With ``image``, edges snap to the photo's."""

    DISPLAY = "Depth mask (depthforge)"
    RETURN_TYPES = ("MASK",)
    REQUIRED = _spec(depth=_DEPTH, threshold=_float(-1.0, -1.0, 1000.0), largest=_bool())
    OPTIONAL = _spec(image=_IMAGE)

    def frame(self, image: np.ndarray | None, depth: DepthMap, *, threshold: float, largest: bool) -> np.ndarray:
        from depthforge.render.masks import foreground_alpha

        thr = None if threshold < 0 else threshold
        return foreground_alpha(depth, image=image, threshold=thr, largest=largest)


class Bokeh(_FrameNode):
    """Shallow depth of field; the focus point as fractions of the width and height (< 0: automatic)."""

    DISPLAY = "Bokeh (depthforge)"
    RETURN_TYPES = _IMAGE
    REQUIRED = _spec(
        image=_IMAGE,
        depth=_DEPTH,
        focus_x=_float(-1.0, -1.0, 1.0),
        focus_y=_float(-1.0, -1.0, 1.0),
        aperture_px=_float(12.0, 0.0, 100.0, 0.5),
        blades=_int(0, 0, 12),
        highlight_gain=_float(2.0, 1.0, 8.0, 0.5),
    )

    def frame(
        self, image: np.ndarray, depth: DepthMap, *, focus_x: float, focus_y: float, blades: int, **options: float
    ) -> np.ndarray:
        from depthforge.render.defocus import bokeh

        h, w = depth.shape
        xy = None if focus_x < 0 or focus_y < 0 else (focus_x * (w - 1), focus_y * (h - 1))
        return bokeh(image, depth, focus_xy=xy, blades=0 if blades < 3 else blades, **options)


class MeshExport(_FileNode):
    """A textured mesh per frame (GLB, PLY or OBJ); relative maps, and disparity maps without a baseline, become
    pseudo-depth between ``near_m`` and ``far_m`` (not metric). Returns the paths, one a line."""

    DISPLAY = "Export mesh (depthforge)"
    REQUIRED = _spec(
        image=_IMAGE,
        depth=_DEPTH,
        filename_prefix=_text("depthforge/mesh"),
        format=_choice(("glb", "ply", "obj"), "glb"),
        fov_deg=_float(60.0, 5.0, 170.0, 1.0),
        near_m=_float(1.0, 0.01, 1000.0),
        far_m=_float(10.0, 0.02, 10000.0),
        target_vertices=_int(200_000, 16, 2_000_000, 1000),
    )

    def write(self, path: Path, image: np.ndarray, depth: DepthMap, *, fov_deg: float, **options: Any) -> list[Path]:
        from depthforge.geometry.camera import resolve_intrinsics
        from depthforge.geometry.export import export_mesh
        from depthforge.geometry.mesh import mesh_from_depth

        intr = resolve_intrinsics(depth.shape, fov_deg=fov_deg, fallback=depth.intrinsics)
        return export_mesh(path, mesh_from_depth(_shape_only(depth), image=image, intrinsics=intr, **options))


class ReliefExport(_FileNode):
    """A watertight relief per frame to 3D-print: STL, or GLB / PLY with the photo's colours to look at; millimetres,
    the photo upright seen from above (:func:`depthforge.geometry.relief.relief_from_depth`). Returns the paths."""

    DISPLAY = "Export relief for 3D printing (depthforge)"
    REQUIRED = _spec(
        format=_choice(("stl", "glb", "ply"), "stl"),  # first: what to print
        image=_IMAGE,
        depth=_DEPTH,
        filename_prefix=_text("depthforge/relief"),
        width_mm=_float(100.0, 1.0, 2000.0, 1.0),
        relief_mm=_float(10.0, 0.1, 500.0, 0.5),
        base_mm=_float(2.0, 0.1, 100.0, 0.5),
        resolution_mm=_float(0.4, 0.05, 10.0, 0.05),
    )

    def write(self, path: Path, image: np.ndarray, depth: DepthMap, **options: Any) -> list[Path]:
        from depthforge.geometry.export import export_mesh
        from depthforge.geometry.relief import relief_from_depth, relief_sidecar

        return export_mesh(path, relief_from_depth(depth, image=image, **options), metadata=relief_sidecar(**options))


class ParallaxVideo(_FileNode):
    """A parallax ("3D photo") clip per frame: MP4 (H.264), WebM (VP9) or GIF. Returns the paths, one a line."""

    DISPLAY = "Parallax video (depthforge)"
    REQUIRED = _spec(
        image=_IMAGE,
        depth=_DEPTH,
        filename_prefix=_text("depthforge/parallax"),
        motion=_choice(_Later("depthforge.render.motion", "MOTIONS"), "circle"),
        format=_choice(("mp4", "webm", "gif"), "mp4"),
        duration_s=_float(3.0, 0.5, 30.0, 0.5),
        fps=_int(24, 1, 60),
        amplitude=_float(2.0, 0.0, 10.0, 0.1),
    )

    def write(
        self, path: Path, image: np.ndarray, depth: DepthMap, *, duration_s: float, fps: int, **options: Any
    ) -> Path:
        from depthforge.pipeline.encode import encode_frames
        from depthforge.render.parallax import render_frames

        encode_frames(render_frames(image, depth, duration_s=duration_s, fps=fps, **options), path, fps=fps)
        return path


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
        ReliefExport,
        ParallaxVideo,
    )
}
