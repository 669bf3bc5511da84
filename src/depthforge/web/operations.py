"""What the web front ends do, as plain functions over the library: one :class:`Engine` per server.

The HTTP API and the Gradio UI both call these; they never touch the library's internals and never read or
write a path a client chose. Every file written goes into a session area of :class:`~depthforge.web.safety.
SessionAreas` under a server-made name.
"""

from __future__ import annotations

import hashlib
import secrets
import shutil
import threading
import zipfile
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from depthforge.core.caches import drop_oldest
from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import TooLargeError, ValidationError
from depthforge.core.image import Image
from depthforge.core.validation import check_choice, check_range
from depthforge.io.images import read_image, write_animation, write_image
from depthforge.models.estimator import DepthEstimator
from depthforge.models.preprocess import scaled_input_size
from depthforge.pipeline.detail import estimate_detailed, parse_detail
from depthforge.stereo.layouts import LAYOUTS
from depthforge.web.safety import (
    MAX_RESOLUTION_PX,
    MIN_RESOLUTION_PX,
    ConcurrencyGate,
    Limits,
    ModelPolicy,
    SessionAreas,
)

__all__ = [
    "ServerConfig",
    "Engine",
    "DETAIL_CHOICES",
    "PNG_LEVEL",
    "MIN_RESOLUTION_PX",
    "MAX_RESOLUTION_PX",
    "DEPTH_API_FORMATS",
    "MESH_API_FORMATS",
    "STEREO_API_LAYOUTS",
    "MAX_VIDEO_PIXELS",
    "MAX_GENERATION_STEPS",
    "MAX_PROMPT_CHARS",
    "check_resolution",
]

DEPTH_API_FORMATS = ("png16", "png8", "npy")
MESH_API_FORMATS = ("ply", "obj", "glb")
DETAIL_CHOICES = ("off", "auto", "4", "9", "16")  # at most 17 model calls per request
#: Deflate level of the colour PNGs the server answers with: about four times faster than Pillow's 6, a quarter
#: larger (an 80 MP side by side: 17.9 s and 50 MB at 6, 4.5 s and 64 MB at 1); the 16-bit depth PNGs use 1 too.
PNG_LEVEL = 1
#: Depth maps :meth:`Engine.depth_for` keeps for reuse (also within twice ``Limits.max_pixels`` in all).
_DEPTH_CACHE_MAPS = 4
#: Stereo layouts that make one file (``separate`` makes two: the UI shows both, the API leaves it out).
STEREO_API_LAYOUTS = (*LAYOUTS, "wiggle")
#: Largest mesh a request may ask for (vertices); the grid is simplified to at most this.
MAX_MESH_VERTICES = 1_000_000
#: Largest video frame the server makes or reads (pixels): 4K UHD. Larger photos are scaled down for parallax
#: clips; larger clips are refused.
MAX_VIDEO_PIXELS = 3840 * 2160


def check_resolution(resolution: float | None, limits: Limits, *, name: str = "resolution") -> int | None:
    """The processing size a client asked for (longer side the model sees, pixels, :data:`MIN_RESOLUTION_PX` to
    the server's ``limits.max_resolution_px``) as an int; None (the model's own size rule) stays None.

    Raises:
        ValidationError: naming ``name``; above the server's limit, the message names ``--max-resolution``.
    """
    if resolution is None:
        return None
    value = int(check_range(resolution, name, low=MIN_RESOLUTION_PX, high=MAX_RESOLUTION_PX))
    if value > limits.max_resolution_px:
        raise ValidationError(
            f"{name}: {value} px is above this server's limit of {limits.max_resolution_px} px (serve --max-resolution)"
        )
    return value


