"""Our own fast preprocessing: numpy/OpenCV, aspect preserved where the model wants it, no PIL round trips.

The size rules reproduce the ``transformers`` image processors exactly (same target shape), and the resampling
gives Pillow's anti-aliased filters' exact bytes (the reference processors resize through Pillow), run in strips
on several threads for large photos, so our input matches the reference while skipping its per-image overhead.
"""

from __future__ import annotations

import itertools
import math
import os
from functools import lru_cache
from typing import Any

import numpy as np

from depthforge.core.validation import check_array
from depthforge.models.registry import ModelSpec

__all__ = ["model_input_size", "zoe_padding", "prepare", "prepare_batch", "resize_like_pillow"]


def _constrain(value: float, multiple: int) -> int:
    x = round(value / multiple) * multiple
    if x < multiple:
        x = math.ceil(value / multiple) * multiple
    return int(max(x, multiple))


def model_input_size(height: int, width: int, spec: ModelSpec) -> tuple[int, int]:
    """(height, width) the model sees for an image of ``height`` x ``width`` (after any padding).

    With ``keep_aspect`` both sides use the scale closest to 1 among the two target ratios (transformers' rule),
    then each side is rounded to a multiple of ``spec.multiple``.
    """
    th, tw = spec.input_size
    sh, sw = th / height, tw / width
    if spec.keep_aspect:
        if abs(1 - sw) < abs(1 - sh):
            sh = sw
        else:
            sw = sh
    return _constrain(sh * height, spec.multiple), _constrain(sw * width, spec.multiple)


def zoe_padding(height: int, width: int) -> tuple[int, int]:
    """ZoeDepth's reflect padding (top/bottom, left/right) in pixels: int(sqrt(side / 2) * 3)."""
    return int(np.sqrt(height / 2) * 3), int(np.sqrt(width / 2) * 3)


def _filter_weights(x: np.ndarray, resample: str) -> np.ndarray:
    """Pillow's reconstruction filters: bicubic with a = -0.5 (support 2) or triangle (support 1)."""
    x = np.abs(x)
    if resample == "bilinear":
        return np.maximum(0.0, 1.0 - x)
    a = -0.5
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    far = (((x - 5.0) * x + 8.0) * x - 4.0) * a
    return np.where(x < 1.0, near, np.where(x < 2.0, far, 0.0))


@lru_cache(maxsize=64)
def _resample_matrix(in_size: int, out_size: int, resample: str) -> Any:
    """Sparse (out_size, in_size) matrix of Pillow's anti-aliased resampling weights along one axis."""
    from scipy import sparse

    support = 2.0 if resample == "bicubic" else 1.0
    scale = in_size / out_size
    fscale = max(scale, 1.0)
    span = support * fscale
    centers = (np.arange(out_size) + 0.5) * scale
    lo = np.maximum((centers - span + 0.5).astype(np.int64), 0)
    hi = np.minimum((centers + span + 0.5).astype(np.int64), in_size)
    taps = int((hi - lo).max())
    cols = lo[:, None] + np.arange(taps)[None, :]
    ok = cols < hi[:, None]
    w = _filter_weights((cols - centers[:, None] + 0.5) / fscale, resample) * ok
    w = w / np.where(w.sum(axis=1, keepdims=True) == 0, 1.0, w.sum(axis=1, keepdims=True))
    rows = np.repeat(np.arange(out_size), taps)
    return sparse.csr_matrix(
        (w.ravel().astype(np.float32), (rows, np.minimum(cols, in_size - 1).ravel())), shape=(out_size, in_size)
    )


def _resize_sparse(img: np.ndarray, size_hw: tuple[int, int], resample: str) -> np.ndarray:
    """The same two passes with cached sparse weight matrices (any channel count)."""
    h_in, w_in, c = img.shape
    h, w = size_hw
    out = img
    if w != w_in:
        m = _resample_matrix(w_in, w, resample)
        flat = out.transpose(1, 0, 2).reshape(w_in, h_in * c).astype(np.float32)
        out = np.clip(np.rint(m @ flat), 0, 255).astype(np.uint8).reshape(w, h_in, c).transpose(1, 0, 2)
    if h != h_in:
        m = _resample_matrix(h_in, h, resample)
        flat = out.reshape(h_in, w * c).astype(np.float32)
        out = np.clip(np.rint(m @ flat), 0, 255).astype(np.uint8).reshape(h, w, c)
    return np.ascontiguousarray(out)


_PIL_MODES = {1: "L", 3: "RGB", 4: "RGBA"}
_PARALLEL_PIXELS = 1_000_000  # below this, splitting into strips costs more than it saves


