"""Learned inpainting on onnxruntime: LaMa-family ONNX graphs from a user's file or a hub id.

The convention (the LaMa family's ONNX exports): two inputs, the image as (1, 3, H, W) float32 RGB in [0, 1] and
the mask as (1, 1, H, W) float32 with 1 = hole; one output, (1, 3, H, W) RGB in [0, 1] or in [0, 255] (told
apart by its range: a maximum above 2 means 0..255). A graph with free height and width gets the image
reflect-padded so both sides are a multiple of ``multiple_px`` (8, LaMa's modulo), the padding cropped after; a
graph with a fixed size (e.g. 512 x 512) gets the image resized to it and its output resized back. Only masked
pixels are replaced.

Where the model comes from (:func:`load_inpainter`): ``"onnx:FILE"`` (a local file, its licence is the user's), a
registry name (:data:`INPAINT_REGISTRY`, licence shown) or a hub id ``org/name`` (optionally ``org/name:FILE.onnx``
when the repository holds several graphs), looked up in huggingface_hub's cache first and downloaded only when
absent and the hub is reachable. Files are run by :func:`depthforge.models.rembg_backend.onnx_session` (needs the
``segment`` extra: onnxruntime).

:func:`load_inpainter` also passes the classical method names (``background``, ``telea``, ``ns``) through, so a
front end turns any ``--inpaint`` value into what :func:`depthforge.render.inpainting.inpaint` and
:func:`depthforge.render.layers.build_layers` take.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from depthforge.core.errors import InputError, MissingExtraError, ModelError, ModelNotAvailableError
from depthforge.core.validation import check_array, check_same_hw
from depthforge.io.inputs import check_input_file
from depthforge.models.hub import require_hub, valid_hub_id
from depthforge.models.rembg_backend import onnx_session

__all__ = [
    "CLASSIC_INPAINT_METHODS",
    "INPAINT_REGISTRY",
    "InpaintSpec",
    "OnnxInpainter",
    "cached_inpainter",
    "load_inpainter",
]

#: The methods of :func:`depthforge.render.inpainting.inpaint` that need no model (kept equal by a test).
CLASSIC_INPAINT_METHODS = ("background", "telea", "ns")
_MAX_MODEL_BYTES = 4 << 30


@dataclass(frozen=True)
class InpaintSpec:
    """A learned inpainter known by name.

    Attributes:
        name: the name users give (``--inpaint NAME``).
        hub_id: Hugging Face repository; file: the ONNX file in it.
        licence: licence of the weights, shown to users.
        notes: one line for listings.
    """

    name: str
    hub_id: str
    file: str
    licence: str
    notes: str = ""


INPAINT_REGISTRY: dict[str, InpaintSpec] = {
    s.name: s
    for s in (
        InpaintSpec(
            "lama", "Carve/LaMa-ONNX", "lama_fp32.onnx", "Apache-2.0 (LaMa, Samsung AI)", "Big LaMa, fixed 512x512"
        ),
    )
}


class OnnxInpainter:
    """A loaded LaMa-family ONNX graph: ``inpainter(image, mask) -> image`` (see the module docstring).

    Attributes:
        path: the ONNX file; name: how the user named it; licence: of the weights (shown to users).
        size_hw: the graph's fixed (height, width), or None when free.
    """

    def __init__(self, path: Path, *, name: str, licence: str, multiple_px: int = 8) -> None:
        from depthforge.core.threads import thread_budget

        self.path = path
        self.name = name
        self.licence = licence
        if not isinstance(multiple_px, int) or multiple_px < 1:
            raise ModelError(f"multiple_px: expected an integer >= 1, got {multiple_px!r}")
        self.multiple_px = multiple_px
        self._session = onnx_session(str(path), path.stat().st_mtime_ns, thread_budget())
        inputs = self._session.get_inputs()
        if len(inputs) != 2:
            raise ModelError(
                f"{name}: an inpainting graph takes two inputs (image, mask), this one takes {len(inputs)}"
            )
        by_channels = {_dim(i.shape, 1): i for i in inputs}
        if set(by_channels) != {3, 1}:
            raise ModelError(
                f"{name}: expected inputs of 3 (image) and 1 (mask) channels, got {[i.shape for i in inputs]}"
            )
        self._image, self._mask = by_channels[3].name, by_channels[1].name
        h, w = _dim(by_channels[3].shape, 2), _dim(by_channels[3].shape, 3)
        self.size_hw: tuple[int, int] | None = (h, w) if h > 0 and w > 0 else None

    def __repr__(self) -> str:
        return f"OnnxInpainter({self.name!r}, licence={self.licence!r})"

    def __call__(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Inpaint ``image`` ((H, W, 3) uint8 RGB) where ``mask`` ((H, W) bool) is True.

        Returns:
            (H, W, 3) uint8 RGB: the input outside the mask, the model's output inside.
        """
        import cv2

        img = check_array(image, "image", ndim=3, dtype_kind="u")
        m = check_array(mask, "mask", ndim=2, dtype_kind="b")
        check_same_hw(img, "image", m, "mask")
        if img.shape[2] != 3 or img.dtype != np.uint8:
            raise ModelError(f"{self.name}: expected (H, W, 3) uint8 RGB, got {img.dtype} {img.shape}")
        h, w = m.shape
        x: np.ndarray = img.astype(np.float32) / np.float32(255.0)
        hole: np.ndarray = m.astype(np.float32)
        if self.size_hw is not None:
            fh, fw = self.size_hw
            x = cv2.resize(x, (fw, fh), interpolation=cv2.INTER_AREA)
            hole = (cv2.resize(hole, (fw, fh), interpolation=cv2.INTER_AREA) > 0).astype(np.float32)
        else:
            k = self.multiple_px
            ph, pw = -h % k, -w % k
            if ph or pw:
                x = cv2.copyMakeBorder(
                    x, 0, ph, 0, pw, cv2.BORDER_REFLECT_101 if min(h, w) > 1 else cv2.BORDER_REPLICATE
                )
                hole = cv2.copyMakeBorder(hole, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=0.0)
        feed = {
            self._image: np.ascontiguousarray(x.transpose(2, 0, 1)[None]),
            self._mask: np.ascontiguousarray(hole[None, None]),
        }
        try:
            out = self._session.run(None, feed)[0]
        except Exception as exc:  # noqa: BLE001 - onnxruntime's runtime errors are untyped
            raise ModelError(f"inpainter '{self.name}' failed ({str(exc).strip().splitlines()[0][:160]})") from None
        pred = np.asarray(out, np.float32)
        if pred.ndim != 4 or pred.shape[:2] != (1, 3):
            raise ModelError(f"inpainter '{self.name}': expected a (1, 3, H, W) output, got {pred.shape}")
        rgb = pred[0].transpose(1, 2, 0)
        if float(rgb.max(initial=0.0)) <= 2.0:  # [0, 1] output; above 2 it is already 0..255
            rgb = rgb * np.float32(255.0)
        if self.size_hw is not None:
            rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_LINEAR)
        else:
            rgb = rgb[:h, :w]
        filled = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
        result = img.copy()
        result[m] = filled[m]
        return result


