"""The web UI's Generate tab: a new image drawn from a prompt with the shared photo's depth as its composition
(Stable Diffusion with a depth ControlNet, :func:`depthforge.pipeline.generation.generate`).

Offered only when the operator started the server with ``serve --generate-model BASE`` (the diffusion extra
installed); clients choose the prompt and a few bounded settings, never a model. The depth is the page's shared
estimate or the user's own map: the tab never runs the depth model a second time. Steps are slow on a CPU (the
figures are in ``benchmarks/RESULTS.md``), so they default to 20 and stop at
:data:`~depthforge.web.operations.MAX_GENERATION_STEPS`; Cancel stops between steps. Registered by
:func:`depthforge.web.ui.build_ui`.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from depthforge.web.operations import MAX_GENERATION_STEPS, MAX_PROMPT_CHARS
from depthforge.web.ui_parts import Builder, Cancelled, Run, image_box, note_box

__all__ = ["generate_tab", "make_generation"]


def make_generation(
    run: Run,
    prompt: str,
    negative_prompt: str,
    steps: float | None,
    guidance: float | None,
    control_scale: float | None,
    seed: float | None,
) -> tuple[str, str]:
    """Draw one image for ``run``'s photo and depth: (PNG path, info line with seed and licences). The numbers
    are checked by :meth:`~depthforge.web.operations.Engine.generate` (an empty or non-numeric box is one line)."""

    def step(done: int, total: int) -> None:
        if run.cancelled.is_set():
            raise Cancelled("cancelled")
        run.progress((done, max(total, done)), desc="denoising", unit="steps")

    depth = run.depth()
    run.progress(0.3, desc="loading the generation models")
    path, licences, used = run.engine.generate(
        run.image,
        depth,
        run.area,
        prompt=str(prompt or ""),
        negative_prompt=str(negative_prompt or ""),
        steps=steps,  # type: ignore[arg-type]
        guidance=guidance,  # type: ignore[arg-type]
        control_scale=control_scale,  # type: ignore[arg-type]
        seed=seed,  # type: ignore[arg-type]
        progress=step,
    )
    return str(path), f"seed {used}; licences: {'; '.join(licences)}"


def generate_tab(b: Builder) -> None:
    """Add the Generate tab when the server offers generation (element ids ``generate-prompt``, ``generate-run``,
    ``generate-output``; API name ``run_generate``)."""
    if not b.engine.config.generate_base:
        return

    def controls() -> list[Any]:
        return [
            gr.Textbox(label="Prompt", max_length=MAX_PROMPT_CHARS, elem_id="generate-prompt"),
            gr.Textbox(label="Negative prompt", max_length=MAX_PROMPT_CHARS),
            gr.Slider(1, MAX_GENERATION_STEPS, value=20, step=1, label="Steps"),
            gr.Slider(1.0, 15.0, value=7.5, step=0.5, label="Guidance"),
            gr.Slider(0.0, 2.0, value=1.0, step=0.05, label="Depth control strength (0 = ignore the depth)"),
            gr.Number(0, label="Seed (-1: random)", precision=0, minimum=-1, maximum=2**32 - 1),
        ]

    def outputs() -> list[Any]:
        return [image_box("Generated image", "generate-output"), note_box()]

    b.tab("Generate", "Generate", controls, outputs, make_generation, stoppable=True)
