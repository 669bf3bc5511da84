"""The parts every tab of the Gradio UI is built from (:mod:`depthforge.web.ui` and the tab modules
:mod:`~depthforge.web.ui_batch`, :mod:`~depthforge.web.ui_mask`, :mod:`~depthforge.web.ui_photo3d`): the
:class:`Builder` that wires a tab's Run and Cancel buttons and the shared upload, the :class:`Run` a tab's render
function receives, and small helpers (the session key, the concurrency gate with one-line errors, the check that a
path is one of this server's uploads, download names, output boxes).
"""

from __future__ import annotations

import functools
import inspect
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import DepthforgeError
from depthforge.core.image import Image
from depthforge.web.operations import DETAIL_CHOICES, Engine

__all__ = [
    "BUTTONS",
    "Builder",
    "Cancelled",
    "OWN_KINDS",
    "Run",
    "checked_upload",
    "download_names",
    "files_box",
    "gated",
    "image_box",
    "note_box",
    "session_of",
]

#: The buttons of an output image.
BUTTONS: list[Any] = ["download", "fullscreen"]


class Cancelled(DepthforgeError):
    """The user pressed Cancel."""


def session_of(request: gr.Request | None) -> str:
    key = getattr(request, "session_hash", None) or "anonymous"
    return "".join(c for c in str(key) if c.isalnum() or c in "-_")[:64] or "anonymous"


@contextmanager
def gated(engine: Engine) -> Iterator[None]:
    """Run under the concurrency gate; library errors become a one-line message in the UI."""
    try:
        with engine.gate.slot():
            yield
    except DepthforgeError as exc:
        text = str(exc).replace(str(engine.areas.root), "<upload>")
        raise gr.Error(text[:400]) from None


def checked_upload(engine: Engine, path: str) -> str:
    """``path`` if it is a file uploaded to this server (the guard already refused others; checked again here)."""
    real = os.path.realpath(path)
    if engine.uploads is None or not real.startswith(str(engine.uploads) + os.sep):
        raise gr.Error("only files uploaded to this server can be used")
    return real


def download_names(files: list[Path], names: list[str]) -> list[Path]:
    """Give server-made files friendly download names, each in its own sub-folder of the same area."""
    out = []
    for f, name in zip(files, names, strict=True):
        (f.parent / f.stem).mkdir(exist_ok=True)
        out.append(f.replace(f.parent / f.stem / name))
    return out


def files_box(label: str, **kwargs: Any) -> gr.File:
    return gr.File(label=label, file_count="multiple", interactive=False, **kwargs)


def image_box(label: str, elem_id: str, **kwargs: Any) -> gr.Image:
    return gr.Image(label=label, format="png", interactive=False, elem_id=elem_id, **kwargs)


def note_box() -> gr.Markdown:
    return gr.Markdown(elem_classes="df-note")


#: The UI's choices for the kind of the user's own depth map, and the kind each stands for (None: the file's own
#: metadata, else relative).
OWN_KINDS: dict[str, str | None] = {
    "as the file says (plain files: larger = nearer)": None,
    "relative (larger = nearer)": "relative",
    "metric (metres, larger = farther)": "metric",
    "disparity (pixels, larger = nearer)": "disparity",
}


@dataclass
class Run:
    """One UI request, as a tab's render function sees it: the uploaded file (already checked to be one of this
    server's uploads), the chosen model, the session and its cancel flag, Gradio's progress bar, and the shared
    depth settings: the user's own depth file (an upload too, or None) with its kind and scale (None: as the file
    says), processing size and detail."""

    engine: Engine
    path: str
    model: str
    session: str
    progress: Any
    cancelled: threading.Event
    depth_path: str | None = None
    resolution: int | None = None
    detail: str = "off"
    depth_kind: str | None = None
    depth_scale: float | None = None

    @property
    def area(self) -> Path:
        """The session's area (the outputs go there)."""
        return self.engine.areas.area(self.session)

    @functools.cached_property
    def image(self) -> Image:
        """The uploaded photo, decoded under the server's pixel limit."""
        return self.engine.read_upload(self.path)

    def depth(self) -> DepthMap:
        """The user's own depth map (resampled to the photo), else the estimate (cached: one model run per photo,
        model, processing size and detail, whichever tab asks)."""
        if self.depth_path is not None:
            from depthforge.io.depthread import read_depth
            from depthforge.process.resample import check_not_sideways, resize_depth

            own = read_depth(
                self.depth_path, kind=self.depth_kind, scale=self.depth_scale, max_pixels=self.engine.limits.max_pixels
            )
            if own.shape == self.image.size_hw:
                return own
            check_not_sideways(own.shape, self.image.size_hw)
            return resize_depth(own, self.image.size_hw)
        self.progress(0.2, desc="estimating depth")
        return self.engine.depth_for(self.image, self.model, resolution=self.resolution, detail=self.detail)

    def frames(self, done: int, total: int) -> None:
        """Report ``done`` of ``total`` frames; raises :class:`Cancelled` once the user pressed Cancel."""
        if self.cancelled.is_set():
            raise Cancelled("cancelled")
        self.progress((done, max(total, done)), desc="frames", unit="frames")


