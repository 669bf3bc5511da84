"""OpenVINO backend (optional extra ``openvino``; ``nncf`` for ``quantize="int8"``): one exported graph per model.

Each (model, variant) is exported once from the PyTorch model (:mod:`depthforge.models.openvino_export`): with free
height and width for models whose size rule keeps the aspect ratio (Depth Anything), so a new aspect ratio costs a
compilation, not an export; per input size for models with one input size (DPT). The graph is verified against
PyTorch fp32 at two sizes other than the traced one, saved as OpenVINO IR with a manifest (see
:mod:`depthforge.models.graph_cache`) and reused by later runs. Until it exists, PyTorch answers: the first image
runs on the PyTorch model (loaded for the export anyway), then the export starts in a background thread, with
progress notices on the ``depthforge`` logger (the command line prints them); later images use OpenVINO once the
export is done. Preprocessing stays outside the graph.

Compiling and running the graphs (latency, throughput, streaming) is the other half, in
:mod:`depthforge.models.openvino_run` (:class:`~depthforge.models.openvino_run.OpenVINORunner`, which this backend
extends).

Precision: ``fp32`` (the default) sets OpenVINO's inference precision hint to f32. ``bf16`` needs a CPU that
computes bf16 natively (AVX512-BF16 or AMX; refused elsewhere, where it was slower than f32). On a 2-core AMX
CPU, Depth Anything V2 Small at 518x686 runs 3.4x faster in bf16 than in f32 (185 vs 636 ms per image, 4.6x the
transformers pipeline) and deviates from PyTorch fp32 by 0.65 % (mean |bf16 - fp32| / mean |fp32|, random
weights; ``benchmarks/RESULTS.md``, issue 26); the deviation is measured at build time and reported in
:attr:`OpenVINOBackend.deviation` like int8's. ``quantize="int8"`` applies NNCF post-training quantisation
calibrated on bundled photographs; its deviation is measured and reported the same way.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import importlib.metadata
import importlib.util
import json
import logging
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from depthforge.core.errors import ModelError, ValidationError
from depthforge.io.atomic import atomic_write_text
from depthforge.models.graph_cache import build_atomically, fingerprint, read_manifest
from depthforge.models.hub import ModelSource
from depthforge.models.openvino_export import (
    INT8_MAX_DEVIATION,
    TOLERANCE,
    GraphMismatchError,
    cpu_supports_bf16,
    cpu_supports_fp16,
    export_graph,
    is_dynamic,
)
from depthforge.models.openvino_run import GraphKey, OpenVINORunner

__all__ = [
    "OpenVINOBackend",
    "openvino_available",
    "SUPPORTED_FAMILIES",
    "TOLERANCE",
    "INT8_MAX_DEVIATION",
    "cpu_supports_bf16",
]

SUPPORTED_FAMILIES = ("depth_anything", "dpt")
_FILES = ("model.xml", "model.bin")
_log = logging.getLogger("depthforge")


def openvino_available() -> bool:
    """Whether the ``openvino`` package is installed (found without importing it: the import takes a while)."""
    if "openvino" in sys.modules:
        return sys.modules["openvino"] is not None
    try:
        return importlib.util.find_spec("openvino") is not None
    except (ImportError, ValueError):
        return False


def _version(package: str) -> str:
    """A package's version from its metadata (no import), else from the module."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return str(importlib.import_module(package).__version__)


def _versions(quantize: str | None) -> dict[str, str]:
    return {p: _version(p) for p in ("openvino", "torch", "transformers", *(("nncf",) if quantize else ()))}


