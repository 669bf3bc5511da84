"""``depthforge process``: filters, hole filling and alignment from the command line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from depthforge.cli.main import main
from depthforge.core.depthmap import DepthMap
from depthforge.io.depthfiles import read_depth, write_depth
from tests.conftest import cones_disparity


def _relative_scene(tmp_path: Path) -> tuple[Path, np.ndarray]:
    y, x = np.mgrid[0:60, 0:80]
    z = 1.0 + 3.0 * y / 60 + 0.5 * x / 80
    rel = (2.0 / z - 0.1).astype(np.float32)
    return write_depth(tmp_path / "rel.npy", DepthMap(rel, kind="relative")), z


def test_known_points_make_a_metric_map(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, z = _relative_scene(tmp_path)
    out = tmp_path / "metric.npy"
    argv = ["process", str(src), "-o", str(out)]
    for x, y in ((5, 5), (70, 50), (40, 20)):
        argv += ["--known", f"{x},{y},{z[y, x]:.9f}"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "aligned to 3 known point(s)" in text and "rms" in text
    got = read_depth(out)
    assert got.kind == "metric"
    np.testing.assert_allclose(got.values, z, rtol=1e-5)


def test_reference_map_alignment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, z = _relative_scene(tmp_path)
    sparse = np.full(z.shape, np.nan, np.float32)
    sparse[::7, ::5] = z[::7, ::5]
    ref = write_depth(tmp_path / "lidar.tiff", DepthMap(sparse, kind="metric"))
    out = tmp_path / "m.tiff"
    assert main(["process", str(src), "-o", str(out), "--reference", str(ref)]) == 0
    assert "aligned to the reference" in capsys.readouterr().out
    np.testing.assert_allclose(read_depth(out).values, z, rtol=1e-4)


def test_a_plain_disparity_reference_gives_disparity(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # user trial: --ref-kind disparity needed intrinsics and a baseline that process has no option for, and the
    # error said to call the disparity metric; a disparity reference now aligns the map in its pixels
    src, z = _relative_scene(tmp_path)
    disparity = (60.0 / z).astype(np.float32)  # f * B = 60 px m, unknown to the command
    sparse = np.full(z.shape, np.nan, np.float32)
    sparse[::7, ::5] = disparity[::7, ::5] * 4  # stored at 4x, as Middlebury's PNGs
    ref = write_depth(tmp_path / "disp.npy", DepthMap(sparse, kind="relative"))
    out = tmp_path / "d.tiff"
    argv = ["process", str(src), "-o", str(out), "--reference", str(ref), "--ref-kind", "disparity"]
    assert main([*argv, "--ref-scale", "0.25"]) == 0
    captured = capsys.readouterr()
    assert "aligned to the reference" in captured.out and "the output is disparity" in captured.err
    got = read_depth(out)
    assert got.kind == "disparity"
    np.testing.assert_allclose(got.values, disparity, rtol=1e-4)


@pytest.mark.data
def test_fill_and_filter_the_cones_disparity(cones: Path, tmp_path: Path) -> None:
    out = tmp_path / "filled.pfm"
    argv = [
        "process",
        str(cones / "disp2.png"),
        "--depth-kind",
        "disparity",
        "--depth-scale",
        "0.25",
        "--filter",
        "speckle",
        "--fill",
        "auto",
        "--filter",
        "median",
        "-o",
        str(out),
    ]
    assert main(argv) == 0
    got = read_depth(out, kind="disparity")
    gt = cones_disparity(cones)
    assert got.valid.all()
    known = np.isfinite(gt)
    assert np.median(np.abs(got.values[known] - gt[known])) < 0.3


def test_guided_filter_uses_the_image(tmp_path: Path) -> None:
    from PIL import Image

    src, _ = _relative_scene(tmp_path)
    Image.fromarray(np.full((60, 80, 3), 128, np.uint8)).save(tmp_path / "guide.png")
    out = tmp_path / "g.npy"
    argv = ["process", str(src), "-o", str(out), "--filter", "guided", "--image", str(tmp_path / "guide.png")]
    assert main(argv) == 0
    assert read_depth(out).shape == (60, 80)


def test_bad_inputs_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, _ = _relative_scene(tmp_path)
    out = str(tmp_path / "o.npy")
    cases = [
        ["process", str(tmp_path / "nope.npy"), "-o", out],
        ["process", str(src), "-o", out, "--known", "1,2"],
        ["process", str(src), "-o", out, "--known", "1000,2,3"],
        ["process", str(src), "-o", out, "--filter", "guided"],
        ["process", str(src), "-o", out, "--reference", str(src)],
        ["process", str(src), "-o", str(tmp_path / "o.xyz")],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("depthforge: error:") and err.count("\n") == 1, err
    assert not (tmp_path / "o.npy").exists()