@dataclass(frozen=True)
class ServerConfig:
    """How ``depthforge serve`` was started.

    Attributes:
        model: the default model (registry name, or whatever the operator passed: a hub id or a local folder).
        device, dtype: where and how models run.
        limits: upload, pixel and concurrency limits.
        allow_download: let clients pick registry models that are not in the local cache yet (downloads).
        extra_models: further names or folders the operator allows clients to choose.
        inpainter: the learned inpainter the 3D photo tab and ``POST /v1/photo3d`` offer as ``learned``
            (``onnx:FILE``, a registry name or a hub id, as ``photo3d --inpaint``); the operator's choice, never the
            client's. None: classic fills only.
        sam_model, matting_model: the SAM and ViTMatte models of the Mask tab (registry name, hub id or folder;
            None: the registry's defaults, when cached).
        generate_base, generate_controlnet: the Stable Diffusion base and depth ControlNet of the Generate tab and
            ``POST /v1/generate`` (registry name, hub id or folder; the ControlNet defaults to the base's). None:
            generation is not offered. generate_size_px: the long side of generated images (None: the base
            model's own size, 512 for SD 1.5; smaller is faster on a CPU). Generation runs on ``device`` in its
            own precision (fp32 on a CPU, fp16 on CUDA), one request at a time (a pipeline keeps per-call state).
    """

    model: str = "depth-anything-v2-small"
    device: str = "auto"
    dtype: str = "auto"
    limits: Limits = field(default_factory=Limits)
    allow_download: bool = False
    extra_models: tuple[str, ...] = ()
    inpainter: str | None = None
    sam_model: str | None = None
    matting_model: str | None = None
    generate_base: str | None = None
    generate_controlnet: str | None = None
    generate_size_px: int | None = None


#: Bounds of a generation request (the output's size is the operator's: ``generate_size_px`` or the model's own).
MAX_PROMPT_CHARS = 1000
MAX_GENERATION_STEPS = 50


