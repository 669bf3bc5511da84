"""Video pipeline: every output keeps frame count, fps and audio; 16-bit depth is exactly what was computed;
the temporal stabilizer removes per-frame scale/shift; the CLI takes video files and reports bad ones."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from skimage import data

from depthforge.cli.main import main
from depthforge.core.depthmap import DepthMap
from depthforge.io.video import ffmpeg_exe, iter_frames, probe_video
from depthforge.models import load_model
from depthforge.models.estimator import DepthEstimator, Prepared
from depthforge.models.testing import build_depth_anything
from depthforge.pipeline.temporal import TemporalStabilizer, flicker_index, robust_scale_shift
from depthforge.pipeline.video import VideoOptions, display_frames, run_video, video_output_paths
from tests.io.test_video import FPS, make_clip, stereo_packing

SMALL = (28, 42)  # model input for the tests: fast, and the tiny model's outputs stay correlated frame to frame


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("vclip") / "clip.mp4", frames=10)


def test_every_output_keeps_frames_fps_and_audio(clip: Path, tiny_da: Path, tmp_path: Path) -> None:
    est = load_model(str(tiny_da), device="cpu")
    opts = VideoOptions(
        combine="horizontal", frames="png16", stereo="half-left-right", batch_size=3, input_size_hw=SMALL
    )
    res = run_video(clip, tmp_path, estimator=est, options=opts)
    assert res.frames == 10
    for role in ("depth16", "depth8", "combined", "stereo"):
        info = probe_video(res.paths[role])
        assert (info.frame_count, info.fps, info.has_audio) == (10, FPS, True), role
    assert probe_video(res.paths["combined"]).width == 128
    assert probe_video(res.paths["stereo"]).width == 64
    assert res.paths["stereo"].name == "clip_3d_hsbs_3DH.mp4"  # the tags VR players and Kodi read
    assert stereo_packing(res.paths["stereo"]) == "side by side"  # and the stream says so too
    pngs = sorted(res.paths["frames"].glob("*.png"))
    assert len(pngs) == 10
    assert '"display_range"' in res.paths["sidecar"].read_text()
    # the 16-bit video holds exactly the display values computed for the same frames (lossless, deterministic)
    expected = [d for _, _, d, _ in display_frames(iter_frames(clip), est, options=opts)]
    decoded = list(iter_frames(res.paths["depth16"], pix_fmt="gray16le"))
    for e, d in zip(expected, decoded, strict=True):
        np.testing.assert_array_equal(np.rint(e * 65535).astype(np.uint16), d)
    from depthforge.io.images import read_image

    np.testing.assert_array_equal(read_image(pngs[4]).rgb[:, :, 0], decoded[4])
    assert not list(tmp_path.glob(".*dftmp*"))  # no temporary left-overs


def test_fixed_display_range_and_per_frame_mode(clip: Path, tiny_da: Path) -> None:
    est = load_model(str(tiny_da), device="cpu")
    steady = list(display_frames(iter_frames(clip), est, options=VideoOptions(input_size_hw=SMALL, batch_size=4)))
    ranges = {(r.far, r.near) for _, _, _, r in steady}
    assert len(ranges) == 1  # one display range for the whole clip
    loose = list(display_frames(iter_frames(clip), est, options=VideoOptions(input_size_hw=SMALL, temporal=False)))
    for _, _, disp, _ in loose:  # per-frame min..max spans 0..1
        assert disp.min() == 0.0 and disp.max() == 1.0


def test_a_metric_models_clip_keeps_metres(clip: Path, tmp_path: Path) -> None:
    """User trial 6: a metric model's clip was stored as relative values (0..1 at the first frame) while its JSON
    said metric. With a simulated metric model (1 to 5 m by brightness, the same scale on every frame), the first
    frame keeps the model's metres, later ones stay at that scale, and the 16-bit frames read back as metres."""
    from depthforge.io.depthfiles import read_depth
    from depthforge.models.callable import as_estimator

    def metres(image: np.ndarray) -> np.ndarray:
        return (1.0 + 4.0 * image.mean(axis=2) / 255.0).astype(np.float32)

    est = as_estimator(metres, kind="metric")
    opts = VideoOptions(batch_size=4, frames="png16", depth8=False)
    frames = list(iter_frames(clip))
    stream = list(display_frames(iter(frames), est, options=opts))
    first = stream[0][1]
    assert first.kind == "metric" and first.meta["aligned"]
    np.testing.assert_allclose(first.values, metres(frames[0]), rtol=1e-6)
    for frame, depth, _, _ in stream:
        assert depth.kind == "metric"
        assert np.nanmedian(np.abs(depth.values / metres(frame) - 1)) < 0.02
    rng = stream[0][3]
    assert 0 < rng.far < 1 / 5 and rng.near > 1.0  # in 1/m: beyond 5 m and nearer than 1 m, the far end above 0
    res = run_video(clip, tmp_path / "out", estimator=est, options=opts)
    back = read_depth(sorted(res.paths["frames"].iterdir())[0])
    assert back.kind == "metric"
    step = (rng.near - rng.far) / 65535  # 16-bit codes over the clip's range of 1/m
    np.testing.assert_allclose(1 / back.values, 1 / metres(frames[0]), atol=step)
    doc = json.loads(res.paths["sidecar"].read_text())
    assert doc["kind"] == "metric" and doc["display_range"]["units"].startswith("1/m")
    # EXR frames (user trial 6, for compositing): the depth itself, float32 metres, the kind in the header
    exr = VideoOptions(batch_size=4, frames="exr", depth8=False, depth16=False)
    res = run_video(clip, tmp_path / "exr", estimator=est, options=exr)
    files = sorted(res.paths["frames"].iterdir())
    assert [f.name for f in files] == [f"clip_{i:06d}.exr" for i in range(1, 11)]
    back = read_depth(files[0])
    assert back.kind == "metric"
    np.testing.assert_array_equal(back.values, stream[0][1].values)


