"""Exporting a transformers depth model to OpenVINO IR once, for every input size, and verifying it.

Models whose size rule keeps the aspect ratio (Depth Anything) are exported with free batch, height and width
(``ov.convert_model`` on an example batch with ``input=[(-1, 3, -1, -1)]``): the graph then reshapes to any size.
TorchScript tracing records the position-embedding interpolation and the neck's shapes as functions of the input,
but freezes sizes that the model code turns into Python integers; in Depth Anything that is the head's upsampling
to ``(patch_height * patch_size, patch_width * patch_size)``. :func:`free_frozen_sizes` finds every resize whose
target size is the constant trace size and computes it from the input's shape instead. Models with one input
size (DPT, BEiT: square, aspect not kept) keep a static height and width.

Every export is verified against PyTorch fp32 at two input sizes that differ from the trace size (a batch of two
and of one each), in the precision it will run in; the figures go into the graph's manifest.
"""

from __future__ import annotations

import contextlib
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from depthforge.core.errors import ModelError
from depthforge.models.graph_cache import max_rel_error, mean_abs_rel, probe_images
from depthforge.models.preprocess import model_input_size, prepare
from depthforge.models.registry import ModelSpec

__all__ = [
    "export_graph",
    "free_frozen_sizes",
    "trace_size",
    "verify_sizes",
    "GraphMismatchError",
    "cpu_supports_bf16",
    "cpu_supports_fp16",
    "fast_preset",
    "is_dynamic",
    "TOLERANCE",
    "INT8_MAX_DEVIATION",
    "PRECISION_HINT",
]

# accepted when a graph is verified: max |ov - torch| / max |torch| for the float variants; for int8 (whose
# deviation is measured and reported) only a broken graph is refused: mean |ov - torch| / mean |torch| above 0.5
TOLERANCE = {"fp32": 1e-3, "bf16": 0.05, "fp16": 0.05}
INT8_MAX_DEVIATION = 0.5
PRECISION_HINT = {"fp32": "f32", "bf16": "bf16", "fp16": "f16", "int8": "f32"}
_CALIBRATION_IMAGES = 6


class GraphMismatchError(ModelError):
    """An exported graph's outputs differ from PyTorch fp32 beyond its tolerance (it would again, from the same
    model, versions and variant: the backend remembers it)."""


def cpu_supports_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX-BF16), from ``/proc/cpuinfo``'s flags; where
    that file is absent, from OpenVINO's CPU capabilities (False without OpenVINO)."""
    return _cpu_computes("BF16", {"avx512_bf16", "amx_bf16"})


def cpu_supports_fp16() -> bool:
    """Whether this CPU computes fp16 natively (AVX512-FP16 or AMX-FP16), found as :func:`cpu_supports_bf16`.
    Without it OpenVINO runs an fp16 graph in bf16 (or f32) on the CPU."""
    return _cpu_computes("FP16", {"avx512_fp16", "amx_fp16"})


def _cpu_computes(capability: str, flags: set[str]) -> bool:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return bool(set(line.split(":", 1)[1].split()) & flags)
    except OSError:
        pass
    try:
        import openvino as ov

        return capability in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:  # noqa: BLE001 - no OpenVINO, or no CPU plugin: no such path
        return False


def fast_preset() -> tuple[dict[str, Any], str]:
    """The options of ``--fast`` (``load_model`` keywords) and why: bf16 where the CPU computes it natively, else
    int8. Both run on OpenVINO, each with its deviation from fp32 measured when its graph is built; bf16 runs on
    PyTorch where OpenVINO does not take the model (:func:`~depthforge.models.estimator.load_model` says so)."""
    if cpu_supports_bf16():
        return {"dtype": "bf16", "quantize": None}, "bf16 (this CPU has native bf16: AVX512-BF16 or AMX)"
    return {"dtype": "auto", "quantize": "int8"}, "int8 on OpenVINO (this CPU has no native bf16)"


def is_dynamic(spec: ModelSpec) -> bool:
    """Whether the model's graph is exported with free height and width (its size rule gives many shapes)."""
    return spec.keep_aspect


