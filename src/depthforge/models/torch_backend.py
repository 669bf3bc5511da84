"""PyTorch backend over ``transformers.AutoModelForDepthEstimation`` (SDPA attention, inference mode)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic

import numpy as np

from depthforge.core.errors import ModelError, ValidationError
from depthforge.core.threads import limit_library_threads
from depthforge.models.hub import MODEL_HINT, ModelSource, is_cached, not_available, offline_mode, require_hub
from depthforge.models.registry import E

__all__ = ["TorchBackend", "pick_device", "load_torch_model", "load_pretrained", "PretrainedModel", "set_cpu_threads"]

_TORCH_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def pick_device(device: str) -> str:
    """Resolve ``auto`` to cuda, mps or cpu; check that an explicit device exists."""
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValidationError("device: cuda was asked for but no CUDA GPU is available (device='cpu'; --device cpu)")
    if device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValidationError(
            "device: mps was asked for but Apple's Metal backend is not available (device='cpu'; --device cpu)"
        )
    return device


def _short(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


def load_torch_model(source: ModelSource, *, device: str = "cpu", dtype: str = "fp32") -> Any:
    """The transformers model of a resolved source, in eval mode on ``device`` (SDPA attention where supported).

    Raises:
        ModelError: the model cannot be loaded. ModelNotAvailableError: not cached and the hub is unreachable.
    """
    spec = source.spec
    local_only = source.is_local or offline_mode() or is_cached(spec.hub_id or source.location)
    if not local_only:
        require_hub(spec.name)  # before the heavy imports: an offline machine hears it at once
    try:
        import torch
        from transformers import AutoModelForDepthEstimation
        from transformers.utils import logging as hf_logging
    except ImportError as exc:  # pragma: no cover - base dependencies
        raise ModelError(f"PyTorch and transformers are needed to run models ({_short(exc)})") from None
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    kwargs: dict[str, Any] = {"local_files_only": local_only, "dtype": getattr(torch, _TORCH_DTYPES[dtype])}
    try:
        try:
            model = AutoModelForDepthEstimation.from_pretrained(source.location, attn_implementation="sdpa", **kwargs)
        except ValueError as exc:
            if "sdpa" not in str(exc).lower() and "attention" not in str(exc).lower():
                raise
            # the depth head has no attention of its own; its backbone (DINOv2, ViT) still defaults to SDPA
            model = AutoModelForDepthEstimation.from_pretrained(source.location, **kwargs)
    except OSError as exc:
        if not source.is_local and (local_only or "connect" in str(exc).lower() or "offline" in str(exc).lower()):
            if not is_cached(spec.hub_id or source.location):
                raise not_available(spec.name) from None
        raise ModelError(f"model '{spec.name}' could not be loaded ({_short(exc)})") from None
    except (ValueError, KeyError, RuntimeError) as exc:
        raise ModelError(f"model '{spec.name}' could not be loaded ({_short(exc)})") from None
    return model.to(device).eval()


def load_pretrained(
    classes: Sequence[str],
    location: str,
    *,
    name: str,
    hub_id: str,
    is_local: bool,
    what: str,
    device: str,
    hint: str = MODEL_HINT,
) -> list[Any]:
    """``from_pretrained(location)`` of each named transformers class (a model first, then e.g. its processor),
    offline first: only local files when the source is a folder, the machine is offline or ``hub_id`` is cached.

    Args:
        classes: names in ``transformers``, e.g. ``("SamModel", "SamProcessor")``.
        location: a local folder or a hub id. name: the model's name in messages. what: its sort, e.g. ``"SAM
            model"``. device: where the first (the model) goes, in eval mode (resolved: see :func:`pick_device`).
        hint: what to pass instead when the model is not cached and the hub cannot be reached, naming the
            caller's flag (see :func:`~depthforge.models.hub.require_hub`).

    Raises:
        ModelNotAvailableError: not local, not cached, and offline or the download failed. ModelError: anything else.
    """
    local_only = is_local or is_cached(hub_id)
    if not local_only:
        require_hub(name, hint=hint)  # before the heavy imports: an offline machine hears it at once
    try:
        import transformers
        from transformers.utils import logging as hf_logging
    except ImportError as exc:  # pragma: no cover - base dependencies
        raise ModelError(f"PyTorch and transformers are needed to run {what}s ({exc})") from None
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        model, *rest = [
            getattr(transformers, c).from_pretrained(location, local_files_only=local_only) for c in classes
        ]
    except OSError as exc:
        if not is_local and not is_cached(hub_id):
            raise not_available(name, hint=hint) from None
        raise ModelError(f"{what} '{name}' could not be loaded ({str(exc).strip()[:200]})") from None
    except (ValueError, KeyError, RuntimeError) as exc:
        raise ModelError(f"{what} '{name}' could not be loaded ({str(exc).strip()[:200]})") from None
    return [model.to(device).eval(), *rest]


class PretrainedModel(Generic[E]):
    """A transformers model (and its processor, if any) loaded by :func:`load_pretrained` from a resolved entry of a
    model registry: the base of the SAM and matting models. A subclass names its transformers ``classes`` (the
    model first), ``what`` it is (in messages) and the command-line ``flag`` that chooses it (named in the one-line
    error of a model that is not cached while the hub cannot be reached).

    Attributes:
        spec: the registry entry (``name``, ``hub_id``). device: where the model runs. model: the model, in eval
            mode. processor: the second of ``classes`` when there is one, else None.
    """

    classes: tuple[str, ...] = ()
    what = "model"
    flag = "--model"  # the command-line option that names this sort of model (in the offline message)

    @classmethod
    def offline_hint(cls) -> str:
        """What to pass instead of a model that is neither cached nor reachable (names :attr:`flag`)."""
        return f"a local folder with {cls.flag} PATH"

    @classmethod
    def require_available(cls, spec: E, location: str, is_local: bool) -> None:
        """Check a resolved entry without loading it: a model that is neither a local folder nor cached raises the
        one-line :class:`~depthforge.core.errors.ModelNotAvailableError` now when ``HF_HUB_OFFLINE`` is set or the
        hub cannot be reached (see :func:`~depthforge.models.hub.require_hub`); e.g. before a batch's other work."""
        if not (is_local or is_cached(spec.hub_id)):
            require_hub(spec.name, hint=cls.offline_hint())

    def __init__(self, spec: E, location: str, is_local: bool, *, device: str = "auto") -> None:
        self.require_available(spec, location, is_local)  # before importing torch: offline is one line at once
        import torch

        self.spec = spec
        self.device = pick_device(device)
        self.model, *rest = load_pretrained(
            self.classes,
            location,
            name=spec.name,
            hub_id=spec.hub_id,
            is_local=is_local,
            what=self.what,
            device=self.device,
            hint=self.offline_hint(),
        )
        self.processor: Any = rest[0] if rest else None
        self._torch = torch


