"""Running exported depth graphs on OpenVINO (CPU): compilation per input size and mode, then latency,
throughput and streaming runs. The graphs come from :class:`depthforge.models.openvino_backend.OpenVINOBackend`,
which builds on :class:`OpenVINORunner` and supplies the export side (:meth:`OpenVINORunner.wait_for_export`) and
PyTorch's stand-in answers (:meth:`OpenVINORunner._by_torch`).

Compilation: a size with a compiled blob already cached (OpenVINO's cache sits beside the IR) or seen twice in
this process, and every batch run in throughput mode, compile the graph for that one size with every dimension
fixed; the first image of any other size runs on the graph compiled with free dimensions (one compilation for
all sizes), so it pays no static compilation.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from depthforge.core.caches import drop_oldest
from depthforge.core.errors import ModelError
from depthforge.core.threads import thread_budget
from depthforge.models.graph_cache import graph_dir
from depthforge.models.hub import ModelSource
from depthforge.models.openvino_export import PRECISION_HINT

__all__ = ["GraphKey", "OpenVINORunner"]

_STATIC_AFTER = 2  # images of one size in a process before that size gets its own fixed-shape compilation
#: Compiled graphs kept for reuse, the least recently used dropped first: at most this many, while the largest
#: inputs they ran add up to at most ``_KEEP_PIXELS``. Each holds its own copy of the weights and, once run, the
#: activations of the largest input it ran until it is dropped: kept without a bound, Depth Anything V2 Small grew
#: by 0.23 GB per input size at its own size, and by 0.8-1.4 GB after one input of 2048 px.
_KEEP_GRAPHS = 4
_KEEP_PIXELS = 2_000_000
GraphKey = tuple[int, int] | None  # None: the one graph of every size; (h, w): a static graph


class OpenVINORunner:
    """The running half of the OpenVINO backend: compiled graphs per size and mode, and the forward passes.

    A subclass sets the attributes below and provides :meth:`wait_for_export` (the graph of a size on disk) and
    :meth:`_by_torch` (PyTorch's answer while a graph is not ready).
    """

    name = "openvino"
    source: ModelSource
    variant: str  # fp32, bf16, fp16 or int8
    dynamic: bool  # one graph with free height and width (else one per size)
    _lock: threading.RLock  # held while a graph is compiled
    _lru_lock: threading.Lock  # held while the kept graphs are looked up or changed
    _ov: Any  # the openvino module and its Core, on first use (a first run needs neither)
    _core_obj: Any
    _compiled: dict[tuple[Any, ...], Any]  # least recently used first
    _pixels: dict[tuple[Any, ...], int]  # per compiled graph, the largest input it was asked for (h * w)
    _graphs: dict[GraphKey, Any]  # the IR read once per graph
    _seen: Counter[tuple[int, int]]

    def wait_for_export(self, height: int, width: int, timeout_s: float | None = None) -> bool:
        """Export the graph for this input size if needed and wait for it; True when ready."""
        raise NotImplementedError

    def _by_torch(self, x: np.ndarray) -> np.ndarray | None:
        """PyTorch's output for a batch whose graph is not ready, else None."""
        raise NotImplementedError

    @property
    def _core(self) -> Any:
        if self._core_obj is None:
            import openvino as ov

            self._ov, self._core_obj = ov, ov.Core()
        return self._core_obj

    def _key(self, height: int, width: int) -> GraphKey:
        return None if self.dynamic else (height, width)

    def _folder(self, key: GraphKey) -> Path:
        return graph_dir(self.source, self.name, self.variant, key)

    # -- running -------------------------------------------------------------------------------------------

    def forward(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(B, 3, h, w) float32 normalised input -> ((B, h, w) float32 raw output, None)."""
        x = np.ascontiguousarray(batch, dtype=np.float32)
        served = self._by_torch(x)
        if served is not None:
            return served, None
        compiled = self.compiled(int(x.shape[2]), int(x.shape[3]))
        out = np.concatenate([np.asarray(compiled(x[i : i + 1])[0], dtype=np.float32) for i in range(len(x))])
        return (out[:, 0] if out.ndim == 4 else out), None

    def forward_throughput(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """As :meth:`forward`, tuned for throughput: the images of the batch run as parallel inference requests
        on a graph compiled with OpenVINO's THROUGHPUT hint (several streams, each on its share of the cores)."""
        x = np.ascontiguousarray(batch, dtype=np.float32)
        if len(x) < 2:
            return self.forward(x)
        served = self._by_torch(x)
        if served is not None:
            return served, None
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
        requests of the previous size (one compiled graph at a time). Images whose graph is still being exported
        run on PyTorch, one by one.
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
                served = self._by_torch(np.ascontiguousarray(x[None], dtype=np.float32))
                if served is not None:
                    pending.append((tag, [served[0]]))
                    yield from ready()
                    continue
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

    def compiled(self, height: int, width: int, *, mode: str = "LATENCY", static: bool | None = None) -> Any:
        """The compiled model for one input size, exporting the graph first (and waiting for it) if needed.

        A graph compiled for one image of ``height`` x ``width`` with every dimension fixed lets OpenVINO pick
        static kernels: 5-15 % faster per image than the graph compiled with free dimensions, but each size costs a
        compilation (about 1 s for Depth Anything V2 Small here; its blob is cached on disk). ``static``: None picks
        (see the module docstring), True / False force either. A batch runs as one request per image.

        ``mode``: OpenVINO's performance hint, ``LATENCY`` (one stream on every core) or ``THROUGHPUT``
        (requests of one image each, run in parallel streams).
        """
        key = self._key(height, width)
        if static is None:
            hit = self._kept((height, width, mode), height * width)
            if hit is not None:
                return hit
            with self._lock:
                self._seen[(height, width)] += 1
                seen = self._seen[(height, width)]
            static = not self.dynamic or mode == "THROUGHPUT" or seen >= _STATIC_AFTER
            static = static or self._marker(height, width, mode).exists()
        ckey: tuple[Any, ...] = (height, width, mode) if static else ("any", mode)
        hit = self._kept(ckey, height * width)
        if hit is not None:
            return hit
        self.wait_for_export(height, width)
        with self._lock:
            hit = self._kept(ckey, height * width)
            if hit is not None:
                return hit
            try:
                graph = self._graphs.get(key)
                if graph is None:
                    graph = self._graphs[key] = self._core.read_model(self._folder(key) / "model.xml")
                if static:
                    graph = graph.clone()
                    graph.reshape([1, 3, height, width])
                compiled = self._compile(graph, self._folder(key) / "blobs", mode=mode)
            except RuntimeError as exc:  # OpenVINO's own errors: a damaged graph or blob in the cache
                first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
                raise ModelError(
                    f"the cached OpenVINO graph in {self._folder(key)} cannot be used ({first}); delete that folder "
                    "to rebuild it, or use --backend torch"
                ) from exc
            if static and self.dynamic:
                marker = self._marker(height, width, mode)
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.touch()
            return self._kept(ckey, height * width, compiled)

    def _kept(self, ckey: tuple[Any, ...], pixels: int, compiled: Any = None) -> Any:
        """The compiled graph ``ckey`` (None when not kept), or ``compiled`` kept as it, made the most recently used
        and asked for ``pixels``; older graphs beyond ``_KEEP_GRAPHS`` or ``_KEEP_PIXELS`` are dropped (never the one
        returned; a thread running a dropped one keeps it until done). Under its own lock, not the one compilations
        hold, so a forward at a compiled size never waits for another thread's compilation."""
        with self._lru_lock:
            hit = self._compiled.pop(ckey, None)
            if compiled is not None:
                hit = compiled
            if hit is None:
                return None
            self._compiled[ckey] = hit
            self._pixels[ckey] = max(self._pixels.get(ckey, 0), pixels)
            dropped = drop_oldest(
                self._compiled, size=self._pixels.__getitem__, max_entries=_KEEP_GRAPHS, max_size=_KEEP_PIXELS
            )
            for key in dropped:
                del self._pixels[key]
            return hit

    def _marker(self, height: int, width: int, mode: str) -> Path:
        """An empty file saying that the blob of this size and mode sits in OpenVINO's cache."""
        return self._folder(self._key(height, width)) / "sizes" / f"{mode.lower()}-{height}x{width}"

    def _compile(self, graph: Path | Any, blob_dir: Path | None, *, mode: str = "LATENCY") -> Any:
        config: dict[str, Any] = {
            "INFERENCE_PRECISION_HINT": PRECISION_HINT[self.variant],
            "PERFORMANCE_HINT": mode,
            # pinning binds the calling thread to one core too, which then slows every numpy/OpenCV step run
            # after a forward pass (resize back, PNG encode: measured 5x slower) on a shared machine
            "ENABLE_CPU_PINNING": False,
        }
        config["INFERENCE_NUM_THREADS"] = thread_budget()
        if blob_dir is not None:
            config["CACHE_DIR"] = str(blob_dir)
        return self._core.compile_model(graph, "CPU", config)
