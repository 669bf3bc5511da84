"""The web engine's high-resolution detail option (the UI's Depth tab offers it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from depthforge.core.errors import ValidationError
from depthforge.io.images import read_image
from depthforge.web.operations import DETAIL_CHOICES, Engine, ServerConfig


def test_depth_for_with_detail(web_model: Path, web_photo: Path) -> None:
    engine = Engine(ServerConfig(model=str(web_model)))
    image = read_image(web_photo)
    plain = engine.depth_for(image)
    tiled = engine.depth_for(image, detail="4")
    assert tiled.shape == plain.shape == image.size_hw
    assert tiled.meta["detail"]["tiles"] == 4 and "detail" not in plain.meta
    assert not np.array_equal(tiled.values, plain.values)  # cached separately, not the plain map again
    assert engine.depth_for(image, detail="4") is tiled
    assert "16" in DETAIL_CHOICES and "25" not in DETAIL_CHOICES  # a request costs at most 17 model calls
    with pytest.raises(ValidationError, match="detail"):
        engine.depth_for(image, detail="25")


def test_http_api_takes_detail(web_model: Path, web_photo: Path) -> None:
    """``detail`` on /v1/depth, /v1/stereo and /v1/mesh: a tiled estimate of the photo's size (other values than
    ``off``), one model run per setting (cached like the UI's), a 422 for anything outside the choices."""
    import io

    from fastapi.testclient import TestClient

    from depthforge.web.app import create_api
    from tests.web.conftest import as_array

    app = create_api(ServerConfig(model=str(web_model)))
    photo = {"image": ("coffee.jpg", web_photo.read_bytes(), "image/jpeg")}
    try:
        with TestClient(app) as client:

            def runs() -> int:
                return int(client.get("/v1/health").json()["model_runs"])

            plain = client.post("/v1/depth", files=photo, data={"format": "npy"})
            tiled = client.post("/v1/depth", files=photo, data={"format": "npy", "detail": "4"})
            assert plain.status_code == tiled.status_code == 200, tiled.text
            a, b = (np.load(io.BytesIO(r.content)) for r in (plain, tiled))
            assert a.shape == b.shape == (400, 600) and not np.array_equal(a, b)
            assert runs() == 2
            stereo = client.post("/v1/stereo", files=photo, data={"detail": "4"})
            assert stereo.status_code == 200 and as_array(stereo.content).shape[:2] == (400, 1200)
            assert runs() == 2  # the tiled estimate of this photo is reused
            bad = client.post("/v1/mesh", files=photo, data={"detail": "25"})
            assert bad.status_code == 422 and "detail" in bad.text
    finally:
        app.state.engine.close()


def test_depth_cache_holds_a_few_maps_within_two_photos_worth_of_pixels(web_model: Path, web_photo: Path) -> None:
    # depth maps are kept for the next request on the same photo (tab switches): at most a few, and at most twice
    # --max-pixels in all, the newest kept (a 40 MP map is 160 MB); a map that went is computed again, the same
    from depthforge.web.safety import Limits

    image = read_image(web_photo)
    pixels = image.width * image.height
    engine = Engine(ServerConfig(model=str(web_model), limits=Limits(max_pixels=pixels + pixels // 4)))
    try:
        maps = [engine.depth_for(image, resolution=r) for r in (112, 140, 168)]
        assert engine.model_runs == 3
        assert engine.depth_for(image, resolution=168) is maps[2]  # two maps fit in 2.5 photos' pixels
        assert engine.depth_for(image, resolution=140) is maps[1] and engine.model_runs == 3
        again = engine.depth_for(image, resolution=112)  # the oldest went: computed again
        assert engine.model_runs == 4 and again is not maps[0]
        np.testing.assert_array_equal(again.values, maps[0].values)
        assert not np.array_equal(maps[0].values, maps[2].values)  # different sizes, different maps
    finally:
        engine.close()
    roomy = Engine(ServerConfig(model=str(web_model)))  # the default 40 MP limit: the count binds
    try:
        for r in (112, 126, 140, 154, 168):
            roomy.depth_for(image, resolution=r)
        roomy.depth_for(image, resolution=126)
        assert roomy.model_runs == 5  # four kept: 126 still there
        roomy.depth_for(image, resolution=112)
        assert roomy.model_runs == 6
    finally:
        roomy.close()
