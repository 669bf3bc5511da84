"""Safety of the web front ends: upload limits, model policy, per-session temporary areas, a concurrency gate.

Nothing here trusts the client: uploaded files are stored under names the server makes up, client file names
are only checked (and refused when they try to name a path), model names must be on an allow-list, and every
output lives in a temporary folder that is removed when the request (API) or the browser session (UI) ends,
or after ``ttl_s`` at the latest.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from depthforge.core.errors import DepthforgeError, TooLargeError, ValidationError
from depthforge.core.validation import check_range
from depthforge.geometry.projection import DEFAULT_FAR_M, DEFAULT_NEAR_M

__all__ = [
    "Limits",
    "TooLargeError",
    "BusyError",
    "ModelPolicy",
    "SessionAreas",
    "ConcurrencyGate",
    "check_client_filename",
    "renamed_field",
    "pseudo_range",
]

#: The bounds of the processing size (longer side the model sees, pixels) a server may allow clients to ask for
#: (``serve --max-resolution``).
MIN_RESOLUTION_PX = 64
MAX_RESOLUTION_PX = 4096

_SESSION_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class BusyError(DepthforgeError):
    """The server is at its concurrency limit (HTTP 429 when the queue is full, 503 after waiting too long)."""

    def __init__(self, message: str, *, status: int, retry_after_s: int = 5) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Limits:
    """What one request may use.

    Attributes:
        max_upload_bytes: largest accepted upload (bytes).
        max_pixels: largest accepted image (width x height), checked from the header before decoding.
        max_resolution_px: largest processing size a client may ask for (longer side the model sees, pixels,
            :data:`MIN_RESOLUTION_PX` to :data:`MAX_RESOLUTION_PX`). A model's time and memory grow with its square
            or faster; the default keeps one request within the README's memory bound.
        workers: jobs run at the same time (model runs, renders).
        queue: jobs allowed to wait for a worker; more are refused at once (429).
        queue_timeout_s: a job that waited this long is refused (503).
        ttl_s: a session area older than this is removed even when its session never said goodbye.
    """

    max_upload_bytes: int = 25 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_resolution_px: int = 2048
    workers: int = 1
    queue: int = 16
    queue_timeout_s: float = 120.0
    ttl_s: float = 3600.0

    @property
    def request_pixels(self) -> int:
        """Pixels one request may make or read in all (wiggle frames, the A1111 API's photos): twice
        :attr:`max_pixels`, as many as a stereo pair of the largest photo."""
        return 2 * self.max_pixels

    @property
    def batch_bytes(self) -> int:
        """Bytes the UI's Batch tab may store in all (uploads and unpacked zip members): eight of the largest
        uploads."""
        return 8 * self.max_upload_bytes

    @property
    def batch_pixels(self) -> int:
        """Pixels the UI's Batch tab may read in all: eight times :attr:`max_pixels`, as :attr:`batch_bytes` is
        eight uploads (eight of the largest photos, or 64 photos of 5 MP)."""
        return 8 * self.max_pixels

    def __post_init__(self) -> None:
        for name in ("max_upload_bytes", "max_pixels", "workers", "queue"):
            check_range(getattr(self, name), name, low=0 if name == "queue" else 1)
        check_range(self.max_resolution_px, "max_resolution", low=MIN_RESOLUTION_PX, high=MAX_RESOLUTION_PX)


def check_client_filename(name: str | None) -> None:
    """Refuse a client-supplied file name that tries to name a path (it is never used as one anyway).

    Refused: absolute paths (``/x``, ``C:\\x``, ``\\\\server``), any ``/`` or ``\\`` separator, ``..``, NUL and
    other control characters. A plain name such as ``photo.jpg`` (or no name) passes.

    Raises:
        ValidationError: naming the parameter ``filename``.
    """
    if not name:
        return
    bad = (
        "/" in name
        or "\\" in name
        or name in (".", "..")
        or name.startswith("..")
        or re.match(r"^[A-Za-z]:", name) is not None
        or any(ord(c) < 32 or ord(c) == 127 for c in name)
        or len(name) > 255
    )
    if bad:
        raise ValidationError(f"filename: {name[:80]!r} looks like a path; send a plain file name")


def renamed_field(value: float | None, old_value: float | None, name: str, old_name: str) -> float | None:
    """A form field sent under its name or under the old name it replaces (one of them, not both).

    Raises:
        ValidationError: both were sent (naming the field).
    """
    if value is not None and old_value is not None:
        raise ValidationError(f"{name}: sent twice, also as its old name {old_name}; send {name} only")
    return old_value if value is None else value


def pseudo_range(
    near_m: float | None, far_m: float | None, near: float | None, far: float | None
) -> tuple[float, float]:
    """The pseudo-depth range (metres) of relative maps from ``near_m`` / ``far_m`` or their old names, default
    1..10 as the command line's."""
    lo, hi = renamed_field(near_m, near, "near_m", "near"), renamed_field(far_m, far, "far_m", "far")
    return (DEFAULT_NEAR_M if lo is None else lo), (DEFAULT_FAR_M if hi is None else hi)


@dataclass
class ModelPolicy:
    """Which model names clients may ask for.

    Allowed: ``default`` (or nothing) = the operator's ``--model``; the operator's exact ``--model`` text; registry
    names whose weights are already in the local cache (or any registry name with ``allow_download``). Never a
    folder or a hub id chosen by the client, unless the operator lists it in ``extra``.
    """

    default: str
    allow_download: bool = False
    extra: tuple[str, ...] = ()

    def choices(self) -> list[str]:
        """The names to offer in the UI and the API listing, the default first."""
        from depthforge.models.hub import is_cached
        from depthforge.models.registry import REGISTRY

        names = [self.default, *self.extra]
        offered = (n for n, spec in REGISTRY.items() if self.allow_download or is_cached(spec))
        return names + [n for n in offered if n not in names]

    def resolve(self, requested: str | None) -> str:
        """The model to load for a client's request, or a ValidationError (nothing is loaded here)."""
        text = (requested or "").strip()
        if text in ("", "default"):
            return self.default
        if text in self.choices():
            return text
        raise ValidationError(f"model: {text[:80]!r} is not offered by this server (GET /v1/models lists the choices)")


@dataclass
class SessionAreas:
    """Per-session temporary folders under one server root, removed on request or when older than ``ttl_s``."""

    root: Path
    ttl_s: float = 3600.0
    _made: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def create(cls, *, ttl_s: float = 3600.0) -> SessionAreas:
        root = Path(tempfile.mkdtemp(prefix="depthforge-web-")).resolve()
        os.chmod(root, 0o700)
        return cls(root=root, ttl_s=ttl_s)

    def area(self, session: str | None = None) -> Path:
        """The folder of ``session`` (a fresh random one when None), created if needed."""
        key = session or secrets.token_hex(12)
        if not _SESSION_RE.match(key):
            raise ValidationError("session: invalid session id")
        path = self.root / key
        path.mkdir(mode=0o700, exist_ok=True)
        with self._lock:
            self._made.setdefault(key, time.monotonic())
        return path

    def file(self, area: Path, suffix: str) -> Path:
        """A fresh server-chosen file name inside ``area`` (which must be one of ours)."""
        if area.resolve().parent != self.root:
            raise ValidationError("area: not a session area of this server")
        if not re.match(r"^\.[a-z0-9]{1,5}$", suffix):
            raise ValidationError(f"suffix: {suffix!r} is not allowed")
        return area / f"{secrets.token_hex(8)}{suffix}"

    def remove(self, area_or_session: Path | str) -> None:
        """Remove a session's folder (no error when already gone)."""
        path = area_or_session if isinstance(area_or_session, Path) else self.root / area_or_session
        if path.resolve().parent != self.root:
            return
        shutil.rmtree(path, ignore_errors=True)
        with self._lock:
            self._made.pop(path.name, None)

    def sweep(self) -> int:
        """Remove areas older than ``ttl_s``; returns how many were removed."""
        now = time.monotonic()
        with self._lock:
            old = [k for k, t in self._made.items() if now - t > self.ttl_s]
        for key in old:
            self.remove(key)
        return len(old)

    def close(self) -> None:
        """Remove the whole root."""
        shutil.rmtree(self.root, ignore_errors=True)
        with self._lock:
            self._made.clear()


class _Waiter:
    """A request queued at the gate; ``wake`` tells it that it now holds a slot."""

    def __init__(self, wake: Callable[[], object]) -> None:
        self.wake = wake
        self.granted = False
        self.gone = False  # gave up (timed out or cancelled) before it was granted

    def grant(self) -> bool:
        """Hand this waiter a slot (called with the gate's lock held); False when it has already gone."""
        if self.gone:
            return False
        self.granted = True
        self.wake()
        return True


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class ConcurrencyGate:
    """At most ``workers`` jobs at once, at most ``queue`` waiting, served first come first served; the rest are
    refused (no unbounded backlog).

    A freed slot goes straight to the longest-waiting request (no request can overtake a queued one), whether it
    waits in a thread (:meth:`slot`, the UI's callbacks) or on the event loop (:meth:`aslot`, the API, holding no
    thread while it waits). Thread-safe.
    """

    def __init__(self, *, workers: int, queue: int, timeout_s: float) -> None:
        self.workers = int(workers)
        self.queue = int(queue)
        self.timeout_s = float(timeout_s)
        self._lock = threading.Lock()
        self._waiters: deque[_Waiter] = deque()
        self._free = self.workers
        self._running = 0
        self.refused = 0

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    @property
    def running(self) -> int:
        return self._running

    def _enter(self, waiter: _Waiter) -> bool:
        """Take a free slot (True), or queue ``waiter`` (False); refuse with 429 when the queue is full."""
        with self._lock:
            if self._free > 0 and not self._waiters:
                self._free -= 1
                self._running += 1
                return True
            if len(self._waiters) >= self.queue:
                self.refused += 1
                raise BusyError("server busy: too many requests waiting, retry later", status=429)
            self._waiters.append(waiter)
            return False

    def _give_up(self, waiter: _Waiter) -> bool:
        """A waiter stops waiting: True if it had been granted a slot meanwhile (it then holds it)."""
        with self._lock:
            if waiter.granted:
                return True
            waiter.gone = True
            self._waiters.remove(waiter)
            self.refused += 1
            return False

    def _release(self) -> None:
        with self._lock:
            self._running -= 1
            while self._waiters:
                if self._waiters.popleft().grant():
                    self._running += 1
                    return
            self._free += 1

    @asynccontextmanager
    async def aslot(self) -> AsyncIterator[None]:
        """:meth:`slot` for async code: waiting happens on the event loop, no thread is held while queued.

        Raises:
            BusyError: status 429 when the queue is full, 503 when no slot came within ``timeout_s``.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        waiter = _Waiter(lambda: loop.call_soon_threadsafe(_resolve, future))
        if not self._enter(waiter):
            try:
                await asyncio.wait_for(asyncio.shield(future), self.timeout_s)
            except (asyncio.TimeoutError, asyncio.CancelledError) as exc:
                if not self._give_up(waiter):
                    if isinstance(exc, asyncio.CancelledError):
                        raise
                    raise BusyError("server busy: waited too long for a worker, retry later", status=503) from None
        try:
            yield
        finally:
            self._release()

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a worker slot for the block.

        Raises:
            BusyError: status 429 when the queue is full, 503 when no slot came within ``timeout_s``.
        """
        event = threading.Event()
        waiter = _Waiter(event.set)
        if not self._enter(waiter):
            if not event.wait(self.timeout_s) and not self._give_up(waiter):
                raise BusyError("server busy: waited too long for a worker, retry later", status=503)
        try:
            yield
        finally:
            self._release()
