"""A binary glTF 2.0 (GLB) writer for textured triangle meshes: the file is streamed, not assembled in memory.

Why not trimesh's exporter (used by :func:`depthforge.geometry.export.write_glb` for single meshes): for layered
3D photos it encodes every texture with Pillow in one thread and joins the whole binary buffer in memory before
writing; on a 12-MP photo that is most of the export time (``benchmarks/photo3d.py`` runs both, figures in
``benchmarks/RESULTS.md``). Here textures are PNG-encoded by OpenCV (zlib level 1) on a thread pool (OpenCV
releases the GIL) while the JSON is built, and the binary chunk is written piece by piece.

Layout (glTF 2.0 core + ``KHR_materials_unlit``): one node and mesh per part (its name), one primitive with
``POSITION`` (float32, with min/max), ``TEXCOORD_0`` (float32; glTF's origin is the top-left, so ``v`` is flipped
from the OBJ convention) and ``uint32`` indices; one material per part with its PNG texture (RGB when the alpha
is 255 everywhere), ``alphaMode`` and ``alphaCutoff``, double-sided, unlit, clamped sampler; optionally a
perspective camera node at the origin (glTF cameras look down -z with +y up). Vertices must already be in the
viewer frame (:func:`depthforge.geometry.export.to_viewer_frame`).
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from depthforge.core.errors import ValidationError
from depthforge.core.validation import check_array, check_choice
from depthforge.io.atomic import atomic_path

__all__ = ["GltfPart", "write_glb_parts"]

_FLOAT, _UINT = 5126, 5125
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963
_LINEAR, _LINEAR_MIPMAP_LINEAR, _CLAMP = 9729, 9987, 33071


@dataclass(frozen=True, eq=False)
class GltfPart:
    """One named textured mesh.

    Attributes:
        name: node, mesh and material name.
        vertices: (N, 3) float positions in the viewer frame.
        faces: (M, 3) int vertex indices, counter-clockwise seen from the front.
        uv: (N, 2) float texture coordinates, OBJ convention (origin bottom-left).
        texture: (h, w, 4) uint8 RGBA or (h, w, 3) uint8 RGB.
    """

    name: str
    vertices: np.ndarray
    faces: np.ndarray
    uv: np.ndarray
    texture: np.ndarray


def _png(texture: np.ndarray) -> bytes:
    """PNG bytes of an RGB(A) texture (RGBA only when some alpha is below 255): zlib level 1 and the "up" row
    filter only (libpng's adaptive filter choice costs up to twice the time for ~3 % smaller files on photos)."""
    import cv2

    if texture.shape[2] == 4 and bool((texture[:, :, 3] == 255).all()):
        texture = texture[:, :, :3]
    code = cv2.COLOR_RGBA2BGRA if texture.shape[2] == 4 else cv2.COLOR_RGB2BGR
    params = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP]
    ok, buf = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(texture), code), params)
    if not ok:
        raise ValidationError("texture: could not encode PNG")
    return bytes(buf)


class _Buffer:
    """The binary chunk as a list of pieces (arrays or bytes), each at a 4-byte aligned offset."""

    def __init__(self) -> None:
        self.pieces: list[Any] = []
        self.views: list[dict[str, Any]] = []
        self.size = 0

    def add(self, data: Any, nbytes: int, target: int | None = None) -> int:
        view: dict[str, Any] = {"buffer": 0, "byteOffset": self.size, "byteLength": nbytes}
        if target is not None:
            view["target"] = target
        self.pieces.append(data)
        self.views.append(view)
        self.size += nbytes + (-nbytes % 4)
        return len(self.views) - 1

    def write(self, fh: BinaryIO) -> None:
        for piece, view in zip(self.pieces, self.views, strict=True):
            fh.write(piece.result() if hasattr(piece, "result") else piece)
            fh.write(b"\0" * (-view["byteLength"] % 4))


