"""The web UI's 3D photo tab: built into Blocks, and its work on a real photo with the user's own depth map."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

gr = pytest.importorskip("gradio")

from depthforge.core.errors import ValidationError  # noqa: E402
from depthforge.web.operations import Engine, ServerConfig  # noqa: E402
from depthforge.web.safety import Limits  # noqa: E402
from depthforge.web.ui_parts import Builder, Run  # noqa: E402
from depthforge.web.ui_photo3d import make_photo3d, photo3d_tab  # noqa: E402


@pytest.fixture(scope="module")
def engine(web_model: Path):  # type: ignore[no-untyped-def]
    eng = Engine(ServerConfig(model=str(web_model), limits=Limits(max_pixels=1_000_000, workers=1, queue=4)))
    yield eng
    eng.close()


def _run(engine: Engine, web_photo: Path, tmp_path: Path) -> Run:
    """A UI request on the coffee photo with a depth file: a near box in the middle of a far wall."""
    from PIL import Image

    w, h = Image.open(web_photo).size
    disp = np.full((h, w), 4.0, np.float32)
    disp[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = 12.0
    np.save(tmp_path / "disp.npy", disp)
    return Run(
        engine, str(web_photo), "default", "s" * 16, lambda *a, **k: None, threading.Event(), str(tmp_path / "disp.npy")
    )


def test_tab_builds(engine: Engine) -> None:
    import gc
    import warnings

    with gr.Blocks():
        b = Builder(engine)
        b.shared_inputs()
        with gr.Tabs():
            photo3d_tab(b)
    with warnings.catch_warnings():  # Gradio drops event loops while building Blocks: collect them here, quietly
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def test_make_photo3d(engine: Engine, web_photo: Path, tmp_path: Path) -> None:
    import trimesh

    run = _run(engine, web_photo, tmp_path)
    glb, files, info = make_photo3d(engine, run, "telea", 3, 55, 1.0, 10.0, 20_000)
    assert [Path(f).name for f in files] == ["photo3d.glb", "photo3d.glb.json", "photo3d.ply", "photo3d.ply.json"]
    assert glb == files[0] and all(Path(f).is_relative_to(run.area) for f in files)
    scene = trimesh.load(glb, process=False)
    assert sorted(scene.graph.nodes_geometry) == ["layer_0_far", "layer_1_near"]
    assert max(len(g.vertices) for g in scene.geometry.values()) <= 20_000
    head = Path(files[2]).read_bytes()[:300].decode("ascii", "replace")
    assert "comment H 400\n" in head and "comment W 600\n" in head
    side = json.loads(Path(files[1]).read_text())
    assert side["inpaint"] == "telea" and side["camera"]["hfov_deg"] == pytest.approx(55.0)
    assert info.startswith("2 layers") and "pseudo-depth" in info


def test_refusals(engine: Engine, web_photo: Path, tmp_path: Path) -> None:
    run = _run(engine, web_photo, tmp_path)
    with pytest.raises(ValidationError, match="inpaint"):
        make_photo3d(engine, run, "onnx:/etc/passwd", 3, 60, 1.0, 10.0, 20_000)
    with pytest.raises(ValidationError, match="learned"):  # offered only when the operator named an inpainter
        make_photo3d(engine, run, "learned", 3, 60, 1.0, 10.0, 20_000)
    with pytest.raises(ValidationError, match="vertices"):
        make_photo3d(engine, run, "ns", 6, 60, 1.0, 10.0, 900_000)
    with pytest.raises(ValidationError, match="layers"):
        make_photo3d(engine, run, "ns", 9, 60, 1.0, 10.0, 20_000)


def test_operators_learned_inpainter(web_model: Path, web_photo: Path, tmp_path: Path) -> None:
    """``serve --inpainter onnx:FILE``: the tab offers ``learned`` and fills with that model (a tiny ONNX one
    exported here); the client only picks the word."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("torch")
    from depthforge.web.photo3d_ops import inpaint_choices
    from tests.models.test_inpaint_onnx import _export

    method = f"onnx:{_export(tmp_path / 'tiny.onnx')}"
    config = ServerConfig(model=str(web_model), limits=Limits(max_pixels=1_000_000, workers=1), inpainter=method)
    eng = Engine(config)
    try:
        assert inpaint_choices(eng)[-1] == "learned"
        _, files, info = make_photo3d(eng, _run(eng, web_photo, tmp_path), "learned", 2, 60, 1.0, 10.0, 20_000)
        side = Path(files[1]).read_text()
        assert json.loads(side)["inpaint"] == "learned" and info.endswith("fill learned")
        assert str(tmp_path) not in side + info  # the server's file is never shown to clients
    finally:
        eng.close()


def test_serve_refuses_a_missing_inpainter_in_one_line(
    web_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from depthforge.cli.main import main

    assert main(["serve", "--model", str(web_model), "--inpainter", f"onnx:{tmp_path / 'missing.onnx'}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.onnx" in err[0] and "Traceback" not in err[0]


def test_learned_inpainter_errors_do_not_name_the_servers_file() -> None:
    from depthforge.core.errors import ModelError
    from depthforge.web.photo3d_ops import _Learned

    class Failing:
        name, licence = "onnx:/srv/secret/lama.onnx", "Apache-2.0"

        def __call__(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
            raise ModelError(f"inpainter '{self.name}' failed (shape mismatch)")

    learned = _Learned(Failing())
    assert (learned.name, learned.licence) == ("learned", "Apache-2.0")
    with pytest.raises(ModelError) as info:
        learned(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), bool))
    assert "/srv/secret" not in str(info.value) and "'learned' failed (shape mismatch)" in str(info.value)


def test_http_route(engine: Engine, web_photo: Path) -> None:
    """POST /v1/photo3d: the layered GLB (one node per layer) or the PLY with the A1111 extension's header; fills
    this server does not offer and too many layers are 422."""
    import io

    import trimesh
    from fastapi.testclient import TestClient

    from depthforge.web.app import create_api

    client = TestClient(create_api(engine.config, engine=engine))
    photo = {"image": ("c.jpg", web_photo.read_bytes(), "image/jpeg")}
    r = client.post("/v1/photo3d", files=photo, data={"layers": "2", "target_vertices": "5000", "inpaint": "ns"})
    assert r.status_code == 200, r.text
    scene = trimesh.load(io.BytesIO(r.content), file_type="glb", process=False)
    names = sorted(scene.graph.nodes_geometry)
    assert names[0] == "layer_0_far" and 1 <= len(names) <= 2
    r = client.post("/v1/photo3d", files=photo, data={"format": "ply", "layers": "2", "target_vertices": "5000"})
    assert r.status_code == 200 and b"comment H 400\n" in r.content[:400] and b"comment W 600\n" in r.content[:400]
    runs = engine.model_runs
    bad_options = [
        ({"inpaint": "learned"}, "inpaint"),
        ({"inpaint": "onnx:/etc/passwd"}, "inpaint"),
        ({"layers": "9"}, "layers"),
        ({"target_vertices": "1000001"}, "target_vertices"),  # the route's own bound
        ({"layers": "4", "target_vertices": "250001"}, "target_vertices"),  # 1 M shared by 4 layers
        ({"fov": "179.5"}, "fov"),
    ]
    for bad, name in bad_options:
        r = client.post("/v1/photo3d", files=photo, data=bad)
        assert r.status_code == 422 and name in r.text, (bad, r.text)
    assert engine.model_runs == runs  # refused before the photo's depth is estimated
