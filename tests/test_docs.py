"""The API reference builds from the docstrings without a warning, and the examples in the docstrings run.

The same build runs in CI (``.ci/run``: ``scripts/build_docs.py``); here it goes to a temporary folder.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ("core", "process", "io", "models", "geometry", "render", "stereo", "pipeline")


def _build_docs(output: Path, *, bad_name: bool = False) -> subprocess.CompletedProcess[str]:
    """``scripts/build_docs.py -o output`` in a fresh interpreter (pdoc resolves annotations in place, on the
    signatures it is handed: built in this process, it changed what ``inspect.signature`` reports to later tests).
    ``bad_name`` first adds a name to ``depthforge.stereo.__all__`` that does not resolve."""
    code = (
        "import runpy, sys\n"
        + ("import depthforge.stereo as s; s.__all__ = [*s.__all__, 'no_such_function']\n" if bad_name else "")
        + f"sys.argv = ['build_docs.py', '-o', {str(output)!r}]\n"
        + f"runpy.run_path({str(ROOT / 'scripts' / 'build_docs.py')!r}, run_name='__main__')\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)


def test_api_reference_builds_without_warnings(tmp_path: Path) -> None:
    pytest.importorskip("pdoc")
    done = _build_docs(tmp_path)
    assert done.returncode == 0 and "warning" not in done.stderr, done.stderr
    pages = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.html")}
    assert {"depthforge.html", *(f"depthforge/{name}.html" for name in LIBRARY)} <= pages
    geometry = (tmp_path / "depthforge" / "geometry.html").read_text()
    # a public function with its signature and its Google-style sections rendered
    assert 'id="mesh_from_depth"' in geometry and "near_m" in geometry and "Raises" in geometry
    top = (tmp_path / "depthforge.html").read_text()
    assert 'id="estimate"' in top and 'id="bilateral_filter"' not in top  # only the top-level names


def test_the_build_script_fails_on_a_warning(tmp_path: Path) -> None:
    """A name in ``__all__`` that does not resolve makes pdoc warn: the script reports it and exits 1."""
    pytest.importorskip("pdoc")
    done = _build_docs(tmp_path, bad_name=True)
    assert done.returncode == 1 and "no_such_function" in done.stderr, done.stderr


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
