"""The SQLAlchemy-free pieces of the SQL read side, shared by ``SqlStore`` and the stdlib SQLite
path (``fast_sqlite``) so that both build the very same records from the same stored rows.

Importing this module costs nothing beyond the standard library: the fast path must not load
SQLAlchemy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional

from ...query.base import RunRecord, Store

__all__ = [
    "SCHEMA_VERSION",
    "INT_TEXT",
    "HOST_COLUMNS",
    "EXPERIMENT_COLUMNS",
    "loads",
    "chunks",
    "record_from_row",
]

SCHEMA_VERSION = 5
"""The layout version this code reads and writes; ``schema_version.version`` holds the stored one."""

INT_TEXT = re.compile(r"-?\d+\Z")
HOST_COLUMNS = ("hostname", "cpu", "python_version")
EXPERIMENT_COLUMNS = ("name", "base_dir", "mainfile")
_CHUNK = 500  # ids per IN (...) list


def loads(text: Optional[str], default: Any) -> Any:
    """JSON text as stored (NaN and Infinity allowed); ``default`` when there is none."""
    if text is None or text == "":
        return default
    return json.loads(text)


def chunks(items: Sequence[Any]) -> Iterable[list]:
    """``items`` in lists short enough for one ``IN (...)``."""
    items = list(items)
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def record_from_row(
    store: Store,
    row: Mapping[str, Any],
    experiment: dict,
    metrics: dict,
    tags: list,
    artifacts: list,
    resources: Sequence[Any] = (),
) -> RunRecord:
    """A ``RunRecord`` from one row of the run/experiment/host join (times already datetimes).

    ``row`` has the run columns plus ``ex_*`` and ``h_*`` (the experiment and host columns).  A
    column whose JSON cannot be read, or a metric whose stored values are not numbers, is named in
    ``record.damaged`` and left out; the rest of the run is read as usual (nothing is changed).
    """
    damaged: list = []

    def column(name: str, default: Any) -> Any:
        try:
            return loads(row[name], default)
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno} column {exc.colno}: {exc.msg}"
            damaged.append(f"run {row['run_id']}: column {name}: {where}")
            return default

    if row["host_info"]:
        host = column("host_info", {})
    else:  # Sacred kept only these columns
        host = {k: row[f"h_{k}"] for k in HOST_COLUMNS if row[f"h_{k}"] is not None}
        if row["h_os"] is not None:
            host["os"] = [row["h_os"], row["h_os_info"]]
    meta = column("meta", None)
    if meta is None:
        meta = {k: row[k] for k in ("command", "comment", "priority") if row[k] is not None}
    result = column("result_json", None) if row["result_json"] is not None else row["result"]
    trace = row["fail_trace"]
    config, info = column("config", {}), column("info", {})
    for name, value in (("config", config), ("info", info), ("host_info", host), ("meta", meta)):
        if not isinstance(value, dict):
            damaged.append(
                f"run {row['run_id']}: column {name}: a JSON {type(value).__name__}, not an object"
            )
    return store.new_record(
        id=row["run_id"],
        status=row["status"],
        command=row["command"],
        experiment=experiment,
        config=config if isinstance(config, dict) else {},
        info=info if isinstance(info, dict) else {},
        host=host if isinstance(host, dict) else {},
        meta=meta if isinstance(meta, dict) else {},
        start_time=row["start_time"],
        stop_time=row["stop_time"],
        heartbeat=row["heartbeat"],
        result=result,
        fail_trace=trace.splitlines(keepends=True) if trace else None,
        tags=tags,
        notes=row["note"] or "",
        artifacts=artifacts,
        metrics=_readable_metrics(metrics, damaged),
        resources=[{"path": path, "md5": md5} for path, md5 in resources],
        damaged=damaged,
    )


def _readable_metrics(metrics: dict, damaged: list) -> dict:
    """The summaries with any value that is not a number left out (SQLite stores whatever it is
    given in a REAL column: text sorts above every number, so ``max`` and ``last`` would show it)."""
    readable = {}
    for name, summary in metrics.items():
        bad = [
            agg
            for agg in ("last", "min", "max")
            if summary.get(agg) is not None and not _number(summary[agg])
        ]
        if bad:
            damaged.append(f"metric {name!r}: stored values that are not numbers ({', '.join(bad)} left out)")
            summary = {**summary, **dict.fromkeys(bad)}
        readable[name] = summary
    return readable


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def plan_query(
    q: Any, *, operand: Any, condition: Any, tags_condition: Any, order_terms: Any, id_terms: Any
) -> tuple:
    """Split a query into what SQL answers and what Python must finish, for both SQL read paths.

    Returns (pushed (filter, condition) pairs, ORDER BY terms or None when an order key cannot be
    translated, list/object flags of the order keys, conditions marking rows whose JSON only Python may
    read).  The callbacks build dialect-specific expressions (SQLAlchemy Core or SQLite text).
    """
    from ...query.base import MAX_SQL_IN_VALUES

    pushed, suspects = [], []
    for flt in q.filters:
        if flt.op == "in" and len(flt.value) > MAX_SQL_IN_VALUES:
            continue  # Python decides it
        key = flt.parsed_key
        if key.root == "tags":
            cond = tags_condition(flt)
            if cond is not None:
                pushed.append((flt, cond))
            continue
        op = operand(key)
        cond = None if op is None else condition(op, flt)
        if cond is not None:
            pushed.append((flt, cond))
            if op.suspect is not None:
                suspects.append(op.suspect)
    terms: Optional[list] = []
    others = []
    for order in q.order:
        op = operand(order.parsed_key)
        if op is None:
            terms = None
            break
        terms += order_terms(op, order.descending)
        if op.suspect is not None:
            suspects.append(op.suspect)
        if op.other is not None:
            others.append(op.other)
    if terms is not None:
        terms += id_terms()
    return pushed, terms, others, suspects