def trace_size(spec: ModelSpec, size_hw: tuple[int, int] | None = None) -> tuple[int, int]:
    """The (height, width) the model is traced at: an uncommon landscape shape for dynamic graphs (so that no
    other constant of the graph equals it); for static graphs ``size_hw``, by default the model's input size."""
    if not is_dynamic(spec):
        return size_hw or model_input_size(spec.input_size_hw, spec)
    return 20 * spec.multiple, 26 * spec.multiple


def verify_sizes(spec: ModelSpec, size_hw: tuple[int, int] | None = None) -> list[tuple[int, int]]:
    """Two (height, width) a dynamic graph is verified at, both unlike the trace size and each other: a 3:2
    landscape and a 3:4 portrait of 16-24 multiples a side (224x336 and 336x252 for Depth Anything); the one input
    size for static graphs (``size_hw``)."""
    if not is_dynamic(spec):
        return [trace_size(spec, size_hw)]
    m = spec.multiple
    return [(16 * m, 24 * m), (24 * m, 18 * m)]


def free_frozen_sizes(ov_model: Any, trace_hw: tuple[int, int], multiple: int) -> int:
    """Make every resize of ``ov_model`` whose target size is the constant ``trace_hw`` follow the input instead:
    ``(H // multiple * multiple, W // multiple * multiple)`` of the first input ``(B, 3, H, W)``, which is what
    the model code computes (``patch_height * patch_size``). Modifies ``ov_model``; returns how many it changed."""
    from openvino import opset13 as ops

    param = ov_model.get_parameters()[0]
    changed = 0
    for op in ov_model.get_ordered_ops():
        if op.get_type_name() != "Interpolate" or op.get_input_size() < 2:
            continue
        src = op.input_value(1).get_node()
        if src.get_type_name() != "Constant" or [int(v) for v in src.get_vector()] != list(trace_hw):
            continue
        hw = ops.gather(ops.shape_of(param, "i64"), ops.constant(np.array([2, 3], np.int64)), ops.constant(0))
        step = ops.constant(np.int64(multiple))
        sizes = ops.convert(ops.multiply(ops.divide(hw, step), step), src.get_element_type())
        op.input(1).replace_source_output(sizes.output(0))
        changed += 1
    if changed:
        ov_model.validate_nodes_and_infer_types()
    return changed