class _Replay:
    """The estimator, run once per frame: both methods of a comparison see the very same raw depth."""

    def __init__(self, est: DepthEstimator) -> None:
        self.est = est
        self.spec = est.spec
        self.seen: dict[int, DepthMap] = {}

    def prepare(self, frame: np.ndarray, **kwargs: Any) -> Prepared:
        return self.est.prepare(frame, **kwargs)

    def predict_stream(self, items: Iterable[tuple[Any, Prepared]], **kwargs: Any) -> Iterator[tuple[Any, DepthMap]]:
        for frame, prepared in items:  # the tag is the frame itself: its identity names it
            if id(frame) not in self.seen:
                self.seen[id(frame)] = self.est.predict_prepared([prepared])[0]
            yield frame, self.seen[id(frame)]


def test_flicker_halved_against_per_frame_min_max(tmp_path: Path) -> None:
    """Acceptance (issue 7): on a clip made by sliding a 320x240 crop 1 px per frame across a real photo (every
    scene point keeps its true depth), a tiny random Depth Anything, model input by the size rule (392x518),
    the mean absolute frame-to-frame change on matched pixels drops by >= 50 % against per-frame min-max.

    Metric (:func:`flicker_index`): pixel (y, x) of frame t is matched with (y, x + 1) of frame t - 1 (the same
    scene point); the mean |change| over all matched pixels and frame pairs is divided by the 5th..95th
    percentile range of that method's values over the whole clip, so both methods are in the same normalised
    units (a fixed clip range that keeps more contrast is not penalised, a flatter one is not rewarded).
    Per-frame min-max: each frame's inverse depth mapped to 0..1 (``temporal=False``). Ours: the aligned,
    filtered inverse depth (``temporal=True``, default strength; unclipped values, not the display map).

    Probe: the tiny model with seed 1 (the default seed 0 outputs ~77 % exact zeros, a ReLU head on random
    weights, so most matched pixels would compare 0 with 0); seeds 0-3 are all measured in benchmarks/video.py.
    With this model per-frame min-max adds almost nothing to the model's own frame-to-frame error, which is
    correlated over several frames (the content crosses the patch grid), so the reduction comes from the
    motion-compensated recursive filter.
    """
    replay = _Replay(load_model(str(build_depth_anything(tmp_path / "da_seed1", seed=1)), device="cpu"))
    est = cast(DepthEstimator, replay)
    photo = data.astronaut()
    clip = [np.ascontiguousarray(photo[150:390, 100 + i : 420 + i]) for i in range(12)]
    minmax = [d for _, _, d, _ in display_frames(iter(clip), est, options=VideoOptions(temporal=False))]
    ours = [dm.values for _, dm, _, _ in display_frames(iter(clip), est, options=VideoOptions())]
    before, after = flicker_index(minmax, step_px=(0, 1)), flicker_index(ours, step_px=(0, 1))
    reduction = 1.0 - after / before
    print(f"\nflicker index: per-frame min-max {before:.4f}, ours {after:.4f}, reduction {100 * reduction:.1f} %")
    assert reduction >= 0.5


