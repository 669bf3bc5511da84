"""What the server refuses before any handler runs: oversized bodies, file references that name server paths, unknown
Gradio routes, and connections that send their request too slowly.

* :class:`BodyLimit`: a request body above the limit gets 413, whether it announces its length or streams chunks.
* :class:`GradioGuard`: in front of the mounted Gradio UI. Only the routes the UI uses are served (404 for the
  rest). Every JSON body is parsed here, and every file reference in it (``{"path": ...}``, as Gradio's API
  accepts from clients) must name a file uploaded to *this* server's upload folder: a server path such as
  ``/etc/passwd`` or ``/dev/zero``, a URL, or a link out of the folder is refused with 403 before Gradio could copy,
  read or fetch it. ``/gradio_api/file=`` serves only files under the upload folder and the session areas.
* :class:`GuardedH11Protocol`: uvicorn's HTTP/1.1 protocol with deadlines: the request head must arrive within
  ``HEAD_TIMEOUT_S`` of the connection (or of the previous response), and a request body may not pause for more
  than ``BODY_IDLE_S``; slow-loris connections are closed instead of held forever.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import h11
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["BodyLimit", "GradioGuard", "GuardedH11Protocol", "HEAD_TIMEOUT_S", "BODY_IDLE_S"]

HEAD_TIMEOUT_S = 10.0
BODY_IDLE_S = 30.0
_MAX_JSON_BYTES = 1 << 20


class _BodyTooLarge(Exception):
    pass


async def send_json(send: Send, status: int, detail: str) -> None:
    """A complete JSON error response ``{"detail": ...}``."""
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """ASGI middleware: refuse request bodies above ``limit`` bytes (413) before they are parsed or stored."""

    def __init__(self, app: ASGIApp, *, limit: int, prefix: str = "/v1/") -> None:
        self.app = app
        self.limit = limit
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        for key, value in scope.get("headers", []):
            if key == b"content-length":
                try:
                    size = int(value)
                except ValueError:
                    size = -1
                if size < 0 or size > self.limit:
                    await send_json(send, 413, f"request body above the server's limit of {self.limit} bytes")
                    return
        seen = 0
        started = False
        too_large = False

        async def counting_receive() -> Message:
            nonlocal seen, too_large
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    too_large = True
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if too_large and not started:  # the handler turned our exception into its own error: answer 413
                raise _BodyTooLarge
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await send_json(send, 413, f"request body above the server's limit of {self.limit} bytes")


#: Routes of the mounted UI the browser uses, by method: a path, or a path prefix ending in "/" or "="; the rest 404.
_UI_ROUTES = {
    "GET": (
        "/ /config /config/ /info /info/ /theme.css /robots.txt /favicon.ico /manifest.json /assets/ /static/ /svelte/"
        " /pwa_icon /gradio_api/info /gradio_api/info/ /gradio_api/config /gradio_api/heartbeat/ /gradio_api/queue/data"
        " /gradio_api/upload_progress /gradio_api/file= /gradio_api/startup-events /gradio_api/call/"
        " /gradio_api/theme.css"
    ).split(),
    "POST": (
        "/gradio_api/queue/join /gradio_api/upload /gradio_api/cancel /gradio_api/call/ /gradio_api/run/"
        " /gradio_api/api/ /gradio_api/reset /gradio_api/reset/"
    ).split(),
}


def _allowed_route(method: str, path: str) -> bool:
    routes = _UI_ROUTES.get("GET" if method == "HEAD" else method, [])
    return any(path == r or (r != "/" and r.endswith(("/", "=")) and path.startswith(r)) for r in routes)


def _inside(path: str, folders: Iterable[Path]) -> bool:
    """Whether ``path`` (a server path a client sent) resolves, links followed, to a file inside one of ``folders``."""
    if not path or "\x00" in path:
        return False
    real = os.path.realpath(path)
    return any(real.startswith(str(f) + os.sep) for f in folders) and os.path.isfile(real)


def _file_references(data: Any) -> Iterable[Any]:
    """Every value a Gradio component could take as a file path (``path`` and ``url`` of any object)."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key in ("path", "url"):
                if key in item:
                    yield key, item[key]
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


