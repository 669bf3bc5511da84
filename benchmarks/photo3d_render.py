"""A 4-second 1080p parallax clip from a layered scene vs today's parallax command, side by side in one run.

Run: .venv/bin/python benchmarks/photo3d_render.py [--seconds 4] [--fps 30] [--inpaint background] [--ssaa 1]

Both paths render the same photo and depth (benchmarks/parallax.py's scene: a real photo upscaled to 1920x1080,
smooth relief and a near box with sharp edges), circle motion, 2 % amplitude, and stream the frames to x264
(veryfast, writer thread) exactly as the commands do:

* reference, the `depthforge parallax` command's path: ``build_layers(image, depth, max_layers=4)`` (every hidden
  pixel filled), ``ParallaxRenderer``, ``encode_frames``;
* layered scene (issue 21): ``plan_motion`` (poses + the largest disocclusion), ``build_layers(..., reach_px=,
  inpaint=)`` (fill band from the motion), ``scene_frames`` (optional SSAA), ``encode_frames``.

The two clips are made twice in the order A B B A so load changes hit both alike; the figures are the fps of
render + encode (frames / wall seconds, build excluded, printed apart) and the ratio layered / reference.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import describe
from depthforge.io.video import probe_video
from depthforge.pipeline.encode import encode_frames
from depthforge.render.layers import build_layers
from depthforge.render.motion import camera_path, frame_count
from depthforge.render.parallax import ParallaxRenderer
from depthforge.render.scene import plan_motion, scene_frames
from parallax import scene as photo


def cpu_seconds() -> float:
    """CPU seconds used so far by this process and its finished children (ffmpeg)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def clip(make: Callable[[], Iterator[np.ndarray]], frames: int, fps: float, tmp: Path) -> tuple[float, float]:
    """(fps of render + encode of one clip, CPU seconds per frame incl. ffmpeg); checks the file's frames."""
    out = tmp / "clip.mp4"
    c = cpu_seconds()
    t = time.perf_counter()
    encode_frames(make(), out, fps=fps, preset="veryfast")
    seconds = time.perf_counter() - t
    cpu = cpu_seconds() - c
    info = probe_video(out)
    assert info.frame_count == frames and (info.width, info.height) == (1920, 1080), info
    return frames / seconds, cpu / frames


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--inpaint", default="background", help="background | telea | ns")
    ap.add_argument("--ssaa", type=int, default=1)
    a = ap.parse_args()
    h, w = 1080, 1920
    image, depth = photo(h, w)
    frames = frame_count(a.seconds, a.fps)
    print(f"machine: {describe()}, opencv {cv2.__version__} ({cv2.getNumThreads()} threads)")
    print(f"clip: {a.seconds:g} s at {a.fps:g} fps = {frames} frames of {w}x{h}, circle, 2 % amplitude, x264 veryfast")

    t = time.perf_counter()
    ref_scene = build_layers(image, depth, max_layers=4)
    t_ref_build = time.perf_counter() - t
    ref_poses = camera_path("circle", frames=frames, amplitude_px=0.02 * w)
    ref = ParallaxRenderer(ref_scene, focus=0.5)

    t = time.perf_counter()
    poses, reach = plan_motion((h, w), motion="circle", duration_s=a.seconds, fps=a.fps, amplitude=2.0, focus=0.5)
    scene = build_layers(image, depth, max_layers=4, reach_px=reach, inpaint=a.inpaint)
    t_build = time.perf_counter() - t
    print(f"build: parallax command {t_ref_build:.2f} s ({ref_scene.num_layers} layers, all hidden pixels filled); "
          f"layered scene {t_build:.2f} s ({scene.num_layers} layers, fill band {scene.fill_px:.1f} px "
          f"for a reach of {reach:.1f} px, inpaint {a.inpaint})")  # fmt: skip

    runs: dict[str, list[tuple[float, float]]] = {"ref": [], "new": []}
    with tempfile.TemporaryDirectory() as tmp:
        for which in ("ref", "new", "new", "ref"):
            if which == "ref":
                runs[which].append(clip(lambda: (ref.render(p) for p in ref_poses), frames, a.fps, Path(tmp)))
            else:
                runs[which].append(
                    clip(lambda: scene_frames(scene, poses, focus=0.5, supersample=a.ssaa), frames, a.fps, Path(tmp))
                )
    print(f"load average during the run: {os.getloadavg()[0]:.1f} (2 cores)")
    fps = {}
    for which, label in (("ref", "parallax command"), ("new", f"layered scene (ssaa {a.ssaa})")):
        fps[which] = statistics.mean(r[0] for r in runs[which])
        cpu = statistics.mean(r[1] for r in runs[which])
        print(
            f"render + encode, {label}: {fps[which]:.1f} fps (runs {', '.join(f'{r[0]:.1f}' for r in runs[which])}); "
            f"{cpu * 1e3:.0f} CPU ms per frame incl. ffmpeg = {2.0 / cpu:.1f} fps at most on 2 free cores"
        )
    print(f"ratio layered / parallax command: {fps['new'] / fps['ref']:.2f}x (target: layered >= 15 fps)")


if __name__ == "__main__":
    main()
