"""Every exported file re-opens with trimesh (GLB also with pygltflib) with the right counts, colours and texture."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from depthforge.core.errors import ValidationError
from depthforge.core.intrinsics import Intrinsics
from depthforge.geometry.export import export_mesh, export_pointcloud, to_viewer_frame
from depthforge.geometry.mesh import Mesh, mesh_from_depth
from depthforge.geometry.pointcloud import pointcloud_from_depth
from tests.geometry.scenes import two_planes

H, W = 30, 40
K = Intrinsics.default((H, W))


@pytest.fixture(scope="module")
def scene() -> tuple[Mesh, np.ndarray]:
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    z = two_planes(H, W)
    z[3:6, 3:6] = np.nan
    return mesh_from_depth(z, kind="metric", intrinsics=K, image=img), img


def test_viewer_frame_is_a_rotation_about_x() -> None:
    a = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 5.0]])
    np.testing.assert_array_equal(to_viewer_frame(a), [[1, -2, -3], [0, 1, -5]])
    assert a[0, 1] == 2.0  # input untouched


def _load(path: Path):
    import trimesh

    return trimesh.load(path, process=False, force="mesh")


def test_ply_mesh(tmp_path: Path, scene: tuple[Mesh, np.ndarray]) -> None:
    mesh, _ = scene
    files = export_mesh(tmp_path / "m.ply", mesh, metadata={"metric": True})
    assert [f.name for f in files] == ["m.ply", "m_texture.png", "m.ply.json"]
    tm = _load(files[0])
    assert len(tm.vertices) == mesh.n_vertices and len(tm.faces) == mesh.n_faces
    np.testing.assert_allclose(tm.vertices, to_viewer_frame(mesh.vertices))
    np.testing.assert_array_equal(tm.faces, mesh.faces)
    assert np.asarray(tm.visual.material.image).shape == (H, W, 3)
    raw = tm.metadata["_ply_raw"]["vertex"]["data"]
    np.testing.assert_array_equal(np.stack([raw["red"], raw["green"], raw["blue"]], 1), mesh.colors)
    # viewer frame: faces point toward the viewer (+z) for fronto-parallel planes
    assert (tm.face_normals[:, 2] > 0.99).all()
    side = json.loads(files[2].read_text())
    assert side["metric"] is True and side["vertices"] == mesh.n_vertices and "y up" in side["frame"]


def test_ply_mesh_without_texture_keeps_vertex_colours(tmp_path: Path, scene: tuple[Mesh, np.ndarray]) -> None:
    mesh, _ = scene
    files = export_mesh(tmp_path / "c.ply", mesh, texture=False)
    tm = _load(files[0])
    assert len(tm.vertices) == mesh.n_vertices
    np.testing.assert_array_equal(tm.visual.vertex_colors[:, :3], mesh.colors)


def test_obj_mtl_png(tmp_path: Path, scene: tuple[Mesh, np.ndarray]) -> None:
    mesh, img = scene
    files = export_mesh(tmp_path / "m.obj", mesh)
    names = sorted(f.name for f in files)
    assert names == ["m.mtl", "m.obj", "m.obj.json", "m_texture.png"]
    tm = _load(tmp_path / "m.obj")
    assert len(tm.vertices) == mesh.n_vertices and len(tm.faces) == mesh.n_faces
    np.testing.assert_array_equal(np.asarray(tm.visual.material.image.convert("RGB")), img)
    np.testing.assert_allclose(tm.visual.uv, mesh.uv, atol=1e-6)


def test_glb_with_trimesh_and_pygltflib(tmp_path: Path, scene: tuple[Mesh, np.ndarray]) -> None:
    import io

    import pygltflib
    from PIL import Image

    mesh, img = scene
    files = export_mesh(tmp_path / "m.glb", mesh, metadata={"metric": True})
    tm = _load(files[0])
    assert len(tm.vertices) == mesh.n_vertices and len(tm.faces) == mesh.n_faces
    assert np.asarray(tm.visual.material.baseColorTexture).shape[:2] == (H, W)

    g = pygltflib.GLTF2().load_binary(str(files[0]))
    prim = g.meshes[0].primitives[0]
    assert g.accessors[prim.attributes.POSITION].count == mesh.n_vertices
    assert g.accessors[prim.indices].count == 3 * mesh.n_faces
    assert prim.attributes.TEXCOORD_0 is not None
    tex = g.materials[prim.material].pbrMetallicRoughness.baseColorTexture
    assert tex is not None
    image = g.images[g.textures[tex.index].source]
    blob = g.binary_blob()
    view = g.bufferViews[image.bufferView]
    png = Image.open(io.BytesIO(blob[view.byteOffset or 0 : (view.byteOffset or 0) + view.byteLength]))
    np.testing.assert_array_equal(np.asarray(png.convert("RGB")), img)
    # glTF UVs have their origin top-left: v = (y + 0.5) / H for the vertex made from pixel row y
    acc = g.accessors[prim.attributes.TEXCOORD_0]
    bv = g.bufferViews[acc.bufferView]
    start = (bv.byteOffset or 0) + (acc.byteOffset or 0)
    uv = np.frombuffer(blob, dtype="<f4", count=2 * acc.count, offset=start).reshape(-1, 2)
    np.testing.assert_allclose(uv[:, 1], (mesh.pixels[:, 1] + 0.5) / H, atol=1e-6)


def test_pointcloud_ply_with_colours_and_normals(tmp_path: Path) -> None:
    import trimesh

    img = np.random.default_rng(2).integers(0, 256, (H, W, 3), dtype=np.uint8)
    z = np.full((H, W), 2.0, np.float32)
    z[0, :5] = np.nan
    cloud = pointcloud_from_depth(z, kind="metric", intrinsics=K, image=img, with_normals=True)
    assert len(cloud) == H * W - 5
    files = export_pointcloud(tmp_path / "p.ply", cloud, metadata={"metric": True})
    pc = trimesh.load(files[0], process=False)
    assert len(pc.vertices) == len(cloud)
    np.testing.assert_array_equal(pc.colors[:, :3], cloud.colors)
    raw = pc.metadata["_ply_raw"]["vertex"]["data"]
    np.testing.assert_allclose(np.stack([raw["nx"], raw["ny"], raw["nz"]], 1), [[0, 0, 1]] * len(cloud), atol=1e-6)
    with pytest.raises(ValidationError, match=r"\.ply"):
        export_pointcloud(tmp_path / "p.obj", cloud)


def test_unknown_format(tmp_path: Path, scene: tuple[Mesh, np.ndarray]) -> None:
    with pytest.raises(ValidationError, match="unknown mesh format"):
        export_mesh(tmp_path / "m.fbx", scene[0])
