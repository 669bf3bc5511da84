"""The one model interface: :class:`DepthEstimator` turns RGB images into :class:`DepthMap` objects.

Backends (PyTorch, OpenVINO) only implement ``forward`` on a preprocessed batch; preprocessing, resizing back and
the meaning of the output live here, shared by every backend. Backends with static graphs (``static_shapes``) get
inputs snapped to size buckets (:mod:`depthforge.models.buckets`); images of one input size run as one batch.
Loaded models are cached in-process.
"""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np

from depthforge.core.deprecation import renamed_keywords
from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import TooLargeError, ValidationError
from depthforge.core.image import Image, check_image, to_uint8
from depthforge.core.intrinsics import Intrinsics
from depthforge.core.validation import check_choice, check_range, check_size_hw
from depthforge.models.buckets import bucket_for
from depthforge.models.hub import ModelSource, is_cached, model_folder, offline_mode, require_hub, resolve_model
from depthforge.models.preprocess import model_input_size, prepare, scaled_input_size, zoe_padding

__all__ = [
    "DepthEstimator",
    "Prepared",
    "Backend",
    "load_model",
    "resolve_depth_model",
    "check_model_available",
    "clear_model_cache",
    "choose_backend",
    "DEVICES",
    "DTYPES",
    "BACKENDS",
    "QUANTIZE",
]

DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "fp32", "bf16", "fp16")
BACKENDS = ("auto", "torch", "openvino")
QUANTIZE = (None, "none", "int8")
T = TypeVar("T")
# below this size of weights an export costs more than it saves: such models stay on PyTorch under "auto"
_MIN_EXPORT_MB = 20.0


