"""Layered meshes: triangulation rules, and every layer round-trips through trimesh from GLB and PLY."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest

from depthforge.core.errors import ValidationError
from depthforge.core.intrinsics import Intrinsics
from depthforge.geometry.export import to_viewer_frame
from depthforge.geometry.layered import LayeredMesh, export_layered, layer_name, layered_mesh

H, W = 48, 64
K = Intrinsics.from_fov((H, W), fov_deg=60)
BOX = (slice(14, 34), slice(20, 44))  # the near box's pixels


def _layers() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Far layer: a wall with a step (z 5 on the left, 8 on the right); near layer: a box at z 2 (alpha 255 on
    the box, 0 elsewhere, depth extended everywhere)."""
    rng = np.random.default_rng(3)
    far = np.dstack([rng.integers(0, 256, (H, W, 3), dtype=np.uint8), np.full((H, W), 255, np.uint8)])
    z_far = np.full((H, W), 5.0, np.float32)
    z_far[:, W // 2 :] = 8.0
    near = np.dstack([rng.integers(0, 256, (H, W, 3), dtype=np.uint8), np.zeros((H, W), np.uint8)])
    near[(*BOX, 3)] = 255
    z_near = np.full((H, W), 2.0, np.float32)
    return [far, near], [z_far, z_near]


@pytest.fixture(scope="module")
def lm() -> LayeredMesh:
    images, depths = _layers()
    return layered_mesh(images, depths, intrinsics=K)


def test_names_order_and_ranges(lm: LayeredMesh) -> None:
    assert [L.name for L in lm.layers] == ["layer_0_far", "layer_1_near"]
    assert layer_name(1, 3) == "layer_1_mid"
    assert lm.layers[0].z_range == (5.0, 8.0)
    assert lm.layers[1].z_range == (2.0, 2.0)
    assert lm.centre_z == 2.0  # the box covers the centre pixel
    hfov, vfov = lm.fov_rad
    assert math.isclose(hfov, math.radians(60), rel_tol=1e-9)
    assert math.isclose(vfov, 2 * math.atan(H / (2 * K.fy)), rel_tol=1e-12)


def test_counts_follow_the_coverage(lm: LayeredMesh) -> None:
    far, near = lm.layers
    assert far.mesh.n_vertices == H * W
    # the step column pair loses its quads (two triangles per row of quads), nothing else
    assert far.mesh.n_faces == 2 * (H - 1) * (W - 1) - 2 * (H - 1)
    # the box dilated by the stride (1 px): 22 x 26 vertices, all quads planar
    assert near.mesh.n_vertices == 22 * 26
    assert near.mesh.n_faces == 2 * 21 * 25
    assert int((near.alpha == 255).sum()) == 20 * 24 and int((near.alpha == 0).sum()) == 22 * 26 - 20 * 24
    assert near.box == (13, 35, 19, 45)
    assert near.texture.shape == (22, 26, 4)
    for layer in lm.layers:  # every vertex belongs to a triangle (user trial 4: unused ones widened the bounds)
        assert np.array_equal(np.unique(layer.mesh.faces), np.arange(layer.mesh.n_vertices))


def test_no_triangle_spans_the_jump_inside_a_layer(lm: LayeredMesh) -> None:
    far = lm.layers[0]
    zf = far.mesh.vertices[far.mesh.faces, 2]
    assert np.all((zf.max(axis=1) - zf.min(axis=1)) < 1e-6)


def test_vertices_unproject_their_pixels(lm: LayeredMesh) -> None:
    near = lm.layers[1]
    px = near.mesh.pixels
    assert px is not None
    v = near.mesh.vertices
    np.testing.assert_allclose(v[:, 0], (px[:, 0] - K.cx) * 2.0 / K.fx, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(v[:, 1], (px[:, 1] - K.cy) * 2.0 / K.fy, rtol=1e-6, atol=1e-6)
    # uv into the cropped texture: the texel at (u, v) is the vertex's own colour and alpha
    tex = near.texture
    uv = near.mesh.uv
    assert uv is not None
    cols = np.floor(uv[:, 0] * tex.shape[1]).astype(int)
    rows = np.floor((1 - uv[:, 1]) * tex.shape[0]).astype(int)
    np.testing.assert_array_equal(tex[rows, cols], near.rgba())


def test_stride_keeps_every_opaque_pixel_covered() -> None:
    import cv2

    images, depths = _layers()
    lm = layered_mesh(images, depths, intrinsics=K, target_vertices=400)
    assert lm.stride == 3  # the smallest whose grid fits: 17 x 22 = 374 points (stride 2: 25 x 33 = 825)
    near = lm.layers[1]
    covered = np.zeros((H, W), np.uint8)
    assert near.mesh.pixels is not None
    for tri in near.mesh.pixels[near.mesh.faces]:
        cv2.fillPoly(covered, [tri.astype(np.int32)], 1)
    opaque = images[1][:, :, 3] > 0
    assert covered[opaque].all()
    assert lm.layers[0].mesh.n_vertices == 374


def _load(path: Path, **kw: object):
    import trimesh

    return trimesh.load(path, process=False, **kw)


def test_glb_round_trip(lm: LayeredMesh, tmp_path: Path) -> None:
    files = export_layered(tmp_path / "s.glb", lm, metadata={"units": "m", "depth_kind": "metric"})
    assert [f.name for f in files] == ["s.glb", "s.glb.json"]
    scene = _load(files[0])
    assert sorted(scene.graph.nodes_geometry) == ["layer_0_far", "layer_1_near"]
    for L in lm.layers:
        g = scene.geometry[L.name]
        assert (len(g.vertices), len(g.faces)) == (L.mesh.n_vertices, L.mesh.n_faces)
        np.testing.assert_allclose(g.vertices, to_viewer_frame(L.mesh.vertices), atol=1e-6)
        np.testing.assert_array_equal(g.faces, L.mesh.faces)
        mat = g.visual.material
        opaque = bool((L.texture[:, :, 3] == 255).all())  # written as RGB
        assert mat.alphaMode == "MASK" and mat.baseColorTexture.mode == ("RGB" if opaque else "RGBA")
        np.testing.assert_array_equal(np.asarray(mat.baseColorTexture), L.texture[:, :, : 3 if opaque else 4])
        np.testing.assert_allclose(g.visual.uv, L.mesh.uv, atol=1e-6)
    assert scene.has_camera
    import pygltflib

    gl = pygltflib.GLTF2().load(str(files[0]))
    assert [n.name for n in gl.nodes] == ["layer_0_far", "layer_1_near", "photo"]
    cam = gl.cameras[0].perspective
    assert math.isclose(cam.yfov, lm.fov_rad[1], rel_tol=1e-6)
    assert math.isclose(cam.aspectRatio, math.tan(lm.fov_rad[0] / 2) / math.tan(lm.fov_rad[1] / 2), rel_tol=1e-6)
    assert "KHR_materials_unlit" in gl.extensionsUsed
    raw = files[0].read_bytes()
    assert struct.unpack_from("<4sII", raw) == (b"glTF", 2, len(raw))
    assert all(v.byteOffset % 4 == 0 for v in gl.bufferViews)
    positions = [gl.accessors[m.primitives[0].attributes.POSITION] for m in gl.meshes]
    assert [a.min[2] for a in positions] == pytest.approx([-8.0, -2.0])  # viewer frame: z toward the viewer
    side = json.loads(files[1].read_text())
    assert side["units"] == "m" and side["frame"].startswith("x right, y up")
    assert [(d["name"], d["z_near"], d["z_far"]) for d in side["layers"]] == [
        ("layer_0_far", 5.0, 8.0),
        ("layer_1_near", 2.0, 2.0),
    ]
    assert side["camera"]["size_hw"] == [H, W] and math.isclose(side["camera"]["hfov_deg"], 60.0)


def _a1111_header(path: Path) -> tuple[dict[str, float], int]:
    """The header as the A1111 extension's reader takes it: the file opened as UTF-8 text ignoring errors, lines
    read up to ``end_header``, a comment's name is ``line.split(' ')[1]`` and its value the last field, and the
    binary data starts at the text stream's ``tell()``."""
    values: dict[str, float] = {}
    with open(path, encoding="utf8", errors="ignore") as fh:
        while True:
            line = fh.readline().split("\n")[0]
            parts = line.split(" ")
            if line.startswith("comment") and parts[1] in ("H", "W", "hFov", "vFov", "meanLoc"):
                values[parts[1]] = float(parts[-1])
            elif line.startswith("end_header"):
                return values, fh.tell()


@pytest.mark.parametrize("frame", ["camera", "viewer"])
def test_ply_round_trip(lm: LayeredMesh, tmp_path: Path, frame: str) -> None:
    files = export_layered(tmp_path / "s.ply", lm, ply_frame=frame)
    m = _load(files[0])
    n = [L.mesh.n_vertices for L in lm.layers]
    assert len(m.vertices) == sum(n) and len(m.faces) == sum(L.mesh.n_faces for L in lm.layers)
    verts = np.concatenate([L.mesh.vertices for L in lm.layers])
    np.testing.assert_allclose(m.vertices, verts if frame == "camera" else to_viewer_frame(verts), atol=1e-6)
    np.testing.assert_array_equal(m.visual.vertex_colors, np.concatenate([L.rgba() for L in lm.layers]))
    np.testing.assert_array_equal(m.faces[-lm.layers[1].mesh.n_faces :], lm.layers[1].mesh.faces + n[0])
    values, start = _a1111_header(files[0])
    assert start == files[0].read_bytes().index(b"end_header\n") + len(b"end_header\n")
    assert values == {"H": H, "W": W, "hFov": lm.fov_rad[0], "vFov": lm.fov_rad[1], "meanLoc": 2.0}
    # the extension's binary reader: 16-byte vertices 'fffBBBB', then faces as a count byte + 'III'
    raw = files[0].read_bytes()
    *_, r, g, b, a = struct.unpack_from("<fffBBBB", raw, start + 16 * (sum(n) - 1))
    assert (r, g, b, a) == tuple(lm.layers[1].rgba()[-1])
    first_face = struct.unpack_from("<BIII", raw, start + 16 * sum(n))
    assert first_face == (3, *lm.layers[0].mesh.faces[0])
    assert json.loads(files[1].read_text())["frame"].startswith("OpenCV" if frame == "camera" else "x right, y up")


def test_bad_input(tmp_path: Path, lm: LayeredMesh) -> None:
    images, depths = _layers()
    with pytest.raises(ValidationError, match="images"):
        layered_mesh(images, depths[:1], intrinsics=K)
    with pytest.raises(ValidationError, match="depths\\[1\\]"):
        layered_mesh(images, [depths[0], depths[1][:10]], intrinsics=K)
    with pytest.raises(ValidationError, match="intrinsics"):
        layered_mesh(images, depths, intrinsics=Intrinsics.default((H + 1, W)))
    with pytest.raises(ValidationError, match="no surface left"):
        layered_mesh(images, [np.full((H, W), np.nan, np.float32)] * 2, intrinsics=K)
    with pytest.raises(ValidationError, match="format"):
        export_layered(tmp_path / "s.obj", lm)
    assert not list(tmp_path.iterdir())


def test_a_stride_beyond_the_photo_is_refused_by_name() -> None:
    # fuzz seed 25: photo3d --stride 999...9 (30 digits) made an object array of indices and an internal error
    from depthforge.geometry.layered import layer_grid

    rows, cols, _ = layer_grid((10, 12), stride=12)
    assert rows.tolist() == [0, 9] and cols.tolist() == [0, 11]
    with pytest.raises(ValidationError, match="^stride"):
        layer_grid((10, 12), stride=10**30)
