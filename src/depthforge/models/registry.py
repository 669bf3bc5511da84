"""The model registry: one entry per model, carrying everything needed to load, run and credit it.

A new model is one entry in :data:`REGISTRY` (its family's defaults plus what differs); tests iterate over the
registry.
Facts (hub ids, licences, preprocessing) follow each model's hub card and ``preprocessor_config.json``;
a model folder's own ``preprocessor_config.json`` overrides the defaults here when present.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol, TypeVar

from depthforge.core.deprecation import renamed_attribute

__all__ = ["ModelSpec", "REGISTRY", "FAMILIES", "get_spec", "spec_for_family", "DEFAULT_MODEL"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)

Family = Literal["depth_anything", "dpt", "zoedepth", "depth_pro", "marigold"]
FAMILIES: tuple[str, ...] = ("depth_anything", "dpt", "zoedepth", "depth_pro", "marigold")

DEFAULT_MODEL = "depth-anything-v2-small"


@dataclass(frozen=True)
class ModelSpec:
    """A monocular depth model and how to feed it.

    Attributes:
        name: registry name users type (``--model``).
        hub_id: Hugging Face hub repository id ("" for a local folder that is not in the registry).
        family: architecture family (selects pre/post-processing).
        licence: licence of the weights, shown to users.
        kind: what the raw output means: ``relative`` inverse depth or ``metric`` metres.
        input_size_hw: (height, width) target of the size rule, pixels.
        keep_aspect: scale both sides by the same factor (the one closest to 1, as transformers does).
        multiple: each side is rounded to a multiple of this (pixels).
        resample: ``bicubic`` or ``bilinear`` resize of the image.
        mean, std: per-channel normalisation of RGB in [0, 1].
        params_millions: parameters in millions (for the listing).
        pad_reflect: ZoeDepth's reflect padding of int(sqrt(side / 2) * 3) before resizing.
        needs: Python packages needed beyond the base install.
        notes: one line for the listing.
    """

    name: str
    hub_id: str
    family: Family
    licence: str
    kind: Literal["relative", "metric"]
    input_size_hw: tuple[int, int]
    keep_aspect: bool
    multiple: int
    resample: Literal["bicubic", "bilinear"] = "bicubic"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    params_millions: float = 0.0
    params_m = renamed_attribute("params_millions", "params_m")  # the old name, for one release
    pad_reflect: bool = False
    needs: tuple[str, ...] = ("torch", "transformers")
    notes: str = ""
    extra: dict[str, float] = field(default_factory=dict)

    def with_overrides(self, **changes: object) -> ModelSpec:
        """A copy with some fields replaced (e.g. from a folder's preprocessor config)."""
        return replace(self, **changes)  # type: ignore[arg-type]


#: What every model of a family shares: its input size rule, resampling and normalisation.
_FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    "depth_anything": {"input_size_hw": (518, 518), "keep_aspect": True, "multiple": 14},
    "dpt": {"input_size_hw": (384, 384), "keep_aspect": False, "multiple": 32, "mean": HALF, "std": HALF},
    "zoedepth": {
        "input_size_hw": (384, 512),
        "keep_aspect": True,
        "multiple": 32,
        "resample": "bilinear",
        "mean": HALF,
        "std": HALF,
        "pad_reflect": True,
    },
    "depth_pro": {
        "input_size_hw": (1536, 1536),
        "keep_aspect": False,
        "multiple": 1,
        "resample": "bilinear",
        "mean": HALF,
        "std": HALF,
    },
    # a diffusers pipeline (depthforge[diffusion]): images in [-1, 1]; options (steps, ensemble) in ``extra``
    "marigold": {
        "input_size_hw": (768, 768),
        "keep_aspect": True,
        "multiple": 8,
        "resample": "bilinear",
        "mean": HALF,
        "std": HALF,
        "needs": ("torch", "diffusers"),
    },
}


def _entry(name: str, hub: str, family: str, licence: str, params: float, notes: str, **fields: Any) -> ModelSpec:
    """A registry entry: the family's defaults, then ``fields`` (``kind`` defaults to relative)."""
    values = {"kind": "relative", **_FAMILY_DEFAULTS[family], **fields}
    spec = dict(name=name, hub_id=hub, family=family, licence=licence, params_millions=params, notes=notes)
    return ModelSpec(**spec, **values)  # type: ignore[arg-type]


