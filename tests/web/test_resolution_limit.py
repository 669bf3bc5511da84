"""What ``serve`` checks at start and per request. The processing-size limit (``serve --max-resolution``): a
client cannot make the model run at a size the operator did not allow, on any route that takes a size (the UI's
slider and Batch tab, the engine, the A1111 API's ``net_width`` / ``net_height`` / ``net_size_match``); refusals
name the field and come before any work. The models an operator allows (``--allow-model``) are checked at start."""

from __future__ import annotations

import base64
import gc
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

gr = pytest.importorskip("gradio")
pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from depthforge.core.errors import ValidationError  # noqa: E402
from depthforge.io.images import read_image  # noqa: E402
from depthforge.web.app import create_api  # noqa: E402
from depthforge.web.operations import MAX_RESOLUTION_PX, MIN_RESOLUTION_PX, Engine, ServerConfig  # noqa: E402
from depthforge.web.safety import Limits  # noqa: E402
from depthforge.web.ui_batch import batch_job  # noqa: E402
from depthforge.web.ui_parts import Builder  # noqa: E402

LIMIT_PX = 252  # below the 600 px of the test photo's longer side
LIMITS = Limits(max_upload_bytes=2_000_000, max_pixels=1_000_000, max_resolution_px=LIMIT_PX, workers=1, queue=8)


@pytest.fixture(scope="module")
def app(web_model: Path) -> Iterator[Any]:
    application = create_api(ServerConfig(model=str(web_model), limits=LIMITS), a1111=True)
    yield application
    application.state.engine.close()


@pytest.fixture(scope="module")
def engine(app: Any) -> Engine:
    return app.state.engine  # type: ignore[no-any-return]


def test_the_limit_has_bounds_and_a_default() -> None:
    assert Limits().max_resolution_px == 2048
    for bad in (MIN_RESOLUTION_PX - 1, MAX_RESOLUTION_PX + 1):
        with pytest.raises(ValidationError, match="^max_resolution: "):
            Limits(max_resolution_px=bad)


