"""The public API is explicit: the top level holds the few names a user starts from, every subpackage its own
``__all__``; names that moved in issue 19 still resolve for one release, with a DeprecationWarning.

Signatures are guarded by ``tests/test_api_snapshot.py``.
"""

from __future__ import annotations

import importlib

import pytest

import depthforge

SUBPACKAGES = ("core", "process", "io", "models", "geometry", "render", "stereo", "pipeline")

TOP_LEVEL = {
    "__version__",
    "DepthMap", "Image", "Intrinsics", "DepthforgeError",
    "load_model", "estimate",
    "read_image", "write_image", "read_depth", "write_depth",
    "to_display", "colorize", "fill_holes", "align_to_points", "evaluate",
    "render_stereo", "match_stereo",
    "mesh_from_depth", "pointcloud_from_depth", "depth_to_normals", "export_mesh", "export_pointcloud",
    "resolve_intrinsics",
    "render_frames", "foreground_alpha", "run_video",
    "generate",  # issue 22: images from a photo's depth (the diffusion extra)
}  # fmt: skip


def test_top_level_is_the_starting_set() -> None:
    assert set(depthforge.__all__) == TOP_LEVEL
    assert 25 <= len(depthforge.__all__) <= 35
    for name in depthforge.__all__:
        assert getattr(depthforge, name) is not None


def test_every_top_level_name_is_also_in_its_subpackage() -> None:
    """The top level is a shortcut: each name (but the version) is the same object as in a subpackage."""
    homes = {
        name: [p for p in SUBPACKAGES if name in importlib.import_module(f"depthforge.{p}").__all__]
        for name in TOP_LEVEL - {"__version__"}
    }
    assert not [n for n, where in homes.items() if not where], homes
    for name, where in homes.items():
        assert getattr(depthforge, name) is getattr(importlib.import_module(f"depthforge.{where[0]}"), name)


def test_subpackages_have_explicit_all_that_resolves() -> None:
    for pkg in SUBPACKAGES:
        mod = importlib.import_module(f"depthforge.{pkg}")
        assert isinstance(mod.__all__, list) and mod.__all__, pkg
        assert len(set(mod.__all__)) == len(mod.__all__), f"{pkg}: duplicates in __all__"
        missing = [n for n in mod.__all__ if not hasattr(mod, n)]
        assert not missing, f"depthforge.{pkg}.__all__ names that do not resolve: {missing}"
        # the subpackage is reachable from the top level without its own import
        assert getattr(depthforge, pkg) is mod


def test_moved_names_warn_and_resolve_to_their_new_home() -> None:
    # every name the old top level had, plus generate (issue 22)
    assert len(depthforge._MOVED) + len(depthforge._LAZY) == 77
    for name, pkg in depthforge._MOVED.items():
        with pytest.warns(DeprecationWarning, match=rf"depthforge\.{name} moved to depthforge\.{pkg}\.{name}"):
            value = getattr(depthforge, name)
        assert value is getattr(importlib.import_module(f"depthforge.{pkg}"), name)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        depthforge.nope  # noqa: B018


def test_import_is_light() -> None:
    import subprocess
    import sys

    code = "import sys, depthforge; print(','.join(m for m in ('torch', 'transformers', 'cv2') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
