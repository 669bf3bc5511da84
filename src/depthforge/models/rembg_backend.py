"""Background removal with rembg's ONNX models (u2net, isnet, BiRefNet, ...) run on onnxruntime.

depthforge runs the models rembg publishes under rembg's own model names, file names and conventions, without
importing the ``rembg`` package (which needs Python >= 3.11 and imports PyMatting, whose numba kernels take over a
minute to compile on first import): ``pip install 'depthforge[segment]'`` (onnxruntime and pooch) works on
Python 3.10 too.

The convention, per model (facts from rembg's sessions): the RGB image is resized to the model's square input
with Lanczos, divided by its own maximum value (not by 255), normalised with the model's mean and std, fed as
(1, 3, S, S) float32 to the graph's first input; channel 0 of the first output is passed through a sigmoid
(BiRefNet models only), min-max normalised to [0, 1] and resized back to the image (Lanczos).

Files live in depthforge's cache under rembg's layout and names:
``<cache root>/rembg/models/<name>/<name>.onnx`` (cache root: ``$DEPTHFORGE_CACHE``, else
``$XDG_CACHE_HOME/depthforge``, else ``~/.cache/depthforge``); a model absent from the cache is downloaded from
rembg's release page on first use and checked against rembg's hash (never while ``HF_HUB_OFFLINE=1``). The
``*_custom`` entries run a user's own ONNX file with that family's convention (rembg's custom-model path).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from depthforge.core.deprecation import renamed_keywords
from depthforge.core.errors import MissingExtraError, ModelError, ModelNotAvailableError
from depthforge.core.image import Image, check_image, to_uint8
from depthforge.io.inputs import check_input_file
from depthforge.models.graph_cache import cache_root
from depthforge.models.hub import host_reachable, offline_mode
from depthforge.models.registry import IMAGENET_MEAN, IMAGENET_STD

__all__ = [
    "RembgSpec",
    "REMBG_REGISTRY",
    "rembg_model_path",
    "check_licence",
    "onnx_session",
    "RembgModel",
    "load_rembg_model",
    "build_red_channel_onnx",
]

_RELEASES = "https://github.com/danielgatis/rembg/releases/download/v0.0.0/"
_HALF = (0.5, 0.5, 0.5)
_ONE = (1.0, 1.0, 1.0)
_MAX_MODEL_BYTES = 4 << 30


@dataclass(frozen=True)
class RembgSpec:
    """One of rembg's background-removal models and how to feed it.

    Attributes:
        name: rembg's model name (``--source rembg:NAME``), also the cached file's stem.
        licence: licence of the weights, shown to users.
        commercial: False for weights licensed for non-commercial use only (refused without
            ``allow_noncommercial``).
        size_px: side of the square input, pixels.
        mean, std: per-channel normalisation of RGB divided by its maximum.
        sigmoid: the output is a logit (BiRefNet); others are already probabilities.
        file: the file name on rembg's release page ("" for the ``*_custom`` entries: the user's file).
        known_hash: ``md5:...`` / ``sha256:...`` of that file, as rembg checks it.
        notes: one line for listings.
    """

    name: str
    licence: str
    size_px: int
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    sigmoid: bool = False
    file: str = ""
    known_hash: str = ""
    commercial: bool = True
    notes: str = ""

    @property
    def custom(self) -> bool:
        """A ``*_custom`` entry: the user names the ONNX file."""
        return not self.file


def _birefnet(variant: str, file: str, known_hash: str, notes: str) -> RembgSpec:
    return RembgSpec(f"birefnet-{variant}", "MIT", 1024, sigmoid=True, file=file, known_hash=known_hash, notes=notes)


REMBG_REGISTRY: dict[str, RembgSpec] = {
    s.name: s
    for s in (
        RembgSpec("u2net", "Apache-2.0", 320, file="u2net.onnx", known_hash="md5:60024c5c889badc19c04ad937298a77b",
                  notes="U²-Net, general use (176 MB)"),
        RembgSpec("u2netp", "Apache-2.0", 320, file="u2netp.onnx", known_hash="md5:8e83ca70e441ab06c318d82300c84806",
                  notes="U²-Net lightweight (4.6 MB)"),
        RembgSpec("u2net_human_seg", "Apache-2.0", 320, file="u2net_human_seg.onnx",
                  known_hash="md5:c09ddc2e0104f800e3e1bb4652583d1f", notes="U²-Net trained on people"),
        RembgSpec("silueta", "Apache-2.0", 320, file="silueta.onnx", known_hash="md5:55e59e0d8062d2f5d013f4725ee84782",
                  notes="U²-Net reduced to 43 MB"),
        RembgSpec("isnet-general-use", "Apache-2.0", 1024, mean=_HALF, std=_ONE, file="isnet-general-use.onnx",
                  known_hash="md5:fc16ebd8b0c10d971d3513d564d01e29", notes="IS-Net (DIS), general use"),
        RembgSpec("isnet-anime", "Apache-2.0", 1024, std=_ONE, file="isnet-anime.onnx",
                  known_hash="md5:6f184e756bb3bd901c8849220a83e38e", notes="IS-Net for anime characters (SkyTNT)"),
        _birefnet("general", "BiRefNet-general-epoch_244.onnx", "md5:7a35a0141cbbc80de11d9c9a28f52697", "general"),
        _birefnet("general-lite", "BiRefNet-general-bb_swin_v1_tiny-epoch_232.onnx",
                  "md5:4fab47adc4ff364be1713e97b7e66334", "general, Swin-T backbone"),
        _birefnet("portrait", "BiRefNet-portrait-epoch_150.onnx", "md5:c3a64a6abf20250d090cd055f12a3b67", "portraits"),
        _birefnet("dis", "BiRefNet-DIS-epoch_590.onnx", "md5:2d4d44102b446f33a4ebb2e56c051f2b", "dichotomous (DIS)"),
        _birefnet("hrsod", "BiRefNet-HRSOD_DHU-epoch_115.onnx", "md5:c017ade5de8a50ff0fd74d790d268dda",
                  "high-resolution salient objects"),
        _birefnet("cod", "BiRefNet-COD-epoch_125.onnx", "md5:f6d0d21ca89d287f17e7afe9f5fd3b45", "camouflaged objects"),
        _birefnet("massive", "BiRefNet-massive-TR_DIS5K_TR_TEs-epoch_420.onnx", "md5:33e726a2136a3d59eb0fdf613e31e3e9",
                  "trained on a massive dataset"),
        RembgSpec("bria-rmbg", "CC-BY-NC-4.0 (BRIA RMBG-2.0, non-commercial)", 1024, file="bria-rmbg-2.0.onnx",
                  known_hash="sha256:5b486f08200f513f460da46dd701db5fbb47d79b4be4b708a19444bcd4e79958",
                  commercial=False, notes="RMBG-2.0, rembg's default (non-commercial weights)"),
        RembgSpec("u2net_custom", "your file's", 320, notes="your ONNX file, U²-Net convention"),
        RembgSpec("dis_custom", "your file's", 1024, mean=_HALF, std=_ONE, notes="your ONNX file, IS-Net convention"),
        RembgSpec("ben_custom", "your file's", 1024, mean=_HALF, std=_ONE, notes="your ONNX file, BEN convention"),
    )
}  # fmt: skip


def rembg_model_path(spec: RembgSpec) -> Path:
    """Where a registry model's file is kept: ``<cache root>/rembg/models/<name>/<name>.onnx`` (rembg's layout)."""
    return cache_root() / "rembg" / "models" / spec.name / f"{spec.name}.onnx"


def check_licence(name: str, licence: str, *, commercial: bool, allow_noncommercial: bool) -> None:
    """Refuse non-commercial weights unless the user allowed them explicitly.

    Raises:
        ModelError: one line naming the model and its licence.
    """
    if not commercial and not allow_noncommercial:
        raise ModelError(
            f"model '{name}' is licensed {licence}: not for commercial use; "
            "pass --allow-noncommercial (allow_noncommercial=True) to use it anyway"
        )


def _get_spec(name: str) -> RembgSpec:
    spec = REMBG_REGISTRY.get(name.strip().lower())
    if spec is None:
        near = [n for n in REMBG_REGISTRY if name.strip().lower()[:4] in n]
        hint = f" (did you mean {', '.join(near[:3])}?)" if near else ""
        raise ModelError(f"rembg model '{name}' is unknown{hint}; known: {', '.join(REMBG_REGISTRY)}")
    return spec


def _download(spec: RembgSpec, target: Path) -> Path:
    """Fetch a registry model into the cache (pooch: temporary file, hash check, rename)."""
    if offline_mode() or not host_reachable(_RELEASES):  # before pooch, which logs "Downloading ..." first
        raise _absent(spec, target)
    try:
        import pooch
    except ImportError:
        raise MissingExtraError("pooch", "segment") from None
    try:
        pooch.retrieve(_RELEASES + spec.file, spec.known_hash, fname=target.name, path=target.parent, progressbar=False)
    except OSError:  # requests' errors derive from OSError: no network, DNS, refused, HTTP errors
        raise _absent(spec, target) from None
    except ValueError as exc:  # hash mismatch
        raise ModelError(f"rembg model '{spec.name}': download failed its hash check ({exc})") from None
    return target


def _absent(spec: RembgSpec, target: Path) -> ModelNotAvailableError:
    return ModelNotAvailableError(
        f"rembg model '{spec.name}' is not in the cache ({target}) and its release page cannot be reached: connect "
        "to the internet once, or copy rembg's file there"
    )


@functools.lru_cache(maxsize=4)
def onnx_session(path: str, mtime_ns: int, threads: int) -> Any:
    """An onnxruntime CPU session for the ONNX file ``path`` (kept per file version and thread count; the
    ``mtime_ns`` argument makes a changed file load again).

    Raises:
        ModelError: one line, when the file is not a usable ONNX graph.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors for broken graphs
        raise ModelError(f"{path}: not a usable ONNX model ({str(exc).strip().splitlines()[0][:160]})") from None


