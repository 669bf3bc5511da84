"""Reliefs for 3D printing: a closed solid of the right size and volume, upright, the same for every depth kind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import ValidationError
from depthforge.geometry.export import export_mesh, to_viewer_frame
from depthforge.geometry.relief import MAX_RELIEF_VERTICES, check_relief_options, relief_from_depth
from tests.conftest import cones_disparity


def _solid(mesh):  # type: ignore[no-untyped-def]
    import trimesh

    return trimesh.Trimesh(to_viewer_frame(mesh.vertices), mesh.faces, process=False)


def _top(mesh, rows: int, cols: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Heights of the top grid (print frame z), rows top to bottom of the photo."""
    return to_viewer_frame(mesh.vertices[: rows * cols])[:, 2].reshape(rows, cols)


def test_a_ramp_is_a_closed_solid_of_the_exact_volume_and_size() -> None:
    # disparity rising left to right: nearness 0..1 along x, so the top is a plane from base to base + relief
    ramp = np.tile(np.linspace(1.0, 2.0, 81, dtype=np.float32), (61, 1))
    mesh = relief_from_depth(ramp, kind="disparity", width_mm=40, resolution_mm=0.5, base_mm=1.5, relief_mm=6)
    solid = _solid(mesh)
    assert solid.is_watertight and solid.is_winding_consistent and solid.is_volume  # outward, closed, manifold
    assert solid.euler_number == 2  # one solid without handles
    rows, cols = check_relief_options((61, 81), width_mm=40, resolution_mm=0.5)
    assert (rows, cols) == (61, 81)
    lo, hi = solid.bounds
    np.testing.assert_allclose(lo, [0, 0, 0], atol=1e-5)
    np.testing.assert_allclose(hi, [40, 40 * 61 / 81, 7.5], atol=1e-4)  # the photo's aspect, exactly
    assert solid.volume == pytest.approx(40 * (40 * 61 / 81) * (1.5 + 6 / 2), rel=1e-5)
    top = _top(mesh, rows, cols)
    np.testing.assert_allclose(top[0], np.linspace(1.5, 7.5, cols), atol=1e-4)  # far on the left, near on the right


def test_the_photo_reads_upright_from_above_and_near_is_high() -> None:
    z = np.full((40, 60), 3.0, np.float32)
    z[:10, :15] = 1.0  # a near block in the photo's top-left corner
    mesh = relief_from_depth(z, kind="metric", width_mm=60, resolution_mm=1)
    v = to_viewer_frame(mesh.vertices)
    high = v[v[:, 2] > 11.9]  # base 2 + relief 10
    assert high[:, 0].max() < 16 and high[:, 1].min() > 39 - 10 - 1  # left, and at the top (y up the photo)
    inverted = to_viewer_frame(relief_from_depth(z, kind="metric", width_mm=60, resolution_mm=1, invert=True).vertices)
    np.testing.assert_allclose(inverted[: 40 * 60, 2], 14.0 - v[: 40 * 60, 2], atol=1e-5)  # a mould of the same


def test_every_kind_of_the_same_scene_gives_the_same_relief() -> None:
    rng = np.random.default_rng(1)
    z = (1.0 + 4.0 * rng.random((5, 7))).astype(np.float32)
    z = np.kron(z, np.ones((8, 8), np.float32))  # blocks at 1-5 m
    metric = relief_from_depth(DepthMap(z, kind="metric"), width_mm=50, resolution_mm=1)
    relative = relief_from_depth(DepthMap(0.37 / z + 0.2, kind="relative"), width_mm=50, resolution_mm=1)
    disparity = relief_from_depth(DepthMap(120.0 / z, kind="disparity"), width_mm=50, resolution_mm=1)
    np.testing.assert_allclose(relative.vertices, metric.vertices, atol=1e-4)
    np.testing.assert_allclose(disparity.vertices, metric.vertices, atol=1e-4)


def test_holes_are_filled_by_default_and_pits_without_fill() -> None:
    z = np.full((50, 50), 2.0, np.float32)
    z[:, 25:] = 1.0
    z[20:30, 5:15] = np.nan  # a hole inside the far half
    filled = _top(relief_from_depth(z, kind="metric", width_mm=49, resolution_mm=1), 50, 50)
    assert filled[20:30, 5:15] == pytest.approx(2.0)  # the far level, not a pit below it
    pits = _top(relief_from_depth(z, kind="metric", width_mm=49, resolution_mm=1, fill=False), 50, 50)
    assert pits[20:30, 5:15] == pytest.approx(2.0) and pits[0, 40] == pytest.approx(12.0)
    z[:10] = np.nan  # a hole that touches the near half: filled from the background, not bridged up
    top = _top(relief_from_depth(z, kind="metric", width_mm=49, resolution_mm=1), 50, 50)
    assert np.isfinite(top).all() and top.min() >= 2.0 - 1e-5


