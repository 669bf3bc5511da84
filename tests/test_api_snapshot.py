"""The public surface, name by name with its signature, against the checked-in ``tests/api_snapshot.txt``.

Any change to a public name, a parameter, a default or a public method shows up here as a diff. When the change is
meant, regenerate the snapshot and commit it with the change::

    DEPTHFORGE_UPDATE_API_SNAPSHOT=1 .venv/bin/python -m pytest -q tests/test_api_snapshot.py

What is listed: every name in ``depthforge.__all__`` and in each subpackage's ``__all__``; for a function its
``inspect.signature``; for a class its constructor's signature, its bases when they are depthforge's, and its own
public methods and properties; for a constant its type (and its value when it is a tuple of choices or a string).
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
import warnings
from pathlib import Path
from typing import Any

import depthforge

SNAPSHOT = Path(__file__).with_name("api_snapshot.txt")
MODULES = ("depthforge", *(f"depthforge.{name}" for name in depthforge._SUBPACKAGES))  # the top level first
UPDATE_VAR = "DEPTHFORGE_UPDATE_API_SNAPSHOT"


def _signature(obj: Any) -> str:
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return "(...)"


def _class_lines(qualified: str, cls: type) -> list[str]:
    bases = [b.__name__ for b in cls.__bases__ if b.__module__.startswith("depthforge")]
    head = f"class {qualified}{_signature(cls)}"
    if issubclass(cls, BaseException):
        head = f"class {qualified}({', '.join(b.__name__ for b in cls.__bases__)})"
    elif bases:
        head += f"  [bases: {', '.join(bases)}]"
    lines = [head]
    for name, member in sorted(vars(cls).items()):
        if name.startswith("_"):
            continue
        if isinstance(member, property):
            lines.append(f"    .{name}  [property]")
        elif isinstance(member, (staticmethod, classmethod)):
            kind = "staticmethod" if isinstance(member, staticmethod) else "classmethod"
            lines.append(f"    .{name}{_signature(getattr(cls, name))}  [{kind}]")
        elif inspect.isfunction(member):
            lines.append(f"    .{name}{_signature(member)}")
    return lines


def _value_lines(qualified: str, value: Any) -> list[str]:
    if isinstance(value, tuple) and all(isinstance(v, (str, int, float)) for v in value):
        return [f"{qualified}: tuple = {value!r}"]
    if isinstance(value, (str, int, float)) and qualified.rsplit(".", 1)[-1] != "__version__":
        return [f"{qualified}: {type(value).__name__} = {value!r}"]
    return [f"{qualified}: {type(value).__name__}"]


def describe_api() -> str:
    """The public surface as text, one line per name (and per public method)."""
    out: list[str] = []
    for modname in MODULES:
        module = importlib.import_module(modname)
        out.append(f"## {modname} ({len(module.__all__)} names)")
        for name in sorted(module.__all__):
            with warnings.catch_warnings():
                warnings.simplefilter("error", DeprecationWarning)  # a listed name must not be a moved alias
                obj = getattr(module, name)
            qualified = f"{modname}.{name}"
            if type(obj).__module__ == "typing":  # an alias such as DepthKind = Literal[...]
                out.append(f"{qualified} = {obj!r}")
            elif inspect.isclass(obj):
                out.extend(_class_lines(qualified, obj))
            elif callable(obj):
                out.append(f"{qualified}{_signature(obj)}")
            else:
                out.extend(_value_lines(qualified, obj))
        out.append("")
    return "\n".join(out)


def compare_with_snapshot(current: str) -> None:
    """Raise an AssertionError with a unified diff when ``current`` differs from the recorded snapshot."""
    assert SNAPSHOT.exists(), f"no snapshot: run {UPDATE_VAR}=1 .venv/bin/python -m pytest tests/test_api_snapshot.py"
    recorded = SNAPSHOT.read_text()
    if current != recorded:
        old, new = recorded.splitlines(), current.splitlines()
        diff = "\n".join(difflib.unified_diff(old, new, "api_snapshot.txt", "now", lineterm=""))
        raise AssertionError(
            "the public API changed (- recorded, + now). If that is meant, regenerate the snapshot with\n"
            f"    {UPDATE_VAR}=1 .venv/bin/python -m pytest -q tests/test_api_snapshot.py\n"
            f"and commit tests/api_snapshot.txt with the change.\n\n{diff}"
        )


def test_public_api_matches_the_snapshot() -> None:
    current = describe_api()
    if os.environ.get(UPDATE_VAR):
        SNAPSHOT.write_text(current)
    compare_with_snapshot(current)


def test_snapshot_lists_every_public_name_with_a_signature() -> None:
    """The snapshot is not a stub: every name of every module has its line, and functions their parameters."""
    text = SNAPSHOT.read_text()
    for modname in MODULES:
        module = importlib.import_module(modname)
        for name in module.__all__:
            assert f"{modname}.{name}" in text, f"{modname}.{name} is missing from the snapshot"
    assert "depthforge.geometry.mesh_from_depth(depth: 'DepthMap | ZDepth | np.ndarray', *, image:" in text
    assert "depthforge.render.render_stereo(image: 'np.ndarray | Image', depth: 'DepthMap | np.ndarray', *," in text


def test_a_changed_signature_shows_as_a_readable_diff(monkeypatch) -> None:
    """Simulate an API change (a renamed parameter): the failure names the line, old and new."""
    import depthforge.process as process

    def to_display(depth, *, invert=False, near=None, far=None):  # the pre-issue-19 spelling
        raise NotImplementedError

    monkeypatch.setattr(process, "to_display", to_display)
    try:
        compare_with_snapshot(describe_api())  # never written to the snapshot, even when regenerating
    except AssertionError as exc:
        message = str(exc)
    else:
        raise AssertionError("a changed signature was not detected")
    assert "-depthforge.process.to_display(depth: 'DepthMap | np.ndarray', *, kind: 'str | None' = None," in message
    assert "+depthforge.process.to_display(depth, *, invert=False, near=None, far=None)" in message
    assert UPDATE_VAR in message
