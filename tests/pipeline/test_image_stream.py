"""The pipelined photo path: order kept, batches of one input size, bad photos fail alone, memory bounded,
model errors stop the run cleanly, same depth as one photo at a time."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from depthforge.core.errors import ModelError
from depthforge.io.depthfiles import read_depth
from depthforge.io.images import read_image, read_image_reduced
from depthforge.models import load_model
from depthforge.pipeline.estimation import EstimateOptions, run_estimate


def _folder(root: Path, sizes: list[tuple[int, int]], ext: str = ".png") -> list[Path]:
    import cv2
    from skimage import data

    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (h, w) in enumerate(sizes):
        p = root / f"p{i:02d}{ext}"
        Image.fromarray(cv2.resize(data.coffee(), (w, h), interpolation=cv2.INTER_AREA)).save(p)
        paths.append(p)
    return paths


def test_order_batches_bad_and_skipped(tiny_da: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    est = load_model(str(tiny_da), device="cpu")
    sizes = [(120, 160)] * 3 + [(160, 120)] * 2 + [(120, 160)]
    paths = _folder(tmp_path / "in", sizes)
    bad = tmp_path / "in" / "p02b.png"
    bad.write_bytes(b"not a png")  # sorts between p02 and p03
    out = tmp_path / "out"
    out.mkdir()
    (out / "p04_depth.png").write_bytes(b"exists")  # skipped, in its place
    batches: list[int] = []
    original = est.predict_prepared

    def spy(items: Any, **kwargs: Any) -> Any:
        batches.append(len(items))
        return original(items, **kwargs)

    monkeypatch.setattr(est, "predict_prepared", spy)
    seen: list[tuple[str, str]] = []
    summary = run_estimate(
        [tmp_path / "in"], out, model=est, options=EstimateOptions(), on_item=lambda p, s: seen.append((p.name, s)),
        batch_size=2,
    )  # fmt: skip
    names = [n for n, _ in seen]
    assert names == ["p00.png", "p01.png", "p02.png", "p02b.png", "p03.png", "p04.png", "p05.png"]
    status = dict(seen)
    assert status["p02b.png"].startswith("failed:") and status["p04.png"] == "skipped"
    assert (summary.done, summary.skipped, summary.failed) == (5, 1, 1)
    # p00+p01, p02 (alone: the bad photo follows), p03 (alone: p04 is skipped, then p05 has another size)...
    assert sum(batches) == 5 and max(batches) <= 2 and batches[0] == 2
    for p in paths:
        if p.stem == "p04":
            continue
        written = read_depth(out / f"{p.stem}_depth.png")
        assert written.values.shape == read_image(p).rgb.shape[:2]
    # same depth as one photo at a time (PNG inputs: decoded in full)
    ref = est.predict(read_image(paths[0])).values
    got = read_depth(out / "p00_depth.png").values
    step = (float(ref.max()) - float(ref.min())) / 65535  # one 16-bit code
    assert np.abs(ref - got).max() <= step


def test_openvino_stream_keeps_order_and_values(tiny_da: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same folder on OpenVINO, whose photos run as a stream of requests (sizes changing, a bad and a skipped
    photo in between): every photo reported once in order, each depth file equal to that photo predicted alone."""
    pytest.importorskip("openvino")
    from depthforge.models import clear_model_cache

    monkeypatch.setenv("DEPTHFORGE_CACHE", str(tmp_path / "cache"))
    clear_model_cache()
    est = load_model(str(tiny_da), device="cpu", backend="openvino")
    streamed: list[int] = []
    original = est.backend.forward_stream

    def spy(items: Any) -> Any:
        for tag, raw in original(items):
            streamed.append(1)
            yield tag, raw

    monkeypatch.setattr(est.backend, "forward_stream", spy)
    sizes = [(120, 160)] * 3 + [(160, 120)] * 2 + [(120, 160)]
    paths = _folder(tmp_path / "in", sizes)
    for i, path in enumerate(paths):  # every photo different, so a mix-up of results cannot go unseen
        Image.fromarray(np.roll(np.asarray(Image.open(path)), 17 * i, axis=1)).save(path)
    (tmp_path / "in" / "p02b.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "p04_depth.png").write_bytes(b"exists")
    seen: list[tuple[str, str]] = []
    summary = run_estimate(
        [tmp_path / "in"], out, model=est, options=EstimateOptions(), on_item=lambda p, s: seen.append((p.name, s))
    )
    assert [n for n, _ in seen] == ["p00.png", "p01.png", "p02.png", "p02b.png", "p03.png", "p04.png", "p05.png"]
    assert (summary.done, summary.skipped, summary.failed) == (5, 1, 1)
    assert len(streamed) == 7  # every item, photos and the two that pass through, went through the stream
    for p in paths:
        if p.stem == "p04":
            continue
        ref = est.predict(read_image(p)).values
        got = read_depth(out / f"{p.stem}_depth.png").values
        assert got.shape == ref.shape
        step = (float(ref.max()) - float(ref.min())) / 65535
        assert np.abs(ref - got).max() <= 2 * step + 1e-6 * float(np.abs(ref).max())
    clear_model_cache()


def test_jpeg_is_decoded_reduced_and_stays_close(tiny_da: Path, tmp_path: Path) -> None:
    est = load_model(str(tiny_da), device="cpu")
    [p] = _folder(tmp_path / "in", [(2400, 3600)], ext=".jpg")
    out = tmp_path / "out"
    run_estimate([p], out, model=est, options=EstimateOptions(format="npy"))
    got = np.load(out / "p00_depth.npy")
    assert got.shape == (2400, 3600)
    small, full = read_image_reduced(p, lambda h, w: tuple(2 * v for v in est.input_size((h, w))))  # type: ignore[arg-type,return-value]
    assert small.rgb.shape[0] < 2400 and full == (2400, 3600)
    ref = est.predict(read_image(p)).values
    assert np.abs(got - ref).mean() <= 0.02 * np.abs(ref).mean() + 1e-6


def test_memory_is_bounded(tiny_da: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from depthforge.pipeline import image_stream

    est = load_model(str(tiny_da), device="cpu")
    _folder(tmp_path / "in", [(60, 80)] * 14)
    reads = 0
    lock = threading.Lock()
    ahead: list[int] = []
    real_read = image_stream.read_image

    def counting_read(*args: Any, **kwargs: Any) -> Any:
        nonlocal reads
        with lock:
            reads += 1
        return real_read(*args, **kwargs)

    monkeypatch.setattr(image_stream, "read_image", counting_read)
    monkeypatch.setattr(image_stream, "read_image_reduced", lambda p, need, **kw: (counting_read(p, **kw), None))
    written = 0

    def slow(path: Path, status: str) -> None:
        nonlocal written
        time.sleep(0.02)
        written += 1
        ahead.append(reads - written)

    run_estimate([tmp_path / "in"], tmp_path / "out", model=est, options=EstimateOptions(), on_item=slow, batch_size=2)
    assert written == 14
    # queues of 2 * batch between stages, one batch in flight, one photo in each thread's hands
    assert max(ahead) <= 2 * 4 + 2 + 2


def test_model_error_stops_cleanly(tiny_da: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    est = load_model(str(tiny_da), device="cpu")
    _folder(tmp_path / "in", [(60, 80)] * 6)
    calls = 0

    def broken(batch: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ModelError("backend broke")
        return type(est.backend).forward(est.backend, batch)

    monkeypatch.setattr(est.backend, "forward", broken)
    seen: list[str] = []
    before = threading.active_count()
    with pytest.raises(ModelError, match="backend broke"):
        run_estimate(
            [tmp_path / "in"], tmp_path / "out", model=est, options=EstimateOptions(),
            on_item=lambda p, s: seen.append(p.name), batch_size=2,
        )  # fmt: skip
    assert seen == ["p00.png", "p01.png"]  # the first batch was written before the error
    time.sleep(0.3)
    assert threading.active_count() <= before


@pytest.mark.parametrize("case", ["good", "bad", "skipped", "write fails"])
def test_a_single_photo_runs_inline_with_the_same_outcomes(
    tiny_da: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    """One photo takes the calling thread (no reader or writer thread is started) and ends as a folder's photo
    would: written and done, failed with the reason, skipped without being read, or failed when writing fails."""
    from depthforge.core.errors import InputError
    from depthforge.pipeline import estimation as estimate_mod
    from depthforge.pipeline import image_stream

    est = load_model(str(tiny_da), device="cpu")
    (photo,) = _folder(tmp_path / "in", [(90, 120)], ext=".jpg")
    out = tmp_path / "out"
    out.mkdir()
    if case == "bad":
        photo.write_bytes(b"not a jpeg")
    if case == "skipped":
        (out / "p00_depth.png").write_bytes(b"exists")
        monkeypatch.setattr(image_stream, "read_image_reduced", lambda *a, **k: pytest.fail("read"))
    if case == "write fails":

        def refuse(*args: object, **kwargs: object) -> None:
            raise InputError("out/p00_depth.png: disk full")

        monkeypatch.setattr(estimate_mod, "write_depth", refuse)
    started: list[threading.Thread] = []
    original_start = threading.Thread.start
    monkeypatch.setattr(threading.Thread, "start", lambda self: (started.append(self), original_start(self))[1])
    seen: list[str] = []
    summary = run_estimate([photo], out, model=est, options=EstimateOptions(), on_item=lambda p, s: seen.append(s))
    assert not [t.name for t in started if t.name.endswith(("(reader)", "(writer)"))]  # "Thread-N (target)"
    assert len(seen) == 1
    if case == "good":
        assert seen == ["done"] and summary.done == 1
        assert read_depth(out / "p00_depth.png").values.shape == (90, 120)
    elif case == "skipped":
        assert seen == ["skipped"] and (out / "p00_depth.png").read_bytes() == b"exists"
    else:
        assert seen[0].startswith("failed:") and summary.failed == 1
        assert ("disk full" in seen[0]) == (case == "write fails")


def test_a_single_photos_depth_goes_into_its_array_made_ahead(tiny_da: Path, tmp_path: Path) -> None:
    """One JPEG: its depth map's array is made (and its memory mapped) in a background thread while it decodes;
    the model writes into that very array, with the same values as without it."""
    from depthforge.pipeline import image_stream

    est = load_model(str(tiny_da), device="cpu")
    (photo,) = _folder(tmp_path / "in", [(90, 120)], ext=".jpg")
    made: list[np.ndarray] = []
    original = image_stream._Buffer.get

    def spy(self: Any) -> Any:
        made.append(original(self))
        return made[-1]

    got: list[Any] = []
    orig_predict = est.predict_prepared

    def predict(items: Any, **kw: Any) -> Any:
        got.extend(orig_predict(items, **kw))
        return got

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(image_stream._Buffer, "get", spy)
        mp.setattr(est, "predict_prepared", predict)
        run_estimate([photo], tmp_path / "out", model=est, options=EstimateOptions())
    assert len(made) == 1 and made[0].shape == (90, 120) and made[0].dtype == np.float32
    assert np.shares_memory(got[0].values, made[0])
    image, full = read_image_reduced(photo, lambda h, w: est.input_size((h, w)))
    again = est.predict_prepared([est.prepare(image, output_size_hw=full)])[0]
    np.testing.assert_array_equal(got[0].values, again.values)


def test_prepared_out_array_is_filled_or_replaced_when_unfit(tiny_da: Path, tmp_path: Path) -> None:
    """A given output array of the right shape and dtype receives the depth; one of another shape is ignored."""
    import dataclasses

    est = load_model(str(tiny_da), device="cpu")
    prepared = est.prepare(read_image(_folder(tmp_path, [(70, 100)])[0]))
    plain = est.predict_prepared([prepared])[0].values
    for out, used in ((np.empty(plain.shape, np.float32), True), (np.empty((3, 3), np.float32), False)):
        depth = est.predict_prepared([dataclasses.replace(prepared, out=out)])[0]
        assert np.shares_memory(depth.values, out) == used
        np.testing.assert_array_equal(depth.values, plain)