def _dim(shape: list[Any], i: int) -> int:
    """Dimension ``i`` of an onnxruntime input shape: the integer, or -1 when symbolic / absent."""
    if len(shape) <= i:
        return -1
    d = shape[i]
    return int(d) if isinstance(d, int) else -1


def load_inpainter(method: str, *, multiple_px: int = 8) -> str | OnnxInpainter:
    """Turn an ``--inpaint`` value into what the renderers take.

    Args:
        method: ``background``, ``telea``, ``ns`` (returned as they are), ``onnx:FILE``, a name of
            :data:`INPAINT_REGISTRY`, or a hub id ``org/name`` or ``org/name:FILE.onnx``.
        multiple_px: sides are reflect-padded to a multiple of this (graphs with a free size).

    Returns:
        The method name for the classic fills, else an :class:`OnnxInpainter` (callable as
        ``inpainter(image, mask)``), which the renderers' ``inpaint=`` takes.

    Raises:
        ModelError: one line: missing or broken file, unknown name; ModelNotAvailableError: a hub model that is
        not cached while the hub cannot be reached; MissingExtraError: onnxruntime is not installed.
    """
    text = str(method).strip()
    if text.lower() in CLASSIC_INPAINT_METHODS:
        return text.lower()
    if text.startswith("onnx:"):
        file = text[5:]
        if not file:
            raise ModelError("inpaint: 'onnx:' needs a file name (onnx:FILE)")
        _need_onnxruntime()
        try:
            path = check_input_file(file, what="ONNX model", max_bytes=_MAX_MODEL_BYTES)
        except InputError as exc:
            raise ModelError(f"inpaint: {exc}") from None
        return OnnxInpainter(Path(path), name=text, licence="your file's", multiple_px=multiple_px)
    spec = INPAINT_REGISTRY.get(text.lower())
    if spec is not None:
        hub_id, file, licence = spec.hub_id, spec.file, spec.licence
    else:
        hub_id, _, file = text.partition(":")
        if "/" not in hub_id or not valid_hub_id(hub_id):
            known = ", ".join((*CLASSIC_INPAINT_METHODS, *INPAINT_REGISTRY))
            raise ModelError(f"inpaint: {text[:80]!r} is unknown; give one of {known}, onnx:FILE or a hub id org/name")
        licence = "see the model card of " + hub_id
    _need_onnxruntime()
    path = _hub_file(hub_id, file, name=text)
    return OnnxInpainter(path, name=text, licence=licence, multiple_px=multiple_px)


@functools.lru_cache(maxsize=2)
def cached_inpainter(method: str) -> str | OnnxInpainter:
    """:func:`load_inpainter` once per process for each ``method`` (a learned model's session is reused by every
    photo of a batch worker or a server); a classic name is returned as it is.

    Raises:
        as :func:`load_inpainter` (errors are not cached).
    """
    return load_inpainter(method)


def _need_onnxruntime() -> None:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise MissingExtraError("onnxruntime", "segment") from None


def _hub_file(hub_id: str, file: str, *, name: str) -> Path:
    """The ONNX file of a hub repository: from the cache when there, else downloaded (offline-first)."""
    from huggingface_hub import hf_hub_download, snapshot_download

    try:
        if file:
            return Path(hf_hub_download(hub_id, file, local_files_only=True))
        folder = Path(snapshot_download(hub_id, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached (the hub client's errors differ between versions)
        require_hub(name, hint="a local ONNX file with --inpaint onnx:FILE")  # offline: one line, no retries
        folder = Path()
        try:
            if file:
                return Path(hf_hub_download(hub_id, file))
            folder = Path(snapshot_download(hub_id, allow_patterns=["*.onnx"]))
        except Exception as exc:  # noqa: BLE001 - network, missing repository or file
            raise ModelNotAvailableError(
                f"inpaint: {name!r} could not be fetched ({str(exc).splitlines()[0][:120]})"
            ) from None
    graphs = sorted(folder.glob("*.onnx"))
    if len(graphs) != 1:
        found = ", ".join(g.name for g in graphs) or "none"
        raise ModelError(f"inpaint: {hub_id} holds {len(graphs)} ONNX files ({found}); name one as {hub_id}:FILE.onnx")
    return graphs[0]
