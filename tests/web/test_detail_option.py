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
