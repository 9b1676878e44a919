"""Sweep records of a file store: ``<basedir>/_sweeps/<id>.json``, replaced atomically.

Run directories are numeric, so the ``_sweeps`` directory is never taken for a run.  A new id is
claimed by creating its file exclusively, which is safe between concurrent sweeps.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Optional

from ...sweep.records import SweepBook

__all__ = ["FileSweepBook"]


class FileSweepBook(SweepBook):
    """Sweep records as JSON files beside the run directories."""

    def __init__(self, basedir: str):
        self.basedir = str(basedir)
        self.directory = os.path.join(self.basedir, "_sweeps")

    def __str__(self) -> str:
        return f"file store '{self.basedir}'"

    def _path(self, sweep_id: int) -> str:
        return os.path.join(self.directory, f"{int(sweep_id)}.json")

    def _ids(self) -> list:
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        return sorted(int(n[:-5]) for n in names if n.endswith(".json") and n[:-5].isdigit())

    def create(self, record: dict, sweep_id: Optional[int] = None) -> int:
        os.makedirs(self.directory, exist_ok=True)
        candidate = sweep_id if sweep_id is not None else max(self._ids(), default=0) + 1
        while True:
            try:
                fd = os.open(self._path(candidate), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                if sweep_id is not None:
                    raise
                candidate += 1
                continue
            os.close(fd)
            break
        self._write(candidate, dict(record, id=candidate))
        return candidate

    def _write(self, sweep_id: int, record: dict) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".sweep-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(record, out, indent=1, default=str)
        os.replace(tmp, self._path(sweep_id))

    def update(self, sweep_id: int, changes: dict) -> None:
        with open(self._path(sweep_id), encoding="utf-8") as f:
            record = json.load(f)
        record.update(changes)
        self._write(sweep_id, record)

    def records(self) -> list:
        found = []
        for sweep_id in self._ids():
            try:
                with open(self._path(sweep_id), encoding="utf-8") as f:
                    found.append(json.load(f))
            except (OSError, ValueError):  # claimed but not yet written
                continue
        return found
