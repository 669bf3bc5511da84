"""display_codes: the same codes as to_display * top rounded; inputs untouched."""

from __future__ import annotations

import numpy as np
import pytest

from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import ValidationError
from depthforge.process.normalize import display_codes, to_display


def _map(h: int, w: int, kind: str) -> DepthMap:
    rng = np.random.default_rng(3)
    v = (rng.random((h, w)) * 5 + 0.5).astype(np.float32)
    v[rng.random((h, w)) < 0.05] = np.nan
    return DepthMap(v, kind=kind)


@pytest.mark.parametrize("top", [255, 65535])
@pytest.mark.parametrize("kind", ["relative", "metric"])
@pytest.mark.parametrize(
    "opts", [{}, {"invert": True}, {"percentiles": (2.0, 98.0)}, {"near": 0.9, "far": 0.1, "invert": True}]
)
def test_codes_match_to_display(top: int, kind: str, opts: dict) -> None:
    d = _map(300, 200, kind)
    before = d.values.copy()
    disp, rng = to_display(d, **opts)
    ref = (disp * top + 0.5).astype(np.uint16 if top > 255 else np.uint8)
    codes, rng2 = display_codes(d, top=top, **opts)
    assert codes.dtype == ref.dtype and rng2 == rng
    np.testing.assert_array_equal(codes, ref)
    np.testing.assert_array_equal(d.values, before)
    assert (
        disp.min() >= 0 and disp.max() <= 1 and (disp[np.isnan(before)] == (1.0 if opts.get("invert") else 0.0)).all()
    )


def test_flat_map_is_mid_grey() -> None:
    flat = DepthMap(np.full((4, 5), 2.0, np.float32), kind="relative")
    codes, _ = display_codes(flat, top=255)
    assert (codes == 128).all()
    codes16, _ = display_codes(flat, top=65535, invert=True)
    assert codes16.dtype == np.uint16 and (codes16 == 32768).all()


def test_invert_relative_flips_within_the_range() -> None:
    from depthforge.process.normalize import invert_relative

    d = DepthMap(np.array([[1.0, np.nan, 3.0], [2.0, 4.0, 0.5]], np.float32), kind="relative")
    out = invert_relative(d).values
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[3.5, np.nan, 1.5], [2.5, 0.5, 4.0]])
    empty = DepthMap(np.full((2, 2), np.nan, np.float32), kind="relative")
    assert invert_relative(empty) is empty
    with pytest.raises(ValidationError, match="kind"):
        invert_relative(DepthMap(np.ones((2, 2), np.float32), kind="metric"))
