"""Peak memory of a real ``depthforge serve`` per request at the default limits, and /v1/health meanwhile.

One server process (full-size Depth Anything V2 Small, random weights: the memory of a real model) is started;
for each case the process's peak RSS is reset (``/proc/PID/clear_refs`` 5, Linux) before the request and read
(``VmHWM``) after it, so each row is that request's own peak. A thread asks ``/v1/health`` every 0.5 s
throughout; its slowest answer is printed. Inputs are generated (no downloads): a 40-megapixel JPEG (the
``--max-pixels`` default) of smooth content, and a multi-page TIFF whose pages together exceed the limit.

Cases: ``/v1/depth`` (png16), ``/v1/stereo`` (left-right; wiggle with 2 and 16 frames), ``/v1/mesh`` (glb,
obj; point cloud ply) at 1 M vertices, the multi-page TIFF, the UI's parallax clip, bokeh at the largest aperture
and the depth mask with the widest edge (through ``gradio_client``, as a browser's calls), and the A1111 API's
``/depth/generate`` at processing sizes of 2048 and 4096 px, with ``net_size_match``, with the 8 stereo modes and
with every output (the server's ``--max-resolution`` decides which of the sizes run; ``net_size_match`` asks for
the photo's own 7296 px, capped to the limit, so its depth comes from the server's cache of the size before), and
``/v1/depth`` of a 16000x600 panorama, which an aspect-keeping model's own size rule would see at about 13800 px.

Run: ``.venv/bin/python benchmarks/server_memory.py [--model FOLDER] [--no-ui] [--size-only] [--max-resolution
PX] [--only TEXT,...]`` (default model: the one ``benchmarks/estimate.py`` builds in
``~/.cache/depthforge/benchmarks``).
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from depthforge.web.a1111 import STEREO_MODES

sys.path.insert(0, str(Path(__file__).parent))
from _machine import describe

#: The A1111 options that ask for every output, at the top of their ranges.
_EVERY_OUTPUT = {
    "gen_rembg": True,
    "save_background_removal_masks": True,
    "gen_stereo": True,
    "stereo_modes": list(STEREO_MODES),
    "stereo_divergence": 20.0,
    "stereo_separation": 20.0,
    "gen_normalmap": True,
    "normalmap_pre_blur": True,
    "normalmap_pre_blur_kernel": 31,
    "normalmap_post_blur": True,
    "normalmap_post_blur_kernel": 31,
    "gen_heatmap": True,
    "gen_simple_mesh": True,
}


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _photo(path: Path, h: int, w: int) -> None:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.dstack([xx * (255 / w), yy * (255 / h), (np.sin(xx / 97) * np.cos(yy / 61) + 1) * 127])
    Image.fromarray(rgb.astype(np.uint8)).save(path, quality=85)


def _multipage_tiff(path: Path) -> None:
    """Forty 6000x4000 pages of zeros, deflated: a few MB that would decode to about 2.9 GB."""
    page = Image.fromarray(np.zeros((4000, 6000, 3), np.uint8))
    page.save(path, save_all=True, append_images=[page] * 39, compression="tiff_adobe_deflate")


class Server:
    def __init__(self, model: str, *, max_resolution_px: int) -> None:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "depthforge", "serve", "--port", str(self.port), "--model", model),
                *("--a1111-api", "--max-resolution", str(max_resolution_px)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        import httpx

        for _ in range(600):
            try:
                httpx.get(self.url + "/v1/health", timeout=1.0)
                break
            except httpx.HTTPError:
                time.sleep(0.5)
        self.health: list[float] = []
        self._stop = threading.Event()
        threading.Thread(target=self._probe, daemon=True).start()

    def _probe(self) -> None:
        import httpx

        while not self._stop.is_set():
            t0 = time.perf_counter()
            try:
                httpx.get(self.url + "/v1/health", timeout=10.0).raise_for_status()
                self.health.append(time.perf_counter() - t0)
            except httpx.HTTPError:
                self.health.append(float("inf"))
            time.sleep(0.5)

    def measure(self, call: Any) -> tuple[str, float, float, float]:
        """(outcome, seconds, RSS in GB before the call, peak RSS in GB during the call)."""
        Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")
        before = _status_kb(self.proc.pid, "VmRSS") / 1e6
        t0 = time.perf_counter()
        outcome = call()
        return outcome, time.perf_counter() - t0, before, _status_kb(self.proc.pid, "VmHWM") / 1e6

    def stop(self) -> None:
        self._stop.set()
        self.proc.terminate()
        self.proc.wait(60)


def _post(server: Server, route: str, path: Path, **fields: Any) -> Any:
    import httpx

    def call() -> str:
        with path.open("rb") as fh:
            r = httpx.post(
                server.url + route,
                files={"image": (path.name, fh)},
                data={k: str(v) for k, v in fields.items()},
                timeout=900.0,
            )
        return f"{r.status_code} ({len(r.content) / 1e6:.1f} MB)" if r.status_code == 200 else str(r.status_code)

    return call


def _a1111(server: Server, path: Path, **options: Any) -> Any:
    import base64

    import httpx

    def call() -> str:
        body = {"depth_input_images": [base64.b64encode(path.read_bytes()).decode()], "options": options}
        r = httpx.post(server.url + "/depth/generate", json=body, timeout=1800.0)
        return f"{r.status_code} ({len(r.content) / 1e6:.1f} MB)" if r.status_code == 200 else str(r.status_code)

    return call


def _ui(server: Server, api_name: str, path: Path, **values: Any) -> Any:
    """A UI tab's callback through ``gradio_client``, as a browser's call (shared settings: default model, the
    model's own size, no detail passes)."""

    def call() -> str:
        from gradio_client import Client, handle_file

        client = Client(server.url + "/", verbose=False)
        shared = {"path": handle_file(str(path)), "depth_path": None, "model": "default", "resolution": 0}
        try:
            out = client.predict(**shared, detail="off", **values, api_name=api_name)
        except Exception as exc:  # noqa: BLE001 - reported as the outcome
            return f"error: {str(exc)[:80]}"
        first = out[0] if isinstance(out, (list, tuple)) else out
        return f"ok ({Path(first).stat().st_size / 1e6:.1f} MB)"

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path.home() / ".cache/depthforge/benchmarks/da-v2-small-random"
    parser.add_argument("--model", default=str(default))
    parser.add_argument("--no-ui", action="store_true", help="leave out the UI's parallax clip")
    parser.add_argument("--size-only", action="store_true", help="only the processing-size cases")
    parser.add_argument("--max-resolution", type=int, default=2048, help="the server's --max-resolution")
    parser.add_argument("--only", default="", help="run only the cases whose names contain one of these (commas)")
    args = parser.parse_args()
    print(describe())
    work = Path(tempfile.mkdtemp(prefix="df-mem-"))
    photo, tiff = work / "photo40.jpg", work / "pages.tif"
    _photo(photo, 5472, 7296)
    panorama = work / "panorama.jpg"
    _photo(panorama, 600, 16000)
    _multipage_tiff(tiff)
    print(f"inputs: 40-MP JPEG {photo.stat().st_size / 1e6:.1f} MB; 40-page TIFF {tiff.stat().st_size / 1e6:.1f} MB")
    server = Server(args.model, max_resolution_px=args.max_resolution)
    idle = _status_kb(server.proc.pid, "VmRSS") / 1e6
    print(f"server RSS after start: {idle:.2f} GB\n")
    cases: list[tuple[str, Any]] = [
        ("depth png16", _post(server, "/v1/depth", photo, format="png16")),
        ("stereo left-right", _post(server, "/v1/stereo", photo, layout="left-right")),
        ("stereo wiggle, 2 frames", _post(server, "/v1/stereo", photo, layout="wiggle", views=2)),
        ("stereo wiggle, 16 frames", _post(server, "/v1/stereo", photo, layout="wiggle", views=16)),
        ("mesh glb, 1 M vertices", _post(server, "/v1/mesh", photo, format="glb", target_vertices=1_000_000)),
        ("mesh obj, 1 M vertices", _post(server, "/v1/mesh", photo, format="obj", target_vertices=1_000_000)),
        (
            "point cloud ply, 1 M",
            _post(server, "/v1/mesh", photo, kind="pointcloud", format="ply", target_vertices=1_000_000),
        ),
        ("40-page TIFF (depth)", _post(server, "/v1/depth", tiff)),
    ]
    cases += [
        (
            "A1111 8 stereo modes, divergence 20",
            _a1111(server, photo, gen_stereo=True, stereo_modes=list(STEREO_MODES), stereo_divergence=20.0),
        ),
        ("A1111 every output", _a1111(server, photo, **_EVERY_OUTPUT)),
    ]
    if args.size_only:
        cases = []
    elif not args.no_ui:
        cases.append(
            ("UI parallax clip, 3 s", _ui(server, "/run_parallax", photo, motion="circle", dur=3.0, amt=2.0, focus=0.5))
        )
        cases += [
            ("UI bokeh, aperture 60, 9 blades", _ui(server, "/run_bokeh", photo, ap=60, blades=9, hi=8.0)),
            (
                "UI mask, depth, 50 px edge",
                _ui(server, "/run_mask", photo, method="depth", threshold=0, auto="otsu", largest=True, feather=50),
            ),
        ]
    cases += [
        ("A1111 depth, net_width 2048", _a1111(server, photo, net_width=2048)),
        ("A1111 depth, net_width 4096", _a1111(server, photo, net_width=4096)),
        ("A1111 depth, net_size_match", _a1111(server, photo, net_size_match=True)),
        ("depth png16, 16000x600 panorama", _post(server, "/v1/depth", panorama, format="png16")),
    ]
    print(f"{'request (40 MP photo)':34s} {'outcome':>16s} {'seconds':>8s} {'RSS before GB':>14s} {'peak RSS GB':>12s}")
    try:
        for name, call in cases:
            if not any(part in name for part in args.only.split(",")):
                continue
            outcome, seconds, before, peak = server.measure(call)
            print(f"{name:34s} {outcome:>16s} {seconds:8.1f} {before:14.2f} {peak:12.2f}", flush=True)
        print(f"server RSS at the end: {_status_kb(server.proc.pid, 'VmRSS') / 1e6:.2f} GB")
    finally:
        server.stop()
    finite = [h for h in server.health if h != float("inf")]
    print(
        f"\n/v1/health: {len(server.health)} probes, slowest {max(server.health):.2f} s, "
        f"median {float(np.median(finite)):.3f} s"
    )


if __name__ == "__main__":
    main()
