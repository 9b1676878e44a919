"""Replay fallback journals into their backends (``experimentkit sync``).

A journal holds the events an observer could not store during a run (see
:mod:`experimentkit.dispatch`). Syncing rebuilds the observer from the journal's ``replay_spec``,
re-opens the run in the backend (``attach``) or starts it there if it never was, and delivers the
remaining events in order (those its ``delivered_through`` markers cover reached the backend during
the run and are never replayed).  Progress is recorded after every delivered event in
``<journal>.progress.json``, so an interrupted sync resumes where it stopped, and a finished journal
moves to ``<fallback_dir>/synced/``, so syncing twice adds nothing.

A journal is written while its run goes on.  It is synced once it is finalized (the run ended) or
once the process that writes it is gone (killed); the journal of a live run is left alone, since that
run may still deliver or append events.  A journal from another host that was not finalized is synced
only with ``force`` (whether its writer is alive cannot be told from here).
"""

from __future__ import annotations

import dataclasses
import glob
import importlib
import json
import os
import shutil
import socket
import tempfile
from typing import Any, Optional

from .journal import decode_value, encode_value, read_journal, writer_alive

__all__ = ["sync", "SyncResult", "build_observer"]

_OPENING_EVENTS = ("started_event", "queued_event")


@dataclasses.dataclass
class SyncResult:
    """What happened to one journal: ``status`` is synced, pending (dry run), skipped or failed."""

    journal: str
    observer: str
    run_uid: str
    status: str
    delivered: int = 0
    remaining: int = 0
    run_id: Any = None
    message: str = ""


def build_observer(spec: dict) -> Any:
    """Call ``spec["factory"]`` (``"package.module:callable"``) with ``spec["kwargs"]``."""
    module_name, _, attr_path = spec["factory"].partition(":")
    if not module_name or not attr_path:
        raise ValueError(
            f"replay factory must look like 'package.module:callable', not {spec['factory']!r}"
        )
    target: Any = importlib.import_module(module_name)
    for attr in attr_path.split("."):
        target = getattr(target, attr)
    return target(**spec.get("kwargs", {}))


def _progress_path(journal: str) -> str:
    return journal[: -len(".jsonl")] + ".progress.json"


def _load_progress(journal: str) -> dict:
    path = _progress_path(journal)
    if not os.path.exists(path):
        return {"delivered": 0}
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _save_progress(journal: str, progress: dict) -> None:
    path = _progress_path(journal)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(progress, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _archive(journal: str, synced_dir: str) -> None:
    os.makedirs(synced_dir, exist_ok=True)
    stem = journal[: -len(".jsonl")]
    for path in (journal, _progress_path(journal), stem + ".files"):
        if os.path.exists(path):
            shutil.move(path, os.path.join(synced_dir, os.path.basename(path)))


def sync(fallback_dir: Optional[str] = None, *, dry_run: bool = False, force: bool = False) -> list:
    """Replay every journal in ``fallback_dir`` (default ``SETTINGS.FALLBACK_DIR``); ``force`` also
    replays unfinished journals written on other hosts."""
    if fallback_dir is None:
        from .settings import SETTINGS

        fallback_dir = SETTINGS.FALLBACK_DIR
    journals = sorted(glob.glob(os.path.join(glob.escape(fallback_dir), "*.jsonl")))
    synced_dir = os.path.join(fallback_dir, "synced")
    return [_sync_one(path, synced_dir, dry_run, force) for path in journals]


def _still_written(header: dict, force: bool) -> str:
    """Why a journal must be left alone for now ("" if it may be replayed)."""
    if header.get("finalized"):
        return ""
    pid, host = header.get("pid"), header.get("hostname")
    if pid is None:
        return ""
    if host == socket.gethostname():
        if writer_alive(pid, header.get("pid_started")):
            return (f"its run is still going (pid {pid}); it is synced once the run ends "
                    f"or the process is gone")
        return ""
    if force:
        return ""
    return (f"written on host {host!r} by a run that has not ended, or was killed; if that run is "
            f"over, sync with --force")


def _sync_one(journal: str, synced_dir: str, dry_run: bool, force: bool) -> SyncResult:
    try:
        header, events = read_journal(journal)
        progress = _load_progress(journal)
    except FileNotFoundError:  # its run recovered and removed it since we listed the directory
        return SyncResult(journal, "?", "?", "skipped", message="the journal was removed")
    except (OSError, ValueError, KeyError) as exc:
        return SyncResult(journal, "?", "?", "failed", message=f"unreadable journal: {exc}")
    done = progress["delivered"]
    result = SyncResult(
        journal,
        header.get("observer", "?"),
        header.get("run_uid", "?"),
        "pending",
        delivered=0,
        remaining=len(events) - done,
    )
    busy = _still_written(header, force)
    if busy:
        result.status = "skipped"
        result.message = busy
        return result
    spec = header.get("replay_spec")
    if result.remaining <= 0 and not dry_run:  # every event reached the backend during the run
        result.status = "synced"
        _archive(journal, synced_dir)
        return result
    if spec is None:
        result.status = "skipped"
        result.message = (
            f"{result.observer} has no replay_spec(); its events cannot be replayed "
            f"automatically (the journal is plain JSON lines)"
        )
        return result
    if dry_run:
        return result
    try:
        observer = build_observer(spec)
        opened = header.get("opened") or "run_id" in progress
        run_id = (
            decode_value(progress["run_id"])
            if "run_id" in progress
            else decode_value(header.get("assigned_id"))
        )
        if opened:
            observer.attach(run_id)
        for seq in range(done, len(events)):
            event, kwargs = events[seq]
            returned = getattr(observer, event)(**kwargs)
            if event in _OPENING_EVENTS:
                run_id = returned if returned is not None else kwargs.get("_id")
                progress["run_id"] = encode_value(run_id)
            progress["delivered"] = seq + 1
            _save_progress(journal, progress)
            result.delivered += 1
            result.remaining -= 1
        observer.join()
    except Exception as exc:
        result.status = "failed"
        result.message = f"{type(exc).__name__}: {exc}"
        return result
    result.run_id = run_id
    result.status = "synced"
    _archive(journal, synced_dir)
    return result
