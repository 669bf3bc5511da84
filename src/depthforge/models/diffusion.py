"""Depth-conditioned image generators through diffusers: the registry of base models and depth ControlNets, and
offline-first loading of their pipelines.

Models come from a registry name below, a Hugging Face hub id or a local folder saved with ``save_pretrained``.
Like the depth models (:mod:`depthforge.models.hub`), weights are downloaded once into huggingface_hub's cache and
loaded from there with ``local_files_only`` afterwards (and always when ``HF_HUB_OFFLINE`` is set); a model that is
neither cached nor reachable is a one-line :class:`~depthforge.core.errors.ModelNotAvailableError`.
Needs the ``diffusion`` extra (``pip install 'depthforge[diffusion]'``); diffusers is imported only here, lazily.

The Stable Diffusion weights and their ControlNets are released under OpenRAIL licences: free to use, including
commercially, but with use restrictions (the licence's attachment A) that pass on to whoever uses the outputs.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from depthforge.core.deprecation import renamed_attribute
from depthforge.core.errors import MissingExtraError, ModelError, ValidationError
from depthforge.core.validation import check_choice
from depthforge.models.hub import (
    cached_folder,
    local_config_file,
    not_available,
    offline_mode,
    require_hub,
    valid_hub_id,
)
from depthforge.models.registry import lookup

__all__ = [
    "GenerationSpec",
    "GenerationSource",
    "GENERATION_REGISTRY",
    "GENERATION_MODES",
    "DEFAULT_MODELS",
    "require_diffusers",
    "resolve_generation_model",
    "pick_device_dtype",
    "require_generation_models",
    "load_generation_pipeline",
    "from_pretrained",
    "clear_pipeline_cache",
]

Arch = Literal["sd15", "sdxl", "sd2-depth"]
Role = Literal["base", "controlnet"]
GENERATION_MODES = ("controlnet", "depth2img")

_OPENRAIL_M = "CreativeML OpenRAIL-M (use-restricted: see the licence's attachment A)"
_OPENRAIL_PP = "CreativeML OpenRAIL++-M (use-restricted: see the licence's attachment A)"


@dataclass(frozen=True)
class GenerationSpec:
    """A generation model: a base pipeline or a ControlNet.

    Attributes:
        name: registry name users type (``--base``, ``--controlnet``).
        hub_id: Hugging Face hub repository id ("" for a local folder that is not in the registry).
        role: ``base`` (a whole pipeline) or ``controlnet`` (a ControlNet for a base of the same ``arch``).
        arch: ``sd15`` (Stable Diffusion 1.x), ``sdxl`` or ``sd2-depth`` (Stable Diffusion 2 depth2img).
        licence: licence of the weights, shown to users.
        size_px: the long side (pixels) the model was trained at: the default output size.
        params_millions: parameters in millions (for the listing).
    """

    name: str
    hub_id: str
    role: Role
    arch: Arch
    licence: str
    size_px: int
    params_millions: float = 0.0
    params_m = renamed_attribute("params_millions", "params_m")  # the old name, for one release


@dataclass(frozen=True)
class GenerationSource:
    """A resolved generation model: its spec and where to load it from (a hub id or a local folder path)."""

    spec: GenerationSpec
    location: str
    is_local: bool


_ENTRIES = [
    GenerationSpec(
        "stable-diffusion-v1-5", "stable-diffusion-v1-5/stable-diffusion-v1-5", "base", "sd15", _OPENRAIL_M, 512, 1066
    ),
    GenerationSpec(
        "stable-diffusion-xl-base-1.0",
        "stabilityai/stable-diffusion-xl-base-1.0",
        "base",
        "sdxl",
        _OPENRAIL_PP,
        1024,
        3500,
    ),
    GenerationSpec(
        "stable-diffusion-2-depth", "stabilityai/stable-diffusion-2-depth", "base", "sd2-depth", _OPENRAIL_PP, 512, 1300
    ),
    GenerationSpec(
        "control-v11f1p-sd15-depth",
        "lllyasviel/control_v11f1p_sd15_depth",
        "controlnet",
        "sd15",
        "OpenRAIL (use-restricted: see the licence's attachment A)",
        512,
        361,
    ),
    GenerationSpec(
        "controlnet-depth-sdxl-1.0",
        "diffusers/controlnet-depth-sdxl-1.0",
        "controlnet",
        "sdxl",
        _OPENRAIL_PP,
        1024,
        1251,
    ),
]
GENERATION_REGISTRY: dict[str, GenerationSpec] = {s.name: s for s in _ENTRIES}

#: (mode, arch) -> the default (base, ControlNet) names; ``controlnet`` defaults to SD 1.5 with its depth ControlNet.
DEFAULT_MODELS = {
    ("controlnet", "sd15"): ("stable-diffusion-v1-5", "control-v11f1p-sd15-depth"),
    ("controlnet", "sdxl"): ("stable-diffusion-xl-base-1.0", "controlnet-depth-sdxl-1.0"),
    ("depth2img", "sd2-depth"): ("stable-diffusion-2-depth", ""),
}

#: diffusers class names in a folder's ``model_index.json`` (``_class_name``) or ``config.json`` -> arch.
_ARCH_BY_CLASS = {
    "StableDiffusionPipeline": "sd15",
    "StableDiffusionControlNetPipeline": "sd15",
    "StableDiffusionImg2ImgPipeline": "sd15",
    "StableDiffusionXLPipeline": "sdxl",
    "StableDiffusionXLControlNetPipeline": "sdxl",
    "StableDiffusionXLImg2ImgPipeline": "sdxl",
    "StableDiffusionDepth2ImgPipeline": "sd2-depth",
}


def require_diffusers(*, load: bool = True) -> Any:
    """The ``diffusers`` module, or a :class:`MissingExtraError` naming the ``diffusion`` extra. With
    ``load=False`` only whether it is installed is checked, without importing it (which takes seconds), and None is
    returned."""
    if not load:
        import importlib.util

        try:
            found = importlib.util.find_spec("diffusers") is not None
        except ValueError:  # a module object without a spec: treated as absent
            found = False
        if not found:
            raise MissingExtraError("diffusers", "diffusion")
        return None
    try:
        import diffusers
    except ImportError:
        raise MissingExtraError("diffusers", "diffusion") from None
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    for logs in (diffusers_logging, transformers_logging):
        logs.set_verbosity_error()
        logs.disable_progress_bar()
    return diffusers


def is_generation_cached(spec: GenerationSpec) -> bool:
    """Whether a hub generation model is in the hub cache (a pipeline's ``model_index.json``, a ControlNet's
    ``config.json``; no network access)."""
    filename = "model_index.json" if spec.role == "base" else "config.json"
    return bool(spec.hub_id) and cached_folder(spec.hub_id, filename) is not None


def _folder_arch(folder: Path, role: Role) -> Arch:
    """The architecture of a local pipeline (``model_index.json``) or ControlNet (``config.json``) folder."""
    if role == "base":
        index = local_config_file(folder, "model_index.json")
        if not index:
            raise ModelError(f"{folder}: no model_index.json (not a diffusers pipeline folder)")
        arch = _ARCH_BY_CLASS.get(str(index.get("_class_name", "")))
        if arch is None:
            raise ModelError(
                f"{folder}: '{index.get('_class_name')}' is not a Stable Diffusion 1.x, 2-depth or XL pipeline"
            )
        return arch  # type: ignore[return-value]
    config = local_config_file(folder, "config.json")
    if config.get("_class_name") not in ("ControlNetModel", "ControlNetUnionModel"):
        raise ModelError(f"{folder}: config.json is not a diffusers ControlNetModel")
    return "sdxl" if config.get("addition_embed_type") == "text_time" else "sd15"


def resolve_generation_model(text: str, *, role: Role) -> GenerationSource:
    """Resolve ``--base`` or ``--controlnet``: a registry name, a hub id ("org/name") or a local folder.

    Raises:
        ModelError: unknown name, a registry entry of the other role, or a folder that is not such a model.
    """
    check_choice(role, "role", ("base", "controlnet"))
    name = text.strip()
    if not name:
        raise ModelError(f"{role}: empty model name")
    path = Path(name).expanduser()
    if path.is_dir():
        arch = _folder_arch(path, role)
        spec = GenerationSpec(
            path.name, "", role, arch, "unknown (see the model card)", 1024 if arch == "sdxl" else 512
        )
        return GenerationSource(spec, str(path.resolve()), True)
    found = lookup(GENERATION_REGISTRY, name)
    if found is not None:
        if found.role != role:
            raise ModelError(f"{role}: '{found.name}' is a {found.role}, not a {role}")
        return GenerationSource(found, found.hub_id, False)
    if name.count("/") == 1 and valid_hub_id(name):  # the hub client's own rule (no URL, no leading '.', '/', '~')
        filename = "model_index.json" if role == "base" else "config.json"
        cached = cached_folder(name, filename)
        if cached is None:
            raise ModelError(
                f"{role}: hub id '{name}' is not in the registry and not cached; its architecture is read from the "
                "cache, so download it once (huggingface-cli download) or pass a local folder"
            )
        arch = _folder_arch(cached, role)
        spec = GenerationSpec(name, name, role, arch, "unknown (see the model card)", 1024 if arch == "sdxl" else 512)
        return GenerationSource(spec, name, False)
    names = ", ".join(s.name for s in _ENTRIES if s.role == role)
    raise ModelError(f"{role}: '{name}' is not a registry name ({names}), a hub id or a folder")


def pick_device_dtype(device: str = "auto", dtype: str = "auto") -> tuple[str, str]:
    """(device, dtype) for a generation pipeline: ``auto`` is CUDA when available (fp16 there), else the CPU in
    fp32 (bf16 on request: only faster on CPUs with native bf16 arithmetic, see ``benchmarks/RESULTS.md``)."""
    import torch

    check_choice(device, "device", ("auto", "cpu", "cuda"))
    check_choice(dtype, "dtype", ("auto", "fp32", "bf16", "fp16"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValidationError("device: cuda was asked for but no CUDA GPU is available (device='cpu'; --device cpu)")
    if dtype == "auto":
        dtype = "fp16" if device == "cuda" else "fp32"
    if device == "cpu" and dtype == "fp16":
        raise ValidationError("dtype: fp16 is for GPUs; on the CPU use bf16 or fp32")
    return device, dtype


def _offline_hint(source: GenerationSource) -> str:
    """What to pass instead of an unreachable hub model: a local folder with ``--base`` or ``--controlnet``."""
    return f"a local folder with --{source.spec.role} PATH"


def _is_cached(source: GenerationSource) -> bool:
    """Whether a source loads without the network: a local folder, or a hub model in the hub cache."""
    filename = "config.json" if source.spec.role == "controlnet" else "model_index.json"
    return source.is_local or cached_folder(source.location, filename) is not None


def require_generation_models(base: GenerationSource, controlnet: GenerationSource | None = None) -> None:
    """Check resolved models without importing diffusers or loading them: one that is neither a local folder nor
    cached raises the one-line :class:`~depthforge.core.errors.ModelNotAvailableError` (naming ``--base`` or
    ``--controlnet``) now when ``HF_HUB_OFFLINE`` is set or the hub cannot be reached
    (:func:`~depthforge.models.hub.require_hub`)."""
    for source in (controlnet, base):  # the ControlNet is loaded first
        if source is not None and not _is_cached(source):
            require_hub(source.spec.name, hint=_offline_hint(source))


def from_pretrained(cls: Any, source: GenerationSource, *, hint: str | None = None, **kwargs: Any) -> Any:
    """``cls.from_pretrained`` offline-first: local files only when the model is local, cached or offline.

    Args:
        hint: what to pass instead when the model is neither cached nor reachable (default: a local folder with
            ``--base`` or ``--controlnet``, after the source's role); see :func:`~depthforge.models.hub.require_hub`.
    """
    hint = hint or _offline_hint(source)
    cached = _is_cached(source)
    if not cached:
        require_hub(source.spec.name, hint=hint)  # offline or unreachable: one line now, not after the retries
    local_only = cached or offline_mode()
    try:
        with warnings.catch_warnings():  # newer diffusers call torch_dtype "dtype" (older ones know only that)
            warnings.simplefilter("ignore", FutureWarning)
            return cls.from_pretrained(source.location, local_files_only=local_only, **kwargs)
    except OSError as exc:
        if not source.is_local and not cached:
            raise not_available(source.spec.name, hint=hint) from None
        raise ModelError(f"model '{source.spec.name}' could not be loaded ({str(exc).strip()[:200]})") from None
    except (ValueError, KeyError, RuntimeError, TypeError) as exc:
        raise ModelError(f"model '{source.spec.name}' could not be loaded ({str(exc).strip()[:200]})") from None


_CACHE: dict[tuple[str, ...], Any] = {}
_CACHE_LOCK = threading.Lock()
_LOAD_LOCK = threading.Lock()


def check_generation_models(mode: str, base: GenerationSource, controlnet: GenerationSource | None) -> None:
    """Check that ``base`` and ``controlnet`` make a pipeline of ``mode`` (no loading).

    Raises:
        ModelError: one line: a base of the wrong kind, a missing ControlNet, or one of another architecture.
    """
    arch = base.spec.arch
    if mode == "depth2img" and arch != "sd2-depth":
        raise ModelError(f"base: depth2img needs a Stable Diffusion 2 depth pipeline, '{base.spec.name}' is {arch}")
    if mode == "controlnet":
        if arch == "sd2-depth":
            raise ModelError(f"base: '{base.spec.name}' is a depth2img pipeline (use --mode depth2img)")
        if controlnet is None:
            raise ModelError("controlnet: the controlnet mode needs a ControlNet (--controlnet)")
        if controlnet.spec.arch != arch:
            raise ModelError(
                f"controlnet: '{controlnet.spec.name}' is for {controlnet.spec.arch}, the base '{base.spec.name}' "
                f"is {arch}"
            )


def load_generation_pipeline(
    mode: str,
    *,
    base: GenerationSource,
    controlnet: GenerationSource | None = None,
    img2img: bool = False,
    device: str = "cpu",
    dtype: str = "fp32",
) -> Any:
    """The diffusers pipeline for ``mode`` (cached in-process; no safety checker is loaded).

    Args:
        mode: ``controlnet`` (a base of arch sd15 or sdxl with a ControlNet of the same arch) or ``depth2img``
            (a Stable Diffusion 2 depth pipeline).
        img2img: for ``controlnet``, the image-to-image variant (starts from the photo, ``strength`` < 1).
        device, dtype: as :func:`pick_device_dtype` returns them.

    Raises:
        MissingExtraError: diffusers is not installed. ModelError: a model of the wrong kind or that cannot load.
        ModelNotAvailableError: not cached and the hub is unreachable.
    """
    check_choice(mode, "mode", GENERATION_MODES)
    check_generation_models(mode, base, controlnet)
    require_generation_models(base, controlnet)  # before importing diffusers: an offline machine hears it at once
    diffusers = require_diffusers()
    import torch

    arch = base.spec.arch
    key = (mode, base.location, controlnet.location if controlnet else "", str(img2img), device, dtype)
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
    with _LOAD_LOCK:  # one load at a time: two cold requests must not each load a copy of several GB
        with _CACHE_LOCK:
            if key in _CACHE:
                return _CACHE[key]
        pipe = _load_pipeline(diffusers, torch, mode, arch, base, controlnet, img2img, device, dtype)
        with _CACHE_LOCK:
            _CACHE[key] = pipe
    return pipe


def _load_pipeline(
    diffusers: Any,
    torch: Any,
    mode: str,
    arch: str,
    base: GenerationSource,
    controlnet: GenerationSource | None,
    img2img: bool,
    device: str,
    dtype: str,
) -> Any:
    torch_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype]
    if mode == "depth2img":
        pipe = from_pretrained(diffusers.StableDiffusionDepth2ImgPipeline, base, torch_dtype=torch_dtype)
    else:
        assert controlnet is not None
        net = from_pretrained(diffusers.ControlNetModel, controlnet, torch_dtype=torch_dtype)
        names = {
            ("sd15", False): "StableDiffusionControlNetPipeline",
            ("sd15", True): "StableDiffusionControlNetImg2ImgPipeline",
            ("sdxl", False): "StableDiffusionXLControlNetPipeline",
            ("sdxl", True): "StableDiffusionXLControlNetImg2ImgPipeline",
        }
        extra: dict[str, Any] = {} if arch == "sdxl" else {"safety_checker": None, "requires_safety_checker": False}
        cls = getattr(diffusers, names[(arch, img2img)])
        pipe = from_pretrained(cls, base, controlnet=net, torch_dtype=torch_dtype, **extra)
    pipe = pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def clear_pipeline_cache() -> None:
    """Forget every cached generation pipeline (frees memory)."""
    with _CACHE_LOCK:
        _CACHE.clear()
