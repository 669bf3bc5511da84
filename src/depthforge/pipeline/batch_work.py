"""A batch job and the work of one item, shared by the batch driver and both engines.

:mod:`depthforge.pipeline.batch` plans and drives a run; :mod:`depthforge.pipeline.local_engine` and
:mod:`depthforge.pipeline.ray_engine` process the planned items. All three use what is here: the job description
(:class:`BatchJob`), one planned item (:class:`WorkItem`), a worker's model within its thread share
(:func:`load_for_worker`), the per-item work (:func:`process_item`: photos and clips) and the one-line failure
reason. Imports go one way: batch -> engines -> batch_work.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from depthforge.core.errors import DepthforgeError, ModelError, ValidationError, raise_if_interrupted
from depthforge.core.threads import limit_library_threads, set_thread_budget
from depthforge.core.validation import check_range
from depthforge.io.images import read_image
from depthforge.io.video import is_video_path
from depthforge.models.preprocess import scaled_input_size
from depthforge.pipeline.detail import DetailOptions, as_detail_options, with_detail
from depthforge.pipeline.manifest import OutputRecord
from depthforge.pipeline.producers import PRODUCERS, BatchOptions, parse_outputs

__all__ = [
    "VIDEO_OUTPUTS",
    "WORKERS_LOCK",
    "BatchJob",
    "WorkItem",
    "failure_reason",
    "limit_pools",
    "load_for_worker",
    "process_item",
]

#: Lock file in the output folder: each local worker holds it shared for its lifetime; a new run takes it
#: exclusively (waiting for a killed run's orphaned workers) before it removes leftover temporary files.
WORKERS_LOCK = ".depthforge-batch.workers.lock"


@dataclass(frozen=True)
class BatchJob:
    """What to do: where from, where to, which outputs, with which model and options."""

    input_dir: Path
    output_dir: Path
    outputs: tuple[str, ...] = ("depth16",)
    model: str = "depth-anything-v2-small"
    device: str = "auto"
    dtype: str = "auto"
    max_pixels: int | None = None
    options: BatchOptions = field(default_factory=BatchOptions)
    #: extra keyword arguments of ``load_model`` (e.g. ``(("backend", "openvino"),)``), part of the options hash
    model_options: tuple[tuple[str, Any], ...] = ()
    #: high-resolution detail for every photo and video frame (the same tiles on every frame), part of the hash:
    #: a :class:`DetailOptions`, or ``"auto"`` / a tile count / ``"off"`` as :func:`depthforge.estimate` takes
    detail: DetailOptions | int | str | None = None
    #: processing size: the longer side (pixels) the model sees each photo or clip at, aspect kept (None: the
    #: model's own size rule; unused with ``detail``, whose passes keep the model's size, and by ZoeDepth), part of
    #: the hash when set
    resolution_px: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_dir", Path(self.input_dir))
        object.__setattr__(self, "output_dir", Path(self.output_dir))
        src, dst = (Path(os.path.realpath(p)) for p in (self.input_dir, self.output_dir))
        if src.is_relative_to(dst):  # every photo would lie in the output folder, which the walk leaves out
            raise ValidationError(
                f"output_dir: {self.output_dir} is the input folder or holds it; give a folder beside it or inside it"
            )
        object.__setattr__(self, "outputs", parse_outputs(self.outputs, self.options))
        object.__setattr__(self, "detail", as_detail_options(self.detail))
        if self.resolution_px is not None:
            object.__setattr__(self, "resolution_px", int(check_range(self.resolution_px, "resolution_px", low=1)))

    def option_hashes(self) -> dict[str, str]:
        """output name -> hash of everything its files depend on (producer version, its options, the model)."""
        opts = self.options.as_dict()
        common: dict[str, Any] = {"model": self.model, "dtype": self.dtype}
        if self.model_options:
            common["model_options"] = dict(self.model_options)
        detail = as_detail_options(self.detail)  # made one in __post_init__: returned as it is
        if detail is not None:  # only when set: a default run's hashes stay as they were
            common["detail"] = asdict(detail)
        if self.resolution_px is not None:  # likewise
            common["resolution_px"] = self.resolution_px
        out = {}
        for name in self.outputs:
            p = PRODUCERS[name]
            options = {_HASHED_AS.get(k, k): opts[k] for k in p.options if k not in _WHEN_SET or opts[k] is not None}
            key = {**common, "output": name, "version": p.version, "options": options}
            out[name] = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
        return out

    def load_estimator(self) -> Any:
        """The job's model, loaded (or reused from the in-process cache)."""
        from depthforge.models.estimator import load_model

        estimator = load_model(self.model, device=self.device, dtype=self.dtype, **dict(self.model_options))
        detail = as_detail_options(self.detail)
        return estimator if detail is None else with_detail(estimator, detail, skip_flat=False)

    def input_size_hw(self, estimator: Any, size_hw: tuple[int, int]) -> tuple[int, int] | None:
        """The model input (height, width) for a photo or frame of ``size_hw`` at :attr:`resolution_px` (None: the
        model's own size rule, also with ``detail``)."""
        if self.resolution_px is None or self.detail is not None:
            return None
        return scaled_input_size(size_hw, estimator.spec, resolution_px=self.resolution_px)


#: options added after batches were run: hashed only when set, so earlier runs' outputs still count as done
_WHEN_SET = frozenset({"mask_sam_model", "mask_matting_model"})

