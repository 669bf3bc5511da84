"""Parallax clips at 1920x1080, circle motion: render fps, render + encode (overlapped) fps, ratio to cv2.remap,
and peak memory of a 10 s vs a 60 s clip (each in its own subprocess).

Run: .venv/bin/python benchmarks/parallax.py [--frames N] [--layers L] [--skip-memory]
Prints the machine, the layer build time, the median per-frame render time and its ratio to one cv2.remap of an
RGB frame (same size, a per-pixel map), fps for render alone and with the mp4 encoder running in its writer
thread, and the peak RSS of the Python process and of ffmpeg for the two clip lengths.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import describe
from depthforge.core.depthmap import DepthMap
from depthforge.io.video import probe_video
from depthforge.pipeline.encode import encode_frames
from depthforge.render.motion import camera_path
from depthforge.render.parallax import ParallaxRenderer, build_layers


def scene(h: int, w: int) -> tuple[np.ndarray, DepthMap]:
    """A real photo (scikit-image's coffee, upscaled) with smooth relief and a near box with sharp edges."""
    from skimage import data

    image = cv2.resize(data.coffee(), (w, h), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    inv = 0.3 + 0.2 * np.sin(xx / (w / 13)) * np.cos(yy / (h / 10))
    inv[h * 5 // 18 : h * 13 // 18, w * 5 // 16 : w * 9 // 16] += 0.5
    return image, DepthMap(inv, kind="relative")


def memory_child(seconds: float, size: int, fps: float) -> None:
    """Render and encode a clip, print peak RSS (MiB) of this process and of ffmpeg as JSON."""
    import resource

    image, depth = scene(size * 9 // 16, size)
    r = ParallaxRenderer(build_layers(image, depth), focus=0.5)
    poses = camera_path("circle", frames=round(seconds * fps), amplitude_px=0.02 * size)
    with tempfile.TemporaryDirectory() as tmp:
        done = encode_frames((r.render(pose) for pose in poses), Path(tmp) / "m.mp4", fps=fps)
        frames = probe_video(done.path).frame_count
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "frames": frames, "python_mib": own, "ffmpeg_mib": child}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--preset", default="veryfast", help="x264 preset of the encode run")
    ap.add_argument("--memory-child", nargs=3, type=float, metavar=("SECONDS", "WIDTH", "FPS"))
    a = ap.parse_args()
    if a.memory_child:
        memory_child(a.memory_child[0], int(a.memory_child[1]), a.memory_child[2])
        return
    h, w = 1080, 1920
    image, depth = scene(h, w)
    print(f"machine: {describe()}, opencv {cv2.__version__} ({cv2.getNumThreads()} threads)")
    t = time.perf_counter()
    layers = build_layers(image, depth, max_layers=a.layers)
    print(f"build_layers 1920x1080: {time.perf_counter() - t:.2f} s, {len(layers.layers)} layers")
    renderer = ParallaxRenderer(layers, focus=0.5)
    poses = camera_path("circle", frames=a.frames, amplitude_px=0.02 * w)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    map_x = (xx + 5.0 * np.sin(yy / 50.0)).astype(np.float32)
    renderer.render(poses[1])  # warm-up
    remap_t, render_t = [], []
    for pose in poses:  # interleaved, so load changes hit both alike
        t = time.perf_counter()
        cv2.remap(image, map_x, yy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        remap_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        renderer.render(pose)
        render_t.append(time.perf_counter() - t)
    t_remap, t_render = statistics.median(remap_t), statistics.median(render_t)
    print(f"cv2.remap 1920x1080 RGB: {t_remap * 1e3:.1f} ms (median)")
    print(f"parallax frame 1920x1080: {t_render * 1e3:.1f} ms (median) = {1 / t_render:.1f} fps render alone")
    print(f"ratio: {t_render / t_remap:.1f}x one cv2.remap")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.mp4"
        t = time.perf_counter()
        encode_frames((renderer.render(pose) for pose in poses), out, fps=30, preset=a.preset)
        total = time.perf_counter() - t
        info = probe_video(out)
    print(
        f"render + mp4 encode (x264 {a.preset}, writer thread): {len(poses) / total:.1f} fps "
        f"({info.frame_count} frames {info.codec})"
    )
    if a.skip_memory:
        return
    runs = []
    for seconds in (10.0, 60.0):
        cmd = [sys.executable, __file__, "--memory-child", str(seconds), "320", "10"]
        runs.append(json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout))
    for r in runs:
        print(
            f"{r['seconds']:.0f} s clip 320x180 @10 fps: {r['frames']} frames, "
            f"peak RSS python {r['python_mib']:.0f} MiB, ffmpeg {r['ffmpeg_mib']:.0f} MiB"
        )
    py = runs[1]["python_mib"] / runs[0]["python_mib"] - 1
    ff = runs[1]["ffmpeg_mib"] / runs[0]["ffmpeg_mib"] - 1
    print(f"peak memory 60 s vs 10 s: python {py * 100:+.1f} %, ffmpeg {ff * 100:+.1f} % (target < 10 %)")


if __name__ == "__main__":
    main()
