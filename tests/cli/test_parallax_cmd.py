"""``depthforge parallax`` end to end on a small photo with a depth file, and its clean errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from depthforge.cli.main import main
from depthforge.io.video import probe_video


@pytest.fixture()
def scene(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(3)
    img = rng.integers(40, 200, (60, 90, 3), dtype=np.uint8)
    Image.fromarray(img).save(tmp_path / "photo.png")
    d = np.full((60, 90), 3.0, np.float32)
    d[15:45, 30:60] = 9.0
    np.save(tmp_path / "disp.npy", d)
    return tmp_path / "photo.png", tmp_path / "disp.npy"


@pytest.mark.parametrize(("name", "codec"), [("out.mp4", "h264"), ("out.gif", "gif")])
def test_parallax_writes_a_clip(
    scene: tuple[Path, Path], tmp_path: Path, name: str, codec: str, capsys: pytest.CaptureFixture[str]
) -> None:
    photo, disp = scene
    args = ["parallax", str(photo), "--depth", str(disp), "--depth-kind", "disparity", "--motion", "circle"]
    extra = ["--quality", "20", "--start", "1,0"]  # said to do nothing here, not silently ignored (user trial)
    assert main([*args, "--duration", "0.5", "--fps", "10", "-o", str(tmp_path / name), *extra]) == 0
    err = capsys.readouterr().err
    assert "--start/--end: for --motion linear" in err and ("--quality: a CRF" in err) == (codec == "gif")
    info = probe_video(tmp_path / name)
    assert info.codec == codec and info.frame_count == 5 and (info.width, info.height) == (90, 60)


def test_parallax_linear_png_sequence(scene: tuple[Path, Path], tmp_path: Path) -> None:
    photo, disp = scene
    code = main(
        ["parallax", str(photo), "--depth", str(disp), "--depth-kind", "disparity", "--motion", "linear",
         "--end", "3,0", "--no-loop", "--duration", "0.3", "--fps", "10", "-o", str(tmp_path / "seq")]
    )  # fmt: skip
    assert code == 0
    first = np.asarray(Image.open(tmp_path / "seq" / "frame_00000.png"))
    assert np.array_equal(first, np.asarray(Image.open(photo)))  # a linear path starts at the input view


def test_parallax_errors(scene: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photo, disp = scene
    base = ["parallax", str(photo), "--depth", str(disp), "--depth-kind", "disparity"]
    assert main([*base, "--motion", "spin", "-o", str(tmp_path / "a.mp4")]) == 2
    assert "motion" in capsys.readouterr().err
    assert main([*base, "-o", str(tmp_path / "a.avi")]) == 2
    assert main(["parallax", str(tmp_path / "missing.png"), "--depth", str(disp), "-o", str(tmp_path / "b.mp4")]) == 2
    assert main([*base, "--duration", "-1", "-o", str(tmp_path / "c.mp4")]) == 2
    assert not any(p.suffix in (".mp4", ".avi") for p in tmp_path.iterdir())


@pytest.mark.parametrize(("sig", "status"), [("SIGTERM", 143), ("SIGINT", 130)])
def test_stopped_mid_clip_keeps_a_playable_partial(tmp_path: Path, sig: str, status: int) -> None:
    """A real process stopped while encoding: the named status, no traceback, no temporary file, and the frames
    done so far as a playable ``clip.partial.mp4`` (SIGTERM is handled like Ctrl-C)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    rng = np.random.default_rng(4)
    Image.fromarray(rng.integers(0, 255, (720, 960, 3), dtype=np.uint8)).save(tmp_path / "photo.png")
    np.save(tmp_path / "depth.npy", np.linspace(1, 9, 720 * 960, dtype=np.float32).reshape(720, 960))
    argv = [
        sys.executable,
        "-m",
        "depthforge",
        "parallax",
        "photo.png",
        "--depth",
        "depth.npy",
        "--depth-kind",
        "metric",
        "--duration",
        "20",
        "--fps",
        "30",
        "-o",
        "clip.mp4",
    ]
    proc = subprocess.Popen(
        argv, cwd=tmp_path, stderr=subprocess.PIPE, text=True, env=dict(os.environ, DEPTHFORGE_THREADS="1")
    )
    assert proc.stderr is not None
    seen = ""
    while "frames at" not in seen and proc.poll() is None:  # the clip has started (the progress bar has no \n)
        seen += proc.stderr.read(1)
    time.sleep(1.0)
    proc.send_signal(getattr(signal, sig))
    err = seen + proc.stderr.read()
    assert proc.wait(30) == status
    assert "Traceback" not in err and ("terminated" if status == 143 else "interrupted") in err
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["clip.partial.mp4", "depth.npy", "photo.png"], names
    assert 0 < probe_video(tmp_path / "clip.partial.mp4").frame_count < 600


def test_the_commands_choices_are_the_librarys() -> None:
    # the command line keeps its own copies so that it starts without importing the renderer
    from depthforge.cli import parallax_cmd, photo3d_cmd
    from depthforge.render.motion import EASINGS, MOTIONS

    assert tuple(parallax_cmd._EASINGS) == tuple(EASINGS)
    assert set(parallax_cmd._MOTIONS) == set(MOTIONS) and set(photo3d_cmd._MOTIONS) == set(MOTIONS) - {"linear"}
