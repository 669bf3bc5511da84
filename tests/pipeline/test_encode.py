"""Streamed encoding: every format re-opens with the expected frame count, fps, size and codec; atomic output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from depthforge.core.errors import ValidationError
from depthforge.io.atomic import TEMP_MARK
from depthforge.pipeline.encode import EncodeError, VideoWriter, encode_frames, format_for, probe


def _frames(n: int, h: int = 47, w: int = 65) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 200, w, dtype=np.float32)[None, :, None]
    return [np.clip(ramp + 5 * i + rng.integers(0, 20, (h, w, 3)), 0, 255).astype(np.uint8) for i in range(n)]


@pytest.mark.parametrize(
    ("name", "codec", "size", "fps"),
    [
        ("clip.mp4", "h264", (64, 46), 12.0),  # odd sizes cropped to even for yuv420p
        ("clip.webm", "vp9", (64, 46), 12.0),
        ("clip.gif", "gif", (65, 47), 12.5),  # GIF delays are whole centiseconds: 8 cs per frame
        ("clip.apng", "apng", (65, 47), 12.0),
        ("clip.png", "apng", (65, 47), 12.0),
    ],
)
def test_formats_reopen(tmp_path: Path, name: str, codec: str, size: tuple[int, int], fps: float) -> None:
    out = encode_frames(iter(_frames(9)), tmp_path / name, fps=12)
    info = probe(out)
    assert (info.codec, (info.width, info.height), info.frames) == (codec, size, 9)
    assert info.fps == pytest.approx(fps, abs=0.01)
    if codec in ("h264", "vp9"):
        assert info.pix_fmt == "yuv420p"
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary or palette files left


def test_mp4_reads_back_with_imageio(tmp_path: Path) -> None:
    import imageio_ffmpeg

    frames = _frames(6, 32, 48)
    encode_frames(frames, tmp_path / "a.mp4", fps=24, quality=0)
    reader = imageio_ffmpeg.read_frames(str(tmp_path / "a.mp4"))
    meta = next(reader)
    got = [np.frombuffer(b, np.uint8).reshape(32, 48, 3) for b in reader]
    assert meta["fps"] == 24 and meta["size"] == (48, 32) and meta["codec"] == "h264" and len(got) == 6
    # crf 0 + yuv420p: chroma subsampling only, the pictures are the same
    assert np.abs(got[3].astype(int) - frames[3].astype(int)).mean() < 6


def test_png_sequence_is_lossless(tmp_path: Path) -> None:
    from PIL import Image

    frames = _frames(4)
    encode_frames(frames, tmp_path / "seq", fps=10)
    files = sorted((tmp_path / "seq").iterdir())
    assert [f.name for f in files] == [f"frame_{i:05d}.png" for i in range(4)]
    assert np.array_equal(np.asarray(Image.open(files[2])), frames[2])
    assert probe(tmp_path / "seq").frames == 4
    encode_frames(frames[:2], tmp_path / "seq", fps=10)  # replaces the old sequence as a whole
    assert len(list((tmp_path / "seq").iterdir())) == 2


def test_failure_leaves_no_output(tmp_path: Path) -> None:
    target = tmp_path / "x.mp4"
    with pytest.raises(RuntimeError), VideoWriter(target, fps=10) as video:
        video.write(_frames(1)[0])
        raise RuntimeError("renderer crashed")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValidationError, match="size"), VideoWriter(target, fps=10) as video:
        video.write(_frames(1)[0])
        video.write(_frames(1, 30, 30)[0])
    assert not any(TEMP_MARK in p.name for p in tmp_path.iterdir()) and not target.exists()


def test_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="suffix"):
        format_for(tmp_path / "a.avi")
    with pytest.raises(ValidationError, match="fps"):
        VideoWriter(tmp_path / "a.mp4", fps=0)
    with pytest.raises(ValidationError, match="frame"), VideoWriter(tmp_path / "a.mp4", fps=5) as video:
        video.write(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValidationError, match="no frame"):
        encode_frames([], tmp_path / "a.gif", fps=5)
    with pytest.raises(EncodeError):
        probe(tmp_path / "missing.mp4")