class Builder:
    """What the tabs share: the engine, the model choices, the per-session cancel flags (checked by the video loops)
    and the wiring of a tab's Run and Cancel buttons."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        names = engine.policy.choices()
        # the default is offered as "default" so the operator's folder path is never shown to visitors
        shown = Path(names[0]).name if Path(names[0]).is_absolute() else names[0]
        self.choices: list[tuple[str, str]] = [(f"default ({shown})", "default"), *((n, n) for n in names[1:])]
        self._flags: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def flag(self, session: str) -> threading.Event:
        with self._lock:
            return self._flags.setdefault(session, threading.Event())

    def cancel(self, request: gr.Request) -> None:
        self.flag(session_of(request)).set()

    def goodbye(self, request: gr.Request) -> None:
        key = session_of(request)
        self.engine.areas.remove(key)
        with self._lock:
            self._flags.pop(key, None)

    def model_box(self) -> gr.Dropdown:
        return gr.Dropdown(choices=self.choices, value="default", label="Model", allow_custom_value=False)

    def shared_inputs(self) -> None:
        """The one upload and the depth settings at the top, shared by every photo tab: ``photo-input``,
        ``own-depth-input`` (optional), the model, processing size and detail (the Batch tab takes the last three:
        :attr:`model`, :attr:`resolution`, :attr:`detail`)."""
        with gr.Row():
            photo = gr.Image(type="filepath", label="Photo", elem_id="photo-input", format="png", height=260)
            with gr.Column():
                own = gr.File(label="Your own depth map (optional)", elem_id="own-depth-input", file_count="single")
                with gr.Row():  # a plain file does not say what it holds (user trial 3: metric read as relative)
                    own_kind = gr.Dropdown(
                        list(OWN_KINDS), value=next(iter(OWN_KINDS)), label="Its kind", elem_id="own-depth-kind"
                    )
                    own_scale = gr.Number(value=0, minimum=0, label="Scale of its values (0 = as stored)")
            with gr.Column():
                model = self.model_box()
                res = gr.Slider(
                    0,
                    self.engine.limits.max_resolution_px,
                    value=0,
                    step=14,
                    label="Processing size (longer side, 0 = model default)",
                )
                detail = gr.Dropdown(
                    list(DETAIL_CHOICES),
                    value="off",
                    label="High-resolution detail (tiles fitted to the whole photo: sharper edges, about N + 1 "
                    "model runs)",
                )
        self.model, self.resolution, self.detail = model, res, detail
        self.shared = [photo, own, model, res, detail, own_kind, own_scale]

    def tab(
        self,
        title: str,
        run_label: str,
        controls: Callable[[], list[Any]],
        outputs: Callable[[], list[Any]],
        render: Callable[..., Any],
        *,
        prefix: str | None = None,
        clip: bool = False,
        stoppable: bool = False,
    ) -> tuple[list[Any], list[Any], Callable[..., Any]]:
        """A tab with ``controls()`` and Run/Cancel on the left and ``outputs()`` on the right; photo tabs take the
        shared upload and depth settings (:meth:`shared_inputs`), a ``clip`` tab its own clip upload and the shared
        model. Run calls ``render(Run, *options)`` under the gate, the options being the values of the controls;
        Cancel cancels the run (and, when ``stoppable``, sets the session's flag that the frame loops check).

        The tab's id is ``title.lower()``; element ids are ``<prefix>-run``, ``-cancel`` (and ``-input`` for a clip)
        (prefix = the tab's id by default); the callback's API name is ``run_<prefix>``. Returns the inputs, the
        outputs and the callback.
        """
        engine, key, noun = self.engine, title.lower(), "clip" if clip else "photo"
        prefix = prefix or key
        with gr.Tab(title, id=key), gr.Row():
            with gr.Column():
                if clip:
                    upload = gr.Video(label="Clip", elem_id=f"{prefix}-input", sources=["upload"])
                    inputs = [upload, self.model, *controls()]
                else:
                    inputs = [*self.shared, *controls()]
                with gr.Row():
                    run = gr.Button(run_label, variant="primary", elem_id=f"{prefix}-run")
                    cancel = gr.Button("Cancel", elem_id=f"{prefix}-cancel")
            with gr.Column():
                shown = outputs()

        def callback(*args: Any) -> Any:
            *values, request, progress = args
            if clip:
                (path, model), own, settings, options = values[:2], None, {}, values[2:]
            else:
                path, own, model, res, detail, kind, scale = values[:7]
                settings = {"resolution": int(res) or None, "detail": detail, "depth_kind": OWN_KINDS.get(kind)}
                settings["depth_scale"], options = float(scale or 0) or None, values[7:]
            if not path:
                raise gr.Error(f"upload a {noun} first")
            flag = self.flag(session_of(request))
            flag.clear()
            session = session_of(request)
            with gated(engine):
                own_path = checked_upload(engine, own) if own else None
                run = Run(engine, checked_upload(engine, path), model, session, progress, flag, own_path, **settings)
                return render(run, *options)

        # what Gradio reads to name the API's parameters and to pass the request and the progress bar (by position)
        arg = inspect.Parameter.POSITIONAL_OR_KEYWORD
        head = (
            ["path", "model"]
            if clip
            else ["path", "depth_path", "model", "resolution", "detail", "own_kind", "own_scale"]
        )
        names = [*head, *list(inspect.signature(render).parameters)[1:]]
        callback.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter(n, arg) for n in names]
            + [inspect.Parameter("request", arg), inspect.Parameter("progress", arg, default=gr.Progress())]
        )
        callback.__annotations__ = {"request": gr.Request}
        callback.__name__ = f"run_{prefix}"
        ev = run.click(callback, inputs, shown, concurrency_limit=engine.gate.workers)
        cancel.click(self.cancel if stoppable else None, None, None, cancels=[ev])
        return inputs, shown, callback