def set_cpu_threads() -> None:
    """Size torch's (and OpenCV's) pools to the process's thread budget (:mod:`depthforge.core.threads`)."""
    import torch  # noqa: F401 - imported, so that its pool is sized

    limit_library_threads()


class TorchBackend:
    """Runs a transformers depth model in PyTorch (inference mode, SDPA attention, fp16 on GPUs)."""

    name = "torch"
    static_shapes = False

    def __init__(self, source: ModelSource, *, device: str = "auto", dtype: str = "auto") -> None:
        import torch

        self.device = pick_device(device)
        if dtype == "auto":
            dtype = "fp16" if self.device in ("cuda", "mps") else "fp32"
        if dtype == "bf16" and self.device == "mps":
            raise ValidationError("dtype: bf16 is not supported on mps (use fp16 or fp32)")
        self.dtype = dtype
        self._torch_dtype = getattr(torch, _TORCH_DTYPES[dtype])
        if self.device == "cpu":
            set_cpu_threads()
        self.model = load_torch_model(source, device=self.device, dtype=dtype)
        self._family = source.spec.family
        self.deviation: float | None = 0.0 if dtype == "fp32" else None

    def forward(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(B, 3, h, w) float32 normalised input -> ((B, h', w') float32 raw output, fov degrees or None)."""
        import torch

        x = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device, self._torch_dtype)
        with torch.inference_mode():
            out = self.model(pixel_values=x)
        pred = out.predicted_depth
        if pred.dim() == 4:
            pred = pred[:, 0]
        fov = getattr(out, "field_of_view", None)
        fov_np = None if fov is None else fov.float().reshape(-1).cpu().numpy()
        return pred.float().cpu().numpy(), fov_np
