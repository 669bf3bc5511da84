"""``depthforge bokeh`` and ``depthforge mask`` end to end: outputs, figures on the disc scene, clean errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from depthforge.cli.main import main
from depthforge.io.depthfiles import write_depth
from tests.cli.test_hostile_cli import KIND_NOTICE
from tests.render.test_bokeh import disc_scene


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bokeh_cli")
    img, depth, disc, _ = disc_scene()
    PILImage.fromarray(img).save(root / "scene.png")
    write_depth(root / "scene_depth.npy", depth)
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    np.save(root / "disc.npy", disc)
    return {
        "image": root / "scene.png",
        "depth": root / "scene_depth.npy",
        "broken": root / "broken.png",
        "root": root,
        "disc": root / "disc.npy",
    }


def test_bokeh_command(files, capsys):
    out = files["root"] / "bokeh.png"
    code = main(
        [
            "bokeh",
            str(files["image"]),
            "--depth",
            str(files["depth"]),
            "--depth-kind",
            "metric",
            "--focus-xy",
            "128",
            "128",
            "--aperture",
            "10",
            "--blades",
            "6",
            "-o",
            str(out),
        ]
    )
    assert code == 0 and "focus xy" in capsys.readouterr().out
    src, res = np.asarray(PILImage.open(files["image"])), np.asarray(PILImage.open(out))
    assert res.shape == src.shape and np.array_equal(res[128, 128], src[128, 128])
    assert np.abs(res[5:20, 5:20].astype(int) - src[5:20, 5:20]).mean() > 5
    zero = files["root"] / "zero.png"
    assert main(["bokeh", str(files["image"]), "--depth", str(files["depth"]), "--aperture", "0", "-o", str(zero)]) == 0
    assert np.array_equal(np.asarray(PILImage.open(zero)), src)
    fnum = files["root"] / "fnum.jpg"
    assert (
        main(
            [
                "bokeh",
                str(files["image"]),
                "--depth",
                str(files["depth"]),
                "--depth-kind",
                "metric",
                "--f-number",
                "2.8",
                "-o",
                str(fnum),
            ]
        )
        == 0
    )
    assert "intrinsics: default" in capsys.readouterr().err


def test_mask_command_outputs(files):
    disc = np.load(files["disc"])
    mask = files["root"] / "mask.png"
    assert main(["mask", str(files["image"]), "--depth", str(files["depth"]), "-o", str(mask)]) == 0
    m = PILImage.open(mask)
    assert m.mode == "L" and m.size == (256, 256)
    a = np.asarray(m) >= 128
    assert (a & disc).sum() / (a | disc).sum() >= 0.98
    cut = files["root"] / "cut.png"
    assert main(["mask", str(files["image"]), "--depth", str(files["depth"]), "--cutout", "-o", str(cut)]) == 0
    rgba = PILImage.open(cut)
    assert rgba.mode == "RGBA" and np.asarray(rgba)[0, 0, 3] == 0 and np.asarray(rgba)[128, 128, 3] == 255
    green = files["root"] / "green.jpg"
    assert (
        main(["mask", str(files["image"]), "--depth", str(files["depth"]), "--background", "0,255,0", "-o", str(green)])
        == 0
    )
    px = np.asarray(PILImage.open(green))[2, 2].astype(int)
    assert px[1] > 230 and px[0] < 25 and px[2] < 25
    thr = files["root"] / "thr.png"
    assert (
        main(
            [
                "mask",
                str(files["image"]),
                "--depth",
                str(files["depth"]),
                "--depth-kind",
                "metric",
                "--threshold",
                "0.5",
                "-o",
                str(thr),
            ]
        )
        == 0
    )
    assert not np.asarray(PILImage.open(thr)).any()


def test_mask_with_a_matting_model(files, tmp_path, capsys):
    from depthforge.models.segmentation import build_tiny_vitmatte

    model = build_tiny_vitmatte(tmp_path / "vm")
    out = files["root"] / "matte.png"
    assert (
        main(
            [
                "mask",
                str(files["image"]),
                "--depth",
                str(files["depth"]),
                "--method",
                "model",
                "--seg-model",
                str(model),
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert "licence" in capsys.readouterr().err
    a = np.asarray(PILImage.open(out))
    assert a.shape == (256, 256) and a[128, 128] == 255 and a[0, 0] == 0


@pytest.mark.parametrize("cmd", ["bokeh", "mask"])
def test_bad_input_is_a_clean_error(files, cmd, capsys, tmp_path):
    out = str(tmp_path / "o.png")
    cases = [
        [cmd, str(tmp_path / "missing.png"), "--depth", str(files["depth"]), "-o", out],
        [cmd, str(files["broken"]), "--depth", str(files["depth"]), "-o", out],
        [cmd, str(files["image"]), "--depth", str(tmp_path / "nope.npy"), "-o", out],
    ]
    if cmd == "bokeh":
        cases.append([cmd, str(files["image"]), "--depth", str(files["depth"]), "--blades", "2", "-o", out])
        cases.append(
            [
                cmd,
                str(files["image"]),
                "--depth",
                str(files["depth"]),
                "--depth-kind",
                "relative",
                "--f-number",
                "2",
                "-o",
                out,
            ]
        )
    else:
        cases.append([cmd, str(files["image"]), "--depth", str(files["depth"]), "-o", str(tmp_path / "m.jpg")])
        cases.append([cmd, str(files["image"]), "--depth", str(files["depth"]), "--background", "red", "-o", out])
    for argv in cases:
        assert main(argv) == 2, argv
        err = KIND_NOTICE.sub("", capsys.readouterr().err)
        assert err.startswith("depthforge: error:") and "Traceback" not in err
    assert not (tmp_path / "o.png").exists()
