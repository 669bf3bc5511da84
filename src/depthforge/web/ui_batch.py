"""The web UI's Batch tab: several photos or zip archives in, one zip of the chosen outputs out, with progress.

The photos go through the library's batch run (:func:`depthforge.pipeline.batch.run_batch`, in this process, with
the model, processing size and high-resolution detail chosen at the top of the page: :func:`batch_job`) after
:func:`depthforge.web.batch.gather_inputs` has stored them under server-made names; the zip's members are named
after the client's files (``holiday_depth.png``). Registered by :func:`depthforge.web.ui.build_ui`, whose helpers
(the gate, the session, the upload check) it uses.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from depthforge.core.errors import DepthforgeError
from depthforge.core.validation import check_choice
from depthforge.pipeline.batch import BatchJob, run_batch
from depthforge.pipeline.detail import DetailOptions, parse_detail
from depthforge.pipeline.producers import PRODUCERS, BatchOptions
from depthforge.render.visualize import COLORMAPS
from depthforge.web.batch import BATCH_OUTPUTS, MAX_BATCH_IMAGES, collect_outputs, gather_inputs
from depthforge.web.operations import DETAIL_CHOICES, Engine, check_resolution
from depthforge.web.ui_parts import Builder, Cancelled, checked_upload, download_names, gated, session_of

__all__ = ["batch_tab", "batch_job", "ZIP_NAME"]

#: The name of the zip the tab offers for download.
ZIP_NAME = "depthforge_batch.zip"
_LABELS = {
    "depth16": "Depth, 16-bit PNG (near = white)",
    "npy": "Depth, float32 .npy",
    "colormap": "Colour depth",
    "normals": "Normal map",
    "sbs": "Stereo side by side",
    "anaglyph": "Anaglyph",
    "mask": "Foreground mask (from depth)",
}


def batch_job(
    engine: Engine,
    work: Path,
    *,
    model: str,
    resolution: float | None,
    detail: str,
    outputs: Sequence[str],
    colormap: str = "inferno",
    divergence: float = 2.5,
) -> BatchJob:
    """The library's batch job for one run of the tab, from ``work / "in"`` into ``work / "out"``.

    Args:
        engine: the server's engine (its model policy, device, dtype and pixel limit).
        work: the run's server-made folder.
        model, resolution, detail: the depth settings at the top of the page, as the photo tabs use them
            (:meth:`~depthforge.web.operations.Engine.depth_for`): a model the policy allows, the processing size
            (longer side in pixels, 0 or None = the model's own size rule) and high-resolution detail (one of
            :data:`~depthforge.web.operations.DETAIL_CHOICES`; its passes keep the model's own size, and ``auto`` keeps
            every tile, as ``depthforge batch`` does).
        outputs: names from :data:`~depthforge.web.batch.BATCH_OUTPUTS`.
        colormap, divergence: the colour depth's map, the stereo outputs' divergence (% of the width).

    Raises:
        ValidationError: an output, processing size or detail outside the choices; ModelError: a model not allowed.
    """
    for name in outputs:
        check_choice(name, "outputs", BATCH_OUTPUTS)
    check_choice(detail, "detail", DETAIL_CHOICES)
    mode = parse_detail(detail)
    return BatchJob(
        work / "in",
        work / "out",
        outputs=tuple(n for n in PRODUCERS if n in outputs),
        model=engine.policy.resolve(model),
        device=engine.config.device,
        dtype=engine.config.dtype,
        max_pixels=engine.limits.max_pixels,
        options=BatchOptions(colormap=colormap, divergence=float(divergence)),
        detail=None if mode is None else DetailOptions(detail=mode),
        resolution_px=check_resolution(resolution or None, engine.limits),
        model_options=tuple(engine.model_options.items()),
    )


def batch_tab(b: Builder) -> None:
    """Add the Batch tab (element ids ``batch-input``, ``batch-outputs``, ``batch-run``, ``batch-cancel``,
    ``batch-files``, ``batch-note``; API name ``run_batch``)."""
    engine = b.engine
    limits = engine.limits
    with gr.Tab("Batch", id="batch"), gr.Row():
        with gr.Column():
            files = gr.File(
                label=f"Photos, or zip archives of photos (at most {MAX_BATCH_IMAGES} photos)",
                file_count="multiple",
                elem_id="batch-input",
            )
            outputs = gr.CheckboxGroup(
                [(_LABELS[n], n) for n in BATCH_OUTPUTS], value=["depth16"], label="Outputs", elem_id="batch-outputs"
            )
            cmap = gr.Dropdown(list(COLORMAPS), value="inferno", label="Colour map (colour depth)")
            div = gr.Slider(0.0, 10.0, value=2.5, step=0.1, label="Divergence (% of width; stereo, anaglyph)")
            gr.Markdown(
                "Uses the model, processing size and high-resolution detail chosen at the top; your own depth map "
                "applies to the photo tabs only.",
                elem_classes="df-note",
            )
            with gr.Row():
                run = gr.Button("Run batch", variant="primary", elem_id="batch-run")
                cancel = gr.Button("Cancel", elem_id="batch-cancel")
        with gr.Column():
            download = gr.File(label="Download (zip)", interactive=False, elem_id="batch-files")
            note = gr.Markdown(elem_classes="df-note", elem_id="batch-note")

    def run_batch_tab(
        uploads: list[str] | None,
        model: str,
        resolution: float | None,
        detail: str,
        chosen: list[str],
        colormap: str,
        divergence: float,
        request: gr.Request,
        progress: Any = gr.Progress(),  # how Gradio hands a callback its progress bar
    ) -> tuple[str, str]:
        if not uploads:
            raise gr.Error("upload photos or a zip archive first")
        if not chosen:
            raise gr.Error("choose at least one output")
        session = session_of(request)
        flag = b.flag(session)
        flag.clear()
        with gated(engine):
            area = engine.areas.area(session)
            work = engine.areas.file(area, ".batch")  # a server-made folder name
            job = batch_job(
                engine,
                work,
                model=model,
                resolution=resolution,
                detail=detail,
                outputs=chosen,
                colormap=colormap,
                divergence=divergence,
            )
            try:
                sources = [(Path(checked_upload(engine, p)), os.path.basename(p)) for p in uploads]
                progress(0.0, desc="unpacking")
                inputs = gather_inputs(
                    sources,
                    job.input_dir,
                    max_bytes=limits.max_upload_bytes,
                    max_total_bytes=limits.batch_bytes,
                    max_pixels=limits.max_pixels,
                    max_total_pixels=limits.batch_pixels,
                )
                total = [len(inputs.names)]
                done = [0]

                def planned(todo: int, _skipped: int) -> None:
                    total[0] = todo
                    progress((0, todo), desc="photos", unit="photos")

                def item(_key: str, _status: str) -> None:
                    if flag.is_set():
                        raise Cancelled("cancelled")
                    done[0] += 1
                    progress((done[0], total[0]), desc="photos", unit="photos")

                summary = run_batch(job, engine="local", workers=1, on_plan=planned, on_item=item)
                result = collect_outputs(inputs, job.output_dir, summary)
                engine.count_model_runs(result.photos)
                made, names, failures = result.files, result.names, result.failures
                if failures:
                    report = work / "failures.txt"
                    report.write_text(failures + "\n", encoding="utf-8")
                    made, names = [*made, report], [*names, "failures.txt"]
                if not made:
                    raise DepthforgeError(f"no output was made: {failures.splitlines()[0] if failures else 'no photo'}")
                progress(1.0, desc="zipping")
                archive = engine.zip_files(made, area, stem="depthforge_batch", names=names)
            finally:
                shutil.rmtree(work, ignore_errors=True)
        zipped = download_names([archive], [ZIP_NAME])[0]
        lines = [f"{len(inputs.names)} photos: {summary.done} done, {summary.failed} failed ({summary.seconds:.1f} s)"]
        lines += [f"- failed: {line}" for line in failures.splitlines()[:10]]
        lines += [f"- {line}" for line in inputs.skipped[:10]]
        if len(inputs.skipped) > 10:
            lines.append(f"- and {len(inputs.skipped) - 10} more left out")
        return str(zipped), "\n".join(lines)

    ev = run.click(
        run_batch_tab,
        [files, b.model, b.resolution, b.detail, outputs, cmap, div],
        [download, note],
        concurrency_limit=engine.gate.workers,
        api_name="run_batch",
    )
    cancel.click(b.cancel, None, None, cancels=[ev])
