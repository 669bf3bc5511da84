"""``depthforge models``: every model depthforge knows by name (depth, generation, background removal, SAM,
matting, inpainting), its licence, source and whether it is cached; ``--task`` narrows the list."""

from __future__ import annotations

import argparse

from depthforge.cli.common import add_command


def register(sub: argparse._SubParsersAction) -> None:
    from depthforge.models.listing import TASKS

    p = add_command(sub, "models", __doc__, "list the models, their licences and whether they are cached", run=run)
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--task", action="append", choices=tuple(TASKS), help="only these tasks (repeatable; default all)")


def run(args: argparse.Namespace) -> int:
    import json

    from depthforge.models.listing import TASKS, catalogue

    entries = catalogue(tasks=tuple(args.task) if args.task else None)
    if args.json:
        print(json.dumps([e.as_dict() for e in entries], indent=2))
        return 0
    import io
    import shutil
    import sys

    from rich.console import Console
    from rich.table import Table

    text = io.StringIO()  # printed by us: a closed pipe then ends the command as cli.main says (rich exits 1)
    width = shutil.get_terminal_size((200, 24)).columns  # COLUMNS, else the terminal's, else 200 (user trial 6)
    console = Console(width=max(width, 60), file=text)
    for task, option in TASKS.items():
        rows = [e for e in entries if e.task == task]
        if not rows:
            continue
        table = Table(title=f"{task} ({option})", title_justify="left")
        for col in ("name", "kind", "licence", "size", "cached", "source", "notes"):
            table.add_column(col, overflow="fold")  # hub ids wrap, never cut
        for e in rows:
            cached = "your file" if e.cached is None else ("yes" if e.cached else "no")
            size = f"{e.params_millions:.0f} M" if e.params_millions else ""
            table.add_row(e.name, e.kind, e.licence, size, cached, e.source, e.notes)
        console.print(table)
    sys.stdout.write(text.getvalue())
    return 0
