"""``depthforge batch``: every requested output for every photo of a folder tree, resumable, local or on Ray.

The output folder mirrors the input tree (a/b/x.jpg -> OUTDIR/a/b/x_depth.png for depth16). Run the same command
again after a crash or a kill: only what is missing, or was made with other options, is done. Outputs:
depth16, depth8, npy, tiff, pfm, exr, colormap, combined, controlnet, normals, sbs, anaglyph, mesh, pointcloud,
relief, photo3d, mask, cutout.
"""

from __future__ import annotations

import argparse
from typing import Any

from depthforge.cli.common import (
    COLORMAPS,
    absolute_inpaint_method,
    add_command,
    add_display_options,
    add_model_options,
    detail_options,
    display_range,
    load_inpainter_noted,
    model_options,
    note,
    pick,
    progress_bar,
)


def register(sub: argparse._SubParsersAction) -> None:
    summary = "process a folder tree, resumable (local processes or Ray)"
    output = "output folder (mirrors the input)"
    p = add_command(sub, "batch", __doc__, summary, run=run, output=output, metavar="OUTPUT_DIR")
    p.add_argument("input", metavar="INPUT_DIR", help="folder of photos (recursive)")
    p.add_argument(
        "--outputs",
        default="depth16",
        metavar="LIST",
        help="comma-separated outputs (default depth16; see the description for the names)",
    )
    add_model_options(p, detail=True)
    e = p.add_argument_group("engine")
    e.add_argument("--workers", type=int, default=1, help="worker processes (local) or model actors (ray)")
    e.add_argument(
        "--threads-per-worker",
        "--threads",
        dest="threads",
        type=int,
        metavar="N",
        help="threads of each worker's model (default: the budget of 'depthforge --threads' / workers)",
    )
    e.add_argument("--engine", choices=("local", "ray"), default="local", help="local process pool or Ray Data")
    e.add_argument("--ray-address", metavar="ADDR", help="Ray cluster address (default: a local Ray)")
    e.add_argument("--gpus-per-actor", type=float, default=0.0, help="GPUs per Ray actor (default 0)")
    g = p.add_argument_group("output options (as the single-item commands)")
    g.add_argument(
        "--colormap", default="inferno", choices=COLORMAPS, help="colour map of colormap/combined (default inferno)"
    )
    add_display_options(g, invert="near = black in display outputs")
    g.add_argument("--combine", choices=("horizontal", "vertical"), default="horizontal", help="combined layout")
    g.add_argument("--divergence", type=float, default=2.5, help="sbs/anaglyph parallax, %% of the width")
    g.add_argument("--convergence", type=float, default=0.0, help="sbs/anaglyph screen plane nearness, -1..2")
    g.add_argument(
        "--anaglyph",
        default="dubois",
        choices=("color", "half-color", "gray", "dubois"),
        help="anaglyph mode (default dubois)",
    )
    g.add_argument("--fov", type=float, metavar="DEG", help="3D outputs: horizontal field of view (default EXIF/60)")
    g.add_argument("--mesh-format", default="ply", choices=("ply", "glb", "obj"), help="mesh file format")
    g.add_argument("--photo3d-format", default="glb", choices=("glb", "ply"), help="photo3d file format (default glb)")
    g.add_argument(
        "--photo3d-inpaint",
        default="background",
        metavar="METHOD",
        help="photo3d: fill of hidden regions: background (default), telea, ns, onnx:FILE or a hub id (as photo3d)",
    )
    g.add_argument("--directx", action="store_true", help="normals: DirectX convention (green = down)")
    g.add_argument("--mask-threshold", type=float, metavar="T", help="mask threshold (default automatic)")
    g.add_argument(
        "--mask-source",
        default="depth",
        metavar="depth|rembg:MODEL|sam|fused",
        help="how mask and cutout find the foreground (as depthforge mask --source; default depth)",
    )
    g.add_argument("--mask-segmenter", default="sam", metavar="sam|rembg:MODEL", help="segmentation for fused")
    g.add_argument("--mask-seg-file", metavar="FILE", help="your ONNX file for rembg:*_custom")
    g.add_argument("--sam-model", metavar="M", help="SAM for --mask-source sam/fused: name, hub id or folder")
    g.add_argument("--matting-model", metavar="M", help="ViTMatte refining the mask's edge: name, hub id or folder")
    g.add_argument("--allow-noncommercial", action="store_true", help="accept non-commercial weights (rembg:bria-rmbg)")


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from depthforge.pipeline.batch import BatchJob, run_batch
    from depthforge.pipeline.producers import BatchOptions

    inpaint = absolute_inpaint_method(args.photo3d_inpaint)
    if "photo3d" in args.outputs:
        load_inpainter_noted(inpaint)  # a missing file or an unreachable hub: one line before any work
    if "mask" in args.outputs or "cutout" in args.outputs:
        from depthforge.pipeline.background import MaskOptions, require_models

        masking = MaskOptions(
            method=args.mask_source,
            segmenter=args.mask_segmenter,
            sam_model=args.sam_model,
            matting_model=args.matting_model,
        )
        require_models(masking)  # offline: one line now
    options = BatchOptions(
        **pick(args, "invert", "colormap", "combine", "divergence", "convergence", "mesh_format", "mask_threshold"),
        photo3d_format=args.photo3d_format,
        photo3d_inpaint=inpaint,
        **display_range(args),
        anaglyph_mode=args.anaglyph,
        fov_deg=args.fov,
        normals_convention="directx" if args.directx else "opengl",
        **pick(args, "mask_source", "mask_segmenter", "mask_seg_file"),
        mask_allow_noncommercial=args.allow_noncommercial,
        mask_sam_model=args.sam_model,
        mask_matting_model=args.matting_model,
    )
    # backend and quantize only when set, so that the manifest's option hash of a default run stays as it was
    chosen = model_options(args)  # with --fast resolved
    extra = tuple((k, chosen[k]) for k in ("backend", "quantize") if chosen[k] not in ("auto", "none", None))
    job = BatchJob(
        Path(args.input),
        Path(args.output),
        **pick(args, "outputs", "model", "device", "max_pixels"),
        dtype=chosen["dtype"],
        options=options,
        model_options=extra,
        detail=detail_options(args),
    )
    _note_workers_over_budget(args)
    bar = _Progress(sys.stderr.isatty())
    try:
        summary = run_batch(
            job,
            **pick(args, "engine", "workers", "threads", "ray_address", "gpus_per_actor"),
            on_plan=bar.start,
            on_item=bar.advance,
        )
    finally:
        bar.close()
    print(summary.line())
    for key, reason in summary.errors[:5]:
        note(f"failed: {reason}" if key in reason else f"failed: {key}: {reason}")
    if len(summary.errors) > 5:
        note(f"... and {len(summary.errors) - 5} more")
    return 1 if summary.failed else 0


