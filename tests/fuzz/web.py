"""Generated hostile web requests against a real ``depthforge serve`` process (the HTTP API, the Gradio UI and the
A1111-compatible API of ``serve --a1111-api``).

Each request must get an answer below 500 within its timeout, and no answer may carry a byte of a server file a
client named (a canary file made for the campaign, ``/etc/passwd``, ``/proc/self/environ``). Between requests
``/v1/health`` must answer within a second.
"""

from __future__ import annotations

import base64
import io
import json
import os
import random
import re
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


#: Complete images one or two pixels thin (every row is in the file): under the pixel limit, beyond a GIF's side.
_THIN = ((100_000, 1), (1, 64), (1, 1), (5000, 2), (3, 1))


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
        "thin": lambda: _png_bomb(*rng.choice(_THIN)),
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
    "detail": ("off", "auto", "4", "9", "16", "0", "17", "AUTO", "nan", "", "x" * 300),
}
#: Numbers as a form field may carry them: non-finite, out of range, denormal, not numbers at all.
_NUMBERS = ("nan", "-nan", "inf", "-inf", "1e309", "-1e309", "5e-324", "1e-300", "", "abc", "0x10", "1_0", " 0.5 ")
_FRACTIONS = ("0", "1", "0.2", "0.8", "-0.1", "1.5", *_NUMBERS)
_METRES = ("1", "10", "0.001", "3", "1e6", "1000001", "0", "-1", *_NUMBERS)
#: The fields each endpoint added after the first campaign (sent with a probability each, as the common ones).
_ENDPOINT_FIELDS: dict[str, dict[str, tuple[Any, ...]]] = {
    "depth": {"clip_near": _FRACTIONS, "clip_far": _FRACTIONS},
    "mesh": {"near_m": _METRES, "far_m": _METRES, "max_angle": ("87", "1", "0", "90", "91", "nan")},
    "photo3d": {"near_m": _METRES, "far_m": _METRES},
    "relief": {
        "width_mm": ("100", "0", "2000", "2001", *_NUMBERS),
        "relief_mm": ("10", "0", "-1", *_NUMBERS),
        "base_mm": ("2", "0", *_NUMBERS),
        "resolution_mm": ("0.4", "0.001", "100", *_NUMBERS),
        "smooth_mm": ("0", "1", "100", "-1", *_NUMBERS),
        "format": ("stl", "glb", "ply", "obj", ""),
    },
    "generate": {
        "prompt": ("a cat", "", "\x00", "x" * 100_000),
        "negative_prompt": ("", "blurry", "x" * 100_000),
        "steps": ("20", "0", "1000000", "x"),
        "guidance": ("7.5", "0", "nan", "inf"),
        "control_scale": ("1", "-1", "nan", "3"),
        "seed": ("0", "-1", "4294967296", "1e309"),
    },
}
#: New field name -> the deprecated name it replaced (both may arrive together).
_OLD_NAMES = {"clip_near": "near", "clip_far": "far", "near_m": "near", "far_m": "far"}
_NAMES = ("photo.jpg", "../../etc/passwd", "/etc/passwd", "C:\\x.jpg", "a\x00b.jpg", "x" * 400, "", "ok name.png")


def api_request(rng: random.Random) -> tuple[str, Request]:
    # /v1/generate is mounted only with --generate-model (a diffusion model): here it must answer 404, not fail
    endpoint = rng.choices(["depth", "stereo", "mesh", "photo3d", "relief", "generate"], weights=[3, 3, 3, 3, 2, 1])[0]
    label, data = _image_payload(rng)
    fields = {k: rng.choice(v) for k, v in _HOSTILE_FIELDS.items() if rng.random() < 0.25}
    newer = {k: rng.choice(v) for k, v in _ENDPOINT_FIELDS.get(endpoint, {}).items() if rng.random() < 0.4}
    if rng.random() < 0.3:  # a new name together with the deprecated one it replaced
        for new in [k for k in newer if k in _OLD_NAMES]:
            newer[_OLD_NAMES[new]] = rng.choice(_FRACTIONS if endpoint == "depth" else _METRES)
    fields.update(newer)
    name = rng.choice(_NAMES) if rng.random() < 0.2 else "photo.jpg"
    shown = ",".join(f"{k}={str(v)[:12]}" for k, v in sorted(newer.items()))

    def send(client: httpx.Client, url: str) -> httpx.Response:
        return client.post(f"{url}/v1/{endpoint}", files={"image": (name, data)}, data=fields, timeout=120)

    return f"api/{endpoint}/{label}" + (f"/{shown}" if shown else ""), send


