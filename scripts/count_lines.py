"""Count source lines under ``src/``: physical lines and code lines (no blank lines, comments or docstrings).

Usage: ``python scripts/count_lines.py [REV ...]``. With no REV, the working tree. A REV is exported from git and
formatted with this repository's ``ruff format`` settings first, so a revision from before the formatter was
enforced is compared on equal terms (issue 19's line-count figure).
"""

from __future__ import annotations

import ast
import io
import subprocess
import sys
import tarfile
import tempfile
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}


def _docstring_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                if isinstance(first.value.value, str):
                    lines.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    return lines


def count(src: Path) -> tuple[int, int, int]:
    """(files, physical lines, code lines) of the ``.py`` files below ``src``."""
    files = physical = code = 0
    for path in sorted(src.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        files += 1
        physical += text.count("\n")
        docs = _docstring_lines(ast.parse(text))
        used: set[int] = set()
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type not in _SKIP:
                used.update(n for n in range(token.start[0], token.end[0] + 1) if n not in docs)
        code += len(used)
    return files, physical, code


def _at_revision(rev: str, into: Path) -> Path:
    command = ["git", "archive", rev, "src", "pyproject.toml"]
    archive = subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    ruff = Path(sys.executable).with_name("ruff")
    subprocess.run([str(ruff), "format", "-q", "--config", str(ROOT / "pyproject.toml"), str(into / "src")], check=True)
    return into / "src"


def main() -> None:
    revs: list[str | None] = [*sys.argv[1:]] or [None]
    for rev in revs:
        if rev is None:
            label, (files, physical, code) = "working tree", count(ROOT / "src")
        else:
            with tempfile.TemporaryDirectory() as tmp:
                label, (files, physical, code) = f"{rev} (ruff-formatted)", count(_at_revision(rev, Path(tmp)))
        print(f"{label}: {files} files, {physical} physical lines, {code} code lines")


if __name__ == "__main__":
    main()