class _DepthOnly:
    """The model's depth output alone, (B, 3, h, w) -> (B, h, w): what the graph computes."""

    def __new__(cls, inner: Any) -> Any:
        import torch

        class DepthOnly(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
                pred = self.inner(pixel_values=pixel_values).predicted_depth
                return pred[:, 0] if pred.dim() == 4 else pred

        return DepthOnly()


def _squeeze(out: Any) -> np.ndarray:
    arr = np.asarray(out, dtype=np.float32)
    return arr[:, 0] if arr.ndim == 4 else arr


def export_graph(
    model: Any,
    spec: ModelSpec,
    folder: Path,
    *,
    variant: str,
    size_hw: tuple[int, int] | None = None,
    compile_model: Callable[[Any], Any],
    on_step: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """Convert ``model`` (transformers, fp32, eval) to OpenVINO IR in ``folder`` and verify it against PyTorch.

    Args:
        model: the PyTorch model (its ``predicted_depth`` is the graph's output).
        spec: its registry entry (size rule, preprocessing).
        folder: where ``model.xml`` / ``model.bin`` are written.
        variant: ``fp32``, ``bf16``, ``fp16`` (precision the graph is compiled with) or ``int8`` (NNCF
            post-training quantisation, calibrated on bundled photographs).
        size_hw: the (height, width) of a static graph (models with one input size); ignored for dynamic ones.
        compile_model: compiles an ``ov.Model`` reshaped to one size for ``variant``, e.g. the backend's.
        on_step: called with a short message as each step starts (progress).

    Returns:
        The manifest entries: ``dynamic``, ``trace_size``, ``verified_sizes``, ``max_rel_error`` and
        ``mean_abs_rel`` (the largest over the verification sizes), ``seconds``.

    Raises:
        ModelError: the graph's outputs differ from PyTorch beyond :data:`TOLERANCE` (or a broken int8 graph).
    """
    import openvino as ov
    import torch

    t0 = time.perf_counter()
    dynamic = is_dynamic(spec)
    trace = trace_size(spec, size_hw)
    photos = probe_images(_CALIBRATION_IMAGES + 2)
    example = np.stack([prepare(im, spec, size_hw=trace) for im in photos[:2]])
    on_step(f"converting (traced at {trace[0]}x{trace[1]}, {'any size' if dynamic else 'this size only'})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # a batch of two keeps the batch dimension free
        shape = ov.PartialShape([-1, 3, -1, -1] if dynamic else [-1, 3, *trace])
        ov_model = ov.convert_model(_DepthOnly(model), example_input=torch.from_numpy(example), input=[shape])
    if dynamic:
        free_frozen_sizes(ov_model, trace, spec.multiple)
    if variant == "int8":
        on_step("quantising to int8 (NNCF, calibrated on bundled photographs)")
        calibration = np.stack([prepare(im, spec, size_hw=trace) for im in photos[2:]])
        ov_model = _quantize(ov_model, calibration)
    ov.save_model(ov_model, str(folder / "model.xml"), compress_to_fp16=False)
    sizes = verify_sizes(spec, size_hw)
    on_step("verifying against PyTorch fp32 at " + " and ".join(f"{h}x{w}" for h, w in sizes))
    err = dev = 0.0
    core = ov.Core()
    for h, w in sizes:
        x = np.stack([prepare(im, spec, size_hw=(h, w)) for im in photos[:2]])
        with torch.inference_mode():
            ref = _squeeze(model(pixel_values=torch.from_numpy(x)).predicted_depth.float().numpy())
        graph = core.read_model(folder / "model.xml")
        graph.reshape([-1, 3, h, w])
        compiled = compile_model(graph)
        both, single = _squeeze(compiled(x)[0]), _squeeze(compiled(x[1:])[0])
        if both.shape != ref.shape or single.shape != ref[1:].shape:
            raise ModelError(
                f"openvino export of '{spec.name}' at {h}x{w} gives outputs of shape {both.shape}/{single.shape},"
                f" PyTorch {ref.shape} (use --backend torch)"
            )
        err = max(err, max_rel_error(both, ref), max_rel_error(single, ref[1:]))
        dev = max(dev, mean_abs_rel(both, ref), mean_abs_rel(single, ref[1:]))
    bad = dev > INT8_MAX_DEVIATION if variant == "int8" else err > TOLERANCE[variant]
    if bad:
        raise GraphMismatchError(
            f"openvino {variant} graph of '{spec.name}' differs from PyTorch fp32 (mean error {100 * dev:.2f} % of the"
            f" mean value, largest {100 * err:.2f} % of the largest value): "
            + ("run without --quantize int8" if variant == "int8" else "use --backend torch")
        )
    return {
        "variant": variant,
        "dynamic": dynamic,
        "trace_size": list(trace),
        "verified_sizes": [list(s) for s in sizes],
        "max_rel_error": err,
        "mean_abs_rel": dev,
        "verified_on": "2 probe photos, batch 2 and batch 1 at each size, against PyTorch fp32",
        "seconds": round(time.perf_counter() - t0, 1),
    }


def _quantize(ov_model: Any, calibration: np.ndarray) -> Any:
    import logging

    import nncf

    nncf.set_log_level(logging.ERROR)
    items = [calibration[i : i + 1] for i in range(len(calibration))]
    # NNCF draws its progress bars on stdout, which is for results (user trial 6: they landed in `> out.txt`)
    with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
        warnings.simplefilter("ignore")
        return nncf.quantize(
            ov_model,
            nncf.Dataset(items),
            model_type=nncf.ModelType.TRANSFORMER,
            subset_size=len(items),
            fast_bias_correction=True,
        )
