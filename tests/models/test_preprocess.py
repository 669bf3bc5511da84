"""Our resize gives Pillow's exact bytes (the reference processors resize through Pillow) without calling Pillow:
compiled kernels (also in parallel bands) and the sparse fallback. Big photos are box-reduced first: close, not exact.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from depthforge.models import preprocess
from depthforge.models.preprocess import resize_like_pillow


def _photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    import cv2
    from skimage import data

    rng = np.random.default_rng(seed)
    img = cv2.resize(data.astronaut(), (w, h), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    return np.clip(img + rng.normal(0, 10, img.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("resample", ["bicubic", "bilinear"])
@pytest.mark.parametrize(
    "shape,out",
    [((400, 600), (350, 518)), ((512, 512), (518, 518)), ((90, 120), (392, 518)), ((1200, 1000), (518, 434))],
)
def test_resize_is_bit_exact_with_pillow(
    shape: tuple[int, int], out: tuple[int, int], resample: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    img = _photo(*shape)
    flt = Image.Resampling.BICUBIC if resample == "bicubic" else Image.Resampling.BILINEAR
    ref = np.asarray(Image.fromarray(img).resize((out[1], out[0]), flt))
    np.testing.assert_array_equal(resize_like_pillow(img, out, resample), ref)
    # the threaded band path (used for large photos) gives the same bytes
    monkeypatch.setattr(preprocess, "_PARALLEL_PIXELS", 0)
    np.testing.assert_array_equal(resize_like_pillow(img, out, resample), ref)
    # so does the sparse-matrix fallback used without numba
    monkeypatch.setattr(preprocess, "_kernels", lambda: None)
    np.testing.assert_array_equal(resize_like_pillow(img, out, resample), ref)


def test_no_pillow_call(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("Pillow was called")

    monkeypatch.setattr(Image.Image, "resize", refuse)
    monkeypatch.setattr(Image, "fromarray", refuse)
    assert resize_like_pillow(_photo(300, 400), (200, 260)).shape == (200, 260, 3)


def test_big_photos_are_box_reduced_first_and_stay_close() -> None:
    img = _photo(2400, 3200)
    out = (518, 686)
    ref = np.asarray(Image.fromarray(img).resize((out[1], out[0]), Image.Resampling.BICUBIC)).astype(int)
    reduced = preprocess._prereduce(img, out)
    assert reduced.shape[:2] == (1200, 1600)  # factor 2 leaves >= 2x the target for the bicubic filter
    ours = preprocess._resize(img, out, "bicubic").astype(int)
    assert np.abs(ours - ref).mean() < 1.0 and np.abs(ours - ref).max() <= 32
    # at most 3x the target: no reduction, Pillow's exact bytes
    small = _photo(1500, 2000)
    assert preprocess._prereduce(small, out) is small


def test_other_channel_counts_and_no_input_change() -> None:
    img = _photo(120, 160)
    before = img.copy()
    two = np.ascontiguousarray(img[:, :, :2])
    out = resize_like_pillow(two, (60, 80))
    assert out.shape == (60, 80, 2) and out.dtype == np.uint8
    gray = resize_like_pillow(np.ascontiguousarray(img[:, :, :1]), (60, 80))
    ref = np.asarray(Image.fromarray(img[:, :, 0]).resize((80, 60), Image.Resampling.BICUBIC))
    np.testing.assert_array_equal(gray[:, :, 0], ref)
    assert np.abs(out.astype(int) - resize_like_pillow(img, (60, 80))[:, :, :2]).max() <= 1
    # four channels (the transposed path, like 1 and 3): each channel as it comes out alone
    rgba = np.ascontiguousarray(np.dstack([img, img[:, :, :1]]))
    four = resize_like_pillow(rgba, (60, 80))
    np.testing.assert_array_equal(four[:, :, :3], resize_like_pillow(img, (60, 80)))
    np.testing.assert_array_equal(four[:, :, 3], gray[:, :, 0])
    np.testing.assert_array_equal(img, before)


@pytest.mark.parametrize("channels", [1, 4])
def test_big_images_of_one_and_four_channels_match_pillow_on_several_threads(channels: int) -> None:
    """Above the size where row bands run on several threads: each channel equals Pillow's own resize of it."""
    img = _photo(1100, 1000)
    src = np.ascontiguousarray(np.dstack([img, img[:, :, :1]]) if channels == 4 else img[:, :, :1])
    out = resize_like_pillow(src, (370, 410))
    assert out.shape == (370, 410, channels)
    for c in range(channels):
        ref = np.asarray(Image.fromarray(src[:, :, c]).resize((410, 370), Image.Resampling.BICUBIC))
        np.testing.assert_array_equal(out[:, :, c], ref)