class OpenVINOBackend(OpenVINORunner):
    """Runs a depth model on OpenVINO (CPU): one exported graph for every input size (or one per size for models
    with a single input size), PyTorch answering while the first export runs."""

    def __init__(
        self, source: ModelSource, *, device: str = "auto", dtype: str = "auto", quantize: str | None = None
    ) -> None:
        if not openvino_available():
            raise ModelError("the openvino backend needs the 'openvino' package (pip install openvino)")
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
        self.dtype = "fp32" if dtype == "auto" else dtype
        if self.dtype == "bf16" and not quantize and not cpu_supports_bf16():
            raise ValidationError(
                "dtype: bf16 needs a CPU with AVX512-BF16 or AMX, this one has neither"
                " (use --fast, which picks int8 here, or --dtype fp32)"
            )
        if self.dtype == "fp16" and not quantize and not cpu_supports_fp16():  # user trial 6: fp16 = bf16 bytes
            runs = "bf16" if cpu_supports_bf16() else "f32"
            _log.info(f"fp16: this CPU has no native fp16 (AVX512-FP16 or AMX-FP16); OpenVINO runs the graph in {runs}")
        self.device = "cpu"
        self.quantize = quantize
        self.variant = "int8" if quantize else self.dtype
        self.source = source
        self.dynamic = is_dynamic(source.spec)
        #: True: inputs are snapped to size buckets (a graph per size); False: any size runs on the one graph
        self.static_shapes = not self.dynamic
        self._ov: Any = None  # the openvino module and its Core, on first use (a first run needs neither)
        self._core_obj: Any = None
        self._fp = fingerprint(source, _versions(quantize) | {"variant": self.variant})
        self._compiled: dict[tuple[Any, ...], Any] = {}
        self._pixels: dict[tuple[Any, ...], int] = {}
        self._lru_lock = threading.Lock()
        self._graphs: dict[GraphKey, Any] = {}  # the IR read once per graph
        self._exports: dict[GraphKey, threading.Thread] = {}
        self._errors: dict[GraphKey, BaseException] = {}
        self._seen: Counter[tuple[int, int]] = Counter()
        self._served: set[GraphKey] = set()  # graphs for which PyTorch has answered an image
        self._torch: Any = None
        self._lock = threading.RLock()
        self.reports: dict[GraphKey, dict[str, Any]] = {}

    @property
    def deviation(self) -> float | None:
        """The largest mean |ours - torch fp32| / mean |torch fp32| measured over the graphs built or loaded (None
        before any graph exists: images answered by PyTorch meanwhile deviate by 0)."""
        values = [float(r["mean_abs_rel"]) for r in self.reports.values() if "mean_abs_rel" in r]
        return max(values) if values else None

    # -- the graph: cached, or exported (in the background while PyTorch answers) ----------------------------

    def ready(self, height: int, width: int) -> bool:
        """Whether the graph for this input size is exported and verified (on disk, current), so OpenVINO runs."""
        key = self._key(height, width)
        if key in self.reports:
            return True
        manifest = read_manifest(self._folder(key), self._fp, _FILES)
        if manifest is None:
            return False
        with self._lock:
            if key not in self.reports:
                self.reports[key] = manifest
                self._say_deviation(manifest)
        return True

    def _say_deviation(self, manifest: dict[str, Any]) -> None:
        if self.variant in ("bf16", "fp16", "int8"):
            _log.info(
                f"openvino {self.variant}: mean deviation from PyTorch fp32 {100 * manifest['mean_abs_rel']:.2f} %"
                f" (max {100 * manifest['max_rel_error']:.2f} % of the range), measured when the graph was built"
            )

    def start_export(self, height: int, width: int) -> threading.Thread | None:
        """Start exporting the graph for this input size in a background thread (None when it is ready or has
        failed). The thread is not a daemon: a process waits for it before exiting, so the export is kept."""
        key = self._key(height, width)
        with self._lock:
            if self.ready(height, width) or key in self._errors:
                return None
            if self._failed_before(key):
                return None
            thread = self._exports.get(key)
            if thread is None:
                thread = threading.Thread(
                    target=self._export, args=(key, height, width, bool(self._served)), name="openvino-export"
                )
                self._exports[key] = thread
                thread.start()
            return thread

    def _failure_record(self, key: GraphKey) -> Path:
        folder = self._folder(key)
        return folder.with_name(folder.name + ".failed.json")

    def _failed_before(self, key: GraphKey) -> bool:
        """Whether an earlier run's graph of this model, versions and variant failed its verification (user trial 6:
        every run exported and failed again); the error is kept as this run's, and said once."""
        record = self._failure_record(key)
        try:
            saved = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        if not isinstance(saved, dict) or saved.get("fingerprint") != self._fp:
            return False
        message = f"{str(saved.get('error', 'verification failed'))[:300]} (an earlier run's; delete {record} to retry)"
        self._errors[key] = ModelError(message)
        _log.info(f"openvino: {message}; PyTorch goes on")
        return True

    def wait_for_export(self, height: int, width: int, timeout_s: float | None = None) -> bool:
        """Export the graph for this input size if needed and wait for it; True when ready.

        Raises:
            ModelError: the export failed (the message says why).
        """
        thread = self.start_export(height, width)
        if thread is not None:
            thread.join(timeout_s)
        error = self._errors.get(self._key(height, width))
        if error is not None:
            raise error if isinstance(error, ModelError) else ModelError(f"openvino export failed: {error}")
        return self.ready(height, width)

    def _export(self, key: GraphKey, height: int, width: int, serving: bool = False) -> None:
        t0 = time.perf_counter()
        what = f"'{self.source.spec.name}' ({self.variant})"
        where = "for every input size" if key is None else f"for {height}x{width}"

        def step(message: str) -> None:
            _log.info(f"openvino export of {what}: {message} [{time.perf_counter() - t0:.0f} s]")

        try:
            meanwhile = "; PyTorch answers meanwhile" if serving else ""
            _log.info(f"exporting {what} to OpenVINO {where}, once (later runs start at once){meanwhile}")
            model = self._torch_backend().model

            def build(tmp: Path) -> dict[str, Any]:
                return export_graph(
                    model,
                    self.source.spec,
                    tmp,
                    variant=self.variant,
                    size_hw=key,
                    compile_model=lambda graph: self._compile(graph, None),
                    on_step=step,
                )

            manifest = build_atomically(self._folder(key), build, self._fp)
            with self._lock:
                self.reports[key] = manifest
            step(f"ready, verified against PyTorch fp32 (max {100 * manifest['max_rel_error']:.2f} % of the range)")
            self._say_deviation(manifest)
        except BaseException as exc:  # noqa: BLE001 - kept for wait_for_export; PyTorch goes on answering
            self._errors[key] = exc
            if isinstance(exc, KeyboardInterrupt):
                return
            if isinstance(exc, GraphMismatchError):  # the same model and versions would fail again: remembered
                record = {"fingerprint": self._fp, "error": str(exc)}
                with contextlib.suppress(OSError):
                    atomic_write_text(self._failure_record(key), json.dumps(record))
            _log.info(f"openvino export of {what} failed, PyTorch goes on: {str(exc).splitlines()[0][:200]}")

    def _torch_backend(self) -> Any:
        with self._lock:
            if self._torch is None:
                from depthforge.models.torch_backend import TorchBackend

                self._torch = TorchBackend(self.source, device="cpu", dtype="fp32")
            return self._torch

    def _by_torch(self, x: np.ndarray) -> np.ndarray | None:
        """PyTorch's output for a batch whose graph is not ready, else None.

        The first such batch is answered at once and the export put off until the process ends (a one-photo run
        gets its result at PyTorch's speed, then exports); a further one starts the export in the background
        and is answered by PyTorch meanwhile.
        """
        h, w = int(x.shape[2]), int(x.shape[3])
        if self.ready(h, w):
            return None
        key = self._key(h, w)
        torch_backend = self._torch_backend()  # a model that cannot load fails here, before an export is planned
        with self._lock:
            first = key not in self._served
            self._served.add(key)
        if first:
            atexit.register(self._export_at_exit, h, w)
        else:
            self.start_export(h, w)
        out, _ = torch_backend.forward(x)
        return np.asarray(out, dtype=np.float32)

    def _export_at_exit(self, height: int, width: int) -> None:
        """At the end of the process: finish (or run) the export that PyTorch stood in for; Ctrl-C skips it."""
        key = self._key(height, width)
        if key in self._errors or self.ready(height, width) or self._failed_before(key):
            return
        thread = self._exports.get(key)
        try:
            if thread is not None:
                thread.join()
            else:
                self._export(key, height, width)  # here, so that Ctrl-C stops it cleanly (no half-written graph)
        except KeyboardInterrupt:
            self._errors[key] = KeyboardInterrupt()
        if isinstance(self._errors.get(key), KeyboardInterrupt):
            _log.info("openvino export interrupted: it runs again next time")
