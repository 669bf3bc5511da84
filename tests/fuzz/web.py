"""Generated hostile web requests against a real ``depthforge serve`` process (the HTTP API and the Gradio UI).

Each request must get an answer below 500 within its timeout, and no answer may carry a byte of a server file a
client named (a canary file made for the campaign, ``/etc/passwd``, ``/proc/self/environ``). Between requests
``/v1/health`` must answer within a second.
"""

from __future__ import annotations

import io
import json
import os
import random
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.fuzz.generators import _FOREIGN, _multipage_tiff, _png_bomb, image_seeds, mutate_bytes

SECRETS = (b"root:x:0:0", b"HOME=", b"PATH=")
HEALTH_LIMIT_S = 1.0


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(model: str, workdir: Path, *extra: str, timeout_s: float = 120.0) -> Iterator[Server]:
    """A real ``depthforge serve`` on a free loopback port (its temporary folders under ``workdir``)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = dict(
        os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1", TMPDIR=str(workdir)
    )
    log = workdir / f"serve-{port}.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "depthforge", "serve", "--port", str(port), "--model", model, *extra],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {log.read_text(errors='replace')[-2000:]}")
            try:
                if httpx.get(f"{url}/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.3)
        yield Server(url, proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def leftovers(workdir: Path) -> list[str]:
    """Temporary folders a stopped server left in ``workdir``."""
    return sorted(p.name for p in workdir.glob("depthforge-*"))


# ------------------------------------------------------------------------------------------------- requests
Request = Callable[[httpx.Client, str], httpx.Response]


def _image_payload(rng: random.Random) -> tuple[str, bytes]:
    seeds = image_seeds()
    choice = rng.random()
    if choice < 0.35:
        kind = rng.choice(sorted(seeds))
        return kind, seeds[kind]
    if choice < 0.8:
        kind = rng.choice(sorted(seeds))
        how, data = mutate_bytes(seeds[kind], rng)
        return f"{kind}/{how}", data
    special = {
        "foreign": lambda: rng.choice(list(_FOREIGN.values())),
        "pages": lambda: _multipage_tiff(200, 512),
        "bomb": lambda: _png_bomb(20000, 20000),
        "empty": lambda: b"",
    }
    name = rng.choice(sorted(special))
    return name, special[name]()


_HOSTILE_FIELDS: dict[str, tuple[Any, ...]] = {
    "format": ("png16", "npy", "glb", "../../etc/passwd", "", "x" * 5000),
    "model": ("default", "/etc", "../../", "https://example.com/m", "depth-anything-v2-large", "\x00", "x" * 300),
    "near": ("0.5", "-1", "nan", "inf", "1e309", "abc", ""),
    "far": ("0.1", "2", "nan", ""),
    "invert": ("true", "maybe", "1", ""),
    "layout": ("left-right", "wiggle", "separate", "nope"),
    "divergence": ("2.5", "-1", "1e9", "nan"),
    "views": ("16", "0", "100000", "x"),
    "frame_ms": ("20", "0", "-5"),
    "stride": ("1", "0", "64", "100000"),
    "target_vertices": ("16", "1000000", "0", "1e12"),
    "kind": ("mesh", "pointcloud", "volume"),
    "fov": ("60", "0", "180", "nan"),
    "max_jump": ("0.1", "0", "11"),
    "inpaint": ("telea", "learned", "onnx:/etc/passwd", "x" * 40),
    "layers": ("1", "6", "0", "100"),
}
_NAMES = ("photo.jpg", "../../etc/passwd", "/etc/passwd", "C:\\x.jpg", "a\x00b.jpg", "x" * 400, "", "ok name.png")


def api_request(rng: random.Random) -> tuple[str, Request]:
    endpoint = rng.choice(["depth", "stereo", "mesh", "photo3d"])
    label, data = _image_payload(rng)
    fields = {k: rng.choice(v) for k, v in _HOSTILE_FIELDS.items() if rng.random() < 0.25}
    name = rng.choice(_NAMES) if rng.random() < 0.2 else "photo.jpg"

    def send(client: httpx.Client, url: str) -> httpx.Response:
        return client.post(f"{url}/v1/{endpoint}", files={"image": (name, data)}, data=fields, timeout=120)

    return f"api/{endpoint}/{label}", send


def gradio_request(rng: random.Random, canary: Path) -> tuple[str, Request]:
    targets = [
        str(canary),
        "/etc/passwd",
        "/proc/self/environ",
        "/dev/zero",
        "/dev/urandom",
        "/proc/self/fd/0",
        f"{canary.parent}/../{canary.parent.name}/{canary.name}",
        "http://127.0.0.1:1/x",
        "file:///etc/passwd",
        "/tmp",
        "",
        "relative/path.png",
        "../../../../etc/passwd",
    ]
    target = rng.choice(targets)
    fns = ["run_depth", "run_mesh", "run_stereo", "run_bokeh", "run_parallax", "run_video", "run_mask", "run_batch"]
    fns += ["run_photo3d"]
    fn = rng.choice([*fns, "nope"])
    file_obj: Any = {"path": target, "meta": {"_type": "gradio.FileData"}}
    if rng.random() < 0.2:
        file_obj = {"path": target, "url": target, "orig_name": "x.png", "meta": {"_type": "gradio.FileData"}}
    if rng.random() < 0.1:
        file_obj = {"video": file_obj, "subtitles": None}
    data = [file_obj, "default", 0, "gray", False, 0, 1]
    if fn == "run_batch":  # a list of files, the model, the outputs, colour map, divergence
        data = [[file_obj], "default", ["depth16"], "gray", 2.5]
    style = rng.choice(["call", "run", "join", "file", "garbage", "route"])

    def send(client: httpx.Client, url: str) -> httpx.Response:
        if style == "call":
            r = client.post(f"{url}/gradio_api/call/{fn}", json={"data": data}, timeout=60)
            if r.status_code == 200:
                event = r.json().get("event_id")
                with client.stream("GET", f"{url}/gradio_api/call/{fn}/{event}", timeout=60) as s:
                    body = b"".join(s.iter_bytes())
                return httpx.Response(s.status_code, content=r.content + body)
            return r
        if style == "run":
            return client.post(f"{url}/gradio_api/run/{fn}", json={"data": data}, timeout=60)
        if style == "join":
            return client.post(
                f"{url}/gradio_api/queue/join",
                json={
                    "data": data,
                    "fn_index": rng.randrange(40),
                    "session_hash": secrets.token_hex(5),
                    "trigger_id": rng.randrange(99),
                },
                timeout=60,
            )
        if style == "file":
            return client.get(f"{url}/gradio_api/file={target}", timeout=60)
        if style == "garbage":
            body = rng.choice(
                [b"{", b"[" * 50_000 + b"]" * 50_000, b"\xff\xfe", json.dumps({"data": [target]}).encode()]
            )
            return client.post(
                f"{url}/gradio_api/queue/join", content=body, headers={"content-type": "application/json"}, timeout=60
            )
        route = rng.choice(
            [
                "/gradio_api/run-history/buckets",
                "/gradio_api/monitoring",
                "/gradio_api/vibe-code",
                "/gradio_api/process_recording",
                "/gradio_api/dev/reload",
                "/gradio_api/proxy=http://x/",
                "/gradio_api/stream/x/close",
                "/gradio_api/file/etc/passwd",
                "/monitoring",
            ]
        )
        return client.request(rng.choice(["GET", "POST"]), url + route, timeout=60)

    return f"gradio/{style}/{fn}/{target[:30]}", send


def oversize_request(rng: random.Random) -> tuple[str, Request]:
    size = 26 * 1024 * 1024 + rng.randrange(1024)

    def chunks() -> Iterator[bytes]:
        head = b'--b\r\nContent-Disposition: form-data; name="image"; filename="x.jpg"\r\n\r\n'
        yield head
        sent = 0
        while sent < size:
            yield b"\xff" * 65536
            sent += 65536
        yield b"\r\n--b--\r\n"

    chunked = rng.random() < 0.5

    def send(client: httpx.Client, url: str) -> httpx.Response:
        headers = {"content-type": "multipart/form-data; boundary=b"}
        content: Any = chunks() if chunked else b"".join(chunks())
        return client.post(f"{url}/v1/depth", content=content, headers=headers, timeout=120)

    return f"oversize/{'chunked' if chunked else 'length'}", send


def requests(rng: random.Random, canary: Path, n: int) -> list[tuple[str, Request]]:
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.5:
            out.append(api_request(rng))
        elif r < 0.97:
            out.append(gradio_request(rng, canary))
        else:
            out.append(oversize_request(rng))
    return out


def health_latency(client: httpx.Client, url: str) -> float:
    t0 = time.perf_counter()
    try:
        client.get(f"{url}/v1/health", timeout=10)
    except httpx.HTTPError:
        return 10.0
    return time.perf_counter() - t0


def campaign(context: dict[str, str], *, seed: int, n: int, workdir: Path) -> tuple[Counter[str], list[tuple]]:
    """``n`` generated requests against one server; returns (outcome counts, [(label, outcome, detail)])."""
    rng = random.Random(seed)
    canary = workdir / "canary.txt"
    workdir.mkdir(parents=True, exist_ok=True)
    token = f"DFCANARY-{secrets.token_hex(8)}".encode()
    canary.write_bytes(token)
    counts: Counter[str] = Counter()
    found: list[tuple] = []
    serverdir = workdir / "server"
    with serve(context["model"], serverdir, "--max-upload-mb", "25") as server, httpx.Client() as client:
        for i, (label, send) in enumerate(requests(rng, canary, n)):
            try:
                r = send(client, server.url)
                status = r.status_code
                body = r.content
            except httpx.TimeoutException:
                counts["hang"] += 1
                found.append((label, "hang", "no answer within the timeout"))
                continue
            except httpx.HTTPError as exc:  # a closed connection (e.g. an oversized body cut short) is an answer
                counts["closed"] += 1
                if "oversize" not in label:
                    found.append((label, "closed", type(exc).__name__))
                continue
            outcome = f"{status // 100}xx"
            if status >= 500:
                found.append((label, f"status {status}", body[:200].decode(errors="replace")))
            if token in body or any(s in body for s in SECRETS):
                outcome = "leak"
                found.append((label, "leak", body[:120].decode(errors="replace")))
            counts[outcome] += 1
            if i % 10 == 0:
                latency = health_latency(client, server.url)
                if latency > HEALTH_LIMIT_S:
                    found.append((label, "slow health", f"{latency:.2f} s"))
            if server.proc.poll() is not None:
                found.append((label, "server died", server.log.read_text(errors="replace")[-300:]))
                break
    stray = leftovers(serverdir)
    if stray:
        found.append(("server stop", "stray-temp", ", ".join(stray)))
    return counts, found


def rss_peak_during(pid: int, action: Callable[[], Any], *, every_s: float = 0.02) -> tuple[Any, int]:
    """Run ``action`` while sampling the resident memory of process ``pid``; returns (its result, peak bytes)."""
    import psutil

    proc = psutil.Process(pid)
    peak = [proc.memory_info().rss]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                peak[0] = max(peak[0], proc.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(every_s)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        result = action()
    finally:
        done.set()
        t.join()
    return result, peak[0]


def png_of(width: int, height: int) -> bytes:
    """A photo-like PNG of the given size (smooth gradient plus texture, compresses to a few MB)."""
    import numpy as np
    from PIL import Image

    yy, xx = np.mgrid[0:height, 0:width]
    a = np.stack([(xx * 255 // max(width, 1)), (yy * 255 // max(height, 1)), ((xx ^ yy) & 0xFF)], axis=2)
    buf = io.BytesIO()
    Image.fromarray(a.astype(np.uint8)).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()
