"""Foreground masks by any method, and depth estimated with the background removed first.

One entry point for the ``mask`` command, the batch outputs ``mask`` and ``cutout`` and the web UI:
:func:`foreground` turns an image (and its depth) into alpha by one of :data:`MASK_METHODS`:

* ``depth``: depth threshold + guided filter (:func:`depthforge.render.masks.foreground_alpha`; no model);
* ``model``: the depth mask's edge refined by a matting model (ViTMatte);
* ``rembg:NAME``: one of rembg's background-removal models (:mod:`depthforge.models.rembg_backend`; no depth);
* ``sam``: Segment Anything prompted from the nearest depth band, or a click;
* ``fused``: a segmentation (``segmenter``: ``sam`` or ``rembg:NAME``) kept where it agrees with a depth band
  (:func:`depthforge.render.fusion.fuse_segmentation`).

With ``matting_model`` the segmentation methods refine their edge with ViTMatte on a trimap made from both cues.
Models are loaded once per process and reused.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import ValidationError
from depthforge.core.image import Image, check_image, to_uint8
from depthforge.render import fusion, masks

__all__ = ["MASK_METHODS", "MaskOptions", "needs_depth", "require_models", "foreground", "estimate_without_background"]

MASK_METHODS = ("depth", "model", "rembg:NAME", "sam", "fused")


@dataclass(frozen=True)
class MaskOptions:
    """How :func:`foreground` finds the foreground.

    Attributes:
        method: one of :data:`MASK_METHODS` (``rembg:`` followed by a model name, e.g. ``rembg:u2net``).
        segmenter: the segmentation ``fused`` uses: ``sam`` or ``rembg:NAME``.
        seg_file: your ONNX file, for ``rembg:u2net_custom`` / ``dis_custom`` / ``ben_custom``.
        sam_model: SAM registry name, hub id or folder (None = ``sam-vit-base``).
        matting_model: ViTMatte name or folder; for ``model`` the default is used when None, for the segmentation
            methods None means no matting.
        allow_noncommercial: accept weights licensed for non-commercial use only (RMBG-2.0).
        threshold, auto, largest, feather_px: the depth mask's options (``depth`` and ``model``).
        click_xy: (x, y) pixel on the object for ``sam`` / ``fused`` (None = the nearest depth band).
        device: ``auto``, ``cpu``, ``cuda``, ... for the torch models.
    """

    method: str = "depth"
    segmenter: str = "sam"
    seg_file: str | None = None
    sam_model: str | None = None
    matting_model: str | None = None
    allow_noncommercial: bool = False
    threshold: float | None = None
    auto: str = "otsu"
    largest: bool = False
    feather_px: int | None = None
    click_xy: tuple[float, float] | None = None
    device: str = "auto"


def _check_method(text: str, name: str, allowed: tuple[str, ...]) -> str:
    value = str(text).strip()
    if value in allowed or (value.startswith("rembg:") and len(value) > 6 and "rembg:NAME" in allowed):
        return value
    raise ValidationError(f"{name}: expected {' | '.join(allowed)}, got {value[:60]!r}")


def needs_depth(options: MaskOptions) -> bool:
    """Whether the method uses depth (every method but ``rembg:NAME``)."""
    return not _check_method(options.method, "method", MASK_METHODS).startswith("rembg:")


def require_models(options: MaskOptions) -> None:
    """Check, before any other work and without loading them, the SAM and matting models :func:`foreground` would
    load for ``options``: one that is neither a local folder nor cached raises the one-line
    :class:`~depthforge.core.errors.ModelNotAvailableError` at once when ``HF_HUB_OFFLINE`` is set or the hub
    cannot be reached (a batch would otherwise estimate depth first).

    Raises:
        ModelError: an unknown model name; ModelNotAvailableError: as above.
    """
    method = _check_method(options.method, "method", MASK_METHODS)
    if (options.segmenter if method == "fused" else method) == "sam":
        from depthforge.models.sam import SamSegmenter, resolve_sam_model

        SamSegmenter.require_available(*resolve_sam_model(options.sam_model))
    if method == "model" or (options.matting_model is not None and method != "depth"):
        from depthforge.models.segmentation import MattingModel, resolve_matting_model

        MattingModel.require_available(*resolve_matting_model(options.matting_model))


@functools.lru_cache(maxsize=4)
def _rembg(name: str, seg_file: str | None, allow_noncommercial: bool) -> Any:
    from depthforge.models.rembg_backend import load_rembg_model

    return load_rembg_model(name, model_path=seg_file, allow_noncommercial=allow_noncommercial)


@functools.lru_cache(maxsize=2)
def _sam(name: str | None, device: str) -> Any:
    from depthforge.models.sam import load_sam_model

    return load_sam_model(name, device=device)


@functools.lru_cache(maxsize=2)
def _matting(name: str | None, device: str) -> Any:
    from depthforge.models.segmentation import load_matting_model

    return load_matting_model(name, device=device)


def _segment(image: np.ndarray, depth: DepthMap | None, source: str, o: MaskOptions) -> np.ndarray:
    """(H, W) float32 foreground probability from ``sam`` or ``rembg:NAME``."""
    if source.startswith("rembg:"):
        return np.asarray(_rembg(source[6:], o.seg_file, o.allow_noncommercial).predict(image), np.float32)
    if depth is None:
        raise ValidationError("depth: SAM is prompted from depth; give a depth map")
    prompt = fusion.depth_prompts(depth, click_xy=o.click_xy)
    return np.asarray(
        _sam(o.sam_model, o.device).predict(
            image, box_xyxy=prompt.box_xyxy, points_xy=prompt.points_xy, point_labels=prompt.point_labels
        ),
        np.float32,
    )


def _band(size_hw: tuple[int, int], feather_px: int | None) -> int:
    return feather_px or max(4, round(0.01 * max(size_hw)))


def foreground(image: np.ndarray | Image, depth: DepthMap | None, options: MaskOptions | None = None) -> np.ndarray:
    """The foreground alpha of a photo.

    Args:
        image: (H, W, 3) uint8/uint16 RGB or an :class:`Image`.
        depth: its depth map (any kind, same size); may be None for ``rembg:NAME``.
        options: the method and its options (default: ``depth``).

    Returns:
        (H, W) float32 alpha in [0, 1], 1 = foreground.
    """
    o = options or MaskOptions()
    method = _check_method(o.method, "method", MASK_METHODS)
    pixels = check_image(image, dtype_kind="u")
    if depth is None and needs_depth(o):
        raise ValidationError(f"depth: method '{method}' needs a depth map")
    if method == "depth":
        assert depth is not None
        return masks.foreground_alpha(
            depth, image=pixels, threshold=o.threshold, method=o.auto, largest=o.largest, radius_px=o.feather_px
        )
    rgb8 = to_uint8(pixels)
    tri: np.ndarray | None
    size_hw = (pixels.shape[0], pixels.shape[1])
    if method == "model":
        assert depth is not None
        hard = masks.depth_mask(depth, threshold=o.threshold, method=o.auto, largest=o.largest)
        tri = masks.trimap(hard, band=_band(size_hw, o.feather_px))
        return np.asarray(_matting(o.matting_model, o.device).predict(rgb8, tri), np.float32)
    if method == "fused":
        assert depth is not None
        source = _check_method(o.segmenter, "segmenter", ("sam", "rembg:NAME"))
        fused = fusion.fuse_segmentation(depth, _segment(rgb8, depth, source, o), band_px=o.feather_px)
        alpha, tri = fused.alpha, fused.trimap
    else:
        alpha = _segment(rgb8, depth, method, o)
        tri = masks.trimap(alpha >= 0.5, band=_band(size_hw, o.feather_px)) if o.matting_model else None
    if o.matting_model is not None and tri is not None and (alpha >= 0.5).any():
        return np.asarray(_matting(o.matting_model, o.device).predict(rgb8, tri), np.float32)
    return alpha


def estimate_without_background(
    image: np.ndarray | Image, alpha: np.ndarray, *, model: Any, fill_rgb: tuple[int, int, int] = (0, 0, 0)
) -> DepthMap:
    """Depth of the foreground alone, as the A1111 depthmap extension makes it with rembg: the background is
    removed before estimation (painted ``fill_rgb``), then set to the far value of the foreground's depth
    (:func:`depthforge.render.fusion.depth_without_background`).

    Args:
        image: (H, W, 3) uint8/uint16 RGB or an :class:`Image`.
        alpha: (H, W) float in [0, 1], 1 = foreground (e.g. from :func:`foreground`).
        model: a :class:`~depthforge.models.estimator.DepthEstimator` (or anything with ``predict(image)``).
        fill_rgb: the colour the background is painted before the model sees the photo (0..255).

    Returns:
        A :class:`DepthMap` of the model's kind: the foreground as the model estimates it on the cut-out photo,
        the background at the foreground's far end.
    """
    pixels = check_image(image, dtype_kind="u")
    cut = masks.replace_background(pixels, alpha, color=fill_rgb)
    photo = replace(image, rgb=cut, alpha=None) if isinstance(image, Image) else Image.from_array(cut)
    depth = model.predict(photo)
    return fusion.depth_without_background(depth, alpha)
