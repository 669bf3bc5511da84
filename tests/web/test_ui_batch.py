"""The web UI's Batch tab takes the depth settings at the top of the page (processing size, high-resolution detail)
as the photo tabs do: the same depth as :meth:`Engine.depth_for` and :func:`estimate_detailed` for each photo."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

gr = pytest.importorskip("gradio")

from depthforge.core.errors import ValidationError  # noqa: E402
from depthforge.io.images import read_image  # noqa: E402
from depthforge.models.estimator import DepthEstimator, load_model  # noqa: E402
from depthforge.pipeline.batch import run_batch  # noqa: E402
from depthforge.pipeline.detail import estimate_detailed  # noqa: E402
from depthforge.web.batch import gather_inputs  # noqa: E402
from depthforge.web.operations import Engine, ServerConfig  # noqa: E402
from depthforge.web.safety import Limits  # noqa: E402
from depthforge.web.ui_batch import batch_job, batch_tab  # noqa: E402
from depthforge.web.ui_parts import Builder  # noqa: E402

MB = 1 << 20


@pytest.fixture(scope="module")
def engine(web_model: Path) -> Iterator[Engine]:
    eng = Engine(ServerConfig(model=str(web_model), limits=Limits(max_pixels=1_000_000, workers=1, queue=4)))
    yield eng
    eng.close()


def _batch_depth(engine: Engine, photo: Path, work: Path, **settings: Any) -> np.ndarray:
    """Run the tab's batch job on one uploaded photo; its float32 depth (the ``npy`` output)."""
    job = batch_job(engine, work, model="default", outputs=["npy"], **settings)
    gather_inputs([(photo, photo.name)], job.input_dir, max_bytes=16 * MB, max_total_bytes=16 * MB)
    summary = run_batch(job, workers=1)
    assert (summary.done, summary.failed) == (1, 0), summary.errors
    (made,) = job.output_dir.rglob("*.npy")
    return np.load(made)


def test_detail_gives_the_tiled_estimate_of_each_photo(
    engine: Engine, web_model: Path, web_photo: Path, tmp_path: Path
) -> None:
    image = read_image(web_photo)
    plain = _batch_depth(engine, web_photo, tmp_path / "plain", resolution=0, detail="off")
    tiled = _batch_depth(engine, web_photo, tmp_path / "tiled", resolution=0, detail="4")
    assert plain.shape == tiled.shape == image.size_hw == (400, 600)
    expected = estimate_detailed(image, load_model(str(web_model)), detail=4).values
    np.testing.assert_array_equal(tiled, expected)
    np.testing.assert_array_equal(tiled, engine.depth_for(image, detail="4").values)  # as the photo tabs
    np.testing.assert_array_equal(plain, engine.depth_for(image).values)
    # and detail changed the depth: the tiles moved values by a fair share of the range somewhere
    change = np.abs(tiled - plain) / np.ptp(plain)
    assert change.max() > 0.05 and np.mean(change) > 1e-3, (change.max(), change.mean())


def test_processing_size_reaches_the_model(
    engine: Engine, web_photo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[int, ...]] = []
    prepare = DepthEstimator.prepare

    def spy(self: DepthEstimator, image: Any, **kw: Any) -> Any:
        item = prepare(self, image, **kw)
        seen.append(tuple(item.pixels.shape))
        return item

    monkeypatch.setattr(DepthEstimator, "prepare", spy)
    image = read_image(web_photo)  # 400 x 600
    sized = _batch_depth(engine, web_photo, tmp_path / "sized", resolution=112, detail="off")
    # longer side 112 = 8 x 14; the shorter 400 * 112 / 600 = 74.7 -> the nearest multiple of 14, 70
    assert seen == [(3, 70, 112)]
    default = _batch_depth(engine, web_photo, tmp_path / "default", resolution=0, detail="off")
    assert seen[1] != (3, 70, 112) and max(seen[1][1:]) > 112  # the model's own size rule (518 here)
    assert sized.shape == default.shape == image.size_hw
    np.testing.assert_array_equal(sized, engine.depth_for(image, resolution=112).values)  # as the photo tabs
    assert np.abs(sized - default).max() > 0.05 * np.ptp(default)


def test_settings_are_checked_and_hashed(engine: Engine, tmp_path: Path) -> None:
    plain = batch_job(engine, tmp_path, model="default", resolution=0, detail="off", outputs=["depth16"])
    sized = batch_job(engine, tmp_path, model="default", resolution=112.0, detail="off", outputs=["depth16"])
    tiled = batch_job(engine, tmp_path, model="default", resolution=None, detail="auto", outputs=["depth16"])
    assert (plain.resolution_px, plain.detail, sized.resolution_px) == (None, None, 112)
    assert tiled.detail is not None and tiled.detail.detail == "auto"
    hashes = {str(job.option_hashes()) for job in (plain, sized, tiled)}
    assert len(hashes) == 3  # outputs made with other settings are never counted as done
    with pytest.raises(ValidationError, match="resolution"):
        batch_job(engine, tmp_path, model="default", resolution=28, detail="off", outputs=["depth16"])
    with pytest.raises(ValidationError, match="detail"):
        batch_job(engine, tmp_path, model="default", resolution=0, detail="25", outputs=["depth16"])
    with pytest.raises(ValidationError, match="outputs"):
        batch_job(engine, tmp_path, model="default", resolution=0, detail="off", outputs=["mesh"])


def test_the_tab_sends_the_shared_settings(engine: Engine) -> None:
    import gc
    import warnings

    with gr.Blocks() as demo:
        b = Builder(engine)
        b.shared_inputs()
        with gr.Tabs():
            batch_tab(b)
    (fn,) = [f for f in demo.fns.values() if f.api_name == "run_batch"]
    assert fn.inputs[1:4] == [b.model, b.resolution, b.detail]
    notes = [c.value for c in demo.blocks.values() if isinstance(c, gr.Markdown) and "photo tabs only" in str(c.value)]
    assert notes == [
        "Uses the model, processing size and high-resolution detail chosen at the top; your own depth map applies "
        "to the photo tabs only."
    ]
    with warnings.catch_warnings():  # Gradio drops event loops while building Blocks: collect them here, quietly
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
