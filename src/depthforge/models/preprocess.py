"""The model input of a photo: the size rules of the ``transformers`` image processors, resize, normalisation.

The size rules reproduce the processors exactly (same target shape), and the resize is the call they make:
Pillow's anti-aliased ``Image.resize`` (BICUBIC or BILINEAR), so the model input equals theirs. A photo at least
four times the model input along an axis is first box-reduced by an integer factor with OpenCV (``INTER_AREA``),
the reduction Pillow's ``resize(..., reducing_gap=2.0)`` makes: a fraction of a grey level from the direct resize.
"""

from __future__ import annotations

import math

import numpy as np

from depthforge.core.image import Image, check_image, to_uint8
from depthforge.core.threads import thread_budget
from depthforge.models.registry import ModelSpec

__all__ = ["model_input_size", "scaled_input_size", "zoe_padding", "prepare", "prepare_batch"]


def _constrain(value: float, multiple: int) -> int:
    x = round(value / multiple) * multiple
    if x < multiple:
        x = math.ceil(value / multiple) * multiple
    return int(max(x, multiple))


def model_input_size(size_hw: tuple[int, int], spec: ModelSpec) -> tuple[int, int]:
    """(height, width) the model sees for an image of ``size_hw`` = (height, width) (after any padding).

    With ``keep_aspect`` both sides use the scale closest to 1 among the two target ratios (transformers' rule);
    Marigold's longer side is the target (diffusers' ``processing_resolution``). Then each side is rounded to a
    multiple of ``spec.multiple``.
    """
    height, width = size_hw
    th, tw = spec.input_size_hw
    sh, sw = th / height, tw / width
    if spec.family == "marigold":  # diffusers' processing_resolution: the longer side (user trial 3)
        sh = sw = max(th, tw) / max(height, width)
    elif spec.keep_aspect:
        if abs(1 - sw) < abs(1 - sh):
            sh = sw
        else:
            sw = sh
    return _constrain(sh * height, spec.multiple), _constrain(sw * width, spec.multiple)


def scaled_input_size(size_hw: tuple[int, int], spec: ModelSpec, *, resolution_px: int) -> tuple[int, int] | None:
    """(height, width) the model sees for an image of ``size_hw`` at a chosen processing size: the longer side
    about ``resolution_px`` pixels, the aspect kept, each side rounded to a multiple of ``spec.multiple`` (at least
    one multiple). None for models that keep their own size rule: reflect padding (ZoeDepth), and Depth Pro's
    fixed 1536 px input (its patches refuse smaller ones).

    >>> from depthforge.models.registry import get_spec
    >>> scaled_input_size((40, 60), get_spec("depth-anything-v2-small"), resolution_px=112)
    (70, 112)
    """
    if spec.pad_reflect or spec.family == "depth_pro":
        return None
    scale = resolution_px / max(size_hw)
    return _constrain(size_hw[0] * scale, spec.multiple), _constrain(size_hw[1] * scale, spec.multiple)


def zoe_padding(size_hw: tuple[int, int]) -> tuple[int, int]:
    """ZoeDepth's reflect padding (top/bottom, left/right) in pixels for an image of ``size_hw``:
    int(sqrt(side / 2) * 3)."""
    height, width = size_hw
    return int(np.sqrt(height / 2) * 3), int(np.sqrt(width / 2) * 3)


_BAND_PIXELS = 1_000_000  # from this many input pixels, the resize runs in bands on several threads
_REDUCING_GAP = 2.0  # Pillow's reducing_gap: box-reduce by int(ratio / 2) first (at least 2x the target is left)


def _reduction_factors(shape_hw: tuple[int, int], size_hw: tuple[int, int]) -> tuple[int, int]:
    """Integer box-reduction factors (along height, width) Pillow's ``reducing_gap=2.0`` would use (1 = none)."""
    return (
        max(1, int(shape_hw[0] / size_hw[0] / _REDUCING_GAP)),
        max(1, int(shape_hw[1] / size_hw[1] / _REDUCING_GAP)),
    )


