"""Interrupts: real ``depthforge`` processes stopped with Ctrl-C (SIGINT) or SIGTERM at a random moment.

A command may finish first (exit 0) or stop (130 for SIGINT, 143 for SIGTERM); either way it must print no
traceback, end within a deadline, leave no temporary file, and every output it left must be complete (decodes
fully; an interrupt keeps a video's frames so far as ``<name>.partial<ext>``, which must decode too). A ``batch``
manifest must only record as done what exists. A quarter of the cases start with an empty numba cache, so that
the signal may land while a kernel compiles. Findings are ``hang``, ``traceback``, ``stray-temp``,
``corrupt-output`` and ``exit-N`` (any other status).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tests.fuzz.generators import corrupt
from tests.fuzz.harness import _stray

#: Commands that work long enough to be caught mid-way; ``{...}`` is filled from the campaign context.
COMMANDS: tuple[tuple[str, ...], ...] = (
    ("estimate", "photos", "-o", "out", "--model", "{model}", "--backend", "torch", "--format", "png16"),
    ("estimate", "photos", "-o", "out", "--model", "{model}", "--backend", "torch", "--format", "exr"),
    (
        "batch",
        "photos",
        "-o",
        "out",
        "--model",
        "{model}",
        "--backend",
        "torch",
        "--workers",
        "2",
        "--outputs",
        "depth16,sbs,mesh",
    ),
    ("parallax", "{photo}", "--depth", "{depth}", "-o", "out/clip.mp4", "--duration", "4", "--fps", "24"),
    ("parallax", "{photo}", "--depth", "{depth}", "-o", "out/clip.gif", "--duration", "3", "--fps", "12"),
    ("parallax", "{photo}", "--depth", "{depth}", "-o", "out/frames", "--duration", "2", "--fps", "12"),
    ("stereo", "{photo}", "--depth", "{depth}", "-o", "out/sbs.png"),
    ("mesh", "{photo}", "--depth", "{depth}", "-o", "out/mesh.glb"),
    ("process", "{depth}", "-o", "out/filled.exr", "--fill", "auto"),
    ("estimate", "photos", "-o", "out", "--model", "{model}", "--backend", "torch", "--format", "dynamic-depth"),
    ("estimate", "{photo}", "-o", "out", "--model", "{model}", "--backend", "torch", "--detail", "6"),
    ("photo3d", "{photo}", "--depth", "{depth}", "-o", "out/scene.glb", "--video", "circle", "--duration", "2"),
)

#: The console script's entry (``main()`` reads ``sys.argv``), plus a marker when ``main`` has returned: a signal
#: that lands after it, while the interpreter shuts down, ends the process by the signal (``main`` resets SIGINT to
#: its default there, SIGTERM too), with every output already complete.
_RETURNED = "[depthforge main returned]"
_ENTRY = (
    "import os, sys\n"
    "from depthforge.cli.main import main\n"
    "code = main()\n"
    f"os.write(2, b'\\n{_RETURNED}\\n')\n"
    "sys.exit(code)\n"
)
PHOTOS = 24
#: The photo and depth of the single-photo commands, enlarged so that their work takes seconds to interrupt.
BIG = (1920, 1440)


def big_inputs(context: dict[str, str], folder: Path) -> dict[str, str]:
    """The context with its photo and depth file enlarged to :data:`BIG` (made once per campaign)."""
    import cv2
    import numpy as np
    from PIL import Image

    from depthforge.core.depthmap import DepthMap
    from depthforge.io.depthfiles import read_depth, write_depth

    folder.mkdir(parents=True, exist_ok=True)
    photo, depth = folder / "big.png", folder / "big_depth.npy"
    with Image.open(context["photo"]) as im:
        im.convert("RGB").resize(BIG, Image.Resampling.BICUBIC).save(photo)
    values = read_depth(context["depth"]).values
    write_depth(
        depth, DepthMap(cv2.resize(values, BIG, interpolation=cv2.INTER_CUBIC).astype(np.float32), kind="metric")
    )
    return {**context, "photo": str(photo), "depth": str(depth), "small_photo": context["photo"]}


def _prepare(folder: Path, context: dict[str, str]) -> None:
    photos = folder / "photos"
    photos.mkdir(parents=True)
    for i in range(PHOTOS):
        shutil.copyfile(context.get("small_photo", context["photo"]), photos / f"p{i:02d}.png")
    (folder / "out").mkdir()


def _complete(path: Path) -> bool:
    """Whether an output file decodes fully (images strictly, depth files, videos frame by frame, meshes)."""
    suffix = path.suffix.lower()
    data = path.read_bytes()
    if not data:
        return False
    if suffix in (".jpg", ".jpeg"):  # a depth photo's depth must read back too
        from depthforge.io.depthphoto_read import embedded_depth_kind, read_depth_photo

        try:
            return not corrupt(data) and (embedded_depth_kind(path) is None or read_depth_photo(path) is not None)
        except Exception:  # noqa: BLE001 - any failure means incomplete
            return False
    if suffix in (".png", ".tif", ".tiff", ".webp") and not path.name.endswith("_depth.tiff"):
        return not corrupt(data)
    if suffix in (".npy", ".exr", ".pfm", ".tiff"):
        from depthforge.io.depthfiles import read_depth

        try:
            read_depth(path)
        except Exception:  # noqa: BLE001 - any failure means incomplete
            return False
        return True
    if suffix in (".mp4", ".gif", ".webm"):
        from imageio_ffmpeg import get_ffmpeg_exe

        run = subprocess.run(
            [get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "null", "-"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        return run.returncode == 0 and not run.stderr.strip()
    if suffix in (".glb", ".ply", ".obj"):
        import trimesh

        try:
            mesh = trimesh.load(path, force="mesh")
        except Exception:  # noqa: BLE001
            return False
        return len(mesh.vertices) > 0
    return True


def _manifest_consistent(out: Path) -> bool:
    """Every output a batch manifest records as done is on disk."""
    from depthforge.pipeline.manifest import MANIFEST_NAME, Manifest

    if not (out / MANIFEST_NAME).exists():
        return True
    with Manifest(out) as manifest:
        done = manifest.done_state()
    return all((out / name).is_file() for _sig, _opts, files in done.values() for name in files)


def run_case(context: dict[str, str], folder: Path, rng: random.Random) -> tuple[str, str, str]:
    """(label, outcome, detail) of one interrupted command, chosen at random."""
    command = rng.choice(COMMANDS)
    sig = rng.choice([signal.SIGINT, signal.SIGTERM])
    delay = rng.uniform(0.3, 8.0)  # the CLI sets its handlers about 0.05 s after start, before loading its commands
    cold = rng.random() < 0.25  # an empty numba cache: the signal may land while a kernel compiles
    # a terminal's Ctrl-C reaches the whole process group, batch workers included (user trial 4: tracebacks)
    group = sig == signal.SIGINT and rng.random() < 0.5
    return run_one(context, folder, command, sig=sig, delay=delay, cold=cold, group=group)


def run_one(
    context: dict[str, str],
    folder: Path,
    command: tuple[str, ...],
    *,
    sig: signal.Signals,
    delay: float,
    cold: bool = False,
    group: bool = False,
) -> tuple[str, str, str]:
    """(label, outcome, detail) of ``command`` (``{...}`` filled from ``context``) run in ``folder`` and sent ``sig``
    after ``delay`` seconds (to its whole process group when ``group``; with an empty numba cache when ``cold``)."""
    _prepare(folder, context)
    argv = [a.format(**context) if "{" in a else a for a in command]
    what = argv[argv.index("--format") + 1] if "--format" in argv else Path(argv[argv.index("-o") + 1]).name
    how = f"{signal.Signals(sig).name}{' group' if group else ''}@{delay:.1f}s{' cold' if cold else ''}"
    label = f"{command[0]} {what} {how}"
    env = dict(os.environ, DEPTHFORGE_THREADS="1", HF_HUB_OFFLINE="1")
    if cold:
        env["NUMBA_CACHE_DIR"] = str(folder / ".numba-cache")
    with open(folder / ".stderr", "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", _ENTRY, *argv],
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
            start_new_session=group,
        )
        try:
            proc.wait(delay)
        except subprocess.TimeoutExpired:
            if group:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)
        try:
            status = proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return label, "hang", "still running 60 s after the signal"
    stderr = (folder / ".stderr").read_text(errors="replace")
    if "Traceback (most recent call last)" in stderr:
        return label, "traceback", stderr.strip().splitlines()[-1][:200]
    expected = {0: "finished", 130: "interrupted", 143: "terminated"}
    if status == -sig and _RETURNED in stderr:  # the signal landed while Python was exiting (handlers reset)
        status = 0
    if status not in expected:
        return label, f"exit-{status}", stderr.strip()[-200:]
    if (status == 143 and sig != signal.SIGTERM) or (status == 130 and sig != signal.SIGINT):
        return label, f"exit-{status}", f"status {status} after {signal.Signals(sig).name}"
    # an interrupt keeps a video's frames so far as a valid ``<name>.partial<ext>`` (documented); checked below
    stray = [p for p in _stray(folder) if ".partial." not in Path(p).name]
    if stray:
        return label, "stray-temp", stray[0]
    for path in sorted(p for p in (folder / "out").rglob("*") if p.is_file() and not p.name.startswith(".")):
        if not _complete(path):
            return label, "corrupt-output", str(path.relative_to(folder))
    if command[0] == "batch" and not _manifest_consistent(folder / "out"):
        return label, "corrupt-output", "the manifest lists an output that is missing"
    return label, expected[status], ""


def campaign(
    context: dict[str, str], *, seed: int, n: int, workdir: Path
) -> tuple[Counter[str], list[tuple[str, str, str]]]:
    """Run ``n`` interrupt cases; returns the outcome counts and the findings (label, outcome, detail)."""
    rng = random.Random(seed)
    context = big_inputs(context, workdir / "inputs")
    counts: Counter[str] = Counter()
    found: list[tuple[str, str, str]] = []
    for i in range(n):
        folder = workdir / f"interrupt{i:04d}"
        t0 = time.perf_counter()
        label, outcome, detail = run_case(context, folder, rng)
        counts[outcome] += 1
        if outcome not in ("finished", "interrupted", "terminated"):
            found.append((label, outcome, f"{detail} ({time.perf_counter() - t0:.1f} s)"))
        shutil.rmtree(folder, ignore_errors=True)
    return counts, found
