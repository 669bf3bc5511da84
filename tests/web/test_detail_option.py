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
