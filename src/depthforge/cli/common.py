"""Options shared by several commands, built once: model choice, the depth source, output folders, progress.

Every command that needs depth takes either ``--model M`` (estimate first) or an existing depth map with
``--depth FILE [--depth-kind relative|metric|disparity] [--depth-scale S]``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from depthforge.core.depthmap import DepthMap
    from depthforge.core.image import Image

DEFAULT_MODEL = "depth-anything-v2-small"


def add_model_options(parser: argparse.ArgumentParser, *, default: str | None = DEFAULT_MODEL) -> None:
    """``--model``, ``--device``, ``--dtype``, ``--backend``, ``--quantize`` and ``--max-pixels``."""
    g = parser.add_argument_group("model")
    g.add_argument(
        "--model",
        default=default,
        help=f"registry name, Hugging Face hub id or local folder (default: {default}; see 'depthforge models')",
    )
    g.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"), help="where to run the model")
    g.add_argument("--dtype", default="auto", choices=("auto", "fp32", "bf16", "fp16"), help="model precision")
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
    g.add_argument("--max-pixels", type=int, default=None, help="refuse images larger than this (default 250 MP)")


def add_depth_source_options(parser: argparse.ArgumentParser) -> None:
    """The depth source: ``--depth FILE`` (+ kind, scale) or ``--model M`` (estimate first)."""
    g = parser.add_argument_group("depth source (an existing depth file, or a model to estimate it)")
    g.add_argument("--depth", metavar="FILE", help="an existing depth file (any format 'depthforge estimate' writes)")
    g.add_argument(
        "--depth-kind",
        choices=("relative", "metric", "disparity"),
        help="what the file's values mean, when the file does not say",
    )
    g.add_argument(
        "--depth-scale", type=float, help="multiply the file's raw values by this (e.g. 0.25 for Middlebury)"
    )
    add_model_options(parser, default=None)


def add_command(
    sub: argparse._SubParsersAction, name: str, doc: str | None, summary: str, *, raw: bool = False
) -> argparse.ArgumentParser:
    """A subcommand listed with ``summary``, described by its module's docstring ``doc`` (``raw``: shown as
    written, e.g. examples)."""
    fmt = argparse.RawDescriptionHelpFormatter if raw else argparse.HelpFormatter
    return sub.add_parser(name, help=summary, description=doc, formatter_class=fmt)


def add_photo_command(
    sub: argparse._SubParsersAction, name: str, doc: str | None, summary: str, *, image: str, output: str, metavar: str
) -> argparse.ArgumentParser:
    """A command on a photo and its depth: ``IMAGE`` (help ``image``), ``-o/--output`` (help ``output``) and the
    depth source options."""
    p = add_command(sub, name, doc, summary)
    p.add_argument("image", metavar="IMAGE", help=image)
    p.add_argument("-o", "--output", required=True, metavar=metavar, help=output)
    add_depth_source_options(p)
    return p


def load_depth_for(image: Image, args: argparse.Namespace) -> DepthMap:
    """The depth map for ``image`` from ``--depth`` or ``--model`` (default model when neither is given).

    A depth file of another size is resampled to the image (disparities scaled with the width), with a notice.
    """
    from depthforge.core.errors import ValidationError

    if getattr(args, "depth", None):
        if getattr(args, "model", None):
            raise ValidationError("depth: give either --depth FILE or --model M, not both")
        from depthforge.io.depthfiles import read_depth
        from depthforge.process.resample import resize_depth

        depth = read_depth(args.depth, kind=args.depth_kind, scale=args.depth_scale)
        if depth.shape != (image.height, image.width):
            note(f"depth {depth.shape[1]}x{depth.shape[0]} resampled to the image size {image.width}x{image.height}")
            depth = resize_depth(depth, image.size_hw)
        return depth
    from depthforge.models.estimator import load_model

    est = load_model(args.model or DEFAULT_MODEL, **model_options(args))
    return est.predict(image)


def model_options(args: argparse.Namespace) -> dict[str, Any]:
    """``device``, ``dtype``, ``backend`` and ``quantize`` from parsed arguments, for ``load_model(**...)``."""
    quantize = getattr(args, "quantize", None)
    return {
        "device": getattr(args, "device", "auto"),
        "dtype": getattr(args, "dtype", "auto"),
        "backend": getattr(args, "backend", "auto"),
        "quantize": None if quantize in (None, "none") else quantize,
    }


def note(message: str) -> None:
    """A one-line notice on stderr."""
    print(f"depthforge: {message}", file=sys.stderr)


def parse_pair(text: str, name: str, cast: Any = float) -> tuple[Any, Any]:
    """'a,b' -> (a, b), with a clean error naming the option."""
    from depthforge.core.errors import ValidationError

    parts = text.split(",")
    if len(parts) != 2:
        raise ValidationError(f"{name}: expected two comma-separated values, got {text!r}")
    try:
        return cast(parts[0]), cast(parts[1])
    except ValueError:
        raise ValidationError(f"{name}: expected numbers, got {text!r}") from None


def progress_bar(*, rate: bool = False) -> Any:
    """A rich ``Progress`` on stderr (description, bar, n/total, [rate field,] elapsed, ETA), transient and
    disabled when stderr is not a terminal. ``rate`` adds a ``{task.fields[rate]}`` column (e.g. frames/s)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    columns: list[Any] = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
    if rate:
        columns.append(TextColumn("{task.fields[rate]}"))
    columns += [TimeElapsedColumn(), TimeRemainingColumn()]
    return Progress(*columns, console=console, disable=not console.is_terminal, transient=True)


@contextmanager
def progress(total: int, description: str) -> Iterator[Any]:
    """A progress bar (see :func:`progress_bar`) for one task; yields an ``advance(n=1)`` callable."""
    with progress_bar() as bar:
        task = bar.add_task(description, total=total)

        def advance(n: int = 1) -> None:
            bar.advance(task, n)

        yield advance
