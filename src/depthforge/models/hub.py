"""Where a model comes from: a registry name, a Hugging Face hub id, or a local folder.

Weights are downloaded on first use into huggingface_hub's cache (``HF_HOME``, ``HF_ENDPOINT`` and
``HF_HUB_OFFLINE`` are honoured) and loaded from there afterwards without network access.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from depthforge.core.errors import InputError, ModelError, ModelNotAvailableError
from depthforge.io.inputs import check_input_file
from depthforge.models.registry import REGISTRY, E, ModelSpec, get_spec, lookup, spec_for_family

__all__ = [
    "ModelSource",
    "resolve_model",
    "cached_folder",
    "is_cached",
    "local_config",
    "model_folder",
    "offline_mode",
    "hub_reachable",
    "require_hub",
]

_MAX_CONFIG_BYTES = 16 << 20
_FAMILY_BY_MODEL_TYPE = {
    "depth_anything": "depth_anything",
    "dpt": "dpt",
    "zoedepth": "zoedepth",
    "depth_pro": "depth_pro",
}


@dataclass(frozen=True)
class ModelSource:
    """A resolved model: its spec and where to load it from (a hub id or a local folder path)."""

    spec: ModelSpec
    location: str
    is_local: bool
    guessed: bool = False  # an uncached hub id: the spec is re-read from its config after download


_REACHABLE: bool | None = None
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


def normalisation(pre: dict[str, Any]) -> dict[str, tuple[float, float, float]]:
    """``mean`` and ``std`` from an image processor's config (identity when it does not normalise)."""
    if pre.get("do_normalize", True) is False:
        return {"mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0)}
    out: dict[str, tuple[float, float, float]] = {}
    for key, name in (("image_mean", "mean"), ("image_std", "std")):
        v = pre.get(key)
        if isinstance(v, list) and len(v) == 3:
            out[name] = (float(v[0]), float(v[1]), float(v[2]))
    return out


def offline_mode() -> bool:
    """True when ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) asks for no network access."""
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().lower() in ("1", "true", "yes", "on")


def local_config(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``config.json`` of a local model folder (empty dict when absent or unreadable)."""
    return local_config_file(folder, "config.json")


def _spec_from_config(config: dict[str, Any], *, name: str, hub_id: str = "") -> ModelSpec:
    model_type = str(config.get("model_type", ""))
    family = _FAMILY_BY_MODEL_TYPE.get(model_type)
    if family is None:
        raise ModelError(
            f"{name}: model type '{model_type or 'unknown'}' is not a supported depth model "
            f"({', '.join(sorted(_FAMILY_BY_MODEL_TYPE))})"
        )
    kind = "relative"
    if family in ("zoedepth", "depth_pro") or config.get("depth_estimation_type") == "metric":
        kind = "metric"
    return spec_for_family(family, kind=kind, name=name, hub_id=hub_id)


def _apply_preprocessor(spec: ModelSpec, pre: dict[str, Any]) -> ModelSpec:
    """Overrides from a ``preprocessor_config.json`` (the model authors' own settings win over defaults)."""
    changes: dict[str, Any] = {}
    size = pre.get("size")
    if isinstance(size, dict) and "height" in size and "width" in size:
        changes["input_size_hw"] = (int(size["height"]), int(size["width"]))
    elif isinstance(size, int):
        changes["input_size_hw"] = (size, size)
    if "keep_aspect_ratio" in pre:
        changes["keep_aspect"] = bool(pre["keep_aspect_ratio"])
    if "ensure_multiple_of" in pre and float(pre["ensure_multiple_of"]) >= 1:
        changes["multiple"] = int(pre["ensure_multiple_of"])
    changes.update(normalisation(pre))
    resample = pre.get("resample")
    if resample in (2, 3):
        changes["resample"] = "bilinear" if resample == 2 else "bicubic"
    if "do_pad" in pre and spec.family == "zoedepth":
        changes["pad_reflect"] = bool(pre["do_pad"])
    return spec.with_overrides(**changes) if changes else spec


def cached_folder(hub_id: str, filename: str = "config.json") -> Path | None:
    """The cached snapshot folder of a hub repository holding ``filename``, else None (no network access; a
    malformed id is never cached)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub is a dependency of transformers
        return None
    if not valid_hub_id(hub_id):
        return None
    hit = try_to_load_from_cache(hub_id, filename)
    return Path(hit).parent if isinstance(hit, str) else None


def _snapshot_folder(hub_id: str) -> Path | None:
    """The cached snapshot folder of a hub model, when its config is cached (``config.json``, or a diffusers
    pipeline's ``model_index.json`` such as Marigold's)."""
    return cached_folder(hub_id, "config.json") or cached_folder(hub_id, "model_index.json")


def model_folder(source: ModelSource) -> Path | None:
    """The folder holding a resolved model's files: its local folder, or its snapshot in the hub cache (None when
    the hub model is not cached)."""
    return Path(source.location) if source.is_local else _snapshot_folder(source.location)


def is_cached(spec_or_id: ModelSpec | str) -> bool:
    """Whether a hub model's files are in the local cache (no network access)."""
    hub_id = spec_or_id.hub_id if isinstance(spec_or_id, ModelSpec) else spec_or_id
    return bool(hub_id) and _snapshot_folder(hub_id) is not None


def resolve_model(model: str) -> ModelSource:
    """Resolve ``--model``: a registry name, a hub id ("org/name"), or a local folder with ``config.json``.

    Registry entries and cached hub models resolve without network access; a hub id that is neither cached nor
    in the registry is checked on first load.

    Raises:
        ModelError: unknown name, or a folder that is not a depth model.
    """
    text = model.strip()
    if not text:
        raise ModelError("model: empty model name")
    path = Path(text).expanduser()
    if os.path.isdir(path):
        config = local_config(path)
        if not config:
            raise ModelError(f"{path}: folder has no config.json (not a transformers model folder)")
        spec = _spec_from_config(config, name=path.name)
        pre = local_config_file(path, "preprocessor_config.json")
        return ModelSource(_apply_preprocessor(spec, pre), str(path.resolve()), True)
    if "://" in text:
        raise ModelError(f"model: {text[:80]!r} is a URL; give a registry name, a hub id (org/name) or a local folder")
    found = get_spec(text)
    if found is None and _looks_like_path(text):
        what = "is not a folder" if os.path.exists(path) else "no such folder"
        raise ModelError(f"{path}: {what} (a model folder, saved with save_pretrained, is expected)")
    if found is None and "/" in text and not valid_hub_id(text):
        raise ModelError(f"model: {text[:80]!r} is not a valid hub id (org/name), a registry name or a folder")
    if found is None and "/" in text and not os.path.exists(path):
        spec_folder = _snapshot_folder(text)
        if spec_folder is not None:
            spec = _spec_from_config(local_config(spec_folder), name=text, hub_id=text)
            spec = _apply_preprocessor(spec, local_config_file(spec_folder, "preprocessor_config.json"))
            return ModelSource(spec, text, False)
        else:
            spec = spec_for_family("depth_anything", kind="relative", name=text, hub_id=text)
            return ModelSource(spec, text, False, guessed=True)
    if found is None:
        near = [n for n in REGISTRY if text.lower() in n]
        hint = f" (did you mean {', '.join(near[:3])}?)" if near else " (see 'depthforge models')"
        raise ModelError(f"model '{text}' is not in the registry, not a hub id and not a folder{hint}")
    spec = found
    folder = _snapshot_folder(spec.hub_id)
    if folder is not None:
        spec = _apply_preprocessor(spec, local_config_file(folder, "preprocessor_config.json"))
    return ModelSource(spec, spec.hub_id, False)


def resolve_entry(
    model: str, registry: Mapping[str, E], *, model_type: str, what: str, make: Callable[[str, str, str], E]
) -> tuple[E, str, bool]:
    """(entry, location, is_local) for a model of a small registry (SAM, matting): a registry name or hub id, a
    local folder saved with ``save_pretrained`` whose config ``model_type`` is ``model_type``, or another hub id
    (``org/name``). ``make(name, hub_id, licence)`` builds the entry of a model that is not in the registry;
    ``what`` names the sort of model in messages (e.g. ``"SAM model"``).

    Raises:
        ModelError: a folder of another model type, or a name that is neither in the registry nor a hub id.
    """
    text = model.strip()
    path = Path(text).expanduser()
    if os.path.isdir(path):
        kind = local_config(path).get("model_type", "")
        if kind != model_type:
            raise ModelError(f"{path}: not a {what} folder (config model_type '{kind}')")
        return make(path.name, "", "unknown (local folder)"), str(path.resolve()), True
    found = lookup(registry, text)
    if found is not None:
        return found, found.hub_id, False
    if text.count("/") != 1 or not valid_hub_id(text):
        raise ModelError(f"{what} '{text[:80]}' is not in the registry ({', '.join(registry)}), a hub id or a folder")
    return make(text, text, "unknown (see the model card)"), text, False


def _looks_like_path(text: str) -> bool:
    """A model text meant as a folder: absolute, relative with ./ ../ ~, a Windows drive, or more than org/name."""
    return (
        text.startswith(("/", "./", "../", "~", "\\"))
        or text in (".", "..")
        or (len(text) > 1 and text[1] == ":")
        or text.count("/") > 1
        or "\\" in text
    )


def valid_hub_id(text: str) -> bool:
    """Whether ``text`` is a well-formed hub repository id (``org/name``, as the hub client checks it)."""
    try:
        from huggingface_hub.utils import HFValidationError, validate_repo_id
    except ImportError:  # pragma: no cover - huggingface_hub is a dependency
        return True
    try:
        validate_repo_id(text)
    except HFValidationError:
        return False
    return True


def local_config_file(folder: str | os.PathLike[str], name: str) -> dict[str, Any]:
    """A JSON file of a model folder as a dict (empty when absent, unreadable, not a regular file or over 16 MB)."""
    try:
        path = check_input_file(Path(folder) / name, what="JSON file", max_bytes=_MAX_CONFIG_BYTES)
        data = json.loads(path.read_text(encoding="utf-8"))
    except (InputError, OSError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def hub_reachable(timeout_s: float = 3.0) -> bool:
    """Whether a TCP connection to the hub (``HF_ENDPOINT``, default huggingface.co) or to the HTTPS proxy in the
    environment opens within ``timeout_s``: checked before a download so that an offline machine gets the one-line
    error at once instead of after the hub client's retries (about 30 s). The answer is kept for the process."""
    global _REACHABLE
    if _REACHABLE is None:
        _REACHABLE = _connects(os.environ.get("HF_ENDPOINT") or "https://huggingface.co", timeout_s)
    return _REACHABLE


def host_reachable(url: str, *, timeout_s: float = 3.0) -> bool:
    """:func:`hub_reachable` for another download site (``url``'s host), the answer kept per host."""
    from urllib.parse import urlsplit

    host = urlsplit(url).netloc
    if host not in _HOSTS:
        _HOSTS[host] = _connects(url, timeout_s)
    return _HOSTS[host]


_HOSTS: dict[str, bool] = {}


def _connects(url: str, timeout_s: float) -> bool:
    """Whether a TCP connection to ``url``'s host, or to the HTTPS proxy in the environment, opens in time."""
    import socket
    from urllib.parse import urlsplit

    proxy = next((os.environ[k] for k in _PROXY_VARIABLES if os.environ.get(k)), "")
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}") if proxy else urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=timeout_s):
            return True
    except (OSError, ValueError):
        return False


#: How :func:`not_available` tells a depth model's user to go without the hub (other loaders name their own flag).
MODEL_HINT = "a local folder with --model PATH"


def require_hub(name: str, *, hint: str = MODEL_HINT) -> None:
    """Raise the one-line :func:`not_available` error now when ``HF_HUB_OFFLINE`` is set or the hub cannot be
    reached (see :func:`hub_reachable`). Every loader calls it for a model that is neither local nor cached, before
    its heavy imports and before the hub client is asked, so that an offline machine hears it at once instead of
    after the client's retries (about 30 s).

    Args:
        name: the model's name in the message. hint: what to pass instead, with the caller's flag (e.g.
            ``"a local folder with --sam-model PATH"``).
    """
    if offline_mode() or not hub_reachable():
        raise not_available(name, hint=hint)


def not_available(name: str, *, hint: str = MODEL_HINT) -> ModelNotAvailableError:
    """The one-line error for a model that is not cached while the hub cannot be reached; ``hint`` is what to pass
    instead (see :func:`require_hub`)."""
    head, _, _ = name.partition("/")
    if head and os.path.isdir(head) and not os.path.exists(name):  # 'models/nme': a typo in a folder's name?
        return ModelNotAvailableError(
            f"model '{name}': no such folder (there is a folder '{head}'), and no hub model of that id is cached"
        )
    if offline_mode():  # user trial 6: the message blamed the network while the user's own setting forbade it
        return ModelNotAvailableError(
            f"model '{name}' is not cached and HF_HUB_OFFLINE is set, so it is not downloaded: unset it once to "
            f"download the model (it is cached afterwards), or pass {hint}"
        )
    return ModelNotAvailableError(
        f"model '{name}' is not cached and the Hugging Face hub cannot be reached: connect to the internet once "
        f"to download it (it is cached afterwards), or pass {hint}"
    )
