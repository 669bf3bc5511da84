"""The web UI's 3D photo tab: a layered 3D photo of the shared photo (split at depth edges, the hidden parts filled
in colour and depth), shown in the 3D viewer and offered as GLB, PLY (with the A1111 extension's header) and their
JSON sidecars. The depth is the page's shared estimate (or the user's own depth map): the tab never runs the model a
second time. Registered by :func:`depthforge.web.ui.build_ui`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from depthforge.core.errors import DepthforgeError, ModelError, ValidationError
from depthforge.core.validation import check_range
from depthforge.web.operations import MAX_MESH_VERTICES, Engine
from depthforge.web.ui_parts import Builder, Run, download_names, files_box, note_box

__all__ = ["inpaint_choices", "make_photo3d", "photo3d_tab"]

#: The fills every server offers; ``learned`` is added when the operator started it with ``serve --inpainter``
#: (a client never names a model file).
INPAINT_CHOICES = ("background", "telea", "ns")


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


def make_photo3d(
    engine: Engine,
    run: Run,
    inpaint: str,
    layers: float,
    fov: float,
    near: float,
    far: float,
    vertices: float,
) -> tuple[str, list[str], str]:
    """Build the layered 3D photo of ``run``'s photo and depth: (GLB path, download paths, info line)."""
    from depthforge.geometry.camera import resolve_intrinsics
    from depthforge.geometry.layered import export_layered
    from depthforge.pipeline.photo3d import Photo3DOptions, photo3d
    from depthforge.pipeline.producers import photo3d_inpainter

    offered = inpaint_choices(engine)
    if inpaint not in offered:
        raise ValidationError(f"inpaint: {str(inpaint)[:40]!r} is not offered here ({', '.join(offered)})")
    method = _Learned(photo3d_inpainter(engine.config.inpainter)) if inpaint == "learned" else inpaint
    n_layers = int(check_range(layers, "layers", low=1, high=6))
    cap = int(check_range(vertices, "vertices", low=1000, high=MAX_MESH_VERTICES // n_layers))
    depth = run.depth()
    image = run.image
    intr = resolve_intrinsics(image.size_hw, fov_deg=float(fov), exif=image.exif, fallback=depth.intrinsics)
    options = Photo3DOptions(
        max_layers=n_layers, inpaint=method, near_m=float(near), far_m=float(far), target_vertices=cap
    )
    run.progress(0.4, desc="layers, hidden parts and meshes")
    glb = engine.areas.file(run.area, ".glb")
    meta = {"intrinsics_source": intr.source}
    result = photo3d(image, depth, glb, options=options, intrinsics=intr, metadata=meta)
    run.progress(0.9, desc="PLY")
    ply = export_layered(engine.areas.file(run.area, ".ply"), result.mesh, metadata=dict(meta))
    files: list[Path] = [*result.files, *ply]
    named = download_names(files, ["photo3d.glb", "photo3d.glb.json", "photo3d.ply", "photo3d.ply.json"])
    lm, scene = result.mesh, result.scene
    verts = sum(L.mesh.n_vertices for L in lm.layers)
    units = "metres" if scene.z_is_metric else "pseudo-depth (not metric)"
    fill = options.inpaint_name
    info = f"{len(lm.layers)} layers, {verts} vertices, grid stride {lm.stride} px, {units}; fill {fill}"
    return str(named[0]), [str(f) for f in named], info


def photo3d_tab(b: Builder) -> None:
    """Add the 3D photo tab (element ids ``photo3d-inpaint``, ``photo3d-run``, ``photo3d-view``, ``photo3d-files``;
    API name ``run_photo3d``)."""

    def controls() -> list[Any]:
        inpaint = gr.Dropdown(
            list(inpaint_choices(b.engine)), value="background", label="Fill of hidden parts", elem_id="photo3d-inpaint"
        )
        layers = gr.Slider(1, 6, value=4, step=1, label="Depth layers (at most)")
        fov = gr.Slider(10, 150, value=60, step=1, label="Horizontal field of view (deg)")
        with gr.Row():
            near = gr.Number(1.0, label="Near (pseudo-depth)", minimum=0.01)
            far = gr.Number(10.0, label="Far (pseudo-depth)", minimum=0.02)
        vertices = gr.Slider(1000, MAX_MESH_VERTICES // 6, value=150_000, step=1000, label="Max vertices per layer")
        return [inpaint, layers, fov, near, far, vertices]

    def outputs() -> list[Any]:
        return [
            gr.Model3D(label="Layered 3D photo (drag to rotate)", elem_id="photo3d-view", height=420),
            files_box("Downloads: GLB, PLY (A1111 extension header), JSON sidecars", elem_id="photo3d-files"),
            note_box(),
        ]

    def render(run: Run, inpaint: str, layers: float, fov: float, near: float, far: float, vertices: float) -> Any:
        return make_photo3d(b.engine, run, inpaint, layers, fov, near, far, vertices)

    b.tab("3D photo", "Make 3D photo", controls, outputs, render, prefix="photo3d")
