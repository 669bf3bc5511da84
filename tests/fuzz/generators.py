"""Generated hostile inputs for every command: malformed images, depth files and videos, option values, file names.

Everything is made here from seeds built in memory (scikit-image's photos, a smooth synthetic scene's depth,
ffmpeg-encoded clips); nothing is downloaded. A :class:`Case` is plain data (picklable): the command line with
placeholders, the files to create, and what must happen. :func:`cases` draws a reproducible mix from a seed.

Placeholders in ``argv``: ``{model}`` (a tiny local model folder), ``{photo}`` (a valid photo), ``{depth}`` (a valid
depth file of the photo's size); file names in ``files`` are relative to the case's own folder, which is also the
working directory.
"""

from __future__ import annotations

import io
import json
import random
import struct
import warnings
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

#: What a case demands besides "no internal error, no traceback, no hang, no stray temporary file".
REFUSE = "refuse"  # the input is corrupt (Pillow itself refuses it, or it is malformed by construction)
ANY = "any"


@dataclass(frozen=True)
class Case:
    """One generated run of the ``depthforge`` command line.

    Attributes:
        family: ``image``, ``depth``, ``photo`` (depth photos), ``video``, ``option`` or ``name``.
        label: what was generated (``png/crc-ok-mutant``, ``stereo --divergence=nan``, ...).
        argv: the arguments after ``depthforge``, with placeholders (see the module docstring).
        files: file name -> content, created in the case folder before the run.
        special: extra set-up: ``("fifo", name)``, ``("symlink", name, target)``, ``("dir", name)``,
            ``("readonly_dir", name)``, ``("file", name)`` (an empty regular file).
        expect: :data:`REFUSE` (the exit status must not be 0) or :data:`ANY`.
        timeout_s: how long the run may take before it counts as a hang.
    """

    family: str
    label: str
    argv: tuple[str, ...]
    files: dict[str, bytes] = field(default_factory=dict)
    special: tuple[tuple[str, ...], ...] = ()
    expect: str = ANY
    timeout_s: float = 30.0


# --------------------------------------------------------------------------------------------------- seeds
@cache
def photo_array() -> np.ndarray:
    """A real photograph, 96x128 RGB uint8 (scikit-image's cat)."""
    from skimage import data

    return np.ascontiguousarray(data.chelsea()[60:252:2, 120:376:2])


@cache
def scene_depth() -> np.ndarray:
    """Smooth scene depth in metres, 96x128: a floor, a back wall and a sphere (no noise, as a trained model or a
    sensor gives; never a random model's output)."""
    h, w = photo_array().shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    floor = np.where(yy > h * 0.55, 2.0 + 30.0 / np.maximum(yy - h * 0.55, 1.0), 8.0)
    d = np.minimum(floor, 8.0)
    r2 = ((xx - w * 0.4) ** 2 + (yy - h * 0.45) ** 2) / (0.22 * w) ** 2
    sphere = np.where(r2 < 1, 3.0 - 0.8 * np.sqrt(np.clip(1 - r2, 0, 1)), np.inf)
    return np.minimum(d, sphere).astype(np.float32)


def _pil_bytes(array: np.ndarray, fmt: str, **kw: Any) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt, **kw)
    return buf.getvalue()


@cache
def image_seeds() -> dict[str, bytes]:
    """Valid images of every accepted format and mode."""
    from PIL import Image

    rgb = photo_array()
    grey = np.ascontiguousarray(rgb[:, :, 1])
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 200, np.uint8)])
    seeds = {
        "jpeg": _pil_bytes(rgb, "JPEG", quality=90),
        "jpeg-progressive": _pil_bytes(rgb, "JPEG", quality=85, progressive=True),
        "jpeg-grey": _pil_bytes(grey, "JPEG", quality=90),
        "png": _pil_bytes(rgb, "PNG"),
        "png-rgba": _pil_bytes(rgba, "PNG"),
        "png-grey": _pil_bytes(grey, "PNG"),
        "png-palette": _pil_bytes_img(Image.fromarray(rgb).quantize(64), "PNG"),
        "tiff": _pil_bytes(rgb, "TIFF"),
        "tiff-lzw": _pil_bytes(rgb, "TIFF", compression="tiff_lzw"),
        "webp": _pil_bytes(rgb, "WEBP", quality=80),
        "bmp": _pil_bytes(rgb, "BMP"),
        "gif": _pil_bytes_img(Image.fromarray(rgb).quantize(64), "GIF"),
        "ppm": _pil_bytes(rgb, "PPM"),
        "pgm": _pil_bytes(grey, "PPM"),
    }
    import cv2

    ok, buf = cv2.imencode(".png", (rgb.astype(np.uint16) * 257)[:, :, ::-1])
    if ok:
        seeds["png16"] = buf.tobytes()
    try:  # HEIC (libheif + libde265 through the optional pillow-heif)
        from depthforge.io.heif import register_heif

        register_heif()
        seeds["heic"] = _pil_bytes(rgb, "HEIF", quality=80)
    except ImportError:
        pass
    return seeds


