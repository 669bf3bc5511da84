"""The one model interface: :class:`DepthEstimator` turns RGB images into :class:`DepthMap` objects.

Backends (PyTorch today) only implement ``forward`` on a preprocessed batch; preprocessing, resizing back and
the meaning of the output live here, shared by every backend. Loaded models are cached in-process.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from depthforge.core.depthmap import DepthMap
from depthforge.core.intrinsics import Intrinsics
from depthforge.core.validation import check_array, check_choice
from depthforge.io.images import Image, to_uint8
from depthforge.models.hub import ModelSource, resolve_model
from depthforge.models.preprocess import model_input_size, prepare, zoe_padding

__all__ = ["DepthEstimator", "Backend", "load_model", "clear_model_cache", "DEVICES", "DTYPES"]

DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "fp32", "bf16", "fp16")


class Backend(Protocol):
    """What a backend provides: a forward pass on a preprocessed batch."""

    name: str
    device: str
    dtype: str

    def forward(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(B, 3, h, w) float32 -> raw predictions (B, h', w') float32 and, for Depth Pro, fov (B,) degrees."""
        ...


class DepthEstimator:
    """A loaded depth model with its preprocessing; create once, call many times (thread-safe).

    Example:
        >>> est = load_model("depth-anything-v2-small")  # doctest: +SKIP
        >>> depth = est.predict(read_image("photo.jpg"))  # doctest: +SKIP
    """

    def __init__(self, source: ModelSource, backend: Backend) -> None:
        self.source = source
        self.spec = source.spec
        self.backend = backend
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.spec.name

    def __repr__(self) -> str:
        b = self.backend
        return f"DepthEstimator({self.spec.name!r}, backend={b.name}, device={b.device}, dtype={b.dtype})"

    def input_size(self, height: int, width: int) -> tuple[int, int]:
        """(h, w) the model sees for an image of height x width (after ZoeDepth padding, if any)."""
        if self.spec.pad_reflect:
            ph, pw = zoe_padding(height, width)
            height, width = height + 2 * ph, width + 2 * pw
        return model_input_size(height, width, self.spec)

    def predict(self, image: Image | np.ndarray, *, input_size: tuple[int, int] | None = None) -> DepthMap:
        """Estimate depth for one image.

        Args:
            image: an :class:`Image` or an (H, W, 3) uint8/uint16 RGB array.
            input_size: force the model input (height, width); default from the model's size rule.

        Returns:
            A :class:`DepthMap` of the image's size (H, W): ``relative`` inverse depth (>= 0, larger = nearer) or
            ``metric`` metres, depending on the model; Depth Pro also sets intrinsics from its predicted field of view.
        """
        return self.predict_batch([image], input_size=input_size)[0]

    def predict_batch(
        self, images: Sequence[Image | np.ndarray], *, input_size: tuple[int, int] | None = None
    ) -> list[DepthMap]:
        """Estimate depth for several images; images with the same model input size run as one batch."""
        rgbs = [
            to_uint8(im.rgb if isinstance(im, Image) else check_array(im, "image", ndim=3, channels=3)) for im in images
        ]
        out: list[DepthMap | None] = [None] * len(rgbs)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, rgb in enumerate(rgbs):
            size = input_size or self.input_size(rgb.shape[0], rgb.shape[1])
            groups.setdefault(size, []).append(i)
        for size, idx in groups.items():
            batch = np.stack([prepare(rgbs[i], self.spec, size_hw=size) for i in idx])
            with self._lock:
                raw, fov = self.backend.forward(batch)
            for j, i in enumerate(idx):
                out[i] = self._postprocess(raw[j], rgbs[i].shape[:2], None if fov is None else float(fov[j]))
        return [d for d in out if d is not None]

    def predict_raw(self, rgb: np.ndarray, *, input_size: tuple[int, int] | None = None) -> np.ndarray:
        """The model's raw output resized to the image (before any clipping): (H, W) float32."""
        rgb8 = to_uint8(check_array(rgb, "image", ndim=3, channels=3))
        size = input_size or self.input_size(rgb8.shape[0], rgb8.shape[1])
        raw, _ = self.backend.forward(prepare(rgb8, self.spec, size_hw=size)[None])
        return self._resize_back(raw[0], rgb8.shape[:2])

    def _resize_back(self, raw: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
        import cv2

        h, w = hw
        pred: np.ndarray = raw.astype(np.float32)
        if self.spec.pad_reflect:
            ph, pw = zoe_padding(h, w)
            pred = cv2.resize(pred, (w + 2 * pw, h + 2 * ph), interpolation=cv2.INTER_CUBIC)
            return np.ascontiguousarray(pred[ph : ph + h, pw : pw + w])
        if pred.shape != (h, w):
            pred = cv2.resize(pred, (w, h), interpolation=cv2.INTER_CUBIC)
        return pred

    def _postprocess(self, raw: np.ndarray, hw: tuple[int, int], fov_deg: float | None) -> DepthMap:
        h, w = hw
        meta: dict[str, Any] = {"licence": self.spec.licence}
        intr = None
        if self.spec.family == "depth_pro" and fov_deg is not None:
            intr = Intrinsics.from_fov(w, h, hfov_deg=min(max(fov_deg, 1.0), 179.0), source="depth-pro predicted fov")
            scale = w / intr.fx
            pred = self._resize_back(raw * np.float32(scale), hw)
            values = 1.0 / np.clip(pred, 1e-4, 1e4)
        else:
            values = self._resize_back(raw, hw)
            if self.spec.kind == "relative":
                # bicubic resizing can overshoot below zero; relative inverse depth is >= 0
                np.maximum(values, 0.0, out=values)
        return DepthMap(values, kind=self.spec.kind, intrinsics=intr, model=self.spec.name, meta=meta)


_CACHE: dict[tuple[str, str, str, str], DepthEstimator] = {}
_CACHE_LOCK = threading.Lock()


def load_model(
    model: str | ModelSource = "depth-anything-v2-small",
    *,
    device: str = "auto",
    dtype: str = "auto",
    backend: str = "torch",
) -> DepthEstimator:
    """Load (or reuse from the in-process cache) a depth model.

    Args:
        model: registry name, hub id, local folder, or a resolved :class:`ModelSource`.
        device: ``auto`` (cuda, then mps, then cpu), ``cpu``, ``cuda`` or ``mps``.
        dtype: ``auto`` (fp16 on GPUs, fp32 on CPU), ``fp32``, ``bf16`` or ``fp16``.
        backend: ``torch`` (the reference backend).

    Raises:
        ModelError: unknown model or a model that cannot be loaded.
        ModelNotAvailableError: not cached and the hub is unreachable.
    """
    check_choice(device, "device", DEVICES)
    check_choice(dtype, "dtype", DTYPES)
    check_choice(backend, "backend", ("torch",))
    source = model if isinstance(model, ModelSource) else resolve_model(model)
    key = (source.location, device, dtype, backend)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            return hit
        from depthforge.models.torch_backend import TorchBackend

        backend_obj = TorchBackend(source, device=device, dtype=dtype)
        if source.guessed:  # downloaded just now: read the real architecture and preprocessing from the cache
            source = resolve_model(source.location)
        est = DepthEstimator(source, backend_obj)
        _CACHE[key] = est
        return est


def clear_model_cache() -> None:
    """Forget every cached model (frees memory)."""
    with _CACHE_LOCK:
        _CACHE.clear()
