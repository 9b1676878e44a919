"""Runs for the file store's tests: a finished or running run spec (``store_conformance``'s
sample with one ``acc`` point), written by the real observer, and mtimes set back as for runs
written long ago."""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Any, Optional

from store_conformance import emit_events, sample_runs

from experimentkit.backends.file.index import INDEX_FILE
from experimentkit.backends.file.observer import FileStorageObserver


def run_spec(run_id: str, status: str = "COMPLETED", acc: Optional[float] = None, **extra: Any) -> dict:
    """A run with id ``run_id`` and one ``acc`` point (``run_id / 10`` unless given); a RUNNING
    run has no stop time and a fresh heartbeat.  ``extra`` replaces fields of the spec."""
    spec = sample_runs()[0]
    spec.update(
        {
            "id": run_id,
            "status": status,
            "tags": [],
            "notes": "",
            "info": {},
            "metrics": {
                "acc": {
                    "steps": [0],
                    "values": [float(run_id) / 10 if acc is None else acc],
                    "timestamps": [_dt.datetime(2024, 1, 1)],
                }
            },
        }
    )
    if status == "RUNNING":
        spec.pop("stop_time", None)
        spec["heartbeat"] = _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)
    spec.update(extra)
    return spec


def age_files(base: Path, seconds: float = 3600) -> None:
    """Every mtime under ``base`` (the index's own files aside) ``seconds`` back, as for runs
    written long ago (the index trusts those)."""
    old = _dt.datetime.now().timestamp() - seconds
    for folder, _dirs, files in os.walk(base):
        for name in files:
            if not name.startswith(INDEX_FILE):
                os.utime(os.path.join(folder, name), (old, old))
        os.utime(folder, (old, old))


def write_runs(basedir: Path, specs: list, workdir: Path) -> None:
    """Record ``specs`` with the real observer (one observer per run, as separate processes do)."""
    for spec in specs:
        emit_events(FileStorageObserver(str(basedir)), spec, workdir)
