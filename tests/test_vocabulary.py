"""One vocabulary (CONVENTIONS.md): the public API's parameters follow the table, checked name by name.

* a colour image is ``image`` (never ``rgb``/``img``), a depth map ``depth`` (never ``z``/``values``/``disparity``);
* a function taking both takes ``(image, depth, *, ...)``: ``image`` first, or keyword-only;
* focal length ``focal_px`` (not ``fx``), sizes ``size_hw`` (not a ``width``/``height`` pair), pseudo-depth
  ``near_m``/``far_m`` and display clipping ``clip_near``/``clip_far`` (never a bare ``near``/``far``).

The few public names that keep another spelling are listed in ``EXCEPTIONS`` with their reason.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import ValidationError

SUBPACKAGES = ("core", "process", "io", "models", "geometry", "render", "stereo", "pipeline")

BANNED = {
    "rgb": "image",
    "img": "image",
    "z": "depth",
    "values": "depth",
    "disparity": "depth (with kind='disparity')",
    "fx": "focal_px",
    "fy": "focal_y_px",
    "near": "near_m or clip_near",
    "far": "far_m or clip_far",
    "width": "size_hw",
    "height": "size_hw",
    "radius": "radius_px",
    "hfov_deg": "fov_deg",
    "ssaa": "supersample",
    "inverse_depth": "depth (a DepthMap, or an array with its kind)",
    "depth_kind": "kind",
    "processing_resolution": "resolution_px",
    "params_m": "params_millions (*_m is metres)",
}

#: (callable, parameter) -> why it keeps its name.
EXCEPTIONS = {
    ("Intrinsics", "fx"): "the dataclass's fields are OpenCV's fx, fy, cx, cy (CONVENTIONS §3)",
    ("Intrinsics", "fy"): "as above",
    ("Intrinsics", "width"): "the image size the intrinsics belong to, a field (also as .size_hw)",
    ("Intrinsics", "height"): "as above",
    ("DepthMap", "values"): "the DepthMap's own array, a field",
    ("DepthMap.with_values", "values"): "replaces that field",
    ("Image", "rgb"): "the Image's pixel array, a field named for its channels",
    ("DisplayRange", "near"): "inverse-depth values, named as in the files' metadata",
    ("DisplayRange", "far"): "as above",
    ("ZDepth", "z"): "the z map itself, a field",
    ("CameraPose", "z"): "the camera's position along z, not a depth map",
    ("VideoInfo", "width"): "a probed file's facts, fields",
    ("VideoInfo", "height"): "as above",
    ("EncodedVideo", "width"): "what was encoded, fields",
    ("EncodedVideo", "height"): "as above",
    ("StereoResult", "disparity"): "the matcher's result, a field holding a DepthMap of kind disparity",
    ("auto_max_disparity", "width"): "an image width alone (the search range grows with it), not a size",
}


def public_callables() -> Iterator[tuple[str, Any]]:
    """(qualified name, callable) for every public function, class and public method of the subpackages."""
    seen: set[int] = set()
    for pkg in SUBPACKAGES:
        module = importlib.import_module(f"depthforge.{pkg}")
        for name in module.__all__:
            obj = getattr(module, name)
            if id(obj) in seen or not callable(obj) or type(obj).__module__ == "typing":
                continue
            seen.add(id(obj))
            yield name, obj
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if not attr.startswith("_") and inspect.isfunction(member):
                        yield f"{name}.{attr}", member


def parameters(obj: Any) -> list[inspect.Parameter]:
    try:
        return [p for p in inspect.signature(obj).parameters.values() if p.name not in ("self", "cls")]
    except (TypeError, ValueError):
        return []


def test_parameter_names_follow_the_table() -> None:
    wrong = []
    for qualified, obj in public_callables():
        for p in parameters(obj):
            if p.name in BANNED and (qualified, p.name) not in EXCEPTIONS:
                wrong.append(f"{qualified}({p.name}=...): use {BANNED[p.name]}")
    assert not wrong, "\n".join(wrong)


def test_image_comes_before_depth() -> None:
    wrong = []
    for qualified, obj in public_callables():
        params = parameters(obj)
        names = [p.name for p in params]
        if "image" in names and "depth" in names:
            image = params[names.index("image")]
            if image.kind != inspect.Parameter.KEYWORD_ONLY and names.index("image") > names.index("depth"):
                wrong.append(f"{qualified}{inspect.signature(obj)}")
    assert not wrong, "image must come before depth (or be keyword-only):\n" + "\n".join(wrong)
    # and the cases that matter most, spelled out
    from depthforge.geometry import mesh_from_depth
    from depthforge.process import guided_filter
    from depthforge.render import render_stereo

    assert list(inspect.signature(render_stereo).parameters)[:2] == ["image", "depth"]
    assert list(inspect.signature(guided_filter).parameters)[:2] == ["image", "depth"]
    assert inspect.signature(mesh_from_depth).parameters["image"].kind is inspect.Parameter.KEYWORD_ONLY


def test_exceptions_are_still_needed() -> None:
    """An exception whose parameter has been renamed since must go (the list only shrinks)."""
    present = {(q, p.name) for q, obj in public_callables() for p in parameters(obj)}
    stale = sorted(set(EXCEPTIONS) - present)
    assert not stale, f"remove these from EXCEPTIONS: {stale}"


#: public callables whose ``depth`` stays a DepthMap only, with the reason
DEPTHMAP_ONLY = {"DepthPhoto": "a reader's result: its depth field is always a DepthMap"}


def test_every_depth_parameter_takes_an_array_with_its_kind(tmp_path: Path) -> None:
    """The vocabulary's ``depth``: a DepthMap, or an (H, W) array with ``kind=``; checked on every public name,
    and called once on the functions that gained it through :func:`depthforge.core.depthmap.depth_arrays`."""
    wrong = []
    for qualified, obj in public_callables():
        params = {p.name: p for p in parameters(obj)}
        depth = params.get("depth")
        annotation = str(depth.annotation) if depth is not None else ""
        only_maps = "DepthMap" in annotation and "ndarray" not in annotation  # arrays and generic filters pass
        if only_maps and "kind" not in params and qualified.split(".")[0] not in DEPTHMAP_ONLY:
            wrong.append(f"{qualified}{inspect.signature(obj)}")
    assert not wrong, "a DepthMap-only depth parameter (use core.depthmap.depth_arrays):\n" + "\n".join(wrong)
    from depthforge import render_stereo, to_display, write_depth

    rng = np.random.default_rng(0)
    values = rng.random((12, 16), dtype=np.float32)
    as_map = DepthMap(values, kind="relative")
    np.testing.assert_array_equal(to_display(values, kind="relative")[0], to_display(as_map)[0])
    image = rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)
    np.testing.assert_array_equal(render_stereo(image, values, kind="relative"), render_stereo(image, as_map))
    with pytest.raises(ValidationError, match="kind"):
        write_depth(tmp_path / "d.png", values)  # an array says what it holds
