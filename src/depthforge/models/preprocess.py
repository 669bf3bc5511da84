"""Our own fast preprocessing: numpy/OpenCV, aspect preserved where the model wants it, no PIL round trips.

The size rules reproduce the ``transformers`` image processors exactly (same target shape), and the resampling
gives Pillow's anti-aliased filters' exact bytes (the reference processors resize through Pillow) with Pillow's
own fixed-point arithmetic in compiled kernels (numba; exact sparse matrix products without it), on several
threads for large photos. Photos more than 3x the model input on both axes are first box-reduced by an integer
factor with OpenCV (INTER_AREA), as Pillow's ``reducing_gap`` would, which is not bit-exact but costs a fraction.
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


_PRECISION_BITS = 22  # Pillow's fixed point: 32 - 8 - 2 fractional bits
_PARALLEL_PIXELS = 1_000_000  # below this many input pixels, one thread
_PREREDUCE = 3.0  # inputs more than this many times the output on both axes are box-reduced first


@lru_cache(maxsize=64)
def _coefficients(in_size: int, out_size: int, resample: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pillow's anti-aliased resampling along one axis, as Pillow computes it.

    Returns:
        ``lo`` (out,) int64 first input index, ``count`` (out,) int64 number of taps, ``coef`` (out, taps) int64
        fixed-point coefficients (22 fractional bits, rounded half away from zero as Pillow does).
    """
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
    total = w.sum(axis=1, keepdims=True)
    w = w / np.where(total == 0, 1.0, total)
    coef = np.trunc(w * (1 << _PRECISION_BITS) + np.where(w < 0, -0.5, 0.5)).astype(np.int64)
    return lo, (hi - lo).astype(np.int64), coef


@lru_cache(maxsize=64)
def _sparse_matrix(in_size: int, out_size: int, resample: str) -> Any:
    """The same coefficients as a sparse (out, in) float64 matrix (products and sums stay exact integers)."""
    from scipy import sparse

    lo, count, coef = _coefficients(in_size, out_size, resample)
    cols = lo[:, None] + np.arange(coef.shape[1])[None, :]
    keep = np.arange(coef.shape[1])[None, :] < count[:, None]
    rows = np.repeat(np.arange(out_size), coef.shape[1]).reshape(coef.shape)
    return sparse.csr_matrix((coef[keep].astype(np.float64), (rows[keep], cols[keep])), shape=(out_size, in_size))


def _round_shift(acc: np.ndarray) -> np.ndarray:
    """(2**21 + acc) >> 22, clipped to uint8, on exact integer-valued float64 sums."""
    acc += float(1 << (_PRECISION_BITS - 1))
    acc *= 1.0 / (1 << _PRECISION_BITS)
    np.floor(acc, out=acc)
    np.clip(acc, 0.0, 255.0, out=acc)
    return acc.astype(np.uint8)


def _resize_sparse(img: np.ndarray, size_hw: tuple[int, int], resample: str) -> np.ndarray:
    """Both passes as sparse matrix products (no numba): Pillow's exact bytes, any channel count."""
    h_in, w_in, c = img.shape
    h, w = size_hw
    out = img
    if w != w_in:
        m = _sparse_matrix(w_in, w, resample)
        cols = np.empty((w_in, h_in, c), np.float64)
        cols[...] = out.transpose(1, 0, 2)
        out = _round_shift(m @ cols.reshape(w_in, h_in * c)).reshape(w, h_in, c).transpose(1, 0, 2)
    if h != h_in:
        m = _sparse_matrix(h_in, h, resample)
        flat = np.ascontiguousarray(out).reshape(h_in, w * c).astype(np.float64)
        out = _round_shift(m @ flat).reshape(h, w, c)
    return np.ascontiguousarray(out)


def _kernels() -> Any:
    try:
        from depthforge.models import _resample_numba
    except ImportError:  # numba missing: the sparse path gives the same bytes
        return None
    return _resample_numba


def _bands(n: int, parts: int) -> list[tuple[int, int]]:
    edges = np.linspace(0, n, parts + 1).astype(int)
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges) if b > a]


def _run_bands(fn: Any, n_rows: int, threads: int, *args: Any) -> None:
    bands = _bands(n_rows, threads)
    if len(bands) == 1:
        fn(*args, 0, n_rows)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(bands)) as pool:
        list(pool.map(lambda band: fn(*args, band[0], band[1]), bands))


