"""Depth files: write and read every supported format, keeping the kind and scale where the format allows.

| format | what is stored | metadata |
| --- | --- | --- |
| ``png16`` | normalised display, 0..65535, near = white | PNG text chunk ``depthforge`` (kind, range) |
| ``png8`` | normalised display, 0..255, near = white | PNG text chunk |
| ``png16mm`` | metric only: uint16 millimetres, 0 = invalid (RGB-D convention) | PNG text + JSON sidecar |
| ``tiff`` | float32 raw values, NaN = invalid | TIFF ImageDescription (JSON) |
| ``npy`` | float32 raw values, NaN = invalid | JSON sidecar |
| ``pfm`` | float32 raw values, inf = invalid (Middlebury) | JSON sidecar |
| ``exr`` | float32 raw values, NaN = invalid | EXR header attribute (needs the OpenEXR package) |

Sidecars are named ``<file>.json`` (e.g. ``photo_depth.npy.json``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from depthforge.core.depthmap import DEPTH_KINDS, DepthMap
from depthforge.core.errors import InputError, MissingExtraError, ValidationError
from depthforge.core.intrinsics import Intrinsics
from depthforge.core.validation import check_choice
from depthforge.io.atomic import DiskWriter, atomic_path, atomic_write_text
from depthforge.io.images import write_image
from depthforge.process.normalize import DisplayRange, display_code_rows, display_codes, display_range

__all__ = ["DEPTH_FORMATS", "FORMAT_EXTENSIONS", "write_depth", "read_depth", "sidecar_path", "format_for_path"]

DEPTH_FORMATS = ("png16", "png8", "png16mm", "tiff", "npy", "pfm", "exr")
FORMAT_EXTENSIONS = {
    "png16": ".png",
    "png8": ".png",
    "png16mm": ".png",
    "tiff": ".tiff",
    "npy": ".npy",
    "pfm": ".pfm",
    "exr": ".exr",
}
_META_KEY = "depthforge"


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """The JSON sidecar of a depth file: ``<file>.json``."""
    p = Path(path)
    return p.with_name(p.name + ".json")


def format_for_path(path: str | os.PathLike[str]) -> str:
    """Guess a write format from an extension (.png -> png16)."""
    ext = Path(path).suffix.lower()
    guess = {".png": "png16", ".tif": "tiff", ".tiff": "tiff", ".npy": "npy", ".pfm": "pfm", ".exr": "exr"}
    if ext not in guess:
        raise ValidationError(f"output: cannot tell a depth format from extension '{ext}' ({', '.join(guess)})")
    return guess[ext]


def write_depth(
    path: str | os.PathLike[str],
    depth: DepthMap,
    *,
    format: str | None = None,  # noqa: A002 - the user-facing name
    invert: bool = False,
    near: float | None = None,
    far: float | None = None,
    percentiles: tuple[float, float] | None = None,
) -> Path:
    """Write ``depth`` to ``path`` atomically in ``format`` (default: from the extension).

    ``invert``, ``near``, ``far`` and ``percentiles`` only affect the display formats (png16, png8); float formats
    always keep raw values. Returns the path written.
    """
    fmt = check_choice(format or format_for_path(path), "format", DEPTH_FORMATS)
    p = Path(path)
    meta: dict[str, Any] = depth.describe()
    if fmt in ("png16", "png8"):
        top = 65535 if fmt == "png16" else 255
        rng = display_range(depth, near=near, far=far, percentiles=percentiles)
        meta.update(encoding="display", display_far=rng.far, display_near=rng.near, invert=invert, max_code=top)
        if p.suffix.lower() == ".png":  # quantised band by band inside the compressing threads
            _write_png_rows(p, depth.shape, display_code_rows(depth, rng, top=top, invert=invert), top, meta)
        else:
            arr, _ = display_codes(depth, top=top, invert=invert, value_range=rng)
            _write_png(p, arr, meta)
    elif fmt == "png16mm":
        if depth.kind != "metric":
            raise ValidationError(f"format: png16mm needs a metric depth map, this one is {depth.kind}")
        mm = np.nan_to_num(depth.values * 1000.0, nan=0.0)
        if np.nanmax(mm, initial=0) > 65535:
            raise ValidationError("format: png16mm holds at most 65.535 m; use tiff, npy or exr for farther scenes")
        arr = np.round(mm).astype(np.uint16)
        meta.update(encoding="linear", scale=0.001, offset=0.0, invalid=0)
        _write_png(p, arr, meta)
        atomic_write_text(sidecar_path(p), json.dumps(meta, indent=2))
    elif fmt == "tiff":
        import tifffile

        with atomic_path(p) as tmp:
            tifffile.imwrite(tmp, depth.values.astype(np.float32), description=json.dumps(meta), metadata=None)
    elif fmt == "npy":
        with atomic_path(p) as tmp, open(tmp, "wb") as fh:
            np.save(fh, depth.values.astype(np.float32))
        atomic_write_text(sidecar_path(p), json.dumps(meta, indent=2))
    elif fmt == "pfm":
        with atomic_path(p) as tmp:
            tmp.write_bytes(_encode_pfm(depth.values))
        atomic_write_text(sidecar_path(p), json.dumps(meta, indent=2))
    else:
        _write_exr(p, depth.values, meta)
    return p


def _write_png(p: Path, arr: np.ndarray, meta: dict[str, Any]) -> None:
    """A grayscale depth PNG with its ``depthforge`` text chunk, through the fast encoder (atomically)."""
    if p.suffix.lower() != ".png":  # another extension asked for a PNG format: let the image writer decide
        write_image(p, arr, text={_META_KEY: json.dumps(meta)})
        return
    _write_png_rows(p, arr.shape, lambda r0, r1: arr[r0:r1], 65535 if arr.dtype == np.uint16 else 255, meta)


def _write_png_rows(
    p: Path, shape: tuple[int, int], rows: Callable[[int, int], np.ndarray], top: int, meta: dict[str, Any]
) -> None:
    """A grayscale PNG whose rows are computed on request (:func:`depthforge.io.png.write_png_rows`), written
    piece by piece as it is coded (atomically) with its ``depthforge`` text chunk."""
    from depthforge.io import png

    dtype = np.uint16 if top > 255 else np.uint8
    with atomic_path(p) as tmp, open(tmp, "wb", buffering=0) as fh:  # written (and sent to disk) as it is coded
        png.write_png_rows(DiskWriter(fh.fileno()), shape, dtype, rows, text={_META_KEY: json.dumps(meta)})


def _encode_pfm(values: np.ndarray) -> bytes:
    h, w = values.shape
    data = np.where(np.isfinite(values), values, np.inf).astype("<f4")[::-1]
    return f"Pf\n{w} {h}\n-1.0\n".encode("ascii") + data.tobytes()


def _decode_pfm(raw: bytes, path: Path) -> np.ndarray:
    parts: list[bytes] = []
    pos = 0
    while len(parts) < 4:
        while pos < len(raw) and raw[pos : pos + 1].isspace():
            pos += 1
        start = pos
        while pos < len(raw) and not raw[pos : pos + 1].isspace():
            pos += 1
        if start == pos:
            raise InputError(f"{path}: truncated PFM header")
        parts.append(raw[start:pos])
    pos += 1
    try:
        kind = parts[0].decode()
        w, h, scale = int(parts[1]), int(parts[2]), float(parts[3])
    except (UnicodeDecodeError, ValueError):
        raise InputError(f"{path}: not a PFM file") from None
    if kind not in ("Pf", "PF") or w <= 0 or h <= 0:
        raise InputError(f"{path}: not a PFM file")
    ch = 3 if kind == "PF" else 1
    dtype = "<f4" if scale < 0 else ">f4"
    need = w * h * ch * 4
    if len(raw) - pos < need:
        raise InputError(f"{path}: truncated PFM data")
    a = np.frombuffer(raw, dtype=dtype, count=w * h * ch, offset=pos).reshape(h, w, ch)[::-1, :, 0]
    return a.astype(np.float32)


def _write_exr(p: Path, values: np.ndarray, meta: dict[str, Any]) -> None:
    try:
        import OpenEXR
    except ImportError:
        raise MissingExtraError("OpenEXR", "exr") from None
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage, _META_KEY: json.dumps(meta)}
    channels = {"Z": np.ascontiguousarray(values.astype(np.float32))}
    with atomic_path(p) as tmp, OpenEXR.File(header, channels) as f:
        f.write(str(tmp))


def _read_exr(p: Path) -> tuple[np.ndarray, dict[str, Any]]:
    try:
        import OpenEXR
    except ImportError:
        raise MissingExtraError("OpenEXR", "exr") from None
    with OpenEXR.File(str(p)) as f:
        channels = f.channels()
        # the header and channels are only valid while the file is open
        meta = _parse_meta(f.header().get(_META_KEY))
        name = "Z" if "Z" in channels else ("Y" if "Y" in channels else next(iter(channels)))
        arr = np.array(channels[name].pixels, dtype=np.float32)
    if arr.ndim == 3:
        arr = arr[:, :, 0]
    return arr, meta


def _parse_meta(text: Any) -> dict[str, Any]:
    if text is None:
        return {}
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    try:
        meta = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _read_sidecar(p: Path) -> dict[str, Any]:
    side = sidecar_path(p)
    if side.exists():
        return _parse_meta(side.read_text(encoding="utf-8"))
    return {}


def read_depth(
    path: str | os.PathLike[str],
    *,
    kind: str | None = None,
    scale: float | None = None,
) -> DepthMap:
    """Read a depth file into a :class:`DepthMap`.

    Kind and scale come from the file's metadata (PNG text, TIFF description, EXR header or JSON sidecar) when it
    has them; ``kind`` and ``scale`` override. Without metadata:

    * float files (tiff, npy, pfm, exr): raw values x ``scale`` (default 1), kind default ``relative``.
    * integer images (8/16-bit PNG, TIFF): with ``scale`` given, raw codes x ``scale`` and 0 = invalid for metric
      and disparity (e.g. Middlebury ``disp2.png`` is ``--depth-kind disparity --depth-scale 0.25``); without it,
      a display image: code / max code, near = white, kind ``relative``.

    Raises:
        InputError: missing or unreadable file, naming it.
    """
    p = Path(path)
    if kind is not None:
        check_choice(kind, "depth_kind", DEPTH_KINDS)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: file is empty")
    ext = p.suffix.lower()
    meta: dict[str, Any]
    try:
        if ext == ".npy":
            arr = np.load(p, allow_pickle=False)
            meta = _read_sidecar(p)
        elif ext == ".pfm":
            arr = _decode_pfm(p.read_bytes(), p)
            meta = _read_sidecar(p)
        elif ext == ".exr":
            arr, meta = _read_exr(p)
        else:
            arr, meta = _read_raster(p)
    except (InputError, MissingExtraError):
        raise
    except (OSError, ValueError, SyntaxError) as exc:
        raise InputError(
            f"{p}: not a readable depth file ({str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__})"
        ) from None
    if arr.ndim == 3:
        arr = arr[:, :, 0]
    if arr.ndim != 2 or arr.size == 0:
        raise InputError(f"{p}: expected a single-channel depth image, got shape {arr.shape}")
    values = _decode_values(arr, meta, kind=kind, scale=scale)
    final_kind = kind or meta.get("kind") or "relative"
    if final_kind not in DEPTH_KINDS:
        final_kind = "relative"
    intr = None
    if isinstance(meta.get("intrinsics"), dict):
        try:
            m = meta["intrinsics"]
            intr = Intrinsics(
                m["fx"], m["fy"], m["cx"], m["cy"], int(m["width"]), int(m["height"]), str(m.get("source", "file"))
            )
            if (intr.width, intr.height) != (values.shape[1], values.shape[0]):
                intr = intr.scaled(values.shape[1], values.shape[0])
        except (KeyError, TypeError, ValueError, ValidationError):
            intr = None
    baseline = meta.get("baseline_m")
    return DepthMap(
        values,
        kind=final_kind,  # type: ignore[arg-type]
        intrinsics=intr,
        model=str(meta.get("model", "")),
        baseline_m=float(baseline) if isinstance(baseline, (int, float)) and baseline > 0 else None,
    )


def _read_raster(p: Path) -> tuple[np.ndarray, dict[str, Any]]:
    ext = p.suffix.lower()
    if ext in (".tif", ".tiff"):
        import tifffile

        with tifffile.TiffFile(p) as tf:
            arr = tf.asarray()
            desc = tf.pages[0].description if tf.pages else ""  # type: ignore[union-attr]
        return arr, _parse_meta(desc) or _read_sidecar(p)
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    try:
        with PILImage.open(p) as pil:
            pil.load()
            text = pil.info.get(_META_KEY)
            if pil.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = (
                    np.asarray(pil).astype(np.uint16)
                    if pil.mode != "I"
                    else np.clip(np.asarray(pil), 0, 65535).astype(np.uint16)
                )
            elif pil.mode == "F":
                arr = np.asarray(pil, dtype=np.float32)
            elif pil.mode in ("L", "P", "1"):
                arr = np.asarray(pil.convert("L"))
            else:
                arr = np.asarray(pil.convert("L"))
    except UnidentifiedImageError:
        raise InputError(f"{p}: not a readable depth image") from None
    meta = _parse_meta(text) or _read_sidecar(p)
    return arr, meta


def _decode_values(arr: np.ndarray, meta: dict[str, Any], *, kind: str | None, scale: float | None) -> np.ndarray:
    a = arr
    v: np.ndarray
    if a.dtype.kind == "f":
        v = a.astype(np.float32)
        return v * np.float32(scale) if scale is not None else v
    codes = a.astype(np.float64)
    if scale is not None:
        v = codes * float(scale)
        if (kind or meta.get("kind")) in ("metric", "disparity"):
            v[a == 0] = np.nan
        return v.astype(np.float32)
    enc = meta.get("encoding")
    if enc == "linear":
        v = codes * float(meta.get("scale", 1.0)) + float(meta.get("offset", 0.0))
        v[a == int(meta.get("invalid", 0))] = np.nan
        return v.astype(np.float32)
    top = float(meta.get("max_code", 65535 if a.dtype == np.uint16 else 255))
    display = codes / top
    if meta.get("invert"):
        display = 1.0 - display
    if enc == "display" and (kind is None or kind == meta.get("kind")):
        rng = DisplayRange(float(meta["display_far"]), float(meta["display_near"]))
        inv = rng.far + display * (rng.near - rng.far)
        if meta.get("kind") == "metric":
            with np.errstate(divide="ignore"):
                return (1.0 / inv).astype(np.float32)
        return inv.astype(np.float32)
    return display.astype(np.float32)
