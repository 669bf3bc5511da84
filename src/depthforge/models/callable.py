"""Any depth function as a model: ``f(image) -> depth`` behind the :class:`DepthEstimator` interface.

A user's own network (or a simulated model in tests) plugs into every depthforge path that takes a model: photos,
folders, batches, videos, high-resolution detail (:mod:`depthforge.pipeline.detail`) and every output.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np

from depthforge.core.depthmap import DepthKind, DepthMap
from depthforge.core.errors import ModelError
from depthforge.core.image import Image, check_image, to_uint8
from depthforge.core.validation import check_choice, check_size_hw
from depthforge.models.estimator import DepthEstimator, Prepared
from depthforge.models.hub import ModelSource
from depthforge.models.registry import ModelSpec

__all__ = ["CallableEstimator", "DepthFunction", "MODEL_KINDS", "as_estimator"]

MODEL_KINDS = ("relative", "metric", "disparity")
DepthFunction = Callable[[np.ndarray], Any]


class _NoBackend:
    name = "callable"
    device = "cpu"
    dtype = "fp32"
    static_shapes = False

    def forward(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        raise ModelError("callable: a depth function has no preprocessed forward pass")


class CallableEstimator(DepthEstimator):
    """A depth function ``f(image: (H, W, 3) uint8 RGB) -> (H, W) float`` used as a model.

    The function sees every image at its own full size (it resizes for its network itself) and must return a map
    of that size; NaN or inf mark pixels without an estimate.

    Args:
        function: the depth function.
        kind: what it returns: ``relative`` inverse depth (larger = nearer, unknown scale and shift; the default),
            ``metric`` depth in metres, or ``disparity`` in pixels.
        name: shown in outputs' metadata and messages.
        resolution_px: the long side (pixels) at which the function effectively sees a whole photo; used by
            :mod:`depthforge.pipeline.detail` to compare tiles with the global pass at its resolution.
        licence: the weights' licence, shown to users.
    """

    def __init__(
        self,
        function: DepthFunction,
        *,
        kind: str = "relative",
        name: str = "callable",
        resolution_px: int = 518,
        licence: str = "user-supplied",
    ) -> None:
        if not callable(function):
            raise ModelError(f"model: {type(function).__name__} is not a model name, a loaded model or a function")
        check_choice(kind, "model_kind", MODEL_KINDS)
        spec = ModelSpec(
            name=name,
            hub_id="",
            family="dpt",
            licence=licence,
            kind="metric" if kind == "metric" else "relative",
            input_size_hw=(resolution_px, resolution_px),
            keep_aspect=True,
            multiple=1,
            needs=(),
            notes="a user-supplied depth function",
        )
        super().__init__(ModelSource(spec, location="", is_local=True), _NoBackend())
        self.function = function
        self._kind = kind
        self.resolution_px = int(resolution_px)

    def __repr__(self) -> str:
        return f"CallableEstimator({self.spec.name!r}, kind={self._kind!r})"

    def describe(self) -> dict[str, object]:
        """``model``, ``kind`` and ``backend`` (``callable``): a function's device and precision are its own."""
        return {"model": self.name, "kind": self.kind, "backend": "callable"}

    @property
    def kind(self) -> str:
        """What the function returns: ``relative``, ``metric`` or ``disparity``."""
        return self._kind

    @property
    def fills_out(self) -> bool:
        return False

    def input_size(self, size_hw: tuple[int, int]) -> tuple[int, int]:
        """The function sees each image at its own size: ``size_hw`` itself."""
        return check_size_hw(size_hw)

    def native_size(self, size_hw: tuple[int, int]) -> tuple[int, int]:
        """(height, width) at which the function effectively sees an image of ``size_hw``: long side
        ``resolution_px`` (never above the image's own size)."""
        height, width = check_size_hw(size_hw)
        scale = min(1.0, self.resolution_px / max(height, width))
        return max(1, round(height * scale)), max(1, round(width * scale))

    def _model_input(self, rgb: np.ndarray, hw: tuple[int, int], input_size_hw: tuple[int, int] | None) -> np.ndarray:
        """The image itself, (H, W, 3) uint8: the function does its own preprocessing."""
        return rgb

    def predict_prepared(self, items: Sequence[Prepared], *, throughput: bool = False) -> list[DepthMap]:
        """Call the function on each prepared image, one at a time, in order."""
        return [self._run(item.pixels, item.output_size_hw) for item in items]

    def predict_raw(self, image: Image | np.ndarray, *, input_size_hw: tuple[int, int] | None = None) -> np.ndarray:
        """The function's output for ``image``: (H, W) float32."""
        rgb = to_uint8(check_image(image))
        return self._run(rgb, (int(rgb.shape[0]), int(rgb.shape[1]))).values

    def _run(self, rgb: np.ndarray, output_size_hw: tuple[int, int]) -> DepthMap:
        with self._lock:
            raw = self.function(rgb)
        values = np.asarray(raw, dtype=np.float32)
        if values.shape != rgb.shape[:2]:
            raise ModelError(
                f"model: the depth function returned shape {values.shape} for a {rgb.shape[0]}x{rgb.shape[1]} image;"
                " it must return (H, W)"
            )
        if values.shape != output_size_hw:
            import cv2

            size = (output_size_hw[1], output_size_hw[0])
            values = np.asarray(cv2.resize(values, size, interpolation=cv2.INTER_CUBIC), dtype=np.float32)
        meta: dict[str, Any] = {"licence": self.spec.licence}
        values = np.where(np.isfinite(values), values, np.float32(np.nan))
        return DepthMap(values, kind=cast(DepthKind, self._kind), model=self.spec.name, meta=meta)


def as_estimator(model: DepthEstimator | DepthFunction, *, kind: str = "relative") -> DepthEstimator:
    """``model`` itself when it is a loaded model, else the function wrapped as a :class:`CallableEstimator`."""
    return model if isinstance(model, DepthEstimator) else CallableEstimator(model, kind=kind)