def test_flicker_index_counts_only_matched_pixels() -> None:
    rng = np.random.default_rng(3)
    scene = rng.uniform(0.0, 1.0, (20, 60))
    steady = [scene[:, i : i + 40] for i in range(5)]  # window moves 1 px right per frame
    assert flicker_index(steady, step_px=(0, 1)) == 0.0
    assert flicker_index(steady, step_px=(0, 0)) > 0.1  # unmatched comparison sees the pan as change
    noisy = [f + rng.normal(0.0, 0.01, f.shape) for f in steady]
    # i.i.d. noise of std s: E|n1 - n2| = 2 s / sqrt(pi); spread of U(0, 1) between percentiles 5 and 95 = 0.9
    assert flicker_index(noisy, step_px=(0, 1)) == pytest.approx(2 * 0.01 / np.sqrt(np.pi) / 0.9, rel=0.1)
    doubled = [2.0 * f + 5.0 for f in noisy]  # units do not matter
    assert flicker_index(doubled, step_px=(0, 1)) == pytest.approx(flicker_index(noisy, step_px=(0, 1)))


def test_robust_fit_ignores_outliers() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 10, 5000)
    y = 2.5 * x - 3.0 + rng.normal(0, 0.01, x.size)
    y[:1000] += rng.uniform(20, 50, 1000)  # 20 % gross outliers
    for symmetric in (True, False):
        s, b = robust_scale_shift(x[1000:], y[1000:], symmetric=symmetric)
        assert s == pytest.approx(2.5, rel=1e-2) and b == pytest.approx(-3.0, abs=0.05)
    s, b = robust_scale_shift(x, y, symmetric=False)
    assert s == pytest.approx(2.5, rel=1e-2) and b == pytest.approx(-3.0, abs=0.1)


def test_stabilizer_removes_per_frame_scale_and_shift() -> None:
    """A static scene whose per-frame depth comes with a random scale and shift (what relative models do):
    the aligned frames are the same map, where per-frame normalisation would not remove content changes."""
    photo = data.astronaut()[100:196, 100:228]
    yy, xx = np.mgrid[0:96, 0:128]
    true = (1.0 + xx / 128.0 + 0.5 * np.sin(yy / 9.0)).astype(np.float32)
    rng = np.random.default_rng(1)
    stab = TemporalStabilizer(strength=0.0)
    outs = []
    for _ in range(6):
        s, b = rng.uniform(0.5, 3.0), rng.uniform(-1.0, 1.0)
        out, fit = stab.update(photo, s * true + b)
        outs.append(out)
    assert fit.method == "fit" and fit.static_fraction == 1.0
    for o in outs[1:]:
        np.testing.assert_allclose(o, outs[0], atol=1e-4)


