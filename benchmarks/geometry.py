"""Benchmark: a 12-megapixel photo + metric depth -> textured binary PLY mesh and GLB.

Ours (vectorised numpy triangulation + chunked numpy PLY writer) side by side with the reference: the same mesh
written by trimesh's own binary PLY exporter, in the same process. Prints seconds (wall and CPU), megabytes,
vertices per second and the ratio. Target: the PLY mesh in under 5 s on a 2-core machine.

Run: ``.venv/bin/python benchmarks/geometry.py [--width 4000 --height 3000] [--skip-reference]``
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def machine() -> str:
    flags = ""
    try:
        text = Path("/proc/cpuinfo").read_text()
        line = next(ln for ln in text.splitlines() if ln.startswith("flags"))
        wanted = ("sse4_2", "avx", "avx2", "avx512f", "fma", "neon")
        flags = " ".join(f for f in line.split(":", 1)[1].split() if f in wanted)
    except (OSError, StopIteration):
        pass
    load = " ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return f"{platform.machine()}, {os.cpu_count()} cores, flags: {flags or '?'}, load average {load}"


def scene(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """A photo-like image and a metric depth map with smooth surfaces and sharp discontinuities."""
    import cv2
    from skimage import data

    img = cv2.resize(data.astronaut(), (width, height), interpolation=cv2.INTER_LINEAR)
    v, u = np.mgrid[0:height, 0:width].astype(np.float32)
    z = 3.0 + 0.4 * np.sin(u / (width / 13)) * np.cos(v / (height / 9))
    z[:, : width // 4] -= 1.2  # a near block: a sharp edge the mesh must not bridge
    z[: height // 10] = np.nan  # an invalid band (sky)
    return img, z.astype(np.float32)


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall seconds, CPU seconds of this process: user + system, all threads)."""
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t, time.process_time() - c


def size_mb(paths: list[Path]) -> float:
    return sum(p.stat().st_size for p in paths if p.exists()) / 1e6


def main() -> None:
    import trimesh

    from depthforge.core.intrinsics import Intrinsics
    from depthforge.geometry.export import export_mesh, to_trimesh
    from depthforge.geometry.mesh import mesh_from_depth

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=4000)
    ap.add_argument("--height", type=int, default=3000)
    ap.add_argument("--skip-reference", action="store_true")
    ap.add_argument("--keep", metavar="DIR", help="write the outputs here instead of a temporary folder")
    args = ap.parse_args()

    print(f"machine: {machine()}")
    img, z = scene(args.width, args.height)
    intr = Intrinsics.from_fov((args.height, args.width), fov_deg=60.0)
    print(
        f"input: {args.width}x{args.height} = {args.width * args.height / 1e6:.1f} MP, "
        f"{int(np.isfinite(z).sum())} valid depth pixels"
    )
    tmpdir = tempfile.TemporaryDirectory()
    out = Path(args.keep or tmpdir.name)
    out.mkdir(parents=True, exist_ok=True)

    mesh, t_mesh, c_mesh = timed(lambda: mesh_from_depth(z, kind="metric", intrinsics=intr, image=img))
    files, t_ply, c_ply = timed(lambda: export_mesh(out / "bench.ply", mesh))
    nv = mesh.n_vertices
    total = t_mesh + t_ply
    print(f"mesh: {nv} vertices, {mesh.n_faces} triangles")
    print(f"ours  depth->mesh            {t_mesh:6.2f} s wall {c_mesh:6.2f} s cpu")
    print(
        f"ours  write PLY+texture      {t_ply:6.2f} s wall {c_ply:6.2f} s cpu  {size_mb(files):7.1f} MB "
        f"({', '.join(f.name for f in files)})"
    )
    print(
        f"ours  TOTAL depth->PLY mesh  {total:6.2f} s wall {c_mesh + c_ply:6.2f} s cpu  "
        f"{nv / total / 1e6:5.2f} M vertices/s   target < 5 s: {'met' if total < 5 else 'NOT met'}"
    )

    glb, t_glb, c_glb = timed(lambda: export_mesh(out / "bench.glb", mesh))
    print(
        f"ours  write GLB (trimesh)    {t_glb:6.2f} s wall {c_glb:6.2f} s cpu  {size_mb(glb[:1]):7.1f} MB   "
        f"depth->GLB {t_mesh + t_glb:6.2f} s, {nv / (t_mesh + t_glb) / 1e6:5.2f} M vertices/s"
    )

    if not args.skip_reference:

        def reference() -> Path:
            tm = to_trimesh(mesh, texture=False)
            data = trimesh.exchange.ply.export_ply(tm, encoding="binary", vertex_normal=False)
            path = out / "reference_trimesh.ply"
            path.write_bytes(data)
            return path

        ref, t_ref, c_ref = timed(reference)
        ours_plain, t_plain, c_plain = timed(lambda: export_mesh(out / "plain.ply", mesh, texture=False))
        print(
            f"ref   trimesh export_ply     {t_ref:6.2f} s wall {c_ref:6.2f} s cpu  {size_mb([ref]):7.1f} MB "
            "(vertex colours, no texture)"
        )
        print(
            f"ours  same content           {t_plain:6.2f} s wall {c_plain:6.2f} s cpu  "
            f"{size_mb(ours_plain[:1]):7.1f} MB   ratio ref/ours {t_ref / t_plain:5.1f}x wall, "
            f"{c_ref / max(c_plain, 1e-9):5.1f}x cpu"
        )
    tmpdir.cleanup()


if __name__ == "__main__":
    main()
