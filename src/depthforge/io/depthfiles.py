"""Depth files: write and read every supported format, keeping the kind and scale where the format allows.

| format | what is stored | metadata |
| --- | --- | --- |
| ``png16`` | normalised display, 0..65535, near = white (*) | PNG text chunk ``depthforge`` (kind, range) |
| ``png8`` | normalised display, 0..255, near = white (*) | PNG text chunk |
| ``png16mm`` | metric only: uint16 millimetres, 0 = invalid (RGB-D convention) | PNG text + JSON sidecar |
| ``tiff`` | float32 raw values, NaN = invalid | TIFF ImageDescription (JSON) |
| ``npy`` | float32 raw values, NaN = invalid | JSON sidecar |
| ``pfm`` | float32 raw values, inf = invalid (Middlebury) | JSON sidecar |
| ``exr`` | float32 raw values, NaN = invalid | EXR header attribute (needs the OpenEXR package) |

(*) A map with invalid pixels keeps code 0 for them and puts its values on 1..max (the metadata says so:
``invalid``, ``min_code``), so a hole does not read back as the farthest depth.

Sidecars are named ``<file>.json`` (e.g. ``photo_depth.npy.json``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from depthforge.core.deprecation import renamed_keywords
from depthforge.core.depthmap import DepthMap, depth_arrays
from depthforge.core.errors import MissingExtraError, ValidationError
from depthforge.core.validation import check_choice
from depthforge.io.atomic import DiskWriter, atomic_path, atomic_write_text
from depthforge.io.depthread import META_KEY, read_depth, sidecar_path
from depthforge.io.images import write_image
from depthforge.process.normalize import display_code_rows, display_range

__all__ = [
    "DEPTH_FORMATS",
    "FORMAT_EXTENSIONS",
    "write_depth",
    "read_depth",
    "sidecar_path",
    "format_for_path",
    "check_extension",
]

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


def format_for_path(path: str | os.PathLike[str]) -> str:
    """Guess a write format from an extension (.png -> png16)."""
    ext = Path(path).suffix.lower()
    guess = {".png": "png16", ".tif": "tiff", ".tiff": "tiff", ".npy": "npy", ".pfm": "pfm", ".exr": "exr"}
    if ext not in guess:
        raise ValidationError(f"output: cannot tell a depth format from extension '{ext}' ({', '.join(guess)})")
    return guess[ext]


@renamed_keywords(near="clip_near", far="clip_far")
@depth_arrays
def write_depth(
    path: str | os.PathLike[str],
    depth: DepthMap,
    *,
    format: str | None = None,  # noqa: A002 - the user-facing name
    invert: bool = False,
    clip_near: float | None = None,
    clip_far: float | None = None,
    percentiles: tuple[float, float] | None = None,
) -> Path:
    """Write ``depth`` to ``path`` atomically in ``format`` (default: from the extension).

    Args:
        path: the file to write (a missing folder is made); the path comes first, as in ``write_image``.
        depth: the depth map, any kind.
        format: one of :data:`DEPTH_FORMATS`: ``png16`` (16-bit display, near = white), ``png8``, ``png16mm``
            (metric maps: uint16 millimetres, 0 = invalid, + JSON sidecar), ``tiff``, ``npy``, ``pfm``, ``exr``
            (raw float32 values, NaN = invalid); default from the extension.
        invert, clip_near, clip_far, percentiles: the display range and direction, as in
            :func:`~depthforge.process.normalize.to_display`; only for the display formats (png16, png8), float
            formats always keep the raw values.

    Returns:
        The path written.
    """
    fmt = check_extension(path, format=format)
    p = Path(path)
    meta: dict[str, Any] = depth.describe()
    if fmt in ("png16", "png8"):
        top = 65535 if fmt == "png16" else 255
        rng = display_range(depth, clip_near=clip_near, clip_far=clip_far, percentiles=percentiles)
        meta.update(encoding="display", display_far=rng.far, display_near=rng.near, invert=invert, max_code=top)
        holes = bool(np.isnan(depth.values).any())  # code 0, the values 1..top (a hole must not read back as far)
        rows = display_code_rows(depth, rng, top=top - 1 if holes else top, invert=invert)
        if holes:
            meta.update(invalid=0, min_code=1)
            rows = _holes_at_zero(depth.values, rows)
        _write_png(p, depth.shape, rows, top, meta)  # quantised band by band inside the compressing threads
    elif fmt == "png16mm":
        if depth.kind != "metric":
            raise ValidationError(f"format: png16mm needs a metric depth map, this one is {depth.kind}")
        mm = np.round(np.nan_to_num(depth.values * 1000.0, nan=0.0))  # 65.535 m is 65535.0002 mm in float32
        if np.max(mm, initial=0) > 65535:
            raise ValidationError("format: png16mm holds at most 65.535 m; use tiff, npy or exr for farther scenes")
        arr = mm.astype(np.uint16)
        meta.update(encoding="linear", scale=0.001, offset=0.0, invalid=0)
        _write_png(p, arr.shape, lambda r0, r1: arr[r0:r1], 65535, meta)
    elif fmt == "tiff":
        import tifffile

        with atomic_path(p) as tmp:
            tifffile.imwrite(tmp, depth.values.astype(np.float32), description=json.dumps(meta), metadata=None)
    elif fmt == "npy":
        with atomic_path(p) as tmp, open(tmp, "wb") as fh:
            np.save(fh, depth.values.astype(np.float32))
    elif fmt == "pfm":
        with atomic_path(p) as tmp:
            tmp.write_bytes(_encode_pfm(depth.values))
    else:
        _write_exr(p, depth.values, meta)
    if fmt in ("png16mm", "npy", "pfm"):
        atomic_write_text(sidecar_path(p), json.dumps(meta, indent=2))
    return p


def _holes_at_zero(values: np.ndarray, rows: Callable[[int, int], np.ndarray]) -> Callable[[int, int], np.ndarray]:
    """``rows`` (codes 0..top - 1) shifted to 1..top, with code 0 where ``values`` is NaN."""

    def shifted(r0: int, r1: int) -> np.ndarray:
        codes = rows(r0, r1) + 1
        codes[np.isnan(values[r0:r1])] = 0
        return codes

    return shifted


def check_extension(path: str | os.PathLike[str], *, format: str | None = None) -> str:  # noqa: A002
    """The format :func:`write_depth` would write to ``path`` (``format``, else from the extension), checked against
    the extension before any work (e.g. before a long estimate or match).

    Raises:
        ValidationError: an unknown format or extension, or a format under another format's extension.
    """
    fmt = str(check_choice(format or format_for_path(path), "format", DEPTH_FORMATS))
    _check_extension(fmt, Path(path).suffix.lower())
    return fmt


#: the float formats' extensions; the display formats (png16, png8, png16mm) may go under any image extension
_FLOAT_EXTENSIONS = {"tiff": (".tif", ".tiff"), "npy": (".npy",), "pfm": (".pfm",), "exr": (".exr",)}


def _check_extension(fmt: str, ext: str) -> None:
    """Refuse a format whose bytes would go under another format's extension (e.g. npy data in ``x.tiff``); a
    name without an extension takes any format, and a display image may be a TIFF."""
    if not ext:
        return
    if fmt in _FLOAT_EXTENSIONS and ext not in _FLOAT_EXTENSIONS[fmt]:
        raise ValidationError(f"format: {fmt} files end in {' or '.join(_FLOAT_EXTENSIONS[fmt])}, not '{ext}'")
    other = next((f for f, exts in _FLOAT_EXTENSIONS.items() if ext in exts and f != "tiff"), None)
    if fmt not in _FLOAT_EXTENSIONS and other is not None:
        raise ValidationError(f"format: '{ext}' is the extension of {other} files, not of {fmt} (an image)")


def _write_png(
    p: Path, shape: tuple[int, int], rows: Callable[[int, int], np.ndarray], top: int, meta: dict[str, Any]
) -> None:
    """A grayscale PNG (atomically) with its ``depthforge`` text chunk, whose rows are computed on request: coded
    by :func:`depthforge.io.png.write_png_rows` and written piece by piece as it is coded; under another extension
    than ``.png``, made whole and written by :func:`write_image` (the extension decides)."""
    from depthforge.io import png

    text = {META_KEY: json.dumps(meta)}
    if p.suffix.lower() != ".png":
        write_image(p, rows(0, shape[0]), text=text)
        return
    dtype = np.uint16 if top > 255 else np.uint8
    with atomic_path(p) as tmp, open(tmp, "wb", buffering=0) as fh:  # written (and sent to disk) as it is coded
        png.write_png_rows(DiskWriter(fh.fileno()), shape, dtype, rows, text=text)


def _encode_pfm(values: np.ndarray) -> bytes:
    h, w = values.shape
    data = np.where(np.isfinite(values), values, np.inf).astype("<f4")[::-1]
    return f"Pf\n{w} {h}\n-1.0\n".encode("ascii") + data.tobytes()


def _write_exr(p: Path, values: np.ndarray, meta: dict[str, Any]) -> None:
    try:
        import OpenEXR
    except ImportError:
        raise MissingExtraError("OpenEXR", "exr") from None
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage, META_KEY: json.dumps(meta)}
    channels = {"Z": np.ascontiguousarray(values.astype(np.float32))}
    with atomic_path(p) as tmp, OpenEXR.File(header, channels) as f:
        f.write(str(tmp))