class GradioGuard:
    """ASGI middleware in front of the mounted Gradio UI (see the module docstring).

    Args:
        app: the application (the API with the UI mounted at ``mount``).
        mount: where the UI is mounted (``/``); paths of the API itself (``/v1/``, ``/docs``, ``/openapi.json``)
            pass untouched.
        uploads: the folder Gradio stores this server's uploads in; client file references must point inside.
        served: further folders ``/gradio_api/file=`` may serve (the session areas with the outputs).
        api_routes: further exact paths of the API that pass untouched (the A1111-compatible routes when on).
    """

    def __init__(
        self, app: ASGIApp, *, mount: str, uploads: Path, served: Iterable[Path] = (), api_routes: Iterable[str] = ()
    ) -> None:
        self.app = app
        self.api_routes = frozenset(api_routes)
        self.mount = mount.rstrip("/")
        self.uploads = Path(os.path.realpath(uploads))
        self.served = (self.uploads, *(Path(os.path.realpath(f)) for f in served))

    def _ui_path(self, path: str) -> str | None:
        if path.startswith(("/v1/", "/docs", "/openapi.json", "/redoc")) or path in self.api_routes:
            return None
        if self.mount and not (path == self.mount or path.startswith(self.mount + "/")):
            return None
        return path[len(self.mount) :] or "/"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = self._ui_path(str(scope.get("path", ""))) if scope["type"] == "http" else None
        if path is None:
            await self.app(scope, receive, send)
            return
        method = str(scope.get("method", "GET"))
        if not _allowed_route(method, path):
            await send_json(send, 404, "not found")
            return
        if path.startswith("/gradio_api/file=") and not _inside(unquote(path[len("/gradio_api/file=") :]), self.served):
            await send_json(send, 403, "file: not a file of this server's uploads or results")
            return
        # only POST bodies carry file references (file= is GET only); uploads are stored under names Gradio makes
        if method != "POST" or path == "/gradio_api/upload":
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = bool(message.get("more_body"))
            if len(body) > _MAX_JSON_BYTES:
                await send_json(send, 413, f"request body above {_MAX_JSON_BYTES} bytes")
                return
        problem = self._check(body)
        if problem is not None:
            await send_json(send, problem[0], problem[1])
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _check(self, body: bytes) -> tuple[int, str] | None:
        if not body.strip():
            return None
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            return 400, "body: not JSON"
        for key, value in _file_references(data):
            if key == "url":
                continue  # Gradio never reads a client's url for an input; the path is what it copies
            if not isinstance(value, str) or not _inside(value, (self.uploads,)):
                return 403, "file: only files uploaded to this server may be referenced"
        return None


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with request deadlines (see the module docstring)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._df_head_since = self.loop.time()
        self._df_last_data = self._df_head_since
        self._df_watch = self.loop.call_later(1.0, self._df_check)

    def data_received(self, data: bytes) -> None:
        self._df_last_data = self.loop.time()
        super().data_received(data)

    def on_response_complete(self) -> None:
        self._df_head_since = self.loop.time()
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._df_watch.cancel()
        super().connection_lost(exc)

    def _df_check(self) -> None:
        if self.transport.is_closing():
            return
        now = self.loop.time()
        waiting_head = self.cycle is None or self.cycle.response_complete
        late_head = waiting_head and now - self._df_head_since > HEAD_TIMEOUT_S
        stalled_body = (
            not waiting_head and self.conn.their_state is h11.SEND_BODY and (now - self._df_last_data > BODY_IDLE_S)
        )
        if late_head or stalled_body:
            self.transport.close()
            return
        self._df_watch = self.loop.call_later(1.0, self._df_check)
