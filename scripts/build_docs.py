"""Build the API reference from the docstrings with pdoc (HTML, Google-style docstrings); any warning fails.

Usage::

    .venv/bin/python scripts/build_docs.py [-o docs/api]

Documents ``depthforge`` and each subpackage (``core``, ``process``, ``io``, ``models``, ``geometry``, ``render``,
``stereo``, ``pipeline``): exactly the names in their ``__all__``, which is the public API (the same surface
``tests/test_api_snapshot.py`` records). Warnings pdoc raises while reading the code or the docstrings (a name
in ``__all__`` that does not resolve, an annotation or a docstring it cannot parse, ...) are errors: they are
printed and the exit status is 1. Warnings that third-party libraries give while being imported are not
pdoc's and do not count (every module is imported before the build starts).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import warnings
from pathlib import Path

import depthforge

ROOT = Path(__file__).resolve().parents[1]
MODULES = ("depthforge", *(f"depthforge.{name}" for name in depthforge._SUBPACKAGES))  # the top level first


def build(output: Path) -> list[str]:
    """Write the HTML reference into ``output``; return pdoc's warnings (empty when the build is clean)."""
    import pdoc
    import pdoc.doc
    import pdoc.render

    import depthforge

    for name in MODULES:
        importlib.import_module(name)
    for name in depthforge.__all__:  # the top level resolves its names lazily: load them so pdoc finds them
        getattr(depthforge, name)
    pdoc.doc.Module.from_name.cache_clear()  # a second build in one process reads the code afresh
    pdoc.render.configure(docformat="google", show_source=False, search=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pdoc.pdoc(*MODULES, output_directory=output)
    return [f"{w.category.__name__}: {w.message} ({Path(w.filename).name}:{w.lineno})" for w in caught]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "docs" / "api", help="output folder")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    problems = build(args.output)
    for line in problems:
        print(f"docs: {line}", file=sys.stderr)
    pages = len(list(args.output.rglob("*.html")))
    took = time.perf_counter() - start
    if problems:
        print(f"docs: {len(problems)} warning(s) (treated as errors); {pages} pages in {args.output}", file=sys.stderr)
        return 1
    print(f"docs: {pages} pages in {args.output} ({took:.1f} s, no warnings)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
