"""``depthforge mesh``, ``pointcloud`` and ``normals`` end to end, including bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from depthforge.cli.main import main
from depthforge.core.depthmap import DepthMap
from depthforge.io.depthfiles import write_depth


@pytest.fixture()
def photo(tmp_path: Path) -> Path:
    from PIL import Image

    rgb = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(rgb).save(path)
    return path


def _depth(tmp_path: Path, values: np.ndarray, kind: str = "metric", name: str = "d.npy") -> Path:
    return write_depth(tmp_path / name, DepthMap(values.astype(np.float32), kind=kind))  # type: ignore[arg-type]


def test_mesh_without_intrinsics_or_exif_falls_back_and_says_so(tmp_path: Path, photo: Path, capsys) -> None:
    import trimesh

    d = _depth(tmp_path, np.full((48, 64), 2.0))
    out = tmp_path / "m.glb"
    assert main(["mesh", str(photo), "--depth", str(d), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "falling back to the default field of view" in err and "default 60 deg hfov" in err
    tm = trimesh.load(out, process=False, force="mesh")
    assert len(tm.vertices) == 48 * 64 and len(tm.faces) == 2 * 47 * 63
    side = json.loads((tmp_path / "m.glb.json").read_text())
    assert side["metric"] is True and side["intrinsics"]["source"].startswith("default")


def test_exif_focal_length_is_used(tmp_path: Path, capsys) -> None:
    from PIL import Image

    img = Image.fromarray(np.full((30, 45, 3), 120, np.uint8))
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0xA405] = 28
    path = tmp_path / "cam.jpg"
    img.save(path, exif=exif)
    d = _depth(tmp_path, np.full((30, 45), 1.5))
    assert main(["pointcloud", str(path), "--depth", str(d), "-o", str(tmp_path / "p.ply")]) == 0
    err = capsys.readouterr().err
    assert "exif FocalLengthIn35mmFilm=28 mm" in err and "falling back" not in err


def test_relative_depth_is_flagged_not_metric(tmp_path: Path, photo: Path, capsys) -> None:
    rel = np.tile(np.linspace(0.1, 1.0, 64), (48, 1))
    d = _depth(tmp_path, rel, kind="relative")
    out = tmp_path / "m.ply"
    args = ["mesh", str(photo), "--depth", str(d), "--fov", "70", "--near", "2", "--far", "5", "-o", str(out)]
    assert main(args) == 0
    cap = capsys.readouterr()
    assert "NOT metric" in cap.out and "fov 70 deg" in cap.err
    side = json.loads((tmp_path / "m.ply.json").read_text())
    assert side["metric"] is False and side["units"] == "pseudo (not metric)"


def test_disparity_needs_baseline(tmp_path: Path, photo: Path, capsys) -> None:
    d = _depth(tmp_path, np.full((48, 64), 8.0), kind="disparity")
    out = tmp_path / "p.ply"
    assert main(["pointcloud", str(photo), "--depth", str(d), "--fx", "100", "-o", str(out)]) == 2
    assert "--baseline-m" in capsys.readouterr().err
    assert (
        main(
            [
                "pointcloud",
                str(photo),
                "--depth",
                str(d),
                "--fx",
                "100",
                "--baseline-m",
                "0.2",
                "--normals",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    side = json.loads((tmp_path / "p.ply.json").read_text())
    assert side["points"] == 48 * 64 and side["metric"] is True


def test_normals_flat_wall_and_options(tmp_path: Path, photo: Path) -> None:
    from PIL import Image

    d = _depth(tmp_path, np.full((48, 64), 3.0))
    out = tmp_path / "n.png"
    assert main(["normals", str(photo), "--depth", str(d), "-o", str(out)]) == 0
    assert (np.asarray(Image.open(out)) == [128, 128, 255]).all()
    out16 = tmp_path / "n16.png"
    assert (
        main(
            [
                "normals",
                str(photo),
                "--depth",
                str(d),
                "--bits",
                "16",
                "--directx",
                "--smooth-depth",
                "1",
                "-o",
                str(out16),
            ]
        )
        == 0
    )
    from depthforge.io.images import read_image

    assert read_image(out16).rgb.dtype == np.uint16


@pytest.mark.parametrize(
    ("values", "message"),
    [(np.full((48, 64), -1.0), "no valid pixel"), (np.full((48, 64), np.nan), "no valid pixel")],
)
def test_all_invalid_or_non_positive_depth(tmp_path: Path, photo: Path, capsys, values, message) -> None:
    d = _depth(tmp_path, values)
    assert main(["mesh", str(photo), "--depth", str(d), "-o", str(tmp_path / "m.ply")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "m.ply").exists()


def test_size_mismatch_is_resampled_with_a_notice(tmp_path: Path, photo: Path, capsys) -> None:
    d = _depth(tmp_path, np.full((24, 32), 2.0))
    assert main(["normals", str(photo), "--depth", str(d), "-o", str(tmp_path / "n.png")]) == 0
    err = capsys.readouterr().err
    assert "resampled to the image size 64x48" in err and "aspect" not in err  # the same aspect: a smaller map
    # another aspect: most likely another photo's map, said (user trial 4)
    d = _depth(tmp_path, np.full((40, 32), 2.0), name="other.npy")
    assert main(["normals", str(photo), "--depth", str(d), "-o", str(tmp_path / "n.png")]) == 0
    assert "its aspect differs by 40 %: is it this photo's?" in capsys.readouterr().err


def test_missing_files_and_bad_options(tmp_path: Path, photo: Path, capsys) -> None:
    assert main(["mesh", str(tmp_path / "nope.png"), "--depth", "x.npy", "-o", str(tmp_path / "m.ply")]) == 2
    assert "no such file" in capsys.readouterr().err
    d = _depth(tmp_path, np.full((48, 64), 2.0))
    assert main(["mesh", str(photo), "--depth", str(d), "--fx", "-3", "-o", str(tmp_path / "m.ply")]) == 2
    assert "--fx: -3" in capsys.readouterr().err  # the flag, not the library parameter focal_px
    assert main(["mesh", str(photo), "--depth", str(d), "-o", str(tmp_path / "m.fbx")]) == 2
    assert "unknown mesh format" in capsys.readouterr().err
    assert main(["mesh", str(photo), "--depth", str(d), "-o", str(tmp_path / "m.stl")]) == 0
    assert "open surface" in capsys.readouterr().err and (tmp_path / "m.stl").stat().st_size == 84 + 50 * 2 * 47 * 63
    import trimesh

    flat = trimesh.load(tmp_path / "m.stl")  # the wall 2 m away, in the millimetres slicers read an STL in
    assert flat.bounds[:, 2] == pytest.approx([-2000, -2000], abs=0.5)


def test_relief_prints_a_watertight_stl_and_checks_its_options_first(tmp_path: Path, photo: Path, capsys) -> None:
    import trimesh

    z = np.full((48, 64), 3.0)
    z[12:36, 16:48] = 1.0  # a near box in the middle
    d = _depth(tmp_path, z)
    out = tmp_path / "relief.stl"
    args = ["relief", str(photo), "--depth", str(d), "-o", str(out), "--width-mm", "63", "--resolution-mm", "1"]
    assert main([*args, "--base-mm", "3", "--relief-mm", "5"]) == 0
    assert "63.0 x 47.2 x 8.0 mm" in capsys.readouterr().out  # 64 x 48 px: the photo's aspect
    solid = trimesh.load(out)
    assert solid.is_watertight and solid.is_volume
    side = json.loads((tmp_path / "relief.stl.json").read_text())
    assert side["units"] == "mm" and side["relief_mm"] == 5.0 and side["source_image"] == "photo.png"
    for bad, flag in ((["--relief-mm", "0"], "--relief-mm"), (["--resolution-mm", "0.0001"], "--resolution-mm")):
        # refused before the depth is made: the model named would fail to load
        assert main(["relief", str(photo), "--model", "no/such-model", "-o", str(out), *bad]) == 2
        assert capsys.readouterr().err.startswith(f"depthforge: error: {flag}:")


def test_obj_never_overwrites_the_photo_and_panorama_rejects_disparity(tmp_path: Path, photo: Path, capsys) -> None:
    before = photo.read_bytes()
    d = _depth(tmp_path, np.full((48, 64), 2.0))
    assert main(["mesh", str(photo), "--depth", str(d), "-o", str(photo.with_suffix(".obj"))]) == 0
    assert photo.read_bytes() == before and (tmp_path / "photo_texture.png").exists()
    disp = _depth(tmp_path, np.full((48, 64), 3.0), kind="disparity", name="disp.npy")
    assert main(["mesh", str(photo), "--depth", str(disp), "--equirect", "-o", str(tmp_path / "p.glb")]) == 2
    assert "--equirect needs metric or relative depth" in capsys.readouterr().err


def test_vocabulary_aliases_of_the_camera_and_scene_flags(tmp_path: Path, photo: Path) -> None:
    """``--focal-px``, ``--fov-deg``, ``--near-m`` and ``--far-m`` are the library's names for ``--fx``, ``--fov``,
    ``--near`` and ``--far``; both spellings give the same file."""
    rel = np.tile(np.linspace(0.1, 1.0, 64), (48, 1))
    d = _depth(tmp_path, rel, kind="relative")
    old, new = tmp_path / "old.ply", tmp_path / "new.ply"
    assert (
        main(["pointcloud", str(photo), "--depth", str(d), "--fx", "70", "--near", "2", "--far", "5", "-o", str(old)])
        == 0
    )
    assert (
        main(
            [
                "pointcloud",
                str(photo),
                "--depth",
                str(d),
                "--focal-px",
                "70",
                "--near-m",
                "2",
                "--far-m",
                "5",
                "-o",
                str(new),
            ]
        )
        == 0
    )
    assert old.read_bytes() == new.read_bytes()
    side = json.loads((tmp_path / "new.ply.json").read_text())
    assert side["intrinsics"]["fx"] == 70 and "range 2..5" in side["depth_rule"]
    assert main(["pointcloud", str(photo), "--depth", str(d), "--fov-deg", "90", "-o", str(new)]) == 0
    assert json.loads((tmp_path / "new.ply.json").read_text())["intrinsics"]["fx"] == pytest.approx(32.0)


def test_non_ascii_names_in_ply_files_and_no_folders_in_shared_files(tmp_path: Path, photo: Path) -> None:
    # user trial 4: an é in the photo's path or the output's name made every PLY export an internal error (the
    # header was encoded as ASCII), and the photo's absolute path went into PLY comments, GLB extras and sidecars
    import trimesh

    folder = tmp_path / "vacances été"
    folder.mkdir()
    named = folder / "café ☕.png"
    named.write_bytes(photo.read_bytes())
    d = _depth(tmp_path, np.linspace(1.0, 3.0, 48 * 64).reshape(48, 64))
    for cmd, out in (("mesh", "é.ply"), ("pointcloud", "nuage.ply"), ("mesh", "é.glb")):
        target = folder / out
        assert main([cmd, str(named), "--depth", str(d), "--fx", "60", "-o", str(target)]) == 0, cmd
        side = json.loads(target.with_name(target.name + ".json").read_text(encoding="utf-8"))
        assert side["source_image"] == "café ☕.png", side
        data = target.read_bytes()
        assert str(folder).encode() not in data and str(tmp_path).encode() not in data
        loaded = trimesh.load(target, process=False)
        assert len(loaded.vertices if hasattr(loaded, "vertices") else loaded.geometry) > 0
    header = (folder / "é.ply").read_bytes().split(b"end_header")[0].decode("utf-8")
    assert "source_image: café ☕.png" in header and "é_texture.png" in header


def test_disparity_to_metres_needs_a_known_focal_length_and_normals_need_neither(
    tmp_path: Path, photo: Path, capsys
) -> None:
    # user trial 4: --baseline-m without --fx gave 'metric' points 13 % short through the default field of view;
    # normals, whose directions do not depend on the scale, demanded a baseline
    d = _depth(tmp_path, np.linspace(4.0, 12.0, 48 * 64).reshape(48, 64), kind="disparity")
    out = tmp_path / "p.ply"
    assert main(["pointcloud", str(photo), "--depth", str(d), "--baseline-m", "0.2", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("depthforge: error: --fx: ") and "--fov" in err[0], err
    assert not out.exists()
    for extra in ([], ["--fx", "80"], ["--fx", "80", "--baseline-m", "0.2"]):
        target = tmp_path / f"n{len(extra)}.png"
        assert main(["normals", str(photo), "--depth", str(d), *extra, "-o", str(target)]) == 0, extra
    a, b = (np.asarray(PILImage.open(tmp_path / f"n{k}.png"), np.float64) for k in (2, 4))
    assert np.abs(a - b).max() <= 1  # the same directions with the baseline assumed as with it given