@pytest.mark.parametrize("size_hw", [(375, 450), (374, 448), (240, 320)])
def test_a_static_shot_keeps_its_depth(size_hw: tuple[int, int]) -> None:
    """User trial 6: identical frames of exact depth drifted (0.5 % median, 29 % at edges after 30 frames) on a
    375-row clip: phaseCorrelate found half a pixel between identical frames of odd DFT sizes, so the reference
    moved every frame. A static shot (sharp depth edges, holes) now keeps the first frame's depth exactly."""
    h, w = size_hw
    photo = np.ascontiguousarray(data.astronaut()[:h, :w])
    yy, xx = np.mgrid[0:h, 0:w]
    inverse = np.where(xx < w // 2, 0.5, 0.2) + 0.1 * np.sin(yy / 17.0)  # a step: an object's edge
    inverse = np.where((yy // 40 + xx // 40) % 7 == 0, np.nan, inverse).astype(np.float32)  # holes
    for keep_units in (True, False):
        stab = TemporalStabilizer(keep_units=keep_units)
        first = stab.update(photo, inverse)[0]
        for _ in range(12):
            out, fit = stab.update(photo, inverse)
        assert fit.static_fraction == 1.0
        np.testing.assert_allclose(out, first, atol=1e-5)
        if keep_units:
            np.testing.assert_array_equal(first, inverse)


def test_stabilizer_follows_a_pan_and_detects_cuts() -> None:
    photo = data.coffee()
    stab = TemporalStabilizer(strength=0.5)
    fits = []
    for i in range(4):
        crop = np.ascontiguousarray(photo[100:196, 100 + 2 * i : 228 + 2 * i])
        depth = crop.mean(axis=2).astype(np.float32) / 255.0 + 0.1
        fits.append(stab.update(crop, depth * (1 + i))[1])
    assert all(f.method == "fit" and f.static_fraction > 0.5 for f in fits[1:])
    assert fits[-1].scale == pytest.approx(fits[0].scale / 4, rel=0.05)  # the growing raw scale is undone
    other = np.ascontiguousarray(data.astronaut()[:96, :128])
    assert stab.update(other, other[:, :, 0].astype(np.float32))[1].method == "cut"


def test_cli_takes_videos_and_reports_bad_ones(
    clip: Path, tiny_da: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "clip.mp4").write_bytes(clip.read_bytes())
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", "sine", "-t", "0.3", str(folder / "song.mkv")],
        check=True,
    )
    (folder / "broken.mov").write_bytes(b"\x00\x00\x00\x18ftypqt  " + b"\x13" * 500)
    out = tmp_path / "out"
    args = ["estimate", str(folder), "-o", str(out), "--model", str(tiny_da), "--no-visual", "--batch-size", "5"]
    code = main([*args, "--controlnet", "--clip", "0.2,0.8"])
    err = capsys.readouterr().err
    assert code == 1
    assert "--controlnet, --clip: for photos only" in err  # said, not silently ignored (user trials)
    assert "song.mkv: not a video (audio only)" in err
    assert "broken.mov" in err and "Traceback" not in err
    paths = video_output_paths(out, "clip", VideoOptions(depth8=False))
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths.values())
    assert probe_video(paths["depth16"]).frame_count == 10


def test_a_rerun_keeps_a_clips_outputs_and_writes_only_the_missing_ones(
    clip: Path, tiny_da: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """User trial 6: adding ``--frames`` rewrote the depth video; ``--frames png8`` replaced 16-bit frames."""
    out = tmp_path / "out"
    base = ["estimate", str(clip), "-o", str(out), "--model", str(tiny_da), "--no-visual", "--batch-size", "5"]
    assert main(base) == 0
    mkv = out / "clip_depth.mkv"
    stamp = mkv.stat().st_mtime_ns
    assert main([*base, "--frames", "png16"]) == 0
    assert mkv.stat().st_mtime_ns == stamp
    frames = sorted((out / "clip_depth_frames").iterdir())
    assert len(frames) == 10
    assert "kept existing outputs, wrote the others" in capsys.readouterr().err
    frames[-1].unlink()  # as an interrupted run leaves the folder: not every frame
    first = frames[0].stat().st_mtime_ns
    assert main([*base, "--frames", "png16"]) == 0
    assert len(list((out / "clip_depth_frames").iterdir())) == 10 and frames[0].stat().st_mtime_ns != first
    assert mkv.stat().st_mtime_ns == stamp
    capsys.readouterr()
    assert main([*base, "--frames", "png8"]) == 0
    assert "0 done, 1 skipped" in capsys.readouterr().out


def test_an_odd_width_is_said_where_h264_pads_it(
    tiny_da: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """User trial 6: an 853-pixel-wide plate gave an 854-wide _depth.mp4 without a word."""
    odd = tmp_path / "odd.mkv"
    source = ["-f", "lavfi", "-i", "testsrc=size=63x48:rate=25", "-frames:v", "3"]
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *source, "-c:v", "ffv1", str(odd)], check=True)
    est = load_model(str(tiny_da), device="cpu")
    with caplog.at_level("INFO", logger="depthforge"):
        res = run_video(odd, tmp_path / "out", estimator=est, options=VideoOptions(input_size_hw=SMALL))
    assert "odd_depth.mp4: H.264 needs even sizes, so 63x48 is encoded as 64x48" in caplog.text
    assert "the lossless _depth.mkv keeps the size" in caplog.text
    assert (probe_video(res.paths["depth16"]).width, probe_video(res.paths["depth8"]).width) == (63, 64)


def test_a_plates_pixel_aspect_and_timecode_are_kept(
    tiny_da: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """User trial 6: every output of an anamorphic plate (SAR 32:27) was square-pixelled, none kept the source
    timecode an editor conforms the depth by, and an interlaced plate's combed frames were taken without a word."""
    from fractions import Fraction

    plate = tmp_path / "plate.mov"
    source = ["-f", "lavfi", "-i", "testsrc=size=72x48:rate=25", "-frames:v", "3", "-vf", "setsar=32/27"]
    encode = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-timecode", "01:00:10:05", str(plate)]
    interlace = ["-flags", "+ilme+ildct", "-x264opts", "tff=1"]
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *source, *interlace, *encode], check=True)
    info = probe_video(plate)
    assert (info.pixel_aspect, info.timecode, info.interlaced) == (Fraction(32, 27), "01:00:10:05", True)
    opts = VideoOptions(input_size_hw=SMALL, combine="horizontal", stereo="half-left-right")
    with caplog.at_level("INFO", logger="depthforge"):
        res = run_video(plate, tmp_path / "out", estimator=load_model(str(tiny_da), device="cpu"), options=opts)
    assert "plate.mov is interlaced: its frames are read whole" in caplog.text
    for role in ("depth16", "depth8", "combined"):
        out = probe_video(res.paths[role])
        assert (out.pixel_aspect, out.timecode) == (Fraction(32, 27), "01:00:10:05"), role
    assert probe_video(res.paths["stereo"]).timecode == "01:00:10:05"
    # review: a timecode no writer takes (minute 99) aborted the whole run; it is left out
    odd = tmp_path / "odd.mkv"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", *source[:-2], "-metadata", "timecode=01:99:00:00", str(odd)], check=True
    )
    assert probe_video(odd).timecode == ""


