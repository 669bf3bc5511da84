"""Layers that hold: every import in ``src/depthforge`` goes down the architecture, never up or sideways.

The rule, as enforced here (each module belongs to the subpackage it lives in)::

    level 5   cli | web | integrations      entry points                  (cli may import web: see below)
    level 4   pipeline                      runs: estimate, video, batch
    level 3   models | geometry | render | stereo     siblings: none imports another
    level 2   io                            files in and out
    level 1   process                       pure operations on depth arrays
    level 0   core                          types (DepthMap, Image, Intrinsics), errors, validation, threads

* A module may import modules of its own subpackage and of any subpackage on a lower level; never one on a
  higher level, never a sibling on its own level.
* One sibling edge is allowed, because it is what a command is for: **cli -> web** (``depthforge serve`` starts
  the web server; the server never imports the CLI). Today render does not use geometry, nor stereo render: no
  other exception exists, and a new one needs a line in ``ALLOWED_SIBLING_IMPORTS`` with its reason.
* ``depthforge/__init__.py`` (the lazy public facade, which names modules of every layer) and ``__main__.py``
  (the entry point) are exempt. Other modules may take only ``__version__`` from the package root: the root's
  other names are the facade over every layer.
* **Every import counts**: at module level, inside functions (lazy imports are still dependencies), under
  ``if TYPE_CHECKING:`` (a type needed by a lower layer belongs in that layer or lower: type-only upward imports
  are not allowed either), and ``importlib.import_module("depthforge...")`` with a constant name.

Private names: no module imports a private name (``_x``, not dunder) from another module of the package, or
reads one as ``module._x`` from an imported depthforge module, unless that module is a private module (file name
starting with ``_``) of the importer's own subpackage (``render/warp.py`` -> ``render/_warp_numba.py``). A private
module is never imported from another subpackage. ``KNOWN_PRIVATE_IMPORTS`` lists accepted exceptions with a reason
(none today).

And no import cycles between modules (a package's ``__init__`` counts only when names are taken from it, not when
a submodule is imported through it): imports go one way, e.g. pipeline.batch -> local_engine -> batch_work.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "depthforge"
ROOT = "depthforge"

#: subpackage -> level (0 = bottom); subpackages on one level are siblings.
LEVELS = {
    "core": 0,
    "process": 1,
    "io": 2,
    "models": 3,
    "geometry": 3,
    "render": 3,
    "stereo": 3,
    "pipeline": 4,
    "cli": 5,
    "web": 5,
    "integrations": 5,
}

#: (importer, imported) sibling pairs that are allowed, each with its reason.
ALLOWED_SIBLING_IMPORTS = {
    ("cli", "web"): "`depthforge serve` (cli/serve_cmd.py) starts the web server; web never imports the CLI",
}

#: Modules exempt from the layer rule (the public facade and the entry point).
EXEMPT = {ROOT, f"{ROOT}.__main__"}

#: Names a module may take from the package root.
ROOT_NAMES = {"__version__"}

#: (importing module, imported module, name) -> reason, for private imports that are accepted. None today.
KNOWN_PRIVATE_IMPORTS: dict[tuple[str, str, str], str] = {}


@dataclass(frozen=True)
class Import:
    """One reference from ``module`` (line ``line``) to module ``target``, and to ``name`` in it when given."""

    module: str
    line: int
    target: str
    name: str | None = None  # a name taken from ``target`` (not a submodule)
    via_package: bool = False  # ``from pkg import submodule``: target is the submodule


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}
PACKAGES = {m for m, p in MODULES.items() if p.name == "__init__.py"}


def _package_of(module: str) -> str:
    """The module's own package (a package's ``__init__`` belongs to the package itself)."""
    return module if module in PACKAGES else module.rpartition(".")[0]


def _layer(module: str) -> str | None:
    """The top-level subpackage (``core``, ``render``, ...), None for the package root and its direct modules."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and f"{ROOT}.{parts[1]}" in PACKAGES else None


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _is_private_module(module: str) -> bool:
    return module != ROOT and _is_private(module.rpartition(".")[2])


def _resolve_relative(module: str, level: int, name: str | None) -> str:
    base = _package_of(module).split(".")
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, name] if name else base)


def imports_of(module: str, source: str) -> list[Import]:
    """Every reference of ``module`` to a depthforge module, wherever it is in the file."""
    tree = ast.parse(source)
    found: list[Import] = []
    aliases: dict[str, str] = {}  # local name -> depthforge module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == ROOT or alias.name.startswith(ROOT + "."):
                    found.append(Import(module, node.lineno, alias.name))
                    if alias.asname:
                        aliases[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom):
            target = _resolve_relative(module, node.level, node.module) if node.level else (node.module or "")
            if target != ROOT and not target.startswith(ROOT + "."):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in MODULES:
                    found.append(Import(module, node.lineno, sub, via_package=True))
                    aliases[alias.asname or alias.name] = sub
                else:
                    found.append(Import(module, node.lineno, target, name=alias.name))
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if called in ("import_module", "__import__") and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value.startswith(ROOT):
                    found.append(Import(module, node.lineno, arg.value))
    for node in ast.walk(tree):  # module._private on a depthforge module bound to a local name
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            if _is_private(node.attr):
                found.append(Import(module, node.lineno, aliases[node.value.id], name=node.attr))
    return found


ALL_IMPORTS = [imp for m, p in MODULES.items() for imp in imports_of(m, p.read_text(encoding="utf-8"))]


