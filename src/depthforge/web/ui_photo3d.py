"""The web UI's 3D photo tab: a layered 3D photo of the shared photo (split at depth edges, the hidden parts filled
in colour and depth), shown in the 3D viewer and offered as GLB, PLY (with the A1111 extension's header) and their
JSON sidecars. The depth is the page's shared estimate (or the user's own depth map): the tab never runs the model a
second time. Registered by :func:`depthforge.web.ui.build_ui`.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from depthforge.web.operations import MAX_MESH_VERTICES, Engine
from depthforge.web.photo3d_ops import MAX_LAYERS, check_photo3d_options, inpaint_choices, layered_photo
from depthforge.web.ui_parts import Builder, Run, download_names, files_box, note_box

__all__ = ["inpaint_choices", "make_photo3d", "photo3d_tab"]


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
    """Build the layered 3D photo of ``run``'s photo and depth: (GLB path, download paths, info line). The options
    are checked before the depth is estimated."""
    check_photo3d_options(engine, inpaint=inpaint, layers=layers, target_vertices=vertices, fov_deg=fov)
    depth = run.depth()

    def stage(name: str) -> None:
        run.progress(0.4 if name != "PLY" else 0.9, desc=name)

    files, info = layered_photo(
        engine,
        run.image,
        depth,
        run.area,
        inpaint=inpaint,
        layers=layers,
        fov_deg=fov,
        near_m=near,
        far_m=far,
        target_vertices=vertices,
        progress=stage,
    )
    named = download_names(files, ["photo3d.glb", "photo3d.glb.json", "photo3d.ply", "photo3d.ply.json"])
    return str(named[0]), [str(f) for f in named], info


def photo3d_tab(b: Builder) -> None:
    """Add the 3D photo tab (element ids ``photo3d-inpaint``, ``photo3d-run``, ``photo3d-view``, ``photo3d-files``;
    API name ``run_photo3d``)."""

    def controls() -> list[Any]:
        inpaint = gr.Dropdown(
            list(inpaint_choices(b.engine)), value="background", label="Fill of hidden parts", elem_id="photo3d-inpaint"
        )
        layers = gr.Slider(1, MAX_LAYERS, value=4, step=1, label="Depth layers (at most)")
        fov = gr.Slider(10, 150, value=60, step=1, label="Horizontal field of view (deg)")
        with gr.Row():
            near = gr.Number(1.0, label="Near (pseudo-depth)", minimum=0.01)
            far = gr.Number(10.0, label="Far (pseudo-depth)", minimum=0.02)
        vertices = gr.Slider(
            1000, MAX_MESH_VERTICES // MAX_LAYERS, value=150_000, step=1000, label="Max vertices per layer"
        )
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