def test_colours_follow_the_photo_and_the_smoothing_keeps_the_volume() -> None:
    ramp = np.tile(np.linspace(1.0, 2.0, 64, dtype=np.float32), (48, 1))
    image = np.zeros((48, 64, 3), np.uint8)
    image[..., 0] = np.arange(64, dtype=np.uint8)[None] * 4
    mesh = relief_from_depth(ramp, kind="disparity", image=image, width_mm=63, resolution_mm=1)
    assert mesh.colors is not None and mesh.colors.shape == (mesh.n_vertices, 3)
    np.testing.assert_array_equal(mesh.colors[:64, 0], image[0, :, 0])
    smooth = relief_from_depth(ramp, kind="disparity", width_mm=63, resolution_mm=1, smooth_mm=3)
    assert _solid(smooth).volume == pytest.approx(_solid(mesh).volume, rel=1e-3)  # a plane stays a plane
    with pytest.raises(ValidationError, match="image"):
        relief_from_depth(ramp, kind="disparity", image=image[:40])


def test_options_are_refused_with_their_names() -> None:
    for options, name in (
        ({"relief_mm": 0}, "relief_mm"),
        ({"base_mm": -1}, "base_mm"),
        ({"width_mm": float("nan")}, "width_mm"),
        ({"smooth_mm": 500}, "smooth_mm"),
        ({"resolution_mm": 0}, "resolution_mm"),
        ({"resolution_mm": 0.001}, "resolution_mm"),  # a grid far beyond MAX_RELIEF_VERTICES
        ({"width_mm": 1e300}, "width_mm"),
        ({"width_mm": 9000, "resolution_mm": 1e-300}, "resolution_mm"),  # no overflow on the way (review)
    ):
        with pytest.raises(ValidationError, match=f"^{name}"):
            check_relief_options((3000, 4000), **options)  # type: ignore[arg-type]
    rows, cols = check_relief_options((3000, 4000), width_mm=200, resolution_mm=0.1)  # the largest: 0.1 mm
    assert rows * cols <= MAX_RELIEF_VERTICES
    with pytest.raises(ValidationError, match="^depth: no valid value"):
        relief_from_depth(np.full((4, 5), np.nan), kind="metric")


def test_a_coarse_grid_keeps_the_photo_s_size_and_a_flat_map_is_said(caplog: pytest.LogCaptureFixture) -> None:
    z = np.full((300, 400), 2.0, np.float32)
    for resolution in (1000.0, 5.0):  # one cell, or cells that do not divide the length: 100 x 75 mm all the same
        with caplog.at_level("INFO", logger="depthforge"):
            extents = _solid(relief_from_depth(z, kind="metric", resolution_mm=resolution)).extents
        np.testing.assert_allclose(extents, [100, 75, 7], atol=1e-4)
    assert "one value over the whole photo" in caplog.text


def test_stl_round_trip_of_the_cones_is_watertight(tmp_path: Path, cones: Path) -> None:
    import trimesh

    disparity = DepthMap(cones_disparity(cones), kind="disparity")  # 450x375, with occlusion holes
    mesh = relief_from_depth(disparity, width_mm=90, resolution_mm=0.5)
    files = export_mesh(tmp_path / "cones.stl", mesh, metadata={"units": "mm"})
    loaded = trimesh.load(files[0])  # an STL repeats each triangle's corners: merged on loading
    assert loaded.is_watertight and loaded.is_volume and len(loaded.faces) == mesh.n_faces
    assert loaded.volume == pytest.approx(_solid(mesh).volume, rel=1e-5)
    top = _top(mesh, 151, 181)
    assert (top < 2.0 + 0.05).mean() < 0.001  # the occlusions are filled, not printed as pits to the base


def test_the_grid_spans_the_whole_relief_after_averaging_and_smoothing() -> None:
    z = np.full((200, 300), 4.0, np.float32)
    z[100:104, 150:154] = 1.0  # a near spike of 4 x 4 pixels: averaged onto a 1-mm grid, then smoothed
    for smooth in (0.0, 2.0):
        mesh = relief_from_depth(z, kind="metric", width_mm=30, resolution_mm=1, smooth_mm=smooth)
        heights = to_viewer_frame(mesh.vertices)[:, 2]
        assert heights.max() == pytest.approx(12.0) and heights[heights > 0].min() == pytest.approx(2.0)
