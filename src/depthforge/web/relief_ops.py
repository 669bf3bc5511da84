"""Reliefs for 3D printing on the server, shared by the UI's 3D tab and ``POST /v1/relief``: a watertight solid
(:func:`depthforge.geometry.relief.relief_from_depth`) written into a request's area, its grid held to the server's
mesh limit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import ValidationError
from depthforge.core.image import Image
from depthforge.core.validation import check_choice
from depthforge.web.operations import MAX_MESH_VERTICES, Engine

__all__ = ["RELIEF_FORMATS", "make_relief"]

#: What a relief is written as: STL to print, GLB or PLY (vertex colours) to look at.
RELIEF_FORMATS = ("stl", "glb", "ply")


def make_relief(
    engine: Engine,
    image: Image,
    depth: DepthMap,
    area: Path,
    *,
    format: str = "stl",  # noqa: A002 - the API's field name
    width_mm: float = 100.0,
    relief_mm: float = 10.0,
    base_mm: float = 2.0,
    resolution_mm: float = 0.4,
    smooth_mm: float = 0.0,
) -> list[Path]:
    """The relief of ``image``'s ``depth`` in ``format`` (and its JSON sidecar): files written into ``area``.

    Raises:
        ValidationError: a format not in :data:`RELIEF_FORMATS`, a size out of range, or a grid of more than
            :data:`~depthforge.web.operations.MAX_MESH_VERTICES` points (a coarser ``resolution_mm`` fits).
    """
    from depthforge.geometry.export import export_mesh
    from depthforge.geometry.relief import check_relief_options, relief_from_depth, relief_sidecar

    check_choice(format, "format", RELIEF_FORMATS)
    sizes: dict[str, Any] = {"width_mm": width_mm, "relief_mm": relief_mm, "base_mm": base_mm, "smooth_mm": smooth_mm}
    rows, cols = check_relief_options(depth.shape, resolution_mm=resolution_mm, **sizes)
    if rows * cols > MAX_MESH_VERTICES:
        raise ValidationError(
            f"resolution_mm: {resolution_mm:g} mm makes {rows * cols:,} grid points, more than this server's "
            f"{MAX_MESH_VERTICES:,}; use a coarser resolution"
        )
    mesh = relief_from_depth(depth, image=image, resolution_mm=resolution_mm, **sizes)
    meta = relief_sidecar(**sizes, resolution_mm=resolution_mm)
    return export_mesh(engine.areas.file(area, f".{format}"), mesh, metadata=meta)
