"""Attacks on a real ``depthforge serve`` process: server files through Gradio's API, devices that never end, bombs,
oversized and slow requests, and a clean stop. Each one a finding of the hostile-input issue, now a regression test.
"""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fuzz.web import Server, health_latency, leftovers, png_of, rss_peak_during, serve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(web_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(str(web_model), tmp_path_factory.mktemp("hostile-server"), "--max-pixels", "4000000") as s:
        yield s


@pytest.fixture(scope="module")
def canary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("secret") / "canary.txt"
    p.write_text("DFCANARY-the-server-must-never-send-this")
    return p


def _call(client: httpx.Client, url: str, path: str, fn: str = "run_depth") -> tuple[int, bytes]:
    """Gradio API call with a file reference; the status and everything the server sent (events included)."""
    # run_depth's inputs: photo, own depth file, model, processing size, detail, the own file's kind and scale, colour
    # map, invert, clip far, near
    from depthforge.web.ui_parts import OWN_KINDS

    kind = next(iter(OWN_KINDS))
    data = [
        {"path": path, "meta": {"_type": "gradio.FileData"}},
        None,
        "default",
        0,
        "off",
        kind,
        0,
        "gray",
        False,
        0,
        1,
    ]
    r = client.post(f"{url}/gradio_api/call/{fn}", json={"data": data}, timeout=30)
    if r.status_code != 200:
        return r.status_code, r.content
    event = r.json()["event_id"]
    events = client.get(f"{url}/gradio_api/call/{fn}/{event}", timeout=60)
    return events.status_code, r.content + events.content


@pytest.mark.parametrize(
    "target",
    [
        "/etc/passwd",
        "/proc/self/environ",
        "canary",
        "/dev/zero",
        "/dev/urandom",
        "link-to-canary",
        "http://127.0.0.1:9/x",
        "../../../../etc/passwd",
    ],
)
def test_client_file_references_outside_the_uploads_are_refused(
    server: Server, canary: Path, target: str, tmp_path: Path
) -> None:
    if target == "canary":
        target = str(canary)
    elif target == "link-to-canary":
        link = tmp_path / "innocent.png"
        link.symlink_to(canary)
        target = str(link)
    with httpx.Client() as client:
        status, body = _call(client, server.url, target)
        assert status == 403, body[:200]
        assert b"DFCANARY" not in body and b"root:x:0:0" not in body and b"PATH=" not in body
        for path in (target, "/etc/passwd", str(canary)):
            r = client.get(f"{server.url}/gradio_api/file={path}", timeout=10)
            assert r.status_code in (403, 404) and b"DFCANARY" not in r.content and b"root:x" not in r.content
        assert health_latency(client, server.url) < 1.0


def test_uploaded_files_still_work_through_the_api(server: Server, web_photo: Path) -> None:
    with httpx.Client() as client:
        up = client.post(f"{server.url}/gradio_api/upload", files={"files": ("p.jpg", web_photo.read_bytes())})
        assert up.status_code == 200
        status, body = _call(client, server.url, up.json()[0])
        assert status == 200 and b"event: complete" in body and b"depth_16bit.png" in body


@pytest.mark.parametrize(
    "route",
    [
        "/gradio_api/run-history/buckets",
        "/gradio_api/vibe-code",
        "/gradio_api/monitoring",
        "/gradio_api/process_recording",
        "/gradio_api/dev/reload",
        "/gradio_api/file/x",
    ],
)
def test_gradio_routes_the_ui_does_not_use_are_not_served(server: Server, route: str) -> None:
    for method in ("GET", "POST"):
        assert httpx.request(method, server.url + route, timeout=10).status_code == 404


def test_health_answers_within_a_second_while_a_request_runs(server: Server) -> None:
    photo = png_of(2000, 1500)  # the largest request this server allows is a few megapixels
    latencies: list[float] = []
    done = threading.Event()

    def heavy() -> None:
        with httpx.Client() as c:
            for fields in ({"format": "obj", "target_vertices": "1000000"}, {"layout": "wiggle", "views": "2"}):
                endpoint = "mesh" if "format" in fields else "stereo"
                r = c.post(f"{server.url}/v1/{endpoint}", files={"image": ("p.png", photo)}, data=fields, timeout=300)
                assert r.status_code == 200
        done.set()

    worker = threading.Thread(target=heavy)
    worker.start()
    with httpx.Client() as client:
        while not done.is_set():
            latencies.append(health_latency(client, server.url))
            time.sleep(0.05)
    worker.join()
    assert len(latencies) > 5 and max(latencies) < 1.0, f"slowest health answer {max(latencies):.2f} s"


def test_multipage_tiff_and_pixel_bombs_are_refused_without_memory(server: Server) -> None:
    import psutil

    from tests.fuzz.generators import _multipage_tiff, _png_bomb

    with httpx.Client() as client:
        for name, data in (("pages.tiff", _multipage_tiff(300, 512)), ("bomb.png", _png_bomb(30000, 30000))):
            before = psutil.Process(server.proc.pid).memory_info().rss
            r, peak = rss_peak_during(
                server.proc.pid,
                lambda d=data, n=name: client.post(f"{server.url}/v1/depth", files={"image": (n, d)}, timeout=60),
            )
            assert r.status_code == 413 and "megapixels" in r.json()["detail"]
            assert peak - before < 64 * 2**20, f"{name}: the server grew by {(peak - before) / 2**20:.0f} MB"


def test_oversized_streamed_upload_gets_413(server: Server) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="image"; filename="x.jpg"\r\n\r\n'
        for _ in range(27 * 16):
            yield b"\xff" * 65536
        yield b"\r\n--b--\r\n"

    r = httpx.post(
        f"{server.url}/v1/depth",
        content=chunks(),
        timeout=60,
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert r.status_code == 413


def test_slow_request_heads_are_cut_off(server: Server) -> None:
    from depthforge.web.guard import HEAD_TIMEOUT_S

    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=HEAD_TIMEOUT_S + 10) as s:
        s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
        t0 = time.monotonic()
        closed = False
        while time.monotonic() - t0 < HEAD_TIMEOUT_S + 8:
            try:
                s.sendall(b"X-a: b\r\n")  # one header line at a time, never finishing the head
            except OSError:
                closed = True
                break
            s.settimeout(1.0)
            try:
                if s.recv(1024) == b"":
                    closed = True
                    break
            except TimeoutError:
                pass
    assert closed and time.monotonic() - t0 < HEAD_TIMEOUT_S + 4


def test_sigterm_stops_with_status_0_and_no_temporary_folders(web_model: Path, tmp_path: Path, web_photo: Path) -> None:
    with serve(str(web_model), tmp_path) as s:
        r = httpx.post(f"{s.url}/v1/depth", files={"image": ("p.jpg", web_photo.read_bytes())}, timeout=120)
        assert r.status_code == 200
        assert leftovers(tmp_path), "the server's folders should exist while it runs"
        s.proc.send_signal(signal.SIGTERM)
        assert s.proc.wait(timeout=30) == 0
    assert leftovers(tmp_path) == []
    assert "Traceback" not in s.log.read_text(errors="replace")


def test_paths_in_queued_json_are_refused(server: Server) -> None:
    r = httpx.post(
        f"{server.url}/gradio_api/queue/join",
        content=json.dumps({"data": ["/etc/passwd"]}),
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert r.status_code < 500 and b"root:x" not in r.content


def test_a_port_in_use_is_one_line_and_status_2(web_model: Path, tmp_path: Path) -> None:
    # user trial: it said "serving on http://...", then uvicorn's "address already in use", and status 3 (a bug)
    import os
    import subprocess
    import sys

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "depthforge", "serve", "--port", str(port), "--model", str(web_model), "--no-ui"],
            capture_output=True,
            text=True,
            timeout=120,
            env=dict(os.environ, HF_HUB_OFFLINE="1", TMPDIR=str(tmp_path)),
        )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"depthforge: error: --port: cannot listen on 127.0.0.1:{port}: Address already in use (choose another --port)"
    ]
    assert leftovers(tmp_path) == []
