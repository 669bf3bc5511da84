"""Shared fixtures: tiny models of every architecture family, real photos, and the Middlebury cones pair."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CONES = SHARED / "data" / "middlebury-cones"

# Never reach the network from tests: models come from folders the tests build.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Folders of tiny random models: depth_anything(_metric), dpt, dpt_hybrid, zoedepth, depth_pro."""
    from depthforge.models import testing

    root = tmp_path_factory.mktemp("models")
    return {
        "depth_anything": testing.build_depth_anything(root / "da"),
        "depth_anything_metric": testing.build_depth_anything(root / "da_metric", metric=True),
        "dpt": testing.build_dpt(root / "dpt"),
        "dpt_hybrid": testing.build_dpt(root / "dpt_hybrid", hybrid=True),
        "zoedepth": testing.build_zoedepth(root / "zoe"),
        "depth_pro": testing.build_depth_pro(root / "depth_pro"),
    }


@pytest.fixture(scope="session")
def tiny_da(tiny_models: dict[str, Path]) -> Path:
    """The tiny Depth Anything folder (the model most tests use)."""
    return tiny_models["depth_anything"]


@pytest.fixture(scope="session")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of real photographs (scikit-image's bundled ones) as JPEG/PNG files."""
    from PIL import Image
    from skimage import data

    root = tmp_path_factory.mktemp("photos")
    Image.fromarray(data.astronaut()).save(root / "astronaut.jpg", quality=92)  # 512x512
    Image.fromarray(data.coffee()).save(root / "coffee.jpg", quality=92)  # 400x600 landscape
    Image.fromarray(data.chelsea()).save(root / "chelsea.png")  # 300x451
    portrait = np.ascontiguousarray(np.rot90(data.coffee()))
    Image.fromarray(portrait).save(root / "coffee_portrait.jpg", quality=92)  # 600x400 portrait
    return root


@pytest.fixture(scope="session")
def cones() -> Path:
    """The Middlebury cones folder; skips the test when the shared data is absent."""
    if not (CONES / "im2.png").exists():
        pytest.skip("../shared/data/middlebury-cones is not present")
    return CONES


def cones_disparity(cones_dir: Path) -> np.ndarray:
    """Ground-truth left disparity in pixels (H, W) float32, NaN where unknown."""
    from PIL import Image

    raw = np.asarray(Image.open(cones_dir / "disp2.png")).astype(np.float32)
    d = raw / 4.0
    d[raw == 0] = np.nan
    return d


@pytest.fixture(params=["HF_HUB_OFFLINE=1", "hub unreachable"])
def hub_unavailable(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Nothing cached (an empty hub cache) and no hub: ``HF_HUB_OFFLINE=1``, or an endpoint that refuses connections
    (the reachability probe of ``depthforge.models.hub.require_hub`` runs, as in tests/models/test_offline.py)."""
    import socket

    import huggingface_hub.constants as hc

    from depthforge.models import hub

    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setattr(hub, "_REACHABLE", None)
    for name in (*hub._PROXY_VARIABLES, "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    if request.param == "HF_HUB_OFFLINE=1":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    else:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])  # closed once the socket is
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    return str(request.param)


@pytest.fixture
def no_download(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """``no_download(owner, name="from_pretrained")``: calling ``owner.name`` (a loader that would ask the hub, and
    retry when offline) fails the test."""

    def patch(owner: object, name: str = "from_pretrained") -> None:
        def refuse(*args: object, **kwargs: object) -> None:
            raise AssertionError(f"{name} was called: the hub client was asked although the hub is unavailable")

        monkeypatch.setattr(owner, name, refuse)

    return patch
