"""The model registry: one entry per model, carrying everything needed to load, run and credit it.

A new model is one :class:`ModelSpec` in :data:`REGISTRY`; tests iterate over the registry.
Facts (hub ids, licences, preprocessing) follow each model's hub card and ``preprocessor_config.json``;
a model folder's own ``preprocessor_config.json`` overrides the defaults here when present.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

__all__ = ["ModelSpec", "REGISTRY", "FAMILIES", "get_spec", "spec_for_family", "DEFAULT_MODEL"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)

Family = Literal["depth_anything", "dpt", "zoedepth", "depth_pro"]
FAMILIES: tuple[str, ...] = ("depth_anything", "dpt", "zoedepth", "depth_pro")

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
        params_m: parameters in millions (for the listing).
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
    params_m: float = 0.0
    pad_reflect: bool = False
    needs: tuple[str, ...] = ("torch", "transformers")
    notes: str = ""
    extra: dict[str, float] = field(default_factory=dict)

    def with_overrides(self, **changes: object) -> ModelSpec:
        """A copy with some fields replaced (e.g. from a folder's preprocessor config)."""
        return replace(self, **changes)  # type: ignore[arg-type]


def _da(name: str, hub: str, licence: str, params: float, kind: str = "relative", notes: str = "") -> ModelSpec:
    return ModelSpec(
        name=name,
        hub_id=hub,
        family="depth_anything",
        licence=licence,
        kind=kind,  # type: ignore[arg-type]
        input_size_hw=(518, 518),
        keep_aspect=True,
        multiple=14,
        params_m=params,
        notes=notes,
    )


_SIZES = {"small": 24.8, "base": 97.5, "large": 335.3}
_ENTRIES: list[ModelSpec] = []
for _size, _params in _SIZES.items():
    _ENTRIES.append(
        _da(
            f"depth-anything-v2-{_size}",
            f"depth-anything/Depth-Anything-V2-{_size.capitalize()}-hf",
            "Apache-2.0" if _size == "small" else "CC-BY-NC-4.0",
            _params,
            notes="relative inverse depth; fast and sharp" if _size == "small" else "relative inverse depth",
        )
    )
for _scene, _max in (("indoor", 20), ("outdoor", 80)):
    for _size, _params in _SIZES.items():
        _ENTRIES.append(
            _da(
                f"depth-anything-v2-metric-{_scene}-{_size}",
                f"depth-anything/Depth-Anything-V2-Metric-{_scene.capitalize()}-{_size.capitalize()}-hf",
                "Apache-2.0" if _size == "small" else "CC-BY-NC-4.0",
                _params,
                kind="metric",
                notes=f"metres, up to {_max} m ({_scene})",
            )
        )
for _size, _params in _SIZES.items():
    _ENTRIES.append(
        _da(
            f"depth-anything-v1-{_size}",
            f"LiheYoung/depth-anything-{_size}-hf",
            "Apache-2.0",
            _params,
            notes="relative inverse depth (V1)",
        )
    )
_ENTRIES += [
    ModelSpec(
        name="dpt-large",
        hub_id="Intel/dpt-large",
        family="dpt",
        licence="Apache-2.0",
        kind="relative",
        input_size_hw=(384, 384),
        keep_aspect=False,
        multiple=32,
        mean=HALF,
        std=HALF,
        params_m=343.0,
        notes="MiDaS 3.0 DPT-Large, relative inverse depth",
    ),
    ModelSpec(
        name="dpt-hybrid",
        hub_id="Intel/dpt-hybrid-midas",
        family="dpt",
        licence="Apache-2.0",
        kind="relative",
        input_size_hw=(384, 384),
        keep_aspect=False,
        multiple=32,
        mean=HALF,
        std=HALF,
        params_m=123.0,
        notes="MiDaS 3.0 DPT-Hybrid (ViT-hybrid), relative inverse depth",
    ),
    ModelSpec(
        name="dpt-beit-large-512",
        hub_id="Intel/dpt-beit-large-512",
        family="dpt",
        licence="MIT",
        kind="relative",
        input_size_hw=(512, 512),
        keep_aspect=True,
        multiple=32,
        mean=HALF,
        std=HALF,
        params_m=345.0,
        notes="MiDaS 3.1 BEiT-Large 512, relative inverse depth",
    ),
    *(
        ModelSpec(
            name=f"zoedepth-{variant}",
            hub_id=f"Intel/zoedepth-{variant}",
            family="zoedepth",
            licence="MIT",
            kind="metric",
            input_size_hw=(384, 512),
            keep_aspect=True,
            multiple=32,
            resample="bilinear",
            mean=HALF,
            std=HALF,
            params_m=345.0,
            pad_reflect=True,
            notes=notes,
        )
        for variant, notes in (
            ("nyu-kitti", "metres, indoor and outdoor"),
            ("nyu", "metres, indoor (NYU)"),
            ("kitti", "metres, driving scenes (KITTI)"),
        )
    ),
    ModelSpec(
        name="depth-pro",
        hub_id="apple/DepthPro-hf",
        family="depth_pro",
        licence="Apple ML research licence (not for commercial use)",
        kind="metric",
        input_size_hw=(1536, 1536),
        keep_aspect=False,
        multiple=1,
        resample="bilinear",
        mean=HALF,
        std=HALF,
        params_m=952.0,
        notes="metres with predicted field of view (gives intrinsics)",
    ),
]

REGISTRY: dict[str, ModelSpec] = {s.name: s for s in _ENTRIES}


def get_spec(name: str) -> ModelSpec | None:
    """The registry entry for a name or hub id (case-insensitive), or None."""
    key = name.strip().lower()
    if key in REGISTRY:
        return REGISTRY[key]
    for spec in REGISTRY.values():
        if spec.hub_id.lower() == key:
            return spec
    return None


def spec_for_family(family: str, *, kind: str, name: str, hub_id: str = "") -> ModelSpec:
    """Defaults for a model that is not in the registry, from its architecture family (config ``model_type``)."""
    template = {
        "depth_anything": REGISTRY["depth-anything-v2-small"],
        "dpt": REGISTRY["dpt-hybrid"],
        "zoedepth": REGISTRY["zoedepth-nyu-kitti"],
        "depth_pro": REGISTRY["depth-pro"],
    }[family]
    return template.with_overrides(
        name=name, hub_id=hub_id, kind=kind, licence="unknown (see the model card)", params_m=0.0, notes=""
    )