def _pil_bytes_img(img: Any, fmt: str, **kw: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


@cache
def depth_seeds() -> dict[str, dict[str, bytes]]:
    """Valid depth files of every format depthforge writes: format -> {file name: bytes} (with sidecars)."""
    import tempfile
    from pathlib import Path

    from depthforge.core.depthmap import DepthMap
    from depthforge.io.depthfiles import FORMAT_EXTENSIONS, write_depth

    depth = DepthMap(scene_depth(), kind="metric")
    relative = DepthMap(1.0 / scene_depth(), kind="relative")
    out: dict[str, dict[str, bytes]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, ext in FORMAT_EXTENSIONS.items():
            name = f"d{ext}"
            target = Path(tmp) / fmt
            target.mkdir()
            try:
                write_depth(target / name, depth if fmt == "png16mm" else relative, format=fmt)
            except ImportError:  # exr without OpenEXR
                continue
            out[fmt] = {f.name: f.read_bytes() for f in target.iterdir()}
    return out


@cache
def video_seeds() -> dict[str, bytes]:
    """Short valid clips (12 frames, 64x48) in the containers users send: MP4/H.264, WebM/VP9, MKV/FFV1, GIF."""
    import subprocess
    import tempfile
    from pathlib import Path

    from depthforge.io.video import ffmpeg_exe

    seeds: dict[str, bytes] = {}
    codecs = {
        "mp4": ["-c:v", "libx264", "-pix_fmt", "yuv420p"],
        "webm": ["-c:v", "libvpx-vp9", "-b:v", "200k"],
        "mkv": ["-c:v", "ffv1"],
        "gif": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for ext, args in codecs.items():
            out = Path(tmp) / f"clip.{ext}"
            cmd = [
                ffmpeg_exe(),
                "-hide_banner",
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=64x48:rate=12:duration=1",
                *args,
                str(out),
            ]
            if subprocess.run(cmd, capture_output=True, timeout=60, check=False).returncode == 0:
                seeds[ext] = out.read_bytes()
    return seeds


# --------------------------------------------------------------------------------------------------- mutators
def _flip(b: bytearray, rng: random.Random) -> None:
    for _ in range(rng.randint(1, 8)):
        b[rng.randrange(len(b))] = rng.randrange(256)


def _truncate(b: bytearray, rng: random.Random) -> None:
    del b[rng.randrange(1, len(b)) :]


def _insert(b: bytearray, rng: random.Random) -> None:
    k = rng.randrange(len(b))
    b[k:k] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))


def _delete(b: bytearray, rng: random.Random) -> None:
    k = rng.randrange(len(b))
    del b[k : k + rng.randint(1, 64)]


def _duplicate(b: bytearray, rng: random.Random) -> None:
    k = rng.randrange(len(b))
    part = b[k : k + rng.randint(8, 512)]
    j = rng.randrange(len(b))
    b[j:j] = part


def _big_field(b: bytearray, rng: random.Random) -> None:
    """Overwrite a 2- or 4-byte field near the start (sizes, counts, offsets live there) with an extreme value."""
    k = rng.randrange(min(len(b) - 4, 64))
    value = rng.choice([0, 1, 0xFFFF, 0x7FFF, 0x10000, 0x7FFFFFFF, 0xFFFFFFFF, 0x00FFFFFF])
    if rng.random() < 0.5:
        b[k : k + 4] = struct.pack(rng.choice([">I", "<I"]), value)
    else:
        b[k : k + 2] = struct.pack(rng.choice([">H", "<H"]), value & 0xFFFF)


def _zero_run(b: bytearray, rng: random.Random) -> None:
    k = rng.randrange(len(b))
    n = rng.randint(1, 256)
    b[k : k + n] = bytes(min(n, len(b) - k))


BYTE_MUTATORS: dict[str, Callable[[bytearray, random.Random], None]] = {
    "flip": _flip,
    "truncate": _truncate,
    "insert": _insert,
    "delete": _delete,
    "duplicate": _duplicate,
    "big-field": _big_field,
    "zero-run": _zero_run,
}


def mutate_bytes(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    name = rng.choice(list(BYTE_MUTATORS))
    b = bytearray(data)
    BYTE_MUTATORS[name](b, rng)
    return name, bytes(b) or b"\x00"


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    out, pos = [], 8
    while pos + 8 <= len(data):
        n = struct.unpack(">I", data[pos : pos + 4])[0]
        out.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]))
        pos += 12 + n
    return out


def png_build(chunks: list[tuple[bytes, bytes]]) -> bytes:
    parts = [b"\x89PNG\r\n\x1a\n"]
    for kind, body in chunks:
        parts.append(struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body)))
    return b"".join(parts)


def mutate_png_valid_crc(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """A PNG whose chunk CRCs are right but whose content is wrong: huge or zero sizes, bad bit depths, corrupt or
    short zlib streams, bad filter bytes, chunks dropped or repeated. Reaches past the CRC check into decoding."""
    chunks = png_chunks(data)
    idat = b"".join(body for kind, body in chunks if kind == b"IDAT")  # one IDAT chunk, so it can be decompressed
    first = next(i for i, (k, _) in enumerate(chunks) if k == b"IDAT")
    chunks = [c for i, c in enumerate(chunks) if c[0] != b"IDAT" or i == first]
    chunks[first] = (b"IDAT", idat)
    op = rng.choice(["ihdr-size", "ihdr-mode", "idat-flip", "idat-short", "drop", "repeat", "text-huge", "filter"])
    i_hdr = next(i for i, (k, _) in enumerate(chunks) if k == b"IHDR")
    i_dat = next(i for i, (k, _) in enumerate(chunks) if k == b"IDAT")
    if op == "ihdr-size":
        w, h = rng.choice([(0, 10), (1 << 20, 1 << 14), (30000, 30000), (1, 1 << 28), (128, 1 << 16)])
        chunks[i_hdr] = (b"IHDR", struct.pack(">II", w, h) + chunks[i_hdr][1][8:])
    elif op == "ihdr-mode":
        body = bytearray(chunks[i_hdr][1])
        body[8], body[9] = rng.choice([1, 2, 4, 8, 16, 3, 7]), rng.choice([0, 2, 3, 4, 6, 5, 1])
        chunks[i_hdr] = (b"IHDR", bytes(body))
    elif op in ("idat-flip", "filter"):
        raw = bytearray(zlib.decompress(chunks[i_dat][1])) if op == "filter" else bytearray(chunks[i_dat][1])
        for _ in range(rng.randint(1, 6)):
            raw[rng.randrange(len(raw))] = rng.randrange(256) if op == "idat-flip" else rng.choice([5, 7, 255])
        chunks[i_dat] = (b"IDAT", zlib.compress(bytes(raw)) if op == "filter" else bytes(raw))
    elif op == "idat-short":
        raw = zlib.decompress(chunks[i_dat][1])
        chunks[i_dat] = (b"IDAT", zlib.compress(raw[: rng.randrange(1, len(raw))]))
    elif op == "drop":
        del chunks[rng.choice([i_hdr, i_dat])]
    elif op == "repeat":
        chunks.insert(i_dat, chunks[rng.choice([i_hdr, i_dat])])
    else:
        chunks.insert(1, (b"tEXt", b"depthforge\x00" + b"x" * rng.choice([10, 70_000, 2_000_000])))
    return f"crc-ok-{op}", png_build(chunks)


def corrupt(data: bytes, max_pixels: int = 250_000_000) -> bool:
    """Whether an independent decoder refuses ``data``: Pillow decoding the whole first page as one of the accepted
    formats, and for PNGs also libpng (through OpenCV), which refuses image data that ends early."""
    if pillow_refuses(data, max_pixels):
        return True
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        import cv2

        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) is None
    return False


