"""An HTTP API compatible with the AUTOMATIC1111 depthmap extension's (stable-diffusion-webui-depthmap-script).

Mounted by ``depthforge serve --a1111-api`` (off by default). Routes, shapes and option names are the extension's:

* ``GET /depth/version``: ``{"version": ...}``.
* ``GET /depth/get_options``: ``{"options": [...]}``, the option names, sorted.
* ``POST /depth/generate``: JSON ``{"depth_input_images": [base64 image, ...], "options": {...}}``; answers
  ``{"images": [base64 PNG, ...], "info": "..."}`` with, per input image and in the extension's order: the
  background-removed image and its mask (``gen_rembg``), the depth map (16-bit, near = white; or combined with the
  photo), the stereo images (one per ``stereo_modes`` entry), the normal map, the heat map. ``gen_simple_mesh``
  adds ``"meshes"``: base64 GLB files (the extension writes OBJ files on the server and returns no mesh).

The options map onto depthforge: ``model_type`` (the extension's number or name) onto a registry model the server
allows (omitted: the server's model), ``net_width`` onto the processing size (the shorter side), ``boost`` onto
high-resolution detail (``auto``), clipping onto the display range, stereo onto :mod:`depthforge.render.stereo`,
the normal map onto :mod:`depthforge.geometry.normals`, background removal onto the depth foreground mask. A
value out of range, or an option depthforge cannot honour (inpainted meshes, tiling, removal before estimation), is
refused with 422 naming it; an unknown option is ignored, as the extension does, and named in the answer's
``info``. No option names a file: images come in the body, results go back in it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.background import BackgroundTask

from depthforge import __version__
from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import InputError, ValidationError
from depthforge.core.image import Image
from depthforge.web.operations import MAX_RESOLUTION_PX, MIN_RESOLUTION_PX, Engine, check_resolution
from depthforge.web.safety import BusyError, Limits, TooLargeError

__all__ = ["A1111_ROUTES", "A1111Options", "mount_a1111"]

#: The routes this module adds (and the guard lets through when it is on).
A1111_ROUTES = ("/depth/version", "/depth/get_options", "/depth/generate")
#: Largest number of images in one request.
MAX_IMAGES = 16
#: The extension's model numbers (its API takes the number or the name) and the registry model each maps onto;
#: None = a model depthforge does not ship (LeReS, MiDaS 2.1, BEiT-384, Marigold).
MODEL_TYPES: dict[int, tuple[str, str | None]] = {
    0: ("res101", None),
    1: ("dpt_beit_large_512", "dpt-beit-large-512"),
    2: ("dpt_beit_large_384", None),
    3: ("dpt_large_384", "dpt-large"),
    4: ("dpt_hybrid_384", "dpt-hybrid"),
    5: ("midas_v21", None),
    6: ("midas_v21_small", None),
    7: ("zoedepth_n", "zoedepth-nyu"),
    8: ("zoedepth_k", "zoedepth-kitti"),
    9: ("zoedepth_nk", "zoedepth-nyu-kitti"),
    10: ("marigold_v1", None),
    11: ("depth_anything", "depth-anything-v1-large"),
    12: ("depth_anything_v2_small", "depth-anything-v2-small"),
    13: ("depth_anything_v2_base", "depth-anything-v2-base"),
    14: ("depth_anything_v2_large", "depth-anything-v2-large"),
}
#: The extension's stereo modes and depthforge's layout for each (``cyan-red-reverseanaglyph`` swaps the eyes).
STEREO_MODES = {
    "left-right": "left-right",
    "right-left": "right-left",
    "top-bottom": "top-bottom",
    "bottom-top": "bottom-top",
    "red-cyan-anaglyph": "anaglyph-color",
    "cyan-red-reverseanaglyph": "anaglyph-color",
    "left-only": "left",
    "only-right": "right",
}
_Mode = Literal[
    "left-right",
    "right-left",
    "top-bottom",
    "bottom-top",
    "red-cyan-anaglyph",
    "cyan-red-reverseanaglyph",
    "left-only",
    "only-right",
]
_Kernel = Field(3, ge=1, le=31, description="kernel size, px")
#: Bytes base64-encoded at a time in a response: a multiple of 3, so that the pieces join into one valid string.
_B64_STEP = 3 << 18
_DATA_URL = re.compile(r"^data:image/[A-Za-z0-9.+-]+;base64,")
#: What a wrapped base64 text may hold between its lines (removed before decoding, as A1111's decoder skips them).
_LINE_BREAKS = str.maketrans("", "", "\r\n\t ")


class A1111Options(BaseModel):
    """The extension's generation options (``GenerationOptions``) with its defaults. As the extension does, names
    are taken in any case and unknown names are ignored (the answer's ``info`` lists them), a single stereo mode may
    be given as a string, and ``rembg_model`` takes any name. ``compute_device``, ``stereo_fill_algo``,
    ``normalmap_sobel*``, ``rembg_model`` and ``do_output_depth_prediction`` are accepted for compatibility and do
    not change the result (the server chooses the device; depthforge has one fill method and geometric normals;
    background removal uses depth). The processing size (``net_width``: the shorter side, as the extension sizes
    Depth Anything; ``net_size_match``) is at most the server's ``--max-resolution`` on the longer side."""

    model_config = ConfigDict(extra="allow")

    compute_device: Literal["GPU", "CPU"] = "GPU"
    model_type: int | str | None = Field(None, description="the extension's model number or name; none: the server's")
    boost: bool = Field(False, description="high-resolution detail (depthforge's detail=auto)")
    net_size_match: bool = Field(
        False,
        description=f"process at the photo's own size (at least {MIN_RESOLUTION_PX} px, at most the server's limit)",
    )
    net_width: int | None = Field(
        None, ge=MIN_RESOLUTION_PX, le=MAX_RESOLUTION_PX, description="shorter side processed, aspect kept"
    )
    net_height: int | None = Field(
        None, ge=MIN_RESOLUTION_PX, le=MAX_RESOLUTION_PX, description="used without net_width"
    )
    tiling_mode: Literal[False] = False
    do_output_depth: bool = True
    output_depth_invert: bool = False
    output_depth_combine: bool = False
    output_depth_combine_axis: Literal["Horizontal", "Vertical"] = "Horizontal"
    do_output_depth_prediction: bool = False
    clipdepth: bool = False
    clipdepth_mode: Literal["Range", "Outliers"] = "Range"
    clipdepth_far: float = Field(0.0, ge=0.0, le=1.0)
    clipdepth_near: float = Field(1.0, ge=0.0, le=1.0)
    gen_stereo: bool = False
    stereo_modes: list[_Mode] = Field(["left-right", "red-cyan-anaglyph"], max_length=8)
    stereo_divergence: float = Field(2.5, ge=0.0, le=20.0, description="% of the width")
    stereo_separation: float = Field(0.0, ge=-20.0, le=20.0, description="% of the width")
    stereo_fill_algo: Literal["none", "naive", "naive_interpolating", "polylines_soft", "polylines_sharp"] = (
        "polylines_sharp"
    )
    stereo_offset_exponent: float = Field(1.0, gt=0.0, le=10.0)
    stereo_balance: float = Field(0.0, ge=-1.0, le=1.0)
    gen_normalmap: bool = False
    normalmap_pre_blur: bool = False
    normalmap_pre_blur_kernel: int = _Kernel
    normalmap_sobel: bool = True
    normalmap_sobel_kernel: int = _Kernel
    normalmap_post_blur: bool = False
    normalmap_post_blur_kernel: int = _Kernel
    normalmap_invert: bool = False
    gen_heatmap: bool = False
    gen_simple_mesh: bool = False
    simple_mesh_occlude: bool = True
    simple_mesh_spherical: bool = False
    gen_inpainted_mesh: Literal[False] = False
    gen_inpainted_mesh_demos: Literal[False] = False
    gen_rembg: bool = False
    save_background_removal_masks: bool = False
    pre_depth_background_removal: Literal[False] = False
    rembg_model: str = Field("u2net", max_length=100, description="accepted, not used")

    @model_validator(mode="before")
    @classmethod
    def _as_the_extension_reads(cls, data: Any) -> Any:
        """Names in any case (the extension lower-cases them: user trial 9, ``GEN_STEREO``), and one stereo mode
        as a string."""
        if not isinstance(data, dict):
            return data
        if any(len(str(k)) > 64 for k in data):  # ignored names are listed in the answer: none is this long
            raise ValueError("options: a name longer than 64 characters is not an option")
        out = {str(k).lower(): v for k, v in data.items()}
        if len(out) < len(data):  # review: GEN_STEREO beside gen_stereo, one of them dropped in silence
            raise ValueError("options: a name given twice (names are read in any case)")
        if isinstance(out.get("stereo_modes"), str):
            out["stereo_modes"] = [out["stereo_modes"]]
        return out

    @property
    def ignored(self) -> list[str]:
        """The options sent that the extension does not have: ignored, as the extension ignores them."""
        return sorted(self.model_extra or {})

    @model_validator(mode="after")
    def _clip_order(self) -> A1111Options:
        """Both clip modes keep the depth between the far and the near point: far must lie below near."""
        if self.clipdepth and self.clipdepth_far >= self.clipdepth_near:
            raise ValueError(
                f"clipdepth_far: {self.clipdepth_far:g} must be below clipdepth_near {self.clipdepth_near:g}"
            )
        return self


class GenerateRequest(BaseModel):
    """The body of ``POST /depth/generate``."""

    model_config = ConfigDict(extra="forbid")

    depth_input_images: list[str] = Field(..., min_length=1, max_length=MAX_IMAGES, description="base64 images")
    options: A1111Options = Field(default_factory=lambda: A1111Options.model_validate({}))


class GenerateResponse(BaseModel):
    images: list[str]
    info: str
    meshes: list[str] = []


def _model_name(model_type: int | str | None) -> str | None:
    """The registry model for the extension's ``model_type`` (None: the server's default)."""
    if model_type is None:
        return None
    by_name = {name: ours for name, ours in MODEL_TYPES.values()}
    if isinstance(model_type, int) and model_type in MODEL_TYPES:
        name, ours = MODEL_TYPES[model_type]
    elif isinstance(model_type, str) and model_type in by_name:
        name, ours = model_type, by_name[model_type]
    else:
        known = ", ".join(f"{k} {n}" for k, (n, _) in MODEL_TYPES.items())
        raise ValidationError(f"model_type: {str(model_type)[:40]!r} is not one of the extension's models ({known})")
    if ours is None:
        raise ValidationError(f"model_type: {name} is not offered by depthforge; use 12 (depth_anything_v2_small)")
    return ours


def _decode(text: str, limit: int) -> bytes:
    """The bytes of a base64 image (a data URL's prefix allowed), at most ``limit`` bytes."""
    longest = (limit * 4 // 3 + 8) * 78 // 76 + 100  # base64 of ``limit`` bytes wrapped at 76 columns (CR LF)
    if len(text) > longest:  # before any copy (review: splitting 33 MB of "ab ab ..." took 0.9 s and 800 MB)
        raise TooLargeError(f"depth_input_images: an image above the server's limit of {limit} bytes")
    text = _DATA_URL.sub("", text.strip(), count=1).translate(_LINE_BREAKS)  # wrapped at 76 columns, as `base64`
    if len(text) > limit * 4 // 3 + 8:
        raise TooLargeError(f"depth_input_images: an image above the server's limit of {limit} bytes")
    try:
        blob = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InputError("depth_input_images: not base64") from None
    if len(blob) > limit:
        raise TooLargeError(f"depth_input_images: an image above the server's limit of {limit} bytes")
    return blob


def _json_parts(info: str) -> tuple[bytes, bytes, bytes]:
    """The framing of the answer's JSON around the two lists of base64 files (FastAPI's compact form)."""
    return b'{"images":[', b'],"info":' + json.dumps(info).encode() + b',"meshes":[', b"]}"


def _info(opts: A1111Options) -> str:
    """The answer's ``info``: ``Success``, and the options ignored."""
    ignored = opts.ignored
    return "Success" + (f"; ignored options unknown to the extension: {', '.join(ignored)[:500]}" if ignored else "")


def _json_body(images: list[Path], meshes: list[Path], *, info: str, done: Callable[[], None]) -> Iterator[bytes]:
    """The response's JSON (:class:`GenerateResponse`) in pieces, each file read and base64-encoded piece by piece
    as it is sent: the answer is never held whole (FastAPI's serialisation of a model held the base64 strings, the
    JSON text and its bytes at once, in the event loop), nor are the finished outputs while later ones are made.
    ``done`` runs when the body ends, is closed (the client went away) or fails."""
    parts = _json_parts(info)
    try:
        for head, files in zip(parts, (images, meshes), strict=False):
            yield head
            for n, path in enumerate(files):
                yield b'"' if n == 0 else b',"'
                with path.open("rb") as fh:
                    while data := fh.read(_B64_STEP):
                        yield base64.b64encode(data)
                yield b'"'
        yield parts[-1]
    finally:
        done()


def _json_length(images: list[Path], meshes: list[Path], *, info: str) -> int:
    """The byte length of :func:`_json_body`'s answer (its ``Content-Length``)."""
    files = [*images, *meshes]
    framing = sum(map(len, _json_parts(info))) + 2 * len(files) + max(0, len(images) - 1) + max(0, len(meshes) - 1)
    return framing + sum(4 * -(-p.stat().st_size // 3) for p in files)


def _check_request_pixels(sources: list[Path], limits: Limits) -> None:
    """Refuse photos that together hold more than ``limits.request_pixels`` (the wiggle budget), read from their
    headers before any is decoded: every photo costs a model run and every output the client asks for (one 40 MP
    photo with every output took about two minutes).

    Raises:
        TooLargeError: naming ``depth_input_images``; InputError: a file that is not an allowed image.
    """
    from depthforge.io.images import image_pixels
    from depthforge.io.inputs import check_input_file

    budget = limits.request_pixels
    total = sum(image_pixels(check_input_file(src, what="image"), max_pixels=limits.max_pixels) for src in sources)
    if total > budget:
        raise TooLargeError(
            f"depth_input_images: {total / 1e6:.1f} megapixels in all, above this server's budget of "
            f"{budget / 1e6:.0f} megapixels per request; send fewer or smaller photos"
        )


def _check_net_size(opts: A1111Options, limits: Limits) -> None:
    """Refuse ``net_width`` / ``net_height`` above the server's processing-size limit, naming the option."""
    for name in ("net_width", "net_height"):
        check_resolution(getattr(opts, name), limits, name=name)


def _resolution(image: Image, opts: A1111Options, limits: Limits) -> int | None:
    """The longer side to process at (None: the model's own size rule). ``net_width`` is the shorter side, aspect
    kept, as the extension sizes Depth Anything (user trial 9: taken as the longer side, 518 on a 16:9 photo gave
    a third of the pixels of sending nothing); ``net_height`` stands in when ``net_width`` is not given. At most
    this server's ``--max-resolution``."""
    if opts.net_size_match:  # the photo's own size, within the sizes this server allows
        return min(max(image.width, image.height, MIN_RESOLUTION_PX), limits.max_resolution_px)
    short = opts.net_width if opts.net_width is not None else opts.net_height
    if short is None:
        return None
    aspect = max(image.width, image.height) / max(1, min(image.width, image.height))
    return min(round(short * aspect), limits.max_resolution_px)


def _outputs(
    engine: Engine, image: Image, depth: DepthMap, opts: A1111Options, area: Path
) -> tuple[list[Path], list[Path]]:
    """The extension's images for one photo (PNG files in ``area``) and the meshes (GLB files there)."""
    from depthforge.process.normalize import to_display
    from depthforge.render.masks import cutout, foreground_alpha

    clip: dict[str, Any] = {}
    if opts.clipdepth and opts.clipdepth_mode == "Range":
        clip = {"clip_far": opts.clipdepth_far, "clip_near": opts.clipdepth_near}
    elif opts.clipdepth:
        clip = {"percentiles": (opts.clipdepth_far * 100.0, opts.clipdepth_near * 100.0)}
    shown = to_display(depth, **clip)[0]
    images: list[Path] = []

    def _png(array: np.ndarray) -> Path:
        return engine.write_png(array, area)

    if opts.gen_rembg:  # the extension's background removal: here the depth foreground (near = kept)
        alpha = foreground_alpha(depth, image=image)
        images.append(_png(cutout(image, alpha)))
        if opts.save_background_removal_masks:  # the extension's mask: RGBA, 255 on the foreground, 0 elsewhere
            hard = np.where(alpha >= 0.5, 255, 0).astype(np.uint8)  # user trial 9: it was grey with soft values
            images.append(_png(np.repeat(hard[:, :, None], 4, axis=2)))
        shown = np.where(alpha >= 0.5, shown, 0.0)  # the background at the far value, as the extension does
    codes = np.round(shown * 65535).astype(np.uint16)
    if opts.do_output_depth:
        out = 65535 - codes if opts.output_depth_invert else codes
        if opts.output_depth_combine:
            grey = np.repeat((out >> 8).astype(np.uint8)[:, :, None], 3, axis=2)
            axis = 1 if opts.output_depth_combine_axis == "Horizontal" else 0
            images.append(_png(np.concatenate([image.as_uint8(), grey], axis=axis)))
        else:
            images.append(_png(out))
    if opts.gen_stereo:
        images += _stereo(engine, image, depth, opts, area)
    if opts.gen_normalmap:
        images.append(_png(_normalmap(depth, opts)))
    if opts.gen_heatmap:
        from depthforge.render.visualize import colorize

        lo, hi = np.percentile(shown, [2.0, 85.0])  # the extension's range (dzoedepth's colorize; user trial 9)
        spread = np.clip((shown - lo) / (hi - lo), 0.0, 1.0) if hi > lo else np.zeros_like(shown)
        images.append(_png(colorize(spread, colormap="inferno")))
    meshes = []
    if opts.gen_simple_mesh:
        files = engine.mesh(image, depth, area, format="glb", max_angle=87.0 if opts.simple_mesh_occlude else 90.0)
        glb = next(f for f in files if f.suffix == ".glb")
        meshes.append(glb)
    return images, meshes


def _stereo(engine: Engine, image: Image, depth: DepthMap, opts: A1111Options, area: Path) -> list[Path]:
    from depthforge.render.stereo import StereoParams, render_stereo
    from depthforge.stereo.layouts import compose

    params = StereoParams(
        divergence=opts.stereo_divergence,
        # the extension moves each eye it makes by the whole separation, the left eye left: uncrossed, the scene
        # farther (at balance -1 or +1 it keeps the photo as one eye, so the pair is one separation apart);
        # depthforge's separation is the eyes' total crossed shift (user trial 9: backwards, at half the size)
        separation=-(1.0 if abs(opts.stereo_balance) > 0.998 else 2.0) * opts.stereo_separation,
        balance=opts.stereo_balance,
        exponent=opts.stereo_offset_exponent,
    )
    left, right = render_stereo(image.as_uint8(), depth, params=params)
    out = []
    for mode in opts.stereo_modes:
        first, second = (right, left) if mode == "cyan-red-reverseanaglyph" else (left, right)
        out.append(engine.write_png(compose(first, second, layout=STEREO_MODES[mode]), area))
    return out


def _normalmap(depth: DepthMap, opts: A1111Options) -> np.ndarray:
    from depthforge.geometry.normals import depth_to_normals, encode_normals

    pre = opts.normalmap_pre_blur_kernel / 3.0 if opts.normalmap_pre_blur else 0.0  # kernel ~ 3 sigma
    post = opts.normalmap_post_blur_kernel / 3.0 if opts.normalmap_post_blur else 0.0
    try:
        rgb = encode_normals(depth_to_normals(depth, smooth_depth_px=pre, smooth_normals_px=post))
    except ValidationError as exc:  # a photo one pixel high or wide has no normals: name the option asking for them
        raise ValidationError(f"gen_normalmap: {exc}") from None
    if opts.normalmap_invert:  # the extension inverts the depth: x and y turn round, z still faces the viewer
        rgb = rgb.copy()
        rgb[:, :, :2] = 255 - rgb[:, :, :2]  # user trial 9: blue was inverted too, facing into the screen
    return rgb


def mount_a1111(app: FastAPI, engine: Engine) -> FastAPI:
    """Add the extension's routes (:data:`A1111_ROUTES`) to ``app``; work runs under the server's gate and limits."""
    limit = engine.limits.max_upload_bytes

    @app.get("/depth/version", summary="A1111 depthmap API: version", tags=["a1111"])
    async def version() -> dict[str, str]:
        return {"version": f"depthforge {__version__}"}

    @app.get("/depth/get_options", summary="A1111 depthmap API: option names", tags=["a1111"])
    async def get_options() -> dict[str, list[str]]:
        return {"options": sorted(A1111Options.model_fields)}

    @app.post(
        "/depth/generate",
        summary="A1111 depthmap API: depth maps and what is made from them, for base64 images",
        tags=["a1111"],
        response_model=GenerateResponse,
        responses={
            400: {"description": "bad image"},
            413: {"description": "too large"},
            422: {"description": "bad option"},
        },
    )
    async def generate(body: GenerateRequest) -> StreamingResponse:
        opts = body.options
        model = _model_name(opts.model_type)
        _check_net_size(opts, engine.limits)
        blobs = [_decode(text, limit) for text in body.depth_input_images]
        if _busy(engine):
            raise BusyError("server busy: too many requests waiting, retry later", status=429)
        engine.areas.sweep()
        area = engine.areas.area()

        def work() -> tuple[list[Path], list[Path]]:
            images: list[Path] = []
            meshes: list[Path] = []
            sources = [engine.areas.file(area, ".bin") for _ in blobs]
            for src, blob in zip(sources, blobs, strict=True):
                src.write_bytes(blob)
            _check_request_pixels(sources, engine.limits)
            for src in sources:
                image = engine.read_upload(src)
                detail = "auto" if opts.boost else "off"
                depth = engine.depth_for(
                    image, model, resolution=_resolution(image, opts, engine.limits), detail=detail
                )
                more, mesh = _outputs(engine, image, depth, opts, area)
                images += more
                meshes += mesh
            return images, meshes

        try:
            async with engine.gate.aslot():
                images, meshes = await asyncio.get_running_loop().run_in_executor(engine.executor, work)
            info = _info(opts)
            size = str(_json_length(images, meshes, info=info))
        except BaseException:
            engine.areas.remove(area)
            raise
        # the outputs are read from the request's area as they are sent; the area goes when the answer has been
        # sent, or the client has gone (the background task, and the areas' sweep, remove any left behind)
        answer = _json_body(images, meshes, info=info, done=lambda: engine.areas.remove(area))
        headers = {"Content-Length": size}
        cleanup = BackgroundTask(engine.areas.remove, area)
        return StreamingResponse(answer, media_type="application/json", headers=headers, background=cleanup)

    return app


def _busy(engine: Engine) -> bool:
    """Whether the queue is full (the request is refused before any work)."""
    return engine.gate.waiting >= engine.gate.queue and engine.gate.running >= engine.gate.workers
