"""Rendering runs and rows as terminal tables, JSON and CSV."""

from __future__ import annotations

import csv
import datetime as _dt
import json
import math
import shutil
from collections.abc import Iterable, Sequence
from typing import IO, Any, Optional

from ..query.base import parse_key
from ..query.semantics import resolve

__all__ = [
    "flatten",
    "cell",
    "render_table",
    "write_json",
    "write_csv",
    "run_value",
    "default_columns",
    "required_columns",
    "all_columns",
    "human_float",
    "human_duration",
]

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
    """The value of a key for a run (the ``ls`` column ``column``; ``duration`` too)."""
    if column == "duration":
        return record.duration
    return resolve(record, parse_key(column))


def human_float(value: float) -> str:
    """4 significant digits without trailing zeros (0.93, 0.001234, 123.5), thousands grouped
    (12,346), and exponents only for the very large or small (1.23e+06, 4.5e-05)."""
    if math.isnan(value) or math.isinf(value):
        return str(value)
    size = abs(value)
    if size == 0:
        return "0"
    if size >= 1e6 or size < 1e-3:
        return f"{value:.3g}"
    if size >= 1000:
        return f"{value:,.0f}"
    decimals = max(0, 4 - (math.floor(math.log10(size)) + 1))
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def human_duration(value: _dt.timedelta) -> str:
    """``2d 03h``, ``1h 02m``, ``3m 05s``, ``12.3s``, ``0.25s``, ``7.5ms``, ``40µs``."""
    seconds = value.total_seconds()
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    if seconds < 1e-3:
        return f"{sign}{seconds * 1e6:.3g}µs"
    if seconds < 0.1:
        return f"{sign}{seconds * 1e3:.3g}ms"
    if seconds < 60:
        return f"{sign}{seconds:.3g}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{sign}{days}d {hours:02d}h"
    if hours:
        return f"{sign}{hours}h {minutes:02d}m"
    return f"{sign}{minutes}m {secs:02d}s"


def cell(value: Any) -> str:
    """Short human text for a value in a table."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return human_float(value)
    if isinstance(value, _dt.timedelta):
        return human_duration(value)
    if isinstance(value, _dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return ",".join(cell(v) for v in value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value)


def _clip(text: str, width: int) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def render_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    width: Optional[int] = None,
    required: Iterable[str] = (),
) -> str:
    """Left-aligned columns separated by two spaces.  The first column and the ``required`` ones
    always stay; the others are kept from the left while they fit the terminal width, and a last
    line names the ones hidden.  Long cells are clipped."""
    width = width or shutil.get_terminal_size((100, 24)).columns
    texts = [[_clip(cell(v), _MAX_CELL) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in texts]) for i, h in enumerate(headers)]
    must = {0} | {i for i, h in enumerate(headers) if h in set(required)}
    used = sum(widths[i] + 2 for i in must) - 2
    kept = set(must)
    for i in range(len(headers)):
        if i not in kept and used + 2 + widths[i] <= width:
            kept.add(i)
            used += 2 + widths[i]
    order = sorted(kept)
    lines = ["  ".join(headers[i].ljust(widths[i]) for i in order).rstrip()]
    for row in texts:
        lines.append("  ".join(row[i].ljust(widths[i]) for i in order).rstrip())
    hidden = [h for i, h in enumerate(headers) if i not in kept]
    if hidden:
        lines.append(
            f"({len(hidden)} more column{'s' if len(hidden) > 1 else ''} hidden: "
            f"{', '.join(hidden)}; widen the terminal, use --columns or --format csv)"
        )
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
        writer.writerow(
            [
                ""
                if v is None
                else v.isoformat()
                if isinstance(v, _dt.datetime)
                else json.dumps(v)
                if isinstance(v, (dict, list))
                else v
                for v in row
            ]
        )


def _metric_names(records: Sequence[Any]) -> list:
    return sorted({name for r in records for name in r.metrics})


def default_columns(records: Sequence[Any], sort_keys: Sequence[str] = ()) -> list:
    """What ``ls`` shows: id, status and the sort keys, then experiment, start time and duration,
    the config entries that differ between the listed runs, the last value of every metric, and
    tags (and notes, when a run has one).  ``required_columns`` says which must never be hidden."""
    columns = ["id", "experiment", "status", *sort_keys, "start_time", "duration"]
    flat = [flatten(r.config) for r in records]
    keys = sorted({k for f in flat for k in f} - {"seed"})
    varying = [k for k in keys if len({json.dumps(f.get(k), sort_keys=True, default=str) for f in flat}) > 1]
    columns += [f"config.{k}" for k in varying]
    columns += [f"metrics.{name}" for name in _metric_names(records)]
    columns += ["tags"] + (["notes"] if any(r.notes for r in records) else [])
    return list(dict.fromkeys(columns))


def required_columns(sort_keys: Sequence[str] = ()) -> list:
    """The ``ls`` columns never hidden for width: id, status, the sort keys and tags."""
    return ["id", "status", *sort_keys, "tags"]


def all_columns(records: Sequence[Any]) -> list:
    """Every column for CSV exports: identity, times, result, tags, all config entries, metrics."""
    columns = ["id", "experiment", "status", "start_time", "stop_time", "host.hostname", "result", "tags"]
    keys = sorted({k for r in records for k in flatten(r.config)})
    metrics = [f"metrics.{n}" for n in _metric_names(records)]
    return columns + [f"config.{k}" for k in keys] + metrics
