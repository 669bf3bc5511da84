"""Accuracy figures of the 3D module on analytic scenes and the Middlebury cones pair (the acceptance numbers).

The tests in ``tests/geometry`` assert these; this script prints the measured values.
Run: ``PYTHONPATH=. .venv/bin/python benchmarks/geometry_accuracy.py``
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tests.geometry.scenes import sphere, tilted_plane, two_planes

from depthforge.core.depthmap import DepthMap
from depthforge.core.intrinsics import Intrinsics
from depthforge.geometry.mesh import mesh_from_depth
from depthforge.geometry.normals import depth_to_normals, encode_normals
from depthforge.geometry.pointcloud import pointcloud_from_depth
from depthforge.geometry.projection import pixel_grid, project, unproject

CONES = Path(__file__).resolve().parents[2] / "shared" / "data" / "middlebury-cones"


def main() -> None:
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(50):
        h, w = int(rng.integers(20, 200)), int(rng.integers(20, 200))
        k = Intrinsics(
            float(rng.uniform(20, 5000)),
            float(rng.uniform(20, 5000)),
            float(rng.uniform(0, w)),
            float(rng.uniform(0, h)),
            w,
            h,
        )
        z = rng.uniform(0.05, 1000.0, size=(h, w)).astype(np.float32)
        uv = project(unproject(z, k), k)
        u, v = pixel_grid((h, w))
        worst = max(worst, float(np.abs(uv[..., 0] - u).max()), float(np.abs(uv[..., 1] - v).max()))
    print(f"round trip unproject->project, 50 random cameras/depth maps: max error {worst:.2e} px (target 1e-3)")

    k = Intrinsics(300.0, 310.0, 61.3, 44.8, 128, 96)
    for axis in ("x", "y"):
        z, n_true, p0 = tilted_plane(k, distance=2.0, tilt_deg=30.0, axis=axis)
        n = depth_to_normals(z, kind="metric", intrinsics=k)[2:-2, 2:-2].astype(np.float64)
        err = np.degrees(np.arccos(np.clip(n @ n_true, -1, 1))).max()
        mesh = mesh_from_depth(z, kind="metric", intrinsics=k)
        vtx = mesh.vertices.astype(np.float64)
        fit = (np.abs((vtx - p0) @ n_true) / np.linalg.norm(vtx, axis=1)).max()
        print(
            f"plane at 2 m tilted 30 deg about {axis}: normal error max {err:.4f} deg outside a 2-px border "
            f"(target 0.5); mesh vertex distance to plane max {100 * fit:.1e} % of distance (target 0.1 %)"
        )

    z, c, r = sphere(k)
    p = mesh_from_depth(z, kind="metric", intrinsics=k).vertices.astype(np.float64)
    radii = np.linalg.norm(p - c, axis=1)
    a = np.c_[2 * p, np.ones(len(p))]
    sol, *_ = np.linalg.lstsq(a, (p**2).sum(1), rcond=None)
    r_fit = float(np.sqrt(sol[3] + sol[:3] @ sol[:3]))
    print(
        f"sphere r={r} m at 3 m: vertex radius error max {100 * np.abs(radii / r - 1).max():.1e} %, "
        f"least-squares fit radius error {100 * abs(r_fit / r - 1):.1e} % (target 0.5 %)"
    )

    flat = np.full((40, 50), 2.0, np.float32)
    enc = encode_normals(depth_to_normals(flat, kind="metric", intrinsics=Intrinsics.default((40, 50))))
    values = {tuple(int(x) for x in px) for px in enc.reshape(-1, 3)}
    print(f"fronto-parallel plane encodes to {sorted(values)} (target (128, 128, 255))")

    z = two_planes(60, 80)
    for rule in ({"max_angle_deg": 87.0}, {"max_angle_deg": None, "max_jump": 0.1}, {"max_angle_deg": None}):
        mesh = mesh_from_depth(z, kind="metric", intrinsics=Intrinsics.default((60, 80)), **rule)
        fz = mesh.vertices[mesh.faces][:, :, 2]
        joins = int(((fz.min(1) < 2) & (fz.max(1) > 2)).sum())
        print(f"two planes 1 m / 3 m, rule {rule}: {joins} triangles join them ({mesh.n_faces} kept)")

    if (CONES / "disp2.png").exists():
        from PIL import Image

        raw = np.asarray(Image.open(CONES / "disp2.png")).astype(np.float32)
        disp = np.where(raw > 0, raw / 4.0, np.nan).astype(np.float32)
        h, w = disp.shape
        kc = Intrinsics(450.0, 450.0, (w - 1) / 2, (h - 1) / 2, w, h)
        cloud = pointcloud_from_depth(DepthMap(disp, kind="disparity", intrinsics=kc, baseline_m=0.16))
        err = float(np.abs(project(cloud.points, kc) - cloud.pixels).max())
        print(f"cones (assumed f=450 px, B=0.16 m): {len(cloud)} points, reprojection error max {err:.2e} px")


if __name__ == "__main__":
    main()