class RembgModel:
    """A loaded rembg model: ``predict(image) -> alpha`` (see the module docstring for the convention)."""

    def __init__(self, spec: RembgSpec, path: Path) -> None:
        from depthforge.core.threads import thread_budget

        self.spec = spec
        self.path = path
        self._session = onnx_session(str(path), path.stat().st_mtime_ns, thread_budget())
        self._input = self._session.get_inputs()[0].name

    def prepare(self, image: np.ndarray | Image) -> np.ndarray:
        """The model input: (1, 3, S, S) float32 (Lanczos resize, divided by the image's maximum, normalised)."""
        from PIL import Image as PILImage

        a = to_uint8(check_image(image, dtype_kind="u"))
        s = self.spec.size_px
        small = np.asarray(PILImage.fromarray(a).resize((s, s), PILImage.Resampling.LANCZOS), np.float64)
        small /= max(float(small.max()), 1e-6)
        x = (small - np.asarray(self.spec.mean)) / np.asarray(self.spec.std)
        return np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)

    def predict(self, image: np.ndarray | Image) -> np.ndarray:
        """Foreground probability of every pixel.

        Args:
            image: (H, W, 3) uint8/uint16 RGB or an :class:`Image`.

        Returns:
            (H, W) float32 in [0, 1], 1 = foreground (min-max normalised over the image, so some pixel is 0 and
            some is 1 unless the model's output is constant, which gives all 0).
        """
        from PIL import Image as PILImage

        a = check_image(image, dtype_kind="u")
        h, w = a.shape[:2]
        try:
            out = self._session.run(None, {self._input: self.prepare(a)})[0]
        except Exception as exc:  # noqa: BLE001 - onnxruntime's runtime errors are untyped
            raise ModelError(f"rembg model '{self.spec.name}' failed ({str(exc).strip()[:160]})") from None
        pred = np.asarray(out, np.float64)
        if pred.ndim != 4 or pred.shape[0] < 1:
            raise ModelError(f"rembg model '{self.spec.name}': expected a (1, C, H, W) output, got {pred.shape}")
        pred = pred[0, 0]
        if self.spec.sigmoid:
            pred = 1.0 / (1.0 + np.exp(-pred))
        lo, hi = float(pred.min()), float(pred.max())
        pred = (pred - lo) / (hi - lo) if hi > lo else np.zeros_like(pred)
        full = PILImage.fromarray(pred.astype(np.float32), mode="F").resize((w, h), PILImage.Resampling.LANCZOS)
        return np.clip(np.asarray(full, np.float32), 0.0, 1.0)


