"""Metric entries and their grouping into the ``metrics_by_name`` shape observers receive."""

from __future__ import annotations

import datetime as _dt
from collections import deque
from collections.abc import Iterable
from typing import Any, NamedTuple

__all__ = ["ScalarMetricLogEntry", "linearize_metrics", "MetricsLogger"]


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


class MetricsLogger:
    """Collects ``log_scalar_metric`` calls until an observer reads them (Sacred's ``_run._metrics``).

    Steps count per metric from 0 unless given; numpy scalars become Python numbers on the way in.
    """

    def __init__(self) -> None:
        self._entries: deque = deque()
        self._last_step: dict = {}

    def log_scalar_metric(self, metric_name: str, value: Any, step: Any = None) -> None:
        """Record one point of ``metric_name``."""
        value, step = _python_number(value), _python_number(step)
        if step is None:
            step = self._last_step.get(metric_name, -1) + 1
        self._last_step[metric_name] = step
        self._entries.append(ScalarMetricLogEntry(metric_name, step, _dt.datetime.utcnow(), value))

    def get_last_metrics(self) -> list:
        """Every entry logged since the previous call, oldest first."""
        taken = []
        for _ in range(len(self._entries)):
            taken.append(self._entries.popleft())
        return taken


def _python_number(value: Any) -> Any:
    if type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    return value
