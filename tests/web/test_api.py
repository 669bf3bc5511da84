"""The HTTP API: behaviour of each route, property-based fuzzing of the OpenAPI spec (no 5xx), path safety.

The app runs in-process (ASGI) with a tiny local model; ``test_load.py`` drives a real server.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest

from tests.web.conftest import as_array, png_size

fastapi = pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis")

from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from depthforge.web.app import create_api  # noqa: E402
from depthforge.web.operations import ServerConfig  # noqa: E402
from depthforge.web.safety import Limits  # noqa: E402

#: Requests made by the generated (schemathesis + hypothesis) tests of this module.
GENERATED = {"count": 0, "5xx": 0}
SMALL_LIMITS = Limits(max_upload_bytes=2_000_000, max_pixels=1_000_000, workers=1, queue=8)


@pytest.fixture(scope="module")
def app(web_model: Path):  # type: ignore[no-untyped-def]
    application = create_api(ServerConfig(model=str(web_model), limits=SMALL_LIMITS))
    yield application
    application.state.engine.close()


@pytest.fixture(scope="module")
def client(app) -> TestClient:  # type: ignore[no-untyped-def]
    return TestClient(app)


def png_bytes(array: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def photo_bytes(web_photo: Path) -> bytes:
    return web_photo.read_bytes()


# -- behaviour ---------------------------------------------------------------------------------------------
def test_depth_png16_is_the_photos_size_and_near_is_white(client: TestClient, web_photo: Path) -> None:
    r = client.post("/v1/depth", files={"image": ("coffee.jpg", photo_bytes(web_photo), "image/jpeg")})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    w, h, mode = png_size(r.content)
    assert (w, h) == (600, 400) and mode.startswith("I;16")
    png16 = as_array(r.content)
    # near = white: the 16-bit codes are the display normalisation of the raw relative (inverse) depth
    raw = client.post("/v1/depth", files={"image": ("c.jpg", photo_bytes(web_photo))}, data={"format": "npy"})
    values = np.load(io.BytesIO(raw.content))
    assert values.shape == (400, 600) and values.dtype == np.float32
    ok = np.isfinite(values)
    near, far = np.unravel_index(np.nanargmax(values), values.shape), np.unravel_index(np.nanargmin(values), ok.shape)
    assert png16[near] == 65535 and png16[far] == 0


def test_depth_png8_and_invert(client: TestClient, web_photo: Path) -> None:
    files = {"image": ("coffee.jpg", photo_bytes(web_photo))}
    a = as_array(client.post("/v1/depth", files=files, data={"format": "png8"}).content)
    b = as_array(client.post("/v1/depth", files=files, data={"format": "png8", "invert": "true"}).content)
    assert a.dtype == np.uint8 and a.shape == (400, 600)
    assert np.abs(a.astype(int) + b.astype(int) - 255).max() <= 1


def test_distance_fields_carry_their_unit_and_the_old_names_still_work(client: TestClient, web_photo: Path) -> None:
    """/v1/depth's display clipping is clip_near/clip_far, /v1/mesh's pseudo-depth near_m/far_m (the bare near/far
    meant one or the other); the old names give the same file, both at once is a 422 naming the field."""
    files = {"image": ("coffee.jpg", photo_bytes(web_photo))}
    plain = as_array(client.post("/v1/depth", files=files, data={"format": "png8"}).content)
    new = as_array(client.post("/v1/depth", files=files, data={"format": "png8", "clip_near": "0.5"}).content)
    old = as_array(client.post("/v1/depth", files=files, data={"format": "png8", "near": "0.5"}).content)
    np.testing.assert_array_equal(new, old)
    assert (new == 255).mean() > (plain == 255).mean()  # the nearest half of the range is mapped to white
    r = client.post("/v1/depth", files=files, data={"clip_far": "0.2", "far": "0.2"})
    assert r.status_code == 422 and "clip_far" in r.json()["detail"]
    mesh = {"format": "ply", "texture": "false", "stride": "8"}
    a = client.post("/v1/mesh", files=files, data={**mesh, "near_m": "2", "far_m": "7"})
    b = client.post("/v1/mesh", files=files, data={**mesh, "near": "2", "far": "7"})
    c = client.post("/v1/mesh", files=files, data=mesh)
    assert a.status_code == 200 and a.content == b.content and a.content != c.content
    r = client.post("/v1/photo3d", files=files, data={"near_m": "2", "near": "2"})
    assert r.status_code == 422 and "near_m" in r.json()["detail"]
    # a misspelt option is refused, as the A1111 routes refuse one (user trial 3: ignored with 200)
    r = client.post("/v1/depth", files=files, data={"formt": "png8"})
    assert r.status_code == 422 and r.json()["detail"] == "formt: not an option of /v1/depth (see /docs)", r.text
    assert client.post("/v1/stereo", files=files, data={"divergence": "3"}).status_code == 200
    for data, status in (({"format": "png8"}, 200), ({"formt": "png8"}, 422)):  # however the header is spelt (review)
        request = client.build_request("POST", "/v1/depth", files=files, data=data)
        spelt = request.headers["content-type"].replace("multipart/form-data", "Multipart/Form-Data")
        request.headers["content-type"] = " " + spelt
        assert client.send(request).status_code == status, data
    fields = client.get("/openapi.json").json()["components"]["schemas"]
    depth_form = next(v for k, v in fields.items() if k.startswith("Body_depth"))["properties"]
    assert depth_form["near"].get("deprecated") and not depth_form["clip_near"].get("deprecated")


def test_stereo_layouts_sizes(client: TestClient) -> None:
    rgb = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    data = png_bytes(rgb)
    expect = {"left-right": (128, 48), "top-bottom": (64, 96), "half-left-right": (64, 48), "anaglyph-dubois": (64, 48)}
    for layout, size in expect.items():
        r = client.post("/v1/stereo", files={"image": ("x.png", data)}, data={"layout": layout})
        assert r.status_code == 200, r.text
        assert png_size(r.content)[:2] == size
    r = client.post("/v1/stereo", files={"image": ("x.png", data)}, data={"layout": "wiggle", "views": "3"})
    assert r.status_code == 200 and r.content[:6] in (b"GIF89a", b"GIF87a")


def test_wiggle_wider_than_a_gif_can_be_is_a_422(client: TestClient) -> None:
    # a photo one pixel high and 70,000 wide is under the pixel limit, but a GIF side is a 16-bit field (was a 500)
    data = png_bytes(np.full((1, 70_000, 3), 128, np.uint8))
    r = client.post("/v1/stereo", files={"image": ("x.png", data)}, data={"layout": "wiggle"})
    assert r.status_code == 422 and "wider or higher than a GIF allows" in r.json()["detail"], r.text
    r = client.post("/v1/stereo", files={"image": ("x.png", data)}, data={"layout": "left-right"})
    assert r.status_code == 200 and png_size(r.content)[:2] == (140_000, 1)


def test_depth_of_the_same_pixels_in_another_shape_is_not_taken_from_the_cache(client: TestClient) -> None:
    # 1 x 2000 and 2 x 1000 of one grey are the same bytes: the server's depth cache answered the first one's depth
    for h, w in ((1, 2000), (2, 1000), (40, 50)):
        data = png_bytes(np.full((h, w, 3), 90, np.uint8))
        r = client.post("/v1/depth", files={"image": ("x.png", data)}, data={"format": "npy"})
        assert r.status_code == 200, r.text
        assert np.load(io.BytesIO(r.content)).shape == (h, w)


def test_stereo_zero_divergence_returns_the_photo(client: TestClient) -> None:
    rgb = np.random.default_rng(1).integers(0, 255, (40, 50, 3), dtype=np.uint8)
    r = client.post(
        "/v1/stereo", files={"image": ("x.png", png_bytes(rgb))}, data={"layout": "left-right", "divergence": "0"}
    )
    out = as_array(r.content)
    np.testing.assert_array_equal(out[:, :50], rgb)
    np.testing.assert_array_equal(out[:, 50:], rgb)


def test_mesh_formats(client: TestClient, web_photo: Path) -> None:
    import zipfile

    import trimesh

    files = {"image": ("coffee.jpg", photo_bytes(web_photo))}
    r = client.post("/v1/mesh", files=files, data={"target_vertices": "5000"})
    assert r.status_code == 200 and r.content[:4] == b"glTF"
    scene = trimesh.load(io.BytesIO(r.content), file_type="glb")
    assert 1000 < sum(len(g.vertices) for g in scene.geometry.values()) <= 5000
    r = client.post("/v1/mesh", files=files, data={"format": "ply", "texture": "false", "stride": "8"})
    assert r.status_code == 200 and r.content.startswith(b"ply\n")
    r = client.post("/v1/mesh", files=files, data={"format": "obj", "stride": "8"})
    names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    assert {Path(n).suffix for n in names} >= {".obj", ".mtl", ".png", ".json"}
    r = client.post("/v1/mesh", files=files, data={"kind": "pointcloud", "format": "ply", "stride": "4"})
    assert r.status_code == 200 and b"element vertex 15000" in r.content[:400]


def test_relief_is_a_printable_stl_of_the_sizes_asked(client: TestClient, web_photo: Path) -> None:
    import trimesh

    files = {"image": ("coffee.jpg", photo_bytes(web_photo))}  # 600 x 400
    r = client.post("/v1/relief", files=files, data={"width_mm": "60", "relief_mm": "5", "base_mm": "1.5"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "model/stl"
    solid = trimesh.load(io.BytesIO(r.content), file_type="stl")  # the corners merged, as slicers do
    assert solid.is_watertight and solid.is_volume
    np.testing.assert_allclose(solid.extents, [60, 40, 6.5], atol=0.25)
    r = client.post("/v1/relief", files=files, data={"format": "glb", "resolution_mm": "2"})
    assert r.status_code == 200 and r.content[:4] == b"glTF"
    for bad in ({"format": "obj"}, {"base_mm": "0"}, {"resolution_mm": "0.001"}):  # the last: past the mesh limit
        r = client.post("/v1/relief", files=files, data=bad)
        assert r.status_code == 422 and next(iter(bad)) in r.text, r.text


def test_health_models_and_openapi(client: TestClient) -> None:
    assert client.get("/v1/health").json()["status"] == "ok"
    listing = client.get("/v1/models").json()
    assert listing["models"][0] == "default" and listing["default_model"] is None and listing["default_is_local"]
    named = create_api(ServerConfig(model="depth-anything-v2-small"))  # nothing is loaded to list it
    try:
        assert TestClient(named).get("/v1/models").json()["default_model"] == "depth-anything-v2-small"
    finally:
        named.state.engine.close()
    spec = client.get("/openapi.json").json()
    assert {"/v1/depth", "/v1/stereo", "/v1/mesh"} <= set(spec["paths"])
    body = spec["paths"]["/v1/depth"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in body


# -- refusals ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name", ["../../etc/passwd", "/etc/passwd", "..\\..\\win.ini", "a/../../b.png", "sub/x.png", ".."]
)
def test_client_file_names_that_name_paths_are_refused(client: TestClient, name: str) -> None:
    rgb = np.zeros((8, 8, 3), np.uint8)
    r = client.post("/v1/depth", files={"image": (name, png_bytes(rgb), "image/png")})
    assert r.status_code == 422, (name, r.status_code, r.text)
    assert "filename" in r.json()["detail"]


@pytest.mark.parametrize(
    "name",
    [
        "../x.png",
        "/abs/x.png",
        "C:\\x.jpg",
        "\\\\server\\share\\x.png",
        "..",
        "a/b.png",
        "x\x00.png",
        "x\n.png",
        "link -> /etc/passwd",
    ],
)
def test_check_client_filename_refuses_paths(name: str) -> None:
    from depthforge.core.errors import ValidationError
    from depthforge.web.safety import check_client_filename

    with pytest.raises(ValidationError, match="filename"):
        check_client_filename(name)
    for ok in ("photo.jpg", "IMG 0001 (2).jpeg", "ünïcode.png", "", None, "a..b.png"):
        check_client_filename(ok)


@pytest.mark.parametrize(
    "model",
    [
        "../tiny-da",
        "/etc",
        "/",
        "~",
        "./",
        "facebook/some-other-model",
        "depth-anything-v2-large",
        "file:///etc/passwd",
        "..%2f..%2fetc",
    ],
)
def test_models_outside_the_allow_list_are_refused(client: TestClient, web_model: Path, model: str) -> None:
    rgb = np.zeros((8, 8, 3), np.uint8)
    r = client.post("/v1/depth", files={"image": ("x.png", png_bytes(rgb))}, data={"model": model})
    assert r.status_code == 422, (model, r.text)


def test_symlinked_or_absolute_model_paths_are_refused(client: TestClient, web_model: Path, tmp_path: Path) -> None:
    link = tmp_path / "link-to-model"
    os.symlink(web_model, link)
    rgb = np.zeros((8, 8, 3), np.uint8)
    for model in (str(link), str(web_model.parent), str(web_model) + "/", str(web_model / ".." / web_model.name)):
        r = client.post("/v1/depth", files={"image": ("x.png", png_bytes(rgb))}, data={"model": model})
        assert r.status_code == 422, model
    # the operator's own model, by its exact name or as "default", is accepted
    for model in (str(web_model), "default", ""):
        r = client.post("/v1/depth", files={"image": ("x.png", png_bytes(rgb))}, data={"model": model})
        assert r.status_code == 200, model


def test_error_messages_do_not_reveal_server_paths(client: TestClient, app) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/v1/depth", files={"image": ("x.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)})
    assert r.status_code == 400
    assert str(app.state.engine.areas.root) not in r.text and "/tmp" not in r.text


def test_size_and_pixel_limits(client: TestClient) -> None:
    big = b"\x00" * (SMALL_LIMITS.max_upload_bytes + 300_000)
    r = client.post("/v1/depth", files={"image": ("x.png", big)})
    assert r.status_code == 413
    # a small file that declares too many pixels is refused from its header, before decoding
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (2000, 1000)).save(buf, format="PNG", optimize=True)
    assert len(buf.getvalue()) < SMALL_LIMITS.max_upload_bytes
    r = client.post("/v1/depth", files={"image": ("x.png", buf.getvalue())})
    assert r.status_code == 413 and "pixels" in r.json()["detail"]


def test_session_areas_are_removed_after_each_request(client: TestClient, app, web_photo: Path) -> None:  # type: ignore[no-untyped-def]
    client.post("/v1/mesh", files={"image": ("c.jpg", photo_bytes(web_photo))}, data={"format": "obj", "stride": "8"})
    client.post("/v1/depth", files={"image": ("c.jpg", b"not an image")})
    assert list(app.state.engine.areas.root.iterdir()) == []


# -- generated requests ---------------------------------------------------------------------------------------
def test_openapi_fuzz_no_server_errors(app) -> None:  # type: ignore[no-untyped-def]
    """schemathesis generates requests for every operation of /openapi.json; none may answer 5xx."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/depth", "/v1/stereo", "/v1/mesh", "/v1/health", "/v1/models"}
    before = GENERATED["count"]
    for op in operations:
        per_op = 170 if op.method.upper() == "POST" else 5

        @settings(
            max_examples=per_op, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
        )
        @given(case=op.as_strategy())
        def run(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call()
            GENERATED["count"] += 1
            if response.status_code >= 500:
                GENERATED["5xx"] += 1
            assert response.status_code < 500, f"{case.method} {case.path}: {response.status_code} "

        run()
    print(f"\nschemathesis requests: {GENERATED['count'] - before}")


@st.composite
def small_images(draw: st.DrawFn) -> bytes:
    h = draw(st.integers(1, 40))
    w = draw(st.integers(1, 40))
    kind = draw(st.sampled_from(["rgb", "gray", "rgba", "rgb16", "flat"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    from PIL import Image

    buf = io.BytesIO()
    if kind == "gray":
        Image.fromarray(rng.integers(0, 255, (h, w), dtype=np.uint8)).save(buf, format="PNG")
    elif kind == "rgba":
        Image.fromarray(rng.integers(0, 255, (h, w, 4), dtype=np.uint8)).save(buf, format="PNG")
    elif kind == "rgb16":
        Image.fromarray(rng.integers(0, 65535, (h, w), dtype=np.uint16)).save(buf, format="PNG")
    elif kind == "flat":
        Image.new("RGB", (w, h), (90, 120, 200)).save(buf, format="JPEG")
    else:
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


_OPTIONS = {
    "/v1/depth": st.fixed_dictionaries(
        {},
        optional={
            "format": st.sampled_from(["png16", "png8", "npy"]),
            "invert": st.sampled_from(["true", "false"]),
            "clip_near": st.floats(0, 1).map(str),
            "far": st.floats(0, 1).map(str),
        },
    ),
    "/v1/stereo": st.fixed_dictionaries(
        {},
        optional={
            "layout": st.sampled_from(["left-right", "half-top-bottom", "anaglyph-gray", "right", "wiggle"]),
            "divergence": st.floats(0, 20).map(str),
            "convergence": st.floats(0, 1).map(str),
            "balance": st.floats(-1, 1).map(str),
            "separation": st.floats(-20, 20).map(str),
            "exponent": st.floats(0.01, 10).map(str),
            "views": st.integers(2, 4).map(str),
        },
    ),
    "/v1/mesh": st.fixed_dictionaries(
        {},
        optional={
            "format": st.sampled_from(["glb", "ply", "obj"]),
            "kind": st.sampled_from(["mesh", "pointcloud"]),
            "near_m": st.floats(0.01, 5).map(str),
            "far": st.floats(0.01, 50).map(str),
            "fov": st.floats(1, 179).map(str),
            "max_angle": st.floats(1, 90).map(str),
            "max_jump": st.floats(0.001, 10).map(str),
            "stride": st.integers(1, 8).map(str),
            "target_vertices": st.integers(16, 2000).map(str),
            "texture": st.sampled_from(["true", "false"]),
        },
    ),
}


@pytest.mark.parametrize("path", sorted(_OPTIONS))
def test_valid_images_with_generated_options_no_server_errors(client: TestClient, path: str) -> None:
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(image=small_images(), options=_OPTIONS[path])
    def run(image: bytes, options: dict[str, str]) -> None:
        r = client.post(path, files={"image": ("x.png", image)}, data=options)
        GENERATED["count"] += 1
        if r.status_code >= 500:
            GENERATED["5xx"] += 1
        assert r.status_code < 500, f"{path} {options}: {r.status_code} {r.text[:300]}"
        assert r.status_code in (200, 422), (options, r.status_code, r.text[:300])

    run()


def test_generated_request_count() -> None:
    """Runs last in this module: the generated tests above made >= 500 requests and no 5xx."""
    print(f"\ngenerated requests: {GENERATED['count']}, 5xx: {GENERATED['5xx']}")
    if GENERATED["count"] == 0:
        pytest.skip("the generated tests did not run (selected out)")
    assert GENERATED["count"] >= 500
    assert GENERATED["5xx"] == 0
