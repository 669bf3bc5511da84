"""Load: 100 concurrent ``POST /v1/depth`` against a real ``depthforge serve`` (subprocess, loopback only).

Every request succeeds or is refused with 429/503, the server survives, and its resident memory after the burst
is within 20 % of the memory before it (after one warm-up request that loads the model). Figures are printed.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.web.conftest import png_size

httpx = pytest.importorskip("httpx")
psutil = pytest.importorskip("psutil")
pytest.importorskip("uvicorn")

pytestmark = pytest.mark.slow

CONCURRENT = 100


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def test_100_concurrent_depth_requests(server_factory, web_model: Path, web_photo: Path) -> None:  # type: ignore[no-untyped-def]
    server = server_factory(web_model, "--no-ui", "--workers", "1", "--queue", "16", "--queue-timeout", "60")
    data = web_photo.read_bytes()
    url = f"{server.url}/v1/depth"
    warm = httpx.post(url, files={"image": ("coffee.jpg", data)}, timeout=120)
    assert warm.status_code == 200
    time.sleep(0.5)
    before = rss_mb(server.proc.pid)

    statuses: list[int | str] = [0] * CONCURRENT
    sizes: list[tuple[int, int] | None] = [None] * CONCURRENT
    start = threading.Barrier(CONCURRENT)

    def one(i: int) -> None:
        start.wait()
        try:
            r = httpx.post(url, files={"image": ("coffee.jpg", data)}, timeout=180)
            statuses[i] = r.status_code
            if r.status_code == 200:
                sizes[i] = png_size(r.content)[:2]
        except httpx.HTTPError as exc:
            statuses[i] = type(exc).__name__

    threads = [threading.Thread(target=one, args=(i,)) for i in range(CONCURRENT)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    elapsed = time.monotonic() - t0
    time.sleep(1.0)
    after = rss_mb(server.proc.pid)
    counts = {s: statuses.count(s) for s in sorted(set(statuses), key=str)}
    print(
        f"\nload: {CONCURRENT} concurrent POST /v1/depth in {elapsed:.1f} s: {counts}; "
        f"server RSS before {before:.1f} MB, after {after:.1f} MB ({(after / before - 1) * 100:+.1f} %)"
    )

    assert server.alive(), "the server crashed under load"
    assert set(statuses) <= {200, 429, 503}, counts
    assert counts.get(200, 0) >= 1
    assert all(s == (600, 400) for s, st in zip(sizes, statuses, strict=True) if st == 200)
    assert httpx.get(f"{server.url}/v1/health", timeout=10).json()["status"] == "ok"
    assert after <= before * 1.2, f"memory grew from {before:.1f} MB to {after:.1f} MB"