def test_an_image_sequence_is_a_clip_that_keeps_its_frame_numbers(
    tiny_da: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """User trial 6: a VFX plate's numbered frames were each estimated as an unrelated photo (each its own range,
    so the depth flickered; gaps unsaid). ``estimate "plates/shot.####.png"`` treats them as one shot."""
    from PIL import Image

    plates = tmp_path / "plates"
    plates.mkdir()
    photo = data.astronaut()
    for n in (1001, 1002, 1003, 1004, 1006, 1007):  # 1005 missing
        crop = photo[100 + 2 * (n - 1001) : 196 + 2 * (n - 1001), 100:228]
        Image.fromarray(np.ascontiguousarray(crop)).save(plates / f"shot.{n:04d}.png")
    out = tmp_path / "out"
    args = ["estimate", str(plates / "shot.####.png"), "-o", str(out), "--model", str(tiny_da), "--fps", "25"]
    assert main([*args, "--frames", "png16", "--no-visual"]) == 0
    said = capsys.readouterr()
    assert "shot.####.png: 1 frame(s) missing between 1001 and 1007 (1005)" in said.err and "1 done" in said.out
    frames = sorted(p.name for p in (out / "shot_depth_frames").iterdir())
    assert frames == [f"shot_{n:06d}.png" for n in (1001, 1002, 1003, 1004, 1006, 1007)]
    video = probe_video(out / "shot_depth.mkv")
    assert (video.frame_count, video.fps, video.width, video.height) == (6, 25, 128, 96)
    doc = json.loads((out / "shot_depth.json").read_text())
    assert doc["frame_numbers"] == {"first": 1001, "last": 1007, "missing": 1, "missing_first": [1005]}
    ranges = {json.loads(Image.open(out / "shot_depth_frames" / f).text["depthforge"])["display_far"] for f in frames}
    assert len(ranges) == 1  # one range for the shot, not one per frame
    assert main([*args, "--frames", "png16", "--no-visual"]) == 0 and "0 done, 1 skipped" in capsys.readouterr().out
    # review: numbers of seven digits and more were not found again, so every rerun redid the whole clip
    for n in (1234567, 1234568):
        Image.open(plates / "shot.1001.png").save(plates / f"big.{n}.png")
    big = ["estimate", str(plates / "big.%d.png"), "-o", str(out), "--model", str(tiny_da), "--no-visual"]
    assert main([*big, "--frames", "exr"]) == 0
    assert sorted(p.name for p in (out / "big_depth_frames").iterdir()) == ["big_1234567.exr", "big_1234568.exr"]
    capsys.readouterr()
    assert main([*big, "--frames", "exr"]) == 0 and "0 done, 1 skipped" in capsys.readouterr().out
    # user trial 8: from Python, a plain function as the model, and the sequence's own name as the default stem
    res = run_video(plates / "shot.####.png", tmp_path / "py", estimator=lambda rgb: rgb.mean(axis=2) / 255.0)
    assert sorted(p.name for p in (tmp_path / "py").iterdir()) == [
        "shot_depth.json",
        "shot_depth.mkv",
        "shot_depth.mp4",
    ]
    assert res.frames == 6


def test_depth_beyond_the_clips_fixed_range_is_counted_and_said_and_old_partials_go(tmp_path: Path) -> None:
    # user trial: the "16-bit lossless" clip_depth.mkv stored depth outside the range fixed from the first frames
    # at its ends without a word (4 % of the pixels of a clip); the share is now in the JSON, the result and a notice
    from depthforge.models.callable import CallableEstimator

    est = CallableEstimator(lambda rgb: rgb[:, :, 0].astype(np.float32) + 10.0, name="red is nearness")
    frames = []
    for i in range(12):
        frame = np.zeros((48, 64, 3), np.uint8)
        frame[:, :, 0] = np.linspace(20, 120, 64, dtype=np.uint8)[None, :]  # a steady background
        if i >= 8:
            frame[10:26, 10:26, 0] = 250  # a subject nearer than anything in the first frames
        frames.append(frame)
    from depthforge.io.video_writer import VideoWriter

    clip = tmp_path / "in.mkv"
    with VideoWriter(clip, size_hw=(48, 64), fps=FPS, codec="ffv1", pix_fmt="rgb24") as video:  # lossless
        for frame in frames:
            video.write(frame)
    # what an interrupted earlier run left (user trial: a later run kept them beside its own outputs)
    stale_frame = tmp_path / "out" / "in_depth_frames" / "in_000099.png"
    stale_frame.parent.mkdir(parents=True)
    stale_frame.write_bytes(b"old")
    stale_clip = tmp_path / "out" / "in_depth.partial.mkv"
    stale_clip.write_bytes(b"old")
    opts = VideoOptions(batch_size=4, depth8=False, frames="png8")
    result = run_video(clip, tmp_path / "out", estimator=est, options=opts)
    assert not stale_clip.exists() and not stale_frame.exists()
    assert len(list(stale_frame.parent.iterdir())) == 12
    subject = 4 * 16 * 16 / (12 * 48 * 64)  # the subject's share of all the clip's pixels (4 frames of 12)
    assert 0.3 * subject < result.clipped <= 1.2 * subject
    import json

    sidecar = json.loads(result.paths["sidecar"].read_text())
    assert sidecar["clipped"] == pytest.approx(result.clipped)
    # a PNG frame carries the clip's range, so it reads back as depth on its own (user trial: only the JSON had it)
    from PIL import Image

    from depthforge.io.depthread import read_depth

    frame = sorted(result.paths["frames"].iterdir())[0]
    codes = np.asarray(Image.open(frame), dtype=np.float64)
    far, near = sidecar["display_range"]["far"], sidecar["display_range"]["near"]
    assert np.allclose(read_depth(frame).values, far + codes / 255 * (near - far), atol=1e-5)
    steady = run_video(clip, tmp_path / "out2", estimator=est, options=VideoOptions(temporal=False, depth8=False))
    assert steady.clipped == 0.0


def test_videos_and_photos_are_told_apart_by_content(
    clip: Path, tiny_da: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # user trial: an MP4 named 'noext' was refused as "not a readable image (MP4/QuickTime)", a JPEG named
    # photo.mp4 as "not a readable video", though the README says names do not matter
    from PIL import Image

    video, photo = tmp_path / "noext", tmp_path / "photo.mp4"
    video.write_bytes(clip.read_bytes())
    Image.fromarray(np.full((40, 56, 3), 120, np.uint8)).save(photo, format="JPEG")
    out = tmp_path / "out"
    code = main(["estimate", str(video), str(photo), "-o", str(out), "--model", str(tiny_da), "--no-visual"])
    assert code == 0, capsys.readouterr().err
    assert probe_video(out / "noext_depth.mkv").frame_count == probe_video(clip).frame_count
    assert Image.open(out / "photo_depth.png").size == (56, 40)