class _Progress:
    """A rich bar (items, rate, ETA) on a terminal; otherwise a plain line at most every 10 s."""

    def __init__(self, tty: bool) -> None:
        self.tty = tty
        self.bar: Any = None
        self.task: Any = None
        self.total = 0
        self.count = 0
        self.t0 = 0.0
        self.last = 0.0

    def start(self, todo: int, already: int) -> None:
        import time

        note(f"{todo} items to process, {already} already done")
        self.total, self.t0, self.last = todo, time.monotonic(), time.monotonic()
        if self.tty and todo:
            self.bar = progress_bar(rate=True)
            self.bar.start()
            self.task = self.bar.add_task("batch", total=todo, rate="- items/s")

    def advance(self, key: str, status: str) -> None:
        import time

        self.count += 1
        if self.bar is not None:
            self.bar.advance(self.task)
            speed = self.bar.tasks[self.task].speed
            self.bar.update(self.task, rate=f"{speed:.1f} items/s" if speed else "- items/s")
            return
        now = time.monotonic()
        if self.count == 1:  # the rate counts from the first finished item (model loading left out)
            self.t0 = now
        if now - self.last >= 10.0 or self.count == self.total:
            self.last = now
            rate = (self.count - 1) / (now - self.t0) if now > self.t0 else 0.0
            left = self.total - self.count
            eta = "" if not left else f", ETA {left / rate:.0f} s" if rate > 0 else ", ETA unknown yet"
            note(f"{self.count}/{self.total} items, {rate:.1f} items/s after the first{eta}")  # trial 4: 'ETA inf s'

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _note_workers_over_budget(args: argparse.Namespace) -> None:
    """Say when local workers outnumber the thread budget: each keeps at least one thread busy (user trial 6:
    ``--threads 1 batch --workers 2`` kept two busy, the README said the workers share the budget)."""
    from depthforge.core.threads import MAX_THREADS, thread_budget

    # out-of-range counts are the library's one-line error, without this notice before it
    if args.engine == "local" and args.threads is None and thread_budget() < args.workers <= MAX_THREADS:
        note(
            f"--workers {args.workers}: more workers than the thread budget ({thread_budget()}); each keeps one "
            f"thread busy, {args.workers} in all"
        )
