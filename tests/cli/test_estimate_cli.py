"""`depthforge estimate` and `depthforge models` end to end, with tiny local models and real photos."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from depthforge.cli.main import main
from depthforge.io.atomic import TEMP_MARK


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "depthforge", *args], capture_output=True, text=True, env=full_env, timeout=300
    )


def assert_one_line_error(stderr: str, *needles: str) -> None:
    assert "Traceback" not in stderr
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    for needle in needles:
        assert any(needle in ln for ln in lines), (needle, stderr)


def test_help_is_light() -> None:
    code = (
        "import sys\n"
        "from depthforge.cli.main import build_parser\n"
        "build_parser().format_help()\n"
        "heavy = [m for m in ('torch', 'transformers', 'cv2', 'trimesh', 'gradio', 'ray') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"--help imported {out.stdout.strip()}"


def test_folder_of_photos_gives_one_png16_each_then_skips(photos: Path, tiny_da: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = run_cli("estimate", str(photos), "-o", str(out), "--model", str(tiny_da))
    assert r.returncode == 0, r.stderr
    assert "4 done, 0 skipped, 0 failed" in r.stdout
    for src in sorted(photos.iterdir()):
        dst = out / f"{src.stem}_depth.png"
        with Image.open(src) as a, Image.open(dst) as b:
            assert b.size == a.size
            assert np.asarray(b).dtype == np.uint16
    stamps = {p: p.stat().st_mtime_ns for p in out.iterdir()}
    r2 = run_cli("estimate", str(photos), "-o", str(out), "--model", str(tiny_da))
    assert r2.returncode == 0 and "0 done, 4 skipped, 0 failed" in r2.stdout
    assert {p: p.stat().st_mtime_ns for p in out.iterdir()} == stamps


def test_existing_outputs_are_kept_and_only_the_missing_ones_written(
    photos: Path, tiny_da: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """User trial 6: a second run asking for one more output replaced the first run's depth file in silence."""
    src = sorted(photos.iterdir())[0]
    (tmp_path / "in").mkdir()
    shutil.copy(src, tmp_path / "in" / src.name)
    out = tmp_path / "out"
    base = ["estimate", str(tmp_path / "in"), "-o", str(out), "--model", str(tiny_da), "--format", "exr"]
    assert main(base) == 0
    exr = out / f"{src.stem}_depth.exr"
    stamp = exr.stat().st_mtime_ns
    capsys.readouterr()
    assert main([*base, "--colormap", "inferno"]) == 0
    said = capsys.readouterr()
    assert exr.stat().st_mtime_ns == stamp
    assert (out / f"{src.stem}_depth_inferno.png").is_file()
    assert "kept existing outputs, wrote the others" in said.err and exr.name in said.err
    assert "1 done, 0 skipped" in said.out
    assert main([*base, "--colormap", "inferno"]) == 0
    assert "0 done, 1 skipped" in capsys.readouterr().out
    assert main([*base, "--colormap", "inferno", "--overwrite"]) == 0
    assert exr.stat().st_mtime_ns != stamp
    (tmp_path / "in" / src.name).write_bytes(b"not a photo")  # the review: a photo that then fails keeps no note
    capsys.readouterr()
    assert main([*base, "--colormap", "magma"]) != 0
    said = capsys.readouterr()
    assert "0 done, 0 skipped, 1 failed" in said.out and "kept existing" not in said.err


