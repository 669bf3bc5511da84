"""The resume manifest of a batch run: which outputs of which items are done, and with which options.

One SQLite file in the output folder (``.depthforge-batch.sqlite``), written only by the process that drives the
run (workers never touch it), one transaction per item. SQLite's journal makes each commit all-or-nothing, so a
``kill -9`` at any moment leaves the manifest as it was after the last finished item.

Tables:

* ``outputs(item, output, source_sig, options_hash, files, status, reason, run_id, finished)``: the latest
  state of each (item, output); ``status`` is ``done`` or ``failed``.
* ``events(item, output, run_id, status, finished)``: one row per time an output was produced or failed, never
  updated; counting rows per (item, output) shows whether anything was processed twice.
* ``runs(run_id, started, engine, workers)``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MANIFEST_NAME", "Manifest", "OutputRecord", "source_signature"]

MANIFEST_NAME = ".depthforge-batch.sqlite"

# WAL + synchronous NORMAL: a killed process never loses a commit
_SCHEMA = """
PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
CREATE TABLE IF NOT EXISTS outputs (
    item TEXT NOT NULL, output TEXT NOT NULL, source_sig TEXT NOT NULL, options_hash TEXT NOT NULL,
    files TEXT NOT NULL, status TEXT NOT NULL, reason TEXT, run_id TEXT NOT NULL, finished REAL NOT NULL,
    PRIMARY KEY (item, output)
);
CREATE TABLE IF NOT EXISTS events (
    item TEXT NOT NULL, output TEXT NOT NULL, run_id TEXT NOT NULL, status TEXT NOT NULL, finished REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, started REAL NOT NULL, engine TEXT, workers INTEGER);
"""


def source_signature(path: str | os.PathLike[str]) -> str:
    """A cheap identity of an input file: size and modification time (ns). Changes when the file is replaced."""
    try:
        st = Path(path).stat()
    except OSError:
        return "missing"
    return f"{st.st_size}:{st.st_mtime_ns}"


_RAW = "\x00raw:"  # no file name holds NUL: marks a name stored as hex bytes


def _to_db(name: str) -> str:
    """A path as SQLite text: unchanged, unless it holds bytes that are not UTF-8 (surrogate escapes), then its
    bytes in hex behind a marker no file name can contain (reversible: :func:`_from_db`)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return _RAW + os.fsencode(name).hex()
    return name


def _from_db(text: str) -> str:
    return os.fsdecode(bytes.fromhex(text[len(_RAW) :])) if text.startswith(_RAW) else text


def _readable(text: str | None) -> str | None:
    """A message as SQLite text (bytes that are not UTF-8 shown as escapes)."""
    return None if text is None else text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class OutputRecord:
    """One finished (or failed) output of one item, as the engines report it to the driver.

    Attributes:
        output: the producer name (e.g. ``depth16``).
        files: the files written, relative to the output folder (POSIX separators); empty when failed.
        error: the one-line reason when the output failed, else None.
    """

    output: str
    files: tuple[str, ...] = ()
    error: str | None = None

    @property
    def status(self) -> str:
        """``done`` or ``failed``, as the manifest stores it."""
        return "failed" if self.error else "done"


class Manifest:
    """The manifest of one output folder (see the module docstring). Not shared between processes."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.path = Path(folder) / MANIFEST_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30.0)
        self._db.executescript(_SCHEMA)  # outside any transaction: nothing to commit
        self.run_id = ""

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *exc: object) -> None:
        self._db.close()

    def start_run(self, *, engine: str, workers: int) -> str:
        """Register a new run and return its id (stored with every record it commits)."""
        self.run_id = uuid.uuid4().hex[:12]
        with self._db:
            self._db.execute("INSERT INTO runs VALUES (?, ?, ?, ?)", (self.run_id, time.time(), engine, workers))
        return self.run_id

    def done_state(self) -> dict[tuple[str, str], tuple[str, str, tuple[str, ...]]]:
        """(item, output) -> (source_sig, options_hash, files) for every output recorded as done."""
        rows = self._db.execute("SELECT item, output, source_sig, options_hash, files FROM outputs WHERE status='done'")
        return {(_from_db(r[0]), r[1]): (r[2], r[3], tuple(json.loads(r[4]))) for r in rows}

    def commit_item(self, item: str, source_sig: str, records: Iterable[OutputRecord], hashes: dict[str, str]) -> None:
        """Record every output of one item in one transaction."""
        key, now, run, records = _to_db(item), time.time(), self.run_id, list(records)
        outputs = [
            (key, r.output, source_sig, hashes[r.output], json.dumps(r.files), r.status, _readable(r.error), run, now)
            for r in records
        ]
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO outputs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", outputs)
            self._db.executemany(
                "INSERT INTO events VALUES (?, ?, ?, ?, ?)", [(key, r.output, run, r.status, now) for r in records]
            )

    def event_counts(self, status: str = "done") -> dict[tuple[str, str], int]:
        """(item, output) -> how many times it was produced (or failed) over every run."""
        rows = self._db.execute("SELECT item, output, COUNT(*) FROM events WHERE status=? GROUP BY 1, 2", (status,))
        return {(r[0], r[1]): int(r[2]) for r in rows}

    def runs(self) -> list[str]:
        """Run ids, oldest first."""
        return [r[0] for r in self._db.execute("SELECT run_id FROM runs ORDER BY started")]

    def items_done_by_run(self) -> dict[str, int]:
        """run_id -> number of 'done' events it committed."""
        rows = self._db.execute("SELECT run_id, COUNT(*) FROM events WHERE status='done' GROUP BY run_id")
        return {r[0]: int(r[1]) for r in rows}