def resize_like_pillow(img: np.ndarray, size_hw: tuple[int, int], resample: str = "bicubic") -> np.ndarray:
    """Resize an (H, W, C) uint8 image exactly as Pillow's anti-aliased BICUBIC/BILINEAR ``Image.resize`` does.

    Pillow resamples horizontally first, rounds to uint8, then vertically, with fixed-point coefficients; this
    does the same arithmetic (compiled numba kernels on row bands in several threads for large images, or exact
    sparse matrix products without numba), so it gives Pillow's bytes without a PIL round trip. The reference
    ``transformers`` processors resize through Pillow, so this is bit-compatible with them.

    Returns:
        (h, w, C) uint8.
    """
    a = np.ascontiguousarray(img)
    h_in, w_in, c = a.shape
    h, w = size_hw
    nb = _kernels()
    if nb is None:
        return _resize_sparse(a, size_hw, resample)
    threads = min(4, os.cpu_count() or 1) if h_in * w_in >= _PARALLEL_PIXELS else 1
    out = a
    if w != w_in:
        lo, count, coef = _coefficients(w_in, w, resample)
        coef = coef.astype(np.int32)
        if c in (1, 3, 4):
            # along the width of the transposed image: the same sums as a vertical pass, whose inner loop runs
            # over contiguous bytes and vectorises (with OpenCV's transposes, ~7x faster than the direct pass);
            # each thread takes a band of rows through transpose, pass and transpose back
            import cv2

            src, tmp = out, np.empty((h_in, w, c), np.uint8)

            def rows(r0: int, r1: int) -> None:
                band_t = cv2.transpose(src[r0:r1]).reshape(w_in, (r1 - r0) * c)
                done_t = np.empty((w, (r1 - r0) * c), np.uint8)
                nb.vertical_kernel(band_t, lo, count, coef, done_t, 0, w)
                shape_t, shape = ((w, r1 - r0, c), (r1 - r0, w, c)) if c > 1 else ((w, r1 - r0), (r1 - r0, w))
                target = tmp[r0:r1].reshape(shape)
                back = cv2.transpose(done_t.reshape(shape_t), dst=target)  # in place (else copied there)
                if not np.shares_memory(back, target):
                    target[...] = back

            _run_bands(rows, h_in, threads)
            out = tmp
        else:
            tmp = np.empty((h_in, w, c), np.uint8)
            _run_bands(nb.horizontal_kernel, h_in, threads, out, lo, count, coef, tmp)
            out = tmp
    if h != h_in:
        lo, count, coef = _coefficients(h_in, h, resample)
        coef = coef.astype(np.int32)
        tmp = np.empty((h, w * c), np.uint8)
        _run_bands(nb.vertical_kernel, h, threads, out.reshape(h_in, w * c), lo, count, coef, tmp)
        out = tmp.reshape(h, w, c)
    return out


def _prereduce(img: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Box-average (OpenCV INTER_AREA) by an integer factor when the image is more than ``_PREREDUCE`` times
    the target on both axes, leaving at least twice the target for the anti-aliased filter (as Pillow's own
    ``reducing_gap`` does); the result differs from a direct resize by far less than a grey level on average."""
    factor = int(min(img.shape[0] / size_hw[0], img.shape[1] / size_hw[1]) / 2.0)
    if min(img.shape[0] / size_hw[0], img.shape[1] / size_hw[1]) <= _PREREDUCE or factor < 2:
        return img
    import cv2

    h, w = img.shape[0] // factor, img.shape[1] // factor
    out = cv2.resize(img[: h * factor, : w * factor], (w, h), interpolation=cv2.INTER_AREA)
    return out[:, :, None] if out.ndim == 2 else out


def _resize(img: np.ndarray, size_hw: tuple[int, int], resample: str) -> np.ndarray:
    if tuple(size_hw) == img.shape[:2]:
        return img
    return resize_like_pillow(_prereduce(img, size_hw), size_hw, resample)


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
    # (v - mean) * inv_std per channel from a 256-entry table (the same float32 values), written channel-first
    lut = (np.arange(256, dtype=np.float32)[None, :] - mean[:, None]) * inv_std[:, None]
    out = np.empty((3, h, w), np.float32)
    nb = _kernels()
    if nb is not None:  # compiled: 3x faster than np.take (one thread: a model input is too small for two)
        nb.normalise_kernel(small, lut, out, 0, h)
        return out
    for c in range(3):
        np.take(lut[c], small[:, :, c], out=out[c], mode="clip")  # uint8 indices: always in range; no buffer
    return out


def prepare_batch(images: list[np.ndarray], spec: ModelSpec, *, size_hw: tuple[int, int]) -> np.ndarray:
    """Stack several images resized to one shared input size: (B, 3, h, w) float32."""
    return np.stack([prepare(im, spec, size_hw=size_hw) for im in images])