def pillow_refuses(data: bytes, max_pixels: int = 250_000_000) -> bool:
    """Whether Pillow, decoding strictly (whole first page) as one of the accepted formats, refuses ``data`` (HEIC
    and HEIF by pillow-heif's libheif, when it is installed)."""
    from PIL import Image

    from depthforge.io.heif import is_heif_head, register_heif
    from depthforge.io.inputs import IMAGE_FORMATS

    formats: tuple[str, ...] = IMAGE_FORMATS
    if is_heif_head(data[:12]):
        try:
            register_heif()
            formats = (*formats, "HEIF")
        except ImportError:
            pass
    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data), formats=formats) as im:
                if im.size[0] * im.size[1] > max_pixels:
                    return True
                im.load()
                np.asarray(im)
        return False
    except Exception:  # noqa: BLE001 - any failure is a refusal
        return True
    finally:
        Image.MAX_IMAGE_PIXELS = old


# --------------------------------------------------------------------------------------------------- images
_FOREIGN = {  # content that must never reach a decoder, each named as a photo
    "eps.jpg": b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nnewpath 0 0 moveto 10 10 lineto stroke\n",
    "pdf.jpg": b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
    "qoi.jpg": b"qoif" + struct.pack(">IIBB", 4, 4, 3, 0) + b"\xfe\x10\x20\x30" * 16 + b"\x00" * 7 + b"\x01",
    "avif.jpg": b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + b"\x00" * 64,
    "html.png": b"<html><body>not a picture</body></html>",
    "zeros.png": b"\x00" * 4096,
}


def _multipage_tiff(pages: int, side: int) -> bytes:
    """A TIFF of many blank pages, each well under any pixel limit, together far above it (tiny when compressed)."""
    import tifffile

    buf = io.BytesIO()
    blank = np.zeros((side, side), np.uint8)
    with tifffile.TiffWriter(buf) as tw:
        for _ in range(pages):
            tw.write(blank, compression="zlib")
    return buf.getvalue()


def _png_bomb(width: int, height: int) -> bytes:
    """A grey PNG of the given size whose rows are all zero: a few kB for any size."""
    raw = zlib.compressobj(9)
    row = b"\x00" * (width + 1)
    body = b"".join(raw.compress(row) for _ in range(min(height, 64))) + raw.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return png_build([(b"IHDR", ihdr), (b"IDAT", body), (b"IEND", b"")])


def special_image_cases() -> Iterator[Case]:
    """Hand-made hostile images and names (each one a finding of the hostile-input issue)."""
    est = ("estimate", "--model", "{model}", "--backend", "torch", "-o", "out")
    for name, data in _FOREIGN.items():
        yield Case("image", f"foreign/{name}", (*est[:1], name, *est[1:]), {name: data}, expect=REFUSE)
    yield Case("image", "pgm-named-png", ("estimate", "grey.png", *est[1:]), {"grey.png": image_seeds()["pgm"]})
    yield Case(
        "image",
        "multipage-tiff-bomb",
        ("estimate", "pages.tiff", *est[1:], "--max-pixels", "20000000"),
        {"pages.tiff": _multipage_tiff(400, 256)},
        expect=REFUSE,
    )
    yield Case(
        "image",
        "png-bomb-header",
        ("estimate", "bomb.png", *est[1:], "--max-pixels", "20000000"),
        {"bomb.png": _png_bomb(20000, 20000)},
        expect=REFUSE,
    )
    yield Case(
        "image",
        "dev-zero-link",
        ("estimate", "zero.jpg", *est[1:]),
        special=(("symlink", "zero.jpg", "/dev/zero"),),
        expect=REFUSE,
    )
    yield Case("image", "fifo", ("estimate", "pipe.jpg", *est[1:]), special=(("fifo", "pipe.jpg"),), expect=REFUSE)
    yield Case(
        "image", "folder-named-jpg", ("estimate", "dir.jpg/", *est[1:]), special=(("dir", "dir.jpg"),), expect=REFUSE
    )
    yield Case(
        "image", "empty-file", ("estimate", "empty.jpg", *est[1:]), special=(("file", "empty.jpg"),), expect=REFUSE
    )
    yield Case("image", "empty-argument", ("estimate", "", *est[1:]), expect=REFUSE)
    long_name = "p" * 240 + ".jpg"
    yield Case(
        "image",
        "long-name",
        ("estimate", "in", *est[1:]),
        {f"in/{long_name}": image_seeds()["jpeg"], "in/ok.jpg": image_seeds()["jpeg"]},
    )
    yield Case(
        "image",
        "name-clash",
        ("estimate", "a/photo.jpg", "b/photo.jpg", *est[1:]),
        {"a/photo.jpg": image_seeds()["jpeg"], "b/photo.jpg": image_seeds()["jpeg"]},
    )
    yield Case(
        "image",
        "name-clash-ext",
        ("estimate", "in", *est[1:]),
        {"in/photo.jpg": image_seeds()["jpeg"], "in/photo.png": image_seeds()["png"]},
    )
    yield Case(
        "image",
        "folder-with-bad-files",
        ("estimate", "in", *est[1:]),
        {
            "in/ok.jpg": image_seeds()["jpeg"],
            "in/bad.png": image_seeds()["pgm"][:40],
            "in/qoi.jpg": _FOREIGN["qoi.jpg"],
            "in/avif.png": _FOREIGN["avif.jpg"],
        },
    )


def image_case(rng: random.Random) -> Case:
    """A mutated image of a random seed, through a random command that reads photos."""
    seeds = image_seeds()
    kind = rng.choice(sorted(seeds))
    data = seeds[kind]
    if kind.startswith("png") and rng.random() < 0.5:
        op, data = mutate_png_valid_crc(data, rng)
    else:
        op, data = mutate_bytes(data, rng)
    ext = {
        "jpeg": "jpg",
        "png": "png",
        "tiff": "tif",
        "webp": "webp",
        "bmp": "bmp",
        "gif": "gif",
        "ppm": "ppm",
        "pgm": "pgm",
        "heic": "heic",
    }[kind.split("-")[0].rstrip("16")]
    name = f"m.{ext}" if rng.random() < 0.85 else f"m.{rng.choice(['jpg', 'png', 'tiff'])}"
    expect = REFUSE if corrupt(data, 20_000_000) else ANY
    limit = ("--max-pixels", "20000000")
    command = rng.choice(["estimate"] * 6 + ["stereo", "normals", "bokeh", "mask", "mesh", "match"])
    if command == "estimate":
        argv: tuple[str, ...] = ("estimate", name, "--model", "{model}", "--backend", "torch", "-o", "out", *limit)
    elif command == "match":
        argv = ("match", name, "{photo}", "-o", "disp.pfm", "--no-check", "--max-disparity", "16", *limit)
    else:
        out = {"stereo": "o.png", "normals": "o.png", "bokeh": "o.jpg", "mask": "o.png", "mesh": "o.ply"}[command]
        argv = (command, name, "--depth", "{depth}", "-o", out, *limit)
    return Case("image", f"{kind}/{op}/{command}", argv, {name: data}, expect=expect)