@renamed_keywords(name="model")
def load_rembg_model(
    model: str, *, model_path: str | os.PathLike[str] | None = None, allow_noncommercial: bool = False
) -> RembgModel:
    """Load one of rembg's models by name (always explicit: rembg's own default, RMBG-2.0, is non-commercial).

    Args:
        model: a :data:`REMBG_REGISTRY` name (``u2net``, ``isnet-general-use``, ``birefnet-general``, ...) or a
            ``*_custom`` entry together with ``model_path`` (the first parameter is ``model`` as in
            :func:`~depthforge.models.load_sam_model` and :func:`~depthforge.models.load_matting_model`).
        model_path: your ONNX file, for the ``*_custom`` entries only.
        allow_noncommercial: accept weights licensed for non-commercial use only.

    Raises:
        ModelError: unknown name, refused licence, broken file; ModelNotAvailableError: not cached while the
        network is unreachable (or ``HF_HUB_OFFLINE=1``); MissingExtraError: onnxruntime is not installed.
    """
    spec = _get_spec(model)
    check_licence(spec.name, spec.licence, commercial=spec.commercial, allow_noncommercial=allow_noncommercial)
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise MissingExtraError("onnxruntime", "segment") from None
    if spec.custom:
        if model_path is None:
            raise ModelError(f"rembg model '{spec.name}' runs your own ONNX file: give its path (--seg-file FILE)")
        path = check_input_file(model_path, what="ONNX model", max_bytes=_MAX_MODEL_BYTES)
    elif model_path is not None:
        raise ModelError(f"rembg model '{spec.name}' comes from the cache; a file is only for the *_custom models")
    else:
        path = rembg_model_path(spec)
        if not path.is_file():
            _download(spec, path)
    return RembgModel(spec, Path(path))


def build_red_channel_onnx(path: str | os.PathLike[str]) -> Path:
    """A one-layer ONNX graph with a known answer, for tests without downloads (needs the ``onnx`` package): its
    (1, 1, H, W) output is channel 0 of its (1, 3, H, W) input (a 1x1 convolution), any H and W; through rembg's
    convention the alpha is the min-max normalised red channel (after the sigmoid for BiRefNet)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.array([1.0, 0.0, 0.0], np.float32).reshape(1, 3, 1, 1), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input.1", "w"], ["mask"])],
        "red",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 1, "h", "w"])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    return out
