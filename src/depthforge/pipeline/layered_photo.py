"""Layered 3D photos: photo + depth -> layered scene (hidden parts inpainted) -> GLB / PLY (+ JSON) and videos.

The steps: :func:`depthforge.render.layers.build_layers` splits the photo at depth discontinuities into layers far
to near and fills each layer's hidden part in colour and depth (inpainter ``background``, ``telea``, ``ns`` or a
loaded callable such as an ONNX model); :func:`scene_mesh` turns every layer into a textured mesh with the
layer's camera-frame z (:meth:`LayeredScene.layer_z`: metres for metric maps and disparity with a baseline,
pseudo-metres between ``near_m`` and ``far_m`` otherwise); :func:`depthforge.geometry.layered.export_layered`
writes GLB or PLY and the JSON sidecar. :func:`render_scene_video` renders a camera motion from the same scene.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from depthforge.core.deprecation import renamed_keywords
from depthforge.core.depthmap import DepthMap, depth_arrays
from depthforge.core.image import Image
from depthforge.core.intrinsics import Intrinsics
from depthforge.core.validation import check_choice, check_positive, check_range
from depthforge.geometry.layered import LayeredMesh, export_layered, layer_grid, layered_mesh
from depthforge.geometry.mesh import DEFAULT_MAX_ANGLE_DEG
from depthforge.geometry.projection import DEFAULT_FAR_M, DEFAULT_NEAR_M
from depthforge.render.layers import LayeredScene, build_layers

__all__ = ["Photo3DOptions", "Photo3DResult", "photo3d", "render_scene_video", "scene_mesh"]

#: Default cap on the grid points of a layer (the stride follows): ~1 M vertices per layer keeps a 12-MP photo's
#: GLB near 100 MB and loadable in a browser; small photos keep every pixel.
DEFAULT_TARGET_VERTICES = 1_000_000


@dataclass(frozen=True)
class Photo3DOptions:
    """How a layered 3D photo is made.

    Attributes:
        max_layers: at most this many depth layers (>= 1).
        inpaint: hidden-region colour: ``"background"`` (default), ``"telea"``, ``"ns"``, or a callable
            ``(image (H, W, 3) uint8, mask (H, W) bool) -> (H, W, 3) uint8`` (e.g. a loaded ONNX inpainter).
        near_m, far_m: pseudo-depth range of relative maps (and ``near_m`` for disparity without a baseline).
        target_vertices: cap on each layer's grid points (coarsens the stride where needed); None = no cap.
        stride: the finest grid step in px.
        max_angle_deg: the mesh discontinuity rule (None = keep every triangle inside a layer).
        ply_frame: ``"camera"`` (OpenCV frame, what the A1111 extension reads) or ``"viewer"``.
        alpha_mode: GLB material alpha, ``"MASK"`` or ``"BLEND"``.
        reach_px: largest disocclusion to fill behind nearer layers, px (None = every hidden pixel).
    """

    max_layers: int = 4
    inpaint: str | Callable[[np.ndarray, np.ndarray], np.ndarray] = "background"
    near_m: float = DEFAULT_NEAR_M
    far_m: float = DEFAULT_FAR_M
    target_vertices: int | None = DEFAULT_TARGET_VERTICES
    stride: int = 1
    max_angle_deg: float | None = DEFAULT_MAX_ANGLE_DEG
    ply_frame: str = "camera"
    alpha_mode: str = "MASK"
    reach_px: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.max_layers, int) or self.max_layers < 1:
            from depthforge.core.errors import ValidationError

            raise ValidationError(f"max_layers: expected an integer >= 1, got {self.max_layers!r}")
        check_positive(self.near_m, "near_m")
        check_range(self.far_m, "far_m", low=self.near_m, low_inclusive=False)
        if self.target_vertices is not None:
            check_positive(self.target_vertices, "target_vertices")
        check_positive(self.stride, "stride")
        check_choice(self.ply_frame, "ply_frame", ("camera", "viewer"))
        check_choice(self.alpha_mode, "alpha_mode", ("MASK", "BLEND"))

    @property
    def inpaint_name(self) -> str:
        """The inpainter's name for reports (a callable's ``name`` attribute, else its function or type name)."""
        if isinstance(self.inpaint, str):
            return self.inpaint
        f = self.inpaint
        return str(getattr(f, "name", None) or getattr(f, "__name__", None) or type(f).__name__)


@dataclass(frozen=True, eq=False)
class Photo3DResult:
    """What :func:`photo3d` returns.

    Attributes:
        scene: the layered scene (reuse it for videos: :func:`render_scene_video`).
        mesh: the layers as meshes.
        files: written files, the 3D file first, then its sidecar.
        seconds: wall time of each step (``layers``, ``mesh``, ``write``).
    """

    scene: LayeredScene
    mesh: LayeredMesh
    files: list[Path]
    seconds: dict[str, float] = field(default_factory=dict)


def scene_mesh(scene: LayeredScene, *, options: Photo3DOptions | None = None) -> LayeredMesh:
    """Every layer of ``scene`` as a textured mesh (camera-frame z by :meth:`LayeredScene.layer_z`)."""
    o = options or Photo3DOptions()
    rows, cols, _ = layer_grid(scene.shape, stride=o.stride, target_vertices=o.target_vertices)
    grid = np.ix_(rows, cols)  # z only where the mesh has vertices
    depths = [scene.nearness_to_z(near[grid], near_m=o.near_m, far_m=o.far_m) for near in scene.layer_nearness]
    return layered_mesh(
        scene.layers,
        depths,
        intrinsics=scene.intrinsics,
        stride=o.stride,
        target_vertices=o.target_vertices,
        max_angle_deg=o.max_angle_deg,
    )


def scene_metadata(scene: LayeredScene, options: Photo3DOptions) -> dict[str, Any]:
    """Sidecar fields of a scene: units, depth kind and rule, layer thresholds, inpainter."""
    return {
        "units": "m" if scene.z_is_metric else "pseudo (not metric)",
        "metric": scene.z_is_metric,
        "depth_kind": scene.kind,
        "depth_rule": scene.z_rule(near_m=options.near_m, far_m=options.far_m),
        "layer_thresholds_nearness": list(scene.thresholds),
        "inpaint": options.inpaint_name,
        "fill_px": scene.fill_px,
    }


@depth_arrays
def photo3d(
    image: np.ndarray | Image,
    depth: DepthMap,
    path: str | os.PathLike[str],
    *,
    options: Photo3DOptions | None = None,
    intrinsics: Intrinsics | None = None,
    metadata: dict[str, Any] | None = None,
) -> Photo3DResult:
    """Make a layered 3D photo and write it to ``path`` (``.glb`` or ``.ply``, plus ``<path>.json``).

    Args:
        image: (H, W, 3) uint8 RGB or an :class:`Image`; not modified.
        depth: DepthMap of the same size, any kind.
        path: output file; the format follows the extension.
        options: see :class:`Photo3DOptions`.
        intrinsics: the camera (default: the depth map's, else the stated 60-degree default).
        metadata: extra sidecar fields (e.g. the source photo).

    Returns:
        :class:`Photo3DResult`.

    Raises:
        ValidationError: bad options, sizes or format.
    """
    from depthforge.core.errors import ValidationError
    from depthforge.geometry.layered import LAYERED_FORMATS

    o = options or Photo3DOptions()
    if Path(path).suffix.lower() not in LAYERED_FORMATS:  # before the work, not after
        raise ValidationError(f"output: unknown layered 3D format '{Path(path).suffix}' (use .glb or .ply)")
    t0 = time.perf_counter()
    scene = build_layers(
        image, depth, max_layers=o.max_layers, inpaint=o.inpaint, reach_px=o.reach_px, intrinsics=intrinsics
    )
    t1 = time.perf_counter()
    lm = scene_mesh(scene, options=o)
    t2 = time.perf_counter()
    meta = {**(metadata or {}), **scene_metadata(scene, o)}
    files = export_layered(path, lm, metadata=meta, ply_frame=o.ply_frame, alpha_mode=o.alpha_mode)
    t3 = time.perf_counter()
    return Photo3DResult(scene, lm, files, {"layers": t1 - t0, "mesh": t2 - t1, "write": t3 - t2})


@renamed_keywords(duration="duration_s", ssaa="supersample")
def render_scene_video(
    scene: LayeredScene,
    path: str | os.PathLike[str],
    *,
    motion: str = "circle",
    duration_s: float = 4.0,
    fps: float = 30.0,
    amplitude: float = 2.0,
    focus: float = 0.5,
    supersample: int = 1,
    quality: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Any:
    """Render a camera motion through ``scene`` and stream it to ``path`` (:func:`depthforge.render.scene.plan_motion`
    and :func:`~depthforge.render.scene.scene_frames`, as ``depthforge parallax`` does).

    Args:
        motion: a preset of :data:`depthforge.render.motion.MOTIONS`; duration_s: seconds; fps: frames per second.
        amplitude: sideways amplitude, % of the width for the nearest point; focus: nearness of the steady plane.
        supersample: supersampling per axis, 1 (off), 2 or 3; quality: mp4/webm CRF (None = the writer's default).
        progress: called as ``progress(done, total)`` after each frame.

    Returns:
        :class:`depthforge.pipeline.encode.EncodedVideo`.
    """
    from depthforge.pipeline.encode import encode_frames
    from depthforge.render.scene import plan_motion, scene_frames

    poses, _ = plan_motion(scene.shape, motion=motion, duration_s=duration_s, fps=fps, amplitude=amplitude, focus=focus)
    frames = scene_frames(scene, poses, focus=focus, supersample=supersample)
    report = None if progress is None else lambda done, _: progress(done, len(poses))
    return encode_frames(frames, path, fps=fps, quality=quality, progress=report)
