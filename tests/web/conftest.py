"""Fixtures for the web tests: a tiny local model, photos, and a real ``depthforge serve`` in a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def web_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Depth Anything folder (only this one: the web tests need no other family)."""
    from depthforge.models.testing import build_depth_anything

    return build_depth_anything(tmp_path_factory.mktemp("web_model") / "tiny-da")


@pytest.fixture(scope="session")
def web_photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real photograph, 600x400 landscape JPEG (scikit-image's coffee)."""
    from PIL import Image
    from skimage import data

    path = tmp_path_factory.mktemp("web_photo") / "coffee.jpg"
    Image.fromarray(data.coffee()).save(path, quality=90)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.proc.poll() is None


def start_server(model: Path, log: Path, *extra: str, timeout_s: float = 90.0) -> Server:
    """Start ``depthforge serve`` on a free loopback port and wait until /v1/health answers."""
    import httpx

    port = free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
    cmd = [
        sys.executable,
        "-m",
        "depthforge",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--model",
        str(model),
        *extra,
    ]
    fh = open(log, "wb")
    proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"{url}/v1/health", timeout=2).status_code == 200:
                return Server(url, proc, log)
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"server did not start in {timeout_s} s: {log.read_text(errors='replace')[-2000:]}")


def stop_server(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait(timeout=5)


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[object]:
    started: list[Server] = []

    def make(model: Path, *extra: str) -> Server:
        s = start_server(model, tmp_path / f"serve{len(started)}.log", *extra)
        started.append(s)
        return s

    yield make
    for s in started:
        stop_server(s)


def png_size(data: bytes) -> tuple[int, int, str]:
    """(width, height, PIL mode) of encoded image bytes."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return im.size[0], im.size[1], im.mode


def as_array(data: bytes) -> np.ndarray:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im)
