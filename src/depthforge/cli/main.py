"""Entry point of the ``depthforge`` command.

Each sub-command lives in its own module of this package with a ``register(subparsers)`` function; modules
import heavy libraries only inside their ``run`` functions, so ``depthforge --help`` stays instant.
Exit status: 0 success, 1 some items failed (the rest were done), 2 a user error (one-line message),
3 an internal error, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM), 141 standard output closed by its
reader (``depthforge models | head``: quietly, as SIGPIPE ends other tools); an interrupted or terminated command
removes its temporary files and leaves every output either complete or absent.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from depthforge import __version__

#: Command modules (``depthforge.cli.<name>_cmd``) in the order ``--help`` lists them.
COMMANDS = (
    "estimate models stereo match mesh relief pointcloud normals process eval parallax photo3d bokeh mask generate "
    "batch serve"
).split()


class _Parser(argparse.ArgumentParser):
    """argparse with the project's one-line user errors: ``depthforge stereo: error: ... (see --help)`` and
    exit status 2, instead of the whole usage block before the message."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="depthforge",
        description="Depth maps from photos, videos and stereo pairs, and everything made from them.",
    )
    parser.add_argument("--version", action="version", version=f"depthforge {__version__}")
    threads_help = (
        "threads to keep busy at once, all pools together (default: DEPTHFORGE_THREADS, OMP_NUM_THREADS, else the "
        "cores this process may use); batch workers share them"
    )
    parser.add_argument(
        "--threads",
        dest="thread_budget",
        type=int,
        metavar="N",
        help=threads_help,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"depthforge.cli.{name}_cmd").register(sub)
    for command in sub.choices.values():  # user trial 6: `depthforge estimate ... --threads 1` was refused
        if "--threads" in command._option_string_actions:  # batch's per-worker threads
            continue
        command.add_argument(
            "--threads", dest="thread_budget", type=int, metavar="N", default=argparse.SUPPRESS, help=threads_help
        )
    for name, command in sub.choices.items():  # a library message's parameter name, as the flag that sets it
        flags = {a.dest: _long(a.option_strings) for a in command._actions if a.option_strings and a.dest != "help"}
        shared = {lib: flags[dest] for lib, dest in _SHARED_NAMES.items() if dest in flags}
        command.set_defaults(
            flag_names={"threads": "--threads", **shared, **flags, **_LIBRARY_NAMES.get(name, {})},
            flag_defaults={a.dest: a.default for a in command._actions if a.option_strings and a.dest != "help"},
        )
    return parser


#: library parameter names set by a flag of another dest, in every command that has that flag
_SHARED_NAMES = {
    "kind": "depth_kind",
    "scale": "depth_scale",
    "clip_near": "clip",
    "clip_far": "clip",
    "percentiles": "percentile",
    "fov_deg": "fov",
    "focal_px": "fx",
    "columns": "quilt",
    "rows": "quilt",
    "output_dir": "output",
    "duration_s": "duration",
}
#: library parameter names that a command's flag sets under another name (the rest match the flag's dest)
_LIBRARY_NAMES = {
    "estimate": {"strength": "--temporal-strength", "sequence_fps": "--fps"},
    "stereo": {"max_width_px": "--quilt-width"},
    "mask": {"radius_px": "--feather", "color": "--background", "click_xy": "--click"},
    "pointcloud": {"voxel_size_m": "--voxel-m"},
    "normals": {"sigma_px": "--smooth-depth"},
    "parallax": {"max_layers": "--layers", "path": "--output"},
    "photo3d": {"max_layers": "--layers", "path": "--video-out"},
    "process": {"size_px": "--median-size", "points": "--known", "max_hole_px": "--max-hole"},
    "generate": {"size_hw": "--size"},
}


def _long(options: Sequence[str]) -> str:
    """An action's first long option (``--output`` rather than ``-o``)."""
    return next((o for o in options if o.startswith("--")), options[0])


def _as_flag(message: str, flag_names: dict[str, str]) -> str:
    """A library error ``"name: ..."`` as the command line says it, ``"--flag: ..."``, when a flag sets ``name``."""
    name, sep, rest = message.partition(": ")
    name = name.split("[", 1)[0] if name.endswith("]") else name  # "points[0]: ..." names the option's item
    flag = flag_names.get(name) if sep and name.isidentifier() else None
    return f"{flag}: {rest}" if flag else message


