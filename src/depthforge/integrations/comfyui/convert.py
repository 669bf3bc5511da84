"""ComfyUI's tensor contracts and depthforge's types, converted both ways.

ComfyUI passes images as ``IMAGE``: a torch float32 tensor ``(B, H, W, 3)`` in [0, 1], and masks as ``MASK``:
float32 ``(B, H, W)`` in [0, 1]. Depth keeps its meaning between nodes as ``DEPTHFORGE_DEPTH``, a
:class:`DepthBatch` of :class:`~depthforge.core.depthmap.DepthMap` (kind, units, camera, model), never a display
image. ``comfy`` (and its ``folder_paths``) are imported only when a node runs, so the pack imports without ComfyUI.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import ValidationError
from depthforge.core.image import to_uint8
from depthforge.core.validation import check_choice
from depthforge.process.normalize import display_range, to_display

__all__ = [
    "DepthBatch",
    "NORMALISATIONS",
    "image_batch",
    "images_to_arrays",
    "arrays_to_images",
    "arrays_to_masks",
    "depth_to_images",
    "comfy_device",
    "output_file",
    "output_root",
    "previews",
]

#: How a depth batch becomes display images: one range for every frame (steady across a clip), one range per
#: frame, or the values as they are (clipped to [0, 1]).
NORMALISATIONS = ("per-batch", "per-image", "none")
#: ComfyUI's date placeholders in a ``filename_prefix`` (``folder_paths.get_save_image_path``) and their formats.
_DATE_FIELDS = {"year": "%Y", "month": "%m", "day": "%d", "hour": "%H", "minute": "%M", "second": "%S"}
#: Characters no ``filename_prefix`` may hold: Windows' reserved ones (a drive's colon too) and control characters.
_FORBIDDEN = frozenset('\\:<>"|?*') | {chr(c) for c in range(32)}


@dataclass(frozen=True)
class DepthBatch:
    """ComfyUI's ``DEPTHFORGE_DEPTH``: one :class:`DepthMap` per frame of an ``IMAGE`` batch, all of one size.

    The maps keep their kind (``relative``, ``metric`` in metres, ``disparity`` in pixels), scale and camera, so
    the nodes after an estimate (stereo, normals, mesh, masks, bokeh) read the raw values, not a display image.
    """

    maps: tuple[DepthMap, ...]

    def __post_init__(self) -> None:
        if not self.maps:
            raise ValidationError("depth: the batch is empty")
        if len({m.shape for m in self.maps}) != 1:
            raise ValidationError("depth: every map of a batch must have one size")

    def __len__(self) -> int:
        return len(self.maps)

    @property
    def kind(self) -> str:
        """The kind of the first map (a batch from one model or file has one kind)."""
        return self.maps[0].kind

    def pair(self, images: list[np.ndarray]) -> list[tuple[np.ndarray, DepthMap]]:
        """``(image, depth)`` per frame: equal batch sizes, or one of the two of size 1 (used for every frame)."""
        n = max(len(images), len(self.maps))
        if len(images) not in (1, n) or len(self.maps) not in (1, n):
            raise ValidationError(f"depth: a batch of {len(self.maps)} maps does not match {len(images)} images")
        out = []
        for i in range(n):
            image, depth = images[min(i, len(images) - 1)], self.maps[min(i, len(self.maps) - 1)]
            if image.shape[:2] != depth.shape:
                raise ValidationError(
                    f"depth: maps of {depth.shape[1]}x{depth.shape[0]} do not match images of "
                    f"{image.shape[1]}x{image.shape[0]}"
                )
            out.append((image, depth))
        return out


def image_batch(images: Any, name: str = "image") -> np.ndarray:
    """An ``IMAGE`` (torch or numpy, ``(B, H, W, C)`` or ``(H, W, C)`` with C = 1, 3 or 4) as a float32
    (B, H, W, C) array; anything else is a one-line error naming ``name`` and the shape given (user trial 9: a
    2-D tensor was an IndexError, a (2, 37, 53) one a single 2 x 37 map)."""
    array = np.asarray(images.detach().cpu().float().numpy() if hasattr(images, "detach") else images, np.float32)
    batch = array[None] if array.ndim == 3 else array
    if batch.ndim != 4 or batch.shape[-1] not in (1, 3, 4) or 0 in batch.shape:
        raise ValidationError(f"{name}: expected an IMAGE batch (B, H, W, 3), got shape {tuple(array.shape)}")
    return batch


def images_to_arrays(images: Any) -> list[np.ndarray]:
    """An ``IMAGE`` (torch or numpy, ``(B, H, W, C)`` or ``(H, W, C)``, float in [0, 1]) as (H, W, 3) uint8 RGB arrays.

    One channel is repeated to three; a fourth (alpha) is dropped; values outside [0, 1] are clipped.
    """
    array = image_batch(images)
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    return [to_uint8(np.clip(frame[:, :, :3], 0.0, 1.0).astype(np.float32)) for frame in array]


def arrays_to_images(arrays: Sequence[np.ndarray]) -> Any:
    """(H, W, 3) uint8/uint16/float-[0, 1] arrays of one size as an ``IMAGE``: torch float32 (B, H, W, 3) in [0, 1]."""
    import torch

    frames = []
    for a in arrays:
        a = np.asarray(a)
        if a.ndim == 2:
            a = np.repeat(a[:, :, None], 3, axis=2)
        a = a[:, :, :3]
        scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(a.dtype, 1.0)
        frames.append(np.clip(a.astype(np.float32) / np.float32(scale), 0.0, 1.0))
    return torch.from_numpy(np.ascontiguousarray(np.stack(frames)))


def arrays_to_masks(alphas: Sequence[np.ndarray]) -> Any:
    """(H, W) alphas in [0, 1] of one size as a ``MASK``: torch float32 ``(B, H, W)``."""
    import torch

    stack = np.stack([np.clip(np.asarray(a, dtype=np.float32), 0.0, 1.0) for a in alphas])
    return torch.from_numpy(np.ascontiguousarray(stack))


def depth_to_images(depth: DepthBatch, *, normalisation: str = "per-batch", invert: bool = False) -> list[np.ndarray]:
    """Display maps (H, W) float32 in [0, 1], near = white (``invert``: near = black).

    ``per-batch``: one range over every frame (a clip does not flicker); ``per-image``: each frame's own range;
    ``none``: the values unchanged (relative inverse depth, metres or pixels) clipped to [0, 1], NaN = 0.
    """
    check_choice(normalisation, "normalisation", NORMALISATIONS)
    if normalisation == "none":
        out = [np.clip(np.nan_to_num(m.values, nan=0.0), 0.0, 1.0) for m in depth.maps]
        return [1.0 - v if invert else v for v in out]
    shared = None
    if normalisation == "per-batch":
        joined = DepthMap(np.concatenate([m.values for m in depth.maps], axis=0), kind=depth.maps[0].kind)
        shared = display_range(joined)
    return [to_display(m, invert=invert, value_range=shared)[0].astype(np.float32) for m in depth.maps]


def comfy_device() -> str:
    """ComfyUI's torch device type (``cuda``, ``mps``, ``cpu``) when running inside ComfyUI, else ``auto``."""
    try:
        import comfy.model_management as mm  # type: ignore[import-not-found]
    except ImportError:
        return "auto"
    kind = str(getattr(mm.get_torch_device(), "type", "cpu"))
    return kind if kind in ("cuda", "mps", "cpu") else "cpu"


