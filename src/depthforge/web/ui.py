"""The Gradio UI: tabs Depth, 3D, Stereo, Parallax, Bokeh, Video, mounted on the API's FastAPI app at ``/``.

Every callback goes through the server's :class:`~depthforge.web.operations.Engine`: the same model policy,
concurrency gate and per-session temporary areas as the HTTP API (an area is removed when the browser tab
closes, or after the time-to-live). Long work reports progress and has a Cancel button; video work stops at
the next frame when cancelled.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import gradio as gr
from fastapi import FastAPI

from depthforge.core.errors import DepthforgeError
from depthforge.core.image import Image
from depthforge.stereo.layouts import LAYOUTS
from depthforge.web.guard import GradioGuard
from depthforge.web.operations import MAX_VIDEO_PIXELS, Engine

__all__ = ["build_ui", "mount_ui"]

_COLORMAPS = ["gray", "inferno", "turbo", "viridis", "magma", "plasma"]
_STEREO_LAYOUTS = [*(name for name in LAYOUTS if name not in ("left", "right")), "separate", "wiggle"]
_BUTTONS: list[Any] = ["download", "fullscreen"]
_CSS = """
.df-note {font-size: 0.9em; opacity: 0.8}
"""


class Cancelled(DepthforgeError):
    """The user pressed Cancel."""


class _Cancels:
    """Per-session cancel flags, checked by long loops (video frames)."""

    def __init__(self) -> None:
        self._flags: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def flag(self, session: str) -> threading.Event:
        with self._lock:
            return self._flags.setdefault(session, threading.Event())

    def drop(self, session: str) -> None:
        with self._lock:
            self._flags.pop(session, None)


def _session(request: gr.Request | None) -> str:
    key = getattr(request, "session_hash", None) or "anonymous"
    return "".join(c for c in str(key) if c.isalnum() or c in "-_")[:64] or "anonymous"


@contextmanager
def _job(engine: Engine) -> Iterator[None]:
    """Run under the concurrency gate; library errors become a one-line message in the UI."""
    try:
        with engine.gate.slot():
            yield
    except DepthforgeError as exc:
        text = str(exc).replace(str(engine.areas.root), "<upload>")
        raise gr.Error(text[:400]) from None


def _photo(engine: Engine, path: str | None) -> Image:
    if not path:
        raise gr.Error("upload a photo first")
    return engine.read_upload(_uploaded(engine, path))


def _uploaded(engine: Engine, path: str) -> str:
    """``path`` if it is a file uploaded to this server (the guard already refused others; checked again here)."""
    real = os.path.realpath(path)
    if engine.uploads is None or not real.startswith(str(engine.uploads) + os.sep):
        raise gr.Error("only files uploaded to this server can be used")
    return real


def build_ui(engine: Engine) -> gr.Blocks:
    """The Blocks of the UI (not launched; see :func:`mount_ui`)."""
    names = engine.policy.choices()
    # the default is offered as "default" so the operator's folder path is never shown to visitors
    shown = Path(names[0]).name if Path(names[0]).is_absolute() else names[0]
    choices: list[tuple[str, str]] = [(f"default ({shown})", "default"), *((n, n) for n in names[1:])]
    cancels = _Cancels()

    def area_for(request: gr.Request | None) -> Path:
        return engine.areas.area(_session(request))

    def model_box() -> gr.Dropdown:
        return gr.Dropdown(choices=choices, value="default", label="Model", allow_custom_value=False)

    with gr.Blocks(title="depthforge", analytics_enabled=False, delete_cache=(600, 3600)) as demo:
        gr.Markdown("## depthforge\nDepth maps from photos and videos, and everything made from them.")
        with gr.Tabs():
            # ---------------------------------------------------------------------------------------- Depth
            with gr.Tab("Depth", id="depth"):
                with gr.Row():
                    with gr.Column():
                        d_in = gr.Image(type="filepath", label="Photo", elem_id="depth-input", format="png")
                        d_model = model_box()
                        d_res = gr.Slider(
                            0, 2048, value=0, step=14, label="Processing size (longer side, 0 = model default)"
                        )
                        d_cmap = gr.Dropdown(_COLORMAPS, value="gray", label="Colour map")
                        d_inv = gr.Checkbox(False, label="Invert (near = black)")
                        with gr.Row():
                            d_far = gr.Slider(0.0, 1.0, value=0.0, step=0.01, label="Clip far (black point)")
                            d_near = gr.Slider(0.0, 1.0, value=1.0, step=0.01, label="Clip near (white point)")
                        with gr.Row():
                            d_run = gr.Button("Estimate depth", variant="primary", elem_id="depth-run")
                            d_cancel = gr.Button("Cancel", elem_id="depth-cancel")
                    with gr.Column():
                        d_out = gr.Image(
                            label="Depth (near = white)",
                            format="png",
                            interactive=False,
                            buttons=_BUTTONS,
                            elem_id="depth-output",
                        )
                        d_files = gr.File(
                            label="Downloads: 16-bit PNG, 8-bit PNG, float32 .npy",
                            file_count="multiple",
                            interactive=False,
                            elem_id="depth-files",
                        )
                        d_info = gr.Markdown(elem_classes="df-note")

                def run_depth(
                    path: str | None,
                    model: str,
                    res: float,
                    cmap: str,
                    inv: bool,
                    far: float,
                    near: float,
                    request: gr.Request,
                    progress: gr.Progress = gr.Progress(),
                ) -> Any:
                    with _job(engine):
                        progress(0.1, desc="reading the photo")
                        img = _photo(engine, path)
                        progress(0.3, desc="estimating depth")
                        depth = engine.depth_for(img, model, resolution=int(res) or None)
                        progress(0.8, desc="writing files")
                        area = area_for(request)
                        kw: dict[str, Any] = {
                            "invert": inv,
                            "near": near if near < 1 else None,
                            "far": far if far > 0 else None,
                        }
                        files = [engine.depth_file(depth, area, format=f, **kw) for f in ("png16", "png8", "npy")]
                        preview = engine.depth_preview(depth, colormap=cmap, **kw)
                        named = _rename(files, ["depth_16bit.png", "depth_8bit.png", "depth_float32.npy"])
                        info = f"{img.width}x{img.height}, {depth.kind} depth, model {depth.model or model}"
                        return preview, [str(f) for f in named], info

                ev = d_run.click(
                    run_depth,
                    [d_in, d_model, d_res, d_cmap, d_inv, d_far, d_near],
                    [d_out, d_files, d_info],
                    concurrency_limit=engine.gate.workers,
                )
                d_cancel.click(None, None, None, cancels=[ev])

            # ---------------------------------------------------------------------------------------- 3D
            with gr.Tab("3D", id="3d"):
                with gr.Row():
                    with gr.Column():
                        m_in = gr.Image(type="filepath", label="Photo", elem_id="mesh-input", format="png")
                        m_model = model_box()
                        m_kind = gr.Radio(["mesh", "pointcloud"], value="mesh", label="Output")
                        with gr.Row():
                            m_near = gr.Number(1.0, label="Near (pseudo-depth)", minimum=0.01)
                            m_far = gr.Number(10.0, label="Far (pseudo-depth)", minimum=0.02)
                        m_fov = gr.Slider(10, 150, value=60, step=1, label="Horizontal field of view (deg)")
                        m_angle = gr.Slider(30, 90, value=87, step=1, label="Drop triangles steeper than (deg)")
                        m_vert = gr.Slider(1000, 500_000, value=150_000, step=1000, label="Max vertices")
                        with gr.Row():
                            m_run = gr.Button("Make 3D", variant="primary", elem_id="mesh-run")
                            m_cancel = gr.Button("Cancel")
                    with gr.Column():
                        m_view = gr.Model3D(label="3D view (drag to rotate)", elem_id="mesh-view", height=420)
                        m_files = gr.File(
                            label="Downloads: GLB, PLY, OBJ (zip)", file_count="multiple", interactive=False
                        )
                        m_info = gr.Markdown(elem_classes="df-note")

                def run_mesh(
                    path: str | None,
                    model: str,
                    kind: str,
                    near: float,
                    far: float,
                    fov: float,
                    angle: float,
                    vert: float,
                    request: gr.Request,
                    progress: gr.Progress = gr.Progress(),
                ) -> Any:
                    with _job(engine):
                        img = _photo(engine, path)
                        progress(0.2, desc="estimating depth")
                        depth = engine.depth_for(img, model)
                        area = area_for(request)
                        kw: dict[str, Any] = {
                            "near": float(near),
                            "far": float(far),
                            "fov": float(fov),
                            "max_angle": float(angle),
                            "target_vertices": int(vert),
                        }
                        progress(0.5, desc="building the mesh")
                        glb = engine.mesh(img, depth, area, format="glb", **kw)[0]
                        out: list[Path] = [glb]
                        if kind == "pointcloud":
                            progress(0.7, desc="point cloud")
                            out.append(engine.mesh(img, depth, area, format="ply", kind="pointcloud", **kw)[0])
                        else:
                            progress(0.7, desc="PLY and OBJ")
                            out.append(engine.mesh(img, depth, area, format="ply", texture=False, **kw)[0])
                            out.append(
                                engine.zip_files(
                                    engine.mesh(img, depth, area, format="obj", **kw), area, stem="mesh_obj"
                                )
                            )
                        names = ["mesh.glb", "pointcloud.ply" if kind == "pointcloud" else "mesh.ply", "mesh_obj.zip"]
                        named = _rename(out, names[: len(out)])
                        return (
                            str(named[0]),
                            [str(f) for f in named],
                            "pseudo-depth (relative model): not metric"
                            if depth.kind == "relative"
                            else f"{depth.kind} depth",
                        )

                ev = m_run.click(
                    run_mesh,
                    [m_in, m_model, m_kind, m_near, m_far, m_fov, m_angle, m_vert],
                    [m_view, m_files, m_info],
                    concurrency_limit=engine.gate.workers,
                )
                m_cancel.click(None, None, None, cancels=[ev])

            # ---------------------------------------------------------------------------------------- Stereo
            with gr.Tab("Stereo", id="stereo"):
                with gr.Row():
                    with gr.Column():
                        s_in = gr.Image(type="filepath", label="Photo", elem_id="stereo-input", format="png")
                        s_model = model_box()
                        s_layout = gr.Dropdown(_STEREO_LAYOUTS, value="left-right", label="Layout")
                        s_div = gr.Slider(0.0, 10.0, value=2.5, step=0.1, label="Divergence (% of width)")
                        s_conv = gr.Slider(0.0, 1.0, value=0.0, step=0.05, label="Convergence (screen plane)")
                        s_sep = gr.Slider(-5.0, 5.0, value=0.0, step=0.1, label="Extra separation (% of width)")
                        s_views = gr.Slider(2, 12, value=2, step=1, label="Wiggle frames")
                        with gr.Row():
                            s_run = gr.Button("Make stereo", variant="primary", elem_id="stereo-run")
                            s_cancel = gr.Button("Cancel")
                    with gr.Column():
                        s_out = gr.Image(
                            label="Stereo", format="png", interactive=False, buttons=_BUTTONS, elem_id="stereo-output"
                        )
                        s_files = gr.File(label="Downloads", file_count="multiple", interactive=False)

                def run_stereo(
                    path: str | None,
                    model: str,
                    layout: str,
                    div: float,
                    conv: float,
                    sep: float,
                    views: float,
                    request: gr.Request,
                    progress: gr.Progress = gr.Progress(),
                ) -> Any:
                    with _job(engine):
                        img = _photo(engine, path)
                        progress(0.2, desc="estimating depth")
                        depth = engine.depth_for(img, model)
                        progress(0.5, desc="rendering the eyes")
                        area = area_for(request)
                        out = engine.stereo(
                            img,
                            depth,
                            layout=layout,
                            divergence=div,
                            convergence=conv,
                            separation=sep,
                            views=int(views),
                        )
                        if layout == "wiggle":
                            gif = _rename([engine.write_animation(out, area)], ["wiggle.gif"])[0]
                            return str(gif), [str(gif)]
                        files = [engine.write_png(o, area) for o in out]
                        names = ["left.png", "right.png"] if layout == "separate" else [f"stereo_{layout}.png"]
                        named = _rename(files, names)
                        return str(named[0]), [str(f) for f in named]

                ev = s_run.click(
                    run_stereo,
                    [s_in, s_model, s_layout, s_div, s_conv, s_sep, s_views],
                    [s_out, s_files],
                    concurrency_limit=engine.gate.workers,
                )
                s_cancel.click(None, None, None, cancels=[ev])

            # ---------------------------------------------------------------------------------------- Parallax
            with gr.Tab("Parallax", id="parallax"):
                _parallax_tab(engine, area_for, model_box, cancels)

            # ---------------------------------------------------------------------------------------- Bokeh
            with gr.Tab("Bokeh", id="bokeh"):
                with gr.Row():
                    with gr.Column():
                        b_in = gr.Image(type="filepath", label="Photo", elem_id="bokeh-input", format="png")
                        b_model = model_box()
                        b_ap = gr.Slider(0, 60, value=12, step=1, label="Aperture (max blur radius, px)")
                        b_blades = gr.Slider(0, 9, value=0, step=1, label="Blades (0 = round)")
                        b_hi = gr.Slider(1.0, 8.0, value=2.0, step=0.5, label="Highlight bloom")
                        b_focus = gr.State(None)
                        with gr.Row():
                            b_where = gr.Textbox(
                                "auto",
                                label="Focus (click the result to set it)",
                                interactive=False,
                                elem_id="bokeh-focus",
                            )
                            b_auto = gr.Button("Automatic focus", size="sm")
                        with gr.Row():
                            b_run = gr.Button("Render bokeh", variant="primary", elem_id="bokeh-run")
                            b_cancel = gr.Button("Cancel")
                    with gr.Column():
                        b_out = gr.Image(
                            label="Result: click a point to focus there",
                            format="png",
                            interactive=False,
                            elem_id="bokeh-output",
                        )
                        b_info = gr.Markdown(elem_classes="df-note")

                def run_bokeh(
                    path: str | None,
                    model: str,
                    ap: float,
                    blades: float,
                    hi: float,
                    focus_xy: tuple[float, float] | None,
                    request: gr.Request,
                    progress: gr.Progress = gr.Progress(),
                ) -> Any:
                    with _job(engine):
                        img = _photo(engine, path)
                        progress(0.2, desc="estimating depth")
                        depth = engine.depth_for(img, model)
                        progress(0.5, desc="blurring")
                        focus = None
                        if focus_xy is not None:
                            x, y = focus_xy
                            focus = (
                                min(max(float(x), 0.0), img.width - 1.0),
                                min(max(float(y), 0.0), img.height - 1.0),
                            )
                        out = engine.bokeh(
                            img,
                            depth,
                            focus_xy=focus,
                            aperture=float(ap),
                            blades=0 if int(blades) < 3 else int(blades),
                            highlights=float(hi),
                        )
                        png = engine.write_png(out, area_for(request))
                        where = f"focus at ({focus[0]:.0f}, {focus[1]:.0f})" if focus else "automatic focus"
                        return str(png), where

                inputs = [b_in, b_model, b_ap, b_blades, b_hi, b_focus]
                ev = b_run.click(run_bokeh, inputs, [b_out, b_info], concurrency_limit=engine.gate.workers)
                b_cancel.click(None, None, None, cancels=[ev])

                def pick(evt: gr.SelectData) -> tuple[tuple[float, float], str]:
                    x, y = float(evt.index[0]), float(evt.index[1])
                    return (x, y), f"x={x:.0f}, y={y:.0f}"

                b_out.select(pick, None, [b_focus, b_where]).then(
                    run_bokeh, inputs, [b_out, b_info], concurrency_limit=engine.gate.workers
                )
                b_auto.click(lambda: (None, "auto"), None, [b_focus, b_where])

            # ---------------------------------------------------------------------------------------- Video
            with gr.Tab("Video", id="video"):
                _video_tab(engine, area_for, model_box, cancels)

        def goodbye(request: gr.Request) -> None:
            key = _session(request)
            engine.areas.remove(key)
            cancels.drop(key)

        demo.unload(goodbye)
    return demo


def _rename(files: list[Path], names: list[str]) -> list[Path]:
    """Give server-made files friendly download names, each in its own sub-folder of the same area."""
    out = []
    for f, name in zip(files, names, strict=True):
        folder = f.parent / f.stem
        folder.mkdir(exist_ok=True)
        target = folder / name
        f.replace(target)
        out.append(target)
    return out


def _parallax_tab(
    engine: Engine, area_for: Callable[[Any], Path], model_box: Callable[[], gr.Dropdown], cancels: _Cancels
) -> None:
    """Parallax (2.5D camera motion) clips: :mod:`depthforge.render.parallax` + :mod:`depthforge.pipeline.encode`."""
    if (
        importlib.util.find_spec("depthforge.render.parallax") is None
        or importlib.util.find_spec("depthforge.pipeline.encode") is None
    ):
        gr.Markdown("Parallax videos need `depthforge.render.parallax`, which this build does not have.")
        return
    from depthforge.render.motion import MOTIONS

    with gr.Row():
        with gr.Column():
            p_in = gr.Image(type="filepath", label="Photo", elem_id="parallax-input", format="png")
            p_model = model_box()
            p_motion = gr.Dropdown(list(MOTIONS), value="circle", label="Motion")
            p_dur = gr.Slider(1.0, 10.0, value=3.0, step=0.5, label="Duration (s)")
            p_amt = gr.Slider(0.0, 10.0, value=2.0, step=0.1, label="Amplitude (% of width)")
            p_focus = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="Steady plane (0 = far, 1 = near)")
            with gr.Row():
                p_run = gr.Button("Make video", variant="primary", elem_id="parallax-run")
                p_cancel = gr.Button("Cancel", elem_id="parallax-cancel")
        with gr.Column():
            p_out = gr.Video(label="Preview (at most 4K)", elem_id="parallax-output", loop=True, autoplay=True)

    def run_parallax(
        path: str | None,
        model: str,
        motion: str,
        dur: float,
        amt: float,
        focus: float,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),
    ) -> Any:
        from depthforge.pipeline.encode import encode_frames
        from depthforge.render.motion import frame_count
        from depthforge.render.parallax import render_frames

        fps = 24.0
        flag = cancels.flag(_session(request))
        flag.clear()
        with _job(engine):
            img = _photo(engine, path)
            progress(0.05, desc="estimating depth")
            depth = engine.depth_for(img, model)
            total = frame_count(float(dur), fps)
            done = [0]

            def tick(n: int) -> None:
                if flag.is_set():
                    raise Cancelled("cancelled")
                done[0] += n
                progress((done[0], total), desc="frames", unit="frames")

            rgb, depth = engine.fit_for_video(img, depth)
            frames = render_frames(
                rgb, depth, motion=motion, duration=float(dur), fps=fps, amplitude=float(amt), focus=float(focus)
            )
            slot = engine.areas.file(area_for(request), ".mp4")
            slot.with_suffix("").mkdir()
            out = slot.with_suffix("") / "parallax.mp4"
            encode_frames(frames, out, fps=fps, progress=tick)
            return str(out)

    ev = p_run.click(
        run_parallax, [p_in, p_model, p_motion, p_dur, p_amt, p_focus], [p_out], concurrency_limit=engine.gate.workers
    )

    def cancel(request: gr.Request) -> None:
        cancels.flag(_session(request)).set()

    p_cancel.click(cancel, None, None, cancels=[ev])


#: Longest clip the UI accepts (seconds).
MAX_VIDEO_SECONDS = 120.0


def _video_tab(
    engine: Engine, area_for: Callable[[Any], Path], model_box: Callable[[], gr.Dropdown], cancels: _Cancels
) -> None:
    """Depth and 3D videos of an uploaded clip (:mod:`depthforge.pipeline.video`)."""
    if importlib.util.find_spec("depthforge.pipeline.video") is None:
        gr.Markdown("Video needs `depthforge.pipeline.video`, which this build does not have yet.")
        return
    from depthforge.pipeline import video as pv

    with gr.Row():
        with gr.Column():
            v_in = gr.Video(label="Clip", elem_id="video-input", sources=["upload"])
            v_model = model_box()
            v_cmap = gr.Dropdown(_COLORMAPS, value="gray", label="Colour map")
            v_3d = gr.Dropdown(["none", *pv.STEREO_VIDEO_LAYOUTS], value="none", label="3D video")
            v_div = gr.Slider(0.0, 10.0, value=2.5, step=0.1, label="Divergence (% of width)")
            with gr.Row():
                v_run = gr.Button("Process clip", variant="primary", elem_id="video-run")
                v_cancel = gr.Button("Cancel", elem_id="video-cancel")
        with gr.Column():
            v_depth = gr.Video(label="Depth video", elem_id="video-depth")
            v_stereo = gr.Video(label="3D video", elem_id="video-3d")
            v_files = gr.File(
                label="Downloads (16-bit lossless depth MKV, sidecar)", file_count="multiple", interactive=False
            )

    def run_video(
        path: str | None,
        model: str,
        cmap: str,
        layout: str,
        div: float,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),
    ) -> Any:
        if not path:
            raise gr.Error("upload a clip first")
        from depthforge.io.video import probe_video
        from depthforge.models.estimator import load_model

        key = _session(request)
        flag = cancels.flag(key)
        flag.clear()
        with _job(engine):
            path = _uploaded(engine, path)
            info = probe_video(path, max_pixels=min(engine.limits.max_pixels, MAX_VIDEO_PIXELS))
            if info.duration_s > MAX_VIDEO_SECONDS:
                raise DepthforgeError(
                    f"clip: {info.duration_s:.0f} s is longer than this server's limit of {MAX_VIDEO_SECONDS:.0f} s"
                )
            est = load_model(engine.policy.resolve(model), device=engine.config.device, dtype=engine.config.dtype)
            opts = pv.VideoOptions(
                depth16=True,
                depth8=True,
                colormap=cmap,
                divergence=float(div),
                stereo=None if layout == "none" else layout,
                overwrite=True,
            )

            def on_frame(done: int, total: int) -> None:
                if flag.is_set():
                    raise Cancelled("cancelled")
                progress((done, max(total, done)), desc="frames", unit="frames")

            result = pv.run_video(
                path, area_for(request), estimator=est, options=opts, stem="clip", info=info, on_frame=on_frame
            )
            p = result.paths
            files = [str(p[k]) for k in ("depth16", "sidecar") if k in p]
            return str(p["depth8"]), (str(p["stereo"]) if "stereo" in p else None), files

    ev = v_run.click(
        run_video,
        [v_in, v_model, v_cmap, v_3d, v_div],
        [v_depth, v_stereo, v_files],
        concurrency_limit=engine.gate.workers,
    )

    def cancel(request: gr.Request) -> None:
        cancels.flag(_session(request)).set()

    v_cancel.click(cancel, None, None, cancels=[ev])


def mount_ui(app: FastAPI, engine: Engine, *, path: str = "/") -> FastAPI:
    """Mount the UI on ``app`` at ``path`` with the server's upload limit, a bounded queue and
    :class:`~depthforge.web.guard.GradioGuard` in front.

    Gradio stores uploads in a folder of this server alone (``engine.uploads``, removed by ``engine.close``); the
    guard lets clients reference only files in it.
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
        max_file_size=engine.limits.max_upload_bytes
        * (8 if importlib.util.find_spec("depthforge.pipeline.video") else 1),
        allowed_paths=[str(engine.areas.root)],
        show_error=True,
        ssr_mode=False,
        theme=theme,
        css=_CSS,
    )
    # Gradio checks a client's file references only for a launched app, never for a mounted one: mark it launched
    # so its own check runs too (the guard's is the one relied on)
    demo.has_launched = True
    mounted.add_middleware(GradioGuard, mount=path, uploads=engine.uploads, served=[engine.areas.root])
    return mounted
