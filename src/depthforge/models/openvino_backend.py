"""OpenVINO backend (optional extra ``openvino``; ``nncf`` for ``quantize="int8"``): static graphs per size bucket.

Each (model, variant, bucket) is exported once from the PyTorch model with a static spatial shape and a dynamic
batch, verified against PyTorch fp32 on probe photos (batch of two and batch of one, so a frozen batch or a
frozen output size is caught), saved as OpenVINO IR with a manifest (see :mod:`depthforge.models.graph_cache`)
and reused by later runs; it is compiled for one image at a time with every dimension fixed, and OpenVINO's own
compiled-blob cache sits beside it. Preprocessing stays outside the graph.

Precision: ``fp32`` (the default) sets OpenVINO's inference precision hint to f32, since OpenVINO otherwise picks
bf16 on AVX-512-BF16 CPUs, which is slower than f32 without AMX and deviates more. ``bf16``/``fp16`` ask for those.
``quantize="int8"`` applies NNCF post-training quantisation calibrated on bundled photographs; its deviation from
PyTorch fp32 is measured at build time and reported in :attr:`OpenVINOBackend.deviation`.
"""

from __future__ import annotations

import threading
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from depthforge.core.errors import ModelError, ValidationError
from depthforge.core.threads import thread_budget
from depthforge.models.graph_cache import (
    build_atomically,
    fingerprint,
    graph_dir,
    max_rel_error,
    mean_abs_rel,
    probe_images,
    read_manifest,
)
from depthforge.models.hub import ModelSource
from depthforge.models.preprocess import prepare

__all__ = ["OpenVINOBackend", "openvino_available", "SUPPORTED_FAMILIES", "TOLERANCE", "INT8_MAX_DEVIATION"]

SUPPORTED_FAMILIES = ("depth_anything", "dpt")
# accepted when a graph is verified: max |ov - torch| / max |torch| for the float variants; for int8 (whose
# deviation is measured and reported) only a broken graph is refused: mean |ov - torch| / mean |torch| above 0.5
TOLERANCE = {"fp32": 1e-3, "bf16": 0.05, "fp16": 0.05}
INT8_MAX_DEVIATION = 0.5
_PRECISION_HINT = {"fp32": "f32", "bf16": "bf16", "fp16": "f16", "int8": "f32"}
_CALIBRATION_IMAGES = 6
_FILES = ("model.xml", "model.bin")


def openvino_available() -> bool:
    """Whether the ``openvino`` package can be imported."""
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def _versions(quantize: str | None) -> dict[str, str]:
    import openvino
    import torch
    import transformers

    out = {"openvino": openvino.__version__, "torch": torch.__version__, "transformers": transformers.__version__}
    if quantize:
        import nncf

        out["nncf"] = nncf.__version__
    return out


