"""The AUTOMATIC1111-compatible API (``depthforge serve --a1111-api``): a client written against the depthmap
extension's documented request shape gets decodable images back; bad options are named in a 422, unknown ones are
ignored (as the extension ignores them) and named in ``info``; schemathesis
on the new routes gives no 5xx; the guard admits exactly the new routes, and only when they are on."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis")

from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402

from depthforge.web.a1111 import A1111_ROUTES  # noqa: E402
from depthforge.web.app import create_api  # noqa: E402
from depthforge.web.operations import ServerConfig  # noqa: E402
from depthforge.web.safety import Limits  # noqa: E402

LIMITS = Limits(max_upload_bytes=2_000_000, max_pixels=1_000_000, workers=1, queue=8)


@pytest.fixture(scope="module")
def app(web_model: Path):  # type: ignore[no-untyped-def]
    application = create_api(ServerConfig(model=str(web_model), limits=LIMITS), a1111=True)
    yield application
    application.state.engine.close()


@pytest.fixture(scope="module")
def client(app) -> TestClient:  # type: ignore[no-untyped-def]
    return TestClient(app)


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def decode(text: str) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(base64.b64decode(text))) as im:
        return np.asarray(im)


def test_version_and_options(client: TestClient) -> None:
    assert "depthforge" in client.get("/depth/version").json()["version"]
    names = client.get("/depth/get_options").json()["options"]
    assert names == sorted(names)
    for name in ("model_type", "net_width", "boost", "output_depth_invert", "clipdepth", "output_depth_combine"):
        assert name in names
    for name in ("gen_stereo", "stereo_modes", "stereo_divergence", "gen_normalmap", "gen_simple_mesh", "gen_rembg"):
        assert name in names


def test_client_gets_the_extensions_outputs(client: TestClient, web_photo: Path) -> None:
    # the request a client of the extension sends (its README / api: images as base64, options by name)
    body = {
        "depth_input_images": [b64(web_photo), "data:image/jpeg;base64," + b64(web_photo)],
        "options": {
            "compute_device": "GPU",
            "net_width": 252,
            "net_height": 168,
            "output_depth_invert": False,
            "clipdepth": True,
            "clipdepth_far": 0.1,
            "clipdepth_near": 0.9,
            "gen_stereo": True,
            "stereo_modes": ["left-right", "red-cyan-anaglyph"],
            "stereo_divergence": 2.5,
            "gen_normalmap": True,
            "gen_heatmap": True,
            "gen_simple_mesh": True,
        },
    }
    r = client.post("/depth/generate", json=body)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["info"] == "Success"
    images = [decode(t) for t in data["images"]]
    assert len(images) == 2 * 5  # per photo: depth, two stereo images, normal map, heat map
    depth, sbs, anaglyph, normals, heat = images[:5]
    assert depth.shape == (400, 600) and depth.dtype == np.uint16
    assert depth.max() == 65535 and depth.min() == 0  # clipped: the nearest 10 % white, the farthest 10 % black
    assert sbs.shape == (400, 1200, 3) and anaglyph.shape == (400, 600, 3)
    assert normals.shape == heat.shape == (400, 600, 3)
    assert np.array_equal(images[0], images[5])  # the same photo gives the same depth
    assert len(data["meshes"]) == 2 and base64.b64decode(data["meshes"][0])[:4] == b"glTF"

    inverted = client.post(
        "/depth/generate",
        json={"depth_input_images": [b64(web_photo)], "options": {"output_depth_invert": True, "net_width": 252}},
    ).json()["images"]
    plain = client.post(
        "/depth/generate", json={"depth_input_images": [b64(web_photo)], "options": {"net_width": 252}}
    ).json()["images"]
    assert np.array_equal(decode(inverted[0]).astype(int), 65535 - decode(plain[0]).astype(int))


def test_combine_and_background_removal(client: TestClient, web_photo: Path) -> None:
    options = {"output_depth_combine": True, "gen_rembg": True, "save_background_removal_masks": True}
    r = client.post("/depth/generate", json={"depth_input_images": [b64(web_photo)], "options": options})
    assert r.status_code == 200, r.text
    cut, mask, combined = (decode(t) for t in r.json()["images"])
    assert cut.shape == (400, 600, 4) and mask.shape == (400, 600, 4) and combined.shape == (400, 1200, 3)
    assert set(np.unique(mask)) == {0, 255} and 0 < (mask[..., 0] == 255).mean() < 1  # the extension's RGBA 0/255
    assert np.all(cut[..., 3][mask[..., 0] == 0] < 128)  # the cut-out keeps its soft edge; the mask is hard
    # the heat map spans the 2nd to 85th percentile, as the extension's: the nearest 15 % at the colour map's top
    heat = decode(
        client.post(
            "/depth/generate",
            json={"depth_input_images": [b64(web_photo)], "options": {"gen_heatmap": True, "do_output_depth": False}},
        ).json()["images"][0]
    )
    top = np.all(heat == heat.reshape(-1, 3)[np.argmax(heat.reshape(-1, 3).sum(axis=1))], axis=2).mean()
    assert 0.14 <= top <= 0.17, top


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"stereo_divergence": 500}, "stereo_divergence"),
        ({"stereo_modes": ["sideways"]}, "stereo_modes"),
        ({"gen_inpainted_mesh": True}, "gen_inpainted_mesh"),
        ({"model_type": 10}, "model_type"),
        ({"model_type": "my/own/folder"}, "model_type"),
        ({"model_type": 12}, "model"),  # a registry model this server does not allow (not cached, no download)
        ({"clipdepth": True, "clipdepth_far": 0.8, "clipdepth_near": 0.2}, "clipdepth_far: 0.8 must be below"),
        ({"clipdepth": True, "clipdepth_mode": "Outliers", "clipdepth_far": 0.5, "clipdepth_near": 0.5}, "clipdepth"),
    ],
)
def test_bad_options_are_named_in_a_422(client: TestClient, web_photo: Path, options: dict, named: str) -> None:
    r = client.post("/depth/generate", json={"depth_input_images": [b64(web_photo)], "options": options})
    assert r.status_code == 422, r.text
    assert named in r.text


def test_the_extensions_leniency_and_meanings(client: TestClient, web_photo: Path) -> None:
    """User trial 9, against the extension's code: names in any case and unknown names ignored (core.py), one stereo
    mode as a string, base64 wrapped at 76 columns (A1111's decoder), each eye moved by the whole separation with
    the left eye to the left (stereoimage_generation.py), an inverted normal map still facing the viewer."""
    import cv2

    wrapped = "\n".join(b64(web_photo)[i : i + 76] for i in range(0, len(b64(web_photo)), 76)) + "\n"
    options = {"GEN_STEREO": True, "Stereo_Modes": "left-only", "stereo_divergence": 0, "future_option": 1}
    r = client.post("/depth/generate", json={"depth_input_images": [wrapped], "options": options})
    assert r.status_code == 200, r.text
    assert r.json()["info"] == "Success; ignored options unknown to the extension: future_option"
    assert len(r.json()["images"]) == 2  # the depth and the one stereo mode

    def shift(separation: float, mode: str, *, balance: float = 0.0) -> float:
        opts = {"gen_stereo": True, "stereo_modes": [mode], "stereo_divergence": 0, "stereo_separation": separation}
        opts["stereo_balance"] = balance
        r = client.post("/depth/generate", json={"depth_input_images": [b64(web_photo)], "options": opts})
        photo = cv2.cvtColor(cv2.imread(str(web_photo)), cv2.COLOR_BGR2GRAY).astype(np.float32)
        eye = cv2.cvtColor(decode(r.json()["images"][1])[:, :, :3], cv2.COLOR_RGB2GRAY).astype(np.float32)
        (dx, _), _ = cv2.phaseCorrelate(photo, eye)
        return float(dx)

    width = cv2.imread(str(web_photo)).shape[1]
    assert shift(2.0, "left-only") == pytest.approx(-0.02 * width, abs=1.0)  # uncrossed: the scene farther
    assert shift(2.0, "only-right") == pytest.approx(0.02 * width, abs=1.0)
    # at balance -1 the extension keeps the photo as the left eye: the pair is one separation apart (review)
    assert shift(2.0, "only-right", balance=-1.0) - shift(2.0, "left-only", balance=-1.0) == pytest.approx(
        0.02 * width, abs=1.0
    )
    twice = {"gen_stereo": False, "GEN_STEREO": True}
    r = client.post("/depth/generate", json={"depth_input_images": [b64(web_photo)], "options": twice})
    assert r.status_code == 422 and "a name given twice" in r.text
    images = []
    for invert in (False, True):
        opts = {"gen_normalmap": True, "normalmap_invert": invert, "do_output_depth": False}
        images.append(
            decode(
                client.post("/depth/generate", json={"depth_input_images": [b64(web_photo)], "options": opts}).json()[
                    "images"
                ][0]
            )
        )
    plain, inverted = images
    np.testing.assert_array_equal(inverted[:, :, :2], 255 - plain[:, :, :2])
    np.testing.assert_array_equal(inverted[:, :, 2], plain[:, :, 2])  # z still toward the viewer
    assert plain[:, :, 2].mean() > 128


def test_net_width_is_the_shorter_side() -> None:
    """User trial 9: the extension sizes Depth Anything by net_width as the shorter side, aspect kept; taken as the
    longer side, 518 on a 16:9 photo processed a third of the pixels of sending nothing."""
    from depthforge.core.image import Image
    from depthforge.web.a1111 import A1111Options, _resolution

    photo = Image(np.zeros((1080, 1920, 3), np.uint8))
    assert _resolution(photo, A1111Options(net_width=518), LIMITS) == 921
    assert _resolution(photo, A1111Options(net_height=518), LIMITS) == 921
    assert _resolution(photo, A1111Options(net_width=1500), LIMITS) == LIMITS.max_resolution_px
    assert _resolution(photo, A1111Options(), LIMITS) is None


def test_photos_smaller_than_the_models_input(client: TestClient) -> None:
    # the photo's own size is below the 64 px a model is run at: processed at 64 px, outputs at the photo's size
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (16, 24, 3), dtype=np.uint8)).save(buf, format="PNG")
    tiny = base64.b64encode(buf.getvalue()).decode()
    options = {"net_size_match": True, "gen_normalmap": True}
    r = client.post("/depth/generate", json={"depth_input_images": [tiny], "options": options})
    assert r.status_code == 200, r.text
    depth, normals = (decode(t) for t in r.json()["images"])
    assert depth.shape == (16, 24) and normals.shape == (16, 24, 3)
    # a photo one pixel high has no normals: the 422 names the option that asked for them
    buf = io.BytesIO()
    Image.fromarray(np.full((1, 7, 3), 128, np.uint8)).save(buf, format="PNG")
    line = base64.b64encode(buf.getvalue()).decode()
    r = client.post("/depth/generate", json={"depth_input_images": [line], "options": {"gen_normalmap": True}})
    assert r.status_code == 422 and r.json()["detail"].startswith("gen_normalmap: "), r.text


def test_bad_images(client: TestClient) -> None:
    r = client.post("/depth/generate", json={"depth_input_images": ["not base64!"], "options": {}})
    assert r.status_code == 400 and "base64" in r.text
    r = client.post("/depth/generate", json={"depth_input_images": [base64.b64encode(b"/etc/passwd").decode()]})
    assert r.status_code == 400
    assert client.post("/depth/generate", json={"depth_input_images": []}).status_code == 422
    big = base64.b64encode(b"x" * (LIMITS.max_upload_bytes + 1)).decode()
    assert client.post("/depth/generate", json={"depth_input_images": [big]}).status_code == 413
    assert list(client.app.state.engine.areas.root.iterdir()) == []  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b"NaN"),
        ("application/json", b'{"depth_input_images": [NaN]}'),
        ("application/json", b'{"depth_input_images": ["AAAA"], "options": {"stereo_divergence": Infinity}}'),
        ("application/json", b'{"depth_input_images": ["AAAA"], "options": {"clipdepth_far": 1e309, "net_width": 0}}'),
        ("application/json", b'{"depth_input_images": ["AAAA"], "options": {"stereo_modes": [NaN, {"x": 1e309}]}}'),
        ("multipart/form-data", b"\xff\xfe"),
        ("application/x-www-form-urlencoded", b"\xff\xfe"),
    ],
)
def test_bodies_a_422_could_not_echo_as_json_get_a_422(client: TestClient, content_type: str, body: bytes) -> None:
    # Python's JSON parser takes NaN, Infinity and 1e309, and a body sent as a form is echoed as bytes (here not
    # UTF-8): the 422 echoing them could not be written as JSON, and the client got a 500
    r = client.post("/depth/generate", content=body, headers={"content-type": content_type})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][0] == "body"


def test_an_oversized_image_is_refused_before_it_is_copied() -> None:
    """Review: stripping the line breaks of 33 MB of "ab ab ..." took 0.9 s and 800 MB before the size check."""
    import tracemalloc

    from depthforge.web.a1111 import _decode
    from depthforge.web.safety import TooLargeError

    limit = 1_000_000
    spaced = "ab " * (limit // 2)  # 1.5 MB of text: above the limit's base64 even with line breaks
    tracemalloc.start()
    with pytest.raises(TooLargeError, match="depth_input_images: an image above"):
        _decode(spaced, limit)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 100_000, peak  # refused before any copy of the text
    wrapped = base64.encodebytes(b"x" * (limit - 10)).decode()  # 76 columns: within the limit
    assert len(_decode(wrapped, limit)) == limit - 10


def test_a_422_does_not_echo_the_whole_body(client: TestClient) -> None:
    images = ["A" * 10_000] * 100  # above the 16 images a request may carry (1 MB, below the body limit)
    r = client.post("/depth/generate", json={"depth_input_images": images})
    assert r.status_code == 422 and "depth_input_images" in r.text
    assert len(r.content) < 10_000
    # nor a long option name (in "loc"), nor a deeply nested value: 900 levels of lists exhausted the stack (a 500)
    r = client.post("/depth/generate", json={"depth_input_images": ["AAAA"], "options": {"x" * 100_000: 1}})
    assert r.status_code == 422 and len(r.content) < 2_000, len(r.content)
    for levels in (600, 900):
        body = '{"depth_input_images": ' + "[" * levels + "]" * levels + "}"
        r = client.post("/depth/generate", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422 and len(r.content) < 2_000, (levels, r.status_code)


def test_off_by_default(web_model: Path) -> None:
    plain = create_api(ServerConfig(model=str(web_model), limits=LIMITS))
    try:
        c = TestClient(plain)
        assert c.get("/depth/version").status_code == 404
        assert c.post("/depth/generate", json={"depth_input_images": []}).status_code == 404
    finally:
        plain.state.engine.close()


def test_guard_admits_exactly_the_new_routes(tmp_path: Path) -> None:
    from depthforge.web.guard import GradioGuard

    async def inner(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"inner"})

    for routes in ((), A1111_ROUTES):
        c = TestClient(GradioGuard(inner, mount="/", uploads=tmp_path, api_routes=routes))
        for path in A1111_ROUTES:
            assert c.get(path).status_code == (200 if routes else 404), (routes, path)
        for path in ("/depth/", "/depth/generate/video", "/depth/generate/", "/depth/x"):
            assert c.get(path).status_code == 404, path


def test_schemathesis_on_the_new_routes(app) -> None:  # type: ignore[no-untyped-def]
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [r.ok() for r in schema.get_all_operations() if r.ok().path.startswith("/depth/")]
    assert {op.path for op in operations} == set(A1111_ROUTES)
    counts = {"requests": 0, "5xx": 0}
    for op in operations:

        @settings(
            max_examples=120 if op.method.upper() == "POST" else 5,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        @given(case=op.as_strategy())
        def run(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call()
            counts["requests"] += 1
            counts["5xx"] += response.status_code >= 500
            assert response.status_code < 500, f"{case.method} {case.path}: {response.status_code} {response.text}"

        run()
    print(f"\nschemathesis on {sorted(A1111_ROUTES)}: {counts}")


def test_photos_of_one_request_share_a_pixel_budget(app, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    # every photo costs a model run and every output asked for: together at most twice --max-pixels (here 2 MP),
    # read from the headers before anything is decoded or estimated
    from PIL import Image

    yy, xx = np.mgrid[0:800, 0:1000]
    buf = io.BytesIO()
    Image.fromarray(np.dstack([xx % 256, yy % 256, (xx + yy) % 256]).astype(np.uint8)).save(buf, format="PNG")
    photo = base64.b64encode(buf.getvalue()).decode()  # 0.8 MP
    client = TestClient(app)
    r = client.post("/depth/generate", json={"depth_input_images": [photo] * 2, "options": {"net_width": 126}})
    assert r.status_code == 200 and len(r.json()["images"]) == 2, r.text
    engine = app.state.engine

    def never(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("a photo was estimated for a refused request")

    monkeypatch.setattr(engine, "depth_for", never)
    r = client.post("/depth/generate", json={"depth_input_images": [photo] * 3, "options": {"net_width": 126}})
    assert r.status_code == 413, r.text
    assert r.json()["detail"].startswith("depth_input_images: 2.4 megapixels in all, above this server's budget of 2")
    assert list(engine.areas.root.iterdir()) == []


def test_response_body_is_streamed_as_valid_json_of_every_file(tmp_path: Path) -> None:
    import base64
    import json
    import os

    from depthforge.web.a1111 import _B64_STEP, _json_body, _json_length

    images = [os.urandom(2 * _B64_STEP + 5), b"", b"\x89PNG"]  # one file read in three pieces, one empty
    meshes = [b"glTF"]
    paths = []
    for n, data in enumerate(images + meshes):
        paths.append(tmp_path / f"{n}.bin")
        paths[-1].write_bytes(data)
    ended: list[bool] = []
    body = b"".join(_json_body(paths[:3], paths[3:], info="Success", done=lambda: ended.append(True)))
    doc = json.loads(body)
    assert [base64.b64decode(text, validate=True) for text in doc["images"]] == images
    assert [base64.b64decode(text) for text in doc["meshes"]] == meshes and doc["info"] == "Success"
    assert body == json.dumps(doc, separators=(",", ":")).encode()  # FastAPI's compact JSON, as before
    assert len(body) == _json_length(paths[:3], paths[3:], info="Success") and ended == [True]
    for some in ([], paths[:1], paths[:2]):
        part = b"".join(_json_body(some, some, info="Success", done=lambda: None))
        assert json.loads(part)["info"] == "Success" and len(part) == _json_length(some, some, info="Success")
    stream = _json_body(paths[:3], [], info="Success", done=lambda: ended.append(True))
    next(stream)
    stream.close()  # the client went away: the request's folder is removed all the same
    assert ended == [True, True]
