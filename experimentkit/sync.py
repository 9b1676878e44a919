"""Replay fallback journals into their backends (``experimentkit sync``).

A journal holds the events an observer could not store during a run (see
:mod:`experimentkit.dispatch`). Syncing rebuilds the observer from the journal's ``replay_spec``,
re-opens the run in the backend (``attach``) or starts it there if it never was, and delivers the
remaining events in order (those its ``delivered_through`` markers cover reached the backend during
the run and are never replayed).  Progress is recorded after every delivered event in
``<journal>.progress.json``, so an interrupted sync resumes where it stopped, and a finished journal
moves to ``<fallback_dir>/synced/``, so syncing twice adds nothing.

Only registered factories are called: the built-in observers, those named by an entry point in the
group ``experimentkit.replay_factories`` and those the user trusts explicitly (``trust=``, ``sync
--trust``); a journal is a file anyone who can write to the fallback directory could plant, so its
``replay_spec`` never picks arbitrary code to run.  An event the backend can never take (see
:func:`experimentkit.dispatch.is_permanent`) is skipped and reported, and the rest goes on.

A journal is written while its run goes on.  It is synced once it is finalized (the run ended) or
once the process that writes it is gone (killed); the journal of a live run is left alone, since that
run may still deliver or append events.  A journal from another host that was not finalized is synced
only with ``force`` (whether its writer is alive cannot be told from here).
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import importlib
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterable
from typing import Any, Optional

from .dispatch import is_permanent
from .journal import decode_value, encode_value, read_journal, writer_alive
from .redact import one_line, redact_text

__all__ = [
    "sync",
    "SyncResult",
    "build_observer",
    "discard",
    "format_results",
    "BUILTIN_FACTORIES",
    "REPLAY_ENTRY_POINT_GROUP",
]

_OPENING_EVENTS = ("started_event", "queued_event")

#: Factories of the observers shipped with experimentkit, which ``sync`` may call.
BUILTIN_FACTORIES = frozenset(
    {
        "experimentkit.backends.file.observer:FileStorageObserver",
        "experimentkit.backends.sql.observer:SqlObserver",
        "experimentkit.backends.sql.observer:SqlObserver.for_replay",
        "experimentkit.backends.mongo.observer:MongoObserver",
        "experimentkit.observers.memory:InMemoryObserver",
        "experimentkit.observers.memory:lookup",
    }
)
#: Entry-point group through which an installed package registers its observer's replay factory:
#: ``name = "package.module:callable"`` (the value is what its ``replay_spec()`` names).
REPLAY_ENTRY_POINT_GROUP = "experimentkit.replay_factories"


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
    backend: str = dataclasses.field(default="", compare=False)  # where, password hidden
    skipped: list = dataclasses.field(default_factory=list, compare=False)  # undeliverable events


def _registered_factories() -> set:
    from importlib import metadata

    found = metadata.entry_points()
    points = (
        found.select(group=REPLAY_ENTRY_POINT_GROUP)
        if hasattr(found, "select")
        else found.get(REPLAY_ENTRY_POINT_GROUP, ())
    )
    return {ep.value.replace(" ", "") for ep in points}


def build_observer(spec: dict, trust: Iterable[str] = ()) -> Any:
    """Call ``spec["factory"]`` (``"package.module:callable"``) with ``spec["kwargs"]``, if it is a
    registered factory (built-in, entry point, or in ``trust``); otherwise nothing is imported."""
    factory = spec.get("factory")
    module_name, _, attr_path = str(factory).partition(":")
    if not isinstance(factory, str) or not module_name or not attr_path:
        raise ValueError(f"replay factory must look like 'package.module:callable', not {factory!r}")
    if (
        factory not in BUILTIN_FACTORIES
        and factory not in set(trust)
        and factory not in _registered_factories()
    ):
        raise PermissionError(
            f"refusing to call the replay factory {factory!r}: it is not a registered observer "
            f"factory (built-in, or an entry point in {REPLAY_ENTRY_POINT_GROUP!r}); if you trust "
            f"it, sync with --trust {factory}"
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


def sync(
    fallback_dir: Optional[str] = None,
    *,
    dry_run: bool = False,
    force: bool = False,
    trust: Iterable[str] = (),
) -> list:
    """Replay every journal in ``fallback_dir`` (default ``SETTINGS.FALLBACK_DIR``); ``force`` also
    replays unfinished journals written on other hosts; ``trust`` names replay factories to allow
    beyond the registered ones."""
    fallback_dir = _default_dir(fallback_dir)
    journals = sorted(glob.glob(os.path.join(glob.escape(fallback_dir), "*.jsonl")))
    synced_dir = os.path.join(fallback_dir, "synced")
    trusted = frozenset(trust)
    return [_sync_one(path, synced_dir, dry_run, force, trusted) for path in journals]


def _default_dir(fallback_dir: Optional[str]) -> str:
    if fallback_dir is None:
        from .settings import SETTINGS

        fallback_dir = SETTINGS.FALLBACK_DIR
    return fallback_dir


def discard(journal: str) -> SyncResult:
    """Delete a journal with its kept artifact files and sync progress: its undelivered events are
    given up (``experimentkit sync --discard``).  Returns what it held."""
    header, events = read_journal(journal)
    done = _load_progress(journal)["delivered"]
    result = SyncResult(
        journal,
        header.get("observer", "?"),
        header.get("run_uid", "?"),
        "discarded",
        remaining=max(len(events) - done, 0),
        backend=_backend(header.get("replay_spec")),
    )
    stem = journal[: -len(".jsonl")]
    for path in (_progress_path(journal), journal):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    shutil.rmtree(stem + ".files", ignore_errors=True)
    return result


def _backend(spec: Any) -> str:
    """Where a journal's events go, for people (password hidden)."""
    kwargs = spec.get("kwargs") if isinstance(spec, dict) else None
    if isinstance(kwargs, dict):
        for key in ("url", "basedir", "name"):
            if isinstance(kwargs.get(key), str):
                return redact_text(kwargs[key])
    if isinstance(spec, dict):
        return str(spec.get("factory", "?"))
    return "-"