def output_root() -> Path:
    """ComfyUI's output folder (``./output`` outside ComfyUI)."""
    try:
        import folder_paths  # type: ignore[import-not-found]

        return Path(folder_paths.get_output_directory())
    except ImportError:
        return Path.cwd() / "output"


def previews(paths: Sequence[Path]) -> list[dict[str, str]]:
    """The files of ``paths`` a ComfyUI page can show (PNG, JPEG, WebP, GIF in the output folder), as its
    ``{"ui": {"images": [...]}}`` entries (``filename``, ``subfolder``, ``type``), as ComfyUI's SaveImage gives them."""
    root = output_root().resolve()
    shown = []
    for path in paths:
        full = Path(path).resolve()
        if full.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp", ".gif") and full.is_relative_to(root):
            sub = full.parent.relative_to(root).as_posix()
            shown.append({"filename": full.name, "subfolder": "" if sub == "." else sub, "type": "output"})
    return shown


def output_file(prefix: str, suffix: str, *, size_hw: tuple[int, int] | None = None) -> Path:
    """A new file name in ComfyUI's output folder (``./output`` outside ComfyUI): ``<prefix>_00001<suffix>``.

    ``prefix`` may hold sub-folders (``depth/scene``), any letters, and ComfyUI's placeholders (``%year%``,
    ``%month%``, ``%day%``, ``%hour%``, ``%minute%``, ``%second%``; ``%width%`` and ``%height%`` with ``size_hw``),
    but never leaves the output folder (user trial 9: ``%date%`` folders and ``Tiefe_ä`` were refused).
    """
    import time

    now = time.localtime()
    name = prefix
    for field, code in _DATE_FIELDS.items():
        name = name.replace(f"%{field}%", time.strftime(code, now))
    if size_hw is not None:
        name = name.replace("%width%", str(size_hw[1])).replace("%height%", str(size_hw[0]))
    parts = name.split("/")
    if (
        not name
        or _FORBIDDEN & set(name)
        or any(not p or p.startswith(".") or p != p.strip() or len(p.encode()) > 200 for p in parts)
    ):  # review: "." and "./" went up one folder, "D:x" to a drive, 200 letters of "ä" past the name limit
        raise ValidationError(f"filename_prefix: {prefix!r:.80} is not a relative name inside the output folder")
    root = output_root()
    base = root / name
    if not base.resolve().is_relative_to(root.resolve()):  # a link inside the output folder pointing out
        raise ValidationError(f"filename_prefix: {prefix!r:.80} leads outside the output folder")
    base.parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, 100_000):
        candidate = base.parent / f"{base.name}_{n:05d}{suffix}"
        if not candidate.exists():
            return candidate
    raise ValidationError(f"filename_prefix: no free file name for {prefix!r}")
