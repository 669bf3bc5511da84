"""``depthforge serve``: the web UI (Gradio) and the HTTP API (FastAPI) on one local server.

Safe by default: it listens on 127.0.0.1 only; clients can choose only the server's model or registry models
already in the local cache (``--allow-download`` lets them pick any registry model); uploads are limited in
bytes and pixels, the processing size a client asks for by ``--max-resolution``; outputs live in per-session
temporary folders that are removed; at most ``--workers`` jobs run at once and ``--queue`` wait, the rest are
refused with 429/503. There is no public share link.
"""

from __future__ import annotations

import argparse
import socket

from depthforge.cli.common import (
    DEFAULT_MODEL,
    absolute_inpaint_method,
    add_command,
    add_device_options,
    load_inpainter_noted,
    note,
    pick,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "serve", __doc__, "web UI and HTTP API on one local server", run=run)
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 exposes it)",
    )
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help=f"default model of the UI and the API: registry name, hub id or local folder (default {DEFAULT_MODEL})",
    )
    add_device_options(p, device="where models run")
    p.add_argument(
        "--allow-model",
        action="append",
        default=[],
        metavar="M",
        help="another model clients may choose (repeatable; the operator's choice, never the client's)",
    )
    p.add_argument(
        "--allow-download", action="store_true", help="let clients choose registry models that are not downloaded yet"
    )
    p.add_argument("--sam-model", metavar="M", help="SAM of the Mask tab: registry name, hub id or local folder")
    p.add_argument("--matting-model", metavar="M", help="ViTMatte of the Mask tab: registry name, hub id or folder")
    p.add_argument("--max-upload-mb", type=float, default=25.0, help="largest upload in MB (default 25)")
    p.add_argument("--max-pixels", type=int, default=40_000_000, help="largest image in pixels (default 40 M)")
    p.add_argument("--max-resolution", type=int, default=2048, help="largest processing size clients may ask for, px")
    p.add_argument("--workers", type=int, default=1, help="jobs run at the same time (default 1)")
    p.add_argument("--queue", type=int, default=16, help="jobs allowed to wait; more get 429 (default 16)")
    p.add_argument(
        "--queue-timeout",
        type=float,
        default=120.0,
        help="seconds a job may wait before it is refused with 503 (default 120)",
    )
    p.add_argument(
        "--inpainter",
        metavar="METHOD",
        help="learned inpainter offered as 'learned' by the 3D photo tab and /v1/photo3d: onnx:FILE, a registry name "
        "or a hub id",
    )
    p.add_argument(
        "--generate-model",
        metavar="BASE",
        help="offer generation (Generate tab, POST /v1/generate) with this Stable Diffusion base: registry name, hub "
        "id or folder; needs the diffusion extra",
    )
    p.add_argument(
        "--generate-controlnet", metavar="M", help="the depth ControlNet for --generate-model (default: the base's)"
    )
    p.add_argument(
        "--generate-size",
        type=int,
        metavar="PX",
        help="long side of generated images, 64..2048 (default: the base model's own, 512 for SD 1.5)",
    )
    p.add_argument("--no-ui", action="store_true", help="serve the HTTP API only")
    p.add_argument(
        "--a1111-api",
        action="store_true",
        help="also serve the AUTOMATIC1111 depthmap extension's API (/depth/generate, /depth/get_options, "
        "/depth/version)",
    )
    p.add_argument(
        "--share",
        action="store_true",
        help="not supported: depthforge never opens a public tunnel; put it behind your own proxy",
    )


