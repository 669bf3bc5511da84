"""Running generated cases through the real ``depthforge`` command line and classifying what happened.

Each case runs in a worker process (started once, reused; replaced after a hang or a crash) that calls
``depthforge.cli.main.main(argv)`` with the case's folder as working directory and its own stdout/stderr files
(file descriptors redirected, so messages of ffmpeg and C libraries are caught too). Outcomes:

* fine: ``ok`` (exit 0), ``partial`` (1: some inputs failed, the rest done), ``refused`` (2: one-line user error),
  ``interrupted`` (130);
* findings: ``internal`` (exit 3), ``traceback`` (a Python traceback printed), ``hang`` (past the case's
  timeout), ``crash`` (the worker died), ``accepted-corrupt`` (exit 0 on a case that must be refused),
  ``stray-temp`` (a ``.dftmp-`` or ``.partial.`` file left behind), ``exit-N`` (any other status).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import stat
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.fuzz.generators import REFUSE, Case

FINE = ("ok", "partial", "refused", "interrupted")


@dataclass
class Result:
    case: Case
    outcome: str
    status: int | None
    seconds: float
    stderr: str


def _materialise(case: Case, folder: Path, context: dict[str, str]) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in case.files.items():
        p = folder / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    for spec in case.special:
        kind, name = spec[0], spec[1]
        p = folder / name
        if kind == "fifo":
            os.mkfifo(p)
        elif kind == "symlink":
            os.symlink(spec[2], p)
        elif kind == "dir":
            p.mkdir(exist_ok=True)
        elif kind == "readonly_dir":
            p.mkdir(exist_ok=True)
            os.chmod(p, 0o555)
        elif kind == "file":
            p.touch()
        elif kind == "raw_file":  # a valid photo under a name given as hex bytes (may not be UTF-8)
            raw_name = bytes.fromhex(spec[2])
            with open(os.path.join(os.fsencode(p), raw_name), "wb") as fh:
                fh.write(Path(context["photo"]).read_bytes())
    return [a.format(**context) if "{" in a else a for a in case.argv]


def _stray(folder: Path) -> list[str]:
    found = []
    for root, _dirs, names in os.walk(os.fsencode(folder)):
        for n in names:
            if b".dftmp-" in n or b".partial." in n:
                found.append(os.fsdecode(os.path.join(root, n)))
    return found


def _worker(conn: Any, context: dict[str, str]) -> None:
    """Run cases sent over ``conn`` until told to stop; answer (status, stderr) for each."""
    os.environ["DEPTHFORGE_THREADS"] = "1"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing in a campaign may download
    from depthforge.cli.main import main

    while True:
        msg = conn.recv()
        if msg is None:
            return
        argv, folder = msg
        out_fd = os.open(os.path.join(folder, ".stdout"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        err_fd = os.open(os.path.join(folder, ".stderr"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        saved = os.dup(1), os.dup(2)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        cwd = os.getcwd()
        try:
            os.chdir(folder)
            try:
                status = main(argv)
            except SystemExit as exc:  # argparse
                status = exc.code if isinstance(exc.code, int) else 2
            except BaseException as exc:  # noqa: BLE001 - reported as a finding
                import traceback

                traceback.print_exc()
                status = -1000 - (1 if isinstance(exc, KeyboardInterrupt) else 0)
        finally:
            os.chdir(cwd)
            import sys

            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in (*saved, out_fd, err_fd):
                os.close(fd)
        conn.send(status)


class Runner:
    """Runs cases in one reusable worker process; ``run(case)`` returns a :class:`Result`."""

    def __init__(self, root: Path, context: dict[str, str], *, recycle_every: int = 400) -> None:
        self.root = root
        self.context = context
        self.recycle_every = recycle_every
        self._ctx = mp.get_context("spawn")  # a fork of a process whose torch threads ran can deadlock
        self._proc: Any = None
        self._conn: Any = None
        self._runs = 0
        self._n = 0

    def _start(self) -> None:
        parent, child = self._ctx.Pipe()
        self._proc = self._ctx.Process(target=_worker, args=(child, self.context), daemon=True)
        self._proc.start()
        self._conn = parent
        self._runs = 0

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.join(5)
        self._proc = None

    def close(self) -> None:
        if self._proc is not None and self._proc.is_alive():
            try:
                self._conn.send(None)
                self._proc.join(5)
            except OSError:
                pass
        self._kill()

    def run(self, case: Case, *, keep: bool = False) -> Result:
        if self._proc is None or not self._proc.is_alive() or self._runs >= self.recycle_every:
            self._kill()
            self._start()
        self._n += 1
        folder = self.root / f"case{self._n:06d}"
        argv = _materialise(case, folder, self.context)
        t0 = time.perf_counter()
        self._conn.send((argv, str(folder)))
        self._runs += 1
        status: int | None = None
        if self._conn.poll(case.timeout_s):
            try:
                status = self._conn.recv()
            except EOFError:
                status = None
            outcome = _classify(status)
        else:
            outcome = "hang"
        if status is None and outcome != "hang":
            outcome = "crash"
        if outcome in ("hang", "crash"):
            self._kill()
        seconds = time.perf_counter() - t0
        stderr = _read(folder / ".stderr")
        if outcome in FINE and "Traceback (most recent call last)" in stderr:
            outcome = "traceback"
        if outcome == "ok" and case.expect == REFUSE:
            outcome = "accepted-corrupt"
        if outcome in FINE and _stray(folder):
            outcome = "stray-temp"
        if not keep:
            _remove(folder)
        return Result(case, outcome, status, seconds, stderr)


def _classify(status: int | None) -> str:
    return {0: "ok", 1: "partial", 2: "refused", 130: "interrupted", 3: "internal"}.get(
        status if status is not None else -1, f"exit-{status}"
    )


def _read(p: Path) -> str:
    try:
        return p.read_text(errors="replace")[-4000:]
    except OSError:
        return ""


def _remove(folder: Path) -> None:
    def writable(func: Any, path: str, _exc: Any) -> None:
        os.chmod(os.path.dirname(path), stat.S_IRWXU)
        os.chmod(path, stat.S_IRWXU) if os.path.isdir(path) else None
        func(path)

    for root, dirs, _ in os.walk(folder):
        for d in dirs:
            try:
                os.chmod(os.path.join(root, d), stat.S_IRWXU)
            except OSError:
                pass
    shutil.rmtree(folder, onerror=writable)


def histogram(results: list[Result]) -> dict[str, Counter[str]]:
    """family -> outcome counts."""
    out: dict[str, Counter[str]] = {}
    for r in results:
        out.setdefault(r.case.family, Counter())[r.outcome] += 1
    return out


def findings(results: list[Result]) -> list[Result]:
    return [r for r in results if r.outcome not in FINE]


def make_context(root: Path) -> dict[str, str]:
    """The tiny model, a valid photo and its valid depth file, made once per campaign under ``root``."""
    from PIL import Image

    from depthforge.core.depthmap import DepthMap
    from depthforge.io.depthfiles import write_depth
    from depthforge.models.testing import build_depth_anything
    from tests.fuzz.generators import photo_array, scene_depth

    root.mkdir(parents=True, exist_ok=True)
    model = build_depth_anything(root / "tiny-model")
    photo = root / "photo.png"
    Image.fromarray(photo_array()).save(photo)
    depth = root / "photo_depth.npy"
    write_depth(depth, DepthMap(scene_depth(), kind="metric"))
    return {"model": str(model), "photo": str(photo), "depth": str(depth)}
