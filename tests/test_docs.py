"""The API reference builds from the docstrings without a warning, and the examples in the docstrings run.

The same build runs in CI (``.ci/run``: ``scripts/build_docs.py``); here it goes to a temporary folder.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ("core", "process", "io", "models", "geometry", "render", "stereo", "pipeline")


def _build_docs_module():
    spec = importlib.util.spec_from_file_location("build_docs", ROOT / "scripts" / "build_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_docs", module)
    spec.loader.exec_module(module)
    return module


def test_api_reference_builds_without_warnings(tmp_path: Path) -> None:
    pytest.importorskip("pdoc")
    build_docs = _build_docs_module()
    problems = build_docs.build(tmp_path)
    assert problems == []
    pages = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.html")}
    assert {"depthforge.html", *(f"depthforge/{name}.html" for name in LIBRARY)} <= pages
    geometry = (tmp_path / "depthforge" / "geometry.html").read_text()
    # a public function with its signature and its Google-style sections rendered
    assert 'id="mesh_from_depth"' in geometry and "near_m" in geometry and "Raises" in geometry
    top = (tmp_path / "depthforge.html").read_text()
    assert 'id="estimate"' in top and 'id="bilateral_filter"' not in top  # only the top-level names


def test_the_build_script_fails_on_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A name in ``__all__`` that does not resolve makes pdoc warn: the script reports it and exits 1."""
    pytest.importorskip("pdoc")
    build_docs = _build_docs_module()
    import depthforge.stereo as stereo

    monkeypatch.setattr(stereo, "__all__", [*stereo.__all__, "no_such_function"])
    assert build_docs.main(["-o", str(tmp_path)]) == 1


def test_docstring_examples_run() -> None:
    """Every ``>>>`` example in the library's modules (core .. pipeline) gives the output it shows."""
    failed, attempted = 0, 0
    for pkg in LIBRARY:
        package = importlib.import_module(f"depthforge.{pkg}")
        names = [package.__name__] + [f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__)]
        for name in names:
            result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
            failed += result.failed
            attempted += result.attempted
    assert attempted >= 15  # the examples exist
    assert failed == 0