def write_glb_parts(
    path: str | os.PathLike[str],
    parts: Sequence[GltfPart],
    *,
    alpha_mode: str = "MASK",
    alpha_cutoff: float = 0.5,
    camera_fov_rad: tuple[float, float] | None = None,
    extras: dict[str, Any] | None = None,
) -> Path:
    """Write ``parts`` as one GLB (layout in the module docstring), atomically.

    Args:
        path: output ``.glb``.
        parts: the meshes, in node order.
        alpha_mode: ``"MASK"``, ``"BLEND"`` or ``"OPAQUE"``; alpha_cutoff: MASK's threshold in [0, 1].
        camera_fov_rad: (horizontal, vertical) field of view of a camera node ``"photo"`` at the origin, or None.
        extras: JSON-able metadata stored as the scene's ``extras``.

    Returns:
        ``path``.
    """
    check_choice(alpha_mode, "alpha_mode", ("MASK", "BLEND", "OPAQUE"))
    if not parts:
        raise ValidationError("parts: nothing to write")
    buf = _Buffer()
    accessors: list[dict[str, Any]] = []
    tree: dict[str, Any] = {
        "asset": {"version": "2.0", "generator": "depthforge"},
        "extensionsUsed": ["KHR_materials_unlit"],
        "scene": 0,
        "scenes": [{"nodes": list(range(len(parts) + (camera_fov_rad is not None)))}],
        "nodes": [],
        "meshes": [],
        "materials": [],
        "textures": [],
        "images": [],
        "samplers": [{"magFilter": _LINEAR, "minFilter": _LINEAR_MIPMAP_LINEAR, "wrapS": _CLAMP, "wrapT": _CLAMP}],
    }
    if extras:
        tree["scenes"][0]["extras"] = json.loads(json.dumps(extras, default=str))

    def accessor(data: np.ndarray, kind: str, component: int, target: int, bounds: bool = False) -> int:
        view = buf.add(data, data.nbytes, target)
        acc: dict[str, Any] = {"bufferView": view, "componentType": component, "count": len(data), "type": kind}
        if bounds and len(data):  # column by column: ~6x faster than a reduction across the rows of (N, 3)
            acc["min"] = [float(data[:, k].min()) for k in range(data.shape[1])]
            acc["max"] = [float(data[:, k].max()) for k in range(data.shape[1])]
        accessors.append(acc)
        return len(accessors) - 1

    with ThreadPoolExecutor(max_workers=2) as pool:
        # the largest textures first, so the two encoders finish together
        order = sorted(range(len(parts)), key=lambda i: -parts[i].texture.size)
        encoded = {
            i: pool.submit(_png, check_array(parts[i].texture, "texture", ndim=3, dtype_kind="u")) for i in order
        }
        for i, part in enumerate(parts):
            v = np.ascontiguousarray(check_array(part.vertices, "vertices", ndim=2, channels=3), dtype="<f4")
            uv = np.array(check_array(part.uv, "uv", ndim=2, channels=2), dtype="<f4")
            uv[:, 1] = 1.0 - uv[:, 1]
            f = check_array(part.faces, "faces", ndim=2, channels=3)
            # non-negative int32 indices are their own uint32 bytes: no copy
            idx = (f.view("<u4") if f.dtype == "<i4" and f.flags.c_contiguous else f.astype("<u4")).reshape(-1)
            attributes = {
                "POSITION": accessor(v, "VEC3", _FLOAT, _ARRAY_BUFFER, bounds=True),
                "TEXCOORD_0": accessor(uv, "VEC2", _FLOAT, _ARRAY_BUFFER),
            }
            indices = accessor(idx, "SCALAR", _UINT, _ELEMENT_ARRAY_BUFFER)
            image = buf.add(encoded[i], 0)  # length filled in once encoded
            tree["images"].append({"bufferView": image, "mimeType": "image/png"})
            tree["textures"].append({"sampler": 0, "source": i})
            material: dict[str, Any] = {
                "name": part.name,
                "pbrMetallicRoughness": {
                    "baseColorTexture": {"index": i},
                    "metallicFactor": 0.0,
                    "roughnessFactor": 1.0,
                },
                "alphaMode": alpha_mode,
                "doubleSided": True,
                "extensions": {"KHR_materials_unlit": {}},
            }
            if alpha_mode == "MASK":
                material["alphaCutoff"] = float(alpha_cutoff)
            tree["materials"].append(material)
            primitive = {"attributes": attributes, "indices": indices, "material": i, "mode": 4}
            tree["meshes"].append({"name": part.name, "primitives": [primitive]})
            tree["nodes"].append({"name": part.name, "mesh": i})
        _fix_image_lengths(buf, encoded)
    if camera_fov_rad is not None:
        hfov, vfov = camera_fov_rad
        aspect = float(np.tan(hfov / 2.0) / np.tan(vfov / 2.0))
        tree["cameras"] = [
            {
                "name": "photo",
                "type": "perspective",
                "perspective": {"aspectRatio": aspect, "yfov": vfov, "znear": 0.01},
            }
        ]
        tree["nodes"].append({"name": "photo", "camera": 0})
    tree["accessors"] = accessors
    tree["bufferViews"] = buf.views
    tree["buffers"] = [{"byteLength": buf.size}]
    head = json.dumps(tree, separators=(",", ":")).encode("utf-8")
    head += b" " * (-len(head) % 4)
    total = 12 + 8 + len(head) + 8 + buf.size
    p = Path(path)
    with atomic_path(p) as tmp, open(tmp, "wb") as fh:
        fh.write(struct.pack("<4sII", b"glTF", 2, total))
        fh.write(struct.pack("<I4s", len(head), b"JSON"))
        fh.write(head)
        fh.write(struct.pack("<I4s", buf.size, b"BIN\0"))
        buf.write(fh)
    return p


def _fix_image_lengths(buf: _Buffer, encoded: dict[int, Any]) -> None:
    """Wait for the PNGs, then lay out every buffer view again with the images' real lengths."""
    futures = {id(f) for f in encoded.values()}
    size = 0
    for piece, view in zip(buf.pieces, buf.views, strict=True):
        if id(piece) in futures:
            view["byteLength"] = len(piece.result())
        view["byteOffset"] = size
        size += view["byteLength"] + (-view["byteLength"] % 4)
    buf.size = size