_SIZES = {"small": 24.8, "base": 97.5, "large": 335.3}
#: Depth Anything variants, each in the three sizes: version, hub id before the size, notes, output kind. V1's hub
#: ids spell the size in lower case; V1 and every small model are Apache-2.0, V2 base and large CC-BY-NC-4.0.
_DEPTH_ANYTHING = (
    ("v2", "depth-anything/Depth-Anything-V2", "relative inverse depth", "relative"),
    ("v2-metric-indoor", "depth-anything/Depth-Anything-V2-Metric-Indoor", "metres, up to 20 m (indoor)", "metric"),
    ("v2-metric-outdoor", "depth-anything/Depth-Anything-V2-Metric-Outdoor", "metres, up to 80 m (outdoor)", "metric"),
    ("v1", "LiheYoung/depth-anything", "relative inverse depth (V1)", "relative"),
)
_ENTRIES = [
    _entry(
        f"depth-anything-{version}-{size}",
        f"{hub}-{size if version == 'v1' else size.capitalize()}-hf",
        "depth_anything",
        "Apache-2.0" if size == "small" or version == "v1" else "CC-BY-NC-4.0",
        params,
        notes + ("; fast and sharp" if (version, size) == ("v2", "small") else ""),
        kind=kind,
    )
    for version, hub, notes, kind in _DEPTH_ANYTHING
    for size, params in _SIZES.items()
]
_ENTRIES += [
    _entry("dpt-large", "Intel/dpt-large", "dpt", "Apache-2.0", 343.0, "MiDaS 3.0 DPT-Large, relative inverse depth"),
    _entry(
        "dpt-hybrid",
        "Intel/dpt-hybrid-midas",
        "dpt",
        "Apache-2.0",
        123.0,
        "MiDaS 3.0 DPT-Hybrid (ViT-hybrid), relative inverse depth",
    ),
    _entry(
        "dpt-beit-large-512",
        "Intel/dpt-beit-large-512",
        "dpt",
        "MIT",
        345.0,
        "MiDaS 3.1 BEiT-Large 512, relative inverse depth",
        input_size_hw=(512, 512),
        keep_aspect=True,
    ),
    *(
        _entry(f"zoedepth-{variant}", f"Intel/zoedepth-{variant}", "zoedepth", "MIT", 345.0, notes, kind="metric")
        for variant, notes in (
            ("nyu-kitti", "metres, indoor and outdoor"),
            ("nyu", "metres, indoor (NYU)"),
            ("kitti", "metres, driving scenes (KITTI)"),
        )
    ),
    _entry(
        "depth-pro",
        "apple/DepthPro-hf",
        "depth_pro",
        "Apple ML research licence (not for commercial use)",
        952.0,
        "metres with predicted field of view (gives intrinsics)",
        kind="metric",
    ),
]

_ENTRIES += [
    _entry(
        "marigold-depth-v1-1",
        "prs-eth/marigold-depth-v1-1",
        "marigold",
        "RAIL++-M (OpenRAIL++, use-restricted; the code is Apache-2.0)",
        948.0,
        "diffusion (Stable Diffusion 2); affine depth as relative inverse depth, far/near 10 assumed",
    ),
    _entry(
        "marigold-depth-lcm-v1-0",
        "prs-eth/marigold-depth-lcm-v1-0",
        "marigold",
        "Apache-2.0",
        948.0,
        "diffusion, latent consistency (1-4 steps); affine depth as relative inverse depth, far/near 10 assumed",
    ),
]

REGISTRY: dict[str, ModelSpec] = {s.name: s for s in _ENTRIES}


class _Entry(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def hub_id(self) -> str: ...


E = TypeVar("E", bound=_Entry)


def lookup(registry: Mapping[str, E], text: str) -> E | None:
    """The entry of a registry (keyed by lower-case name) named ``text`` or with hub id ``text``, case-insensitive;
    None when there is none. Every model registry (depth, SAM, matting, generation) is searched this way."""
    key = text.strip().lower()
    return registry.get(key) or next((e for e in registry.values() if e.hub_id.lower() == key), None)


def get_spec(name: str) -> ModelSpec | None:
    """The registry entry for a name or hub id (case-insensitive), or None."""
    return lookup(REGISTRY, name)


def spec_for_family(family: str, *, kind: str, name: str, hub_id: str = "") -> ModelSpec:
    """Defaults for a model that is not in the registry, from its architecture family (config ``model_type``)."""
    return _entry(name, hub_id, family, "unknown (see the model card)", 0.0, "", kind=kind)
