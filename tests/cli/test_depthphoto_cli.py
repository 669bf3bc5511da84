"""Depth photos on the command line: HEIC depth as --depth, Looking Glass outputs, estimate --format gdepth /
dynamic-depth / facebook3d and --use-embedded-depth (tiny local models, no network)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from depthforge.cli.main import main
from depthforge.core.depthmap import DepthMap
from depthforge.io.depthphoto_read import read_depth_photo
from depthforge.io.depthphoto_write import write_gdepth


def test_stereo_from_a_heic_and_its_own_depth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pillow_heif")
    from tests.io.heic_builder import apple_depth_xmp, build_heic_with_depth
    from tests.io.test_heif import disparity_codes, photo

    xmp = apple_depth_xmp(float_min=0.25, float_max=1.0, pixel_format=b"hdis", accuracy="absolute")
    texture = (photo().astype(int) + np.random.default_rng(2).integers(0, 60, (120, 160, 3))).clip(0, 255)
    heic = build_heic_with_depth(tmp_path / "portrait.heic", texture.astype(np.uint8), disparity_codes(), xmp=xmp)
    out = tmp_path / "sbs.png"
    assert main(["stereo", str(heic), "--depth", str(heic), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "resampled to the image size 160x120" in err  # the 88x64 depth image stretched to the photo
    with Image.open(out) as sbs:
        assert sbs.size == (320, 120)
        left, right = np.split(np.asarray(sbs).astype(int), 2, axis=1)
    diff = np.abs(left - right).mean(axis=2)
    # the near disc (centre) moves between the eyes, the far wall (corners) stays on the screen plane
    assert diff[45:75, 60:100].mean() > 10 * max(diff[:20, :30].mean(), 0.1)


def test_stereo_quilt_and_rgbd(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (90, 120, 3), dtype=np.uint8)
    depth = DepthMap(np.linspace(1.0, 4.0, 120, dtype=np.float32)[None].repeat(90, 0), kind="metric")
    src = write_gdepth(tmp_path / "pixel.jpg", image, depth)
    assert (
        main(
            [
                "stereo",
                str(src),
                "--depth",
                str(src),
                "--layout",
                "quilt",
                "--quilt",
                "4x3",
                "-o",
                str(tmp_path / "q.png"),
            ]
        )
        == 0
    )
    quilt = tmp_path / "q_qs4x3a1.33.png"
    with Image.open(quilt) as q:
        assert q.size == (4 * 120, 3 * 90)
    assert main(["stereo", str(src), "--depth", str(src), "--layout", "rgbd", "-o", str(tmp_path / "rgbd.jpg")]) == 0
    with Image.open(tmp_path / "rgbd.jpg") as r:
        assert r.size == (240, 90)
    assert (
        main(
            [
                "stereo",
                str(src),
                "--depth",
                str(src),
                "--layout",
                "quilt",
                "--quilt",
                "4by3",
                "-o",
                str(tmp_path / "x.png"),
            ]
        )
        == 2
    )


def test_estimate_writes_depth_photos(photos: Path, tiny_da: Path, tmp_path: Path) -> None:
    one = tmp_path / "in"
    one.mkdir()
    (one / "coffee.jpg").write_bytes((photos / "coffee.jpg").read_bytes())
    for fmt, names in (
        ("gdepth", ["coffee_gdepth.jpg"]),
        ("dynamic-depth", ["coffee_dynamic_depth.jpg"]),
        ("facebook3d", ["coffee_fb3d.jpg", "coffee_fb3d_depth.jpg"]),
    ):
        out = tmp_path / fmt
        assert main(["estimate", str(one), "-o", str(out), "--model", str(tiny_da), "--format", fmt]) == 0
        for name in names:
            with Image.open(out / name) as im:
                assert im.size == (600, 400)  # the full photo, not the model's reduced decode
        if fmt != "facebook3d":
            got = read_depth_photo(out / names[0])
            assert got.depth.kind == "relative" and got.meta["written_kind"] == "relative"


def test_use_embedded_depth_uses_it_when_present_and_says_so(
    photos: Path, tiny_da: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "plain.jpg").write_bytes((photos / "astronaut.jpg").read_bytes())
    image = np.asarray(Image.open(photos / "coffee.jpg"))
    z = np.linspace(1.0, 6.0, image.shape[1], dtype=np.float32)[None].repeat(image.shape[0], 0)
    write_gdepth(src / "pixel.jpg", image, DepthMap(z, kind="metric"), bits=16)
    out = tmp_path / "out"
    code = main(
        ["estimate", str(src), "-o", str(out), "--model", str(tiny_da), "--use-embedded-depth", "--format", "tiff"]
    )
    assert code == 0
    captured = capsys.readouterr()
    assert "own depth" in captured.err and "pixel.jpg: gdepth (metric)" in captured.err
    assert "plain.jpg" not in captured.err
    assert "2 done" in captured.out
    import tifffile

    written = tifffile.imread(out / "pixel_depth.tiff")
    assert np.abs(written - z).max() < 1e-3  # the photo's own metres, not a model's guess
    assert (out / "plain_depth.tiff").exists()


def test_a_damaged_embedded_depth_is_said_before_the_model_takes_over(
    tiny_da: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # user trial 4: a GDepth JPEG with one byte changed in its extended XMP was estimated by the model in silence
    image = np.random.default_rng(3).integers(0, 255, (200, 240, 3), dtype=np.uint8)
    noise = (1.0 + np.random.default_rng(4).random((200, 240))).astype(np.float32)
    data = bytearray(write_gdepth(tmp_path / "good.jpg", image, DepthMap(noise, kind="metric"), bits=16).read_bytes())
    data[data.find(b"http://ns.adobe.com/xmp/extension/") + 35 + 40 + 500] ^= 0x01
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bad.jpg").write_bytes(bytes(data))
    out = tmp_path / "out"
    assert (
        main(["estimate", str(tmp_path / "in"), "-o", str(out), "--model", str(tiny_da), "--use-embedded-depth"]) == 0
    )
    err = capsys.readouterr().err
    assert "bad.jpg" in err and "MD5" in err and "the model estimates its depth instead" in err, err
    assert (out / "bad_depth.png").exists()


def test_a_corrupt_depth_photo_is_a_one_line_user_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = np.random.default_rng(3).integers(0, 255, (60, 80, 3), dtype=np.uint8)
    depth = DepthMap(np.linspace(1.0, 3.0, 80, dtype=np.float32)[None].repeat(60, 0), kind="metric")
    data = write_gdepth(tmp_path / "g.jpg", image, depth).read_bytes()
    at = data.index(b'GDepth:Far="') + len(b'GDepth:Far="')
    (tmp_path / "bad.jpg").write_bytes(data[:at] + b"0" + data[at + 1 :])  # far below near
    Image.fromarray(image).save(tmp_path / "photo.png")
    code = main(
        ["stereo", str(tmp_path / "photo.png"), "--depth", str(tmp_path / "bad.jpg"), "-o", str(tmp_path / "o.png")]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "bad.jpg: its depth range is invalid" in err[0], err


def test_the_photos_colour_profile_goes_with_its_outputs(tmp_path: Path) -> None:
    # user trial 4: outputs of a photo with an ICC profile (an iPhone's Display P3) had none, so colours shifted
    from PIL import ImageCms

    from depthforge.io.depthfiles import write_depth

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    rgb = np.random.default_rng(7).integers(0, 255, (60, 80, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "p.jpg", quality=95, icc_profile=icc)
    depth = write_depth(tmp_path / "d.npy", DepthMap(np.linspace(1, 4, 80 * 60).reshape(60, 80), kind="metric"))
    base = [str(tmp_path / "p.jpg"), "--depth", str(depth)]
    outs = {
        "bokeh.jpg": ["bokeh", *base],
        "sbs.png": ["stereo", *base],
        "cut.webp": ["mask", *base, "--cutout"],
    }
    for name, argv in outs.items():
        assert main([*argv, "-o", str(tmp_path / name)]) == 0, name
        with Image.open(tmp_path / name) as im:
            assert im.info.get("icc_profile") == icc, name
    assert main(["mask", *base, "-o", str(tmp_path / "m.png")]) == 0
    with Image.open(tmp_path / "m.png") as im:
        assert "icc_profile" not in im.info  # a grey mask has no colours to describe
    from depthforge.io.depthphoto_write import write_depth_photo
    from depthforge.io.images import read_image

    photo, flat = read_image(tmp_path / "p.jpg"), DepthMap(np.ones((60, 80)), kind="metric")
    out = write_depth_photo(tmp_path / "g.jpg", photo, flat, format="gdepth")
    with Image.open(out) as im:
        assert im.info.get("icc_profile") == icc
    assert read_depth_photo(out).depth.shape == (60, 80)  # still a valid depth photo
    # a grey or CMYK profile does not describe the RGB pixels read_image makes: left out (review)
    grey = bytearray(icc)
    grey[16:20] = b"GRAY"
    Image.fromarray(rgb).save(tmp_path / "g.jpg", quality=95, icc_profile=bytes(grey))
    assert main(["bokeh", str(tmp_path / "g.jpg"), "--depth", str(depth), "-o", str(tmp_path / "gb.jpg")]) == 0
    with Image.open(tmp_path / "gb.jpg") as im:
        assert "icc_profile" not in im.info


def test_stereo_layouts_take_the_names_players_use(tmp_path: Path) -> None:
    """'sbs', 'half-sbs', 'tb' (iw3's and VR players' names) are the library's left-right, half-left-right and
    top-bottom, in any case, for `stereo --layout` and `estimate --stereo`; an unknown name is still refused."""
    from depthforge.cli.main import build_parser

    rng = np.random.default_rng(3)
    image = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
    depth = DepthMap(np.linspace(1.0, 4.0, 80, dtype=np.float32)[None].repeat(60, 0), kind="metric")
    src = write_gdepth(tmp_path / "pixel.jpg", image, depth)
    made = {}
    for layout in ("left-right", "SBS", "half-left-right", "half-sbs", "top-bottom", "tb"):
        out = tmp_path / f"{layout}.png"
        assert main(["stereo", str(src), "--depth", str(src), "--layout", layout, "-o", str(out)]) == 0
        made[layout] = np.asarray(Image.open(out))
    assert made["SBS"].shape == (60, 160, 3) and np.array_equal(made["SBS"], made["left-right"])
    assert np.array_equal(made["half-sbs"], made["half-left-right"]) and made["half-sbs"].shape == (60, 80, 3)
    assert np.array_equal(made["tb"], made["top-bottom"]) and made["tb"].shape == (120, 80, 3)
    assert main(["stereo", str(src), "--depth", str(src), "--layout", "sideways", "-o", str(tmp_path / "x.png")]) == 2
    args = build_parser().parse_args(["estimate", "clip.mp4", "-o", "out", "--stereo", "Half-TB"])
    assert args.stereo == "half-top-bottom"