class OpenVINOBackend:
    """Runs a depth model as OpenVINO static graphs, one per input size bucket (CPU)."""

    name = "openvino"
    static_shapes = True

    def __init__(
        self, source: ModelSource, *, device: str = "auto", dtype: str = "auto", quantize: str | None = None
    ) -> None:
        try:
            import openvino as ov
        except ImportError:
            raise ModelError("the openvino backend needs the 'openvino' package (pip install openvino)") from None
        if source.spec.family not in SUPPORTED_FAMILIES:
            raise ModelError(
                f"the openvino backend supports {', '.join(SUPPORTED_FAMILIES)} models, not {source.spec.family}"
                " (use --backend torch)"
            )
        if device not in ("auto", "cpu"):
            raise ValidationError(f"device: the openvino backend runs on cpu here, not {device} (use --backend torch)")
        if quantize not in (None, "int8"):
            raise ValidationError(f"quantize: expected int8 or none, got {quantize!r}")
        if quantize:
            try:
                import nncf  # noqa: F401
            except ImportError:
                raise ModelError("quantize int8 needs the 'nncf' package (pip install nncf)") from None
        self.device = "cpu"
        self.dtype = "fp32" if dtype == "auto" else dtype
        self.quantize = quantize
        self.variant = "int8" if quantize else self.dtype
        self.source = source
        self._ov = ov
        self._core = ov.Core()
        self._fp = fingerprint(source, _versions(quantize) | {"variant": self.variant})
        self._compiled: dict[tuple[int, int, str], Any] = {}
        self._torch: Any = None
        self._lock = threading.Lock()
        self.reports: dict[tuple[int, int], dict[str, Any]] = {}

    @property
    def deviation(self) -> float | None:
        """The largest mean |ours - torch fp32| / mean |torch fp32| measured over the buckets built or loaded."""
        values = [float(r["mean_abs_rel"]) for r in self.reports.values() if "mean_abs_rel" in r]
        return max(values) if values else None

    def forward(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(B, 3, h, w) float32 normalised input -> ((B, h, w) float32 raw output, None)."""
        x = np.ascontiguousarray(batch, dtype=np.float32)
        compiled = self.compiled(int(x.shape[2]), int(x.shape[3]))
        out = np.concatenate([np.asarray(compiled(x[i : i + 1])[0], dtype=np.float32) for i in range(len(x))])
        return (out[:, 0] if out.ndim == 4 else out), None

    def forward_throughput(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """As :meth:`forward`, tuned for throughput: the images of the batch run as parallel inference requests
        on a graph compiled with OpenVINO's THROUGHPUT hint (several streams, each on its share of the cores)."""
        x = np.ascontiguousarray(batch, dtype=np.float32)
        if len(x) < 2:
            return self.forward(x)
        compiled = self.compiled(int(x.shape[2]), int(x.shape[3]), mode="THROUGHPUT")
        ov = self._ov
        n = max(1, min(len(x), int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))))
        queue = ov.AsyncInferQueue(compiled, n)
        results: list[np.ndarray | None] = [None] * len(x)

        def done(request: Any, index: int) -> None:
            results[index] = np.array(request.get_output_tensor(0).data, dtype=np.float32, copy=True)

        queue.set_callback(done)
        for i in range(len(x)):
            queue.start_async({0: x[i : i + 1]}, i)
        queue.wait_all()
        out = np.concatenate([r for r in results if r is not None])
        return (out[:, 0] if out.ndim == 4 else out), None

    def forward_stream(self, items: Iterable[tuple[Any, np.ndarray | None]]) -> Iterator[tuple[Any, np.ndarray | None]]:
        """Run a stream of single images with requests always in flight: ``(tag, (3, h, w) float32 input or None)``
        in, ``(tag, (h, w) float32 raw output or None)`` out, in input order.

        Each image is started as soon as an inference request is free (THROUGHPUT hint: one stream per request),
        so no core waits for the slowest image of a batch; results are handed back as soon as they and every
        earlier one are ready. A ``None`` input passes through in its place. A change of input size waits for the
        requests of the previous size (one compiled graph at a time).
        """
        pending: deque[tuple[Any, list[np.ndarray | None] | None]] = deque()
        queue: Any = None
        shape: tuple[int, int] | None = None

        def done(request: Any, slot: list[np.ndarray | None]) -> None:
            out = np.array(request.get_output_tensor(0).data, dtype=np.float32, copy=True)
            slot[0] = out[0, 0] if out.ndim == 4 else out[0]

        def ready() -> Iterator[tuple[Any, np.ndarray | None]]:
            while pending and (pending[0][1] is None or pending[0][1][0] is not None):
                tag, slot = pending.popleft()
                yield tag, None if slot is None else slot[0]

        for tag, x in items:
            if x is not None:
                hw = (int(x.shape[-2]), int(x.shape[-1]))
                if hw != shape:
                    if queue is not None:
                        queue.wait_all()
                        yield from ready()  # hand the finished images over before a (possibly slow) new graph
                    compiled = self.compiled(hw[0], hw[1], mode="THROUGHPUT")
                    n = max(1, int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
                    queue, shape = self._ov.AsyncInferQueue(compiled, n), hw
                    queue.set_callback(done)
                slot: list[np.ndarray | None] = [None]
                pending.append((tag, slot))
                # blocks while every request is busy, i.e. until an earlier image has finished
                queue.start_async({0: np.ascontiguousarray(x[None], dtype=np.float32)}, slot)
            else:
                pending.append((tag, None))
            yield from ready()
        if queue is not None:
            queue.wait_all()
        yield from ready()
        if pending:
            raise ModelError(f"openvino: {len(pending)} inference request(s) finished without a result")

    def compiled(self, height: int, width: int, *, mode: str = "LATENCY") -> Any:
        """The compiled model of one input size: from memory, the disk cache, or exported and verified now.

        The stored graph keeps a free batch dimension (verified with batches of two and one when built); it is
        compiled for one image of ``height`` x ``width`` with every dimension fixed, which lets OpenVINO pick
        static kernels: 5-10 % faster per image than compiling the free-batch graph, while batching several
        images into one request gained nothing on CPU (``benchmarks/RESULTS.md``). A batch runs as one request per
        image. (The fixed-shape compilation itself is checked against PyTorch by the test suite at several sizes.)

        ``mode``: OpenVINO's performance hint, ``LATENCY`` (one stream on every core) or ``THROUGHPUT``
        (requests of one image each, run in parallel streams).
        """
        key = (height, width)
        ckey = (height, width, mode)
        hit = self._compiled.get(ckey)
        if hit is not None:
            return hit
        with self._lock:
            hit = self._compiled.get(ckey)
            if hit is not None:
                return hit
            folder = graph_dir(self.source, self.name, self.variant, key)
            manifest = read_manifest(folder, self._fp, _FILES)
            if manifest is None:  # absent or stale: export, verify against PyTorch, store
                manifest = build_atomically(folder, lambda tmp: self._build(tmp, height, width), self._fp)
            self.reports[key] = manifest
            model = self._core.read_model(folder / "model.xml")
            model.reshape([1, 3, height, width])
            compiled = self._compile(model, folder / "blobs", mode=mode)
            self._compiled[ckey] = compiled
            return compiled

    # -- building ---------------------------------------------------------------------------------------------

    def _compile(self, xml: Path | Any, blob_dir: Path | None, *, mode: str = "LATENCY") -> Any:
        config: dict[str, Any] = {
            "INFERENCE_PRECISION_HINT": _PRECISION_HINT[self.variant],
            "PERFORMANCE_HINT": mode,
            # pinning binds the calling thread to one core too, which then slows every numpy/OpenCV step run
            # after a forward pass (resize back, PNG encode: measured 5x slower) on a shared machine
            "ENABLE_CPU_PINNING": False,
        }
        config["INFERENCE_NUM_THREADS"] = thread_budget()
        if blob_dir is not None:
            config["CACHE_DIR"] = str(blob_dir)
        return self._core.compile_model(xml, "CPU", config)

    def _torch_model(self) -> Any:
        if self._torch is None:
            from depthforge.models.torch_backend import load_torch_model, set_cpu_threads

            set_cpu_threads()
            self._torch = load_torch_model(self.source, device="cpu", dtype="fp32")
        return self._torch

    def _inputs(self, images: list[np.ndarray], height: int, width: int) -> np.ndarray:
        return np.stack([prepare(im, self.source.spec, size_hw=(height, width)) for im in images])

    def _build(self, folder: Path, height: int, width: int) -> dict[str, Any]:
        import torch

        ov = self._ov
        model = self._torch_model()

        class DepthOnly(torch.nn.Module):
            def __init__(self, inner: Any) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
                pred = self.inner(pixel_values=pixel_values).predicted_depth
                return pred[:, 0] if pred.dim() == 4 else pred

        photos = probe_images(_CALIBRATION_IMAGES + 2)
        verify = self._inputs(photos[:2], height, width)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # a batch of two keeps the batch dimension free; the input shape pins h x w (one graph per bucket)
            ov_model = ov.convert_model(
                DepthOnly(model),
                example_input=torch.from_numpy(verify),
                input=[ov.PartialShape([-1, 3, height, width])],
            )
        if self.quantize:
            ov_model = self._quantize(ov_model, self._inputs(photos[2:], height, width))
        ov.save_model(ov_model, str(folder / "model.xml"), compress_to_fp16=False)
        compiled = self._compile(folder / "model.xml", None)
        with torch.inference_mode():
            ref = model(pixel_values=torch.from_numpy(verify)).predicted_depth.float().numpy()
        ref = ref[:, 0] if ref.ndim == 4 else ref
        both = np.asarray(compiled(verify)[0], np.float32)
        single = np.asarray(compiled(verify[1:])[0], np.float32)
        both = both[:, 0] if both.ndim == 4 else both
        single = single[:, 0] if single.ndim == 4 else single
        if both.shape != ref.shape or single.shape != ref[1:].shape:
            raise ModelError(
                f"openvino export of '{self.source.spec.name}' at {height}x{width} gives outputs of shape "
                f"{both.shape}/{single.shape}, PyTorch {ref.shape} (use --backend torch)"
            )
        err = max(max_rel_error(both, ref), max_rel_error(single, ref[1:]))
        dev = max(mean_abs_rel(both, ref), mean_abs_rel(single, ref[1:]))
        bad = dev > INT8_MAX_DEVIATION if self.variant == "int8" else err > TOLERANCE[self.variant]
        if bad:
            raise ModelError(
                f"openvino {self.variant} graph of '{self.source.spec.name}' at {height}x{width} differs from "
                f"PyTorch fp32 (max relative error {err:.2e}, mean {dev:.2e}): "
                + ("run without --quantize int8" if self.variant == "int8" else "use --backend torch")
            )
        return {
            "size": [height, width],
            "variant": self.variant,
            "max_rel_error": err,
            "mean_abs_rel": dev,
            "verified_on": "2 probe photos, batch 2 and batch 1, against PyTorch fp32",
        }

    def _quantize(self, ov_model: Any, calibration: np.ndarray) -> Any:
        import logging

        import nncf

        nncf.set_log_level(logging.ERROR)
        items = [calibration[i : i + 1] for i in range(len(calibration))]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return nncf.quantize(
                ov_model,
                nncf.Dataset(items),
                model_type=nncf.ModelType.TRANSFORMER,
                subset_size=len(items),
                fast_bias_correction=True,
            )
