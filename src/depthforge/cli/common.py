"""Options shared by several commands, built once: model choice, the depth source, output folders, progress.

Every command that needs depth takes either ``--model M`` (estimate first) or an existing depth map with
``--depth FILE [--depth-kind relative|metric|disparity] [--depth-scale S]``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from depthforge.core.depthmap import DepthMap
    from depthforge.core.image import Image

DEFAULT_MODEL = "depth-anything-v2-small"


#: Depth file formats of ``--format`` (``depthforge estimate``, ``match``, ``process``).
DEPTH_FORMATS = ("png16", "png8", "png16mm", "tiff", "npy", "pfm", "exr")
#: Colour maps of ``--colormap``.
COLORMAPS = ("gray", "inferno", "turbo", "viridis", "magma", "plasma")
#: What a depth file's values mean (``--depth-kind`` and the like).
DEPTH_KINDS = ("relative", "metric", "disparity")


def add_device_options(g: argparse._ActionsContainer, *, device: str = "where to run the model") -> None:
    """``--device`` (help ``device``) and ``--dtype``."""
    g.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"), help=device)
    g.add_argument("--dtype", default="auto", choices=("auto", "fp32", "bf16", "fp16"), help="model precision")


def add_max_pixels(g: argparse._ActionsContainer) -> None:
    """``--max-pixels``: the largest image a command reads."""
    g.add_argument("--max-pixels", type=int, default=None, help="refuse images larger than this (default 250 MP)")


def add_detail_options(parser: argparse.ArgumentParser) -> None:
    """``--detail``, ``--tile-overlap`` and ``--fusion`` (high-resolution detail, :mod:`depthforge.pipeline.detail`)."""
    d = parser.add_argument_group("high-resolution detail (tiles at the model's size fitted to a global pass)")
    d.add_argument(
        "--detail",
        default="off",
        metavar="off|auto|N",
        help="off (default), auto (tiles of about the model's size, at most 4 x 4, flat tiles skipped) or N tiles",
    )
    d.add_argument("--tile-overlap", type=float, default=0.25, help="share of a tile overlapping its neighbour (0.25)")
    d.add_argument("--fusion", choices=("blend", "poisson"), default="blend", help="how tiles are fused (blend)")


def detail_options(args: argparse.Namespace) -> Any:
    """The :class:`~depthforge.pipeline.detail.DetailOptions` of the parsed options, None for ``--detail off``."""
    from depthforge.pipeline.detail import DetailOptions, parse_detail

    mode = parse_detail(args.detail)
    if mode is None:
        note_unused(args, ["tile_overlap", "fusion"], "for --detail auto or N tiles")
        return None
    return DetailOptions(mode, tile_overlap=args.tile_overlap, fusion=args.fusion)


def add_motion_options(g: argparse._ActionsContainer, *, supersample: tuple[int, ...] = (1, 2, 3, 4)) -> None:
    """A camera-motion clip's ``--duration``, ``--fps``, ``--amplitude``, ``--focus`` and ``--supersample``
    (``depthforge parallax``, ``photo3d --video``); ``supersample``: the anti-aliasing factors offered."""
    g.add_argument("--duration", type=float, default=4.0, help="seconds (default 4)")
    g.add_argument("--fps", type=float, default=30.0, help="frames per second (default 30)")
    g.add_argument(
        "--amplitude",
        type=float,
        default=2.0,
        help="sideways motion, %% of the width for the nearest point (default 2)",
    )
    g.add_argument(
        "--focus",
        type=float,
        default=0.5,
        help="nearness of the plane that stays put: 0 = farthest, 1 = nearest, -1..2 allowed (default 0.5)",
    )
    g.add_argument("--supersample", type=int, default=1, choices=supersample, help="anti-aliasing (SSAA) factor")


def add_model_options(
    parser: argparse.ArgumentParser, *, default: str | None = DEFAULT_MODEL, detail: bool = False
) -> None:
    """``--model``, ``--device``, ``--dtype``, ``--backend``, ``--quantize`` and ``--max-pixels``; with ``detail``,
    the high-resolution detail options too (:func:`add_detail_options`, read back with :func:`detail_options`)."""
    g = parser.add_argument_group("model")
    g.add_argument(
        "--model",
        default=default,
        help="registry name, Hugging Face hub id or local folder (default: "
        + (default or f"{DEFAULT_MODEL} when no --depth is given")
        + "; see 'depthforge models')",
    )
    add_device_options(g)
    g.add_argument(
        "--backend",
        default="auto",
        choices=("auto", "torch", "openvino"),
        help="inference engine (default auto: openvino on CPU when installed, else torch)",
    )
    g.add_argument(
        "--quantize",
        default="none",
        choices=("none", "int8"),
        help="int8: opt-in fast mode (openvino + nncf); its deviation from fp32 is measured and reported",
    )
    g.add_argument(
        "--fast",
        action="store_true",
        help="fast preset: bf16 on CPUs with AVX512-BF16 or AMX, else int8 (openvino; says which, and the deviation)",
    )
    add_max_pixels(g)
    if detail:
        add_detail_options(parser)


def add_depth_file_options(g: argparse._ActionsContainer, whose: str, scale: str) -> None:
    """``--depth-kind`` and ``--depth-scale`` of a depth file (``whose``: "file's", "input's"; ``scale``: help)."""
    g.add_argument(
        "--depth-kind", choices=DEPTH_KINDS, help=f"what the {whose} values mean, when the file does not say"
    )
    g.add_argument("--depth-scale", type=float, help=scale)


def add_depth_source_options(parser: argparse.ArgumentParser) -> None:
    """The depth source: ``--depth FILE`` (+ kind, scale) or ``--model M`` (estimate first)."""
    g = parser.add_argument_group("depth source (an existing depth file, or a model to estimate it)")
    g.add_argument("--depth", metavar="FILE", help="an existing depth file (any format 'depthforge estimate' writes)")
    add_depth_file_options(g, "file's", "multiply the file's raw values by this (e.g. 0.25 for Middlebury)")
    add_model_options(parser, default=None)


def add_command(
    sub: argparse._SubParsersAction,
    name: str,
    doc: str | None,
    summary: str,
    *,
    raw: bool = False,
    run: Callable[[argparse.Namespace], int] | None = None,
    output: str | None = None,
    metavar: str = "OUT",
) -> argparse.ArgumentParser:
    """A subcommand listed with ``summary``, described by its module's docstring ``doc`` (``raw``: shown as
    written, e.g. examples), running ``run``; ``output``: the help of its required ``-o/--output`` (``metavar``)."""
    fmt = argparse.RawDescriptionHelpFormatter if raw else argparse.HelpFormatter
    p = sub.add_parser(name, help=summary, description=doc, formatter_class=fmt)
    if output is not None:
        p.add_argument("-o", "--output", required=True, metavar=metavar, help=output)
    if run is not None:
        p.set_defaults(func=run)
    return p


def add_photo_command(
    sub: argparse._SubParsersAction,
    name: str,
    doc: str | None,
    summary: str,
    output: str,
    *,
    run: Callable[[argparse.Namespace], int],
    image: str = "the photo",
    metavar: str = "OUT",
    depth_source: bool = True,
) -> argparse.ArgumentParser:
    """A command on a photo and its depth: ``IMAGE`` (help ``image``), ``-o/--output`` (help ``output``) and, with
    ``depth_source``, the depth source options (else the caller adds them after its own)."""
    p = add_command(sub, name, doc, summary, run=run, output=output, metavar=metavar)
    p.add_argument("image", metavar="IMAGE", help=image)
    if depth_source:
        add_depth_source_options(p)
    return p


def load_photo(args: argparse.Namespace) -> tuple[Image, DepthMap]:
    """``args.image`` (at most ``--max-pixels``) and its depth (:func:`load_depth_for`)."""
    from depthforge.io.images import read_image

    image = read_image(args.image, max_pixels=args.max_pixels)
    return image, load_depth_for(image, args)


def add_display_options(g: argparse._ActionsContainer, *, invert: str) -> None:
    """``--invert`` (help ``invert``), ``--clip FAR,NEAR`` and ``--percentile LOW,HIGH``: the display range of
    depth images (read back with :func:`display_range`)."""
    g.add_argument("--invert", action="store_true", help=invert)
    g.add_argument("--clip", metavar="FAR,NEAR", help="clip and renormalise: fractions 0..1 of the range, e.g. 0.1,0.9")
    g.add_argument("--percentile", metavar="LOW,HIGH", help="normalise between these percentiles, e.g. 2,98")


def display_range(args: argparse.Namespace) -> dict[str, Any]:
    """``clip_near``, ``clip_far`` and ``percentiles`` from ``--clip FAR,NEAR`` and ``--percentile LOW,HIGH``."""
    far, near = parse_pair(args.clip, "--clip") if args.clip else (None, None)
    percentiles = parse_pair(args.percentile, "--percentile") if args.percentile else None
    return {"clip_near": near, "clip_far": far, "percentiles": percentiles}


def read_depth_flagged(path: str, *, kind: str | None, scale: float | None, flag: str) -> DepthMap:
    """:func:`~depthforge.io.depthfiles.read_depth` for a depth file that has flags of its own (``--<flag>-kind``,
    ``--<flag>-scale``): a ``kind:`` or ``scale:`` error names them rather than ``--depth-kind``."""
    from depthforge.core.errors import ValidationError
    from depthforge.io.depthfiles import read_depth

    try:
        return read_depth(path, kind=kind, scale=scale)
    except ValidationError as exc:
        name, _, rest = str(exc).partition(": ")
        if name not in ("kind", "scale"):
            raise
        raise ValidationError(f"--{flag}-{name}: {rest}") from exc


def load_depth_for(image: Image, args: argparse.Namespace) -> DepthMap:
    """The depth map for ``image`` from ``--depth`` or ``--model`` (default model when neither is given).

    A depth file of another size is resampled to the image (disparities scaled with the width), with a notice;
    one of the image's shape turned on its side is refused (:func:`~depthforge.process.resample.check_not_sideways`).
    """
    from depthforge.core.errors import ValidationError

    if args.depth:
        if args.model:
            raise ValidationError("depth: give either --depth FILE or --model M, not both")
        from depthforge.io.depthfiles import read_depth
        from depthforge.process.resample import check_not_sideways, resize_depth

        depth = read_depth(args.depth, kind=args.depth_kind, scale=args.depth_scale)
        if depth.shape != (image.height, image.width):
            check_not_sideways(depth.shape, image.size_hw)
            (dh, dw), (ih, iw) = depth.shape, image.size_hw
            stretch = abs((dw / dh) / (iw / ih) - 1.0)
            # a map of another shape is most likely another photo's (user trial 4: stretched with a plain notice)
            other = f"; its aspect differs by {100 * stretch:.0f} %: is it this photo's?" if stretch > 0.02 else ""
            note(f"depth {dw}x{dh} resampled to the image size {iw}x{ih}{other}")
            depth = resize_depth(depth, image.size_hw)
        return depth
    from depthforge.models.estimator import load_model

    est = load_model(args.model or DEFAULT_MODEL, **model_options(args))
    return est.predict(image)


def model_options(args: argparse.Namespace) -> dict[str, Any]:
    """``device``, ``dtype``, ``backend`` and ``quantize`` from parsed arguments, for ``load_model(**...)``;
    ``--fast`` sets dtype and quantize (see :func:`depthforge.models.openvino_export.fast_preset`) and says which."""
    options = pick(args, "device", "dtype", "backend", "quantize")
    if options["quantize"] == "none":
        options["quantize"] = None
    if getattr(args, "fast", False):
        from depthforge.core.errors import ValidationError
        from depthforge.models.openvino_export import fast_preset

        if options["dtype"] != "auto" or options["quantize"] or options["backend"] == "torch":
            raise ValidationError("fast: --fast picks the precision itself (drop --dtype, --quantize, --backend torch)")
        if options["device"] not in ("auto", "cpu"):
            raise ValidationError(f"fast: --fast is a CPU preset, not for --device {options['device']}")
        preset, why = fast_preset()
        options.update(preset)
        note(f"--fast: {why}")
    return options


def note_unused(args: argparse.Namespace, dests: Sequence[str], why: str) -> None:
    """One notice naming the options among ``dests`` given other than their defaults, which ``why`` says are not
    used (e.g. ``"for --source sam only"``)."""
    names, defaults = getattr(args, "flag_names", {}), getattr(args, "flag_defaults", {})
    given = [names.get(d, d) for d in dests if d in defaults and getattr(args, d, None) != defaults[d]]
    if given:
        note(f"{', '.join(given)}: not used ({why})")


def note(message: str) -> None:
    """A one-line notice on stderr."""
    print(f"depthforge: {message}", file=sys.stderr)


def absolute_inpaint_method(text: str) -> str:
    """An ``--inpaint`` value with ``onnx:FILE`` made absolute (the same file for workers started elsewhere, or
    after the server changed its folder); other values as they are (stripped)."""
    method = text.strip()
    if method.startswith("onnx:") and method[5:]:
        method = f"onnx:{Path(method[5:]).resolve()}"
    return method


def load_inpainter_noted(text: str) -> Any:
    """An ``--inpaint`` value for the renderers: a built-in method name as it is; ``onnx:FILE`` or a hub id loaded
    once per process as a callable (one-line errors), its licence reported."""
    from depthforge.models.inpaint import cached_inpainter

    method = cached_inpainter(text)
    if not isinstance(method, str):
        note(f"inpaint: {getattr(method, 'name', text)} ({getattr(method, 'licence', 'licence not stated')})")
    return method


#: The names players and other tools give stereo layouts (iw3, VR players), accepted by ``--layout``/``--stereo``.
LAYOUT_ALIASES = {
    "sbs": "left-right",
    "full-sbs": "left-right",
    "half-sbs": "half-left-right",
    "hsbs": "half-left-right",
    "tb": "top-bottom",
    "ou": "top-bottom",
    "over-under": "top-bottom",
    "half-tb": "half-top-bottom",
    "htb": "half-top-bottom",
    "half-ou": "half-top-bottom",
}


def stereo_layout(text: str) -> str:
    """A ``--layout``/``--stereo`` value as the library names it (``sbs`` -> ``left-right``, any case); other
    names pass unchanged, to be checked where they are used."""
    return LAYOUT_ALIASES.get(text.strip().lower(), text)


def pick(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    """The options ``names`` as keyword arguments of the same names."""
    return {name: getattr(args, name) for name in names}


def parse_pair(text: str, name: str, cast: Any = float) -> tuple[Any, Any]:
    """'a,b' -> (a, b), with a clean error naming the option."""
    first, second = parse_numbers(text, name, 2, cast)
    return first, second


def parse_numbers(text: str, name: str, count: int, cast: Any = float, *, form: str | None = None) -> tuple[Any, ...]:
    """'a,b,...' -> ``count`` values (``cast``), with a clean error naming the option and the expected ``form``."""
    from depthforge.core.errors import ValidationError

    parts = text.split(",")
    if len(parts) != count:
        raise ValidationError(f"{name}: expected {form or 'two comma-separated values'}, got {text!r}")
    try:
        return tuple(cast(part) for part in parts)
    except ValueError:
        raise ValidationError(f"{name}: expected {form or 'numbers'}, got {text!r}") from None


def progress_bar(*, rate: bool = False) -> Any:
    """A rich ``Progress`` on stderr (description, bar, n/total, [rate field,] elapsed, ETA), transient and
    disabled when stderr is not a terminal. ``rate`` adds a ``{task.fields[rate]}`` column (e.g. frames/s)."""
    from rich import progress as rp
    from rich.console import Console

    console = Console(stderr=True)
    columns: list[Any] = [rp.TextColumn("{task.description}"), rp.BarColumn(), rp.MofNCompleteColumn()]
    if rate:
        columns.append(rp.TextColumn("{task.fields[rate]}"))
    columns += [rp.TimeElapsedColumn(), rp.TimeRemainingColumn()]
    return rp.Progress(*columns, console=console, disable=not console.is_terminal, transient=True)


@contextmanager
def progress(total: int, description: str) -> Iterator[Any]:
    """A progress bar (see :func:`progress_bar`) for one task; yields an ``advance(n=1)`` callable."""
    with progress_bar() as bar:
        task = bar.add_task(description, total=total)

        def advance(n: int = 1) -> None:
            bar.advance(task, n)

        yield advance
