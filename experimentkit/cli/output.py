"""Rendering runs and rows as terminal tables, JSON and CSV."""
from __future__ import annotations

import csv
import datetime as _dt
import json
import shutil
from collections.abc import Iterable, Sequence
from typing import IO, Any, Optional

from ..query.base import parse_key
from ..query.semantics import resolve

__all__ = ["flatten", "cell", "render_table", "write_json", "write_csv", "run_value",
           "default_columns", "all_columns"]

_MAX_CELL = 28


def flatten(value: Any, prefix: str = "") -> dict:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}`` (empty dicts stay as values)."""
    if isinstance(value, dict) and value:
        out: dict = {}
        for key, sub in value.items():
            out.update(flatten(sub, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: value} if prefix else {}


def run_value(record: Any, column: str) -> Any:
    """The value of a key for a run (the ``ls`` column ``column``)."""
    return resolve(record, parse_key(column))


def cell(value: Any) -> str:
    """Short human text for a value in a table."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, _dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return ",".join(cell(v) for v in value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value)


def _clip(text: str, width: int) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[:width - 1] + "…"


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Any]],
                 width: Optional[int] = None) -> str:
    """Left-aligned columns separated by two spaces; columns that do not fit the terminal width are
    dropped from the right (the first column always stays), and long cells are clipped."""
    width = width or shutil.get_terminal_size((100, 24)).columns
    texts = [[_clip(cell(v), _MAX_CELL) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in texts]) for i, h in enumerate(headers)]
    keep = 1
    used = widths[0] if widths else 0
    while keep < len(widths) and used + 2 + widths[keep] <= width:
        used += 2 + widths[keep]
        keep += 1
    lines = ["  ".join(h.ljust(widths[i]) for i, h in enumerate(headers[:keep])).rstrip()]
    for row in texts:
        lines.append("  ".join(c.ljust(widths[i]) for i, c in enumerate(row[:keep])).rstrip())
    if keep < len(headers):
        lines.append(f"({len(headers) - keep} more columns hidden: "
                     f"{', '.join(headers[keep:])}; use --columns or --format csv)")
    return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, _dt.datetime) else str(value)


def write_json(data: Any, out: IO[str]) -> None:
    json.dump(data, out, indent=2, default=_jsonable)
    out.write("\n")


def write_csv(headers: Sequence[str], rows: Iterable[Sequence[Any]], out: IO[str]) -> None:
    writer = csv.writer(out)
    writer.writerow(headers)
    for row in rows:
        writer.writerow(["" if v is None else v.isoformat() if isinstance(v, _dt.datetime)
                         else json.dumps(v) if isinstance(v, (dict, list)) else v for v in row])


def _metric_names(records: Sequence[Any]) -> list:
    return sorted({name for r in records for name in r.metrics})


def default_columns(records: Sequence[Any]) -> list:
    """What ``ls`` shows: identity, then the config entries that differ between the listed runs,
    then the last value of every metric."""
    columns = ["id", "experiment", "status", "start_time"]
    flat = [flatten(r.config) for r in records]
    keys = sorted({k for f in flat for k in f} - {"seed"})
    varying = [k for k in keys if len({json.dumps(f.get(k), sort_keys=True, default=str)
                                       for f in flat}) > 1]
    columns += [f"config.{k}" for k in varying]
    columns += [f"metrics.{name}" for name in _metric_names(records)]
    return columns


def all_columns(records: Sequence[Any]) -> list:
    """Every column for CSV exports: identity, times, result, tags, all config entries, metrics."""
    columns = ["id", "experiment", "status", "start_time", "stop_time", "host.hostname", "result",
               "tags"]
    keys = sorted({k for r in records for k in flatten(r.config)})
    metrics = [f"metrics.{n}" for n in _metric_names(records)]
    return columns + [f"config.{k}" for k in keys] + metrics
