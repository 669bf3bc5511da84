"""``depthforge models``: list the model registry."""

from __future__ import annotations

import argparse
from typing import Any

from depthforge.cli.common import add_command


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "models", __doc__, "list the models, their licences and whether they are cached", run=run)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    import json

    from depthforge.models.hub import is_cached
    from depthforge.models.registry import REGISTRY

    rows: list[dict[str, Any]] = [
        {
            "name": s.name,
            "kind": s.kind,
            "licence": s.licence,
            "params_m": s.params_m,
            "hub_id": s.hub_id,
            "cached": is_cached(s),
            "notes": s.notes,
        }
        for s in REGISTRY.values()
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="depthforge models")
    for col in ("name", "kind", "licence", "size", "cached", "hub id"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["name"], r["kind"], r["licence"], f"{r['params_m']:.0f} M", "yes" if r["cached"] else "no", r["hub_id"]
        )
    Console(width=200).print(table)
    return 0
