"""The outputs a batch can make for each photo: a registry of producers, name -> writer.

Every producer writes its files atomically next to the item's output stem (``OUTDIR/a/b/x`` for ``a/b/x.jpg``)
and returns the files it wrote. File names follow the single-item commands: the depth outputs and the colour
map, combined and ControlNet images use :func:`depthforge.pipeline.estimation.output_paths`; the 3D and render
outputs add a fixed suffix.

| name | files for ``x.jpg`` | made with |
| --- | --- | --- |
| ``depth16`` / ``depth8`` | ``x_depth.png`` (16 / 8 bit, near = white) | ``io.depthfiles.write_depth`` |
| ``npy`` / ``tiff`` / ``pfm`` | ``x_depth.npy`` / ``.tiff`` / ``.pfm`` (npy, pfm: + ``.json`` sidecar) | same |
| ``exr`` | ``x_depth.exr`` (float32 ``Z``, the kind in its header) | same |
| ``colormap`` | ``x_depth_<colormap>.png`` | ``render.visualize.colorize`` |
| ``combined`` | ``x_combined.png`` (photo beside the colour-mapped depth) | ``render.visualize.combine`` |
| ``controlnet`` | ``x_controlnet.png`` | ``render.visualize.controlnet_image`` |
| ``normals`` | ``x_normals.png`` | ``geometry.normals`` |
| ``sbs`` / ``anaglyph`` | ``x_sbs.png`` (left-right) / ``x_anaglyph.png`` | ``render.stereo``, ``stereo.compose`` |
| ``mesh`` | ``x_mesh.<ply|glb|obj>`` (+ texture, sidecar) | ``geometry.mesh``, ``geometry.export`` |
| ``pointcloud`` | ``x_pointcloud.ply`` (+ sidecar) | ``geometry.pointcloud``, ``geometry.export`` |
| ``photo3d`` | ``x_photo3d.<glb|ply>`` (+ sidecar): layered 3D photo | ``pipeline.photo3d`` |
| ``mask`` | ``x_mask.png`` (255 = foreground) | ``render.masks`` |

A producer's options hash covers its name, its version and the :class:`BatchOptions` fields it reads, so changing
an option redoes only the outputs that depend on it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import ValidationError
from depthforge.core.image import Image
from depthforge.core.validation import check_choice, check_positive, check_range
from depthforge.io.depthfiles import sidecar_path, write_depth
from depthforge.io.images import write_image
from depthforge.pipeline.estimation import EstimateOptions, output_paths
from depthforge.process.normalize import check_display_options, to_display
from depthforge.render.visualize import COLORMAPS, colorize, combine, controlnet_image

__all__ = ["BatchOptions", "Producer", "PRODUCERS", "parse_outputs", "main_files"]

_DISPLAY = ("invert", "clip_near", "clip_far", "percentiles")
_SCENE = ("fov_deg", "near_m", "far_m")


@dataclass(frozen=True)
class BatchOptions:
    """Options of every producer (each reads only its own; see :data:`PRODUCERS`).

    Attributes:
        invert, clip_near, clip_far, percentiles: display normalisation (fractions of the range), as
            ``depthforge estimate`` (--invert, --clip, --percentile).
        colormap: colour map of ``colormap`` and ``combined``; combine: ``horizontal`` or ``vertical``.
        divergence, convergence: stereo parallax (% of the width, nearness on the screen plane).
        anaglyph_mode: ``color``, ``half-color``, ``gray`` or ``dubois``.
        fov_deg: horizontal field of view in degrees for the 3D outputs (None: EXIF, else the default 60 degrees).
        near_m, far_m: pseudo-depth range for relative maps (3D outputs), pseudo-metres.
        normals_convention: ``opengl`` or ``directx``; normals_bits: 8 or 16.
        mesh_format: ``ply``, ``glb`` or ``obj``; max_angle_deg: mesh edge cut (>= 90 keeps all); stride.
        mask_threshold, mask_method: the mask's threshold (None: automatic by ``otsu`` or ``gap``).
        mask_source: how ``mask`` and ``cutout`` find the foreground: ``depth``, ``rembg:NAME``, ``sam`` or
            ``fused`` (:func:`depthforge.pipeline.background.foreground`); mask_segmenter: ``fused``'s
            segmentation (``sam`` or ``rembg:NAME``); mask_seg_file: the ONNX file of ``rembg:*_custom``;
            mask_allow_noncommercial: accept non-commercial weights (RMBG-2.0); mask_sam_model,
            mask_matting_model: the SAM and ViTMatte models (registry name, hub id or folder; None = the defaults).
        photo3d_format: ``glb`` or ``ply``; photo3d_inpaint: hidden-region fill of ``photo3d``: ``background``,
            ``telea``, ``ns``, or a learned inpainter as ``depthforge photo3d --inpaint`` takes it (``onnx:FILE``,
            a registry name or a hub id; :func:`depthforge.models.inpaint.cached_inpainter`, loaded once per process).
    """

    invert: bool = False
    clip_near: float | None = None
    clip_far: float | None = None
    percentiles: tuple[float, float] | None = None
    colormap: str = "inferno"
    combine: str = "horizontal"
    divergence: float = 2.5
    convergence: float = 0.0
    anaglyph_mode: str = "dubois"
    fov_deg: float | None = None
    near_m: float = 1.0
    far_m: float = 10.0
    normals_convention: str = "opengl"
    normals_bits: int = 8
    mesh_format: str = "ply"
    max_angle_deg: float = 87.0
    stride: int = 1
    mask_threshold: float | None = None
    mask_method: str = "otsu"
    mask_source: str = "depth"
    mask_segmenter: str = "sam"
    mask_seg_file: str | None = None
    mask_allow_noncommercial: bool = False
    mask_sam_model: str | None = None
    mask_matting_model: str | None = None
    photo3d_format: str = "glb"
    photo3d_inpaint: str = "background"

    def __post_init__(self) -> None:
        check_choice(self.colormap, "colormap", COLORMAPS)
        check_choice(self.combine, "combine", ("horizontal", "vertical"))
        check_choice(self.anaglyph_mode, "anaglyph_mode", ("color", "half-color", "gray", "dubois"))
        check_choice(self.normals_convention, "normals_convention", ("opengl", "directx"))
        check_choice(self.normals_bits, "normals_bits", (8, 16))
        check_choice(self.mesh_format, "mesh_format", ("ply", "glb", "obj"))
        check_choice(self.mask_method, "mask_method", ("otsu", "gap"))
        check_positive(self.stride, "stride")
        check_choice(self.photo3d_format, "photo3d_format", ("glb", "ply"))
        # numbers checked here, before any item, by the rules their producers apply
        from depthforge.render.stereo import NEARNESS_RANGE, StereoParams

        check_display_options(clip_near=self.clip_near, clip_far=self.clip_far, percentiles=self.percentiles)
        StereoParams(divergence=self.divergence, convergence=self.convergence)
        check_range(self.convergence, "convergence", low=NEARNESS_RANGE[0], high=NEARNESS_RANGE[1])  # a model's map
        if self.fov_deg is not None:
            check_range(self.fov_deg, "fov_deg", low=0.0, high=180.0, low_inclusive=False, high_inclusive=False)
        check_range(self.far_m, "far_m", low=check_positive(self.near_m, "near_m"), low_inclusive=False)
        check_range(self.max_angle_deg, "max_angle_deg", low=0.0, high=180.0, low_inclusive=False)
        if self.mask_threshold is not None:
            check_range(self.mask_threshold, "mask_threshold")
        if not isinstance(self.photo3d_inpaint, str) or not self.photo3d_inpaint.strip():
            raise ValidationError(f"photo3d_inpaint: expected a method name, got {self.photo3d_inpaint!r}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Writer = Callable[[Image, DepthMap, Path, BatchOptions], list[Path]]


@dataclass(frozen=True)
class Producer:
    """One kind of output.

    Attributes:
        name: the name used in ``--outputs``.
        write: ``write(image, depth, stem, options) -> files written``; ``stem`` is ``OUTDIR/a/b/x``.
        files: ``files(stem, options) -> the main file(s)`` (used to refuse two outputs writing one file).
        options: the :class:`BatchOptions` fields the output depends on (part of its options hash).
        version: bumped when the producer's output changes for the same options.
    """

    name: str
    write: Writer
    files: Callable[[Path, BatchOptions], list[Path]]
    options: tuple[str, ...]
    version: int = 1
    description: str = ""


def _estimate_paths(stem: Path, options: BatchOptions, **kw: Any) -> dict[str, Path]:
    return output_paths(stem.parent, Path(stem.name), EstimateOptions(**kw))


def _display(depth: DepthMap, o: BatchOptions) -> Any:
    return to_display(depth, invert=o.invert, clip_near=o.clip_near, clip_far=o.clip_far, percentiles=o.percentiles)[0]


def _depth_producer(name: str, fmt: str) -> Producer:
    def files(stem: Path, o: BatchOptions) -> list[Path]:
        return [_estimate_paths(stem, o, format=fmt)["depth"]]

    def write(image: Image, depth: DepthMap, stem: Path, o: BatchOptions) -> list[Path]:
        p = files(stem, o)[0]
        write_depth(
            p, depth, format=fmt, invert=o.invert, clip_near=o.clip_near, clip_far=o.clip_far, percentiles=o.percentiles
        )
        side = sidecar_path(p)
        return [p, side] if fmt in ("npy", "pfm") and side.exists() else [p]

    keys = _DISPLAY if fmt in ("png16", "png8") else ()
    return Producer(name, write, files, keys, description=f"depth file ({fmt})")


def _colormap_files(stem: Path, o: BatchOptions) -> list[Path]:
    return [stem.parent / f"{stem.name}_depth_{o.colormap}.png"]


def _colormap(image: Image, depth: DepthMap, stem: Path, o: BatchOptions) -> list[Path]:
    p = _colormap_files(stem, o)[0]
    return [write_image(p, colorize(_display(depth, o), colormap=o.colormap))]


def _combined_files(stem: Path, o: BatchOptions) -> list[Path]:
    return [_estimate_paths(stem, o, combine=o.combine)["combined"]]


def _combined(image: Image, depth: DepthMap, stem: Path, o: BatchOptions) -> list[Path]:
    vis = colorize(_display(depth, o), colormap=o.colormap)
    return [write_image(_combined_files(stem, o)[0], combine(image.as_uint8(), vis, direction=o.combine))]


def _controlnet_files(stem: Path, o: BatchOptions) -> list[Path]:
    return [_estimate_paths(stem, o, controlnet=True)["controlnet"]]


def _controlnet(image: Image, depth: DepthMap, stem: Path, o: BatchOptions) -> list[Path]:
    display = _display(depth, o)  # near = white whatever ``invert`` says: what the ControlNet models were trained on
    return [write_image(_controlnet_files(stem, o)[0], controlnet_image(1.0 - display if o.invert else display))]


def _suffixed(suffix: str) -> Callable[[Path, BatchOptions], list[Path]]:
    def files(stem: Path, o: BatchOptions) -> list[Path]:
        exts = {"mesh": f".{o.mesh_format}", "pointcloud": ".ply", "photo3d": f".{o.photo3d_format}", "relief": ".stl"}
        return [stem.parent / f"{stem.name}_{suffix}{exts.get(suffix, '.png')}"]

    return files


def _suffixed_producer(name: str, write: Writer, options: tuple[str, ...], description: str) -> Producer:
    """A producer whose main file is ``<stem>_<name>.<ext>`` (:func:`_suffixed`)."""
    return Producer(name, write, _suffixed(name), options, description=description)


def _intrinsics(image: Image, depth: DepthMap, o: BatchOptions) -> Any:
    """The camera of the 3D outputs: ``fov_deg``, else the photo's EXIF, else the depth file's, else the default."""
    from depthforge.geometry.camera import resolve_intrinsics

    return resolve_intrinsics(image.size_hw, fov_deg=o.fov_deg, exif=image.exif, fallback=depth.intrinsics)


def _scene(image: Image, depth: DepthMap, o: BatchOptions) -> tuple[Any, Any, dict[str, Any]]:
    """(z, intrinsics, metadata) for the 3D outputs, by the same rules as the single-item commands."""
    from depthforge.geometry.export import sidecar_metadata
    from depthforge.geometry.projection import depth_to_z

    intr = _intrinsics(image, depth, o)
    zd = depth_to_z(depth, intrinsics=intr, near_m=o.near_m, far_m=o.far_m)
    return zd, intr, sidecar_metadata(image, intr, zd)


def _normals(image: Image, depth: DepthMap, stem: Path, o: BatchOptions) -> list[Path]:
    from depthforge.geometry.normals import depth_to_normals, encode_normals

    zd, intr, meta = _scene(image, depth, o)
    encoded = encode_normals(
        depth_to_normals(zd, intrinsics=intr), convention=o.normals_convention, bits=o.normals_bits
    )
    meta.update(convention=o.normals_convention, bits=o.normals_bits, encoding="rgb = n * 0.5 + 0.5")
    p = _suffixed("normals")(stem, o)[0]
    return [write_image(p, encoded, text={"depthforge": json.dumps(meta, default=str)})]


def _stereo_pair(image: Image, depth: DepthMap, o: BatchOptions) -> tuple[Any, Any]:
    from depthforge.render.stereo import StereoParams, render_stereo

    return render_stereo(image.rgb, depth, params=StereoParams(divergence=o.divergence, convergence=o.convergence))


def _sbs(image: Image, depth: DepthMap, stem: Path, o: BatchOptions) -> list[Path]:
    from depthforge.stereo import compose

    left, right = _stereo_pair(image, depth, o)
    return [write_image(_suffixed("sbs")(stem, o)[0], compose(left, right, layout="left-right"))]


def _anaglyph(image: Image, depth: DepthMap, stem: Path, o: BatchOptions) -> list[Path]:
    from depthforge.stereo import compose

    left, right = _stereo_pair(image, depth, o)
    out = compose(left, right, layout=f"anaglyph-{o.anaglyph_mode}")
    return [write_image(_suffixed("anaglyph")(stem, o)[0], out)]


def _mesh(image: Image, depth: DepthMap, stem: Path, o: BatchOptions) -> list[Path]:
    from depthforge.geometry.export import export_mesh
    from depthforge.geometry.mesh import mesh_from_depth

    zd, intr, meta = _scene(image, depth, o)
    angle = None if o.max_angle_deg >= 90 else o.max_angle_deg
    mesh = mesh_from_depth(zd, image=image, intrinsics=intr, max_angle_deg=angle, stride=o.stride)
    meta.update(max_angle_deg=o.max_angle_deg)
    return [Path(p) for p in export_mesh(_suffixed("mesh")(stem, o)[0], mesh, metadata=meta)]


def _pointcloud(image: Image, depth: DepthMap, stem: Path, o: BatchOptions) -> list[Path]:
    from depthforge.geometry.export import export_pointcloud
    from depthforge.geometry.pointcloud import pointcloud_from_depth

    zd, intr, meta = _scene(image, depth, o)
    cloud = pointcloud_from_depth(zd, image=image, intrinsics=intr, stride=o.stride)
    meta.update(normals=False, voxel=None)
    return [Path(p) for p in export_pointcloud(_suffixed("pointcloud")(stem, o)[0], cloud, metadata=meta)]


def _relief(image: Image, depth: DepthMap, stem: Path, o: BatchOptions) -> list[Path]:
    from depthforge.geometry.export import export_mesh
    from depthforge.geometry.relief import relief_from_depth, relief_sidecar

    mesh = relief_from_depth(depth, resolution_mm=0.4)  # depthforge relief's sizes: 100 mm wide, 10 + 2 mm high
    meta = relief_sidecar(source_image=Path(image.path).name, width_mm=100.0, resolution_mm=0.4)
    return [Path(p) for p in export_mesh(_suffixed("relief")(stem, o)[0], mesh, metadata=meta)]


def _photo3d(image: Image, depth: DepthMap, stem: Path, o: BatchOptions) -> list[Path]:
    from depthforge.models.inpaint import cached_inpainter
    from depthforge.pipeline.layered_photo import Photo3DOptions, photo3d

    intr = _intrinsics(image, depth, o)
    options = Photo3DOptions(
        inpaint=cached_inpainter(o.photo3d_inpaint),
        near_m=o.near_m,
        far_m=o.far_m,
        max_angle_deg=None if o.max_angle_deg >= 90 else o.max_angle_deg,
    )
    meta = {"source_image": Path(image.path).name, "intrinsics_source": intr.source}
    result = photo3d(image, depth, _suffixed("photo3d")(stem, o)[0], options=options, intrinsics=intr, metadata=meta)
    return [Path(p) for p in result.files]


_MASK = (
    "mask_threshold",
    "mask_method",
    "mask_source",
    "mask_segmenter",
    "mask_seg_file",
    "mask_allow_noncommercial",
    "mask_sam_model",
    "mask_matting_model",
)
_last_alpha: list[Any] = []  # (image, depth, options, alpha) of the last item: mask and cutout share one run


def _alpha(image: Image, depth: DepthMap, o: BatchOptions) -> Any:
    from depthforge.pipeline.background import MaskOptions, foreground

    key = tuple(getattr(o, k) for k in _MASK)
    if _last_alpha and _last_alpha[0] is image and _last_alpha[1] is depth and _last_alpha[2] == key:
        return _last_alpha[3]
    options = MaskOptions(
        method=o.mask_source,
        segmenter=o.mask_segmenter,
        seg_file=o.mask_seg_file,
        allow_noncommercial=o.mask_allow_noncommercial,
        sam_model=o.mask_sam_model,
        matting_model=o.mask_matting_model,
        threshold=o.mask_threshold,
        auto=o.mask_method,
    )
    alpha = foreground(image, depth, options)
    _last_alpha[:] = [image, depth, key, alpha]
    return alpha


def _mask(image: Image, depth: DepthMap, stem: Path, o: BatchOptions) -> list[Path]:
    from depthforge.render.masks import alpha_to_uint8

    return [write_image(_suffixed("mask")(stem, o)[0], alpha_to_uint8(_alpha(image, depth, o)))]


def _cutout(image: Image, depth: DepthMap, stem: Path, o: BatchOptions) -> list[Path]:
    from depthforge.render.masks import cutout

    return [write_image(_suffixed("cutout")(stem, o)[0], cutout(image.rgb, _alpha(image, depth, o)))]


#: Every output a batch can make, by name (the order in which an item's outputs are written).
PRODUCERS: dict[str, Producer] = {
    p.name: p
    for p in (
        _depth_producer("depth16", "png16"),
        _depth_producer("depth8", "png8"),
        _depth_producer("npy", "npy"),
        _depth_producer("tiff", "tiff"),
        _depth_producer("pfm", "pfm"),
        _depth_producer("exr", "exr"),  # user trial 6: compositors' depth file (the optional OpenEXR package)
        Producer("colormap", _colormap, _colormap_files, (*_DISPLAY, "colormap"), description="colour-mapped depth"),
        Producer(
            "combined",
            _combined,
            _combined_files,
            (*_DISPLAY, "colormap", "combine"),
            description="photo beside its depth",
        ),
        Producer(
            "controlnet", _controlnet, _controlnet_files, _DISPLAY, version=2, description="ControlNet conditioning"
        ),
        _suffixed_producer("normals", _normals, (*_SCENE, "normals_convention", "normals_bits"), "normal map"),
        _suffixed_producer("sbs", _sbs, ("divergence", "convergence"), "side-by-side stereo"),
        _suffixed_producer("anaglyph", _anaglyph, ("divergence", "convergence", "anaglyph_mode"), "red-cyan anaglyph"),
        _suffixed_producer("mesh", _mesh, (*_SCENE, "mesh_format", "max_angle_deg", "stride"), "textured mesh"),
        _suffixed_producer("pointcloud", _pointcloud, (*_SCENE, "stride"), "point cloud"),
        _suffixed_producer("relief", _relief, (), "relief to 3D-print (STL, 100 mm wide)"),
        _suffixed_producer(
            "photo3d",
            _photo3d,
            (*_SCENE, "max_angle_deg", "photo3d_format", "photo3d_inpaint"),
            "layered 3D photo (hidden parts inpainted)",
        ),
        _suffixed_producer("mask", _mask, _MASK, "foreground mask"),
        _suffixed_producer("cutout", _cutout, _MASK, "foreground cut-out (RGBA PNG)"),
    )
}


def parse_outputs(text: str | list[str] | tuple[str, ...], options: BatchOptions | None = None) -> tuple[str, ...]:
    """``"depth16,colormap"`` -> ``("depth16", "colormap")``, validated (known names, no two writing one file).

    Raises:
        ValidationError: an unknown name, an empty list, or two outputs that would write the same file.
    """
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    if not names:
        raise ValidationError("outputs: give at least one output (e.g. --outputs depth16,colormap)")
    out: list[str] = []
    for n in names:
        if n not in PRODUCERS:
            raise ValidationError(f"outputs: unknown output {n!r} (expected one of: {', '.join(PRODUCERS)})")
        if n not in out:
            out.append(n)
    seen: dict[Path, str] = {}
    for n in out:
        for f in PRODUCERS[n].files(Path("x"), options or BatchOptions()):
            if f in seen:
                raise ValidationError(f"outputs: {seen[f]} and {n} both write {f.name}; choose one of them")
            seen[f] = n
    return tuple(out)


def main_files(stem: Path, names: tuple[str, ...], options: BatchOptions) -> dict[str, list[Path]]:
    """output name -> its main file(s) for one item stem."""
    return {n: PRODUCERS[n].files(stem, options) for n in names}
