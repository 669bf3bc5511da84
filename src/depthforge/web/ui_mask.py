"""The web UI's Mask tab: foreground masks and cut-outs of the shared photo by the methods of
:func:`depthforge.pipeline.background.foreground` (depth threshold, ViTMatte, rembg's models, SAM, fused).

The depth comes from the page's shared upload (the estimate every photo tab shares, or the user's own depth map): the
tab never runs the depth model a second time. Methods whose extra or model is missing on this server are listed as
unavailable with the reason, and choosing one gives that one line; a server downloads a segmentation model only when
its operator allows downloads (``serve --allow-download``). Registered by :func:`depthforge.web.ui.build_ui`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import gradio as gr

from depthforge.core.errors import DepthforgeError, ValidationError
from depthforge.models.hub import is_cached
from depthforge.models.rembg_backend import REMBG_REGISTRY, rembg_model_path
from depthforge.models.sam import DEFAULT_SAM_MODEL, SAM_REGISTRY
from depthforge.models.segmentation import DEFAULT_MATTING_MODEL, MATTING_REGISTRY
from depthforge.pipeline.background import MaskOptions, foreground, needs_depth
from depthforge.render.masks import alpha_to_uint8, cutout
from depthforge.web.ui_parts import BUTTONS, Builder, Run, download_names, files_box, image_box, note_box

__all__ = ["mask_tab", "mask_methods"]

_EXTRA_HINT = "pip install 'depthforge[segment]'"


def _hub_model(hub_id: str, allow_download: bool) -> str | None:
    """Why a hub model cannot be used here (None: it can)."""
    if is_cached(hub_id) or allow_download:
        return None
    return f"{hub_id} is not in this server's model cache"


def mask_methods(
    *, allow_download: bool = False, sam_model: str | None = None, matting_model: str | None = None
) -> list[tuple[str, str, str | None]]:
    """The Mask tab's methods: (label, value, why it is unavailable or None), available ones first.

    Values: ``depth``, ``model`` (ViTMatte on the depth edge), ``sam``, ``rembg:NAME``, ``fused:sam`` and
    ``fused:rembg:NAME``. The rembg models offered are those whose file is cached (all of them when downloads are
    allowed; one, unavailable, when none is), never the non-commercial or bring-your-own-file entries.
    ``sam_model``, ``matting_model``: the operator's models (``serve --sam-model/--matting-model``, checked when
    the server starts), used instead of the registry's defaults.
    """
    sam = None if sam_model else _hub_model(SAM_REGISTRY[DEFAULT_SAM_MODEL].hub_id, allow_download)
    matting = None if matting_model else _hub_model(MATTING_REGISTRY[DEFAULT_MATTING_MODEL].hub_id, allow_download)
    sam_name = Path(sam_model).name if sam_model else DEFAULT_SAM_MODEL  # a folder's name, never its path
    onnx = importlib.util.find_spec("onnxruntime") is not None
    pooch = importlib.util.find_spec("pooch") is not None
    rows: list[tuple[str, str, str | None]] = [
        ("depth: threshold + guided filter", "depth", None),
        ("model: ViTMatte refines the depth edge", "model", matting),
        (f"sam: Segment Anything ({sam_name}) prompted from depth", "sam", sam),
        (f"fused: {sam_name} kept where it agrees with a depth band", "fused:sam", sam),
    ]
    offered = [s for s in REMBG_REGISTRY.values() if not s.custom and s.commercial]
    cached = [s for s in offered if rembg_model_path(s).is_file() or (allow_download and pooch)]
    why = None if onnx else f"onnxruntime is not installed ({_EXTRA_HINT})"
    if not cached:  # one entry stands for them all
        why = why or "no rembg model is in this server's cache"
    for spec in cached or offered[:1]:
        rows.append((f"rembg:{spec.name}: {spec.notes} (no depth)", f"rembg:{spec.name}", why))
        fused = f"fused: rembg:{spec.name} kept where it agrees with a depth band"
        rows.append((fused, f"fused:rembg:{spec.name}", why))
    rows.sort(key=lambda r: r[2] is not None)  # stable: available first, each group in the order above
    return rows


def _options(
    value: str,
    threshold: float | None,
    auto: str,
    largest: bool,
    feather: float | None,
    *,
    sam_model: str | None = None,
    matting_model: str | None = None,
) -> MaskOptions:
    method, _, segmenter = value.partition(":") if value.startswith("fused:") else (value, "", "")
    return MaskOptions(
        method=method,
        segmenter=segmenter or "sam",
        sam_model=sam_model,
        matting_model=matting_model,
        threshold=float(threshold) if threshold else None,
        auto=auto,
        largest=bool(largest),
        feather_px=None if feather is None or feather < 0 else int(feather),
    )


def mask_tab(b: Builder) -> None:
    """Add the Mask tab (element ids ``mask-method``, ``mask-run``, ``mask-output``, ``mask-cutout``,
    ``mask-files``; API name ``run_mask``)."""
    config = b.engine.config
    models = {"sam_model": config.sam_model, "matting_model": config.matting_model}
    rows = mask_methods(allow_download=b.engine.policy.allow_download, **models)
    unavailable = {value: why for _label, value, why in rows if why is not None}

    def controls() -> list[Any]:
        choices = [(label if why is None else f"{label} [unavailable: {why}]", value) for label, value, why in rows]
        return [
            gr.Dropdown(choices, value="depth", label="Method", elem_id="mask-method"),
            gr.Number(
                0,
                label="Threshold (0 = automatic; relative maps: 0..1 of the range, 1 = nearest; metric maps: metres)",
                minimum=0,
            ),
            gr.Radio(["otsu", "gap"], value="otsu", label="Automatic threshold (depth, model)"),
            gr.Checkbox(False, label="Keep only the largest region (depth, model)"),
            gr.Slider(
                -1, 50, value=-1, step=1, label="Edge refinement radius, px (-1 = 0.4 % of the size, 0 = hard edge)"
            ),
        ]

    def outputs() -> list[Any]:
        return [
            image_box("Mask (white = foreground)", "mask-output", buttons=BUTTONS),
            image_box("Cut-out (transparent background)", "mask-cutout", buttons=BUTTONS),
            files_box("Downloads: mask PNG, cut-out PNG", elem_id="mask-files"),
            note_box(),
        ]

    def render(run: Run, method: str, threshold: float, auto: str, largest: bool, feather: float | None) -> Any:
        if method in unavailable:
            raise DepthforgeError(f"method: {method} is unavailable on this server: {unavailable[method]}")
        if method not in {value for _label, value, _why in rows}:
            raise ValidationError(f"method: {str(method)[:60]!r} is not offered by this server")
        options = _options(method, threshold, auto, largest, feather, **models)
        depth = run.depth() if needs_depth(options) else None  # the shared depth: cached, or the user's own
        run.progress(0.5, desc="finding the foreground")
        alpha = foreground(run.image, depth, options)
        run.progress(0.9, desc="writing files")
        files = [
            b.engine.write_png(alpha_to_uint8(alpha), run.area),
            b.engine.write_png(cutout(run.image.rgb, alpha), run.area),
        ]
        mask_png, cut_png = download_names(files, ["mask.png", "cutout.png"])
        share = float((alpha >= 0.5).mean())
        info = f"foreground {100 * share:.1f} % of the photo; method {method}"
        return str(mask_png), str(cut_png), [str(mask_png), str(cut_png)], info

    b.tab("Mask", "Make mask", controls, outputs, render)
