"""The Gradio UI: one upload at the top (a photo, or a photo and its own depth map) with the model and the depth
settings, then tabs Depth, 3D, Stereo, Parallax, Bokeh, Video, Mask (:mod:`depthforge.web.ui_mask`) and Batch
(:mod:`depthforge.web.ui_batch`), mounted on the API's FastAPI app at ``/``.

Depth is estimated once per (photo, model, processing size, detail) and shared by every tab (the engine's cache):
changing a tab's own settings, or moving to another tab, does not run the model again.

Every callback goes through the server's :class:`~depthforge.web.operations.Engine`: the same model policy,
concurrency gate and per-session temporary areas as the HTTP API (an area is removed when the browser tab
closes, or after the time-to-live). Long work reports progress and has a Cancel button; video work stops at
the next frame when cancelled.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr
from fastapi import FastAPI

from depthforge.core.errors import DepthforgeError
from depthforge.io.video import probe_video
from depthforge.pipeline import video as pv
from depthforge.pipeline.encode import encode_frames
from depthforge.process.normalize import to_display
from depthforge.render.defocus import bokeh
from depthforge.render.motion import MOTIONS, frame_count
from depthforge.render.parallax import render_frames
from depthforge.render.visualize import COLORMAPS, colorize
from depthforge.stereo.layouts import LAYOUTS
from depthforge.web.guard import GradioGuard
from depthforge.web.operations import MAX_VIDEO_PIXELS, Engine
from depthforge.web.relief_ops import make_relief
from depthforge.web.ui_batch import batch_tab
from depthforge.web.ui_generate import generate_tab
from depthforge.web.ui_mask import mask_tab
from depthforge.web.ui_parts import (
    BUTTONS,
    Builder,
    Run,
    download_names,
    files_box,
    image_box,
    note_box,
)
from depthforge.web.ui_photo3d import photo3d_tab

__all__ = ["build_ui", "mount_ui"]

_STEREO_LAYOUTS = [*(name for name in LAYOUTS if name not in ("left", "right")), "separate", "wiggle"]
_CSS = """
.df-note {font-size: 0.9em; opacity: 0.8}
"""
#: Longest clip the UI accepts (seconds).
MAX_VIDEO_SECONDS = 120.0


def _depth_tab(b: Builder) -> None:
    def controls() -> list[Any]:
        cmap = gr.Dropdown(list(COLORMAPS), value="gray", label="Colour map")
        inv = gr.Checkbox(False, label="Invert (near = black)")
        with gr.Row():
            far = gr.Slider(0.0, 1.0, value=0.0, step=0.01, label="Clip far (black point)")
            near = gr.Slider(0.0, 1.0, value=1.0, step=0.01, label="Clip near (white point)")
        return [cmap, inv, far, near]

    def outputs() -> list[Any]:
        picture = image_box("Depth (near = white)", "depth-output", buttons=BUTTONS)
        files = files_box("Downloads: 16-bit PNG, 8-bit PNG, float32 .npy", elem_id="depth-files")
        return [picture, files, note_box()]

    def render(run: Run, cmap: str, inv: bool, far: float, near: float) -> Any:
        depth = run.depth()
        run.progress(0.8, desc="writing files")
        clip_near, clip_far = near if near < 1 else None, far if far > 0 else None
        files = [
            b.engine.depth_file(depth, run.area, format=f, invert=inv, clip_near=clip_near, clip_far=clip_far)
            for f in ("png16", "png8", "npy")
        ]
        preview = colorize(to_display(depth, invert=inv, clip_near=clip_near, clip_far=clip_far)[0], colormap=cmap)
        named = download_names(files, ["depth_16bit.png", "depth_8bit.png", "depth_float32.npy"])
        info = f"{run.image.width}x{run.image.height}, {depth.kind} depth, model {depth.model or run.model}"
        return preview, [str(f) for f in named], info

    b.tab("Depth", "Estimate depth", controls, outputs, render)


def _mesh_tab(b: Builder) -> None:
    def controls() -> list[Any]:
        kind = gr.Radio(["mesh", "pointcloud", "relief"], value="mesh", label="Output (relief: a solid to 3D-print)")
        with gr.Row():
            near = gr.Number(1.0, label="Near (pseudo-depth)", minimum=0.01)
            far = gr.Number(10.0, label="Far (pseudo-depth)", minimum=0.02)
        shape = [
            gr.Slider(10, 150, value=60, step=1, label="Horizontal field of view (deg)"),
            gr.Slider(30, 90, value=87, step=1, label="Drop triangles steeper than (deg)"),
            gr.Slider(1000, 500_000, value=150_000, step=1000, label="Max vertices"),
        ]
        with gr.Accordion("Relief (millimetres)", open=False), gr.Row():
            relief = [
                gr.Number(100.0, label="Width", minimum=1, maximum=2000, elem_id="relief-width"),
                gr.Number(10.0, label="Relief height", minimum=0.1, maximum=500),
                gr.Number(2.0, label="Base", minimum=0.1, maximum=100),
            ]
        return [kind, near, far, *shape, *relief]

    def outputs() -> list[Any]:
        return [
            gr.Model3D(label="3D view (drag to rotate)", elem_id="mesh-view", height=420),
            files_box("Downloads: GLB, PLY, OBJ (zip); relief: GLB, STL"),
            note_box(),
        ]

    def render(run: Run, kind: str, near: float, far: float, fov: float, angle: float, vert: float, width_mm: float,
               relief_mm: float, base_mm: float) -> Any:  # fmt: skip
        depth = run.depth()
        img, area, mesh = run.image, run.area, b.engine.mesh
        if kind == "relief":  # STL to print, GLB to look at; grid 0.4 mm, within the server's mesh limit
            sizes = {"width_mm": width_mm, "relief_mm": relief_mm, "base_mm": base_mm}  # checked by make_relief
            run.progress(0.5, desc="building the relief")
            made = [make_relief(b.engine, img, depth, area, format=f, **sizes)[0] for f in ("glb", "stl")]
            named = download_names(made, ["relief.glb", "relief.stl"])
            width, tall = sizes["width_mm"], sizes["relief_mm"] + sizes["base_mm"]
            info = f"relief {width:g} x {width * img.height / img.width:.0f} x {tall:g} mm, watertight: print the STL"
            return str(named[0]), [str(f) for f in named], info
        kw: dict[str, Any] = {
            "near_m": float(near),
            "far_m": float(far),
            "fov_deg": float(fov),
            "max_angle": float(angle),
            "target_vertices": int(vert),
        }
        run.progress(0.5, desc="building the mesh")
        out: list[Path] = [mesh(img, depth, area, format="glb", **kw)[0]]
        if kind == "pointcloud":
            run.progress(0.7, desc="point cloud")
            out.append(mesh(img, depth, area, format="ply", kind="pointcloud", **kw)[0])
        else:
            run.progress(0.7, desc="PLY and OBJ")
            out.append(mesh(img, depth, area, format="ply", texture=False, **kw)[0])
            out.append(b.engine.zip_files(mesh(img, depth, area, format="obj", **kw), area, stem="mesh_obj"))
        names = ["mesh.glb", "pointcloud.ply" if kind == "pointcloud" else "mesh.ply", "mesh_obj.zip"]
        named = download_names(out, names[: len(out)])
        info = "pseudo-depth (relative model): not metric" if depth.kind == "relative" else f"{depth.kind} depth"
        return str(named[0]), [str(f) for f in named], info

    b.tab("3D", "Make 3D", controls, outputs, render, prefix="mesh")


def _stereo_tab(b: Builder) -> None:
    def controls() -> list[Any]:
        return [
            gr.Dropdown(_STEREO_LAYOUTS, value="left-right", label="Layout"),
            gr.Slider(0.0, 10.0, value=2.5, step=0.1, label="Divergence (% of width)"),
            gr.Slider(0.0, 1.0, value=0.0, step=0.05, label="Convergence (screen plane)"),
            gr.Slider(-5.0, 5.0, value=0.0, step=0.1, label="Extra separation (% of width)"),
            gr.Slider(2, 12, value=2, step=1, label="Wiggle frames"),
        ]

    def outputs() -> list[Any]:
        return [image_box("Stereo", "stereo-output", buttons=BUTTONS), files_box("Downloads")]

    def render(run: Run, layout: str, div: float, conv: float, sep: float, views: float) -> Any:
        depth = run.depth()
        run.progress(0.5, desc="rendering the eyes")
        out = b.engine.stereo(
            run.image, depth, layout=layout, divergence=div, convergence=conv, separation=sep, views=int(views)
        )
        if layout == "wiggle":
            gif = download_names([b.engine.write_animation(out, run.area)], ["wiggle.gif"])[0]
            return str(gif), [str(gif)]
        files = [b.engine.write_png(o, run.area) for o in out]
        names = ["left.png", "right.png"] if layout == "separate" else [f"stereo_{layout}.png"]
        named = download_names(files, names)
        return str(named[0]), [str(f) for f in named]

    b.tab("Stereo", "Make stereo", controls, outputs, render)


def _parallax_tab(b: Builder) -> None:
    """Parallax (2.5D camera motion) clips: :mod:`depthforge.render.parallax` + :mod:`depthforge.pipeline.encode`."""

    def controls() -> list[Any]:
        return [
            gr.Dropdown(list(MOTIONS), value="circle", label="Motion"),
            gr.Slider(1.0, 10.0, value=3.0, step=0.5, label="Duration (s)"),
            gr.Slider(0.0, 10.0, value=2.0, step=0.1, label="Amplitude (% of width)"),
            gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="Steady plane (0 = far, 1 = near)"),
        ]

    def outputs() -> list[Any]:
        return [gr.Video(label="Preview (at most 4K)", elem_id="parallax-output", loop=True, autoplay=True)]

    def render(run: Run, motion: str, dur: float, amt: float, focus: float) -> Any:
        fps = 24.0
        depth = run.depth()
        total = frame_count(float(dur), fps)

        def tick(n: int, _: int | None) -> None:
            run.frames(n, total)

        rgb, depth = b.engine.fit_for_render(run.image, depth)
        frames = render_frames(
            rgb, depth, motion=motion, duration_s=float(dur), fps=fps, amplitude=float(amt), focus=float(focus)
        )
        out = b.engine.areas.file(run.area, ".mp4")
        encode_frames(frames, out, fps=fps, progress=tick)
        return str(download_names([out], ["parallax.mp4"])[0])

    b.tab("Parallax", "Make video", controls, outputs, render, stoppable=True)


def _bokeh_tab(b: Builder) -> None:
    parts: dict[str, Any] = {}  # the focus controls, made with the other controls, wired below

    def controls() -> list[Any]:
        controls = [
            gr.Slider(0, 60, value=12, step=1, label="Aperture (max blur radius, px)"),
            gr.Slider(0, 9, value=0, step=1, label="Blades (0 = round)"),
            gr.Slider(1.0, 8.0, value=2.0, step=0.5, label="Highlight bloom"),
            gr.State(None),
        ]
        with gr.Row():
            parts["where"] = gr.Textbox(
                "auto", label="Focus (click the result to set it)", interactive=False, elem_id="bokeh-focus"
            )
            parts["auto"] = gr.Button("Automatic focus", size="sm")
        parts["focus"] = controls[-1]
        return controls

    def outputs() -> list[Any]:
        return [image_box("Result: click a point to focus there", "bokeh-output"), note_box()]

    def render(run: Run, ap: float, blades: float, hi: float, focus_xy: tuple[float, float] | None) -> Any:
        depth = run.depth()
        run.progress(0.5, desc="blurring")
        img = run.image
        xy = None
        if focus_xy is not None:
            x, y = focus_xy
            xy = (min(max(float(x), 0.0), img.width - 1.0), min(max(float(y), 0.0), img.height - 1.0))
        blades = 0 if int(blades) < 3 else int(blades)
        out = bokeh(img.rgb, depth, focus_xy=xy, aperture_px=float(ap), blades=blades, highlight_gain=float(hi))
        where = f"focus at ({xy[0]:.0f}, {xy[1]:.0f})" if xy else "automatic focus"
        return str(b.engine.write_png(out, run.area)), where

    inputs, shown, callback = b.tab("Bokeh", "Render bokeh", controls, outputs, render)

    def pick(evt: gr.SelectData) -> tuple[tuple[float, float], str]:
        x, y = float(evt.index[0]), float(evt.index[1])
        return (x, y), f"x={x:.0f}, y={y:.0f}"

    focus = [parts["focus"], parts["where"]]
    shown[0].select(pick, None, focus).then(callback, inputs, shown, concurrency_limit=b.engine.gate.workers)
    parts["auto"].click(lambda: (None, "auto"), None, focus)


def _video_tab(b: Builder) -> None:
    """Depth and 3D videos of an uploaded clip (:mod:`depthforge.pipeline.video`)."""

    def controls() -> list[Any]:
        return [
            gr.Dropdown(list(COLORMAPS), value="gray", label="Colour map"),
            gr.Dropdown(["none", *pv.STEREO_VIDEO_LAYOUTS], value="none", label="3D video"),
            gr.Slider(0.0, 10.0, value=2.5, step=0.1, label="Divergence (% of width)"),
        ]

    def outputs() -> list[Any]:
        return [
            gr.Video(label="Depth video", elem_id="video-depth"),
            gr.Video(label="3D video", elem_id="video-3d"),
            files_box("Downloads (16-bit lossless depth MKV, sidecar)"),
        ]

    def render(run: Run, cmap: str, layout: str, div: float) -> Any:
        engine = b.engine
        info = probe_video(run.path, max_pixels=min(engine.limits.max_pixels, MAX_VIDEO_PIXELS))
        if info.duration_s > MAX_VIDEO_SECONDS:
            raise DepthforgeError(
                f"clip: {info.duration_s:.0f} s is longer than this server's limit of {MAX_VIDEO_SECONDS:.0f} s"
            )
        est = engine.estimator(run.model)
        opts = pv.VideoOptions(
            depth16=True,
            depth8=True,
            colormap=cmap,
            divergence=float(div),
            stereo=None if layout == "none" else layout,
            overwrite=True,
        )
        result = pv.run_video(
            run.path, run.area, estimator=est, options=opts, stem="clip", info=info, on_frame=run.frames
        )
        p = result.paths
        files = [str(p[k]) for k in ("depth16", "sidecar") if k in p]
        return str(p["depth8"]), (str(p["stereo"]) if "stereo" in p else None), files

    b.tab("Video", "Process clip", controls, outputs, render, clip=True, stoppable=True)


#: The tabs, in the order shown.
_TABS = (_depth_tab, _mesh_tab, _stereo_tab, _parallax_tab, _bokeh_tab, _video_tab)


def build_ui(engine: Engine) -> gr.Blocks:
    """The Blocks of the UI (not launched; see :func:`mount_ui`)."""
    builder = Builder(engine)
    with gr.Blocks(title="depthforge", analytics_enabled=False, delete_cache=(600, 3600)) as demo:
        gr.Markdown("## depthforge\nDepth maps from photos and videos, and everything made from them.")
        builder.shared_inputs()
        with gr.Tabs():
            for tab in (*_TABS, photo3d_tab, mask_tab, generate_tab, batch_tab):
                tab(builder)
        demo.unload(builder.goodbye)
    return demo


def mount_ui(app: FastAPI, engine: Engine, *, path: str = "/", api_routes: tuple[str, ...] = ()) -> FastAPI:
    """Mount the UI on ``app`` at ``path`` with the server's upload limit, a bounded queue and
    :class:`~depthforge.web.guard.GradioGuard` in front.

    Gradio stores uploads in a folder of this server alone (``engine.uploads``, removed by ``engine.close``); the
    guard lets clients reference only files in it. ``api_routes``: further API paths the guard lets through.
    """
    engine.uploads = Path(tempfile.mkdtemp(prefix="depthforge-gradio-")).resolve()
    os.environ["GRADIO_TEMP_DIR"] = str(engine.uploads)  # read by Gradio when the blocks are built
    demo = build_ui(engine)
    demo.queue(max_size=max(1, engine.limits.queue), default_concurrency_limit=engine.gate.workers)
    theme = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    mounted = gr.mount_gradio_app(
        app,
        demo,
        path=path,
        max_file_size=engine.limits.max_upload_bytes * 8,  # a clip for the Video tab may be 8 times a photo
        allowed_paths=[str(engine.areas.root)],
        show_error=True,
        ssr_mode=False,
        theme=theme,
        css=_CSS,
    )
    # Gradio checks a client's file references only for a launched app, never for a mounted one: mark it launched
    # so its own check runs too (the guard's is the one relied on)
    demo.has_launched = True
    mounted.add_middleware(
        GradioGuard, mount=path, uploads=engine.uploads, served=[engine.areas.root], api_routes=api_routes
    )
    return mounted
