"""Depth photos: GDepth and Dynamic Depth written and read back, extended XMP, ExifTool's view of the files."""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import InputError
from depthforge.core.intrinsics import Intrinsics
from depthforge.io.depthfiles import read_depth
from depthforge.io.depthphoto_read import embedded_depth_kind, read_depth_photo
from depthforge.io.depthphoto_write import (
    encode_jpeg,
    encode_range,
    write_dynamic_depth,
    write_facebook3d,
    write_gdepth,
    write_rgbd,
)
from depthforge.io.xmp import EXTENDED_CHUNK_BYTES, insert_xmp, jpeg_end, read_xmp, xmp_segments
from tests.conftest import cones_disparity

EXIFTOOL = shutil.which("exiftool")
needs_exiftool = pytest.mark.skipif(EXIFTOOL is None, reason="exiftool is not installed (libimage-exiftool-perl)")


def scene(h: int = 180, w: int = 240) -> tuple[np.ndarray, DepthMap]:
    """A photo-like gradient and a metric scene: a floor receding from 1.2 to 9 m and a sphere at ~1.6 m."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    image = np.stack([xx * 255 / w, yy * 255 / h, 128 + 60 * np.sin(xx / 9)], -1).astype(np.uint8)
    z = 9.0 - 7.8 * (yy / (h - 1)) ** 0.7
    r2 = ((xx - w * 0.6) ** 2 + (yy - h * 0.45) ** 2) / (min(h, w) * 0.22) ** 2
    z = np.where(r2 < 1, 1.6 - 0.3 * np.sqrt(np.clip(1 - r2, 0, 1)), z).astype(np.float32)
    return image, DepthMap(z, kind="metric")


def normalised(d: np.ndarray, near: float, far: float, fmt: str) -> np.ndarray:
    d = d.astype(np.float64)
    return far * (d - near) / (d * (far - near)) if fmt == "RangeInverse" else (d - near) / (far - near)


@pytest.mark.parametrize("fmt", ["RangeInverse", "RangeLinear"])
@pytest.mark.parametrize("bits", [8, 16])
def test_gdepth_round_trip_within_half_a_quantisation_step(tmp_path: Path, fmt: str, bits: int) -> None:
    image, depth = scene()
    path = write_gdepth(tmp_path / "g.jpg", image, depth, format=fmt, bits=bits)
    photo = read_depth_photo(path)
    assert photo.source == "gdepth" and photo.depth.kind == "metric" and photo.depth.shape == depth.shape
    assert photo.image_size_hw == image.shape[:2]
    near, far = photo.meta["near"], photo.meta["far"]
    assert (near, far) == pytest.approx(depth.value_range(), rel=1e-6)
    top = (1 << bits) - 1
    step = np.abs(normalised(photo.depth.values, near, far, fmt) - normalised(depth.values, near, far, fmt))
    assert step.max() <= 0.5 / top + 1e-6  # rounding: at most half a code
    # the same map through read_depth (content sniffing, any extension)
    again = read_depth(path)
    assert again.kind == "metric" and np.array_equal(again.values, photo.depth.values)


def test_dynamic_depth_round_trip_and_android_required_fields(tmp_path: Path) -> None:
    image, depth = scene()
    intr = Intrinsics(200.0, 200.0, 119.5, 89.5, 240, 180, "test")
    depth = DepthMap(depth.values, kind="metric", intrinsics=intr)
    for bits in (8, 16):
        path = write_dynamic_depth(tmp_path / f"dd{bits}.jpg", image, depth, bits=bits)
        assert embedded_depth_kind(path) == "dynamic-depth"
        photo = read_depth_photo(path)
        near, far = photo.meta["near"], photo.meta["far"]
        step = np.abs(
            normalised(photo.depth.values, near, far, "RangeInverse")
            - normalised(depth.values, near, far, "RangeInverse")
        )
        assert step.max() <= 0.5 / ((1 << bits) - 1) + 1e-6
        assert photo.depth.intrinsics is not None and photo.depth.intrinsics.fx == pytest.approx(200.0)
        assert photo.confidence is not None and photo.confidence.min() == 1.0
    # the checks of Android's ValidateAndroidDynamicDepthBuffer, on our own reading of the XMP
    trees = read_xmp((tmp_path / "dd8.jpg").read_bytes()).trees()
    text = b"".join(ET.tostring(t) for t in trees).decode()
    for needle in ("dd/1.0/device/", 'Type="DepthPhoto"', 'Units="Meters"', 'Format="RangeInverse"', "ConfidenceURI"):
        assert needle in text
    assert 0 <= photo.meta["near"] < photo.meta["far"]


def test_relative_map_states_its_pseudo_range_and_reads_back_relative(tmp_path: Path) -> None:
    image, metric = scene()
    relative = DepthMap(1.0 / metric.values * 3.0 + 0.2, kind="relative")  # affine inverse depth
    path = write_gdepth(tmp_path / "rel.jpg", image, relative, bits=16)
    photo = read_depth_photo(path)
    assert photo.depth.kind == "relative" and photo.meta["written_kind"] == "relative"
    assert (photo.meta["near"], photo.meta["far"]) == (1.0, 10.0)  # the pseudo range, stated in the file
    # the ordering and the relative spacing in inverse depth are kept (an affine map of the input)
    a, b = np.polyfit(relative.values.ravel(), photo.depth.values.ravel(), 1)
    fit = a * relative.values + b
    assert a > 0 and np.abs(fit - photo.depth.values).max() < 1e-3 * np.ptp(photo.depth.values)


def test_invalid_pixels_come_back_invalid(tmp_path: Path) -> None:
    image, depth = scene()
    holes = depth.values.copy()
    holes[10:30, 40:90] = np.nan
    for write in (write_gdepth, write_dynamic_depth):
        photo = read_depth_photo(write(tmp_path / f"{write.__name__}.jpg", image, DepthMap(holes, kind="metric")))
        assert np.array_equal(np.isnan(photo.depth.values), np.isnan(holes))


def test_large_depth_goes_to_two_or_more_extended_chunks(tmp_path: Path) -> None:
    image, _ = scene()
    rng = np.random.default_rng(3)
    big = DepthMap((1.0 + 9.0 * rng.random((384, 512))).astype(np.float32), kind="metric")  # noise: PNG ~400 KB
    path = write_gdepth(tmp_path / "big.jpg", image, big, bits=16)
    data = path.read_bytes()
    packets = read_xmp(data)
    assert len(packets.chunks) >= 2
    # every APP1 payload within a JPEG segment, chunk offsets contiguous, one full length, GUID = MD5
    assert [o for o, _ in packets.chunks] == [i * EXTENDED_CHUNK_BYTES for i in range(len(packets.chunks))]
    assert sum(n for _, n in packets.chunks) == len(packets.extended)
    import hashlib

    assert packets.guid == hashlib.md5(packets.extended).hexdigest().upper()
    assert b"HasExtendedXMP" in packets.standard and len(packets.standard) < 65504
    photo = read_depth_photo(path)
    assert photo.depth.shape == big.shape
    assert np.abs(photo.depth.values - big.values).max() < 1e-3


def test_tampered_extended_xmp_is_refused(tmp_path: Path) -> None:
    image, _ = scene()
    rng = np.random.default_rng(4)
    big = DepthMap((1.0 + rng.random((256, 256))).astype(np.float32), kind="metric")
    data = bytearray(write_gdepth(tmp_path / "big.jpg", image, big, bits=16).read_bytes())
    at = data.find(b"http://ns.adobe.com/xmp/extension/") + 35 + 40 + 500
    data[at] ^= 0x01  # one flipped bit inside the first chunk
    (tmp_path / "bad.jpg").write_bytes(bytes(data))
    with pytest.raises(InputError, match="MD5"):
        read_depth_photo(tmp_path / "bad.jpg")


def test_photo_pixels_are_identical_to_the_jpeg_without_depth(tmp_path: Path) -> None:
    import simplejpeg

    image, depth = scene()
    plain = simplejpeg.decode_jpeg(encode_jpeg(image))
    for write in (write_gdepth, write_dynamic_depth):
        data = write(tmp_path / f"{write.__name__}.jpg", image, depth).read_bytes()
        assert np.array_equal(simplejpeg.decode_jpeg(data), plain)
    gdepth = (tmp_path / "write_gdepth.jpg").read_bytes()
    assert jpeg_end(gdepth) == len(gdepth)  # nothing after the photo
    dd = (tmp_path / "write_dynamic_depth.jpg").read_bytes()
    assert dd[jpeg_end(dd) : jpeg_end(dd) + 8] == b"\x89PNG\r\n\x1a\n"  # the depth item follows the photo


def test_real_scene_round_trip_cones(tmp_path: Path, cones: Path) -> None:
    """Middlebury cones: ground-truth disparity made metric with an assumed camera (f = 935 px, B = 0.16 m)."""
    from PIL import Image

    image = np.asarray(Image.open(cones / "im2.png").convert("RGB"))
    disparity = DepthMap(cones_disparity(cones), kind="disparity")
    metric = DepthMap(935.0 * 0.16 / disparity.values, kind="metric")
    photo = read_depth_photo(write_gdepth(tmp_path / "cones.jpg", image, metric, bits=16))
    ok = metric.valid
    rel = np.abs(photo.depth.values[ok] - metric.values[ok]) / metric.values[ok]
    assert np.array_equal(photo.depth.valid, ok) and rel.max() < 2e-4


def test_facebook3d_pair_and_looking_glass_rgbd(tmp_path: Path) -> None:
    from PIL import Image

    image, depth = scene()
    photo, dpath = write_facebook3d(tmp_path / "photo.jpg", image, depth)
    assert dpath.name == "photo_depth.jpg"
    with Image.open(photo) as a, Image.open(dpath) as b:
        assert a.size == b.size == (240, 180) and b.mode == "L"
        grey = np.asarray(b).astype(int)
    near = np.unravel_index(np.argmin(depth.values), depth.shape)
    far = np.unravel_index(np.argmax(depth.values), depth.shape)
    assert grey[near] > 240 and grey[far] < 15  # near = white
    rgbd = np.asarray(Image.open(write_rgbd(tmp_path / "rgbd.png", image, depth)))
    assert rgbd.shape == (180, 480, 3) and np.array_equal(rgbd[:, :240], image)
    assert rgbd[near[0], 240 + near[1], 0] == 255


def test_corrupt_depth_photos_fail_cleanly(tmp_path: Path) -> None:
    image, depth = scene()
    good = write_gdepth(tmp_path / "g.jpg", image, depth).read_bytes()
    at = good.index(b'GDepth:Near="') + len(b'GDepth:Near="')
    broken = good[:at] + b"x" + good[at + 1 :]  # same length: the segment stays well-formed
    (tmp_path / "near.jpg").write_bytes(broken)
    with pytest.raises(InputError, match="near.jpg: its depth Near"):
        read_depth(tmp_path / "near.jpg")
    plain = tmp_path / "plain.jpg"
    plain.write_bytes(encode_jpeg(image))
    assert embedded_depth_kind(plain) is None
    with pytest.raises(InputError, match="carries no depth"):
        read_depth_photo(plain)
    dd = write_dynamic_depth(tmp_path / "dd.jpg", image, depth).read_bytes()
    (tmp_path / "cut.jpg").write_bytes(dd[: jpeg_end(dd) + 100])
    with pytest.raises(InputError, match="runs past the end"):
        read_depth_photo(tmp_path / "cut.jpg")


def test_embedded_depth_kind_never_opens_a_pipe(tmp_path: Path) -> None:
    # fuzz finding: `estimate pipe.jpg --use-embedded-depth` blocked for ever opening a FIFO before any check
    import os
    import threading

    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    found: list[str | None] = []
    probe = threading.Thread(target=lambda: found.append(embedded_depth_kind(fifo, strict=True)), daemon=True)
    probe.start()
    probe.join(10)
    assert not probe.is_alive() and found == [None]


def test_broken_xmp_of_a_depth_photo_is_named_not_called_a_colour_image(tmp_path: Path) -> None:
    image, depth = scene()
    good = write_gdepth(tmp_path / "g.jpg", image, depth).read_bytes()
    standard = read_xmp(good).standard
    dtd = b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">' + b"".join(
        b'<!ENTITY %c "%s">' % (98 + i, b"&%c;" % (97 + i) * 10) for i in range(9)
    )
    bomb = dtd + b"]>" + standard.replace(b'GDepth:Software="depthforge"', b'GDepth:Software="&j;"')
    (tmp_path / "bomb.jpg").write_bytes(insert_xmp(good, xmp_segments(bomb)))
    assert embedded_depth_kind(tmp_path / "bomb.jpg") is None  # not strict: as a photo without depth
    with pytest.raises(InputError, match=r"bomb.jpg: its standard XMP is not well-formed XML"):
        read_depth(tmp_path / "bomb.jpg")


def test_encode_range_codes_near_black_far_white() -> None:
    _, depth = scene()
    enc = encode_range(depth, bits=8)
    assert enc.codes[np.unravel_index(np.argmin(depth.values), depth.shape)] == 0
    assert enc.codes[np.unravel_index(np.argmax(depth.values), depth.shape)] == 255


def _exiftool(*args: str) -> subprocess.CompletedProcess[bytes]:
    assert EXIFTOOL is not None
    return subprocess.run([EXIFTOOL, *args], capture_output=True, timeout=60, check=False)


@needs_exiftool
def test_exiftool_reads_gdepth_fields_and_extracts_the_depth_image(tmp_path: Path) -> None:
    from PIL import Image

    image, depth = scene()
    rng = np.random.default_rng(5)
    big = DepthMap((1.0 + 9.0 * rng.random((300, 400))).astype(np.float32), kind="metric")
    for name, d in (("small.jpg", depth), ("big.jpg", big)):  # standard XMP only, and extended XMP
        path = write_gdepth(tmp_path / name, image, d, bits=16)
        tags = json.loads(_exiftool("-j", "-n", "-XMP-GDepth:all", str(path)).stdout)[0]
        assert tags["Format"] == "RangeInverse" and tags["Units"] == "m"
        assert tags["Near"] == pytest.approx(d.value_range()[0], rel=1e-6)
        png = _exiftool("-b", "-DepthImage", str(path)).stdout
        codes = np.asarray(Image.open(io.BytesIO(png)))
        assert codes.shape == d.shape and codes.dtype == np.uint16
        assert np.array_equal(codes, encode_range(d, bits=16).codes)
        validate = _exiftool("-validate", "-warning", "-error", "-a", str(path)).stdout.decode()
        assert "Validate                        : OK" in validate, validate


@needs_exiftool
def test_exiftool_reads_dynamic_depth_fields_and_the_depth_item(tmp_path: Path) -> None:
    from PIL import Image

    image, depth = scene()
    path = write_dynamic_depth(tmp_path / "dd.jpg", image, depth)
    tags = json.loads(_exiftool("-j", "-n", "-XMP-Device:all", str(path)).stdout)[0]
    assert tags["ProfileType"] == "DepthPhoto"
    assert tags["CameraDepthMapUnits"] == "Meters" and tags["CameraDepthMapFormat"] == "RangeInverse"
    assert 0 <= tags["CameraDepthMapNear"] < tags["CameraDepthMapFar"]
    assert tags["CameraDepthMapConfidenceURI"] == tags["ContainerDirectoryItemDataURI"][2]
    lengths = tags["ContainerDirectoryItemLength"]
    trailer = _exiftool("-b", "-Trailer", str(path)).stdout  # the container items after the primary JPEG
    assert len(trailer) == sum(lengths[1:])
    codes = np.asarray(Image.open(io.BytesIO(trailer[: lengths[1]])))
    assert np.array_equal(codes, encode_range(depth, bits=8).codes)
    validate = _exiftool("-validate", "-warning", "-error", "-a", str(path)).stdout.decode()
    assert "Validate                        : OK" in validate, validate


def test_segment_lengths_are_within_jpeg_limits(tmp_path: Path) -> None:
    image, _ = scene()
    rng = np.random.default_rng(6)
    big = DepthMap((1.0 + rng.random((256, 320))).astype(np.float32), kind="metric")
    data = write_gdepth(tmp_path / "big.jpg", image, big, bits=16).read_bytes()
    pos, count = 2, 0
    while data[pos + 1] != 0xDA:
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        assert length <= 65535
        count += data[pos + 1] == 0xE1
        pos += 2 + length
    assert count >= 3  # one standard packet and at least two extended chunks


def test_the_photos_exif_goes_with_it(tmp_path: Path) -> None:
    """User trial: a depth photo (and a bokeh JPEG) lost the camera's EXIF, so its focal length, and with it the
    3D geometry made from the output, fell back to the default field of view. The EXIF is carried, upright."""
    from PIL import Image as PILImage

    from depthforge.geometry.camera import resolve_intrinsics
    from depthforge.io.images import exif_bytes, read_image, write_image

    rgb, depth = scene()
    exif = PILImage.Exif()
    exif[0x010F], exif[0x0110], exif[0x0112] = "Google", "Pixel 7", 6  # rotated 90 degrees on display
    exif.get_ifd(0x8769).update({0x920A: 6.81, 0xA405: 24})
    source = tmp_path / "phone.jpg"
    PILImage.fromarray(np.ascontiguousarray(np.rot90(rgb, 1))).save(source, exif=exif, quality=95)
    photo = read_image(source)
    assert photo.rgb.shape == rgb.shape  # upright
    want = resolve_intrinsics(photo.rgb.shape[:2], exif=photo.exif)
    outputs = [
        write_gdepth(tmp_path / "g.jpg", photo, depth),
        write_dynamic_depth(tmp_path / "d.jpg", photo, depth),
        write_image(tmp_path / "b.jpg", photo.rgb, exif=exif_bytes(photo)),
        write_image(tmp_path / "b.png", photo.rgb, exif=exif_bytes(photo)),
    ]
    for path in outputs:
        with PILImage.open(path) as out:
            carried = out.getexif()
        assert carried[0x010F] == "Google" and carried[0x0110] == "Pixel 7" and carried[0x0112] == 1, path
        again = read_image(path)
        assert again.rgb.shape == rgb.shape, path  # not turned a second time
        assert resolve_intrinsics(again.rgb.shape[:2], exif=again.exif) == want, path
    assert read_depth_photo(tmp_path / "g.jpg").depth.shape == depth.shape  # the XMP is still found
    assert exif_bytes(read_image(tmp_path / "b.png")) is not None


def test_exif_that_cannot_be_carried_is_left_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review: damaged EXIF made Pillow's Exif.tobytes raise TypeError after the work was done (exit 3, a whole
    estimate run lost); a TIFF's own tags (strips, compression, bits) were carried as if a camera's."""
    from PIL import Image as PILImage

    from depthforge.io.images import exif_bytes, read_image

    exif = PILImage.Exif()
    exif[0x010F] = "Canon"
    rgb = np.full((8, 8, 3), 90, np.uint8)
    PILImage.fromarray(rgb).save(tmp_path / "a.jpg", exif=exif)
    PILImage.fromarray(rgb).save(tmp_path / "a.tif", exif=exif)
    assert exif_bytes(read_image(tmp_path / "a.jpg")) is not None
    assert exif_bytes(read_image(tmp_path / "a.tif")) is None

    def broken(self: object, *args: object) -> bytes:
        raise TypeError("damaged EXIF")

    monkeypatch.setattr(PILImage.Exif, "tobytes", broken)
    assert exif_bytes(read_image(tmp_path / "a.jpg")) is None


def test_a_rotated_photos_depth_is_turned_upright_with_it(tmp_path: Path) -> None:
    """Review: read_image turns a photo upright by its EXIF orientation, but its embedded depth stayed as stored,
    so the map lay on its side (refused by --depth, stretched by --use-embedded-depth)."""
    from PIL import Image as PILImage

    from depthforge.io.images import read_image

    rgb, depth = scene()
    stored = write_gdepth(tmp_path / "g.jpg", rgb, depth).read_bytes()
    exif = PILImage.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise
    payload = exif.tobytes()
    rotated = tmp_path / "rotated.jpg"
    rotated.write_bytes(stored[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + stored[2:])
    photo, found = read_image(rotated), read_depth_photo(rotated)
    assert found.image_size_hw == photo.rgb.shape[:2] == rgb.shape[1::-1]
    plain = read_depth_photo(tmp_path / "g.jpg").depth.values
    assert np.array_equal(found.depth.values, np.rot90(plain, -1), equal_nan=True)