def _where(imp: Import) -> str:
    path = MODULES[imp.module].relative_to(SRC.parent.parent).as_posix()
    what = f"{imp.target}.{imp.name}" if imp.name else imp.target
    return f"{path}:{imp.line}: {imp.module} imports {what}"


def layer_violations(imports: list[Import]) -> list[str]:
    out = []
    for imp in imports:
        if imp.module in EXEMPT:
            continue
        src = _layer(imp.module)
        if imp.target == ROOT:
            if imp.name not in ROOT_NAMES:
                out.append(f"{_where(imp)}: the package root is the public facade over every layer")
            continue
        dst = _layer(imp.target)
        if src is None or dst is None or src == dst:
            continue  # unknown layers are reported by test_every_subpackage_has_a_layer
        if src not in LEVELS or dst not in LEVELS:
            continue
        if LEVELS[dst] < LEVELS[src] or (src, dst) in ALLOWED_SIBLING_IMPORTS:
            continue
        how = "a higher layer" if LEVELS[dst] > LEVELS[src] else "a sibling on the same layer"
        out.append(f"{_where(imp)}: {src} (level {LEVELS[src]}) must not import {dst} (level {LEVELS[dst]}), {how}")
    return out


def private_violations(imports: list[Import]) -> list[str]:
    out = []
    for imp in imports:
        same_package = _package_of(imp.module) == _package_of(imp.target)
        if _is_private_module(imp.target) and not same_package:
            out.append(f"{_where(imp)}: {imp.target} is a private module of another subpackage")
            continue
        if imp.name is None or not _is_private(imp.name) or imp.target == imp.module:
            continue
        if _is_private_module(imp.target) and same_package:
            continue
        if (imp.module, imp.target, imp.name) in KNOWN_PRIVATE_IMPORTS:
            continue
        out.append(f"{_where(imp)}: {imp.name} is private to {imp.target}")
    return out


def import_cycles(imports: list[Import]) -> list[list[str]]:
    """One shortest cycle (``[a, b, ..., a]``) in each strongly connected group of more than one module."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for imp in imports:
        if imp.target in MODULES and imp.target != imp.module:
            graph[imp.module].add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_shortest_cycle(graph, set(group), group[0]) for group in groups]


def _shortest_cycle(graph: dict[str, set[str]], group: set[str], start: str) -> list[str]:
    """Breadth-first from ``start`` back to it, inside one strongly connected group."""
    parent: dict[str, str] = {}
    queue = [start]
    for v in queue:
        for w in sorted(graph[v] & group):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return [start, *reversed(path[:-1]), start]
            if w not in parent:
                parent[w] = v
                queue.append(w)
    raise AssertionError("not a cycle")  # pragma: no cover - a strongly connected group always has one


def test_every_subpackage_has_a_layer() -> None:
    tops = {m.split(".")[1] for m in MODULES if m.count(".") >= 1 and m not in EXEMPT}
    unplaced = sorted(t for t in tops if t not in LEVELS)
    assert not unplaced, f"place these in LEVELS (or make them subpackages of a layer): {unplaced}"
    assert set(ALLOWED_SIBLING_IMPORTS) <= {(a, b) for a in LEVELS for b in LEVELS if LEVELS[a] == LEVELS[b]}


def test_the_scan_sees_every_kind_of_import() -> None:
    source = """
from typing import TYPE_CHECKING
from depthforge.core import errors
from . import validation
import depthforge.core.depthmap as dm
if TYPE_CHECKING:
    from depthforge.web.app import create_app
def f():
    import importlib
    from depthforge.pipeline import batch
    importlib.import_module("depthforge.cli.main")
    return dm._private
"""
    found = imports_of("depthforge.core.intrinsics", source)
    targets = {(i.target, i.name) for i in found}
    assert {
        ("depthforge.core.errors", None),
        ("depthforge.core.validation", None),
        ("depthforge.core.depthmap", None),
        ("depthforge.web.app", "create_app"),
        ("depthforge.pipeline.batch", None),
        ("depthforge.cli.main", None),
        ("depthforge.core.depthmap", "_private"),
    } <= targets
    assert len(layer_violations(found)) == 3  # web (TYPE_CHECKING), pipeline (in a function), cli (importlib)
    assert len(private_violations(found)) == 1


def test_the_cycle_finder_names_one_shortest_cycle() -> None:
    a, b, c, d = (f"depthforge.core.{m}" for m in ("errors", "validation", "intrinsics", "depthmap"))
    edges = [(a, b), (b, c), (c, a), (b, a), (c, d)]
    assert import_cycles([Import(x, 1, y) for x, y in edges]) == [[a, b, a]]
    assert import_cycles([Import(x, 1, y) for x, y in edges if (x, y) != (b, a)]) == [[a, b, c, a]]


def test_imports_go_down_the_layers() -> None:
    bad = layer_violations(ALL_IMPORTS)
    assert not bad, "imports against the layers (see tests/test_layers.py for the rule):\n" + "\n".join(bad)


def test_no_private_names_across_modules() -> None:
    bad = private_violations(ALL_IMPORTS)
    assert not bad, "private names imported across modules:\n" + "\n".join(bad)


def test_no_import_cycles() -> None:
    cycles = import_cycles(ALL_IMPORTS)
    assert not cycles, "import cycles between modules:\n" + "\n".join(" -> ".join(c) for c in cycles)