class Backend(Protocol):
    """What a backend provides: a forward pass on a preprocessed batch."""

    name: str
    device: str
    dtype: str
    static_shapes: bool  # True: inputs are snapped to size buckets (one static graph per bucket)

    def forward(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(B, 3, h, w) float32 -> raw predictions (B, h', w') float32 and, for Depth Pro, fov (B,) degrees."""
        ...


@dataclass(frozen=True)
class Prepared:
    """One image's model input: ``pixels`` (3, h, w) float32 normalised, and the depth map's size
    ``output_size_hw`` (H, W) it is resized back to. ``out``: optionally a writable, C-ordered (H, W) float32 array
    nobody else uses, which the resized depth is written into and the :class:`DepthMap` then holds (e.g. allocated
    ahead of time); ignored (a new array is made) when it does not fit or the model does not resize into it
    (:attr:`DepthEstimator.fills_out`)."""

    pixels: np.ndarray
    output_size_hw: tuple[int, int]
    out: np.ndarray | None = None


class DepthEstimator:
    """A loaded depth model with its preprocessing; create once, call many times (thread-safe).

    Example:
        >>> est = load_model("depth-anything-v2-small")  # doctest: +SKIP
        >>> depth = est.predict(read_image("photo.jpg"))  # doctest: +SKIP
    """

    #: largest side (pixels) of a model input chosen by the size rule (:meth:`input_size`); None: no limit.
    #: Set through :meth:`with_max_input` or ``load_model(max_input_side_px=...)``.
    max_input_side_px: int | None = None

    def __init__(self, source: ModelSource, backend: Backend) -> None:
        self.source = source
        self.spec = source.spec
        self.backend = backend
        self._lock = threading.Lock()

    def with_max_input(self, max_input_side_px: int | None) -> DepthEstimator:
        """This model (the same weights, backend and lock) whose size rule never gives a model input with a side
        above ``max_input_side_px``: a photo the rule would see larger (a long panorama, for aspect-keeping models)
        is seen at that longer side instead, aspect kept (:func:`~depthforge.models.preprocess.scaled_input_size`).
        For a service that bounds what one request may cost; an ``input_size_hw`` given to :meth:`predict` is not
        changed, nor is a :class:`~depthforge.models.callable.CallableEstimator` (a function chooses its own sizes).
        None: no limit.

        Raises:
            ValidationError: ``max_input_side_px`` below one multiple of the model's input size step.
        """
        if max_input_side_px is not None:
            max_input_side_px = int(check_range(max_input_side_px, "max_input_side_px", low=self.spec.multiple))
        if max_input_side_px == self.max_input_side_px:
            return self
        view = copy.copy(self)
        view.max_input_side_px = max_input_side_px
        return view

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def fills_out(self) -> bool:
        """Whether a resized prediction is written into :attr:`Prepared.out` (not for models whose output is
        cropped from a padded map or transformed after resizing: ZoeDepth, Depth Pro)."""
        return not self.spec.pad_reflect and self.spec.family != "depth_pro"

    def __repr__(self) -> str:
        b = self.backend
        quant = getattr(b, "quantize", None)
        extra = f", quantize={quant}" if quant else ""
        return f"DepthEstimator({self.spec.name!r}, backend={b.name}, device={b.device}, dtype={b.dtype}{extra})"

    @property
    def backend_name(self) -> str:
        """``torch`` or ``openvino``, plus ``-int8`` in the quantised fast mode."""
        quant = getattr(self.backend, "quantize", None)
        return f"{self.backend.name}-{quant}" if quant else self.backend.name

    def describe(self) -> dict[str, object]:
        """What produced the maps, for records beside outputs: ``model``, ``kind``, ``backend`` (as
        :attr:`backend_name`), ``device`` and ``dtype``; a model with high-resolution detail adds ``detail``."""
        device, dtype = self.backend.device, self.backend.dtype
        return {"model": self.name, "kind": self.kind, "backend": self.backend_name, "device": device, "dtype": dtype}

    @property
    def deviation(self) -> float | None:
        """Measured mean |output - PyTorch fp32| / mean |PyTorch fp32| of this backend (0 for the reference,
        None when not measured yet: static backends measure it when a size bucket is first built)."""
        value = getattr(self.backend, "deviation", None)
        return None if value is None else float(value)

    @property
    def kind(self) -> str:
        """The kind of the maps it returns (``relative`` or ``metric``; see :class:`DepthMap`)."""
        return self.spec.kind

    def native_size(self, size_hw: tuple[int, int]) -> tuple[int, int]:
        """(height, width) at which the model effectively sees a whole image of ``size_hw``: its input size."""
        return self.input_size(size_hw)

    def input_size(self, size_hw: tuple[int, int]) -> tuple[int, int]:
        """(height, width) the model sees for an image of ``size_hw`` = (height, width) (after ZoeDepth padding,
        if any).

        The model's size rule; snapped to a size bucket when the backend runs static graphs; at most
        :attr:`max_input_side_px` on a side when that is set.

        Raises:
            TooLargeError: the rule gives a side above :attr:`max_input_side_px` for a model that cannot be run at
                another size (ZoeDepth's padding, Depth Pro's fixed input).
        """
        height, width = check_size_hw(size_hw)
        shape_hw = (height, width)
        if self.spec.pad_reflect:
            ph, pw = zoe_padding((height, width))
            height, width = height + 2 * ph, width + 2 * pw
        if getattr(self.backend, "static_shapes", False):
            size = bucket_for((height, width), self.spec)
        else:
            size = model_input_size((height, width), self.spec)
        cap = self.max_input_side_px
        if cap is None or max(size) <= cap:
            return size
        step = self.spec.multiple  # the longer side a multiple of the step at most the cap: never rounded above it
        scaled = scaled_input_size(shape_hw, self.spec, resolution_px=max(step, cap // step * step))
        if scaled is None:
            raise TooLargeError(
                f"image: {self.name} would see this {shape_hw[1]}x{shape_hw[0]} photo at {size[1]}x{size[0]} px, "
                f"above the limit of {cap} px on a side"
            )
        return scaled

    @renamed_keywords(input_size="input_size_hw", output_size="output_size_hw")
    def predict(
        self,
        image: Image | np.ndarray,
        *,
        input_size_hw: tuple[int, int] | None = None,
        output_size_hw: tuple[int, int] | None = None,
    ) -> DepthMap:
        """Estimate depth for one image.

        Args:
            image: an :class:`Image` or an (H, W, 3) uint8/uint16 RGB array.
            input_size_hw: force the model input (height, width); default from the model's size rule.
            output_size_hw: (height, width) of the depth map and of the photo the size rule applies to, when
                ``image`` is a reduced copy of a larger photo (see :func:`depthforge.io.images.read_image_reduced`);
                default the image's own size.

        Returns:
            A :class:`DepthMap` of the image's size (H, W): ``relative`` inverse depth (>= 0, larger = nearer) or
            ``metric`` metres, depending on the model; Depth Pro also sets intrinsics from its predicted field of view.
        """
        sizes = None if output_size_hw is None else [output_size_hw]
        return self.predict_batch([image], input_size_hw=input_size_hw, output_sizes_hw=sizes)[0]

    @renamed_keywords(input_size="input_size_hw", output_sizes="output_sizes_hw")
    def predict_batch(
        self,
        images: Sequence[Image | np.ndarray],
        *,
        input_size_hw: tuple[int, int] | None = None,
        output_sizes_hw: Sequence[tuple[int, int] | None] | None = None,
    ) -> list[DepthMap]:
        """Estimate depth for several images; images with the same model input size run as one batch.

        ``output_sizes_hw`` gives each image's full size when it is a reduced copy (see :meth:`predict`).
        """
        sizes = list(output_sizes_hw) if output_sizes_hw else [None] * len(images)
        prepared = [
            self.prepare(im, input_size_hw=input_size_hw, output_size_hw=size)
            for im, size in zip(images, sizes, strict=True)
        ]
        return self.predict_prepared(prepared)

    @renamed_keywords(input_size="input_size_hw", output_size="output_size_hw")
    def prepare(
        self,
        image: Image | np.ndarray,
        *,
        input_size_hw: tuple[int, int] | None = None,
        output_size_hw: tuple[int, int] | None = None,
    ) -> Prepared:
        """The model input of one image: the CPU-side first half of :meth:`predict` (safe in another thread).

        Args: as :meth:`predict`.

        Returns:
            A :class:`Prepared` item for :meth:`predict_prepared`.
        """
        rgb = to_uint8(check_image(image))
        if output_size_hw is None:
            hw = (int(rgb.shape[0]), int(rgb.shape[1]))
        else:
            hw = check_size_hw(output_size_hw, "output_size_hw")
        return Prepared(self._model_input(rgb, hw, input_size_hw), hw)

    def _model_input(self, rgb: np.ndarray, hw: tuple[int, int], input_size_hw: tuple[int, int] | None) -> np.ndarray:
        """(3, h, w) float32 model input of ``rgb`` ((h, w, 3) uint8), a photo of full size ``hw`` or a reduced copy."""
        size = input_size_hw or self.input_size(hw)
        if self.spec.pad_reflect and rgb.shape[:2] != hw:
            # ZoeDepth's padding is defined in full-size pixels: bring a reduced copy back to the full size first
            import cv2

            rgb = cv2.resize(rgb, (hw[1], hw[0]), interpolation=cv2.INTER_LINEAR)
        return prepare(rgb, self.spec, size_hw=size)

    def predict_prepared(self, items: Sequence[Prepared], *, throughput: bool = False) -> list[DepthMap]:
        """Run prepared inputs (:meth:`prepare`); items of one input size go to the backend together (PyTorch runs
        them as one batch, OpenVINO as one request per image).

        ``throughput``: tune for images per second rather than the latency of one (backends that can, such as
        OpenVINO, run the batch as parallel streams).

        Returns:
            One :class:`DepthMap` per item, in order, each of its ``output_size_hw``.
        """
        out: list[DepthMap | None] = [None] * len(items)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, item in enumerate(items):
            groups.setdefault((int(item.pixels.shape[1]), int(item.pixels.shape[2])), []).append(i)
        for idx in groups.values():
            batch = items[idx[0]].pixels[None] if len(idx) == 1 else np.stack([items[i].pixels for i in idx])
            forward = getattr(self.backend, "forward_throughput", None) if throughput else None
            with self._lock:
                raw, fov = (forward or self.backend.forward)(batch)
            for j, i in enumerate(idx):
                fov_j = None if fov is None else float(fov[j])
                out[i] = self._postprocess(raw[j], items[i].output_size_hw, fov_j, items[i].out)
        return [d for d in out if d is not None]

    def predict_stream(
        self, items: Iterable[tuple[T, Prepared | None]], *, batch_size: int = 2, throughput: bool = True
    ) -> Iterator[tuple[T, DepthMap | None]]:
        """Run a stream of prepared inputs (:meth:`prepare`), e.g. a folder being decoded in another thread.

        ``(tag, Prepared or None)`` in, ``(tag, DepthMap or None)`` out, in input order; ``None`` (a photo that was
        skipped or failed to read) passes through in its place. Backends that can keep several images in flight
        (OpenVINO's throughput streams, with ``throughput``) start each image as soon as a core is free; others
        run consecutive inputs of one size in batches of up to ``batch_size``.
        """
        stream = getattr(self.backend, "forward_stream", None) if throughput else None
        if stream is not None:
            feed = ((((tag, p)), None if p is None else p.pixels) for tag, p in items)
            for (tag, p), raw in stream(feed):
                yield tag, None if p is None or raw is None else self._postprocess(raw, p.output_size_hw, None, p.out)
            return
        pending: list[tuple[T, Prepared]] = []

        def flush() -> list[tuple[T, DepthMap | None]]:
            depths = self.predict_prepared([p for _, p in pending], throughput=throughput) if pending else []
            out: list[tuple[T, DepthMap | None]] = [(tag, d) for (tag, _), d in zip(pending, depths, strict=True)]
            pending.clear()
            return out

        for tag, p in items:
            if p is None or (pending and pending[-1][1].pixels.shape != p.pixels.shape):
                yield from flush()
            if p is None:
                yield tag, None
                continue
            pending.append((tag, p))
            if len(pending) >= max(1, batch_size):
                yield from flush()
        yield from flush()

    def predict_uncertainty(self, image: Image | np.ndarray) -> tuple[DepthMap, np.ndarray]:
        """Depth and its uncertainty from a Marigold ensemble (:func:`~depthforge.models.marigold_source` with
        ``ensemble_size`` >= 3).

        Returns:
            The :class:`DepthMap` :meth:`predict` gives, and the ensemble's spread: (H, W) float32 >= 0 in Marigold's
            affine depth units (fractions of the scene's near-to-far range), larger = less certain.

        Raises:
            ValidationError: the model is not Marigold, or its ensemble is smaller than 3.
        """
        run = getattr(self.backend, "run", None)
        if self.spec.family != "marigold" or run is None:
            raise ValidationError(f"model: {self.spec.name} gives no uncertainty (Marigold ensembles of 3 or more do)")
        rgb8 = to_uint8(check_image(image))
        x = prepare(rgb8, self.spec, size_hw=self.input_size(rgb8.shape[:2]))[None]
        with self._lock:
            raw, spread = run(x, uncertainty=True)
        hw = rgb8.shape[:2]
        return self._postprocess(raw[0], hw, None), np.maximum(self._resize_back(spread[0], hw), 0)

    @renamed_keywords(input_size="input_size_hw")
    def predict_raw(self, image: Image | np.ndarray, *, input_size_hw: tuple[int, int] | None = None) -> np.ndarray:
        """The model's raw output resized to the image (before any clipping): (H, W) float32."""
        rgb8 = to_uint8(check_image(image))
        size = input_size_hw or self.input_size(rgb8.shape[:2])
        x = prepare(rgb8, self.spec, size_hw=size)[None]
        with self._lock:
            raw, _ = self.backend.forward(x)
        return self._resize_back(raw[0], rgb8.shape[:2])

    def _resize_back(self, raw: np.ndarray, hw: tuple[int, int], out: np.ndarray | None = None) -> np.ndarray:
        import cv2

        h, w = hw
        pred: np.ndarray = raw.astype(np.float32)
        if self.spec.pad_reflect:
            ph, pw = zoe_padding((h, w))
            pred = cv2.resize(pred, (w + 2 * pw, h + 2 * ph), interpolation=cv2.INTER_CUBIC)
            return np.ascontiguousarray(pred[ph : ph + h, pw : pw + w])
        if pred.shape != (h, w):
            # into a numpy array: numpy's allocator asks for transparent huge pages, so a 12-megapixel map costs a
            # few page faults instead of ~12 000 (benchmarks/RESULTS.md)
            fits = out is not None and out.shape == (h, w) and out.dtype == np.float32
            if out is None or not (fits and out.flags.c_contiguous and out.flags.writeable):
                out = np.empty((h, w), np.float32)
            resized: np.ndarray = cv2.resize(pred, (w, h), dst=out, interpolation=cv2.INTER_CUBIC)
            return resized
        return pred

    def _postprocess(
        self, raw: np.ndarray, hw: tuple[int, int], fov_deg: float | None, out: np.ndarray | None = None
    ) -> DepthMap:
        w = hw[1]
        meta: dict[str, Any] = {"licence": self.spec.licence}
        intr = None
        if self.spec.family == "depth_pro" and fov_deg is not None:
            intr = Intrinsics.from_fov(hw, fov_deg=min(max(fov_deg, 1.0), 179.0), source="depth-pro predicted fov")
            scale = w / intr.fx
            pred = self._resize_back(raw * np.float32(scale), hw)
            values = 1.0 / np.clip(pred, 1e-4, 1e4)
        elif self.spec.family == "marigold":
            # affine depth (0 = near) -> relative inverse depth under the stated far/near ratio (models.marigold)
            from depthforge.models.marigold import DEFAULT_FAR_NEAR_RATIO, affine_depth_to_relative

            ratio = self.spec.extra.get("far_near_ratio", DEFAULT_FAR_NEAR_RATIO)
            values = affine_depth_to_relative(self._resize_back(raw, hw), far_near_ratio=ratio)
            meta["conversion"] = f"Marigold affine depth d (0 = near) as 1 / (1 + (k - 1) d), k = {ratio:g} assumed"
        else:
            # no clipping: like the reference pipeline, relative values may dip a little below 0 where bicubic
            # resizing overshoots at sharp edges (harmless: relative inverse depth has an unknown shift anyway)
            values = self._resize_back(raw, hw, out)
        if values.flags.owndata:
            values.setflags(write=False)  # a fresh array nobody else holds: the DepthMap adopts it without a copy
        return DepthMap(values, kind=self.spec.kind, intrinsics=intr, model=self.spec.name, meta=meta)


_CacheKey = tuple[str, str, str, str, str]
_CACHE: dict[_CacheKey, DepthEstimator] = {}
_CACHE_LOCK = threading.Lock()  # guards the two dicts only, never held while a model loads
_LOADING: dict[_CacheKey, threading.Lock] = {}  # one lock per model being loaded: others load in parallel


def _weights_mb(source: ModelSource) -> float:
    """Size of a model's weights in MB: from its files when known, else from the registry's parameter count."""
    folder = model_folder(source)
    if folder is not None and folder.is_dir():
        files = [f for f in folder.iterdir() if f.suffix in (".safetensors", ".bin") and f.is_file()]
        if files:
            return sum(f.stat().st_size for f in files) / 1e6
    return source.spec.params_millions * 4.0


def choose_backend(
    source: ModelSource, *, device: str = "auto", dtype: str = "auto", quantize: str | None = None
) -> str:
    """The backend ``auto`` stands for: OpenVINO for Depth Anything / DPT models on CPU in fp32, bf16 (or int8)
    when the ``openvino`` package is installed and the model is not tiny, else PyTorch (GPUs, other families,
    fp16). ``$DEPTHFORGE_BACKEND`` (torch or openvino) overrides the choice. (OpenVINO refuses bf16 on a CPU
    without native bf16: see :func:`depthforge.models.openvino_backend.cpu_supports_bf16`.)"""
    forced = os.environ.get("DEPTHFORGE_BACKEND", "").strip().lower()
    if forced and forced != "auto":
        return str(check_choice(forced, "DEPTHFORGE_BACKEND", BACKENDS[1:]))
    from depthforge.models.openvino_backend import SUPPORTED_FAMILIES, openvino_available

    if quantize:
        return "openvino"
    if device not in ("auto", "cpu") or dtype not in ("auto", "fp32", "bf16"):
        return "torch"
    if source.spec.family not in SUPPORTED_FAMILIES or not openvino_available():
        return "torch"
    if device == "auto":
        from depthforge.models.torch_backend import pick_device

        if pick_device("auto") != "cpu":
            return "torch"
    return "openvino" if _weights_mb(source) >= _MIN_EXPORT_MB else "torch"


def _say_torch_bf16(source: ModelSource) -> None:
    """A notice that bf16 runs on PyTorch, and why not on OpenVINO (which would measure its deviation)."""
    import logging

    from depthforge.models.openvino_backend import SUPPORTED_FAMILIES, openvino_available

    if not openvino_available():
        why = "OpenVINO is not installed: pip install 'depthforge[fast]'"
    elif source.spec.family not in SUPPORTED_FAMILIES:
        why = f"OpenVINO does not take the {source.spec.family} family"
    else:
        why = f"the model is too small ({_weights_mb(source):.0f} MB) for an OpenVINO export to pay"
    logging.getLogger("depthforge").info(f"bf16 runs on PyTorch ({why}); its deviation from fp32 is not measured")


def load_model(
    model: str | ModelSource = "depth-anything-v2-small",
    *,
    device: str = "auto",
    dtype: str = "auto",
    backend: str = "auto",
    quantize: str | None = None,
    max_input_side_px: int | None = None,
) -> DepthEstimator:
    """Load (or reuse from the in-process cache) a depth model.

    Args:
        model: registry name, hub id, local folder, or a resolved :class:`ModelSource`.
        device: ``auto`` (cuda, then mps, then cpu), ``cpu``, ``cuda`` or ``mps``.
        dtype: ``auto`` (fp16 on GPUs, fp32 on CPU), ``fp32``, ``bf16`` or ``fp16``.
        backend: ``auto`` (see :func:`choose_backend`), ``torch`` (the reference) or ``openvino`` (optional extra;
            one graph per model exported on first use, PyTorch answering meanwhile, cached on disk, verified
            against PyTorch when built; bf16 on CPUs with AVX512-BF16 or AMX only).
        quantize: ``int8`` for the opt-in fast mode (OpenVINO + NNCF post-training quantisation; its measured
            deviation from fp32 is :attr:`DepthEstimator.deviation`), or None / ``none``.
        max_input_side_px: largest side (pixels) of a model input the size rule may choose
            (:meth:`DepthEstimator.with_max_input`); None: the model's own rule. The weights are shared.

    Raises:
        ModelError: unknown model, a model that cannot be loaded, or a missing optional backend.
        ModelNotAvailableError: not cached and the hub is unreachable.
    """
    check_choice(device, "device", DEVICES)
    check_choice(dtype, "dtype", DTYPES)
    check_choice(backend, "backend", BACKENDS)
    check_choice(quantize, "quantize", QUANTIZE)
    quant = None if quantize in (None, "none") else quantize
    if quant and backend == "torch":
        raise ValidationError("quantize: int8 runs on the openvino backend (use --backend openvino or auto)")
    source = model if isinstance(model, ModelSource) else resolve_depth_model(model)
    options = ",".join(f"{k}={v:g}" for k, v in sorted(source.spec.extra.items()))  # Marigold's steps, seed, ...
    key = (f"{source.location}|{source.spec.input_size_hw}|{options}", device, dtype, backend, quant or "")
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            return hit.with_max_input(max_input_side_px)
        loading = _LOADING.setdefault(key, threading.Lock())
    with loading:  # a second caller of the same model waits for the first and reuses its result
        with _CACHE_LOCK:
            hit = _CACHE.get(key)
        if hit is not None:
            return hit.with_max_input(max_input_side_px)
        try:
            est = _load(source, device=device, dtype=dtype, backend=backend, quant=quant)
            with _CACHE_LOCK:
                _CACHE[key] = est
        finally:
            with _CACHE_LOCK:
                _LOADING.pop(key, None)
        return est.with_max_input(max_input_side_px)


def resolve_depth_model(model: str) -> ModelSource:
    """``--model`` resolved as :func:`load_model` resolves it, without loading: a Marigold pipeline (a diffusers
    folder or ``marigold:`` name), else a transformers depth model (:func:`~depthforge.models.hub.resolve_model`).

    Raises:
        ModelError: neither.
    """
    from depthforge.models.marigold import resolve_marigold

    return resolve_marigold(model) or resolve_model(model)


def check_model_available(model: str | ModelSource) -> ModelSource:
    """``--model`` resolved (:func:`resolve_depth_model`) and within reach: a local folder, cached, or the hub
    reachable. Cheap (no weights read); front ends call it before any work.

    Raises:
        ModelError: unknown model, or one neither cached nor downloadable now (one line).
    """
    source = resolve_depth_model(model) if isinstance(model, str) else model
    if not (source.is_local or offline_mode() or is_cached(source.spec.hub_id or source.location)):
        require_hub(source.spec.name)  # before any heavy import: an offline machine hears it at once
    return source


def _load(source: ModelSource, *, device: str, dtype: str, backend: str, quant: str | None) -> DepthEstimator:
    """Build the estimator of a resolved model (downloading or exporting as needed)."""
    check_model_available(source)
    if source.spec.family == "marigold":
        if backend == "openvino" or quant:
            raise ValidationError("backend: Marigold runs on PyTorch only (no --backend openvino, no --quantize)")
        from depthforge.models.marigold import MarigoldBackend

        return DepthEstimator(source, MarigoldBackend(source, device=device, dtype=dtype))
    chosen = backend if backend != "auto" else choose_backend(source, device=device, dtype=dtype, quantize=quant)
    if chosen == "torch" and backend == "auto" and dtype == "bf16" and device in ("auto", "cpu"):
        _say_torch_bf16(source)  # user trial 6: --fast said "bf16 on OpenVINO" while PyTorch ran it
    backend_obj: Backend
    if source.guessed and chosen != "torch":  # download first, so the export sees the real architecture
        from depthforge.models.torch_backend import load_torch_model

        load_torch_model(source)
        source = resolve_model(source.location)
    if chosen == "openvino":
        from depthforge.models.openvino_backend import OpenVINOBackend

        backend_obj = OpenVINOBackend(source, device=device, dtype=dtype, quantize=quant)
    else:
        from depthforge.models.torch_backend import TorchBackend

        backend_obj = TorchBackend(source, device=device, dtype=dtype)
    if source.guessed:  # downloaded just now: read the real architecture and preprocessing from the cache
        source = resolve_model(source.location)
    return DepthEstimator(source, backend_obj)


def clear_model_cache() -> None:
    """Forget every cached model (frees memory)."""
    with _CACHE_LOCK:
        _CACHE.clear()
