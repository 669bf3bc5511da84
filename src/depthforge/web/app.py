"""The HTTP API (FastAPI) and the server that carries it together with the Gradio UI.

Routes (OpenAPI at ``/openapi.json``, docs at ``/docs``):

* ``GET /v1/health``: liveness plus the queue state.
* ``GET /v1/models``: the model names this server accepts (``default`` first; ``default_model`` names it, or is
  null with ``default_is_local`` for an operator's folder, whose path stays private).
* ``POST /v1/depth``: multipart ``image`` (+ ``model``, ``format`` png16|png8|npy, ``invert``, ``clip_near``,
  ``clip_far``);
  answers with the depth file itself: a 16-bit PNG (near = white) of the photo's size by default.
* Every route that estimates depth also takes ``detail`` (off | auto | 4 | 9 | 16): high-resolution detail, tiles
  fitted to the whole photo (:mod:`depthforge.pipeline.detail`; at most 17 model calls), as ``estimate --detail``.
* ``POST /v1/stereo``: multipart ``image`` + the options of ``depthforge stereo``; a PNG (GIF for ``wiggle``).
* ``POST /v1/mesh``: multipart ``image`` + the options of ``depthforge mesh``; GLB, PLY (vertex colours) or a
  zip (OBJ + MTL + texture, or a textured PLY with its texture).
* ``POST /v1/relief``: multipart ``image`` + the sizes of ``depthforge relief`` (millimetres); a watertight STL to
  3D-print (or a coloured GLB/PLY).
* ``POST /v1/photo3d``: multipart ``image`` + the options of the 3D photo tab; the layered GLB, or the PLY with the
  A1111 extension's header (:mod:`depthforge.web.photo3d_ops`).
* ``POST /v1/generate`` (only on a server started with ``--generate-model``): ``image`` + ``prompt`` and a few
  bounded settings; a PNG drawn with the photo's depth as its composition.

Errors are JSON ``{"detail": "..."}``: 400 bad input, 413 too large, 422 bad option, 429 queue full, 503 busy or
model unavailable. Distances carry their unit in the name as in the library: display clipping ``clip_near`` /
``clip_far`` (fractions) on ``/v1/depth``, pseudo-depth ``near_m`` / ``far_m`` on ``/v1/mesh`` and ``/v1/photo3d``;
the bare ``near`` / ``far`` of earlier releases, which meant one or the other, are still accepted there (deprecated
in the OpenAPI schema). Nothing here reads or writes a path the client chose; :mod:`depthforge.web.guard`
refuses, before any handler, bodies above the limit and (for the UI) file references outside this server's uploads.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, cast

from fastapi import Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from depthforge import __version__
from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import (
    DepthforgeError,
    InputError,
    MissingExtraError,
    ModelError,
    ModelNotAvailableError,
    ValidationError,
)
from depthforge.core.image import Image
from depthforge.web.guard import BodyLimit
from depthforge.web.operations import (
    DETAIL_CHOICES,
    MAX_GENERATION_STEPS,
    MAX_MESH_VERTICES,
    MAX_PROMPT_CHARS,
    STEREO_API_LAYOUTS,
    Engine,
    ServerConfig,
)
from depthforge.web.photo3d_ops import MAX_LAYERS, check_photo3d_options, layered_photo
from depthforge.web.relief_ops import RELIEF_FORMATS, make_relief
from depthforge.web.safety import BusyError, TooLargeError, check_client_filename, pseudo_range, renamed_field

__all__ = ["create_app", "create_api"]

_CHUNK = 1 << 16
_NEAR_M = "pseudo-depth of the nearest pixel of a relative map (default 1)"
_FAR_M = "pseudo-depth of the farthest pixel of a relative map (default 10)"
#: media types of the answers (anything else, .npy and .ply, is application/octet-stream)
_MEDIA = {".png": "image/png", ".gif": "image/gif", ".glb": "model/gltf-binary", ".zip": "application/zip",
          ".stl": "model/stl"}  # fmt: skip
#: what a 422 echoes of a client's value at most: characters of a text, items of a list or an object, levels of nesting
_ECHO_CHARS = 200
_ECHO_ITEMS = 20
_ECHO_DEPTH = 4
#: HTTP status of an error, the first that matches (BusyError carries its own; anything else is 400)
_STATUS: tuple[tuple[type[Exception] | tuple[type[Exception], ...], int], ...] = (
    (TooLargeError, 413),
    (ModelNotAvailableError, 503),
    (MissingExtraError, 501),
    ((ValidationError, ModelError), 422),
)


def _status_for(exc: DepthforgeError) -> int:
    if isinstance(exc, BusyError):
        return exc.status
    return next((status for kinds, status in _STATUS if isinstance(exc, kinds)), 400)


def _clean_message(text: str, engine: Engine) -> str:
    """Never echo the server's own paths back to a client."""
    text = text.replace(str(engine.areas.root), "<upload>")
    return re.sub(r"<upload>/[A-Za-z0-9_./-]+", "<upload>", text)[:500]