class _Terminated(KeyboardInterrupt):
    """SIGTERM, delivered as an interrupt so the same clean-up runs (temporary files removed, workers stopped)."""

    signum = signal.SIGTERM  # (what :func:`~depthforge.core.signals.deliver_lost_interrupts` raises again)


def _raise_terminated(signum: int, frame: object) -> None:
    raise _Terminated


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (also used by ``python -m depthforge``)."""
    import threading

    own_term = threading.current_thread() is threading.main_thread() and (
        signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    )
    if own_term:  # first: loading the commands takes 0.2 s (``serve`` installs its own handler: a graceful stop)
        signal.signal(signal.SIGTERM, _raise_terminated)
    if argv is None:  # the console script: a Ctrl-C that lands where Python cannot raise it is raised again
        from depthforge.core.signals import deliver_lost_interrupts

        deliver_lost_interrupts()
    try:
        try:
            parser = build_parser()
            args = parser.parse_args(argv)
        except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM while the commands load (fuzz, CI of 2026-12-07)
            return _interrupted(exc)
        except Exception as exc:  # an import the signal broke (numpy's says "could not import module datetime")
            from depthforge.core.errors import raise_if_interrupted

            try:
                raise_if_interrupted(exc)
            except KeyboardInterrupt as inner:
                return _interrupted(inner)
            raise
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return _run(args)
    finally:
        if own_term:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if argv is None and threading.current_thread() is threading.main_thread():
            # the console script's run is over and its outputs are complete: a Ctrl-C while the interpreter shuts
            # down (joining threads, exit handlers) ends the process by the signal, not with a KeyboardInterrupt
            # traceback from those handlers (found by the interrupt fuzz campaign)
            signal.signal(signal.SIGINT, signal.SIG_DFL)


def _run(args: argparse.Namespace) -> int:
    import warnings

    from depthforge.core.errors import DepthforgeError, ValidationError, raise_if_interrupted

    # numpy's floating-point notices (overflow in a user's extreme values, ...) are not messages for a CLI user
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    try:
        if getattr(args, "output", None) == "":
            raise ValidationError("output: the path is empty")
        _apply_thread_budget(args.thread_budget)
        _show_notices()
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not at the interpreter's exit
    except DepthforgeError as exc:
        print(f"depthforge: error: {_as_flag(str(exc), getattr(args, 'flag_names', {}))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        return _interrupted(exc)
    except BrokenPipeError:
        # the reader of standard output has gone: stop quietly, and keep the interpreter's last flush silent
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:
        try:
            raise_if_interrupted(exc)  # Ctrl-C inside compiled code may come back wrapped (a SystemError)
        except KeyboardInterrupt as inner:
            return _interrupted(inner)
        if os.environ.get("DEPTHFORGE_DEBUG"):
            raise
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(
            f"depthforge: internal error: {type(exc).__name__}: {text[:300]} (set DEPTHFORGE_DEBUG=1 for details)",
            file=sys.stderr,
        )
        return 3
    return int(code or 0)


def _interrupted(exc: KeyboardInterrupt) -> int:
    terminated = isinstance(exc, _Terminated)
    print(f"depthforge: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
    return 143 if terminated else 130


def _show_notices() -> None:
    """Print the library's notices (the ``depthforge`` logger at INFO: an OpenVINO export's progress, a fast mode's
    measured deviation) on stderr as one-line ``depthforge: ...`` messages."""
    import logging

    class Stderr(logging.StreamHandler):  # type: ignore[type-arg]
        """Writes to ``sys.stderr`` as it is when a notice comes (a caller may have replaced it since)."""

        @property  # type: ignore[override]
        def stream(self) -> Any:
            return sys.stderr

        @stream.setter
        def stream(self, value: Any) -> None:
            pass

    log = logging.getLogger("depthforge")
    if not any(getattr(h, "_depthforge_cli", False) for h in log.handlers):
        handler = Stderr()
        handler.setFormatter(logging.Formatter("depthforge: %(message)s"))
        handler._depthforge_cli = True  # type: ignore[attr-defined]
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def _apply_thread_budget(threads: int | None) -> None:
    """``--threads``, or a budget from the environment: OpenCV's pool is sized now, torch's when a model loads."""
    from depthforge.core.threads import limit_library_threads, set_thread_budget, thread_budget

    set_thread_budget(threads)
    if threads is not None or os.environ.get("DEPTHFORGE_THREADS") or os.environ.get("OMP_NUM_THREADS"):
        import cv2  # noqa: F401 - imported so that its pool is sized

        limit_library_threads()
    else:
        thread_budget()  # a malformed environment value is a user error here, not inside a command


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
