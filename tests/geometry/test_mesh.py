"""Grid meshes: geometry accuracy, the discontinuity rule, simplification, panoramas."""

from __future__ import annotations

import numpy as np
import pytest

from depthforge.core.errors import ValidationError
from depthforge.core.intrinsics import Intrinsics
from depthforge.geometry.mesh import mesh_from_depth, stride_for_target
from tests.geometry.scenes import sphere, tilted_plane, two_planes

K = Intrinsics(300.0, 300.0, 63.5, 47.5, 128, 96)


def test_tilted_plane_vertices_fit_within_a_thousandth_of_the_distance() -> None:
    z, n, p0 = tilted_plane(K, distance=2.0, tilt_deg=30.0)
    mesh = mesh_from_depth(z, kind="metric", intrinsics=K)
    dist = np.abs((mesh.vertices.astype(np.float64) - p0) @ n)
    rel = dist / np.linalg.norm(mesh.vertices.astype(np.float64), axis=1)
    assert rel.max() < 1e-3, rel.max()
    assert mesh.n_vertices == 128 * 96 and mesh.n_faces == 2 * 127 * 95  # nothing dropped on a smooth plane
    # every face faces the camera: normal . view ray < 0
    v = mesh.vertices.astype(np.float64)[mesh.faces]
    fn = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    assert (np.einsum("ij,ij->i", fn, v.mean(axis=1)) < 0).all()


def test_sphere_radius_within_half_a_percent() -> None:
    z, c, r = sphere(K)
    mesh = mesh_from_depth(z, kind="metric", intrinsics=K)
    radii = np.linalg.norm(mesh.vertices.astype(np.float64) - c, axis=1)
    assert np.abs(radii / r - 1).max() < 5e-3
    # least-squares sphere fit: |p|^2 = 2 c.p + (r^2 - |c|^2)
    p = mesh.vertices.astype(np.float64)
    a = np.c_[2 * p, np.ones(len(p))]
    sol, *_ = np.linalg.lstsq(a, (p**2).sum(1), rcond=None)
    r_fit = np.sqrt(sol[3] + sol[:3] @ sol[:3])
    assert abs(r_fit / r - 1) < 5e-3


@pytest.mark.parametrize("rule", [{"max_angle_deg": 87.0}, {"max_angle_deg": None, "max_jump": 0.1}])
def test_no_triangle_joins_two_planes(rule: dict) -> None:
    z = two_planes(60, 80, near=1.0, far=3.0)
    mesh = mesh_from_depth(z, kind="metric", intrinsics=Intrinsics.default((60, 80)), **rule)
    fz = mesh.vertices[mesh.faces][:, :, 2]
    joins = (fz.min(axis=1) < 2.0) & (fz.max(axis=1) > 2.0)
    assert not joins.any()
    assert mesh.n_faces == 2 * 59 * 79 - 2 * 59  # only the column of quads across the edge is dropped


def test_without_a_rule_the_planes_would_be_joined() -> None:
    z = two_planes(60, 80)
    mesh = mesh_from_depth(z, kind="metric", intrinsics=Intrinsics.default((60, 80)), max_angle_deg=None)
    fz = mesh.vertices[mesh.faces][:, :, 2]
    assert ((fz.min(axis=1) < 2.0) & (fz.max(axis=1) > 2.0)).sum() == 2 * 59


def test_target_vertices_and_colours_and_uvs() -> None:
    z, _, _ = tilted_plane(K)
    img = np.random.default_rng(0).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    mesh = mesh_from_depth(z, kind="metric", intrinsics=K, image=img, target_vertices=500)
    assert 250 <= mesh.n_vertices <= 500
    x, y = mesh.pixels[:, 0], mesh.pixels[:, 1]
    np.testing.assert_array_equal(mesh.colors, img[y, x])
    np.testing.assert_allclose(mesh.uv[:, 0], (x + 0.5) / 128)
    np.testing.assert_allclose(mesh.uv[:, 1], 1 - (y + 0.5) / 96)
    assert {0, 127} <= set(x.tolist()) and {0, 95} <= set(y.tolist())  # covers the whole image
    assert stride_for_target(np.ones((96, 128), bool), 10**9) == 1
    # a cap, not a replacement: a stride asked for stays (user trial 4: photo3d --stride 4 made a 1 px grid)
    from depthforge.geometry.layered import layer_grid

    fine = mesh_from_depth(z, kind="metric", intrinsics=K, stride=4, target_vertices=10**6)
    assert set(np.diff(np.unique(fine.pixels[:, 0]))[:-1].tolist()) == {4}
    assert mesh_from_depth(z, kind="metric", intrinsics=K, stride=2, target_vertices=500).n_vertices <= 500
    assert layer_grid((96, 128), stride=4, target_vertices=10**6)[2] == 4
    assert layer_grid((96, 128), stride=1, target_vertices=500)[2] == stride_for_target(np.ones((96, 128), bool), 500)


