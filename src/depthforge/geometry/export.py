"""Writing meshes and point clouds: binary PLY and OBJ + MTL + PNG (written here, with numpy), GLB and binary STL
(via trimesh).

Frames: geometry is computed in the OpenCV camera frame (x right, y down, z forward). Viewers (Blender, three.js,
glTF, MeshLab) expect y up and the camera looking down -z, so every writer converts with :func:`to_viewer_frame`,
the single place where this happens: ``(x, y, z) -> (x, -y, -z)``, a 180-degree rotation about the x axis (a proper
rotation, so face winding and handedness are kept, and normals transform the same way). In the written files the
camera sits at the origin looking down -z with +y up; units are metres for metric depth.

Every writer is atomic and also writes ``<file>.json``, a sidecar with the intrinsics, the depth rule (metric or
pseudo-depth), the frame and the counts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from depthforge.core.errors import ValidationError
from depthforge.core.image import Image
from depthforge.core.intrinsics import Intrinsics
from depthforge.core.validation import check_array, check_choice
from depthforge.geometry.mesh import Mesh
from depthforge.geometry.pointcloud import PointCloud
from depthforge.geometry.projection import ZDepth
from depthforge.io.atomic import atomic_path, atomic_write_text

__all__ = [
    "VIEWER_FRAME",
    "MESH_FORMATS",
    "to_viewer_frame",
    "write_ply",
    "write_obj",
    "write_glb",
    "write_stl",
    "export_mesh",
    "export_pointcloud",
    "check_mesh_extension",
    "to_trimesh",
    "sidecar_metadata",
]

VIEWER_FRAME = "x right, y up, z toward the viewer (camera at the origin looking down -z)"
MESH_FORMATS = {".ply": "ply", ".obj": "obj", ".glb": "glb", ".stl": "stl"}


def check_mesh_extension(path: str | os.PathLike[str], *, points: bool = False) -> str:
    """The format :func:`export_mesh` (or, with ``points``, :func:`export_pointcloud`) would write ``path`` in, from
    its extension, checked before any work (a command calls it before estimating depth).

    >>> check_mesh_extension("scene.GLB"), check_mesh_extension("scene.ply", points=True)
    ('glb', 'ply')

    Raises:
        ValidationError: an extension not in :data:`MESH_FORMATS`; for a point cloud, anything but ``.ply``.
    """
    ext = Path(path).suffix.lower()
    if points and ext != ".ply":
        raise ValidationError(f"output: point clouds are written as .ply, not '{ext}'")
    if ext not in MESH_FORMATS:
        raise ValidationError(f"output: unknown mesh format '{ext}' (use {', '.join(MESH_FORMATS)})")
    return MESH_FORMATS[ext]


def to_viewer_frame(points: np.ndarray) -> np.ndarray:
    """THE frame conversion for export: OpenCV camera frame -> viewer frame (y up, z toward the viewer).

    Args:
        points: (..., 3) float points or normals in the OpenCV frame (x right, y down, z forward).

    Returns:
        (..., 3) float32 ``(x, -y, -z)``: a rotation by 180 degrees about x; a new array.

    >>> to_viewer_frame(np.array([1.0, 2.0, 3.0])).tolist()
    [1.0, -2.0, -3.0]
    """
    a = np.asarray(points)
    if a.shape[-1] != 3:
        raise ValidationError(f"points: expected (..., 3), got shape {a.shape}")
    out = a.astype(np.float32, copy=True)
    out[..., 1] *= -1.0
    out[..., 2] *= -1.0
    return out


#: Rows packed and written at a time: a reusable buffer that stays in cache instead of one huge copy.
_CHUNK = 1 << 18


def write_ply(
    path: str | os.PathLike[str],
    vertices: np.ndarray,
    *,
    normals: np.ndarray | None = None,
    colors: np.ndarray | None = None,
    uv: np.ndarray | None = None,
    faces: np.ndarray | None = None,
    comments: list[str] | None = None,
    viewer_frame: bool = True,
) -> Path:
    """Write binary little-endian PLY, atomically: vertex properties ``x y z`` float (viewer frame), ``nx ny nz``
    float (viewer frame), ``red green blue`` uchar (``colors`` (N, 3)) or ``red green blue alpha`` (``colors``
    (N, 4)), ``texture_u texture_v`` float (each group when given); faces (M, 3) as
    ``list uchar int vertex_indices`` when given. Vertex rows are packed chunk by chunk. ``viewer_frame=False``
    writes points and normals as given (the OpenCV camera frame, for readers that expect it)."""
    channels = ("red", "green", "blue", "alpha")[: 3 if colors is None else int(np.shape(colors)[1])]
    groups = [  # property names, values, PLY type, whether they turn with the frame
        (("x", "y", "z"), vertices, "float", viewer_frame),
        (("nx", "ny", "nz"), normals, "float", viewer_frame),
        (channels, colors, "uchar", False),
        (("texture_u", "texture_v"), uv, "float", False),
    ]
    present = [(names, data, oriented) for names, data, _, oriented in groups if data is not None]
    props = [(name, ply_type) for names, data, ply_type, _ in groups if data is not None for name in names]
    dt = np.dtype([(name, "u1" if ply_type == "uchar" else "<f4") for name, ply_type in props])
    header = ["ply", "format binary_little_endian 1.0", "comment made by depthforge"]
    header += [f"comment {c}" for c in comments or []]
    header.append(f"element vertex {len(vertices)}")
    header += [f"property {ply_type} {name}" for name, ply_type in props]
    if faces is not None:
        header += [f"element face {len(faces)}", "property list uchar int vertex_indices"]
    p = Path(path)
    with atomic_path(p) as tmp, open(tmp, "wb") as fh:
        # UTF-8: comments name the user's files (a texture 'café_texture.png'); readers pass comment bytes through
        fh.write(("\n".join([*header, "end_header"]) + "\n").encode("utf-8"))
        buf = np.empty(min(len(vertices), _CHUNK), dtype=dt)
        for c0 in range(0, len(vertices), _CHUNK):
            b = buf[: min(_CHUNK, len(vertices) - c0)]
            for names, data, oriented in present:
                part = data[c0 : c0 + len(b)]
                for k, name in enumerate(names):
                    if oriented and k:  # (x, y, z) -> (x, -y, -z), the rule of to_viewer_frame
                        np.negative(part[:, k], out=b[name])
                    else:
                        b[name] = part[:, k]
            b.tofile(fh)
        if faces is not None:
            fbuf = np.empty(min(len(faces), _CHUNK), dtype=np.dtype([("n", "u1"), ("i", "<i4", (3,))]))
            fbuf["n"] = 3
            for c0 in range(0, len(faces), _CHUNK):
                b = fbuf[: min(_CHUNK, len(faces) - c0)]
                b["i"] = faces[c0 : c0 + len(b)]
                b.tofile(fh)
    return p


def _comments(meta: dict[str, Any]) -> list[str]:
    """PLY comment lines ``key: value`` of the metadata (nested dictionaries left to the sidecar), one line each."""
    return [" ".join(f"{k}: {v}".split()) for k, v in meta.items() if not isinstance(v, dict)]


def to_trimesh(mesh: Mesh, *, texture: bool = True, material_name: str = "depthforge") -> Any:
    """A ``trimesh.Trimesh`` in the viewer frame (texture + UVs when present and ``texture``, else vertex colours).

    Vertices are never merged or reordered (``process=False``).
    """
    import trimesh

    tm = trimesh.Trimesh(vertices=to_viewer_frame(mesh.vertices), faces=mesh.faces, process=False)
    if texture and mesh.texture is not None and mesh.uv is not None:
        from PIL import Image as PILImage

        material = trimesh.visual.material.PBRMaterial(
            name=material_name,
            baseColorTexture=PILImage.fromarray(mesh.texture),
            metallicFactor=0.0,
            roughnessFactor=1.0,
            doubleSided=True,
        )
        tm.visual = trimesh.visual.TextureVisuals(uv=mesh.uv, material=material)
    elif mesh.colors is not None:
        rgba = np.concatenate([mesh.colors, np.full((mesh.n_vertices, 1), 255, np.uint8)], axis=1)
        tm.visual = trimesh.visual.ColorVisuals(tm, vertex_colors=rgba)
    return tm


def write_glb(path: str | os.PathLike[str], mesh: Mesh, *, metadata: dict[str, Any] | None = None) -> Path:
    """Write a GLB (binary glTF 2.0) with the texture embedded (or vertex colours), viewer frame, via trimesh."""
    import trimesh

    tm = to_trimesh(mesh)
    scene = trimesh.Scene(tm)
    if metadata:
        scene.metadata["extras"] = _jsonable(metadata)
    data = trimesh.exchange.gltf.export_glb(scene, include_normals=False)
    p = Path(path)
    with atomic_path(p) as tmp:
        tmp.write_bytes(data)
    return p


def write_stl(path: str | os.PathLike[str], mesh: Mesh) -> Path:
    """Write a binary STL (triangles only: no colours, no texture), viewer frame, via trimesh."""
    import trimesh

    tm = trimesh.Trimesh(vertices=to_viewer_frame(mesh.vertices), faces=mesh.faces, process=False)
    p = Path(path)
    with atomic_path(p) as tmp:
        tmp.write_bytes(trimesh.exchange.stl.export_stl(tm))
    return p


def write_obj(path: str | os.PathLike[str], mesh: Mesh) -> list[Path]:
    """Write OBJ + MTL + PNG texture (UVs); without a texture, an OBJ with vertex colours (``v x y z r g b``).

    The text is formatted and written in pieces of :data:`_OBJ_ROWS` rows, so no single step holds Python's
    interpreter lock for long (a server writing a million-vertex OBJ keeps answering; trimesh's exporter holds it
    for seconds, see ``benchmarks/RESULTS.md``) and memory holds one piece of text at a time.

    Returns:
        The files written, the OBJ first: ``<stem>.obj``, ``<stem>.mtl``, ``<stem>_texture.png``.
    """
    p = Path(path)
    uv = mesh.uv if mesh.texture is not None else None  # UVs only with the texture they refer to
    written: list[Path] = []
    material = f"{p.stem}_texture"  # names the PNG: never the photo's own name
    head = "# depthforge: viewer frame, " + VIEWER_FRAME + "\n"
    if uv is not None and mesh.texture is not None:
        mtl = atomic_write_text(
            p.with_name(f"{p.stem}.mtl"),
            f"newmtl {material}\nKa 1 1 1\nKd 1 1 1\nKs 0 0 0\nd 1\nillum 1\nmap_Kd {material}.png\n",
        )
        written = [mtl, write_texture(p.with_name(f"{material}.png"), mesh.texture)]
        head += f"mtllib {mtl.name}\nusemtl {material}\n"
    vertices = to_viewer_frame(mesh.vertices)
    if uv is None and mesh.colors is not None:  # vertex colours: v x y z r g b
        vertices = np.concatenate([vertices, mesh.colors.astype(np.float32) / np.float32(255.0)], axis=1)
    faces = mesh.faces.astype(np.int64) + 1
    with atomic_path(p) as tmp, open(tmp, "w", encoding="ascii", newline="\n") as fh:
        fh.write(head)
        _write_rows(fh, "v" + " %.7g" * 3 + " %.4g" * (vertices.shape[1] - 3) + "\n", vertices)
        if uv is not None:
            _write_rows(fh, "vt %.7g %.7g\n", uv)
            _write_rows(fh, "f %d/%d %d/%d %d/%d\n", np.repeat(faces, 2, axis=1))
        else:
            _write_rows(fh, "f %d %d %d\n", faces)
    return [p, *written]


_OBJ_ROWS = 16384


def _write_rows(fh: Any, row_format: str, rows: np.ndarray) -> None:
    """``row_format % row`` for every row of a 2-D array, formatted and written :data:`_OBJ_ROWS` rows at a time."""
    for start in range(0, len(rows), _OBJ_ROWS):
        piece = rows[start : start + _OBJ_ROWS]
        fh.write((row_format * len(piece)) % tuple(piece.ravel().tolist()))


def write_texture(path: str | os.PathLike[str], image: np.ndarray) -> Path:
    """Write a uint8 RGB texture as PNG (fast zlib level 1) or JPEG (quality 95), by extension, atomically."""
    import cv2

    p = Path(path)
    ext = check_choice(p.suffix.lower(), "texture", (".png", ".jpg", ".jpeg"))
    params = [cv2.IMWRITE_PNG_COMPRESSION, 1] if ext == ".png" else [cv2.IMWRITE_JPEG_QUALITY, 95]
    ok, buf = cv2.imencode(
        ext, cv2.cvtColor(check_array(image, "texture", ndim=3, channels=3), cv2.COLOR_RGB2BGR), params
    )
    if not ok:
        raise ValidationError(f"texture: could not encode {p.name}")
    with atomic_path(p) as tmp:
        buf.tofile(str(tmp))
    return p


def _jsonable(meta: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(meta, default=str))


def sidecar_metadata(image: Image, intrinsics: Intrinsics | None, zd: ZDepth, **extra: object) -> dict[str, object]:
    """The sidecar / header fields of a 3D output: source photo, metric flag and units, depth rule, projection
    (pinhole, or equirectangular when ``intrinsics`` is None) and the intrinsics with their source; then ``extra``."""
    meta: dict[str, object] = {
        "source_image": Path(image.path).name,  # the name only: a shared file does not tell the user's folders
        "metric": zd.metric,
        "units": "m" if zd.metric else "pseudo (not metric)",
        "depth_rule": zd.rule,
        "projection": "pinhole" if intrinsics is not None else "equirectangular",
    }
    if intrinsics is not None:
        meta["intrinsics"] = intrinsics.as_dict()
        meta["intrinsics_source"] = intrinsics.source
    meta.update(extra)
    return meta


def write_sidecar(path: str | os.PathLike[str], metadata: dict[str, Any]) -> Path:
    """Write ``<file>.json`` next to ``path`` with ``metadata`` plus the frame description."""
    p = Path(path)
    meta = {"frame": VIEWER_FRAME, **_jsonable(metadata)}
    return atomic_write_text(p.with_name(p.name + ".json"), json.dumps(meta, indent=2))


def export_mesh(
    path: str | os.PathLike[str],
    mesh: Mesh,
    *,
    metadata: dict[str, Any] | None = None,
    texture: bool = True,
    texture_format: str = "png",
) -> list[Path]:
    """Write ``mesh`` by extension: ``.ply`` (+ ``<stem>_texture.png``), ``.obj`` (+ MTL + PNG), ``.glb`` or ``.stl``
    (geometry only).

    Args:
        path: output file; the format follows the extension.
        mesh: in the OpenCV camera frame (converted here, see :func:`to_viewer_frame`).
        metadata: recorded in the sidecar ``<file>.json`` (and PLY comments, GLB extras).
        texture: False writes vertex colours only.
        texture_format: ``"png"`` (lossless) or ``"jpg"`` (quality 95, much faster for huge photos); PLY only.

    Returns:
        Every file written, the mesh first.
    """
    p = Path(path)
    fmt = check_mesh_extension(p)
    check_choice(texture_format, "texture_format", ("png", "jpg"))
    meta = dict(metadata or {})
    meta.update(vertices=mesh.n_vertices, faces=mesh.n_faces)
    if not texture:
        mesh = Mesh(mesh.vertices, mesh.faces, None, mesh.colors, None, mesh.pixels)
    written: list[Path]
    if fmt == "ply":
        faces = mesh.faces
        if mesh.texture is not None and mesh.uv is not None:
            from concurrent.futures import ThreadPoolExecutor

            tex_name = f"{p.stem}_texture.{texture_format}"
            comments = [f"TextureFile {tex_name}", *_comments(meta)]
            # the texture encodes in a second thread (OpenCV releases the GIL) while the PLY is packed and written
            with ThreadPoolExecutor(max_workers=1) as pool:
                tex_job = pool.submit(write_texture, p.with_name(tex_name), mesh.texture)
                ply = write_ply(p, mesh.vertices, colors=mesh.colors, uv=mesh.uv, faces=faces, comments=comments)
                written = [ply, tex_job.result()]
        else:
            written = [write_ply(p, mesh.vertices, colors=mesh.colors, faces=faces, comments=_comments(meta))]
    elif fmt == "obj":
        written = write_obj(p, mesh)
    elif fmt == "stl":
        written = [write_stl(p, mesh)]
    else:
        written = [write_glb(p, mesh, metadata=meta)]
    written.append(write_sidecar(p, meta))
    return written


def export_pointcloud(
    path: str | os.PathLike[str], cloud: PointCloud, *, metadata: dict[str, Any] | None = None
) -> list[Path]:
    """Write a point cloud as binary PLY (``.ply`` only) plus the JSON sidecar; returns the files written."""
    p = Path(path)
    check_mesh_extension(p, points=True)
    meta = dict(metadata or {})
    meta.update(points=len(cloud))
    check_array(cloud.points, "points", ndim=2)
    ply = write_ply(p, cloud.points, normals=cloud.normals, colors=cloud.colors, comments=_comments(meta))
    return [ply, write_sidecar(p, meta)]