#: BatchOptions fields renamed in 0.1 (issue 19's vocabulary) keep their old names in the options hash, so a
#: manifest written before the rename still counts their outputs as done.
_HASHED_AS = {
    "clip_near": "near",
    "clip_far": "far",
    "fov_deg": "fov",
    "near_m": "scene_near",
    "far_m": "scene_far",
    "max_angle_deg": "max_angle",
}


@dataclass(frozen=True)
class WorkItem:
    """One input file and the outputs it still needs.

    Attributes:
        key: the input's path relative to the input folder (POSIX), the manifest key.
        source: the input file.
        stem: the output stem relative to the output folder (``a/b/x`` for ``a/b/x.jpg``), POSIX.
        todo: names of the outputs to make.
        signature: the input's size and mtime when planned.
    """

    key: str
    source: str
    stem: str
    todo: tuple[str, ...]
    signature: str


def load_for_worker(job: BatchJob, threads: int) -> Any:
    """The job's model in a worker process (a local worker, a Ray actor) whose thread budget is ``threads``, its
    share of the driver's: the model's, PNG and display-code pools alike."""
    set_thread_budget(threads)
    estimator = job.load_estimator()
    limit_pools(threads)  # after loading: a backend may set its own count when it loads
    return estimator


def limit_pools(threads: int) -> None:
    """Size torch's and OpenCV's pools to ``threads``. OpenCV is imported first: an unsized pool (of the cores)
    would keep a thread spinning beside this one after every call."""
    import cv2  # noqa: F401

    limit_library_threads(threads)


def process_item(job: BatchJob, item: WorkItem, estimator: Any) -> list[OutputRecord]:
    """Decode, predict (one image at a time, so every engine gives identical results) and write one item, one step
    after the other, in this thread; one failing output does not stop the others."""
    try:
        if is_video_path(item.source):
            return _process_video(job, item, estimator)
        image = read_image(item.source, max_pixels=job.max_pixels)
        depth = estimator.predict(image, input_size_hw=job.input_size_hw(estimator, image.size_hw))
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - one bad item must not stop a long batch
        reason = failure_reason(exc)
        return [OutputRecord(name, error=reason) for name in item.todo]
    records = []
    for name in item.todo:
        try:
            files = PRODUCERS[name].write(image, depth, job.output_dir / item.stem, job.options)
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001 - nor one bad output of one item
            records.append(OutputRecord(name, error=failure_reason(exc)))
        else:
            records.append(OutputRecord(name, _relative(job, files)))
    return records


def _relative(job: BatchJob, files: Iterable[str | os.PathLike[str]]) -> tuple[str, ...]:
    return tuple(Path(f).relative_to(job.output_dir).as_posix() for f in files)


#: Outputs a video can have, and the clip files they are (see :mod:`depthforge.pipeline.video`).
VIDEO_OUTPUTS = {
    "depth16": ("depth16", "sidecar"),
    "depth8": ("depth8",),
    "colormap": ("depth8",),
    "combined": ("combined",),
    "sbs": ("stereo",),
    "anaglyph": ("stereo",),
}


def _process_video(job: BatchJob, item: WorkItem, estimator: Any) -> list[OutputRecord]:
    """One clip through :func:`depthforge.pipeline.video.run_video`: its video outputs in one streamed pass.

    ``colormap`` is the 8-bit depth video in the colour map (``depth8`` the same file in gray: ask for one);
    ``sbs`` and ``anaglyph`` share the 3D video slot, ``sbs`` wins when both are asked for.
    """
    from depthforge.io.video import probe_video
    from depthforge.pipeline.video import VideoOptions, run_video

    todo = set(item.todo)
    o = job.options
    info = probe_video(item.source)  # as run_video would (same pixel limit); its frame size sets the model input
    stereo = "left-right" if "sbs" in todo else (f"anaglyph-{o.anaglyph_mode}" if "anaglyph" in todo else None)
    vopts = VideoOptions(
        depth16="depth16" in todo,
        depth8=bool(todo & {"depth8", "colormap"}),
        colormap=o.colormap if "colormap" in todo else "gray",
        invert=o.invert,
        combine=o.combine if "combined" in todo else None,
        stereo=stereo,
        divergence=o.divergence,
        convergence=o.convergence,
        input_size_hw=job.input_size_hw(estimator, (info.height, info.width)),
    )
    result = run_video(item.source, job.output_dir, estimator=estimator, options=vopts, stem=item.stem, info=info)
    records = []
    for name in item.todo:
        other = {"depth8": "colormap", "anaglyph": "sbs"}.get(name)
        if other in todo:
            records.append(OutputRecord(name, error=f"videos: {name} and {other} share one file; ask for one"))
        else:
            records.append(
                OutputRecord(name, _relative(job, (result.paths[r] for r in VIDEO_OUTPUTS[name] if r in result.paths)))
            )
    return records


def failure_reason(exc: BaseException) -> str:
    """One line for the failure log and the manifest: a project error's message, else its type and message
    (an interrupt wrapped in ``exc`` is raised instead: :func:`~depthforge.core.errors.raise_if_interrupted`)."""
    raise_if_interrupted(exc)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text if isinstance(exc, DepthforgeError) else f"{type(exc).__name__}: {text}"[:500]