# --------------------------------------------------------------------------------------------------- depth files
_DEPTH_COMMANDS: tuple[tuple[str, ...], ...] = (
    ("stereo", "{photo}", "--depth", "D", "-o", "o.png"),
    ("mesh", "{photo}", "--depth", "D", "-o", "o.ply"),
    ("pointcloud", "{photo}", "--depth", "D", "-o", "o.ply"),
    ("normals", "{photo}", "--depth", "D", "-o", "o.png"),
    ("bokeh", "{photo}", "--depth", "D", "-o", "o.jpg"),
    ("mask", "{photo}", "--depth", "D", "-o", "o.png"),
    ("process", "D", "-o", "o.npy", "--fill", "auto"),
    ("eval", "D", "{depth}"),
    ("process", "{depth}", "--reference", "D", "--ref-kind", "metric", "-o", "o.npy"),
    ("parallax", "{photo}", "--depth", "D", "--duration", "0.25", "--fps", "8", "-o", "o.gif"),
)


def _npy_bytes(header: dict[str, Any], payload: bytes) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue() + payload


def _malformed_npy(rng: random.Random) -> tuple[str, bytes]:
    d = scene_depth()
    options: list[tuple[str, Callable[[], bytes]]] = [
        ("structured", lambda: _save_npy(np.zeros(d.shape, dtype=[("a", "<f4"), ("b", "<i2")]))),
        ("string", lambda: _save_npy(np.full(d.shape, "abc"))),
        ("bytes", lambda: _save_npy(np.full(d.shape, b"ab"))),
        ("complex", lambda: _save_npy(d.astype(np.complex64))),
        ("bool", lambda: _save_npy(d > 3)),
        ("1d", lambda: _save_npy(d.ravel())),
        ("channel-first-3", lambda: _save_npy(np.stack([d, d, d]))),
        ("pages-7", lambda: _save_npy(np.stack([d] * 7))),
        ("4d", lambda: _save_npy(d[None, None])),
        ("channel-first-1", lambda: _save_npy(d[None])),
        ("channels-last-2", lambda: _save_npy(np.dstack([d, d]))),
        ("fortran", lambda: _save_npy(np.asfortranarray(d))),
        (
            "huge-header",
            lambda: _npy_bytes({"descr": "<f4", "fortran_order": False, "shape": (100000, 100000)}, b"\x00" * 64),
        ),
        ("short-data", lambda: _save_npy(d)[:-100]),
        ("zero-size", lambda: _save_npy(np.zeros((0, 5), np.float32))),
        ("zip-magic", lambda: b"PK\x03\x04" + _save_npy(d)),
        ("npz", lambda: _savez(d)),
        ("pickle", lambda: _save_npy(np.array([{"a": 1}], dtype=object), allow_pickle=True)),
        ("nan-inf", lambda: _save_npy(np.where(d > 5, np.nan, np.where(d < 2.5, np.inf, d)).astype(np.float32))),
        ("int64-extreme", lambda: _save_npy(np.full(d.shape, np.iinfo(np.int64).max, np.int64))),
        ("float64-extreme", lambda: _save_npy(np.full(d.shape, 1e308))),
        ("negative", lambda: _save_npy(-d)),
        ("constant", lambda: _save_npy(np.ones_like(d))),
    ]
    name, make = rng.choice(options)
    return name, make()


def _save_npy(a: np.ndarray, *, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=allow_pickle)
    return buf.getvalue()


def _savez(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, depth=a)
    return buf.getvalue()


_META_VALUES: tuple[Any, ...] = (None, "abc", "", -1, 0, 1e308, float("nan"), [], {}, True, "1e3", 10**400, [1, 2])
_META_KEYS = (
    "kind",
    "encoding",
    "display_far",
    "display_near",
    "max_code",
    "invert",
    "scale",
    "offset",
    "invalid",
    "intrinsics",
    "baseline_m",
    "model",
)


def _mutated_meta(meta: dict[str, Any], rng: random.Random) -> str:
    """The metadata JSON with one field removed, retyped or made extreme (or the whole text broken)."""
    m = dict(meta)
    op = rng.choice(["drop", "set", "set", "intrinsics", "not-object", "broken", "deep"])
    if op == "drop" and m:
        m.pop(rng.choice(sorted(m)))
    elif op == "set":
        m[rng.choice(_META_KEYS)] = rng.choice(_META_VALUES)
    elif op == "intrinsics":
        m["intrinsics"] = {
            "fx": rng.choice([0, -5, "x", 1e308]),
            "fy": 1,
            "cx": 1,
            "cy": 1,
            "width": -1,
            "height": rng.choice([0, 10**12, "h"]),
        }
    elif op == "not-object":
        return json.dumps(rng.choice([[1, 2], "text", 3, None]))
    elif op == "broken":
        return json.dumps(m)[: rng.randrange(1, 40)]
    else:
        return "[" * 100_000 + "]" * 100_000
    return json.dumps(m, allow_nan=True)


