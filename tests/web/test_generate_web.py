"""Generation on the server: the Generate tab's work and POST /v1/generate with tiny random pipelines, offered only
when the operator starts the server with a generation model."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

pytest.importorskip("diffusers")
gr = pytest.importorskip("gradio")

from fastapi.testclient import TestClient  # noqa: E402

from depthforge.web.app import create_api  # noqa: E402
from depthforge.web.operations import Engine, ServerConfig  # noqa: E402
from depthforge.web.safety import Limits  # noqa: E402
from depthforge.web.ui_parts import Builder, Cancelled, Run  # noqa: E402

LIMITS = Limits(max_pixels=1_000_000, workers=1, queue=4)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from depthforge.models import diffusion_testing as t

    root = tmp_path_factory.mktemp("web_diffusion")
    return {"sd": t.build_tiny_sd(root / "sd"), "cn": t.build_tiny_controlnet(root / "cn")}


@pytest.fixture(scope="module")
def small_photo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 48x80 photo and its depth file (a near box on a far wall)."""
    from PIL import Image

    root = tmp_path_factory.mktemp("web_gen_photo")
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (48, 80, 3), dtype=np.uint8)).save(root / "p.png")
    disp = np.full((48, 80), 2.0, np.float32)
    disp[12:36, 20:60] = 8.0
    np.save(root / "d.npy", disp)
    return root / "p.png", root / "d.npy"


@pytest.fixture(scope="module")
def engine(web_model: Path, tiny: dict[str, Path]):  # type: ignore[no-untyped-def]
    config = ServerConfig(
        model=str(web_model),
        limits=LIMITS,
        generate_base=str(tiny["sd"]),
        generate_controlnet=str(tiny["cn"]),
        generate_size_px=128,  # the operator's smaller size: 80x128 for the 48x80 photo (its aspect, multiples of 8)
    )
    eng = Engine(config)
    yield eng
    eng.close()


def _run(engine: Engine, photo: tuple[Path, Path], tmp_path: Path, cancelled: threading.Event | None = None) -> Run:
    return Run(
        engine, str(photo[0]), "default", "g" * 16, lambda *a, **k: None, cancelled or threading.Event(), str(photo[1])
    )


def test_tab_draws_from_the_shared_depth(engine: Engine, small_photo: tuple[Path, Path], tmp_path: Path) -> None:
    from depthforge.io.images import read_image
    from depthforge.web.ui_generate import make_generation

    runs = engine.model_runs
    path, info = make_generation(_run(engine, small_photo, tmp_path), "a cabin", "", 2, 5.0, 1.0, 3)
    again, _ = make_generation(_run(engine, small_photo, tmp_path), "a cabin", "", 2, 5.0, 1.0, 3)
    other, _ = make_generation(_run(engine, small_photo, tmp_path), "a cabin", "", 2, 5.0, 1.0, 4)
    first = read_image(path).rgb
    assert first.shape == (80, 128, 3)  # the operator's long side, the photo's aspect
    np.testing.assert_array_equal(first, read_image(again).rgb)  # the same seed draws the same image
    assert not np.array_equal(first, read_image(other).rgb)
    assert info.startswith("seed 3") and "licences" in info
    assert engine.model_runs == runs  # the user's own depth: no depth model run
    random, info = make_generation(_run(engine, small_photo, tmp_path), "a cabin", "", 2, 5.0, 1.0, -1)
    used = int(info.split(";")[0].removeprefix("seed "))  # -1 draws a seed, and says which (as A1111 does)
    assert 0 <= used < 2**31 and f"Seed: {used}, " in PILImage.open(random).text["parameters"]


def test_tab_refusals_and_cancel(engine: Engine, small_photo: tuple[Path, Path], tmp_path: Path) -> None:
    from depthforge.core.errors import ValidationError
    from depthforge.web.ui_generate import make_generation

    with pytest.raises(ValidationError, match="steps"):
        make_generation(_run(engine, small_photo, tmp_path), "a cabin", "", 500, 5.0, 1.0, 0)
    with pytest.raises(ValidationError, match="prompt"):  # (an empty one is taken: the ControlNet draws the depth)
        make_generation(_run(engine, small_photo, tmp_path), "x" * 1001, "", 2, 5.0, 1.0, 0)
    with pytest.raises(ValidationError, match="seed"):  # an emptied Seed box
        make_generation(_run(engine, small_photo, tmp_path), "a cabin", "", 2, 5.0, 1.0, None)
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        make_generation(_run(engine, small_photo, tmp_path, stop), "a cabin", "", 2, 5.0, 1.0, 0)