def _echoable(value: Any, depth: int = 0) -> Any:
    """A client's value as a 422 may echo it: JSON without NaN or infinities (``"nan"``, ``"inf"``, ``"-inf"``:
    JSON has no such numbers, yet Python's parser accepts them in a request body), raw bytes as text (a body that
    is not UTF-8), long text and lists cut short, nesting below :data:`_ECHO_DEPTH` levels as ``"..."`` (a
    validation error never echoes a whole upload back, and a deeply nested body cannot exhaust the stack)."""
    if depth >= _ECHO_DEPTH and isinstance(value, (dict, list, tuple)):
        return "..."
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value[: _ECHO_CHARS + 1]).decode("utf-8", errors="replace")
    if isinstance(value, str):
        return value if len(value) <= _ECHO_CHARS else value[:_ECHO_CHARS] + "..."
    if isinstance(value, dict):
        return {str(k)[:_ECHO_CHARS]: _echoable(v, depth + 1) for k, v in list(value.items())[:_ECHO_ITEMS]}
    if isinstance(value, (list, tuple)):
        more = [f"... {len(value) - _ECHO_ITEMS} more"] if len(value) > _ECHO_ITEMS else []
        return [_echoable(v, depth + 1) for v in value[:_ECHO_ITEMS]] + more
    return value


async def _known_fields(request: Request) -> None:
    """Refuse a form field a ``/v1`` route does not have (422): a misspelt option was ignored in silence (user
    trial 3). (The A1111 routes ignore unknown options, as the extension does, and name them in ``info``.) The
    form is the one FastAPI parsed (Starlette keeps it)."""
    route = request.scope.get("route")
    if request.method != "POST" or not request.url.path.startswith("/v1/") or route is None:
        return
    ctype = request.headers.get("content-type", "").strip().lower()  # as Starlette reads it (review)
    if not ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        return
    known = {field.alias for field in route.dependant.body_params}
    unknown = sorted(set((await request.form()).keys()) - known)
    if unknown:
        raise ValidationError(f"{unknown[0][:40]}: not an option of {request.url.path} (see /docs)")