def _resize(image: np.ndarray, size_hw: tuple[int, int], resample: str) -> np.ndarray:
    """(H, W, 3) uint8 -> (h, w, 3) uint8 with Pillow's anti-aliased filter (``bicubic`` or ``bilinear``).

    Without reduction (the photo under four times ``size_hw`` along each axis) these are the bytes of
    ``Image.fromarray(image).resize((w, h), filter)``, the reference processors' call. Larger photos are first
    box-averaged by :func:`_reduction_factors` with OpenCV (edge rows and columns repeated up to a multiple of
    the factor; Pillow then resizes the photo's own extent), the bytes of Pillow's ``reducing_gap=2.0`` when the
    factors are 2. From a megapixel on, bands of output rows are resized on up to four threads of the budget.
    """
    import cv2
    from PIL import Image

    h, w = size_hw
    if (h, w) == image.shape[:2]:
        return image
    image = np.ascontiguousarray(image)
    fy, fx = _reduction_factors((image.shape[0], image.shape[1]), size_hw)
    box = (0.0, 0.0, float(image.shape[1]), float(image.shape[0]))
    if fy > 1 or fx > 1:
        # edge rows/columns repeated up to a multiple of the factor; the box keeps the photo's own extent
        full_h, full_w = image.shape[:2]
        pad_h, pad_w = -full_h % fy, -full_w % fx
        if pad_h or pad_w:
            image = cv2.copyMakeBorder(image, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE)
        reduced = (image.shape[1] // fx, image.shape[0] // fy)
        image = cv2.resize(image, reduced, interpolation=cv2.INTER_AREA)
        box = (0.0, 0.0, full_w / fx, full_h / fy)
    flt = Image.Resampling.BICUBIC if resample == "bicubic" else Image.Resampling.BILINEAR
    bands = min(thread_budget(), 4) if image.shape[0] * image.shape[1] >= _BAND_PIXELS else 1
    if bands == 1:
        return np.asarray(Image.fromarray(image).resize((w, h), flt, box=box))
    # Pillow resamples horizontally, rounds to uint8, then vertically, and releases the GIL meanwhile: the
    # horizontal pass on bands of input rows, then the vertical pass on bands of columns, on several threads,
    # give its bytes (each band's coefficients are those of the whole image along the axis resampled)
    from concurrent.futures import ThreadPoolExecutor

    x0, y0, x1, y1 = box
    mid = np.empty((image.shape[0], w, 3), np.uint8)
    out = np.empty((h, w, 3), np.uint8)

    def across(r0: int, r1: int) -> None:
        part = Image.fromarray(image[r0:r1])
        mid[r0:r1] = np.asarray(part.resize((w, r1 - r0), flt, box=(x0, 0, x1, r1 - r0)))

    def down(c0: int, c1: int) -> None:
        part = Image.fromarray(np.ascontiguousarray(mid[:, c0:c1]))
        out[:, c0:c1] = np.asarray(part.resize((c1 - c0, h), flt, box=(0, y0, c1 - c0, y1)))

    def split(n: int) -> list[tuple[int, int]]:
        edges = [round(i * n / bands) for i in range(bands + 1)]
        return [(edges[i], edges[i + 1]) for i in range(bands) if edges[i + 1] > edges[i]]

    with ThreadPoolExecutor(bands) as pool:
        list(pool.map(lambda span: across(*span), split(image.shape[0])))
        list(pool.map(lambda span: down(*span), split(w)))
    return out


def prepare(image: np.ndarray | Image, spec: ModelSpec, *, size_hw: tuple[int, int] | None = None) -> np.ndarray:
    """Turn one RGB image into the model's input.

    Args:
        image: (H, W, 3) uint8 RGB or an :class:`Image` (uint16 is reduced to 8 bit as the reference processors
            do).
        spec: the model's entry (size rule, mean/std, resampling, padding).
        size_hw: force a model input size (height, width), e.g. a size bucket; default from the size rule.

    Returns:
        (3, h, w) float32 ``(pixel / 255 - mean) / std`` per channel (the model's mean/std), channels in RGB
        order; the resized pixels are those of the ``transformers`` processor (see the module docstring).
    """
    import cv2

    a = to_uint8(check_image(image))
    mean = np.asarray(spec.mean, np.float32) * 255.0
    inv_std = 1.0 / (np.asarray(spec.std, np.float32) * 255.0)
    if spec.family == "depth_pro":
        # Depth Pro normalises first, then resizes bilinearly without anti-aliasing.
        f = (a.astype(np.float32) - mean) * inv_std
        h, w = size_hw or model_input_size(a.shape[:2], spec)
        f = cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR)
        return np.ascontiguousarray(f.transpose(2, 0, 1))
    if spec.pad_reflect:
        ph, pw = zoe_padding(a.shape[:2])
        a = np.pad(a, ((ph, ph), (pw, pw), (0, 0)), mode="reflect")
    h, w = size_hw or model_input_size(a.shape[:2], spec)
    small = _resize(a, (h, w), spec.resample)
    out = np.empty((3, h, w), np.float32)
    out[...] = small.transpose(2, 0, 1)
    out -= mean[:, None, None]
    out *= inv_std[:, None, None]
    return out


def prepare_batch(images: list[np.ndarray], spec: ModelSpec, *, size_hw: tuple[int, int]) -> np.ndarray:
    """Stack several images resized to one shared input size: (B, 3, h, w) float32."""
    return np.stack([prepare(im, spec, size_hw=size_hw) for im in images])
