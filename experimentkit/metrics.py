"""Metric entries and their grouping into the ``metrics_by_name`` shape observers receive."""
from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from typing import Any, NamedTuple

__all__ = ["ScalarMetricLogEntry", "linearize_metrics"]


class ScalarMetricLogEntry(NamedTuple):
    """One logged point (same fields as Sacred's, so observer tests built on it keep working)."""

    name: str
    step: Any
    timestamp: _dt.datetime
    value: Any


def linearize_metrics(entries: Iterable[ScalarMetricLogEntry]) -> dict:
    """Group entries by name into ``{name: {"name", "steps", "values", "timestamps"}}``, keeping order."""
    out: dict = {}
    for entry in entries:
        group = out.get(entry.name)
        if group is None:
            group = out[entry.name] = {"name": entry.name, "steps": [], "values": [], "timestamps": []}
        group["steps"].append(entry.step)
        group["values"].append(entry.value)
        group["timestamps"].append(entry.timestamp)
    return out
