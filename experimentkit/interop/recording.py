"""Write runs that came from another tool into any store, through that store's own observer.

An imported run goes through the same observer events as a recorded one (``started_event``,
``log_metrics``, ``artifact_event``, ``heartbeat_event``, then the final status), so it is stored in
exactly the layout that store's readers expect, on every backend.  ``meta.imported_from`` names
where it came from; :func:`imported_sources` reads those back so that importing twice adds
nothing.
"""

from __future__ import annotations

import datetime as _dt
import os
import uuid
from dataclasses import dataclass, field
from typing import Any, Optional

from ..errors import UsageError

__all__ = [
    "ForeignRun",
    "observer_for",
    "imported_sources",
    "record",
    "attach_metrics",
    "to_datetime",
    "to_epoch",
    "flatten",
    "unflatten",
    "CHUNK",
]

#: Points per ``log_metrics`` call, so one huge series never becomes one huge transaction.
CHUNK = 50_000
_EPOCH = _dt.datetime(1970, 1, 1)
_STATUS_EVENTS = ("COMPLETED", "FAILED", "INTERRUPTED", "RUNNING")


@dataclass
class ForeignRun:
    """One run read from another tool, ready to be recorded."""

    source: str  # where it came from, e.g. "tensorboard:/abs/logdir/run1"; makes imports idempotent
    experiment: str
    config: dict
    start_time: _dt.datetime  # naive UTC
    stop_time: Optional[_dt.datetime] = None
    status: str = "COMPLETED"  # COMPLETED, FAILED, INTERRUPTED or RUNNING
    #: ``{name: (steps, values, timestamps)}``, timestamps in seconds since the epoch
    metrics: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    tags: list = field(default_factory=list)
    notes: str = ""
    #: ``[(name, path of a local file)]``, or ``(name, path, metadata, content type)``
    artifacts: list = field(default_factory=list)
    result: Any = None
    host: dict = field(default_factory=dict)
    command: str = "main"

    @property
    def points(self) -> int:
        return sum(len(values) for _, values, _ in self.metrics.values())


def to_datetime(seconds: float) -> _dt.datetime:
    """Epoch seconds → the naive-UTC datetime every store keeps."""
    return _EPOCH + _dt.timedelta(seconds=seconds)


def to_epoch(moment: _dt.datetime) -> float:
    """A naive-UTC datetime → epoch seconds."""
    return (moment - _EPOCH).total_seconds()


def flatten(config: Any, prefix: str = "") -> dict:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}`` (how other tools keep nested configs)."""
    if not isinstance(config, dict):
        return {prefix: config} if prefix else {}
    flat: dict = {}
    for key, value in config.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            flat.update(flatten(value, name))
        else:
            flat[name] = value
    return flat


def unflatten(flat: dict) -> dict:
    """The inverse of :func:`flatten` (a key that is both a value and a prefix stays dotted)."""
    nested: dict = {}
    for key, value in flat.items():
        parts = key.split(".")
        here = nested
        for part in parts[:-1]:
            nxt = here.setdefault(part, {})
            if not isinstance(nxt, dict):  # "a" and "a.b" both present: keep the dotted key
                nested[key] = value
                break
            here = nxt
        else:
            here[parts[-1]] = value
    return nested


def observer_for(target: str) -> Any:
    """The observer that writes into the store ``target`` (a directory or a store URL)."""
    from ..query import _SCHEME, _split_mongo_url

    match = _SCHEME.match(target)
    scheme = match.group(1).lower() if match else "file"
    if scheme == "file":
        from ..observers import FileStorageObserver

        path = target[len("file://") :] if match else target
        if os.path.exists(path) and not os.path.isdir(path):
            raise UsageError(f"cannot write runs to '{path}': it is a file, not a directory")
        return FileStorageObserver(path)
    if scheme.split("+")[0] in ("sqlite", "postgresql", "postgres", "mysql", "mariadb"):
        from ..observers import SqlObserver

        return SqlObserver(target)
    if scheme in ("mongodb", "mongodb+srv"):
        from ..observers import MongoObserver

        url, db_name, prefix = _split_mongo_url(target)
        return MongoObserver(url=url, db_name=db_name, collection_prefix=prefix)
    raise UsageError(
        f"cannot write runs to '{target}': use a directory, sqlite:///, "
        f"postgresql://, mysql+pymysql:// or mongodb://"
    )


def imported_sources(target: str) -> dict:
    """``{source: run id}`` of every run in ``target`` that an import recorded (empty when the
    store does not exist yet)."""
    from ..errors import StoreError
    from ..query import open_store

    try:
        store = open_store(target)
    except StoreError:
        return {}
    with store:
        return {
            record.meta["imported_from"]: record.id
            for record in store.runs()
            if isinstance(record.meta.get("imported_from"), str)
        }


def _metric_batches(metrics: dict) -> Any:
    for name, (steps, values, stamps) in metrics.items():
        for start in range(0, len(values), CHUNK):
            stop = start + CHUNK
            yield {
                name: {
                    "name": name,
                    "steps": list(steps[start:stop]),
                    "values": list(values[start:stop]),
                    "timestamps": [to_datetime(s) for s in stamps[start:stop]],
                }
            }


def record(target: str, run: ForeignRun) -> str:
    """Store ``run`` in ``target`` as a finished (or running) run; returns its new id."""
    if run.status not in _STATUS_EVENTS:
        raise ValueError(f"unknown status {run.status!r}; one of {', '.join(_STATUS_EVENTS)}")
    observer = observer_for(target)
    ex_info: dict = {
        "name": run.experiment,
        "base_dir": "",
        "sources": [],
        "dependencies": [],
        "repositories": [],
        "mainfile": None,
    }
    meta = {
        "command": run.command,
        "options": {},
        "named_configs": [],
        "config_updates": {},
        "uid": uuid.uuid4().hex,
        "imported_from": run.source,
    }
    run_id = observer.started_event(
        ex_info=ex_info,
        command=run.command,
        host_info=run.host,
        start_time=run.start_time,
        config=run.config,
        meta_info=meta,
        _id=None,
    )
    for batch in _metric_batches(run.metrics):
        observer.log_metrics(metrics_by_name=batch, info=run.info)
    for name, path, *described in run.artifacts:
        if described:
            observer.artifact_event(
                name=name, filename=path, metadata=described[0], content_type=described[1]
            )
        else:
            observer.artifact_event(name=name, filename=path)
    end = run.stop_time or run.start_time
    observer.heartbeat_event(info=run.info, captured_out="", beat_time=end, result=run.result)
    if run.status == "COMPLETED":
        observer.completed_event(stop_time=end, result=run.result)
    elif run.status == "FAILED":
        observer.failed_event(fail_time=end, fail_trace=[f"failed in {run.source}\n"])
    elif run.status == "INTERRUPTED":
        observer.interrupted_event(interrupt_time=end, status="INTERRUPTED")
    _close(observer)
    if run.tags or run.notes:
        from ..query import open_store

        with open_store(target) as store:
            if run.tags:
                store.add_tags(run_id, run.tags)
            if run.notes:
                store.set_note(run_id, run.notes)
    return str(run_id)


def attach_metrics(target: str, run_id: str, metrics: dict) -> None:
    """Append ``metrics`` to the existing run ``run_id`` of ``target``."""
    observer = observer_for(target)
    observer.attach(run_id)
    for batch in _metric_batches(metrics):
        observer.log_metrics(metrics_by_name=batch, info={})
    _close(observer)


def _close(observer: Any) -> None:
    join = getattr(observer, "join", None)
    if callable(join):
        join()
