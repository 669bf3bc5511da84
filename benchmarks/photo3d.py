"""Benchmark: a 12-MP photo -> layered 3D photo (GLB, default inpainter) against today's ``depthforge mesh``.

Both commands run in this one process on the same photo and the same depth file, through the command-line entry
point (reading the photo and the depth file included). The depth is a *given file*, so no model time is in
either figure: the Middlebury Cones ground-truth disparity upsampled to the photo's size (realistic smooth scene
depth with sharp edges); without the data set, the simulated scene of ``depthforge.models.simulated``.

Printed: wall seconds of ``photo3d`` (and its steps: layers, meshes, writing), of ``mesh`` at its default (every
pixel) and with the same vertex budget per layer as ``photo3d``, the ratios, vertex counts and file sizes; then
the GLB writers compared on the same layered mesh: depthforge's streamed writer against trimesh's exporter
(the library reference; see ``depthforge.geometry.gltf``).

Run: ``.venv/bin/python benchmarks/photo3d.py [--megapixels 12] [--skip-full-mesh]`` (under 2 minutes here).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import describe

CONES = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "middlebury-cones"


def make_input(folder: Path, megapixels: float) -> tuple[Path, Path, str]:
    """Write ``photo.png`` and ``disp.npy`` (disparity, px at the photo's size, NaN = unknown) of about
    ``megapixels``; returns their paths and a description."""
    import cv2

    if (CONES / "im2.png").exists():
        bgr = cv2.imread(str(CONES / "im2.png"))
        disp = cv2.imread(str(CONES / "disp2.png"), cv2.IMREAD_UNCHANGED).astype(np.float32) / 4.0
        what = "Middlebury Cones im2 + ground-truth disparity"
    else:
        from depthforge.models.simulated import synthetic_scene

        inv = synthetic_scene(512).astype(np.float32)
        disp = inv * 60.0
        rng = np.random.default_rng(0)
        bgr = cv2.resize(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8), (512, 512), interpolation=cv2.INTER_CUBIC)
        what = "simulated scene (Cones not found)"
    h0, w0 = disp.shape
    scale = math.sqrt(megapixels * 1e6 / (h0 * w0))
    w, h = round(w0 * scale), round(h0 * scale)
    img = cv2.resize(bgr, (w, h), interpolation=cv2.INTER_CUBIC)
    valid = cv2.resize((disp > 0).astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
    big = cv2.resize(disp, (w, h), interpolation=cv2.INTER_LINEAR) * np.float32(w / w0)
    big[~valid] = np.nan
    photo, depth = folder / "photo.png", folder / "disp.npy"
    cv2.imwrite(str(photo), img, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    np.save(depth, big.astype(np.float32))
    return photo, depth, f"{what}, upsampled to {w}x{h} = {w * h / 1e6:.1f} MP"


def run_cli(*argv: str) -> tuple[float, float, str, str]:
    """(wall seconds, CPU seconds of this process, stdout, stderr) of one in-process command; exits on failure."""
    from depthforge.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    t, c = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    dt, dc = time.perf_counter() - t, time.process_time() - c
    if code != 0:
        sys.exit(f"{argv[0]} failed ({code}): {err.getvalue().strip()}")
    return dt, dc, out.getvalue().strip(), err.getvalue().strip()


def size_mb(*paths: Path) -> float:
    return sum(p.stat().st_size for p in paths if p.exists()) / 1e6


def trimesh_glb(path: Path, lm: Any) -> None:
    """The reference writer: the same layers, textures (Pillow PNG, zlib level 1 as ours), alpha mode and camera
    through trimesh's glTF exporter."""
    import trimesh
    from PIL import Image as PILImage

    from depthforge.geometry.export import to_viewer_frame

    scene = trimesh.Scene()
    for layer in lm.layers:
        tex = PILImage.fromarray(layer.texture, mode="RGBA")
        tex.encoderinfo = {"compress_level": 1}
        material = trimesh.visual.material.PBRMaterial(
            name=layer.name, baseColorTexture=tex, metallicFactor=0.0, roughnessFactor=1.0, doubleSided=True,
            alphaMode="MASK", alphaCutoff=0.5,
        )  # fmt: skip
        tm = trimesh.Trimesh(vertices=to_viewer_frame(layer.mesh.vertices), faces=layer.mesh.faces, process=False)
        tm.visual = trimesh.visual.TextureVisuals(uv=layer.mesh.uv, material=material)
        scene.add_geometry(tm, node_name=layer.name, geom_name=layer.name)
    hfov, vfov = lm.fov_rad
    scene.camera = trimesh.scene.Camera(resolution=lm.size_hw[::-1], fov=(math.degrees(hfov), math.degrees(vfov)))
    path.write_bytes(trimesh.exchange.gltf.export_glb(scene, include_normals=False))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--megapixels", type=float, default=12.0)
    ap.add_argument("--skip-full-mesh", action="store_true", help="skip 'mesh' at every pixel (the slowest run)")
    args = ap.parse_args()
    import trimesh  # noqa: F401 - imported before any timing, as a long-running server would have it

    print(f"machine: {describe()}; load average {os.getloadavg()[0]:.1f} (other work shares the cores)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        photo, depth, what = make_input(folder, args.megapixels)
        print(f"input: {what}; depth given as a file (no model time in any figure)")
        common = [str(photo), "--depth", str(depth), "--depth-kind", "disparity", "--baseline-m", "0.1"]

        t_p3d, c_p3d, out, err = run_cli("photo3d", *common, "-o", str(folder / "layers.glb"))
        steps = next((ln.split("; ", 1)[1] for ln in err.splitlines() if "layer(s)" in ln), "")
        mb = size_mb(folder / "layers.glb")
        print(f"photo3d -> GLB (default inpainter)     {t_p3d:6.2f} s wall {c_p3d:6.2f} s cpu {mb:6.1f} MB  [{steps}]")
        print(f"    {out.split(' (', 1)[1].split(')')[0]}; target <= 15 s wall: {'met' if t_p3d <= 15 else 'NOT met'}")
        runs = [("1 M vertices (photo3d's per-layer budget)", ["--target-vertices", "1000000"], "m1.glb")]
        if not args.skip_full_mesh:
            runs.append(("every pixel (its default)", [], "mf.glb"))
        for label, extra, name in runs:
            t_m, c_m, out, _ = run_cli("mesh", *common, *extra, "-o", str(folder / name))
            mb = size_mb(folder / name)
            print(f"mesh -> GLB, {label}   {t_m:6.2f} s wall {c_m:6.2f} s cpu {mb:6.1f} MB")
            print(f"    ratio photo3d / mesh: {t_p3d / t_m:5.2f}x wall, {c_p3d / c_m:5.2f}x cpu")

        # the GLB writers on the same layered mesh
        from depthforge.geometry.layered import write_layered_glb
        from depthforge.io.depthfiles import read_depth
        from depthforge.io.images import read_image
        from depthforge.pipeline.layered_photo import scene_mesh
        from depthforge.render.layers import build_layers

        scene = build_layers(read_image(photo), read_depth(depth, kind="disparity"))  # untimed
        lm = scene_mesh(scene)
        t, c = time.perf_counter(), time.process_time()
        write_layered_glb(folder / "ours.glb", lm)
        t_ours, c_ours = time.perf_counter() - t, time.process_time() - c
        t, c = time.perf_counter(), time.process_time()
        trimesh_glb(folder / "ref.glb", lm)
        t_ref, c_ref = time.perf_counter() - t, time.process_time() - c
        n = sum(L.mesh.n_vertices for L in lm.layers)
        print(f"GLB writer, {len(lm.layers)} layers, {n} vertices:")
        mb_ours, mb_ref = size_mb(folder / "ours.glb"), size_mb(folder / "ref.glb")
        print(
            f"    ours (streamed, OpenCV PNG on 2 threads)  {t_ours:6.2f} s wall {c_ours:6.2f} s cpu {mb_ours:6.1f} MB"
        )
        print(f"    trimesh export_glb (Pillow PNG lvl 1) {t_ref:6.2f} s wall {c_ref:6.2f} s cpu {mb_ref:6.1f} MB")
        print(f"    ratio trimesh / ours: {t_ref / t_ours:5.2f}x wall, {c_ref / c_ours:5.2f}x cpu")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
