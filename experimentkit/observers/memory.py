"""``InMemoryObserver``: records every event in memory, for tests and notebooks.

Each event is kept as ``(event_name, kwargs)`` in ``.events``; ``.runs`` gives the merged state of
each run (config, status, metrics, artifacts, tables, output ...).  An observer built with a
``name`` is registered in this process, so ``experimentkit sync`` can replay a journal into it
(``replay_spec``/``attach``).
"""

from __future__ import annotations

import copy
import dataclasses
import threading
from typing import Any, Optional

from .base import RunObserver

__all__ = ["InMemoryObserver", "RecordedRun", "lookup"]

_REGISTRY: dict = {}


@dataclasses.dataclass
class RecordedRun:
    """What an observer knows about one run after the events it received."""

    _id: Any
    status: Optional[str] = None
    command: Optional[str] = None
    experiment: dict = dataclasses.field(default_factory=dict)
    host: dict = dataclasses.field(default_factory=dict)
    config: dict = dataclasses.field(default_factory=dict)
    meta: dict = dataclasses.field(default_factory=dict)
    queue_time: Any = None
    start_time: Any = None
    heartbeat: Any = None
    stop_time: Any = None
    result: Any = None
    info: dict = dataclasses.field(default_factory=dict)
    captured_out: str = ""
    fail_trace: Optional[list] = None
    metrics: dict = dataclasses.field(default_factory=dict)
    tables: dict = dataclasses.field(default_factory=dict)
    artifacts: list = dataclasses.field(default_factory=list)
    resources: list = dataclasses.field(default_factory=list)


def _copy(value: Any) -> Any:
    """A snapshot (the run keeps mutating ``info``), or the original if it cannot be copied."""
    try:
        return copy.deepcopy(value)
    except Exception:
        return value


def lookup(name: str) -> InMemoryObserver:
    """Replay factory: the observer registered as ``name`` here (a new one if there is none)."""
    observer = _REGISTRY.get(name)
    return observer if observer is not None else InMemoryObserver(name=name)


class InMemoryObserver(RunObserver):
    """Keeps every event in memory; ids are 1, 2, 3 ... unless an id is given."""

    def __init__(self, name: Optional[str] = None, priority: int = 0) -> None:
        self.name = name
        self.priority = priority
        self.events: list = []
        self.runs: dict = {}
        self._current: Optional[RecordedRun] = None
        self._lock = threading.Lock()
        if name is not None:
            _REGISTRY[name] = self

    @property
    def run(self) -> Optional[RecordedRun]:
        """The run the latest events were about."""
        return self._current

    @property
    def event_names(self) -> list:
        """Names of the events received, in order."""
        return [name for name, _ in self.events]

    def _record(self, event: str, kwargs: dict) -> None:
        self.events.append((event, _copy(kwargs)))

    def _open(self, event: str, kwargs: dict, status: str, time_key: str) -> Any:
        with self._lock:
            self._record(event, kwargs)
            _id = kwargs["_id"]
            if _id is None:
                numeric = [k for k in self.runs if isinstance(k, int)]
                _id = max(numeric, default=0) + 1
            record = RecordedRun(
                _id=_id,
                status=status,
                command=kwargs["command"],
                experiment=_copy(kwargs["ex_info"]),
                host=_copy(kwargs["host_info"]),
                config=_copy(kwargs["config"]),
                meta=_copy(kwargs["meta_info"]),
            )
            setattr(record, time_key, kwargs[time_key])
            self.runs[_id] = self._current = record
            return _id

    def _update(self, event: str, kwargs: dict, **changes: Any) -> None:
        with self._lock:
            self._record(event, kwargs)
            for key, value in changes.items():
                setattr(self._current, key, _copy(value))

    # ---- events ----------------------------------------------------------------------------------
    def queued_event(self, ex_info, command, host_info, queue_time, config, meta_info, _id):
        """Record a queued run; returns its id."""
        return self._open(
            "queued_event",
            dict(
                ex_info=ex_info,
                command=command,
                host_info=host_info,
                queue_time=queue_time,
                config=config,
                meta_info=meta_info,
                _id=_id,
            ),
            "QUEUED",
            "queue_time",
        )

    def started_event(self, ex_info, command, host_info, start_time, config, meta_info, _id):
        """Record a started run; returns its id."""
        return self._open(
            "started_event",
            dict(
                ex_info=ex_info,
                command=command,
                host_info=host_info,
                start_time=start_time,
                config=config,
                meta_info=meta_info,
                _id=_id,
            ),
            "RUNNING",
            "start_time",
        )

    def heartbeat_event(self, info, captured_out, beat_time, result):
        """Record the latest info, output and result."""
        self._update(
            "heartbeat_event",
            dict(info=info, captured_out=captured_out, beat_time=beat_time, result=result),
            info=info,
            captured_out=captured_out,
            heartbeat=beat_time,
            result=result,
        )

    def completed_event(self, stop_time, result):
        """Record completion."""
        self._update(
            "completed_event",
            dict(stop_time=stop_time, result=result),
            status="COMPLETED",
            stop_time=stop_time,
            result=result,
        )

    def interrupted_event(self, interrupt_time, status):
        """Record an interruption."""
        self._update(
            "interrupted_event",
            dict(interrupt_time=interrupt_time, status=status),
            status=status,
            stop_time=interrupt_time,
        )

    def failed_event(self, fail_time, fail_trace):
        """Record a failure."""
        self._update(
            "failed_event",
            dict(fail_time=fail_time, fail_trace=fail_trace),
            status="FAILED",
            stop_time=fail_time,
            fail_trace=fail_trace,
        )

    def resource_event(self, filename):
        """Record a resource."""
        with self._lock:
            self._record("resource_event", dict(filename=filename))
            self._current.resources.append(filename)

    def artifact_event(self, name, filename, metadata=None, content_type=None):
        """Record an artifact (the file is not copied)."""
        with self._lock:
            kwargs = dict(name=name, filename=filename, metadata=metadata, content_type=content_type)
            self._record("artifact_event", kwargs)
            self._current.artifacts.append(_copy(kwargs))

    def log_metrics(self, metrics_by_name, info):
        """Append new points to each metric."""
        with self._lock:
            self._record("log_metrics", dict(metrics_by_name=metrics_by_name, info=info))
            for name, group in metrics_by_name.items():
                target = self._current.metrics.setdefault(name, {"steps": [], "values": [], "timestamps": []})
                for key in target:
                    target[key].extend(group[key])

    def log_table(self, name, rows):
        """Append rows to a table."""
        with self._lock:
            self._record("log_table", dict(name=name, rows=rows))
            self._current.tables.setdefault(name, []).extend(_copy(rows))

    # ---- replay ----------------------------------------------------------------------------------
    def replay_spec(self) -> Optional[dict]:
        """Replayable within this process when the observer has a name."""
        if self.name is None:
            return None
        return {"factory": f"{__name__}:lookup", "kwargs": {"name": self.name}}

    def attach(self, _id: Any) -> None:
        """Make ``_id`` the current run again, so replayed events extend it."""
        with self._lock:
            record = self.runs.get(_id)
            if record is None:
                record = self.runs[_id] = RecordedRun(_id=_id)
            self._current = record

    def __repr__(self) -> str:
        return f"InMemoryObserver(name={self.name!r}, runs={list(self.runs)})"
