"""Depth files: every format round-trips within its precision and keeps kind, scale and intrinsics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from depthforge.core import DepthMap, Intrinsics
from depthforge.core.errors import InputError, ValidationError
from depthforge.io.depthfiles import read_depth, sidecar_path, write_depth


def _relative() -> DepthMap:
    rng = np.random.default_rng(0)
    v = rng.uniform(0.5, 7.0, (24, 32)).astype(np.float32)
    return DepthMap(v, kind="relative", model="test")


def _metric() -> DepthMap:
    rng = np.random.default_rng(1)
    v = rng.uniform(0.3, 20.0, (24, 32)).astype(np.float32)
    v[3, 4] = np.nan
    return DepthMap(v, kind="metric", intrinsics=Intrinsics.from_fov((24, 32), fov_deg=60), model="test")


@pytest.mark.parametrize("fmt,ext", [("tiff", ".tiff"), ("npy", ".npy"), ("pfm", ".pfm"), ("exr", ".exr")])
@pytest.mark.parametrize("make", [_relative, _metric])
def test_float_formats_are_exact(tmp_path: Path, fmt: str, ext: str, make: object) -> None:
    depth = make()  # type: ignore[operator]
    p = write_depth(tmp_path / f"d{ext}", depth, format=fmt)
    back = read_depth(p)
    assert back.kind == depth.kind
    np.testing.assert_array_equal(back.valid, depth.valid)
    np.testing.assert_array_equal(back.values[back.valid], depth.values[depth.valid])
    if depth.intrinsics is not None:
        assert back.intrinsics is not None and back.intrinsics.fx == pytest.approx(depth.intrinsics.fx)


@pytest.mark.parametrize("fmt,levels", [("png16", 65535), ("png8", 255)])
def test_display_png_round_trips_within_one_code(tmp_path: Path, fmt: str, levels: int) -> None:
    depth = _relative()
    p = write_depth(tmp_path / "d.png", depth, format=fmt)
    back = read_depth(p)
    span = float(np.ptp(depth.values))
    assert back.kind == "relative"
    assert np.abs(back.values - depth.values).max() <= span / levels * 0.51 + 1e-6


def test_a_display_png_is_not_rescaled_or_relabelled(tmp_path: Path) -> None:
    """User trial 7: ``scale=0.25`` (Middlebury's habit) on a depthforge display PNG of disparity gave codes x 0.25
    (up to 16383 px); ``kind="disparity"`` on one of metres gave display fractions labelled pixels."""
    disparity = DepthMap(np.linspace(5.5, 55.0, 48, dtype=np.float32).reshape(6, 8), kind="disparity")
    p = write_depth(tmp_path / "d.png", disparity)
    np.testing.assert_allclose(read_depth(p, kind="disparity").values, disparity.values, rtol=1e-4)
    with pytest.raises(ValidationError, match=r"^scale: d\.png says how its codes become values .*display"):
        read_depth(p, kind="disparity", scale=0.25)
    metres = write_depth(tmp_path / "m.png", disparity.to_metric(focal_px=500.0, baseline_m=0.1))
    with pytest.raises(ValidationError, match=r"^kind: m\.png holds metric depth as display codes .* not as disparity"):
        read_depth(metres, kind="disparity")
    as_relative = read_depth(metres, kind="relative")  # display codes are a relative map: larger = nearer
    values = as_relative.values
    assert as_relative.kind == "relative" and 0.0 <= np.nanmin(values) < np.nanmax(values) <= 1.0
    assert int(np.nanargmax(values)) == 47  # the largest disparity, the nearest point
    mm = write_depth(tmp_path / "mm.png", disparity.to_metric(focal_px=500.0, baseline_m=0.1), format="png16mm")
    for other in ("disparity", "relative"):  # review: millimetres read back as pixels, or near and far swapped
        with pytest.raises(ValidationError, match=rf"^kind: mm\.png holds metric depth .* not as {other}"):
            read_depth(mm, kind=other)


@pytest.mark.parametrize("kind", ["metric", "relative", "disparity"])
@pytest.mark.parametrize(("fmt", "levels"), [("png16", 65535), ("png8", 255)])
def test_holes_stay_invalid_in_display_pngs(tmp_path: Path, kind: str, fmt: str, levels: int) -> None:
    # user trial 5: a hole came back as a valid measurement at the farthest range (a robot's free space)
    from PIL import Image

    values = np.random.default_rng(2).uniform(0.5, 12.0, (37, 53)).astype(np.float32)
    values[3, 4] = np.nan
    depth = DepthMap(values, kind=kind)  # type: ignore[arg-type]
    for invert in (False, True):
        p = write_depth(tmp_path / "d.png", depth, format=fmt, invert=invert)
        codes = np.asarray(Image.open(p))
        assert codes[3, 4] == 0 and codes[np.isfinite(values)].min() == 1 and codes.max() == levels
        back = read_depth(p)
        assert back.kind == kind and np.array_equal(np.isnan(back.values), np.isnan(values))
        inv, inv_back = (depth.inverse_depth(), back.inverse_depth())
        span = float(np.nanmax(inv) - np.nanmin(inv))
        assert np.nanmax(np.abs(inv_back - inv)) <= span / (levels - 1) * 0.51 + 1e-6


def test_png16_is_near_white_and_inverts(tmp_path: Path) -> None:
    from PIL import Image

    depth = DepthMap(np.array([[1.0, 2.0], [3.0, 4.0]], np.float32), kind="relative")
    a = np.asarray(Image.open(write_depth(tmp_path / "a.png", depth)))
    assert a.dtype == np.uint16 and a[1, 1] == 65535 and a[0, 0] == 0  # larger inverse depth = nearer = white
    b = np.asarray(Image.open(write_depth(tmp_path / "b.png", depth, invert=True)))
    assert b[1, 1] == 0 and b[0, 0] == 65535
    np.testing.assert_allclose(read_depth(tmp_path / "b.png").values, depth.values, atol=1e-4)
    metric = DepthMap(np.array([[1.0, 2.0], [4.0, 8.0]], np.float32), kind="metric")
    m = np.asarray(Image.open(write_depth(tmp_path / "m.png", metric)))
    assert m[0, 0] == 65535 and m[1, 1] == 0  # 1 m is nearer than 8 m


def test_clip_and_percentiles_change_the_display_range(tmp_path: Path) -> None:
    from PIL import Image

    v = np.linspace(0, 1, 101, dtype=np.float32)[None, :]
    depth = DepthMap(v, kind="relative")
    a = np.asarray(Image.open(write_depth(tmp_path / "c.png", depth, clip_far=0.2, clip_near=0.8)))
    assert a[0, :21].max() == 0 and a[0, 80:].min() == 65535
    b = np.asarray(Image.open(write_depth(tmp_path / "p.png", depth, percentiles=(10, 90))))
    assert b[0, :11].max() == 0 and b[0, 90:].min() == 65535


def test_png16mm_millimetres_with_metadata_and_sidecar(tmp_path: Path) -> None:
    from PIL import Image

    depth = _metric()
    p = write_depth(tmp_path / "d.png", depth, format="png16mm")
    raw = np.asarray(Image.open(p))
    assert raw.dtype == np.uint16 and raw[3, 4] == 0
    assert raw[0, 0] == round(float(depth.values[0, 0]) * 1000)
    meta = json.loads(sidecar_path(p).read_text())
    assert meta["scale"] == 0.001 and meta["kind"] == "metric" and meta["units"] == "m"
    back = read_depth(p)
    assert back.kind == "metric" and np.isnan(back.values[3, 4])
    assert np.nanmax(np.abs(back.values - depth.values)) <= 0.0005 + 1e-6
    with pytest.raises(ValidationError, match="png16mm"):
        write_depth(tmp_path / "r.png", _relative(), format="png16mm")
    far = DepthMap(np.array([[65.535, 65.5355]], np.float32), kind="metric")  # user trial 5: the limit itself
    with pytest.raises(ValidationError, match="at most 65.535 m"):
        write_depth(tmp_path / "f.png", far, format="png16mm")
    edge = write_depth(tmp_path / "e.png", DepthMap(far.values[:, :1], kind="metric"), format="png16mm")
    assert np.asarray(Image.open(edge))[0, 0] == 65535


def test_foreign_files_use_kind_and_scale(tmp_path: Path) -> None:
    from PIL import Image

    raw = np.array([[0, 4, 8], [40, 80, 255]], np.uint8)
    Image.fromarray(raw).save(tmp_path / "disp.png")
    d = read_depth(tmp_path / "disp.png", kind="disparity", scale=0.25)
    assert d.kind == "disparity" and np.isnan(d.values[0, 0])
    np.testing.assert_allclose(d.values[1], [10.0, 20.0, 63.75])
    plain = read_depth(tmp_path / "disp.png")  # no metadata: an 8-bit display image, near = white
    assert plain.kind == "relative" and plain.values.max() == pytest.approx(1.0)
    # user trial 5: a sensor's millimetre PNG read as metric without a scale gave code / 65535 "metres"
    Image.fromarray(np.array([[8000, 65535]], np.uint16)).save(tmp_path / "mm.png")
    for kind, unit in (("metric", "metres"), ("disparity", "pixels")):
        with pytest.raises(ValidationError, match=f"^scale: the integer codes of mm.png need a scale to become {unit}"):
            read_depth(tmp_path / "mm.png", kind=kind)
    assert read_depth(tmp_path / "mm.png", kind="metric", scale=0.001).values[0, 0] == pytest.approx(8.0)


def test_a_renderers_empty_background_is_no_depth(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """User trial 6: a Blender Z pass (background 1e10 m) was read as valid depth at 1e10 m."""
    z = np.array([[2.5, 1e10], [7.0, np.inf]], np.float32)
    np.save(tmp_path / "render.npy", z)
    with caplog.at_level("INFO", logger="depthforge"):
        d = read_depth(tmp_path / "render.npy", kind="metric")
    np.testing.assert_array_equal(d.valid, [[True, False], [True, False]])
    assert "render.npy: 1 pixel at 1e+09 m or more (a renderer's empty background) read as no depth" in caplog.text
    assert read_depth(tmp_path / "render.npy", kind="relative").values[0, 1] == np.float32(1e10)  # not metres


def test_compositors_exr_files(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """User trial 6: a beauty render's colour channel was read as its depth (``depth.Z`` beside R, G, B; a
    multi-part file's first part), and a data window (Nuke's bounding box, overscan) was taken for the image."""
    OpenEXR = pytest.importorskip("OpenEXR")
    z = np.arange(1.0, 13.0, dtype=np.float32).reshape(3, 4)
    grey = np.full((3, 4), 0.25, np.float16)
    plain = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}

    def write(name: str, channels: dict[str, np.ndarray], **header: object) -> Path:
        with OpenEXR.File({**plain, **header}, channels) as f:
            f.write(str(tmp_path / name))
        return tmp_path / name

    for depth_name in ("depth.Z", "ViewLayer.Depth.Z", "Z"):
        colour = {"ViewLayer.Combined.R": grey, "R": grey, "G": grey, "B": grey, depth_name: z}
        np.testing.assert_array_equal(read_depth(write("beauty.exr", colour), kind="metric").values, z)
    parts = [
        OpenEXR.Part(dict(plain), {"R": grey, "G": grey, "B": grey}, name="rgba"),
        OpenEXR.Part(dict(plain), {"Z": z}, name="depth"),
    ]
    with OpenEXR.File(parts) as f:
        f.write(str(tmp_path / "parts.exr"))
    np.testing.assert_array_equal(read_depth(tmp_path / "parts.exr", kind="metric").values, z)
    both = write("both.exr", {"Z": z, "depth.Z": z[::-1].copy()})
    with caplog.at_level("INFO", logger="depthforge"):  # trial 6's leftover: the choice is said
        np.testing.assert_array_equal(read_depth(both, kind="metric").values, z)
    assert "both.exr: several depth channels (Z, depth.Z); Z is read" in caplog.text
    with pytest.raises(InputError, match=r"which channel is the depth\? .*\(B, G, R\)"):
        read_depth(write("rgb.exr", {"R": grey, "G": grey, "B": grey}))
    with pytest.raises(InputError, match=r"which channel is the depth\? .*\(A\)"):
        read_depth(write("matte.exr", {"A": grey}))
    with pytest.raises(InputError, match=r"which channel is the depth\?"):  # review: a normal's Z is no depth
        read_depth(write("normals.exr", {"ViewLayer.Normal.X": grey, "ViewLayer.Normal.Z": grey}))

    def window(x0: int, y0: int, x1: int, y1: int) -> tuple[np.ndarray, np.ndarray]:
        return np.array([x0, y0], np.int32), np.array([x1, y1], np.int32)

    # a data window inside the display window: placed there, NaN around it
    inside = read_depth(write("crop.exr", {"Z": z}, dataWindow=window(2, 1, 5, 3), displayWindow=window(0, 0, 7, 5)))
    assert inside.shape == (6, 8) and int(inside.valid.sum()) == 12
    np.testing.assert_array_equal(inside.values[1:4, 2:6], z)
    # overscan: cut to the display window
    over = read_depth(write("over.exr", {"Z": z}, dataWindow=window(-1, -1, 2, 1), displayWindow=window(0, 0, 1, 0)))
    np.testing.assert_array_equal(over.values, z[1:2, 1:3])


def test_pfm_middlebury_layout(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    v = np.arange(6, dtype=np.float32).reshape(2, 3) + 1
    p = write_depth(tmp_path / "d.pfm", DepthMap(v, kind="disparity"))
    data = p.read_bytes()
    assert data.startswith(b"Pf\n3 2\n-1.0\n")
    body = np.frombuffer(data[len(b"Pf\n3 2\n-1.0\n") :], "<f4").reshape(2, 3)
    np.testing.assert_array_equal(body, v[::-1])  # bottom row first
    # the header's scale: its sign is the byte order, its size is not applied, and a notice says so (user trial 7)
    (tmp_path / "s.pfm").write_bytes(b"Pf\n3 2\n0.25\n" + v[::-1].astype(">f4").tobytes())
    with caplog.at_level("INFO", logger="depthforge"):
        np.testing.assert_array_equal(read_depth(tmp_path / "s.pfm", kind="disparity").values, v)
    assert "s.pfm: PFM scale 0.25 not applied (values read as stored" in caplog.text


def test_bad_depth_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="missing.npy: no such file"):
        read_depth(tmp_path / "missing.npy")
    (tmp_path / "junk.png").write_text("junk")
    with pytest.raises(InputError, match="junk.png"):
        read_depth(tmp_path / "junk.png")
    (tmp_path / "short.pfm").write_bytes(b"Pf\n10 10\n-1.0\n" + b"\0" * 12)
    with pytest.raises(InputError, match="short.pfm: truncated"):
        read_depth(tmp_path / "short.pfm")
    with pytest.raises(ValidationError, match="format"):
        write_depth(tmp_path / "d.xyz", _relative())


@pytest.mark.parametrize("key", ["baseline_m", "scale", "offset", "max_code", "display_far"])
def test_huge_integers_in_metadata_are_ignored_or_refused(tmp_path: Path, key: str) -> None:
    """JSON allows integers beyond float range; they are dropped (optional fields) or a one-line InputError."""
    from PIL import Image

    p = tmp_path / "d.png"
    Image.fromarray(np.arange(12, dtype=np.uint16).reshape(3, 4) * 1000).save(p)
    meta: dict[str, object] = {"kind": "metric", "encoding": "linear", "scale": 0.001, "offset": 0.0, "invalid": 0}
    if key in ("max_code", "display_far"):
        meta = {"kind": "relative", "encoding": "display", "display_far": 0.1, "display_near": 1.0}
    meta[key] = 10**400
    sidecar_path(p).write_text(json.dumps(meta))
    if key == "baseline_m":
        assert read_depth(p).baseline_m is None
    else:
        with pytest.raises(InputError, match=f"{key} = "):
            read_depth(p)


@pytest.mark.parametrize("cut", [1, 2, 4, 7, 12])
def test_png_cut_in_its_last_chunk_is_refused(cut: int, tmp_path: Path) -> None:
    """Fuzz finding (seed 3): a 16-bit PNG missing the last bytes of its IEND CRC was read (its pixels were all
    there); libpng and Pillow refuse it as truncated, so do depth and image reading."""
    import cv2

    from depthforge.io.images import read_image

    yy, xx = np.mgrid[0:48, 0:64]
    codes = ((np.sin(xx / 9) + np.cos(yy / 7) + 2) * 16000).astype(np.uint16)
    data = cv2.imencode(".png", codes)[1].tobytes()
    (tmp_path / "whole.png").write_bytes(data)
    assert read_depth(tmp_path / "whole.png").shape == (48, 64)
    (tmp_path / "cut.png").write_bytes(data[:-cut])
    with pytest.raises(InputError, match="truncated"):
        read_depth(tmp_path / "cut.png")
    with pytest.raises(InputError, match="truncated"):
        read_image(tmp_path / "cut.png")


@pytest.mark.parametrize(
    ("name", "fmt"), [("d.tiff", "npy"), ("d.pfm", "npy"), ("d.npy", "exr"), ("d.npy", "png16"), ("d.exr", "png8")]
)
def test_a_format_under_another_formats_extension_is_refused(tmp_path: Path, name: str, fmt: str) -> None:
    """A user trial wrote npy bytes into x.tiff with --format npy; now one line, nothing written."""
    with pytest.raises(ValidationError, match="format"):
        write_depth(tmp_path / name, _relative(), format=fmt)
    assert not any(tmp_path.iterdir())
    write_depth(tmp_path / "d.jpg", _relative(), format="png8")  # a display format under an image extension is fine
    assert (tmp_path / "d.jpg").read_bytes()[:2] == b"\xff\xd8"


def test_depth_photos_are_jpegs(tmp_path: Path) -> None:
    from depthforge.io.depthphoto_write import write_depth_photo

    image = np.zeros((*_relative().shape, 3), np.uint8)
    with pytest.raises(ValidationError, match=r"\.jpg"):
        write_depth_photo(tmp_path / "x.png", image, _relative(), format="gdepth")
    assert not any(tmp_path.iterdir())


def test_a_colour_photo_is_not_read_as_depth_and_grey_stored_as_rgb_is(tmp_path: Path) -> None:
    """A user trial's `stereo photo.jpg --depth photo.jpg` ran on the photo's brightness; now one line."""
    from PIL import Image

    rng = np.random.default_rng(0)
    photo = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
    Image.fromarray(photo).save(tmp_path / "photo.jpg", quality=90)
    with pytest.raises(InputError, match="colour image"):
        read_depth(tmp_path / "photo.jpg")
    grey = np.tile(np.linspace(0, 255, 80, dtype=np.float32), (60, 1)).astype(np.uint8)
    Image.fromarray(np.dstack([grey] * 3)).save(tmp_path / "grey.jpg", quality=90)  # grey saved by a colour tool
    assert read_depth(tmp_path / "grey.jpg").shape == (60, 80)


@pytest.mark.parametrize("scale", [0.0, -1.0])
def test_depth_scale_must_be_positive(tmp_path: Path, scale: float) -> None:
    write_depth(tmp_path / "d.npy", _relative())
    with pytest.raises(ValidationError, match="^scale"):
        read_depth(tmp_path / "d.npy", scale=scale)
    with pytest.raises(ValidationError, match="max_pixels"):
        read_depth(tmp_path / "d.npy", max_pixels=-5)


def test_the_reviews_depth_file_cases(tmp_path: Path) -> None:
    """A review found a grey palette PNG refused, a file name without an extension and a display TIFF refused,
    and max_pixels='abc' escaping as ValueError."""
    from PIL import Image

    grey = np.tile(np.linspace(0, 255, 40, dtype=np.float32), (30, 1)).astype(np.uint8)
    Image.fromarray(grey).convert("P").save(tmp_path / "pal.png")  # pngquant / GIMP "indexed"
    assert read_depth(tmp_path / "pal.png").shape == (30, 40)
    assert write_depth(tmp_path / "noext", _relative(), format="npy").read_bytes()[:6] == b"\x93NUMPY"
    assert write_depth(tmp_path / "display.tif", _relative(), format="png16").exists()
    with pytest.raises(ValidationError, match="max_pixels"):
        read_depth(tmp_path / "pal.png", max_pixels="abc")  # type: ignore[arg-type]