def depth_case(rng: random.Random) -> Case:
    """A damaged depth file (bytes, metadata, or a malformed array) through one of the ten ``--depth`` readers."""
    from PIL import Image, PngImagePlugin

    seeds = depth_seeds()
    fmt = rng.choice(sorted(seeds))
    files = dict(seeds[fmt])
    main = next(n for n in files if not n.endswith(".json"))
    expect = ANY
    op = rng.choice(["bytes", "bytes", "meta", "npy", "sidecar-special", "foreign"])
    if op == "bytes":
        how, files[main] = mutate_bytes(files[main], rng)
        if fmt in ("png16", "png8", "png16mm") and corrupt(files[main]):
            expect = REFUSE
        label = f"{fmt}/{how}"
    elif op == "meta":
        side = next((n for n in files if n.endswith(".json")), None)
        if side is not None:
            files[side] = _mutated_meta(json.loads(files[side]), rng).encode()
        elif fmt in ("png16", "png8"):
            with Image.open(io.BytesIO(files[main])) as im:
                im.load()
                meta = json.loads(im.info["depthforge"])
                info = PngImagePlugin.PngInfo()
                info.add_text("depthforge", _mutated_meta(meta, rng))
                buf = io.BytesIO()
                im.save(buf, format="PNG", pnginfo=info)
            files[main] = buf.getvalue()
        label = f"{fmt}/meta"
    elif op == "npy":
        how, data = _malformed_npy(rng)
        files = {"d.npy": data}
        main, label = "d.npy", f"npy/{how}"
        if how in (
            "structured",
            "string",
            "bytes",
            "complex",
            "1d",
            "channel-first-3",
            "pages-7",
            "4d",
            "huge-header",
            "short-data",
            "zero-size",
            "zip-magic",
            "npz",
            "pickle",
            "channels-last-2",
        ):
            expect = REFUSE
    elif op == "sidecar-special":
        files = {k: v for k, v in seeds["npy"].items() if not k.endswith(".json")}
        main, label = "d.npy", "npy/sidecar-is-dev-zero"
        special: tuple[tuple[str, ...], ...] = (("symlink", "d.npy.json", "/dev/zero"),)
        argv = _depth_argv(rng, main)
        return Case("depth", label, argv, files, special=special, expect=REFUSE)
    else:
        ext = rng.choice([".exr", ".tiff", ".pfm", ".npy", ".png"])
        main = f"fake{ext}"
        files = {
            main: rng.choice(
                [
                    b"not a depth file at all",
                    b"v/1\x01" + b"\x00" * 40,
                    b"II*\x00" + b"\xff" * 40,
                    b"Pf\n10 10\n-1.0\n" + b"\x00" * 10,
                    b"\x93NUMPY\x01\x00\xff\xff",
                ]
            )
        }
        label, expect = f"foreign/{main}", REFUSE
    return Case("depth", label, _depth_argv(rng, main), files, expect=expect)


def _depth_argv(rng: random.Random, name: str) -> tuple[str, ...]:
    template = rng.choice(_DEPTH_COMMANDS)
    return tuple(name if a == "D" else a for a in template)


def special_depth_cases() -> Iterator[Case]:
    """Hand-made hostile depth files (findings of the hostile-input issue)."""
    d = scene_depth()
    yield Case(
        "depth",
        "png-over-bomb-limit",
        ("stereo", "{photo}", "--depth", "big.png", "-o", "o.png", "--max-pixels", "20000000"),
        {"big.png": _png_bomb(30000, 30000)},
        expect=REFUSE,
    )
    yield Case(
        "depth",
        "multipage-tiff",
        ("normals", "{photo}", "--depth", "p.tiff", "-o", "o.png"),
        {"p.tiff": _multipage_tiff(5, 96)},
        expect=REFUSE,
    )
    yield Case(
        "depth",
        "npy-37GB-header",
        ("mesh", "{photo}", "--depth", "h.npy", "-o", "o.ply"),
        {"h.npy": _npy_bytes({"descr": "<f4", "fortran_order": False, "shape": (100000, 96000)}, b"\0" * 64)},
        expect=REFUSE,
    )
    yield Case(
        "depth",
        "npy-channel-first",
        ("stereo", "{photo}", "--depth", "c.npy", "-o", "o.png"),
        {"c.npy": _save_npy(np.stack([d, d, d]))},
        expect=REFUSE,
    )
    yield Case(
        "depth",
        "dev-zero",
        ("process", "z.npy", "-o", "o.npy"),
        special=(("symlink", "z.npy", "/dev/zero"),),
        expect=REFUSE,
    )


# --------------------------------------------------------------------------------------------------- depth photos
@cache
def depth_photo_seeds() -> dict[str, bytes]:
    """Valid photos that carry their depth (GDepth 8/16-bit, both range formats, one in extended XMP; Dynamic
    Depth), as written by ``depthforge estimate --format``."""
    import tempfile
    from pathlib import Path

    from depthforge.core.depthmap import DepthMap
    from depthforge.io.depthphoto_write import write_depth_photo

    depth = DepthMap(scene_depth(), kind="metric")
    kinds: dict[str, dict[str, Any]] = {
        "gdepth8": {"format": "gdepth"},
        "gdepth16": {"format": "gdepth", "bits": 16},
        "gdepth-linear": {"format": "gdepth", "range_format": "RangeLinear"},
        "dynamic-depth": {"format": "dynamic-depth"},
        "dynamic-depth16": {"format": "dynamic-depth", "bits": 16},
    }
    import cv2

    fine = DepthMap(cv2.resize(scene_depth(), None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC), kind="metric")
    out: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, kw in kinds.items():
            target = Path(tmp) / f"{name}.jpg"
            write_depth_photo(target, photo_array(), depth, **kw)
            out[name] = target.read_bytes()
        target = Path(tmp) / "extended.jpg"  # a map too large for the standard packet: extended XMP in 2 chunks
        write_depth_photo(target, photo_array(), fine, format="gdepth", bits=16)
        out["gdepth16-extended"] = target.read_bytes()
    return out


_PHOTO_COMMANDS: tuple[tuple[str, ...], ...] = (
    ("estimate", "P", "--use-embedded-depth", "--model", "{model}", "--backend", "torch", "-o", "out"),
    ("stereo", "P", "--depth", "P", "-o", "o.png"),
    ("mesh", "P", "--depth", "P", "-o", "o.ply"),
    ("process", "P", "-o", "o.npy"),
    ("normals", "{photo}", "--depth", "P", "-o", "o.png"),
)
_XMP_VALUES = ("nan", "-1", "0", "-0", "1e309", "-1e309", "", "abc", "9" * 40, "1e-320", "0x10", " 2 ", "\u00e9")
_ENTITY_BOMB = (
    '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
    + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
    + "]>"
)


