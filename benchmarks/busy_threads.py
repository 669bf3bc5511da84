"""Busy threads of ``depthforge batch --workers 2`` (the whole process tree), sampled every 10 ms from /proc.

A thread in state R is running or runnable; the histogram of how many are at once shows whether the workers
together stay within the thread budget. Input: 16 generated photos of 2000x1500. Linux only.

Run: ``.venv/bin/python benchmarks/busy_threads.py MODEL [global options, e.g. --threads 2]``
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


def main() -> None:
    model, extra = sys.argv[1], sys.argv[2:]
    work = Path(tempfile.mkdtemp(prefix="df-busy-"))
    src, out = work / "in", work / "out"
    src.mkdir()
    yy, xx = np.mgrid[0:1500, 0:2000]
    for i in range(16):
        rgb = np.dstack([(xx * 255 // 2000 + i) % 256, yy * 255 // 1500, (xx + yy) * 255 // 3500])
        Image.fromarray(rgb.astype(np.uint8)).save(src / f"p{i:02d}.jpg", quality=90)
    cmd = [sys.executable, "-m", "depthforge", *extra, "batch", str(src), "-o", str(out), "--model", model,
           "--workers", "2", "--outputs", "depth16,colormap"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    hist: dict[int, int] = {}
    most = 0
    while proc.poll() is None:
        try:
            running, threads = _running(_tree(proc.pid))
        except (OSError, ValueError):
            continue
        hist[running] = hist.get(running, 0) + 1
        most = max(most, threads)
        time.sleep(0.01)
    assert proc.stdout is not None
    print(proc.stdout.read().decode()[-300:])
    shutil.rmtree(work, ignore_errors=True)
    samples = sum(hist.values())
    mean = sum(k * v for k, v in hist.items()) / max(samples, 1)
    print("command:", " ".join(cmd[1:]))
    print(f"samples {samples}; threads in the tree at most {most}; mean running {mean:.2f}; histogram:")
    for k in sorted(hist):
        print(f"  {k} running: {hist[k]} ({100 * hist[k] / samples:.1f} %)")


if __name__ == "__main__":
    main()