def test_serve_refuses_a_limit_out_of_range_in_one_line(web_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from depthforge.cli.main import main

    assert main(["serve", "--model", str(web_model), "--max-resolution", "8192"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--max-resolution: 8192" in err[0], err


def test_serve_checks_the_models_it_allows_before_serving(web_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a listed model that cannot be one is refused at start, naming the flag (a client would have found it first)
    from depthforge.cli.main import main

    for name in ("org/" + "n" * 120, "no-such-model"):
        assert main(["serve", "--model", str(web_model), "--allow-model", name]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--allow-model: " in err[0] and "--allow-model: model:" not in err[0], err


def test_the_engine_refuses_sizes_above_the_limit(engine: Engine, web_photo: Path) -> None:
    image = read_image(web_photo)
    with pytest.raises(ValidationError, match=r"^resolution: 266 px is above this server's limit of 252 px"):
        engine.depth_for(image, resolution=LIMIT_PX + 14)
    with pytest.raises(ValidationError, match="--max-resolution"):
        batch_job(engine, Path("unused"), model="default", resolution=LIMIT_PX + 14, detail="off", outputs=["npy"])
    assert engine.depth_for(image, resolution=LIMIT_PX).values.shape == (400, 600)  # the limit itself is allowed


def test_the_ui_slider_stops_at_the_limit(engine: Engine) -> None:
    with gr.Blocks():
        b = Builder(engine)
        b.shared_inputs()
    assert b.resolution.maximum == LIMIT_PX
    with pytest.raises(gr.Error):  # Gradio refuses a value beyond the slider's range before the callback runs
        b.resolution.preprocess(LIMIT_PX + 14)
    with warnings.catch_warnings():  # Gradio drops event loops while building Blocks: collect them here, quietly
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def _generate(client: TestClient, photo: Path, **options: Any) -> Any:
    body = {"depth_input_images": [base64.b64encode(photo.read_bytes()).decode()], "options": options}
    return client.post("/depth/generate", json=body)


@pytest.mark.parametrize("name", ["net_width", "net_height"])
def test_a1111_sizes_above_the_limit_are_refused_before_any_work(
    app: Any, web_photo: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine: Engine = app.state.engine

    def never(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the model ran for a refused request")

    monkeypatch.setattr(engine, "depth_for", never)
    r = _generate(TestClient(app), web_photo, **{name: LIMIT_PX + 14})
    assert r.status_code == 422, r.text
    assert r.json()["detail"] == f"{name}: 266 px is above this server's limit of 252 px (serve --max-resolution)"
    assert list(engine.areas.root.iterdir()) == []


def test_a1111_net_size_match_runs_at_the_limit(app: Any, web_photo: Path) -> None:
    client = TestClient(app)
    matched = _generate(client, web_photo, net_size_match=True)
    at_limit = _generate(client, web_photo, net_width=LIMIT_PX)
    smaller = _generate(client, web_photo, net_width=126)
    assert matched.status_code == at_limit.status_code == smaller.status_code == 200, matched.text
    # the 600 px photo is processed at the server's 252 px, not at its own size: the same maps as net_width=252
    assert len(matched.json()["images"]) == 1
    assert matched.json()["images"] == at_limit.json()["images"]
    assert matched.json()["images"] != smaller.json()["images"]  # (another size gives another map)


@pytest.fixture
def model_inputs(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, ...]]:
    """The shapes of every batch the server's model runs from now on (its backend is shared by all its views)."""
    backend = engine.estimator().backend
    real = backend.forward
    seen: list[tuple[int, ...]] = []

    def forward(batch: Any) -> Any:
        seen.append(tuple(batch.shape))
        return real(batch)

    monkeypatch.setattr(backend, "forward", forward)
    return seen


@pytest.fixture(scope="module")
def panorama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3000x300 photo: an aspect-keeping model would see it at 5180x518 px (its short side kept near 518)."""
    from PIL import Image

    yy, xx = np.mgrid[0:300, 0:3000]
    rgb = np.dstack([xx * 255 // 2999, yy * 255 // 299, (xx // 40 + yy // 30) % 2 * 255]).astype(np.uint8)
    path = tmp_path_factory.mktemp("panorama") / "panorama.png"
    Image.fromarray(rgb).save(path)
    return path


def test_the_models_own_size_rule_stays_within_the_limit(
    app: Any, engine: Engine, panorama: Path, model_inputs: list[tuple[int, ...]], tmp_path: Path
) -> None:
    # found in review: the limit covered sizes a client asked for, not the size the model's rule chose itself
    from PIL import Image

    from depthforge.pipeline.batch import run_batch
    from depthforge.web.batch import gather_inputs

    assert max(engine.estimator().with_max_input(None).input_size((300, 3000))) > 5000
    assert engine.estimator().max_input_side_px == LIMIT_PX  # the model the Video tab runs, too
    client = TestClient(app)
    runs = [len(model_inputs)]
    with panorama.open("rb") as fh:
        r = client.post("/v1/depth", files={"image": ("p.png", fh)}, data={"format": "npy"})
    assert r.status_code == 200, r.text
    runs.append(len(model_inputs))
    flipped = tmp_path / "flipped.png"  # another photo: the same one would come from the server's depth cache
    Image.fromarray(np.ascontiguousarray(read_image(panorama).rgb[::-1])).save(flipped)
    assert _generate(client, flipped).status_code == 200  # the A1111 API with no size option
    runs.append(len(model_inputs))
    assert engine.depth_for(read_image(panorama), detail="auto").values.shape == (300, 3000)  # global pass, tiles
    runs.append(len(model_inputs))
    job = batch_job(engine, tmp_path / "batch", model="default", resolution=0, detail="off", outputs=["npy"])
    gather_inputs([(panorama, panorama.name)], job.input_dir, max_bytes=1 << 24, max_total_bytes=1 << 24)
    assert run_batch(job, workers=1).done == 1  # the UI's Batch tab
    runs.append(len(model_inputs))
    assert runs == sorted(set(runs)), runs  # the model ran at every step (each count above the one before)
    assert max(max(shape[-2:]) for shape in model_inputs) <= LIMIT_PX, model_inputs
