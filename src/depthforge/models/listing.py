"""Every model depthforge knows by name, in one listing: depth estimators, generation pipelines and ControlNets,
background removal (rembg), SAM, matting and learned inpainters; with licence, source and whether the weights
are already on this machine (checked without network access). Used by ``depthforge models``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from depthforge.core.deprecation import renamed_attribute

__all__ = ["TASKS", "CatalogueEntry", "catalogue"]

#: The tasks in listing order, with the option that takes their names.
TASKS = {
    "depth": "--model",
    "generation": "generate --base / --controlnet",
    "background": "mask --source rembg:NAME",
    "sam": "mask --sam-model",
    "matting": "mask --matting-model",
    "inpaint": "photo3d --inpaint",
}


@dataclass(frozen=True, kw_only=True)
class CatalogueEntry:
    """One named model.

    Attributes:
        task: a key of :data:`TASKS`. name: the name users type. kind: what a depth model returns (``relative``,
        ``metric``, ``disparity``) or a generation model's role (``base``, ``controlnet``); "" otherwise.
        licence: of the weights (shown to users). hub_id: its Hugging Face repository ("" when it is not on the
        hub). file: the ONNX file (rembg's release file, or the file in ``hub_id``); "" otherwise. cached: the
        weights are on this machine (None: the user names a file of their own). params_millions: parameters in millions
        (0: not known). notes: one line.
    """

    task: str
    name: str
    kind: str
    licence: str
    hub_id: str
    file: str
    cached: bool | None
    params_millions: float = 0.0
    params_m = renamed_attribute("params_millions", "params_m")  # the old name, for one release
    notes: str = ""

    @property
    def source(self) -> str:
        """Where the weights come from, in one string (``org/name``, ``org/name:FILE``, or the file)."""
        if not self.hub_id:
            return self.file or "your ONNX file"
        return f"{self.hub_id}:{self.file}" if self.file else self.hub_id

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def catalogue(*, tasks: tuple[str, ...] | None = None) -> list[CatalogueEntry]:
    """The named models of ``tasks`` (default all, in :data:`TASKS` order), registry order within a task.

    Args:
        tasks: names of :data:`TASKS` (``depth``, ``generation``, ``background``, ...), None = all.

    Returns:
        One :class:`CatalogueEntry` per model: name, task, kind, licence, hub id or file, whether it is on this
        machine, size in millions of parameters.

    Raises:
        ValidationError: an unknown task (named).
    """
    from depthforge.core.validation import check_choice

    wanted = tuple(TASKS) if tasks is None else tuple(check_choice(t, "task", tuple(TASKS)) for t in tasks)
    return [e for task in wanted for e in _LISTERS[task]()]


def _depth() -> list[CatalogueEntry]:
    from depthforge.models.hub import is_cached
    from depthforge.models.registry import REGISTRY

    return [
        CatalogueEntry(
            task="depth", name=s.name, kind=s.kind, licence=s.licence, hub_id=s.hub_id, file="",
            cached=is_cached(s), params_millions=s.params_millions, notes=s.notes,
        )
        for s in REGISTRY.values()
    ]  # fmt: skip


def _generation() -> list[CatalogueEntry]:
    from depthforge.models.diffusion import GENERATION_REGISTRY, is_generation_cached

    return [
        CatalogueEntry(
            task="generation", name=s.name, kind=s.role, licence=s.licence, hub_id=s.hub_id, file="",
            cached=is_generation_cached(s), params_millions=s.params_millions, notes=f"architecture {s.arch}",
        )
        for s in GENERATION_REGISTRY.values()
    ]  # fmt: skip


def _background() -> list[CatalogueEntry]:
    from depthforge.models.rembg_backend import REMBG_REGISTRY, rembg_model_path

    return [
        CatalogueEntry(
            task="background", name=s.name, kind="", licence=s.licence, hub_id="", file=s.file,
            cached=None if s.custom else rembg_model_path(s).is_file(), notes=s.notes,
        )
        for s in REMBG_REGISTRY.values()
    ]  # fmt: skip


def _hub_entries(task: str, registry: Mapping[str, Any]) -> list[CatalogueEntry]:
    """Entries of a registry of whole hub repositories loaded by transformers (SAM, matting)."""
    from depthforge.models.hub import is_cached

    return [
        CatalogueEntry(
            task=task, name=s.name, kind="", licence=s.licence, hub_id=s.hub_id, file="",
            cached=is_cached(s.hub_id), params_millions=s.params_millions, notes=getattr(s, "notes", ""),
        )
        for s in registry.values()
    ]  # fmt: skip


def _sam() -> list[CatalogueEntry]:
    from depthforge.models.sam import SAM_REGISTRY

    return _hub_entries("sam", SAM_REGISTRY)


def _matting() -> list[CatalogueEntry]:
    from depthforge.models.segmentation import MATTING_REGISTRY

    return _hub_entries("matting", MATTING_REGISTRY)


def _inpaint() -> list[CatalogueEntry]:
    from depthforge.models.hub import cached_folder
    from depthforge.models.inpaint import INPAINT_REGISTRY

    return [
        CatalogueEntry(
            task="inpaint", name=s.name, kind="", licence=s.licence, hub_id=s.hub_id, file=s.file,
            cached=cached_folder(s.hub_id, s.file) is not None, notes=s.notes,
        )
        for s in INPAINT_REGISTRY.values()
    ]  # fmt: skip


_LISTERS = {
    "depth": _depth,
    "generation": _generation,
    "background": _background,
    "sam": _sam,
    "matting": _matting,
    "inpaint": _inpaint,
}
