"""render.inpaint: one interface for OpenCV's inpainters, the background-side fill and any inpainter callable."""

from __future__ import annotations

import numpy as np
import pytest

from depthforge.core.errors import ValidationError
from depthforge.render.inpainting import INPAINT_METHODS, inpaint


def _ramp(h: int = 60, w: int = 90) -> np.ndarray:
    """A smooth colour ramp: any decent inpainter restores a hole in it closely."""
    yy, xx = np.mgrid[0:h, 0:w]
    return np.dstack([40 + 2 * xx, 30 + 3 * yy, np.full_like(xx, 120)]).astype(np.uint8)


@pytest.mark.parametrize("method", INPAINT_METHODS)
def test_fills_only_the_mask_and_restores_a_ramp(method: str) -> None:
    image = _ramp()
    mask = np.zeros(image.shape[:2], bool)
    mask[20:32, 30:45] = True
    spoiled = image.copy()
    spoiled[mask] = (255, 0, 255)
    out = inpaint(spoiled, mask, method=method)
    assert out.dtype == np.uint8 and out.shape == image.shape
    np.testing.assert_array_equal(out[~mask], spoiled[~mask])
    assert np.abs(out[mask].astype(int) - image[mask].astype(int)).mean() < 6.0
    assert np.array_equal(spoiled, np.where(mask[:, :, None], (255, 0, 255), image))  # input untouched


def test_reduced_resolution_still_replaces_only_the_mask() -> None:
    image = _ramp(200, 300)
    mask = np.zeros(image.shape[:2], bool)
    mask[90:110, 140:170] = True
    out = inpaint(image, mask, method="telea", max_pixels=5000)
    np.testing.assert_array_equal(out[~mask], image[~mask])
    assert np.abs(out[mask].astype(int) - image[mask].astype(int)).mean() < 8.0


def test_callable_contract() -> None:
    image = _ramp()
    mask = np.zeros(image.shape[:2], bool)
    mask[5:9, 5:9] = True
    seen = {}

    def grey(img: np.ndarray, m: np.ndarray) -> np.ndarray:
        seen["shape"] = (img.shape, m.shape, m.dtype)
        return np.full_like(img, 77)

    out = inpaint(image, mask, method=grey)
    assert seen["shape"] == (image.shape, mask.shape, np.dtype(bool))
    assert (out[mask] == 77).all() and np.array_equal(out[~mask], image[~mask])
    with pytest.raises(ValidationError, match="method"):
        inpaint(image, mask, method=lambda img, m: img[:, :, 0])


def test_bad_input_is_named() -> None:
    image = _ramp()
    mask = np.zeros(image.shape[:2], bool)
    assert np.array_equal(inpaint(image, mask), image)  # nothing to fill
    with pytest.raises(ValidationError, match="method"):
        inpaint(image, mask, method="magic")
    with pytest.raises(ValidationError, match="load_inpainter"):
        inpaint(image, mask, method="onnx:lama.onnx")
    with pytest.raises(ValidationError, match="mask"):
        inpaint(image, mask[:10])
    with pytest.raises(ValidationError, match="mask"):
        inpaint(image, np.ones(image.shape[:2], bool))
    with pytest.raises(ValidationError, match="image"):
        inpaint(image.astype(np.float32), mask)
    with pytest.raises(ValidationError, match="radius_px"):
        inpaint(image, mask, radius_px=0)