def test_video_options_on_photos_are_said(
    photos: Path, tiny_da: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """User trial 6: --frames, --stereo and the temporal options on photos alone were taken without a word."""
    src = sorted(photos.iterdir())[0]
    args = ["estimate", str(src), "-o", str(tmp_path), "--model", str(tiny_da), "--frames", "png16"]
    assert main([*args, "--stereo", "left-right", "--no-temporal"]) == 0
    err = capsys.readouterr().err
    assert "--frames, --stereo, --no-temporal: not used (for videos only: no video among the inputs)" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{src.stem}_depth.png"]


def test_an_output_folder_inside_the_input_folder_is_not_read_back(photos: Path, tiny_da: Path, tmp_path: Path) -> None:
    """A user trial ran `estimate inp -o inp/out` twice and got inp/out/out/photo_depth_depth.png."""
    import shutil

    from depthforge.cli.main import main

    inp = tmp_path / "inp"
    shutil.copytree(photos, inp)
    for _ in range(2):
        assert main(["estimate", str(inp), "-o", str(inp / "out"), "--model", str(tiny_da)]) == 0
    assert not (inp / "out" / "out").exists()
    assert sorted(p.name for p in (inp / "out").iterdir()) == sorted(f"{p.stem}_depth.png" for p in photos.iterdir())
    from depthforge.pipeline.estimation import collect_inputs

    # an output folder that is the input folder or holds it leaves every photo in (review finding: -o . found none)
    for out in (inp, tmp_path):
        assert {f.name for f, _ in collect_inputs([inp], exclude=out)} >= {p.name for p in photos.iterdir()}


def test_outputs_beside_the_inputs_are_not_taken_for_inputs_again(photos: Path, tiny_da: Path, tmp_path: Path) -> None:
    # user trial: 'estimate p4 -o p4' three times made x_depth.png, x_depth_depth.png, x_depth_depth_depth.png
    from depthforge.pipeline.estimation import collect_inputs

    inp = tmp_path / "p"
    shutil.copytree(photos, inp)
    argv = [
        "estimate",
        str(inp),
        "-o",
        str(inp),
        "--model",
        str(tiny_da),
        "--colormap",
        "inferno",
        "--combine",
        "horizontal",
    ]
    assert main(argv) == 0
    first = sorted(p.name for p in inp.iterdir())
    assert main(argv) == 0
    assert sorted(p.name for p in inp.iterdir()) == first  # the same files, none made from an output
    names = {f.name for f, _ in collect_inputs([inp], exclude=inp)}
    assert names == {p.name for p in photos.iterdir()}
    # named like an output but of no input beside it: a photo like any other; a video's frames folder is left out
    (inp / "holiday_depth.png").write_bytes((inp / first[0]).read_bytes())
    (inp / "clip.mp4").write_bytes(b"")
    (inp / "clip_depth_frames").mkdir()
    (inp / "clip_depth_frames" / "000001.png").write_bytes(b"")
    names = {f.name for f, _ in collect_inputs([inp], exclude=inp)}
    assert names == {p.name for p in photos.iterdir()} | {"holiday_depth.png", "clip.mp4"}
    # only the suffixes outputs get, after an input's whole stem (review: 'beach_depth_of_field.jpg' and a folder
    # 'trip_3d_shots/' were dropped, the output 'foo_3d_x_depth.png' of 'foo_3d_x.jpg' kept)
    for name in ("beach.jpg", "beach_depth_of_field.jpg", "foo_3d_x.jpg", "foo_3d_x_depth.png", "trip.mp4"):
        (inp / name).write_bytes(b"")
    (inp / "trip_3d_shots").mkdir()
    (inp / "trip_3d_shots" / "IMG_1.jpg").write_bytes(b"")
    names = {f.relative_to(inp).as_posix() for f, _ in collect_inputs([inp], exclude=inp)}
    assert {"beach_depth_of_field.jpg", "foo_3d_x.jpg", "trip_3d_shots/IMG_1.jpg"} <= names
    assert "foo_3d_x_depth.png" not in names


def test_exif_rotated_photo_gives_upright_depth(tmp_path: Path, tiny_da: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    Image.new("RGB", (64, 40), (120, 80, 40)).save(tmp_path / "rot.jpg", exif=exif)
    code = main(["estimate", str(tmp_path / "rot.jpg"), "-o", str(tmp_path / "o"), "--model", str(tiny_da)])
    assert code == 0
    with Image.open(tmp_path / "o" / "rot_depth.png") as d:
        assert d.size == (40, 64)


def test_every_output_option(photos: Path, tiny_da: Path, tmp_path: Path) -> None:
    src = photos / "coffee.jpg"
    code = main(
        [
            "estimate",
            str(src),
            "-o",
            str(tmp_path),
            "--model",
            str(tiny_da),
            "--format",
            "tiff",
            "--colormap",
            "inferno",
            "--combine",
            "horizontal",
            "--controlnet",
            "--clip",
            "0.05,0.95",
        ]
    )
    assert code == 0
    with Image.open(tmp_path / "coffee_combined.png") as c:
        assert c.size == (1200, 400) and c.mode == "RGB"
    with Image.open(tmp_path / "coffee_controlnet.png") as c:
        assert c.size[0] % 64 == 0 and c.size[1] % 64 == 0 and c.mode == "RGB"
    with Image.open(tmp_path / "coffee_depth_inferno.png") as c:
        assert c.size == (600, 400)
    from depthforge.io.depthfiles import read_depth

    d = read_depth(tmp_path / "coffee_depth.tiff")
    assert d.kind == "relative" and d.shape == (400, 600) and d.model


def test_bad_inputs_fail_alone(tmp_path: Path, photos: Path, tiny_da: Path) -> None:
    batch = tmp_path / "batch"
    batch.mkdir()
    shutil.copy(photos / "chelsea.png", batch / "good.png")
    (batch / "empty.jpg").write_bytes(b"")
    (batch / "text.jpg").write_text("not an image at all")
    full = (photos / "coffee.jpg").read_bytes()
    (batch / "truncated.jpg").write_bytes(full[: len(full) // 3])
    from tests.io.test_images import _write_png_header_only

    _write_png_header_only(batch / "bomb.png", 60_000, 60_000)
    out = tmp_path / "out"
    r = run_cli("estimate", str(batch), str(tmp_path / "missing.jpg"), "-o", str(out), "--model", str(tiny_da))
    assert r.returncode == 1
    assert "1 done, 0 skipped, 5 failed" in r.stdout
    assert_one_line_error(r.stderr, "empty.jpg", "text.jpg", "truncated.jpg", "bomb.png", "missing.jpg")
    assert sorted(p.name for p in out.iterdir()) == ["good_depth.png"]
    assert not any(TEMP_MARK in p.name for p in out.rglob("*"))


def test_unknown_model_is_one_line(tmp_path: Path, photos: Path) -> None:
    r = run_cli("estimate", str(photos / "chelsea.png"), "-o", str(tmp_path), "--model", "depth-anything-v9")
    assert r.returncode == 2
    assert_one_line_error(r.stderr, "depth-anything-v9")
    assert not list(tmp_path.iterdir())


def test_uncached_model_offline_says_what_to_do(tmp_path: Path, photos: Path) -> None:
    env = {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    r = run_cli("estimate", str(photos / "chelsea.png"), "-o", str(tmp_path / "o"), "--model", "dpt-large", env=env)
    assert r.returncode == 2
    assert_one_line_error(r.stderr, "dpt-large", "not cached", "local folder")
    r2 = run_cli(
        "estimate", str(photos / "chelsea.png"), "-o", str(tmp_path / "o"), "--model", "someone/some-depth", env=env
    )
    assert r2.returncode == 2
    assert_one_line_error(r2.stderr, "someone/some-depth", "not cached")


def test_cached_hub_model_loads_offline_by_name(tmp_path: Path, photos: Path, tiny_da: Path) -> None:
    """A hub cache entry (refs/main + snapshot) resolves the registry name with no network."""
    hub = tmp_path / "hf" / "hub" / "models--depth-anything--Depth-Anything-V2-Small-hf"
    snap = hub / "snapshots" / "0123456789abcdef"
    shutil.copytree(tiny_da, snap)
    (hub / "refs").mkdir(parents=True)
    (hub / "refs" / "main").write_text("0123456789abcdef")
    env = {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    r = run_cli("estimate", str(photos / "chelsea.png"), "-o", str(tmp_path / "o"), env=env)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "o" / "chelsea_depth.png").exists()
    listing = run_cli("models", "--json", env=env)
    import json

    rows = {row["name"]: row for row in json.loads(listing.stdout)}
    assert rows["depth-anything-v2-small"]["cached"] is True
    assert rows["depth-anything-v2-large"]["cached"] is False
    assert rows["depth-anything-v2-large"]["licence"] == "CC-BY-NC-4.0"


def test_models_table_lists_every_entry(capsys: pytest.CaptureFixture[str]) -> None:
    from depthforge.models.registry import REGISTRY

    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in REGISTRY:
        assert name in out