def _pil_pass(img: np.ndarray, size_hw: tuple[int, int], resample: str) -> np.ndarray:
    from PIL import Image as PILImage

    mode = _PIL_MODES[img.shape[2]]
    pil = PILImage.fromarray(img[:, :, 0] if mode == "L" else img, mode=mode)
    filt = PILImage.Resampling.BICUBIC if resample == "bicubic" else PILImage.Resampling.BILINEAR
    out = np.asarray(pil.resize((size_hw[1], size_hw[0]), filt))
    return out[:, :, None] if out.ndim == 2 else out


def _strips(n: int, parts: int) -> list[tuple[int, int]]:
    edges = np.linspace(0, n, parts + 1).astype(int)
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges) if b > a]


def resize_like_pillow(img: np.ndarray, size_hw: tuple[int, int], resample: str = "bicubic") -> np.ndarray:
    """Resize an (H, W, C) uint8 image exactly as Pillow's anti-aliased BICUBIC/BILINEAR ``Image.resize`` does.

    Pillow resamples horizontally first, rounds to uint8, then vertically. Each pass is separable, so large
    images run as strips on several threads (rows for the horizontal pass, columns for the vertical one; Pillow
    releases the GIL while resampling), which gives Pillow's exact bytes in a fraction of the time. The reference
    ``transformers`` processors resize through Pillow, so this is bit-compatible with them.

    Returns:
        (h, w, C) uint8.
    """
    a = np.ascontiguousarray(img)
    h_in, w_in, c = a.shape
    h, w = size_hw
    if c not in _PIL_MODES:
        return _resize_sparse(a, size_hw, resample)
    threads = min(4, os.cpu_count() or 1)
    if threads < 2 or h_in * w_in < _PARALLEL_PIXELS:
        return np.ascontiguousarray(_pil_pass(a, size_hw, resample))
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(threads) as pool:
        out = a
        if w != w_in:  # horizontal pass on row strips: the height is unchanged, so Pillow only resamples rows
            rows = _strips(h_in, threads)
            parts = pool.map(lambda r: _pil_pass(out[r[0] : r[1]], (r[1] - r[0], w), resample), rows)
            out = np.concatenate(list(parts), axis=0)
        if h != h_in:  # vertical pass on column strips
            cols = _strips(w, threads)
            src = out
            parts = pool.map(
                lambda q: _pil_pass(np.ascontiguousarray(src[:, q[0] : q[1]]), (h, q[1] - q[0]), resample), cols
            )
            out = np.concatenate(list(parts), axis=1)
    return np.ascontiguousarray(out)


def _resize(img: np.ndarray, size_hw: tuple[int, int], resample: str) -> np.ndarray:
    if tuple(size_hw) == img.shape[:2]:
        return img
    return resize_like_pillow(img, size_hw, resample)


def prepare(rgb: np.ndarray, spec: ModelSpec, *, size_hw: tuple[int, int] | None = None) -> np.ndarray:
    """Turn one RGB image into the model's input.

    Args:
        rgb: (H, W, 3) uint8 RGB (uint16 is reduced to 8 bit as the reference processors do).
        spec: the model's entry (size rule, mean/std, resampling, padding).
        size_hw: force a model input size (height, width), e.g. a size bucket; default from the size rule.

    Returns:
        (3, h, w) float32, normalised with the model's mean/std, channels in RGB order.
    """
    import cv2

    a = check_array(rgb, "image", ndim=3, channels=3)
    if a.dtype != np.uint8:
        from depthforge.io.images import to_uint8

        a = to_uint8(a)
    mean = np.asarray(spec.mean, np.float32) * 255.0
    inv_std = 1.0 / (np.asarray(spec.std, np.float32) * 255.0)
    if spec.family == "depth_pro":
        # Depth Pro normalises first, then resizes bilinearly without anti-aliasing.
        f = (a.astype(np.float32) - mean) * inv_std
        h, w = size_hw or model_input_size(a.shape[0], a.shape[1], spec)
        f = cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR)
        return np.ascontiguousarray(f.transpose(2, 0, 1))
    if spec.pad_reflect:
        ph, pw = zoe_padding(a.shape[0], a.shape[1])
        a = np.pad(a, ((ph, ph), (pw, pw), (0, 0)), mode="reflect")
    h, w = size_hw or model_input_size(a.shape[0], a.shape[1], spec)
    small = _resize(a, (h, w), spec.resample)
    f = (small.astype(np.float32) - mean) * inv_std
    return np.ascontiguousarray(f.transpose(2, 0, 1))


def prepare_batch(images: list[np.ndarray], spec: ModelSpec, *, size_hw: tuple[int, int]) -> np.ndarray:
    """Stack several images resized to one shared input size: (B, 3, h, w) float32."""
    return np.stack([prepare(im, spec, size_hw=size_hw) for im in images])