def test_invalid_pixels_are_holes_and_all_invalid_is_an_error() -> None:
    z = np.full((20, 30), 2.0, np.float32)
    z[5:10, 5:10] = np.nan
    z[0, 0] = -1.0
    mesh = mesh_from_depth(z, kind="metric", intrinsics=Intrinsics.default((20, 30)))
    assert mesh.n_vertices == 600 - 25 - 1 and np.isfinite(mesh.vertices).all()
    with pytest.raises(ValidationError, match="no valid pixel"):
        mesh_from_depth(np.full((5, 5), np.nan), kind="metric", intrinsics=Intrinsics.default((5, 5)))
    with pytest.raises(ValidationError, match="image: size 4x4 does not match depth size 30x20"):
        mesh_from_depth(z, kind="metric", intrinsics=Intrinsics.default((20, 30)), image=np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValidationError, match="kind: an array as depth needs kind="):
        mesh_from_depth(z)


def test_equirect_sphere_of_constant_radius_is_closed_at_the_seam() -> None:
    r = np.full((32, 64), 5.0, np.float32)
    img = np.zeros((32, 64, 3), np.uint8)
    mesh = mesh_from_depth(r, kind="metric", image=img, equirect=True)
    np.testing.assert_allclose(np.linalg.norm(mesh.vertices, axis=1), 5.0, rtol=1e-5)
    assert mesh.n_vertices == 32 * 65  # seam column duplicated for the texture
    assert mesh.n_faces == 2 * 31 * 64  # every quad, including across the seam
    assert mesh.uv[:, 0].max() == pytest.approx(64.5 / 64)


def _naive_faces(points: np.ndarray, max_angle_deg: float) -> set[tuple[tuple[int, int], ...]]:
    """Per-quad Python loop: the documented rule, written as plainly as possible; triangles as their pixels (x, y)."""
    h, w = points.shape[:2]
    valid = np.isfinite(points).all(axis=2)
    out = set()
    for r in range(h - 1):
        for c in range(w - 1):
            a, b, cc, d = (r, c), (r, c + 1), (r + 1, c), (r + 1, c + 1)
            ray = points[b].astype(np.float64) + points[cc]
            for tri in ((a, cc, b), (b, cc, d)):
                if not all(valid[t] for t in tri):
                    continue
                p0, p1, p2 = (points[t].astype(np.float64) for t in tri)
                n = np.cross(p1 - p0, p2 - p0)
                cos = abs(n @ ray) / (np.linalg.norm(n) * np.linalg.norm(ray))
                if cos >= np.cos(np.radians(max_angle_deg)):
                    out.add(tuple((t[1], t[0]) for t in tri))
    return out


def test_vectorised_rules_match_a_naive_loop_across_bands() -> None:
    from depthforge.geometry.mesh import grid_mesh
    from depthforge.geometry.projection import unproject

    rng = np.random.default_rng(5)
    h, w = 150, 11  # more rows than one band
    k = Intrinsics(40.0, 45.0, 4.0, 70.0, w, h)
    z = (2.0 + 0.02 * rng.standard_normal((h, w))).astype(np.float32)
    z[40:90, 6:] = 5.0  # a step
    z[rng.random((h, w)) < 0.05] = np.nan  # scattered holes
    z[100:, :] += np.linspace(0, 3, w, dtype=np.float32)[None, :]  # a steep slope, partly past 87 deg
    pts = unproject(z, k)
    expected = _naive_faces(pts, 87.0)
    generic = grid_mesh(pts, max_angle_deg=87.0)
    pinhole = grid_mesh(pts, max_angle_deg=87.0, intrinsics=k)
    got_generic = {tuple(tuple(generic.pixels[i].tolist()) for i in f) for f in generic.faces}
    got_pinhole = {tuple(tuple(pinhole.pixels[i].tolist()) for i in f) for f in pinhole.faces}
    # drop_unused_vertices keeps the same triangles (by pixel) and only vertices they use (user trial 4: unused ones
    # widened a 3D photo's bounds); the input mesh is left as it was
    from depthforge.geometry.mesh import drop_unused_vertices

    faces_before = generic.faces.copy()
    lean = drop_unused_vertices(generic)
    assert np.array_equal(generic.faces, faces_before) and lean.n_vertices < generic.n_vertices
    assert np.array_equal(np.unique(lean.faces), np.arange(lean.n_vertices))
    assert {tuple(tuple(lean.pixels[i].tolist()) for i in f) for f in lean.faces} == expected
    np.testing.assert_array_equal(lean.vertices, generic.vertices[np.unique(generic.faces)])
    assert len(expected) > 1000
    assert got_generic == expected
    # the closed form measures the angle at the ray through the diagonal's middle pixel, the loop at b + c:
    # a handful of triangles within a hair of 87 degrees may differ
    assert len(got_pinhole ^ expected) <= 0.002 * len(expected)
