"""Layered 3D photo pipeline: a box in front of a textured wall, through layers, meshes and files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import ValidationError
from depthforge.core.intrinsics import Intrinsics
from depthforge.pipeline.layered_photo import Photo3DOptions, photo3d, render_scene_video

H, W = 72, 96
BOX = (slice(24, 48), slice(32, 64))
WALL_M, BOX_M = 6.0, 2.0


@pytest.fixture(scope="module")
def scene_input() -> tuple[np.ndarray, DepthMap, Intrinsics]:
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    z = np.full((H, W), WALL_M, np.float32)
    z[BOX] = BOX_M
    return image, DepthMap(z, kind="metric"), Intrinsics.from_fov((H, W), fov_deg=50)


def _paint(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = image.copy()
    out[mask] = (10, 200, 30)
    return out


def test_glb_layers_depths_and_inpaint(scene_input, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import trimesh

    image, depth, intr = scene_input
    options = Photo3DOptions(inpaint=_paint)
    result = photo3d(image, depth, tmp_path / "s.glb", options=options, intrinsics=intr)
    lm = result.mesh
    assert [L.name for L in lm.layers] == ["layer_0_far", "layer_1_near"]
    far, near = lm.layers
    # metric depth is kept exactly: the wall at 6 m behind the box at 2 m
    assert far.z_range == pytest.approx((WALL_M, WALL_M)) and near.z_range == pytest.approx((BOX_M, BOX_M))
    assert lm.centre_z == pytest.approx(BOX_M)
    # the near layer is opaque exactly on the box
    assert int((near.alpha == 255).sum()) == 24 * 32
    # the wall behind the box is the inpainter's colour (its middle, away from the fill margin)
    tex = far.texture
    y0, _, x0, _ = far.box
    assert tuple(tex[36 - y0, 48 - x0, :3]) == (10, 200, 30) and tex[36 - y0, 48 - x0, 3] == 255
    # no triangle of the wall layer is missing (flat), every near triangle lies on the box plane
    assert far.mesh.n_faces == 2 * (H - 1) * (W - 1)
    scene = trimesh.load(result.files[0], process=False)
    assert sorted(scene.graph.nodes_geometry) == ["layer_0_far", "layer_1_near"]
    side = json.loads(result.files[1].read_text())
    assert side["units"] == "m" and side["depth_kind"] == "metric" and side["inpaint"] == "_paint"
    assert [d["z_far"] for d in side["layers"]] == pytest.approx([WALL_M, BOX_M])
    assert set(result.seconds) == {"layers", "mesh", "write"}


def test_ply_and_video(scene_input, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from depthforge.io.video import probe_video

    image, depth, intr = scene_input
    result = photo3d(image, depth, tmp_path / "s.ply", options=Photo3DOptions(inpaint="telea"), intrinsics=intr)
    head = result.files[0].read_bytes()[:400].decode("ascii", "replace")
    assert f"comment H {H}\n" in head and f"comment W {W}\n" in head and "comment meanLoc 2.0\n" in head
    done = render_scene_video(result.scene, tmp_path / "c.mp4", duration_s=0.4, fps=10)
    info = probe_video(tmp_path / "c.mp4")
    assert done.frames == 4 and (info.width, info.height) == (W, H)


def test_options_and_format_refused_before_work(scene_input, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    image, depth, intr = scene_input
    with pytest.raises(ValidationError, match="format"):
        photo3d(image, depth, tmp_path / "s.obj", intrinsics=intr)
    with pytest.raises(ValidationError, match="max_layers"):
        Photo3DOptions(max_layers=0)
    with pytest.raises(ValidationError, match="far_m"):
        Photo3DOptions(near_m=2.0, far_m=1.0)
    with pytest.raises(ValidationError, match="ply_frame"):
        Photo3DOptions(ply_frame="blender")
    assert not list(tmp_path.iterdir())


def test_batch_output(scene_input, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from depthforge.core.image import Image
    from depthforge.pipeline.producers import PRODUCERS, BatchOptions

    image, depth, _ = scene_input
    options = BatchOptions(photo3d_format="ply", photo3d_inpaint="ns", fov_deg=50.0)
    files = PRODUCERS["photo3d"].write(Image(image), depth, tmp_path / "x", options)
    assert [f.name for f in files] == ["x_photo3d.ply", "x_photo3d.ply.json"]
    assert PRODUCERS["photo3d"].files(tmp_path / "x", options) == files[:1]
    side = json.loads(files[1].read_text())
    assert side["inpaint"] == "ns" and side["camera"]["hfov_deg"] == pytest.approx(50.0)
    assert [d["name"] for d in side["layers"]] == ["layer_0_far", "layer_1_near"]
    with pytest.raises(ValidationError, match="photo3d_inpaint"):
        BatchOptions(photo3d_inpaint=" ")


def test_batch_output_with_a_learned_inpainter(scene_input, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A tiny ONNX inpainter exported here fills batch's photo3d too; it is loaded once per process."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("torch")
    from depthforge.core.image import Image
    from depthforge.models.inpaint import cached_inpainter
    from depthforge.pipeline.producers import PRODUCERS, BatchOptions
    from tests.models.test_inpaint_onnx import _export

    image, depth, _ = scene_input
    method = f"onnx:{_export(tmp_path / 'tiny.onnx')}"
    options = BatchOptions(photo3d_format="ply", photo3d_inpaint=method)
    cached_inpainter.cache_clear()
    for name in ("a", "b"):
        files = PRODUCERS["photo3d"].write(Image(image), depth, tmp_path / name, options)
        assert json.loads(files[1].read_text())["inpaint"] == method
    assert cached_inpainter.cache_info().misses == 1 and cached_inpainter.cache_info().hits >= 1
