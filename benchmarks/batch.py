"""Batch throughput: ``depthforge batch`` with --workers 2 vs 1, and the single-process ``estimate`` loop as reference.

Photos of 320x240 (JPEG, nested folders), outputs depth16 + colormap, the tiny Depth Anything (518 px input, built
locally) or with ``--full`` the full-size V2 Small architecture (random weights). Each configuration starts from an
empty output folder. Prints wall time (model load and worker start-up included) and the steady rate (items after
the first finished one / time since), the ratios to the reference, and whether the pool's files are byte-identical
to one worker with the same torch threads (workers 2 run 1 thread each).

    .venv/bin/python benchmarks/batch.py [--images 60] [--full]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import describe


def make_photos(folder: Path, n: int) -> None:
    from PIL import Image
    from skimage import data

    src = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    rng = np.random.default_rng(0)
    for i in range(n):
        im = Image.fromarray(src[i % len(src)]).resize((320, 240))
        a = np.clip(np.asarray(im).astype(np.int16) + rng.integers(-8, 9, (240, 320, 3)), 0, 255).astype(np.uint8)
        sub = folder / f"roll{i % 3}"
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(a).save(sub / f"p{i:04d}.jpg", quality=90)


def timed(fn: object) -> tuple[float, float, int]:
    """(wall seconds, steady items/s, items) of fn(on_item)."""
    stamps: list[float] = []
    t0 = time.perf_counter()
    fn(lambda *a: stamps.append(time.perf_counter()))  # type: ignore[operator]
    wall = time.perf_counter() - t0
    steady = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 and stamps[-1] > stamps[0] else 0.0
    return wall, steady, len(stamps)


def files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*_depth*.png"))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=60)
    ap.add_argument("--full", action="store_true", help="full-size Depth Anything V2 Small architecture")
    args = ap.parse_args()

    import torch

    from depthforge.models.testing import build_depth_anything
    from depthforge.pipeline.batch import BatchJob, run_batch
    from depthforge.pipeline.estimation import EstimateOptions, run_estimate
    from depthforge.pipeline.producers import BatchOptions

    print(f"machine: {describe()}; torch threads default {torch.get_num_threads()}")
    work = Path(tempfile.mkdtemp(prefix="df-batch-bench-"))
    model = build_depth_anything(work / "model", full=args.full)
    photos = work / "photos"
    make_photos(photos, args.images)
    print(f"{args.images} photos 320x240, outputs depth16+colormap, model {'V2 Small (full)' if args.full else 'tiny'}")

    def batch(name: str, workers: int, threads: int | None) -> tuple[float, float, int]:
        job = BatchJob(
            photos,
            work / name,
            outputs=("depth16", "colormap"),
            model=str(model),
            options=BatchOptions(colormap="inferno"),
        )
        return timed(lambda cb: run_batch(job, workers=workers, threads=threads, on_item=cb))

    def reference(cb: object) -> None:
        run_estimate([photos], work / "ref", model=str(model), options=EstimateOptions(colormap="inferno"), on_item=cb)  # type: ignore[arg-type]

    results = {
        "estimate loop (reference, 1 process)": timed(reference),
        "batch --workers 1": batch("w1", 1, None),
        "batch --workers 1 --threads 1": batch("w1t1", 1, 1),
        "batch --workers 2 (1 thread each)": batch("w2", 2, None),
    }
    ref_wall, ref_rate, _ = results["estimate loop (reference, 1 process)"]
    head = ("configuration", "wall s", "items/s", "steady/s", "x ref wall", "x ref steady")
    print(f"{head[0]:40s} {head[1]:>8s} {head[2]:>8s} {head[3]:>9s} {head[4]:>10s} {head[5]:>12s}")
    for name, (wall, steady, n) in results.items():
        print(
            f"{name:40s} {wall:8.2f} {n / wall:8.2f} {steady:9.2f} {ref_wall / wall:10.2f} "
            f"{(steady / ref_rate if ref_rate else 0):12.2f}"
        )
    w1, w2 = results["batch --workers 1"], results["batch --workers 2 (1 thread each)"]
    print(f"workers 2 / workers 1: wall {w1[0] / w2[0]:.2f}x, steady {w2[1] / w1[1] if w1[1] else 0:.2f}x")
    a, b = files(work / "w1t1"), files(work / "w2")
    same = sorted(a) == sorted(b) and all(a[k] == b[k] for k in a)
    print(f"workers 2 files identical to workers 1 (--threads 1): {same} ({len(a)} files)")


if __name__ == "__main__":
    main()