def _declared_png(width: int, height: int, *, bits: int = 8) -> bytes:
    """A PNG whose header declares ``width`` x ``height`` grey pixels, followed by one tiny IDAT."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, bits, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _with_packets(data: bytes, standard: bytes, extended: bytes, *, keep_guid: bool = False) -> bytes:
    """``data`` (a JPEG) with its XMP replaced; the standard packet is pointed at the new extended packet's GUID
    unless ``keep_guid`` (then it names the old one: a mismatch)."""
    from depthforge.io.xmp import extended_guid_for, insert_xmp, read_xmp, xmp_segments

    old = read_xmp(data).guid
    if extended and old and not keep_guid:
        standard = standard.replace(old.encode(), extended_guid_for(extended).encode())
    return insert_xmp(data, xmp_segments(standard, extended))


def _mutate_xmp(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """A change at the XMP level that keeps the JPEG and its packet framing valid, so the parser meets it."""
    import base64
    import re

    from depthforge.io.xmp import STANDARD_MAX_BYTES, jpeg_end, read_xmp

    packets = read_xmp(data)
    which = "extended" if packets.extended and rng.random() < 0.5 else "standard"
    text = packets.extended if which == "extended" else packets.standard
    attrs = list(re.finditer(rb'([A-Za-z]+:[A-Za-z]+)="([^"]*)"', text))
    op = rng.choice(["attr", "attr", "attr", "data", "entities", "external", "encoding", "nesting", "cut", "dup"])
    if op == "attr" and attrs:
        m = rng.choice(attrs)
        value = rng.choice(_XMP_VALUES).encode()
        text = text[: m.start(2)] + value + text[m.end(2) :]
        op = f"attr {m.group(1).decode()}={value[:12]!r}"
    elif op == "data":
        blob = rng.choice(
            [
                ("garbage", base64.b64encode(b"not an image at all")),
                ("not-base64", b"!!!!****"),
                ("empty", b""),
                ("colour-jpeg", base64.b64encode(image_seeds()["jpeg"])),
                ("declared-huge-png", base64.b64encode(_declared_png(100_000, 100_000))),
                ("declared-16bit-huge", base64.b64encode(_declared_png(60_000, 60_000, bits=16))),
                ("zero-size-png", base64.b64encode(_declared_png(0, 0))),
            ]
        )
        text, n = re.subn(
            rb'(GDepth:Data|GDepth:Confidence)="[^"]*"', lambda m: m.group(1) + b'="' + blob[1] + b'"', text
        )
        lengths = [int(v) for v in re.findall(rb'Item:Length="(\d+)"', packets.standard) if int(v) > 0]
        if not n and lengths:  # Dynamic Depth: the first item after the primary JPEG, same length
            start = jpeg_end(data)
            raw = blob[1] if blob[0] == "not-base64" else base64.b64decode(blob[1])
            item = (raw + b"\0" * lengths[0])[: lengths[0]]
            return f"dd-item/{blob[0]}", data[:start] + item + data[start + lengths[0] :]
        op = f"data/{blob[0]}"
    elif op in ("entities", "external") and attrs:
        dtd = _ENTITY_BOMB if op == "entities" else '<!DOCTYPE x [<!ENTITY j SYSTEM "file:///etc/passwd">]>'
        m = rng.choice(attrs)  # one attribute's value becomes the entity
        text = dtd.encode() + text[: m.start(2)] + b"&j;" + text[m.end(2) :]
    elif op == "encoding":
        text = b'<?xml version="1.0" encoding="x-bogus"?>' + text
    elif op == "nesting":
        text = text.replace(b"</rdf:RDF>", b"<a>" * 50_000 + b"</a>" * 50_000 + b"</rdf:RDF>", 1)
    elif op == "cut":
        text = text[: rng.randrange(1, max(2, len(text)))]
    else:
        text = re.sub(rb'(GDepth:Near="[^"]*")', rb"\1 \1", text, count=1)
    if which == "standard" and len(text) > STANDARD_MAX_BYTES:
        text = text[:STANDARD_MAX_BYTES]
        op += "/cut-to-fit"
    standard, extended = (packets.standard, text) if which == "extended" else (text, packets.extended)
    return f"xmp-{which}/{op}", _with_packets(data, standard, extended, keep_guid=rng.random() < 0.1)


def depth_photo_case(rng: random.Random) -> Case:
    """A photo carrying depth (GDepth, Dynamic Depth) damaged in its bytes or its XMP, through the readers of
    embedded depth: ``estimate --use-embedded-depth``, ``--depth photo.jpg`` and ``process photo.jpg``."""
    seeds = depth_photo_seeds()
    kind = rng.choice(sorted(seeds))
    if rng.random() < 0.3:
        how, data = mutate_bytes(seeds[kind], rng)
    else:
        how, data = _mutate_xmp(seeds[kind], rng)
    argv = tuple("p.jpg" if a == "P" else a for a in rng.choice(_PHOTO_COMMANDS))
    return Case("photo", f"{kind}/{how}/{argv[0]}", argv, {"p.jpg": data}, timeout_s=60)


def special_photo_cases() -> Iterator[Case]:
    """Hand-made hostile depth photos: XML entity expansion and an external entity must be refused, not expanded
    or read."""
    from depthforge.io.xmp import read_xmp

    data = depth_photo_seeds()["gdepth8"]
    std = read_xmp(data).standard.replace(b'GDepth:Software="depthforge"', b'GDepth:Software="&j;"')
    bomb = _ENTITY_BOMB.encode() + std
    external = b'<!DOCTYPE x [<!ENTITY j SYSTEM "file:///etc/passwd">]>' + std
    for label, packet in (("entity-expansion", bomb), ("external-entity", external)):
        yield Case(
            "photo",
            label,
            ("process", "p.jpg", "-o", "o.npy"),
            {"p.jpg": _with_packets(data, packet, b"")},
            expect=REFUSE,
        )


# --------------------------------------------------------------------------------------------------- videos
def video_case(rng: random.Random) -> Case:
    """A damaged clip through ``estimate`` (which streams videos), or a playlist posing as a video."""
    seeds = video_seeds()
    if not seeds or rng.random() < 0.1:
        playlist = b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"
        return Case(
            "video",
            "hls-playlist-as-mp4",
            ("estimate", "v.mp4", "--model", "{model}", "--backend", "torch", "-o", "out"),
            {"v.mp4": playlist},
            expect=REFUSE,
            timeout_s=120,
        )
    ext = rng.choice(sorted(seeds))
    how, data = mutate_bytes(seeds[ext], rng)
    extra = rng.choice([(), ("--max-pixels", "1000"), ("--stereo", "half-left-right"), ("--frames", "png8")])
    return Case(
        "video",
        f"{ext}/{how}",
        ("estimate", f"v.{ext}", "--model", "{model}", "--backend", "torch", "-o", "out", *extra),
        {f"v.{ext}": data},
        timeout_s=120,
    )


# --------------------------------------------------------------------------------------------------- options
_NUMBERS = ("-1", "0", "1e308", "-1e308", "nan", "inf", "-inf", "", "abc", "1,2", "9" * 30, "0x10", "1e-320", "-0")
_PATHS = ("/dev/zero", "/proc/self/environ", "/", ".", "missing/x.png", "", "x" * 300 + ".png", "/proc/self/fd/0")
_OUTPUTS = (
    "/proc/nope/o.png",
    "exists.txt/o.png",
    "exists.txt",
    "ro/o.png",
    "",
    "deep/a/b/c/o.png",
    "x" * 300 + ".png",
    "ro",
    ".",
)

_OPTION_TABLE: dict[str, tuple[tuple[str, ...], dict[str, tuple[str, ...]]]] = {
    "estimate": (
        ("estimate", "{photo}", "--model", "{model}", "--backend", "torch", "-o", "out"),
        {
            "--clip": ("0.1,0.9", "0.9,0.1", "2,3", "nan,1", "a,b", "1"),
            "--percentile": ("2,98", "99,1", "-5,200", "x"),
            "--max-pixels": _NUMBERS,
            "--batch-size": _NUMBERS,
            "--divergence": _NUMBERS,
            "--temporal-strength": _NUMBERS,
            "--model": (
                "/nonexistent/model",
                "https://example.com/m",
                "a/b/c/d",
                "../..",
                "nonsense",
                "",
                "org/" + "n" * 200,
                "~/nowhere",
            ),
        },
    ),
    "stereo": (
        ("stereo", "{photo}", "--depth", "{depth}", "-o", "o.png"),
        {
            "--divergence": _NUMBERS,
            "--convergence": _NUMBERS,
            "--balance": _NUMBERS,
            "--separation": _NUMBERS,
            "--exponent": _NUMBERS,
            "--views": _NUMBERS,
            "--frame-ms": _NUMBERS,
            "--layout": ("wiggle", "x", ""),
            "--depth-scale": _NUMBERS,
        },
    ),
    "mesh": (
        ("mesh", "{photo}", "--depth", "{depth}", "-o", "o.ply"),
        {
            "--fx": _NUMBERS,
            "--fy": _NUMBERS,
            "--cx": _NUMBERS,
            "--cy": _NUMBERS,
            "--fov": _NUMBERS,
            "--near": _NUMBERS,
            "--far": _NUMBERS,
            "--max-angle": _NUMBERS,
            "--max-jump": _NUMBERS,
            "--target-vertices": _NUMBERS,
            "--stride": _NUMBERS,
            "--baseline-m": _NUMBERS,
            "--sensor-width-mm": _NUMBERS,
        },
    ),
    "relief": (
        ("relief", "{photo}", "--depth", "{depth}", "-o", "o.stl", "--resolution-mm", "2"),
        {
            "--width-mm": _NUMBERS,
            "--relief-mm": _NUMBERS,
            "--base-mm": _NUMBERS,
            "--resolution-mm": _NUMBERS,
            "--smooth-mm": _NUMBERS,
            "--clip": ("0.1,0.9", "0.9,0.1", "a,b", "1", "nan,1"),
            "--percentile": ("2,98", "98,2", "-1,200", "x"),
        },
    ),
    "pointcloud": (
        ("pointcloud", "{photo}", "--depth", "{depth}", "-o", "o.ply"),
        {"--voxel": _NUMBERS, "--stride": _NUMBERS, "--fov": _NUMBERS, "--near": _NUMBERS},
    ),
    "normals": (
        ("normals", "{photo}", "--depth", "{depth}", "-o", "o.png"),
        {"--smooth-depth": _NUMBERS, "--smooth-normals": _NUMBERS, "--fx": _NUMBERS},
    ),
    "bokeh": (
        ("bokeh", "{photo}", "--depth", "{depth}", "-o", "o.jpg"),
        {
            "--aperture": _NUMBERS,
            "--f-number": _NUMBERS,
            "--blades": _NUMBERS,
            "--rotation": _NUMBERS,
            "--highlights": _NUMBERS,
            "--focus-depth": _NUMBERS,
        },
    ),
    "mask": (
        ("mask", "{photo}", "--depth", "{depth}", "-o", "o.png"),
        {
            "--threshold": _NUMBERS,
            "--feather": _NUMBERS,
            "--background": ("0,177,64", "300,0,0", "a,b,c", "1"),
            "--background-blur": _NUMBERS,
            "--background-image": _PATHS,
        },
    ),
    "process": (
        ("process", "{depth}", "-o", "o.npy"),
        {
            "--sigma-space": _NUMBERS,
            "--sigma-range": _NUMBERS,
            "--median-size": _NUMBERS,
            "--radius": _NUMBERS,
            "--eps": _NUMBERS,
            "--speckle-size": _NUMBERS,
            "--max-hole": _NUMBERS,
            "--known": ("1,2,3", "1000,1000,5", "-1,-1,1", "a,b,c", "1,2", "1,2,nan", "1,2,-3"),
            "--reference": _PATHS,
            "--image": _PATHS,
            "--depth-scale": _NUMBERS,
        },
    ),
    "eval": (("eval", "{depth}", "{depth}"), {"--pred-scale": _NUMBERS, "--gt-scale": _NUMBERS, "--mask": _PATHS}),
    "parallax": (
        ("parallax", "{photo}", "--depth", "{depth}", "--duration", "0.25", "--fps", "8", "-o", "o.gif"),
        {
            "--duration": ("-1", "0", "nan", "1e9", "abc"),
            "--fps": ("-1", "0", "nan", "1e9", "0.001"),
            "--amplitude": _NUMBERS,
            "--dolly": _NUMBERS,
            "--focus": _NUMBERS,
            "--layers": _NUMBERS,
            "--quality": _NUMBERS,
            "--start": ("1,2", "a,b", "nan,1"),
            "--motion": ("linear", "x", ""),
        },
    ),
    "photo3d": (
        ("photo3d", "{photo}", "--depth", "{depth}", "-o", "o.glb", "--target-vertices", "4000"),
        {
            "--layers": _NUMBERS,
            "--target-vertices": _NUMBERS,
            "--stride": _NUMBERS,
            "--max-angle": _NUMBERS,
            "--near": _NUMBERS,
            "--far": _NUMBERS,
            "--fov": _NUMBERS,
            "--inpaint": ("telea", "ns", "learned", "onnx:/dev/zero", "onnx:missing.onnx", "x" * 300, ""),
            "--video": ("circle", "nope", ""),
            "--video-out": _PATHS,
            "--duration": ("-1", "0", "nan", "1e9"),
            "--fps": ("-1", "0", "nan", "1e9"),
            "--supersample": _NUMBERS,
        },
    ),
    "generate": (
        ("generate", "{photo}", "--depth", "{depth}", "--prompt", "a cat", "-o", "g.png", "--steps", "1"),
        {
            "--prompt": ("", "x" * 100_000, "\x00", "\u202e"),
            "--steps": _NUMBERS,
            "--guidance": _NUMBERS,
            "--seed": _NUMBERS,
            "--seeds": ("1,2,3", "a,b", "-1", "", "1," * 5000),
            "--batch": _NUMBERS,
            "--strength": _NUMBERS,
            "--control-scale": _NUMBERS,
            "--control-start": _NUMBERS,
            "--control-end": _NUMBERS,
            "--size": ("512,512", "0,0", "-8,8", "100000,100000", "a,b", "7,9", "1"),
            "--base": ("/nonexistent", "../..", "org/" + "n" * 200, ""),
            "--controlnet": ("/dev/zero", "nonsense", ""),
        },
    ),
    "sequence": (  # an image sequence's pattern as a clip (user trial 6), its frames in seq/
        ("estimate", "seq/s.####.png", "--model", "{model}", "--backend", "torch", "-o", "out", "--no-visual"),
        {
            "--fps": ("-1", "0", "nan", "inf", "1e9", "0.001", "abc", "23.976"),
            "--frames": ("exr", "png8", "png16", "x", ""),
            "--stereo": ("half-left-right", "anaglyph-gray", "x"),
            "--temporal-strength": _NUMBERS,
        },
    ),
    "detail": (
        ("estimate", "{photo}", "--model", "{model}", "--backend", "torch", "-o", "out", "--detail", "2"),
        {
            "--detail": ("auto", "off", "0", "-1", "257", "nan", "x", "", "3"),
            "--tile-overlap": _NUMBERS,
            "--fusion": ("blend", "nope", ""),
            "--format": ("gdepth", "dynamic-depth", "facebook3d", "x", ""),
            "--depth-bits": _NUMBERS,
        },
    ),
    "mask-models": (
        ("mask", "{photo}", "--depth", "{depth}", "-o", "o.png"),
        {
            "--source": ("depth", "sam", "matting", "segmenter", "nope", ""),
            "--sam-model": ("/nonexistent", "/dev/zero", "../..", "org/" + "n" * 200, ""),
            "--matting-model": ("/nonexistent", "/proc/self/environ", "nonsense", ""),
            "--click": ("10,10", "-1,-1", "1e9,1e9", "nan,1", "a,b", "1", ""),
            "--seg-file": _PATHS,
            "--segmenter": ("nope", "", "rmbg"),
            "--depth-out": _PATHS,
        },
    ),
    "batch": (
        ("batch", "in", "--model", "{model}", "-o", "bout", "--outputs", "depth16"),
        {
            "--outputs": ("depth16,npy", "nope", "", ",", "depth16," * 200, "mesh,photo3d"),
            "--workers": _NUMBERS,
            "--threads-per-worker": _NUMBERS,
            "--detail": ("tiles", "x", "-1"),
            "--tile-overlap": _NUMBERS,
            "--divergence": _NUMBERS,
            "--fov": _NUMBERS,
            "--mask-threshold": _NUMBERS,
            "--clip": ("0.1,0.9", "0.9,0.1", "nan,1", "a,b"),
            "--engine": ("local", "ray", "nope"),
        },
    ),
    "match": (
        ("match", "{photo}", "{photo}", "-o", "d.pfm", "--no-check"),
        {
            "--max-disparity": _NUMBERS,
            "--min-disparity": _NUMBERS,
            "--block-size": _NUMBERS,
            "--focal-px": _NUMBERS,
            "--baseline-m": _NUMBERS,
            "--metric-out": _PATHS,
            "--confidence": _PATHS,
        },
    ),
}


def option_case(rng: random.Random) -> Case:
    """One command with one hostile option value, or a hostile output path."""
    command = rng.choice(sorted(_OPTION_TABLE))
    base, table = _OPTION_TABLE[command]
    files = {"exists.txt": b"a file, not a folder"}
    if "in" in base:  # batch: a folder of one photo
        files["in/ok.jpg"] = image_seeds()["jpeg"]
    if "seq/s.####.png" in base:  # an image sequence with a gap
        files.update({f"seq/s.{n:04d}.png": image_seeds()["png"] for n in (1, 2, 4)})
    special: tuple[tuple[str, ...], ...] = (("readonly_dir", "ro"),)
    if rng.random() < 0.25:
        out = rng.choice(_OUTPUTS)
        argv = list(base)
        i = argv.index("-o") if "-o" in argv else -1
        if i < 0:
            return Case("option", f"{command} (no -o)", tuple(argv), files, special)
        if command != "estimate" and out in ("ro", "."):
            out = "ro/o.png"
        argv[i + 1] = out
        return Case("option", f"{command} -o {out[:30]}", tuple(argv), files, special)
    flag = rng.choice(sorted(table))
    value = rng.choice(table[flag])
    argv = [a for a in base]
    if flag in argv:
        argv[argv.index(flag) + 1] = value
    else:
        argv += [flag, value]
    return Case("option", f"{command} {flag}={value[:30]!r}", tuple(argv), files, special)


# --------------------------------------------------------------------------------------------------- names
def name_case(rng: random.Random) -> Case:
    """Valid photos under hostile file names: non-UTF-8 bytes, spaces, leading dashes, very long, unicode."""
    raw = rng.choice(
        [
            b"caf\xe9.jpg",
            b"\xff\xfe.jpg",
            b"ph oto.jpg",
            b"-x.jpg",
            ("\u00e9" * 100 + ".jpg").encode(),
            b"a" * 250 + b".jpg",
            "\u202e.jpg".encode(),
        ]
    )
    command = rng.choice(["estimate", "batch"])
    argv = (
        ("estimate", "in", "--model", "{model}", "--backend", "torch", "-o", "out")
        if command == "estimate"
        else ("batch", "in", "--model", "{model}", "-o", "out", "--outputs", "depth16,npy")
    )
    return Case(
        "name",
        f"{command}/{raw[:20]!r}",
        argv,
        {"in/ok.jpg": image_seeds()["jpeg"]},
        special=(("raw_file", "in", raw.hex()),),
    )


GENERATORS: dict[str, Callable[[random.Random], Case]] = {
    "image": image_case,
    "depth": depth_case,
    "video": video_case,
    "option": option_case,
    "name": name_case,
    "photo": depth_photo_case,
}


def special_cases() -> list[Case]:
    return [*special_image_cases(), *special_depth_cases(), *special_photo_cases()]


def cases(seed: int, counts: dict[str, int]) -> list[Case]:
    """A reproducible mix: every hand-made case, then ``counts[family]`` generated cases of each family."""
    rng = random.Random(seed)
    out = special_cases()
    for family, n in counts.items():
        out += [GENERATORS[family](rng) for _ in range(n)]
    return out