def format_results(results: list) -> str:
    """The table ``experimentkit sync`` prints: one row a journal, then why for those that need it
    (each said once)."""
    headers = ["journal", "run", "backend", "delivered", "remaining", "status"]
    rows = [
        [
            os.path.basename(r.journal),
            _short_uid(r.run_uid, r.run_id),
            r.backend or "-",
            str(r.delivered),
            str(r.remaining),
            r.status,
        ]
        for r in results
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    for result in results:
        name = os.path.basename(result.journal)
        if result.message:
            lines.append(f"{name}: {result.message}")
        for note in result.skipped:
            lines.append(f"{name}: skipped {note}")
    return "\n".join(lines)


def _short_uid(uid: Any, run_id: Any) -> str:
    text = str(uid)[:8] if uid not in (None, "?") else "?"
    return f"{text} (id {run_id})" if run_id is not None else text


def _event_label(event: str, kwargs: dict) -> str:
    if event == "artifact_event":
        return f"artifact {kwargs.get('name')!r}"
    if event == "log_table":
        return f"log_table {kwargs.get('name')!r}"
    return event


def _still_written(header: dict, force: bool) -> str:
    """Why a journal must be left alone for now ("" if it may be replayed)."""
    if header.get("finalized"):
        return ""
    pid, host = header.get("pid"), header.get("hostname")
    if pid is None:
        return ""
    if host == socket.gethostname():
        if writer_alive(pid, header.get("pid_started")):
            return (
                f"its run is still going (pid {pid}); it is synced once the run ends or the process is gone"
            )
        return ""
    if force:
        return ""
    return (
        f"written on host {host!r} by a run that has not ended, or was killed; if that run is "
        f"over, sync with --force"
    )


def _sync_one(journal: str, synced_dir: str, dry_run: bool, force: bool, trust: frozenset) -> SyncResult:
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
        backend=_backend(header.get("replay_spec")),
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
        observer = build_observer(spec, trust)
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
            try:
                returned = getattr(observer, event)(**kwargs)
            except Exception as exc:
                if not is_permanent(exc) or event in _OPENING_EVENTS:
                    raise
                # this one can never be stored: skip it (said in the report), deliver the rest
                result.skipped.append(f"{_event_label(event, kwargs)} ({one_line(exc)})")
                progress.setdefault("skipped", []).append(seq)
                progress["delivered"] = seq + 1
                _save_progress(journal, progress)
                result.remaining -= 1
                continue
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
        result.message = one_line(exc, limit=300)
        if is_permanent(exc):
            result.message += (
                " - this will not change by itself; 'experimentkit sync --discard "
                f"{journal}' gives the journal up"
            )
        return result
    result.run_id = run_id
    result.status = "synced"
    _archive(journal, synced_dir)
    return result
