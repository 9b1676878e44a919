"""``InMemoryStore``: a ``Store`` over plain run specs, the executable reference of the query
semantics.

A *run spec* is a JSON-ready dict, the same shape the conformance tests feed every backend::

    {"id": "1", "experiment": {...ex_info...}, "status": "COMPLETED", "command": "main",
     "config": {...}, "info": {...}, "host": {...}, "meta": {...},
     "start_time": "2024-01-01T10:00:00", "stop_time": ..., "heartbeat": ..., "result": ...,
     "fail_trace": [...], "tags": [...], "notes": "", "captured_out": "...",
     "metrics": {name: {"steps": [...], "values": [...], "timestamps": [iso, ...]}},
     "artifacts": {name: "text" | {"base64": "..."}},
     "tables": {name: [{...row...}, ...]}}

Every key but ``id`` is optional.  ``memory+json:///path/runs.json`` opens a JSON file holding
``{"runs": [spec, ...]}`` (a fixture store for tests and demos); tags, notes and deletions are
written back.
"""

from __future__ import annotations

import base64
import datetime as _dt
import io
import json
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Optional

from ..errors import StoreError, suggest_known
from .base import Filter, MetricSeries, Order, Query, RunRecord, Store, resource_entries
from .semantics import apply_in_python, apply_rows_in_python, id_sort_key

__all__ = ["InMemoryStore", "summarize", "parse_time"]

_RECORD_FIELDS = ("experiment", "command", "config", "info", "host", "meta", "result", "fail_trace", "notes")


def parse_time(value: Any) -> Optional[_dt.datetime]:
    """ISO text (or a datetime) → naive-UTC datetime; None stays None."""
    if value is None or isinstance(value, _dt.datetime):
        return value
    parsed = _dt.datetime.fromisoformat(str(value))
    return parsed.astimezone(_dt.timezone.utc).replace(tzinfo=None) if parsed.tzinfo else parsed


def summarize(values: Sequence[Any]) -> dict:
    """``{"last", "min", "max", "count"}`` of a metric; min/max skip None and NaN."""
    numeric = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return {
        "last": values[-1] if values else None,
        "min": min(numeric, default=None),
        "max": max(numeric, default=None),
        "count": len(values),
    }


class InMemoryStore(Store):
    """Runs held in memory as specs; optionally persisted to a JSON file (``path``)."""

    def __init__(self, specs: Iterable[dict] = (), path: str | os.PathLike | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.path = Path(path) if path is not None else None
        self._specs: dict = {}
        for spec in specs:
            self.add_run(spec)

    @classmethod
    def from_json(cls, path: str | os.PathLike, **kwargs: Any) -> InMemoryStore:
        """Load ``{"runs": [spec, ...]}`` from ``path``; annotations are saved back to it."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StoreError(f"no run store at {path} (file not found)") from None
        except ValueError as exc:
            raise StoreError(f"{path} is not a JSON run store: {exc}") from None
        return cls(data.get("runs", []), path=path, **kwargs)

    def __str__(self) -> str:
        return f"memory+json://{self.path}" if self.path else "the in-memory store"

    def add_run(self, spec: dict) -> None:
        """Add (or replace) one run given as a spec."""
        spec = json.loads(json.dumps(spec, default=str))  # own a JSON-clean copy
        spec["id"] = str(spec["id"])
        self._specs[spec["id"]] = spec

    # ---- reading --------------------------------------------------------------------------------
    def _spec(self, run_id: Any) -> dict:
        try:
            return self._specs[str(run_id)]
        except KeyError:
            raise self.unknown_run(run_id, self._specs) from None

    def _record(self, spec: dict) -> RunRecord:
        fields = {name: spec[name] for name in _RECORD_FIELDS if spec.get(name) is not None}
        for name in ("start_time", "stop_time", "heartbeat"):
            fields[name] = parse_time(spec.get(name))
        metrics = {
            name: summarize(series.get("values", [])) for name, series in (spec.get("metrics") or {}).items()
        }
        return self.new_record(
            id=spec["id"],
            status=spec.get("status"),
            tags=list(spec.get("tags", [])),
            artifacts=list(spec.get("artifacts") or {}),
            metrics=metrics,
            resources=resource_entries(spec.get("resources")),
            **fields,
        )

    def query(self, q: Query) -> list:
        return apply_in_python((self._record(s) for s in self._specs.values()), q)

    def get(self, run_id: Any) -> RunRecord:
        return self._record(self._spec(run_id))

    def ids(self) -> list:
        return sorted(self._specs, key=id_sort_key)

    def metric_names(self, run_id: Any) -> list:
        return sorted(self._spec(run_id).get("metrics") or {})

    def metric(self, run_id: Any, name: str) -> MetricSeries:
        metrics = self._spec(run_id).get("metrics") or {}
        if name not in metrics:
            raise StoreError(f"run {run_id} has no metric '{name}'{suggest_known(name, metrics, 'metrics')}")
        series = metrics[name]
        return MetricSeries(
            name,
            list(series.get("steps", [])),
            list(series.get("values", [])),
            [parse_time(t) for t in series.get("timestamps", [])],
        )

    def captured_out(self, run_id: Any) -> str:
        return self._spec(run_id).get("captured_out") or ""

    def artifact(self, run_id: Any, name: str) -> BinaryIO:
        artifacts = self._spec(run_id).get("artifacts") or {}
        if name not in artifacts:
            hint = suggest_known(name, artifacts, "artifacts")
            raise StoreError(f"run {run_id} has no artifact '{name}'{hint}")
        content = artifacts[name]
        data = (
            base64.b64decode(content["base64"]) if isinstance(content, dict) else str(content).encode("utf-8")
        )
        return io.BytesIO(data)

    def tables(self, run_id: Any) -> list:
        return sorted(self._spec(run_id).get("tables") or {})

    def rows(
        self,
        run_id: Any,
        table: str,
        where: Sequence[Filter] = (),
        order: Sequence[Order] = (),
        limit: Optional[int] = None,
    ) -> list:
        tables = self._spec(run_id).get("tables") or {}
        if table not in tables:
            raise StoreError(f"run {run_id} has no table '{table}'{suggest_known(table, tables, 'tables')}")
        return apply_rows_in_python(tables[table], where, order, limit)

    # ---- annotating -----------------------------------------------------------------------------
    def add_tags(self, run_id: Any, tags: Iterable[str]) -> list:
        spec = self._spec(run_id)
        current = spec.setdefault("tags", [])
        current.extend(t for t in dict.fromkeys(tags) if t not in current)
        self._save()
        return list(current)

    def remove_tags(self, run_id: Any, tags: Iterable[str]) -> list:
        spec = self._spec(run_id)
        drop = set(tags)
        spec["tags"] = [t for t in spec.get("tags", []) if t not in drop]
        self._save()
        return list(spec["tags"])

    def set_note(self, run_id: Any, text: str) -> None:
        self._spec(run_id)["notes"] = text
        self._save()

    def delete(self, run_ids: Iterable[Any]) -> list:
        ids = [str(self._spec(run_id)["id"]) for run_id in run_ids]
        for run_id in ids:
            self._specs.pop(run_id, None)
        self._save()
        return ids

    def _save(self) -> None:
        """Write the runs back atomically (only for stores loaded from a file)."""
        if self.path is None:
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"runs": list(self._specs.values())}, indent=1), encoding="utf-8")
        os.replace(tmp, self.path)
