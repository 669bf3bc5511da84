"""The model input: Pillow's resize (the reference processors' call), the box pre-reduction of big photos as
Pillow's ``reducing_gap=2.0`` makes it, and the normalisation. Parity with the transformers processors on tiny
models is in ``test_parity.py``."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from depthforge.models.preprocess import _resize, prepare
from depthforge.models.registry import REGISTRY


def _photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    import cv2
    from skimage import data

    rng = np.random.default_rng(seed)
    img = cv2.resize(data.astronaut(), (w, h), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    return np.clip(img + rng.normal(0, 10, img.shape), 0, 255).astype(np.uint8)


def _pillow(img: np.ndarray, out: tuple[int, int], resample: str = "bicubic", gap: float | None = None) -> np.ndarray:
    flt = Image.Resampling.BICUBIC if resample == "bicubic" else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(img).resize((out[1], out[0]), flt, reducing_gap=gap))


@pytest.mark.parametrize("resample", ["bicubic", "bilinear"])
@pytest.mark.parametrize(
    "shape,out",
    [((400, 600), (350, 518)), ((512, 512), (518, 518)), ((90, 120), (392, 518)), ((1200, 1000), (518, 434))],
)
def test_resize_is_pillows_resize(shape: tuple[int, int], out: tuple[int, int], resample: str) -> None:
    """Under four times the target on each axis: exactly the transformers processors' Pillow call."""
    img = _photo(*shape)
    np.testing.assert_array_equal(_resize(img, out, resample), _pillow(img, out, resample))


@pytest.mark.parametrize("shape", [(2400, 3200), (2401, 3203)])
def test_big_photos_are_box_reduced_as_pillows_reducing_gap(shape: tuple[int, int]) -> None:
    """At least four times the target: box-reduced by 2 first, the bytes of Pillow's ``reducing_gap=2.0`` (also
    when the size is not a multiple of the factor), a fraction of a grey level from the direct resize."""
    img = _photo(*shape)
    out = (518, 686)
    ours = _resize(img, out, "bicubic")
    np.testing.assert_array_equal(ours, _pillow(img, out, gap=2.0))
    direct = _pillow(img, out).astype(int)
    assert np.abs(ours.astype(int) - direct).mean() < 0.5


@pytest.mark.parametrize("shape,out", [((3000, 4200), (500, 700)), ((2000, 600), (384, 384))])
def test_larger_and_unequal_reduction_factors_stay_within_rounding(
    shape: tuple[int, int], out: tuple[int, int]
) -> None:
    """Factors 3x3 and 1x2 (a square model input from a panorama): OpenCV's box average rounds a few reduced
    pixels differently from Pillow's (by one level), so the result is within 2 levels of ``reducing_gap=2.0``."""
    img = _photo(*shape)
    diff = np.abs(_resize(img, out, "bicubic").astype(int) - _pillow(img, out, gap=2.0).astype(int))
    assert diff.max() <= 2 and diff.mean() < 0.3


def test_prepare_normalises_channel_first_and_leaves_the_input_alone() -> None:
    spec = REGISTRY["depth-anything-v2-small"]
    img = _photo(300, 400)
    before = img.copy()
    x = prepare(img, spec, size_hw=(210, 280))
    assert x.shape == (3, 210, 280) and x.dtype == np.float32 and x.flags.c_contiguous
    small = _pillow(img, (210, 280)).astype(np.float64)
    mean, std = np.asarray(spec.mean), np.asarray(spec.std)
    expected = ((small / 255.0 - mean) / std).transpose(2, 0, 1)
    np.testing.assert_allclose(x, expected, atol=1e-5)
    np.testing.assert_array_equal(img, before)
    # the model's own size (no resize), a view with negative strides and 16-bit input give the same kind of input
    same = prepare(img, spec, size_hw=(300, 400))
    np.testing.assert_allclose(same, ((img / 255.0 - mean) / std).transpose(2, 0, 1), atol=1e-5)
    flipped = np.ascontiguousarray(img[::-1])
    np.testing.assert_array_equal(
        prepare(img[::-1], spec, size_hw=(210, 280)), prepare(flipped, spec, size_hw=(210, 280))
    )
    wide = img.astype(np.uint16) * 257
    np.testing.assert_array_equal(prepare(wide, spec, size_hw=(210, 280)), x)


@pytest.mark.parametrize("shape,out,gap", [((1100, 1000), (518, 470), None), ((2401, 3203), (518, 686), 2.0)])
def test_bands_on_several_threads_give_the_same_bytes(
    shape: tuple[int, int], out: tuple[int, int], gap: float | None
) -> None:
    """From a megapixel on, bands of rows are resized on threads of the budget: still Pillow's bytes."""
    from depthforge.core.threads import set_thread_budget

    img = _photo(*shape)
    try:
        for threads in (2, 3):
            set_thread_budget(threads)
            np.testing.assert_array_equal(_resize(img, out, "bicubic"), _pillow(img, out, gap=gap))
            np.testing.assert_array_equal(_resize(img, out, "bilinear"), _pillow(img, out, "bilinear", gap))
    finally:
        set_thread_budget(None)
