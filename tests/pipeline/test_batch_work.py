"""A batch job's processing size (``BatchJob.resolution_px``): the model input of photos and video frames."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from depthforge.core.errors import ValidationError
from depthforge.models.estimator import DepthEstimator
from depthforge.pipeline.batch import run_batch
from depthforge.pipeline.batch_work import BatchJob
from depthforge.pipeline.detail import DetailOptions


def test_photos_and_clips_are_seen_at_the_processing_size(
    tiny_da: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import Image

    from tests.io.test_video import make_clip

    seen: list[tuple[int, ...]] = []
    prepare = DepthEstimator.prepare

    def spy(self: DepthEstimator, image: Any, **kw: Any) -> Any:
        item = prepare(self, image, **kw)
        seen.append(tuple(item.pixels.shape[1:]))
        return item

    monkeypatch.setattr(DepthEstimator, "prepare", spy)
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (90, 60, 3), dtype=np.uint8)).save(src / "portrait.png")
    make_clip(src / "walk.mp4", frames=3, size="64x48", audio=False)
    job = BatchJob(src, tmp_path / "out", outputs=("depth16",), model=str(tiny_da), resolution_px=112)
    summary = run_batch(job, workers=1)
    assert (summary.done, summary.failed) == (2, 0), summary.errors
    # portrait 90x60: 112 x (60 * 112 / 90 = 74.7 -> 70); clip 48x64: (48 * 112 / 64 = 84) x 112; multiples of 14
    assert sorted(set(seen)) == [(84, 112), (112, 70)]
    assert seen.count((84, 112)) == 3 and seen.count((112, 70)) == 1
    with Image.open(tmp_path / "out" / "portrait_depth.png") as im:
        assert im.size == (60, 90)  # the depth map is the photo's size whatever the model saw


def test_resolution_px_is_checked_hashed_and_left_to_detail(tiny_da: Path, tmp_path: Path) -> None:
    plain = BatchJob(tmp_path, tmp_path / "out", model=str(tiny_da))
    sized = BatchJob(tmp_path, tmp_path / "out", model=str(tiny_da), resolution_px=112.0)  # type: ignore[arg-type]
    assert sized.resolution_px == 112 and isinstance(sized.resolution_px, int)
    assert plain.option_hashes() != sized.option_hashes()
    assert BatchJob(tmp_path, tmp_path / "out", model=str(tiny_da), resolution_px=None).option_hashes() == (
        plain.option_hashes()
    )
    est = sized.load_estimator()
    assert sized.input_size_hw(est, (400, 600)) == (70, 112)
    assert plain.input_size_hw(est, (400, 600)) is None
    tiled = BatchJob(tmp_path, tmp_path / "out", model=str(tiny_da), resolution_px=112, detail=DetailOptions(4))
    assert tiled.input_size_hw(tiled.load_estimator(), (400, 600)) is None  # detail's passes keep the model's size
    with pytest.raises(ValidationError, match="resolution_px"):
        BatchJob(tmp_path, tmp_path / "out", resolution_px=0)


def test_controlnet_image_stays_near_white_when_the_display_is_inverted(tmp_path: Path) -> None:
    # user trial 3: --invert turned the ControlNet image too (near = black), which those models never saw
    from PIL import Image as PILImage

    from depthforge.core.depthmap import DepthMap
    from depthforge.core.image import Image
    from depthforge.pipeline.estimation import EstimateOptions, write_outputs
    from depthforge.pipeline.producers import PRODUCERS, BatchOptions

    depth = DepthMap(np.tile(np.linspace(0.1, 1.0, 128, dtype=np.float32), (64, 1)), kind="relative")
    image = Image(np.zeros((64, 128, 3), np.uint8))
    got = {}
    for invert in (False, True):
        paths = {"depth": tmp_path / f"d{invert}.png", "controlnet": tmp_path / f"c{invert}.png"}
        write_outputs(image, depth, paths, EstimateOptions(controlnet=True, invert=invert))
        PRODUCERS["controlnet"].write(image, depth, tmp_path / f"b{invert}", BatchOptions(invert=invert))
        got[invert] = [np.asarray(PILImage.open(p)) for p in (*paths.values(), tmp_path / f"b{invert}_controlnet.png")]
    assert got[True][0][0, -1] < got[True][0][0, 0] and got[False][0][0, -1] > got[False][0][0, 0]  # depth inverted
    assert got[False][1][0, -1, 0] == 255 and got[False][1][0, 0, 0] < 40  # near (right) = white
    np.testing.assert_array_equal(got[True][1], got[False][1])
    np.testing.assert_array_equal(got[True][2], got[False][2])