class Engine:
    """State shared by the API and the UI: model policy, session areas, the concurrency gate, a depth cache."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.limits = limits = config.limits
        self.policy = ModelPolicy(config.model, allow_download=config.allow_download, extra=config.extra_models)
        self.areas = SessionAreas.create(ttl_s=limits.ttl_s)
        self.gate = ConcurrencyGate(workers=limits.workers, queue=limits.queue, timeout_s=limits.queue_timeout_s)
        #: the threads that run API jobs: one per worker slot, so a burst of requests creates no extra threads
        self.executor = ThreadPoolExecutor(max_workers=limits.workers, thread_name_prefix="depthforge-job")
        self._depths: OrderedDict[tuple[str, str], DepthMap] = OrderedDict()
        self._depth_lock = threading.Lock()
        #: how many times a model ran for a depth map (cache misses of :meth:`depth_for`; /v1/health reports it)
        self.model_runs = 0
        #: the folder the mounted UI stores uploads in (set by :func:`depthforge.web.ui.mount_ui`)
        self.uploads: Path | None = None
        self._generate_lock = threading.Lock()  # a diffusers pipeline keeps per-call state (scheduler, guidance)

    # -- inputs ---------------------------------------------------------------------------------------------
    def read_upload(self, path: str | Path) -> Image:
        """Decode an uploaded photo under the server's pixel limit (format recognised by content)."""
        return read_image(path, max_pixels=self.limits.max_pixels)

    def depth_for(
        self, image: Image, model: str | None = None, *, resolution: int | None = None, detail: str = "off"
    ) -> DepthMap:
        """Depth of ``image`` with an allowed model (loaded once per process, results cached for a few images).

        Args:
            image: the photo.
            model: a name the policy allows (None = the server's default).
            resolution: longer side (pixels) the model sees; None = the model's own size rule.
            detail: high-resolution detail (:mod:`depthforge.pipeline.detail`): ``off``, ``auto`` or a tile count
                from :data:`DETAIL_CHOICES`.

        Returns:
            A :class:`DepthMap` of the photo's size.
        """
        name = self.policy.resolve(model)
        resolution = check_resolution(resolution, self.limits)
        pixels = np.ascontiguousarray(image.rgb)
        # the same bytes in another shape (1 x 2000 and 2 x 1000 of one grey) or bit depth are another photo
        digest = hashlib.sha1(f"{pixels.shape} {pixels.dtype}|".encode() + pixels.tobytes()).hexdigest()
        check_choice(detail, "detail", DETAIL_CHOICES)
        key = (digest, f"{name}@{resolution}/{detail}")
        with self._depth_lock:
            hit = self._depths.get(key)
            if hit is not None:
                self._depths.move_to_end(key)
                return hit
        est = self._load(name)
        with self._depth_lock:
            self.model_runs += 1
        size = None if resolution is None else scaled_input_size(image.size_hw, est.spec, resolution_px=resolution)
        mode = parse_detail(detail)
        if mode is None:
            depth = est.predict(image, input_size_hw=size)
        else:
            depth = estimate_detailed(image, est, detail=mode)
        with self._depth_lock:
            self._depths[key] = depth
            self._depths.move_to_end(key)  # another thread may have stored this key meanwhile
            # a few maps, and at most two of the largest photos' worth of pixels (a 40 MP map is 160 MB)
            drop_oldest(
                self._depths,
                size=lambda k: self._depths[k].values.size,
                max_entries=_DEPTH_CACHE_MAPS,
                max_size=2 * self.limits.max_pixels,
            )
        return depth

    def estimator(self, model: str | None = None) -> DepthEstimator:
        """An allowed model (None = the server's default), loaded once per process, whose own size rule also stays
        within the server's processing-size limit (a long panorama would otherwise be seen far larger: see
        :meth:`~depthforge.models.estimator.DepthEstimator.with_max_input`).

        Raises:
            ValidationError: a model the policy does not allow.
        """
        return self._load(self.policy.resolve(model))

    @property
    def model_options(self) -> dict[str, Any]:
        """Keyword arguments of ``load_model`` for every model this server runs (beside device and dtype)."""
        return {"max_input_side_px": self.limits.max_resolution_px}

    def _load(self, name: str) -> DepthEstimator:
        """:meth:`estimator` of a name the policy has already allowed."""
        from depthforge.models.estimator import load_model

        return load_model(name, device=self.config.device, dtype=self.config.dtype, **self.model_options)

    def count_model_runs(self, runs: int) -> None:
        """Add model runs made outside :meth:`depth_for` (the UI's batches) to :attr:`model_runs`."""
        with self._depth_lock:
            self.model_runs += int(runs)

    # -- depth ----------------------------------------------------------------------------------------------
    def depth_file(
        self,
        depth: DepthMap,
        area: Path,
        *,
        format: str = "png16",  # noqa: A002 - the API's field name
        invert: bool = False,
        clip_near: float | None = None,
        clip_far: float | None = None,
    ) -> Path:
        """Write the depth file (png16: 16-bit display PNG, near = white; png8; npy: float32 raw values)."""
        from depthforge.io.depthfiles import write_depth

        check_choice(format, "format", DEPTH_API_FORMATS)
        suffix = ".npy" if format == "npy" else ".png"
        return write_depth(
            self.areas.file(area, suffix), depth, format=format, invert=invert, clip_near=clip_near, clip_far=clip_far
        )

    @staticmethod
    def fit_for_render(image: Image, depth: DepthMap) -> tuple[np.ndarray, DepthMap]:
        """The photo (uint8) and its depth scaled down to at most :data:`MAX_VIDEO_PIXELS` (unchanged if smaller):
        what clips and layered 3D photos are rendered from."""
        import cv2

        from depthforge.process.resample import resize_depth

        rgb = image.as_uint8()
        scale = (MAX_VIDEO_PIXELS / (image.width * image.height)) ** 0.5
        if scale >= 1:
            return rgb, depth
        w, h = max(2, int(image.width * scale) // 2 * 2), max(2, int(image.height * scale) // 2 * 2)
        return cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA), resize_depth(depth, (h, w))

    # -- stereo ---------------------------------------------------------------------------------------------
    def stereo(
        self,
        image: Image,
        depth: DepthMap,
        *,
        layout: str = "left-right",
        divergence: float = 2.5,
        convergence: float = 0.0,
        balance: float | None = None,
        separation: float = 0.0,
        exponent: float = 1.0,
        views: int = 2,
    ) -> list[np.ndarray]:
        """Stereo output(s): one composed image, two for ``separate``, the frames for ``wiggle``."""
        from depthforge.render import stereo
        from depthforge.stereo import compose

        check_choice(layout, "layout", (*STEREO_API_LAYOUTS, "separate"))
        params = stereo.StereoParams(
            divergence=divergence, convergence=convergence, balance=balance, separation=separation, exponent=exponent
        )
        rgb = image.as_uint8()
        if layout == "wiggle":
            views = int(check_range(views, "views", low=2, high=16))
            budget = self.limits.request_pixels
            if views * image.width * image.height > budget:
                raise TooLargeError(
                    f"views: {views} frames of {image.width}x{image.height} exceed this server's budget of "
                    f"{budget / 1e6:.0f} megapixels of frames; use fewer views or a smaller photo"
                )
            return stereo.wiggle_frames(rgb, depth, views=views, params=params)
        left, right = stereo.render_stereo(rgb, depth, params=params)
        return [left, right] if layout == "separate" else [compose(left, right, layout=layout)]

    def write_animation(self, frames: list[np.ndarray], area: Path, *, frame_ms: int = 120) -> Path:
        """A looping GIF of ``frames`` in ``area`` (:func:`~depthforge.io.images.write_animation`: frames wider or
        higher than a GIF allows are a ValidationError)."""
        ms = int(check_range(frame_ms, "frame_ms", low=20, high=5000))
        return write_animation(self.areas.file(area, ".gif"), frames, frame_ms=ms)

    def write_png(self, image: np.ndarray, area: Path, *, text: dict[str, str] | None = None) -> Path:
        """A PNG of ``image`` in ``area``, at deflate level :data:`PNG_LEVEL` (with ``text`` chunks)."""
        return write_image(self.areas.file(area, ".png"), image, level=PNG_LEVEL, text=text)

    # -- generation -----------------------------------------------------------------------------------------
    def generate(
        self,
        image: Image,
        depth: DepthMap,
        area: Path,
        *,
        prompt: str,
        negative_prompt: str = "",
        steps: int = 20,
        guidance: float = 7.5,
        control_scale: float = 1.0,
        seed: int = 0,
        progress: Any = None,
    ) -> tuple[Path, list[str], int]:
        """A PNG in ``area`` drawn from ``prompt`` with ``depth``'s composition by the server's ControlNet pipeline
        (:func:`depthforge.pipeline.generation.generate`), the models' licences and the seed used (``seed`` -1:
        a random one, as in AUTOMATIC1111). The PNG's ``parameters`` text says how it was made, seed included.

        Raises:
            ValidationError: generation is not offered here, or an option is out of bounds.
        """
        from depthforge.pipeline.generation import generate, generation_size

        if not self.config.generate_base:
            raise ValidationError("generate: this server does not offer generation (serve --generate-model)")
        if len(prompt) > MAX_PROMPT_CHARS or len(negative_prompt) > MAX_PROMPT_CHARS:
            raise ValidationError(f"prompt: at most {MAX_PROMPT_CHARS} characters")
        steps = int(check_range(steps, "steps", low=1, high=MAX_GENERATION_STEPS))
        seed = int(check_range(seed, "seed", low=-1, high=2**32 - 1))
        if seed == -1:
            seed = secrets.randbelow(2**31)
        long_side = self.config.generate_size_px
        size_hw = None if long_side is None else generation_size(image.size_hw, long_side_px=long_side)
        with self._generate_lock:
            result = generate(
                image,
                depth,
                prompt=prompt,
                negative_prompt=negative_prompt,
                base=self.config.generate_base,
                controlnet=self.config.generate_controlnet,
                steps=steps,
                guidance=check_range(guidance, "guidance", low=1.0, high=20.0),
                control_scale=check_range(control_scale, "control_scale", low=0.0, high=2.0),
                seeds=(seed,),
                size_hw=size_hw,
                device=self.config.device,
                progress=progress,
            )
        made = self.write_png(result.images[0], area, text={"parameters": result.parameters[0]})
        return made, result.licences, seed

    # -- 3D -------------------------------------------------------------------------------------------------
    def mesh(
        self,
        image: Image,
        depth: DepthMap,
        area: Path,
        *,
        format: str = "glb",  # noqa: A002 - the API's field name
        kind: str = "mesh",
        near_m: float = 1.0,
        far_m: float = 10.0,
        fov_deg: float | None = None,
        max_angle: float = 87.0,
        max_jump: float | None = None,
        stride: int = 1,
        target_vertices: int | None = 200_000,
        texture: bool = True,
    ) -> list[Path]:
        """A textured mesh (``ply``/``obj``/``glb``) or a point cloud (``ply``) with its sidecar; files written."""
        from depthforge.geometry.camera import resolve_intrinsics
        from depthforge.geometry.export import export_mesh, export_pointcloud
        from depthforge.geometry.mesh import mesh_from_depth
        from depthforge.geometry.pointcloud import pointcloud_from_depth
        from depthforge.geometry.projection import depth_to_z

        check_choice(kind, "kind", ("mesh", "pointcloud"))
        check_choice(format, "format", MESH_API_FORMATS)
        if kind == "pointcloud" and format != "ply":
            raise ValidationError(f"format: point clouds are written as ply, not {format}")
        stride = int(check_range(stride, "stride", low=1, high=64))
        cap = MAX_MESH_VERTICES if target_vertices is None else target_vertices
        cap = int(check_range(cap, "target_vertices", low=16, high=MAX_MESH_VERTICES))
        intr = resolve_intrinsics(image.size_hw, fov_deg=fov_deg, exif=image.exif, fallback=depth.intrinsics)
        zd = depth_to_z(depth, intrinsics=intr, near_m=near_m, far_m=far_m)
        meta: dict[str, Any] = {
            "metric": zd.metric,
            "depth_rule": zd.rule,
            "intrinsics": intr.as_dict(),
            "intrinsics_source": intr.source,
        }
        out = self.areas.file(area, f".{format}")
        if kind == "pointcloud":
            step = max(stride, int(np.ceil(np.sqrt(image.width * image.height / cap))))
            cloud = pointcloud_from_depth(zd, image=image, intrinsics=intr, stride=step)
            return export_pointcloud(out, cloud, metadata=meta)
        angle = check_range(max_angle, "max_angle", low=1.0, high=90.0)
        m = mesh_from_depth(
            zd,
            image=image,
            intrinsics=intr,
            max_angle_deg=None if angle >= 90 else angle,
            max_jump=max_jump,
            stride=stride,
            target_vertices=cap,
        )
        return export_mesh(out, m, metadata=meta, texture=texture)

    def zip_files(
        self, files: list[Path], area: Path, *, stem: str = "depthforge", names: list[str] | None = None
    ) -> Path:
        """One zip of ``files``, stored as ``stem/<name>``: their own names (which the server made), or ``names``
        (plain file names without separators, one per file)."""
        shown = [f.name for f in files] if names is None else names
        if len(shown) != len(files) or any(not n or "/" in n or "\\" in n or n in (".", "..") for n in shown):
            raise ValidationError("names: one plain file name per file")
        out = self.areas.file(area, ".zip")
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for f, name in zip(files, shown, strict=True):
                zf.write(f, arcname=f"{stem}/{name}")
        return out

    def close(self) -> None:
        """Stop the job threads and remove every session area and the upload folder."""
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.areas.close()
        if self.uploads is not None:
            shutil.rmtree(self.uploads, ignore_errors=True)
