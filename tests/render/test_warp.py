"""render/warp: the compiled (numba) kernels give the same warp and hole filling as the pure-numpy code."""

from __future__ import annotations

import numpy as np
import pytest

from depthforge.render import warp

pytest.importorskip("numba")


def _both(monkeypatch: pytest.MonkeyPatch, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DEPTHFORGE_NO_NUMBA", "1")
    reference = fn(*args, **kwargs)
    monkeypatch.delenv("DEPTHFORGE_NO_NUMBA")
    return reference, fn(*args, **kwargs)


@pytest.mark.parametrize("vertical", [False, True])
@pytest.mark.parametrize("claim", [0.5, 0.0, 0.7])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64, np.int64])
def test_forward_warp_numba_matches_numpy(monkeypatch: pytest.MonkeyPatch, vertical: bool, claim: float, dtype) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(int(claim * 10) + 3 * vertical)
    for h, w, channels in ((13, 29, 3), (7, 5, None), (1, 17, 4)):
        shape = (h, w) if channels is None else (h, w, channels)
        img = (rng.random(shape) * 200).astype(dtype)
        sx = rng.normal(0.0, 4.0, (h, w))
        sx[::2] = np.round(sx[::2] * 2) / 2  # exact half-pixel ties for the claims
        sy = rng.normal(0.0, 3.0, (h, w)) if vertical else None
        prio = rng.integers(0, 4, (h, w)).astype(np.float64)  # many equal priorities
        ref, fast = _both(monkeypatch, warp.forward_warp, img, sx, sy, priority=prio, claim=claim, tolerance=0.5)
        np.testing.assert_array_equal(fast.holes, ref.holes)
        np.testing.assert_array_equal(fast.priority, ref.priority)  # NaN in the same places
        assert fast.image.dtype == ref.image.dtype == np.float32 and fast.image.shape == ref.image.shape
        np.testing.assert_allclose(fast.image, ref.image, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("smooth", [None, 0.0, 1.0, 2.5, 7.0])  # box widths 1, 3, 6 (even: asymmetric anchor), 17
@pytest.mark.parametrize("share", [0.1, 0.5, 0.95])
def test_fill_holes_numba_matches_numpy(monkeypatch: pytest.MonkeyPatch, smooth: float | None, share: float) -> None:
    rng = np.random.default_rng(int(share * 100))
    for h, w, channels in ((31, 23, 3), (9, 40, None)):
        shape = (h, w) if channels is None else (h, w, channels)
        img = (rng.random(shape) * 200).astype(np.float32)
        holes = rng.random((h, w)) < share
        holes[h // 2] = True  # a row with no known pixel: the mean colour
        prio = rng.integers(0, 3, (h, w)).astype(np.float32)  # ties take the mean of both sides
        prio[holes] = np.nan
        ref, fast = _both(monkeypatch, warp.fill_holes_background, img, holes, prio, smooth=smooth)
        assert fast.dtype == np.float32 and fast.shape == img.shape
        np.testing.assert_allclose(fast, ref, rtol=1e-5, atol=1e-3)
        np.testing.assert_array_equal(fast[~holes], img[~holes])
