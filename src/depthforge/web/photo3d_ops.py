"""Layered 3D photos on the server, shared by the UI's 3D photo tab and ``POST /v1/photo3d``: the fills a server
offers, the operator's learned inpainter as clients see it, and the files of one layered photo (GLB, PLY with the
A1111 extension's header, their JSON sidecars) written into a request's area.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import DepthforgeError, ModelError, ValidationError
from depthforge.core.image import Image
from depthforge.core.validation import check_range
from depthforge.web.operations import MAX_MESH_VERTICES, Engine

__all__ = ["INPAINT_CHOICES", "MAX_LAYERS", "check_photo3d_options", "inpaint_choices", "layered_photo"]

#: The fills every server offers; ``learned`` is added when the operator started it with ``serve --inpainter``
#: (a client never names a model file).
INPAINT_CHOICES = ("background", "telea", "ns")
MAX_LAYERS = 6


def inpaint_choices(engine: Engine) -> tuple[str, ...]:
    """The fills this server offers: :data:`INPAINT_CHOICES`, plus ``learned`` with an operator's inpainter."""
    return (*INPAINT_CHOICES, "learned") if engine.config.inpainter else INPAINT_CHOICES


class _Learned:
    """The operator's learned inpainter as clients see it: named ``learned`` in the info line, the sidecar and its
    errors, never by the server's file."""

    name = "learned"

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.licence = getattr(inner, "licence", "")

    def __call__(self, image: Any, mask: Any) -> Any:
        try:
            return self._inner(image, mask)
        except DepthforgeError as exc:
            raise ModelError(str(exc).replace(str(getattr(self._inner, "name", "")), self.name)) from None


def check_photo3d_options(
    engine: Engine, *, inpaint: str, layers: float, target_vertices: float, fov_deg: float | None
) -> tuple[int, int, float | None]:
    """Check a layered photo's options before any work: (layers, grid points per layer, fov_deg).

    Raises:
        ValidationError: naming the option (the API's field names): a fill this server does not offer, layers
        outside 1..:data:`MAX_LAYERS`, more grid points than the server's mesh limit shared by the layers, a field
        of view outside 1..179 degrees.
    """
    offered = inpaint_choices(engine)
    if inpaint not in offered:
        raise ValidationError(f"inpaint: {str(inpaint)[:40]!r} is not offered here ({', '.join(offered)})")
    n_layers = int(check_range(layers, "layers", low=1, high=MAX_LAYERS))
    cap = int(check_range(target_vertices, "target_vertices", low=1000, high=MAX_MESH_VERTICES // n_layers))
    return n_layers, cap, None if fov_deg is None else check_range(fov_deg, "fov_deg", low=1.0, high=179.0)


def layered_photo(
    engine: Engine,
    image: Image,
    depth: DepthMap,
    area: Path,
    *,
    inpaint: str = "background",
    layers: float = 4,
    fov_deg: float | None = None,
    near_m: float = 1.0,
    far_m: float = 10.0,
    target_vertices: float = 150_000,
    formats: tuple[str, ...] = ("glb", "ply"),
    progress: Callable[[str], None] | None = None,
) -> tuple[list[Path], str]:
    """The layered 3D photo of ``image`` and ``depth`` (:func:`depthforge.pipeline.layered_photo.photo3d`) written into
    ``area``: (each of ``formats``' file followed by its JSON sidecar, info line).

    Photos above :data:`~depthforge.web.operations.MAX_VIDEO_PIXELS` (4K) are reduced first, as clips are: every
    layer carries a texture of the photo's size, so one request's memory stays within the README's bound.

    Args:
        inpaint, layers, target_vertices, fov_deg: as :func:`check_photo3d_options` (fov_deg None: the photo's
            EXIF, the depth file's camera, else 60 degrees). near_m, far_m: pseudo-depth range of relative maps.
        formats: ``glb`` and/or ``ply`` (with the A1111 extension's header).
        progress: called with a stage name before the slow stages.

    Raises:
        ValidationError: an option out of range, a fill this server does not offer, or nothing left to mesh.
    """
    from depthforge.geometry.camera import resolve_intrinsics
    from depthforge.geometry.layered import export_layered
    from depthforge.models.inpaint import cached_inpainter
    from depthforge.pipeline.layered_photo import Photo3DOptions, photo3d

    n_layers, cap, fov_deg = check_photo3d_options(
        engine, inpaint=inpaint, layers=layers, target_vertices=target_vertices, fov_deg=fov_deg
    )
    if not formats or not set(formats) <= {"glb", "ply"}:
        raise ValidationError(f"formats: expected glb and/or ply, got {formats!r}")
    method = _Learned(cached_inpainter(engine.config.inpainter)) if inpaint == "learned" else inpaint
    intr = resolve_intrinsics(image.size_hw, fov_deg=fov_deg, exif=image.exif, fallback=depth.intrinsics)
    rgb, depth = engine.fit_for_render(image, depth)
    intr = intr.scaled(depth.shape)
    options = Photo3DOptions(
        max_layers=n_layers, inpaint=method, near_m=float(near_m), far_m=float(far_m), target_vertices=cap
    )
    if progress is not None:
        progress("layers, hidden parts and meshes")
    meta = {"intrinsics_source": intr.source}
    first = engine.areas.file(area, f".{formats[0]}")
    result = photo3d(rgb, depth, first, options=options, intrinsics=intr, metadata=meta)
    files = list(result.files)
    for fmt in formats[1:]:
        if progress is not None:
            progress(fmt.upper())
        files += export_layered(engine.areas.file(area, f".{fmt}"), result.mesh, metadata=dict(meta))
    lm, scene = result.mesh, result.scene
    verts = sum(L.mesh.n_vertices for L in lm.layers)
    units = "metres" if scene.z_is_metric else "pseudo-depth (not metric)"
    fill = options.inpaint_name
    info = f"{len(lm.layers)} layers, {verts} vertices, grid stride {lm.stride} px, {units}; fill {fill}"
    return files, info
