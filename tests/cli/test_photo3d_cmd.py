"""``depthforge photo3d`` end to end on a small photo with a depth file, and its clean one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from depthforge.cli.main import main


@pytest.fixture()
def scene(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(40, 200, (60, 90, 3), dtype=np.uint8)).save(tmp_path / "photo.png")
    d = np.full((60, 90), 3.0, np.float32)
    d[15:45, 30:60] = 9.0
    np.save(tmp_path / "disp.npy", d)
    return tmp_path / "photo.png", tmp_path / "disp.npy"


def _base(scene: tuple[Path, Path]) -> list[str]:
    photo, disp = scene
    return ["photo3d", str(photo), "--depth", str(disp), "--depth-kind", "disparity"]


def test_glb_with_video(scene: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import trimesh

    from depthforge.io.video import probe_video

    out = tmp_path / "s.glb"
    args = [*_base(scene), "--baseline-m", "0.1", "--fov", "50", "-o", str(out)]
    assert main([*args, "--video", "swing", "--duration", "0.5", "--fps", "10", "--ply-frame", "viewer"]) == 0
    out_text, err_text = capsys.readouterr()
    assert "2 layers" in out_text
    assert "--ply-frame: for .ply outputs" in err_text  # said, not silently ignored (user trial)
    loaded = trimesh.load(out, process=False)
    assert sorted(loaded.graph.nodes_geometry) == ["layer_0_far", "layer_1_near"]
    side = json.loads(out.with_name("s.glb.json").read_text())
    # disparity with a baseline is metric: z = fx * b / d, with fx from the 50-degree field of view
    fx = side["camera"]["intrinsics"]["fx"]
    assert side["units"] == "m" and side["camera"]["hfov_deg"] == pytest.approx(50.0)
    assert [d["z_near"] for d in side["layers"]] == pytest.approx([fx * 0.1 / 3.0, fx * 0.1 / 9.0], rel=1e-5)
    info = probe_video(tmp_path / "s_swing.mp4")
    assert info.frame_count == 5 and (info.width, info.height) == (90, 60)


def test_ply_viewer_frame_and_stride(scene: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "s.ply"
    args = [*_base(scene), "--ply-frame", "viewer", "--target-vertices", "0", "--stride", "3", "-o", str(out)]
    assert main([*args, "--inpaint", "telea", "--layers", "1"]) == 0
    head = out.read_bytes()[:2000].decode("ascii", "replace")
    assert (
        "comment H 60\n" in head and "comment W 90\n" in head and "element vertex 651\n" in head
    )  # 21 x 31 (last row, column kept)
    assert "y up" in head and "layer_0_far" in head


@pytest.mark.parametrize(
    ("extra", "word"),
    [
        (["-o", "s.obj"], "output"),
        (["-o", "s.glb", "--video", "spin"], "video"),
        (["-o", "s.glb", "--video", "circle", "--video-out", "s.avi"], "--video-out: "),
        # the clip's options before any work (user trial 4: refused after the .glb was written, by library names)
        (["-o", "s.glb", "--video", "swing", "--duration", "0"], "--duration: 0"),
        (["-o", "s.glb", "--video", "swing", "--fps", "1000"], "--fps: 1000"),
        (["-o", "s.glb", "--video", "swing", "--amplitude", "500"], "--amplitude: 500"),
        (["-o", "s.glb", "--inpaint", "onnx:missing.onnx"], "missing.onnx"),
        (["-o", "s.glb", "--equirect"], "equirect"),
        (["-o", "s.glb", "--layers", "0"], "--layers"),
    ],
)
def test_errors_are_one_line(
    scene: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], word: str
) -> None:
    extra = [str(tmp_path / e) if e.startswith("s.") else e for e in extra]
    assert main([*_base(scene), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and word in err[0] and "Traceback" not in err[0]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("s.")]


def test_missing_photo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["photo3d", str(tmp_path / "nope.png"), "--depth", "x.npy", "-o", str(tmp_path / "s.glb")]) == 2
    assert "nope.png" in capsys.readouterr().err


def test_onnx_inpainter_end_to_end(
    scene: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tiny ONNX inpainter exported in the test (LaMa convention) fills the hidden wall behind the box."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("torch")
    from tests.models.test_inpaint_onnx import _export

    model = _export(tmp_path / "tiny.onnx")
    out = tmp_path / "s.glb"
    assert main([*_base(scene), "--inpaint", f"onnx:{model}", "-o", str(out)]) == 0
    assert "tiny" in capsys.readouterr().err  # the inpainter (and its licence) is reported
    side = json.loads(out.with_name("s.glb.json").read_text())
    assert "tiny" in side["inpaint"] and [d["name"] for d in side["layers"]] == ["layer_0_far", "layer_1_near"]


def test_batch_output_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``batch --photo3d-format/--photo3d-inpaint`` reach the job's options (the producer itself is tested in
    tests/pipeline/test_layered_photo.py)."""
    import depthforge.pipeline.batch as batch
    from depthforge.pipeline.batch import BatchSummary

    seen = []
    monkeypatch.setattr(batch, "run_batch", lambda job, **kw: seen.append(job) or BatchSummary(total=1, done=1))
    (tmp_path / "in").mkdir()
    args = ["batch", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--outputs", "photo3d,mesh"]
    assert main([*args, "--photo3d-format", "ply", "--photo3d-inpaint", "ns"]) == 0
    job = seen[0]
    assert job.outputs == ("photo3d", "mesh")
    assert (job.options.photo3d_format, job.options.photo3d_inpaint) == ("ply", "ns")


def test_batch_learned_inpainter_is_checked_first_and_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``batch --photo3d-inpaint onnx:FILE``: a missing file is one line before any work; a relative file reaches
    the job as an absolute path (workers may start elsewhere)."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("torch")
    import depthforge.pipeline.batch as batch
    from depthforge.pipeline.batch import BatchSummary
    from tests.models.test_inpaint_onnx import _export

    seen = []
    monkeypatch.setattr(batch, "run_batch", lambda job, **kw: seen.append(job) or BatchSummary(total=1, done=1))
    (tmp_path / "in").mkdir()
    args = ["batch", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--outputs", "photo3d"]
    assert main([*args, "--photo3d-inpaint", "onnx:missing.onnx"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.onnx" in err[0] and not seen
    _export(tmp_path / "tiny.onnx")
    monkeypatch.chdir(tmp_path)
    assert main([*args, "--photo3d-inpaint", "onnx:tiny.onnx"]) == 0
    assert seen[0].options.photo3d_inpaint == f"onnx:{tmp_path.resolve() / 'tiny.onnx'}"
    assert "tiny.onnx" in capsys.readouterr().err  # the inpainter and its licence are reported


def test_uncached_hub_inpainter_offline_is_one_line_naming_onnx_file(
    scene: tuple[Path, Path], tmp_path: Path, hub_unavailable: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--inpaint org/name`` neither cached nor reachable: one line naming --inpaint onnx:FILE, nothing written."""
    pytest.importorskip("onnxruntime")
    out = tmp_path / "s.glb"
    assert main([*_base(scene), "--inpaint", "some-org/lama", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'some-org/lama' is not cached" in err[0], err
    assert err[0].endswith("or pass a local ONNX file with --inpaint onnx:FILE")
    assert not out.exists()
