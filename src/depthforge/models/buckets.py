"""Size buckets: a small set of model input shapes per model, so static compiled graphs can be reused.

The model's size rule (:func:`depthforge.models.preprocess.model_input_size`) gives a shape per aspect ratio.
Backends with static graphs (OpenVINO, ONNX Runtime) snap it to a bucket: the rule's shape for one of a few
common aspect ratios (1:1, 5:4, 4:3, 3:2, 16:10, 16:9, 2:1 and their portrait forms). A bucket is only used
when each side is within one ``spec.multiple`` of the rule's shape, which is the freedom the rule itself takes
when it rounds to that multiple; otherwise the rule's own shape becomes its own bucket. Photos of a common
aspect ratio therefore run at exactly the rule's shape.
"""

from __future__ import annotations

from functools import lru_cache

from depthforge.core.validation import check_size_hw
from depthforge.models.preprocess import model_input_size
from depthforge.models.registry import ModelSpec

__all__ = ["ASPECTS", "bucket_shapes", "bucket_for", "group_by_bucket"]

ASPECTS: tuple[tuple[int, int], ...] = ((1, 1), (5, 4), (4, 3), (3, 2), (16, 10), (16, 9), (2, 1))


def bucket_shapes(spec: ModelSpec) -> tuple[tuple[int, int], ...]:
    """Every bucket (height, width) of a model, landscape and portrait, sorted and without repeats."""
    return _shapes(spec.input_size_hw, spec.keep_aspect, spec.multiple)


@lru_cache(maxsize=64)
def _shapes(input_size_hw: tuple[int, int], keep_aspect: bool, multiple: int) -> tuple[tuple[int, int], ...]:
    rule = ModelSpec(
        name="", hub_id="", family="dpt", licence="", kind="relative", input_size_hw=input_size_hw,
        keep_aspect=keep_aspect, multiple=multiple,
    )  # fmt: skip
    shapes: set[tuple[int, int]] = set()
    for long, short in ASPECTS:
        shapes.add(model_input_size((short * 240, long * 240), rule))
        shapes.add(model_input_size((long * 240, short * 240), rule))
    return tuple(sorted(shapes))


def bucket_for(size_hw: tuple[int, int], spec: ModelSpec) -> tuple[int, int]:
    """The model input (height, width) for an image of the given model-side size, snapped to a bucket.

    Args:
        size_hw: (height, width) the size rule applies to (after any ZoeDepth padding), pixels.
        spec: the model's registry entry.

    Returns:
        The nearest bucket when both of its sides are within ``spec.multiple`` pixels of the rule's shape,
        otherwise the rule's shape itself.
    """
    rule = model_input_size(check_size_hw(size_hw), spec)
    best = rule
    best_cost = None
    for shape in bucket_shapes(spec):
        dh, dw = abs(shape[0] - rule[0]), abs(shape[1] - rule[1])
        if dh > spec.multiple or dw > spec.multiple:
            continue
        cost = dh + dw
        if best_cost is None or cost < best_cost:
            best, best_cost = shape, cost
    return best


def group_by_bucket(sizes: list[tuple[int, int]]) -> dict[tuple[int, int], list[int]]:
    """Indices of items grouped by their (height, width) bucket, in first-seen order."""
    groups: dict[tuple[int, int], list[int]] = {}
    for i, size in enumerate(sizes):
        groups.setdefault(size, []).append(i)
    return groups