def run(args: argparse.Namespace) -> int:
    import os

    from depthforge.core.errors import ModelError, ValidationError
    from depthforge.core.validation import check_range

    if args.share:
        raise ValidationError(
            "share: public share links are not offered; serve on your network with --host and a "
            "reverse proxy that adds authentication"
        )
    if not 0 < args.port < 65536:
        raise ValidationError(f"port: {args.port} is not in 1..65535")
    if args.max_upload_mb <= 0:
        raise ValidationError(f"max_upload_mb: must be > 0, got {args.max_upload_mb}")
    import signal

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

    import uvicorn

    from depthforge.models.estimator import resolve_depth_model
    from depthforge.web.app import create_app
    from depthforge.web.guard import GuardedH11Protocol
    from depthforge.web.operations import ServerConfig
    from depthforge.web.safety import Limits

    resolve_depth_model(args.model)  # an unknown model fails now, with the usual one-line message
    for name in args.allow_model:  # and so does a listed one (a malformed hub id was found only by a client)
        try:
            resolve_depth_model(name)
        except ModelError as exc:
            raise ModelError(f"--allow-model: {str(exc).removeprefix('model: ')}") from None
    limits = Limits(
        max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
        **pick(args, "max_pixels", "workers", "queue"),
        max_resolution_px=args.max_resolution,
        queue_timeout_s=args.queue_timeout,
    )
    inpainter = None if args.inpainter is None else absolute_inpaint_method(args.inpainter)
    if inpainter is not None:
        load_inpainter_noted(inpainter)  # a missing file or an unreachable hub: one line before serving
    if args.sam_model or args.matting_model:  # an offline operator's local folders (user trial 3); one line now
        from depthforge.pipeline.background import MaskOptions, require_models

        if args.sam_model:
            require_models(MaskOptions(method="sam", sam_model=args.sam_model))
        if args.matting_model:
            require_models(MaskOptions(method="model", matting_model=args.matting_model))
    if (args.generate_controlnet or args.generate_size) and not args.generate_model:
        raise ValidationError("generate: --generate-controlnet and --generate-size go with --generate-model")
    if args.generate_size is not None:
        check_range(args.generate_size, "generate_size", low=64, high=2048)
    if args.generate_model:
        from depthforge.models.diffusion import pick_device_dtype, require_diffusers
        from depthforge.pipeline.generation import generation_models

        require_diffusers()  # one line naming the diffusion extra
        # resolved and checked as a pair (an SDXL base with an SD 1.5 ControlNet is one line), not loaded
        base, control = generation_models("controlnet", args.generate_model, args.generate_controlnet)
        pick_device_dtype(args.device)  # a device generation cannot use
        note(f"generation: {base.spec.name} ({base.spec.licence}) with {control.spec.name if control else '-'}")
    config = ServerConfig(
        **pick(args, "model", "device", "dtype", "allow_download"),
        limits=limits,
        extra_models=tuple(args.allow_model),
        inpainter=inpainter,
        sam_model=_absolute(args.sam_model),
        matting_model=_absolute(args.matting_model),
        generate_base=args.generate_model,
        generate_controlnet=args.generate_controlnet,
        generate_size_px=args.generate_size,
    )
    sock = _listening_socket(args.host, args.port)  # a port in use: one line now, not uvicorn's error and status 3
    app = create_app(config, ui=not args.no_ui, a1111=args.a1111_api)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        note(f"listening on {args.host}: reachable from other machines, with no authentication")
    note(
        f"serving on http://{'[' + args.host + ']' if ':' in args.host else args.host}:{args.port}/ "
        f"(API docs at /docs, OpenAPI at /openapi.json)"
    )

    def stop(signum: int, frame: object) -> None:
        # uvicorn shuts down gracefully on SIGTERM (the app's shutdown removes its temporary folders), then sends
        # the signal again to itself: it lands here, and the command ends with status 0 instead of being killed
        raise _Stopped

    signal.signal(signal.SIGTERM, stop)
    try:
        server_config = uvicorn.Config(
            app,
            host=args.host,
            port=args.port,
            log_level="warning",
            timeout_graceful_shutdown=5,
            http=GuardedH11Protocol,
        )
        uvicorn.Server(server_config).run(sockets=[sock])
    except _Stopped:
        pass
    finally:
        sock.close()
        app.state.engine.close()  # idempotent: also when the server never started
    return 0


def _listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host``:``port`` for uvicorn to serve on, with its options (address reuse).

    Raises:
        ValidationError: naming ``port`` when the address is in use or cannot be had.
    """
    from depthforge.core.errors import ValidationError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ValidationError(
            f"port: cannot listen on {host}:{port}: {exc.strerror or exc} (choose another --port)"
        ) from None
    return sock


class _Stopped(BaseException):
    """SIGTERM arrived (a BaseException, so that no handler in between mistakes it for an error)."""


def _absolute(model: str | None) -> str | None:
    """A model given as a local folder, made absolute (the server may change its folder); names as they are."""
    from pathlib import Path

    return str(Path(model).expanduser().resolve()) if model and Path(model).expanduser().is_dir() else model