# ------------------------------------------------------------------------------------ the A1111-compatible API
_RAW = "\x00raw:"  # marks a JSON token json.dumps cannot write (1e309 as written, not as Infinity)
_RAW_RE = re.compile(r'"\\u0000raw:([^"]*)"')


def _raw(token: str) -> str:
    return _RAW + token


@dataclass(frozen=True)
class _Filler:
    """A string of ``n`` ``A`` (valid base64), made only when the body is sent."""

    n: int


def _json_bytes(body: Any) -> bytes:
    """``body`` as JSON, NaN and Infinity included, with every :func:`_raw` token written as it is."""
    text = json.dumps(body, default=lambda o: "A" * o.n if isinstance(o, _Filler) else None)
    return _RAW_RE.sub(lambda m: m.group(1), text).encode()


#: Values of the wrong type or out of any range, for any field of the A1111 body.
_JSON_HOSTILE: tuple[Any, ...] = (
    None,
    True,
    -1,
    2**31,
    10**40,
    0.5,
    float("nan"),
    float("inf"),
    float("-inf"),
    _raw("1e309"),
    _raw("-1e309"),
    _raw("1e-400"),
    "",
    "nan",
    "x" * 5000,
    "../../etc/passwd",
    [],
    [1, "a"],
    {},
    {"path": "/etc/passwd"},
)
#: Values an A1111 client could send per option (most valid, some just outside the range); the others are booleans.
_A1111_VALUES: dict[str, tuple[Any, ...]] = {
    "compute_device": ("GPU", "CPU", "TPU"),
    "model_type": (None, 12, "depth_anything_v2_small", 0, 10, 15, -1, "dpt_large_384", "/etc", "x" * 300),
    "net_width": (64, 252, 518, 63, 4097, 0),
    "net_height": (64, 168, 4096, 10**9),
    "tiling_mode": (False, True),
    "output_depth_combine_axis": ("Horizontal", "Vertical", "Diagonal"),
    "clipdepth_mode": ("Range", "Outliers", "range"),
    "clipdepth_far": (0.0, 0.2, 0.9, 1.0, 1.5, -0.1),
    "clipdepth_near": (1.0, 0.8, 0.1, 0.0, 2.0),
    "stereo_modes": (
        [],
        ["left-right"],
        ["red-cyan-anaglyph", "cyan-red-reverseanaglyph"],
        ["left-right", "right-left", "top-bottom", "bottom-top", "left-only", "only-right"],
        ["left-right"] * 9,
        ["sideways"],
        "left-right",
        [None],
    ),
    "stereo_divergence": (0, 2.5, 20, 20.0001, -1),
    "stereo_separation": (-20, 0, 5, 20, 21),
    "stereo_fill_algo": ("none", "polylines_sharp", "x"),
    "stereo_offset_exponent": (0, 1e-9, 1, 10, 11),
    "stereo_balance": (-1, 0, 1, 1.1),
    "normalmap_pre_blur_kernel": (1, 3, 31, 0, 32, 2.5),
    "normalmap_sobel_kernel": (1, 3, 31, 0),
    "normalmap_post_blur_kernel": (1, 31, 33),
    "gen_inpainted_mesh": (False, True),
    "gen_inpainted_mesh_demos": (False, True),
    "pre_depth_background_removal": (False, True),
    "rembg_model": ("u2net", "isnet-anime", "x"),
}
_DATA_URLS = ("data:image/png;base64,", "data:image/jpeg;base64,", "data:text/html;base64,", "data:;base64,")
_NOT_BASE64 = ("not base64!", "////", "=", "YQ", "\u00e9\u00e9", "a b c", "\x00", "%%%", "data:image/png;base64,", " ")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _a1111_images(rng: random.Random) -> tuple[str, Any]:
    """The ``depth_input_images`` of one request (any JSON value), and what it is."""
    seeds = image_seeds()
    photo = seeds[rng.choice(sorted(seeds))]
    kinds = ["photo", "photos", "data-url", "mutated", "truncated", "not-base64", "bomb", "thin", "empty-string"]
    kinds += ["foreign", "pages", "empty-list", "thousands", "most", "wrong-types", "not-a-list", "one-too-large"]
    kind = rng.choice(kinds)
    if kind == "photo":
        return kind, [_b64(photo)]
    if kind == "photos":
        return kind, [_b64(seeds[k]) for k in rng.sample(sorted(seeds), 3)]
    if kind == "data-url":
        prefix = rng.choice(_DATA_URLS)
        return f"{kind}/{prefix[:16]}", [prefix + rng.choice([_b64(photo), "", "!!"]) + rng.choice(["", "\n", "=="])]
    if kind == "mutated":
        how, data = mutate_bytes(photo, rng)
        return f"{kind}/{how}", [_b64(data)]
    if kind == "truncated":
        text = _b64(photo)
        return kind, [text[: rng.randrange(len(text))]]
    if kind == "not-base64":
        return kind, [rng.choice(_NOT_BASE64)]
    if kind == "bomb":
        return kind, [_b64(_png_bomb(*rng.choice([(20000, 20000), (65535, 65535), (2**31 - 1, 1), (100_000, 100)])))]
    if kind == "thin":
        return kind, [_b64(_png_bomb(*rng.choice(_THIN)))]
    if kind == "empty-string":
        return kind, [""]
    if kind == "foreign":
        return kind, [_b64(rng.choice(list(_FOREIGN.values())))]
    if kind == "pages":
        return kind, [_b64(_multipage_tiff(200, 512))]
    if kind == "empty-list":
        return kind, []
    if kind == "thousands":
        n = rng.choice([17, 1000, 5000])
        return f"{kind}/{n}", [_b64(_png_bomb(8, 8))] * n
    if kind == "most":  # exactly the largest number of images one request may carry
        return kind, [_b64(photo)] * 16
    if kind == "wrong-types":
        return kind, [rng.choice(_JSON_HOSTILE) for _ in range(rng.randrange(1, 4))]
    if kind == "not-a-list":
        return kind, rng.choice([_b64(photo), None, 1, {"0": _b64(photo)}, float("nan")])
    # one image just above the campaign's upload limit (25 MB), as base64 text or decoded; the body below its limit
    over = rng.choice([4, 1024])
    return f"{kind}/{over}", [_Filler((25 * 1024 * 1024 * 4 // 3 + over + 3) // 4 * 4)]


def _a1111_options(rng: random.Random) -> tuple[str, Any]:
    """The ``options`` of one request (any JSON value), and the names of the hostile ones."""
    from depthforge.web.a1111 import A1111Options

    if rng.random() < 0.05:
        return "options-not-an-object", rng.choice([None, [], "boost", 1, _raw("1e309")])
    options: dict[str, Any] = {}
    odd = []
    hostile = rng.random() < 0.5  # else only values a client of the extension could send (most of them valid)
    for name in sorted(A1111Options.model_fields):
        if rng.random() < 0.12:
            if hostile and rng.random() < 0.3:
                options[name] = rng.choice(_JSON_HOSTILE)
                odd.append(name)
            else:
                options[name] = rng.choice(_A1111_VALUES.get(name, (True, False)))
    if rng.random() < 0.05:
        options[rng.choice(["no_such_option", "output_path", "__class__", "", "x" * 300])] = rng.choice(_JSON_HOSTILE)
        odd.append("unknown")
    return ",".join(odd[:4]), options


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def a1111_request(rng: random.Random) -> tuple[str, Request]:
    """A request to one of the A1111-compatible routes: hostile JSON bodies for ``/depth/generate``, odd methods
    and paths for the others."""
    kind = rng.choices(["generate", "raw", "nested", "oversize", "get"], weights=[70, 8, 7, 3, 12])[0]
    headers = {"content-type": "application/json"}
    body: Any
    if kind == "generate":
        what, images = _a1111_images(rng)
        odd, options = _a1111_options(rng)
        payload: dict[str, Any] = {"depth_input_images": images, "options": options}
        if rng.random() < 0.1:
            del payload["options"]
        if rng.random() < 0.05:
            del payload["depth_input_images"]
        if rng.random() < 0.05:
            payload[rng.choice(["unknown", "script_args", "depth_input_images "])] = rng.choice(_JSON_HOSTILE)
            odd += ",top-level"
        body = lambda: _json_bytes(payload)  # noqa: E731 - made when sent (a body may be 35 MB)
        label = f"a1111/generate/{what}" + (f"/{odd}" if odd else "")
    elif kind == "raw":
        body = rng.choice(
            [b"", b"{", b"\xff\xfe", b"null", b"[]", b'"x"', b"1e309", b"NaN", b'{"depth_input_images": "', b"{}" * 999]
        )
        if rng.random() < 0.3:
            headers = {"content-type": rng.choice(["text/plain", "multipart/form-data; boundary=b", "application/xml"])}
        label = f"a1111/raw/{body[:12]!r}"
    elif kind == "nested":
        depth = rng.choice([64, 500, 900, 1000, 100_000])  # 500-900: deeper than the 422 echo once went (a 500)
        where = rng.choice(["body", "images", "options", "option"])
        inner = _nested(depth)
        photo = _b64(image_seeds()["png"]).encode()
        body = {
            "body": inner,
            "images": b'{"depth_input_images": ' + inner + b"}",
            "options": b'{"depth_input_images": ["' + photo + b'"], "options": ' + inner + b"}",
            "option": b'{"depth_input_images": ["' + photo + b'"], "options": {"stereo_modes": ' + inner + b"}}",
        }[where]
        label = f"a1111/nested/{where}/{depth}"
    elif kind == "oversize":
        chunked = rng.random() < 0.5
        size = 36 * 1024 * 1024  # above the route's limit (the upload limit in base64, 4/3 of 25 MB, and a little)
        head = b'{"depth_input_images": ["'

        def chunks() -> Iterator[bytes]:
            yield head
            for _ in range(size // 65536):
                yield b"A" * 65536
            yield b'"]}'

        body = chunks if chunked else b"".join(chunks())
        label = f"a1111/oversize/{'chunked' if chunked else 'length'}"
    else:
        method = rng.choice(["GET", "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"])
        path = rng.choice(["/depth/version", "/depth/get_options", "/depth/generate", "/depth/version/", "/depth/"])
        query = rng.choice(["", "", "?x=../../etc/passwd", "?options=" + "a" * 5000, "?file=/proc/self/environ"])
        label = f"a1111/{method}{path}{query[:12]}"

        def send_get(client: httpx.Client, url: str) -> httpx.Response:
            return client.request(method, url + path + query, timeout=30)

        return label, send_get

    def send(client: httpx.Client, url: str) -> httpx.Response:
        content = body() if callable(body) else body
        return client.post(f"{url}/depth/generate", content=content, headers=headers, timeout=120)

    return label, send


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
    """``n`` requests, the same ones for the same seed: /v1 API, A1111 API, Gradio UI, oversized uploads."""
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.4:
            out.append(api_request(rng))
        elif r < 0.6:
            out.append(a1111_request(rng))
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
    with serve(context["model"], serverdir, "--max-upload-mb", "25", "--a1111-api") as server, httpx.Client() as client:
        if client.get(f"{server.url}/depth/version", timeout=10).status_code != 200:
            found.append(("startup", "a1111 off", "GET /depth/version did not answer 200: the A1111 routes are off"))
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