def create_api(config: ServerConfig, *, engine: Engine | None = None, a1111: bool = False) -> FastAPI:
    """The FastAPI application with the ``/v1`` routes (no UI); ``a1111``: also the A1111-compatible routes of
    :mod:`depthforge.web.a1111`."""
    eng = engine or Engine(config)
    limits = eng.limits
    app = FastAPI(
        title="depthforge",
        version=__version__,
        description="Depth maps and what is made from them: depth files, stereo 3D images, meshes.",
        dependencies=[Depends(_known_fields)],
    )
    app.state.engine = eng

    @app.exception_handler(DepthforgeError)
    async def _on_error(request: Request, exc: DepthforgeError) -> JSONResponse:
        status = _status_for(exc)
        headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, BusyError) else None
        return JSONResponse({"detail": _clean_message(str(exc), eng)}, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own answer (the schema's HTTPValidationError), each error's echo of the input made JSON-safe:
        # a JSON body may carry NaN or 1e309, a form body bytes that are not UTF-8; either failed with a 500
        errors = [{k: _echoable(v) if k in ("input", "ctx", "loc") else v for k, v in e.items()} for e in exc.errors()]
        return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)

    app.add_middleware(BodyLimit, limit=limits.max_upload_bytes + 256 * 1024)
    if a1111:
        from depthforge.web.a1111 import mount_a1111

        # one request carries at most one upload's worth of images, base64 (4/3) included
        app.add_middleware(BodyLimit, limit=limits.max_upload_bytes * 4 // 3 + 64 * 1024, prefix="/depth/")
        mount_a1111(app, eng)

    async def run_job(
        upload: UploadFile, model: str | None, job: Callable[[Image, DepthMap, Path], Path], detail: str = "off"
    ) -> Response:
        """Store the upload under a server-made name in a fresh area; under the gate, decode it, estimate its depth
        with ``model`` (and ``detail``) and run ``job(image, depth, area)``; answer the file that makes."""
        check_client_filename(upload.filename)
        if eng.gate.waiting >= eng.gate.queue and eng.gate.running >= eng.gate.workers:  # refused before the upload
            raise BusyError("server busy: too many requests waiting, retry later", status=429)
        eng.areas.sweep()
        area = eng.areas.area()
        try:
            src = eng.areas.file(area, ".bin")
            size = 0
            with open(src, "wb") as fh:
                while chunk := await upload.read(_CHUNK):
                    size += len(chunk)
                    if size > limits.max_upload_bytes:
                        raise TooLargeError(
                            f"image: upload above the server's limit of {limits.max_upload_bytes} bytes"
                        )
                    fh.write(chunk)
            if size == 0:
                raise InputError("image: the upload is empty")

            def work() -> tuple[bytes, str]:
                image = eng.read_upload(src)
                out = job(image, eng.depth_for(image, model, detail=detail), area)
                return out.read_bytes(), out.suffix

            async with eng.gate.aslot():  # queued requests wait here, on the event loop, holding no thread
                data, suffix = await asyncio.get_running_loop().run_in_executor(eng.executor, work)
            return Response(
                content=data,
                media_type=_MEDIA.get(suffix, "application/octet-stream"),
                headers={"Content-Disposition": f'attachment; filename="depthforge{suffix}"'},
            )
        finally:
            eng.areas.remove(area)

    model_field = Form(None, max_length=200, description="a name from GET /v1/models (default: the server's model)")
    detail_field = Form(
        "off",
        description="high-resolution detail: tiles fitted to the whole photo (auto, or 4, 9, 16 tiles: about N + 1 "
        "model calls); sharper edges on large photos",
    )

    @app.get("/v1/health", summary="Liveness and queue state")
    async def health() -> dict[str, Any]:  # on the event loop: answers whatever the worker threads are doing
        gate = {key: getattr(eng.gate, key) for key in ("running", "waiting", "workers", "queue")}
        return {"status": "ok", "version": __version__, **gate, "model_runs": eng.model_runs}

    @app.get("/v1/models", summary="Model names this server accepts")
    def models() -> dict[str, Any]:
        choices = eng.policy.choices()
        local = Path(choices[0]).expanduser().exists()  # an operator's folder: its path is not the clients' business
        named = {"default_model": None if local else choices[0], "default_is_local": local}
        return {"default": "default", **named, "models": ["default", *choices[1:]]}

    @app.post(
        "/v1/depth",
        summary="Depth map of a photo",
        response_class=Response,
        responses={
            200: {
                "content": {"image/png": {}, "application/octet-stream": {}},
                "description": "the depth file: 16-bit PNG (near = white) of the photo's size by default",
            },
            400: {"description": "bad image"},
            413: {"description": "too large"},
            422: {"description": "bad option"},
            429: {"description": "queue full"},
            503: {"description": "busy or model unavailable"},
        },
    )
    async def depth(
        image: UploadFile = File(..., description="the photo (JPEG, PNG, WebP, TIFF, BMP)"),
        model: str | None = model_field,
        detail: Literal[DETAIL_CHOICES] = detail_field,  # type: ignore[valid-type]
        format: Literal["png16", "png8", "npy"] = Form("png16"),  # noqa: A002 - the API's field name
        invert: bool = Form(False, description="near = black instead of white"),
        clip_near: float | None = Form(None, ge=0.0, le=1.0, description="fraction of the range mapped to white"),
        clip_far: float | None = Form(None, ge=0.0, le=1.0, description="fraction of the range mapped to black"),
        near: float | None = Form(None, ge=0.0, le=1.0, deprecated=True, description="old name of clip_near"),
        far: float | None = Form(None, ge=0.0, le=1.0, deprecated=True, description="old name of clip_far"),
    ) -> Response:
        lo, hi = renamed_field(clip_near, near, "clip_near", "near"), renamed_field(clip_far, far, "clip_far", "far")

        def job(img: Image, d: DepthMap, area: Path) -> Path:
            return eng.depth_file(d, area, format=format, invert=invert, clip_near=lo, clip_far=hi)

        return await run_job(image, model, job, detail)

    @app.post(
        "/v1/stereo",
        summary="Stereo 3D image of a photo (side by side, top-bottom, anaglyph, wiggle GIF)",
        response_class=Response,
        responses={200: {"content": {"image/png": {}, "image/gif": {}}}},
    )
    async def stereo(
        image: UploadFile = File(..., description="the photo"),
        model: str | None = model_field,
        detail: Literal[DETAIL_CHOICES] = detail_field,  # type: ignore[valid-type]
        layout: Literal[STEREO_API_LAYOUTS] = Form("left-right"),  # type: ignore[valid-type]
        divergence: float = Form(2.5, ge=0.0, le=20.0, description="parallax range, % of the width"),
        convergence: float = Form(0.0, ge=0.0, le=1.0, description="nearness 0..1 on the screen plane"),
        balance: float | None = Form(None, ge=-1.0, le=1.0),
        separation: float = Form(0.0, ge=-20.0, le=20.0, description="extra eye separation, % of the width"),
        exponent: float = Form(1.0, gt=0.0, le=10.0),
        views: int = Form(2, ge=2, le=16, description="wiggle: frames"),
        frame_ms: int = Form(120, ge=20, le=5000, description="wiggle: ms per frame"),
    ) -> Response:
        def job(img: Image, d: DepthMap, area: Path) -> Path:
            out = eng.stereo(
                img,
                d,
                layout=layout,
                divergence=divergence,
                convergence=convergence,
                balance=balance,
                separation=separation,
                exponent=exponent,
                views=views,
            )
            if layout == "wiggle":
                return eng.write_animation(out, area, frame_ms=frame_ms)
            return eng.write_png(out[0], area)

        return await run_job(image, model, job, detail)

    @app.post(
        "/v1/mesh",
        summary="Textured 3D mesh (or point cloud) of a photo",
        response_class=Response,
        responses={200: {"content": {"model/gltf-binary": {}, "application/octet-stream": {}, "application/zip": {}}}},
    )
    async def mesh(
        image: UploadFile = File(..., description="the photo (its colours become the texture)"),
        model: str | None = model_field,
        detail: Literal[DETAIL_CHOICES] = detail_field,  # type: ignore[valid-type]
        format: Literal["glb", "ply", "obj"] = Form("glb"),  # noqa: A002 - the API's field name
        kind: Literal["mesh", "pointcloud"] = Form("mesh"),
        near_m: float | None = Form(None, gt=0.0, le=1e6, description=_NEAR_M),
        far_m: float | None = Form(None, gt=0.0, le=1e6, description=_FAR_M),
        near: float | None = Form(None, gt=0.0, le=1e6, deprecated=True, description="old name of near_m"),
        far: float | None = Form(None, gt=0.0, le=1e6, deprecated=True, description="old name of far_m"),
        fov: float | None = Form(None, gt=0.0, lt=180.0, description="horizontal field of view, degrees"),
        max_angle: float = Form(87.0, ge=1.0, le=90.0, description="drop triangles seen more obliquely (90 = keep)"),
        max_jump: float | None = Form(None, gt=0.0, le=10.0, description="drop triangles with a larger depth jump"),
        stride: int = Form(1, ge=1, le=64),
        target_vertices: int = Form(200_000, ge=16, le=1_000_000),
        texture: bool = Form(True, description="False: vertex colours only"),
    ) -> Response:
        lo_m, hi_m = pseudo_range(near_m, far_m, near, far)

        def job(img: Image, d: DepthMap, area: Path) -> Path:
            files = eng.mesh(
                img,
                d,
                area,
                format=format,
                kind=kind,
                near_m=lo_m,
                far_m=hi_m,
                fov_deg=fov,
                max_angle=max_angle,
                max_jump=max_jump,
                stride=stride,
                target_vertices=target_vertices,
                texture=texture,
            )
            main = [f for f in files if not f.name.endswith(".json")]
            return main[0] if len(main) == 1 else eng.zip_files(files, area)

        return await run_job(image, model, job, detail)

    @app.post(
        "/v1/relief",
        summary="Watertight relief of a photo's depth for 3D printing (STL; GLB or PLY to look at), millimetres",
        responses={200: {"content": {"model/stl": {}, "model/gltf-binary": {}, "application/octet-stream": {}}}},
    )
    async def relief(
        image: UploadFile = File(..., description="the photo (vertex colours of a GLB or PLY)"),
        model: str | None = model_field,
        detail: Literal[DETAIL_CHOICES] = detail_field,  # type: ignore[valid-type]
        width_mm: float = Form(100.0, gt=0.0, le=2000.0, description="width along the photo's x axis"),
        relief_mm: float = Form(10.0, gt=0.0, le=500.0, description="height from the farthest to the nearest"),
        base_mm: float = Form(2.0, gt=0.0, le=100.0, description="base under the farthest point"),
        resolution_mm: float = Form(0.4, gt=0.0, le=100.0, description="spacing of the surface grid"),
        smooth_mm: float = Form(0.0, ge=0.0, le=100.0, description="Gaussian smoothing of the surface"),
        format: Literal[RELIEF_FORMATS] = Form("stl"),  # type: ignore[valid-type]  # noqa: A002 - the API's name
    ) -> Response:
        sizes = {"width_mm": width_mm, "relief_mm": relief_mm, "base_mm": base_mm, "smooth_mm": smooth_mm}

        def job(img: Image, d: DepthMap, area: Path) -> Path:
            return make_relief(eng, img, d, area, format=format, resolution_mm=resolution_mm, **sizes)[0]

        return await run_job(image, model, job, detail)

    @app.post(
        "/v1/photo3d",
        summary="Layered 3D photo (depth layers, hidden parts filled) as GLB, or PLY with the A1111 extension's header",
        response_class=Response,
        responses={200: {"content": {"model/gltf-binary": {}, "application/octet-stream": {}}}},
    )
    async def photo3d(
        image: UploadFile = File(..., description="the photo"),
        model: str | None = model_field,
        detail: Literal[DETAIL_CHOICES] = detail_field,  # type: ignore[valid-type]
        format: Literal["glb", "ply"] = Form("glb"),  # noqa: A002 - the API's field name
        inpaint: str = Form("background", max_length=20, description="background, telea, ns (learned if offered)"),
        layers: int = Form(4, ge=1, le=MAX_LAYERS, description="depth layers at most"),
        fov: float | None = Form(None, ge=1.0, le=179.0, description="horizontal field of view, degrees"),
        near_m: float | None = Form(None, gt=0.0, le=1e6, description=_NEAR_M),
        far_m: float | None = Form(None, gt=0.0, le=1e6, description=_FAR_M),
        near: float | None = Form(None, gt=0.0, le=1e6, deprecated=True, description="old name of near_m"),
        far: float | None = Form(None, gt=0.0, le=1e6, deprecated=True, description="old name of far_m"),
        target_vertices: int = Form(
            150_000, ge=1000, le=MAX_MESH_VERTICES, description="grid points per layer (all layers: at most 1 M)"
        ),
    ) -> Response:
        # the options before the upload is decoded and its depth estimated
        lo_m, hi_m = pseudo_range(near_m, far_m, near, far)
        check_photo3d_options(eng, inpaint=inpaint, layers=layers, target_vertices=target_vertices, fov_deg=fov)

        def job(img: Image, d: DepthMap, area: Path) -> Path:
            files, _ = layered_photo(
                eng,
                img,
                d,
                area,
                inpaint=inpaint,
                layers=layers,
                target_vertices=target_vertices,
                fov_deg=fov,
                near_m=lo_m,
                far_m=hi_m,
                formats=(format,),
            )
            return files[0]

        return await run_job(image, model, job, detail)

    if config.generate_base:
        _mount_generate(app, eng, run_job, model_field, detail_field)
    return app


def _mount_generate(app: FastAPI, eng: Engine, run_job: Any, model_field: Any, detail_field: Any) -> None:
    """``POST /v1/generate``, on a server started with ``serve --generate-model`` only."""

    @app.post(
        "/v1/generate",
        summary="A new image from a prompt, composed like the photo's depth (Stable Diffusion + depth ControlNet)",
        response_class=Response,
        responses={
            200: {
                "content": {"image/png": {}},
                "description": "the image, at the base model's own size or the server's --generate-size",
            }
        },
    )
    async def generate(
        image: UploadFile = File(..., description="the photo whose depth sets the composition"),
        prompt: str = Form(..., min_length=1, max_length=MAX_PROMPT_CHARS, description="what to draw"),
        negative_prompt: str = Form("", max_length=MAX_PROMPT_CHARS, description="what to avoid"),
        steps: int = Form(20, ge=1, le=MAX_GENERATION_STEPS, description="denoising steps"),
        guidance: float = Form(7.5, ge=1.0, le=20.0, description="classifier-free guidance scale"),
        control_scale: float = Form(1.0, ge=0.0, le=2.0, description="ControlNet strength (0 = ignore the depth)"),
        seed: int = Form(0, ge=-1, le=2**32 - 1, description="noise seed; -1: a random one (the PNG's parameters)"),
        model: str | None = model_field,
        detail: Literal[DETAIL_CHOICES] = detail_field,  # type: ignore[valid-type]
    ) -> Response:
        def job(img: Image, d: DepthMap, area: Path) -> Path:
            made, _, _ = eng.generate(
                img,
                d,
                area,
                prompt=prompt,
                negative_prompt=negative_prompt,
                steps=steps,
                guidance=guidance,
                control_scale=control_scale,
                seed=seed,
            )
            return made

        return cast(Response, await run_job(image, model, job, detail))


def create_app(config: ServerConfig, *, ui: bool = True, a1111: bool = False) -> FastAPI:
    """The whole server: the API, plus the Gradio UI mounted at ``/`` (``ui=False`` leaves it out) and, with
    ``a1111``, the A1111-compatible routes (:mod:`depthforge.web.a1111`)."""
    engine = Engine(config)
    app = create_api(config, engine=engine, a1111=a1111)
    if ui:
        from depthforge.web.a1111 import A1111_ROUTES
        from depthforge.web.ui import mount_ui

        app = mount_ui(app, engine, api_routes=A1111_ROUTES if a1111 else ())

    app.router.on_shutdown.append(engine.close)
    return app
