"""End-to-end depth estimation: depthforge vs the transformers depth-estimation pipeline, side by side.

Full-size Depth Anything V2 Small and DPT-Hybrid architectures (random weights, built locally: no download).
Throughput: a folder of N 1024x768 JPEGs; the pipeline runs over the files one by one (``pipe(Image.open(p))``,
its defaults, fp32), ours is ``run_estimate`` over the folder (the ``depthforge estimate`` path: decode ahead,
batches, 16-bit PNG files written behind), same model input size. Rounds are interleaved (each round runs every
contestant once, so all see the same machine load); min and median over rounds are printed, per image, and the
ratio of each round's pair (pipeline time / ours, run back to back), whose median is the steadiest figure on a
machine whose speed drifts. The
deviation of each of ours is the mean absolute relative deviation of its depth (same code path, in memory) from
the pipeline's PyTorch fp32 output. Then the overhead for a 12-megapixel JPEG: end-to-end ``run_estimate`` on the
one photo minus the model's forward time, with the stages (decode, preprocess, forward, resize back, write):
each timed run writes a new output file (as a first run on a photo does), with the model's own output and with a
smooth scene in its place, then the same over the previous run's file (``--overwrite``: the old file's deletion
costs a few ms more).

    .venv/bin/python benchmarks/estimate.py [--images 6] [--repeats 5] [--no-dpt] [--no-int8] [--no-overhead]

Models and compiled graphs are kept under ``--workdir`` (default ~/.cache/depthforge/benchmarks), so a second
run skips the exports (the first one builds and verifies them outside the timed rounds).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import describe


def make_photos(folder: Path, n: int, size: tuple[int, int] = (1024, 768)) -> list[Path]:
    import cv2
    from PIL import Image
    from skimage import data

    sources = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    paths = []
    rng = np.random.default_rng(0)
    for i in range(n):
        img = cv2.resize(sources[i % len(sources)], size, interpolation=cv2.INTER_CUBIC)
        if size[0] * size[1] > 4e6:  # large photos: add sensor-like noise so the JPEG is as heavy as a real one
            img = np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
        p = folder / f"photo{i}_{size[0]}x{size[1]}.jpg"
        Image.fromarray(img).save(p, quality=92)
        paths.append(p)
    return paths


def smooth_scene(shape: tuple[int, int]) -> np.ndarray:
    """A noise-free relative depth map of ``shape``: sky, a ground plane, a disc and a box, made at a model's
    resolution (518x686) and bicubic-upsampled as depth maps are."""
    import cv2

    yy = np.mgrid[0:518, 0:686][0].astype(np.float32)
    inv = np.where(yy > 200, (yy - 200) / 318 * 0.8 + 0.1, 0.0).astype(np.float32)
    cv2.circle(inv, (300, 350), 80, 0.7, -1)
    cv2.rectangle(inv, (450, 250), (600, 450), 0.5, -1)
    inv = cv2.GaussianBlur(inv, (0, 0), 1.0)
    return cv2.resize(inv, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


def rel_dev(ours: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(ours - ref).mean() / np.abs(ref).mean())


def race(contestants: dict[str, Callable[[], None]], repeats: int) -> dict[str, list[float]]:
    """Interleaved rounds: every contestant once per round; the wall time of each round per contestant."""
    times: dict[str, list[float]] = {k: [] for k in contestants}
    for _ in range(repeats):
        for name, fn in contestants.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def compare(title: str, folder: Path, photos: list[Path], args: argparse.Namespace, *, torch_too: bool) -> None:
    from PIL import Image
    from transformers import pipeline

    from depthforge.io.images import read_image
    from depthforge.models import load_model
    from depthforge.pipeline.estimation import EstimateOptions, run_estimate

    pipe = pipeline("depth-estimation", model=str(folder), device="cpu")
    ours: dict[str, tuple[Any, int]] = {}
    auto = load_model(str(folder), device="cpu")
    for b in args.batches:
        ours[f"auto={auto.backend_name}, batch {b}"] = (auto, b)
    if torch_too and auto.backend.name != "torch":
        ours["torch, batch 2"] = (load_model(str(folder), device="cpu", backend="torch"), 2)
    if not args.no_int8:
        from depthforge.core.errors import ModelError

        int8 = load_model(str(folder), device="cpu", quantize="int8")
        try:
            int8.predict(read_image(photos[0]))  # builds (quantises and verifies) the int8 graph
            ours["int8, batch 2"] = (int8, 2)
        except ModelError as exc:
            print(f"int8 fast mode not available for this model: {exc}")
    size = auto.input_size((768, 1024))
    n = len(photos)
    print(f"\n== {title}: {n} JPEGs of 1024x768, model input {size[0]}x{size[1]} (h x w) ==")
    src = photos[0].parent
    out = src.parent / f"out-{folder.name}"
    opts = EstimateOptions(overwrite=True)
    refs: list[np.ndarray] = []

    def run_pipeline() -> None:
        refs.clear()
        for p in photos:
            refs.append(pipe(Image.open(p))["predicted_depth"].numpy())  # type: ignore[index]

    def runner(est: Any, batch: int) -> Callable[[], None]:
        return lambda: (run_estimate([src], out, model=est, options=opts, batch_size=batch), None)[1]

    contestants: dict[str, Callable[[], None]] = {"pipeline": run_pipeline}
    for key, (est, batch) in ours.items():
        contestants[key] = runner(est, batch)
    t0 = time.perf_counter()
    for fn in contestants.values():  # warm-up; builds and verifies static graphs on the first run
        fn()
    print(f"warm-up (incl. any export/quantisation): {time.perf_counter() - t0:.1f} s")
    times = race(contestants, args.repeats)
    images = [read_image(p) for p in photos]
    ref_min = min(times["pipeline"]) / n
    for name, ts in times.items():
        per, med = 1000 * min(ts) / n, 1000 * float(np.median(ts)) / n
        label = "transformers pipeline" if name == "pipeline" else f"depthforge {name}"
        line = f"{label:34s}: {per:7.1f} ms/image (median {med:.1f}; rounds " + " ".join(f"{t:.1f}" for t in ts) + " s)"
        if name != "pipeline":
            est, batch = ours[name]
            # the same path as the timed run (streamed requests for batch > 1), in memory
            feed = ((i, est.prepare(im)) for i, im in enumerate(images))
            depths = [d for _, d in est.predict_stream(feed, batch_size=batch, throughput=batch > 1)]
            dev = float(np.mean([rel_dev(d.values, r) for d, r in zip(depths, refs, strict=True)]))
            ref_med = 1000 * float(np.median(times["pipeline"])) / n
            paired = sorted(a / b for a, b in zip(times["pipeline"], ts, strict=True))
            line += (
                f"\n    throughput ratio {1000 * ref_min / per:.2f}x of best rounds, {ref_med / med:.2f}x of medians,"
                f" per round (same-round pairs) median {float(np.median(paired)):.2f}x"
                f" [{' '.join(f'{r:.2f}' for r in paired)}]"
            )
            line += f", deviation from the pipeline (PyTorch fp32) {100 * dev:.3f} %  [{est!r}]"
        print(line)


def overhead(folder: Path, tmp: Path, repeats: int) -> None:
    from depthforge.io.depthfiles import write_depth
    from depthforge.io.images import read_image_reduced
    from depthforge.models import load_model
    from depthforge.pipeline.estimation import EstimateOptions, run_estimate

    est = load_model(str(folder), device="cpu")
    photo = make_photos(tmp, 1, size=(4000, 3000))[0]
    out = tmp / "overhead"
    stages: dict[str, list[float]] = {k: [] for k in ("decode", "preprocess", "forward", "resize back", "write")}
    size = est.input_size((3000, 4000))
    opts = EstimateOptions(overwrite=True)

    def need(h: int, w: int) -> tuple[int, int]:
        ih, iw = est.input_size((h, w))
        return 2 * ih, 2 * iw

    inner: list[float] = []  # forward time spent inside each end-to-end run (the backend's call, timed)
    backend_forward = est.backend.forward

    def timed_forward(x: np.ndarray) -> Any:
        t = time.perf_counter()
        try:
            return backend_forward(x)
        finally:
            inner.append(time.perf_counter() - t)

    runs = iter(range(1 << 30))

    def end_to_end(forward: Callable[[np.ndarray], Any], new_file: bool = True) -> tuple[float, float]:
        """One run_estimate on the photo with ``forward`` as the backend's: (wall time, minus the forward).
        ``new_file``: into a folder of its own (as a first run on a photo), else over the last run's output."""
        inner.clear()
        est.backend.forward = forward  # type: ignore[method-assign]
        target = out / f"run{next(runs)}" if new_file else out / "again"
        t0 = time.perf_counter()
        try:
            run_estimate([photo], target, model=est, options=opts)
        finally:
            est.backend.forward = backend_forward  # type: ignore[method-assign]
        t_e2e = time.perf_counter() - t0
        return t_e2e, t_e2e - sum(inner)

    for r in range(repeats + 1):  # the stages one by one (each writing a new file, as the end-to-end runs do)
        t = [time.perf_counter()]
        image, full = read_image_reduced(photo, need)
        t.append(time.perf_counter())
        prep = est.prepare(image, output_size_hw=full)
        t.append(time.perf_counter())
        raw, _ = est.backend.forward(prep.pixels[None])
        t.append(time.perf_counter())
        depth = est._postprocess(raw[0], full, None)
        t.append(time.perf_counter())
        write_depth(out / f"stages{r}.png", depth, format="png16")
        t.append(time.perf_counter())
        if r > 0:  # the first is a warm-up
            for k, a, b in zip(stages, t[:-1], t[1:], strict=True):
                stages[k].append(b - a)

    def timed_series(forward: Callable[[np.ndarray], Any], new_file: bool = True) -> tuple[list[float], list[float]]:
        """``repeats`` end-to-end runs after a warm-up: (overheads, wall times)."""
        done = [end_to_end(forward, new_file) for _ in range(repeats + 1)][1:]
        return [rest for _, rest in done], [t for t, _ in done]

    def smooth_forward(x: np.ndarray) -> Any:
        raw, fov = timed_forward(x)
        return np.stack([smooth_scene(r.shape) for r in raw]).astype(np.float32), fov

    # then the end-to-end runs back to back (not interleaved with the stages, whose files would be written and
    # flushed in the background meanwhile): the model's own (random-weight, noise-like) output; the same with it
    # swapped for a smooth scene after the real forward (the forward's work unchanged, the depth content like a
    # trained model's); the model's own output again, each run over the previous run's file (--overwrite on a
    # photo done before: the old 19 MB file is deleted by the rename, which costs a few ms more)
    series = (
        (", new output file", *timed_series(timed_forward)),
        (", smooth depth content, new output file", *timed_series(smooth_forward)),
        (", over the previous run's output file", *timed_series(timed_forward, new_file=False)),
    )
    from depthforge.io.png import fast_deflate_available

    print(f"\n== overhead: 12-MP JPEG (4000x3000) -> 16-bit PNG depth, model input {size[0]}x{size[1]}, {est!r} ==")
    print(f"decoded at {image.rgb.shape[1]}x{image.rgb.shape[0]} (JPEG DCT scaling); isal: {fast_deflate_available()}")
    print(f"stages (best of {repeats}): " + ", ".join(f"{k} {1000 * min(v):.0f} ms" for k, v in stages.items()))
    print("stages (median): " + ", ".join(f"{k} {1000 * float(np.median(v)):.0f} ms" for k, v in stages.items()))
    # the 16-bit PNG encoder: default vs LZ77 deflate level 1, on this (random-weight, noisy) depth map and on a
    # smooth noise-free scene of the same size (what trained models give more often)
    from depthforge.core.depthmap import DepthMap
    from depthforge.io.png import encode_png
    from depthforge.process.normalize import display_codes

    maps = {"this depth map": depth, "smooth scene": DepthMap(smooth_scene(depth.shape), kind="relative")}
    encoders = (("default (per band Huffman-only, or LZ77 if a probe finds it smaller)", None), ("LZ77 level 1", 1))
    for map_name, d in maps.items():
        codes, _ = display_codes(d, top=65535)
        for label, level in encoders:
            best, size = float("inf"), 0
            for _ in range(repeats):
                t0 = time.perf_counter()
                size = len(encode_png(codes, level=level))
                best = min(best, time.perf_counter() - t0)
            share = 100 * size / codes.nbytes
            print(f"png16, {map_name}, {label}: {1000 * best:.1f} ms, {size / 1e6:.2f} MB ({share:.1f} % of raw)")
        best = float("inf")
        for _ in range(repeats):  # the whole write stage: range, codes, encoding, file, fsync, rename
            t0 = time.perf_counter()
            write_depth(out / "map.png", d, format="png16")
            best = min(best, time.perf_counter() - t0)
        print(f"write_depth png16, {map_name}: {1000 * best:.1f} ms")
    for label, rests, ends in series:
        fwds = [e - o for e, o in zip(ends, rests, strict=True)]  # each run's own forward
        ratio = float(np.median([o / f for o, f in zip(rests, fwds, strict=True)]))
        print(
            f"end-to-end (run_estimate){label}: best {1000 * min(ends):.0f} ms, median"
            f" {1000 * float(np.median(ends)):.0f} ms; forward inside them best {1000 * min(fwds):.0f} ms"
            "\n    overhead (end-to-end minus the forward timed inside it), per run: "
            + " ".join(f"{1000 * o:.0f}" for o in rests)
            + " ms\n    median"
            f" {1000 * float(np.median(rests)):.0f} ms = {100 * float(np.median(rests)) / min(fwds):.1f} % of the best"
            f" forward; per-run share (overhead / that run's forward) median {100 * ratio:.1f} %; best end-to-end minus"
            f" best forward {1000 * (min(ends) - min(fwds)):.0f} ms = {100 * (min(ends) - min(fwds)) / min(fwds):.1f} %"
            " (target <= 15 %)"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-dpt", action="store_true")
    ap.add_argument("--no-int8", action="store_true")
    ap.add_argument("--no-overhead", action="store_true")
    ap.add_argument("--no-throughput", action="store_true")
    ap.add_argument("--batches", default="2,1", help="photo batch sizes of ours to time (comma-separated)")
    ap.add_argument("--workdir", default=str(Path.home() / ".cache" / "depthforge" / "benchmarks"))
    args = ap.parse_args()
    args.batches = [int(b) for b in str(args.batches).split(",") if b.strip()]
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    from depthforge.models.testing import build_depth_anything, build_dpt

    work = Path(args.workdir)
    print(f"machine: {describe()}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"load average at start: {os.getloadavg()}")
    print(f"command: {' '.join(sys.argv)}")
    da = work / "da-v2-small-random"
    if not (da / "config.json").exists():
        build_depth_anything(da, full=True)
    dpt = work / "dpt-hybrid-random"
    if not args.no_dpt and not (dpt / "config.json").exists():
        build_dpt(dpt, hybrid=True, full=True)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "photos").mkdir()
        photos = make_photos(Path(tmp) / "photos", args.images)
        if not args.no_throughput:
            compare("Depth Anything V2 Small (full size, random weights)", da, photos, args, torch_too=False)
        if not args.no_dpt and not args.no_throughput:
            compare("DPT-Hybrid (full size, random weights)", dpt, photos, args, torch_too=True)
        if not args.no_overhead:
            overhead(da, Path(tmp), args.repeats)
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