def test_api_route(engine: Engine, small_photo: tuple[Path, Path], web_model: Path) -> None:
    from PIL import Image

    client = TestClient(create_api(engine.config, engine=engine))
    photo = small_photo[0].read_bytes()
    r = client.post(
        "/v1/generate", files={"image": ("p.png", photo, "image/png")}, data={"prompt": "a cabin", "steps": "2"}
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png" and Image.open(io.BytesIO(r.content)).mode == "RGB"
    assert Image.open(io.BytesIO(r.content)).text["parameters"].startswith("a cabin\nSteps: 2, ")
    data = {"prompt": "a cabin", "steps": "2", "seed": "-1"}
    r = client.post("/v1/generate", files={"image": ("p.png", photo, "image/png")}, data=data)
    assert r.status_code == 200 and "Seed: -1," not in Image.open(io.BytesIO(r.content)).text["parameters"]
    for bad in ({"prompt": "a cabin", "steps": "0"}, {"steps": "2"}, {"prompt": "x", "control_scale": "9"}):
        assert client.post("/v1/generate", files={"image": ("p.png", photo, "image/png")}, data=bad).status_code == 422
    plain = create_api(ServerConfig(model=str(web_model), limits=LIMITS))
    try:
        r = TestClient(plain).post("/v1/generate", files={"image": ("p.png", photo)}, data={"prompt": "x"})
        assert r.status_code == 404  # not offered unless the operator chose a model
    finally:
        plain.state.engine.close()


def test_tab_only_when_offered(engine: Engine, web_model: Path) -> None:
    import gc
    import warnings

    from depthforge.web.ui_generate import generate_tab

    plain = Engine(ServerConfig(model=str(web_model), limits=LIMITS))
    try:
        for eng, present in ((plain, False), (engine, True)):
            with gr.Blocks() as demo:
                b = Builder(eng)
                b.shared_inputs()
                with gr.Tabs():
                    generate_tab(b)
            ids = {getattr(block, "elem_id", None) for block in demo.blocks.values()}
            assert ("generate-prompt" in ids) == present
    finally:
        plain.close()
        with warnings.catch_warnings():  # Gradio drops event loops while building Blocks
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()


def test_serve_refuses_a_controlnet_without_a_base(web_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from depthforge.cli.main import main

    assert main(["serve", "--model", str(web_model), "--generate-controlnet", "x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "generate" in err[0]


def test_generated_requests_get_no_server_error(engine: Engine, small_photo: tuple[Path, Path]) -> None:
    """Generated form fields (in and out of their bounds) on a real photo through POST /v1/generate: every answer is
    a 200 PNG or a 422, never a 5xx; some requests do generate."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    client = TestClient(create_api(engine.config, engine=engine))
    photo = small_photo[0].read_bytes()
    numbers = st.one_of(st.integers(-5, 60), st.floats(allow_nan=True), st.sampled_from(["", "x", "1e309", "nan"]))
    fields = st.fixed_dictionaries(
        {"prompt": st.text(max_size=30)},
        optional={k: numbers for k in ("steps", "guidance", "control_scale", "seed")}
        | {"negative_prompt": st.text(max_size=30)},
    )
    statuses: list[int] = []

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
    @given(data=fields)
    def run(data: dict[str, object]) -> None:
        form = {"steps": "1", **{k: str(v) for k, v in data.items()}}  # short generations unless steps is drawn
        r = client.post("/v1/generate", files={"image": ("p.png", photo, "image/png")}, data=form)
        statuses.append(r.status_code)
        assert r.status_code in (200, 422), (form, r.status_code, r.text[:200])

    run()
    assert 200 in statuses and 422 in statuses
