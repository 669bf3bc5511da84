"""Busy threads of ``depthforge batch --workers 2`` (the whole process tree), sampled every 10 ms from /proc.

A thread in state R is running or runnable; the histogram of how many are at once shows whether the workers
together stay within the thread budget. Input: 16 generated photos of 2000x1500. Linux only.

With ``--video``: ``depthforge estimate CLIP --stereo half-left-right`` on a generated 1280x720 clip of 48
frames, the depthforge process alone (ffmpeg's decoder and encoders are processes of their own, outside the
budget), and its frames per second.

Run: ``.venv/bin/python benchmarks/busy_threads.py MODEL [--video] [global options, e.g. --threads 2]``
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def _tree(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    pids = [pid]
    for child in children.read_text().split() if children.exists() else []:
        pids += _tree(int(child))
    return pids


def _running(pids: list[int]) -> tuple[int, int]:
    """(threads in state R, threads in all) of these processes."""
    running = threads = 0
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            threads += 1
            try:
                stat = (task / "stat").read_text()
            except OSError:
                continue
            running += stat[stat.rindex(")") + 2] == "R"
    return running, threads


def _clip(path: Path, frames: int = 48) -> Path:
    """A 1280x720 clip at 24 fps: a textured wall behind a disc that moves (smooth depth, real motion)."""
    import imageio_ffmpeg

    yy, xx = np.mgrid[0:720, 0:1280].astype(np.float32)
    wall = np.dstack([128 + 60 * np.sin(xx / 23), 128 + 60 * np.sin(yy / 17), 128 + 40 * np.sin((xx + yy) / 31)])
    writer = imageio_ffmpeg.write_frames(str(path), (1280, 720), fps=24, macro_block_size=1)
    writer.send(None)
    for i in range(frames):
        disc = (xx - 300 - 14 * i) ** 2 + (yy - 360) ** 2 < 150**2
        frame = wall.copy()
        frame[disc] = (230, 120, 40)
        writer.send(np.ascontiguousarray(frame.astype(np.uint8)))
    writer.close()
    return path


def main() -> None:
    model, extra = sys.argv[1], [a for a in sys.argv[2:] if a != "--video"]
    video = "--video" in sys.argv[2:]
    work = Path(tempfile.mkdtemp(prefix="df-busy-"))
    src, out = work / "in", work / "out"
    src.mkdir()
    if video:
        clip = _clip(src / "clip.mp4")
        cmd = [sys.executable, "-m", "depthforge", *extra, "estimate", str(clip), "-o", str(out), "--model", model,
               "--stereo", "half-left-right"]  # fmt: skip
    else:
        yy, xx = np.mgrid[0:1500, 0:2000]
        for i in range(16):
            rgb = np.dstack([(xx * 255 // 2000 + i) % 256, yy * 255 // 1500, (xx + yy) * 255 // 3500])
            Image.fromarray(rgb.astype(np.uint8)).save(src / f"p{i:02d}.jpg", quality=90)
        cmd = [sys.executable, "-m", "depthforge", *extra, "batch", str(src), "-o", str(out), "--model", model,
               "--workers", "2", "--outputs", "depth16,colormap"]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    hist: dict[int, int] = {}
    most = 0
    while proc.poll() is None:
        try:
            running, threads = _running([proc.pid] if video else _tree(proc.pid))
        except (OSError, ValueError):
            continue
        hist[running] = hist.get(running, 0) + 1
        most = max(most, threads)
        time.sleep(0.01)
    seconds = time.perf_counter() - start
    assert proc.stdout is not None
    print(proc.stdout.read().decode()[-300:])
    if video:
        print(f"48 frames in {seconds:.1f} s: {48 / seconds:.2f} frames/s (including start-up and model load)")
    shutil.rmtree(work, ignore_errors=True)
    samples = sum(hist.values())
    mean = sum(k * v for k, v in hist.items()) / max(samples, 1)
    print("command:", " ".join(cmd[1:]))
    print(f"samples {samples}; threads in the tree at most {most}; mean running {mean:.2f}; histogram:")
    for k in sorted(hist):
        print(f"  {k} running: {hist[k]} ({100 * hist[k] / samples:.1f} %)")


if __name__ == "__main__":
    main()
