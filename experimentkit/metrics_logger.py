"""Sacred's ``sacred.metrics_logger``.  The code lives in :mod:`experimentkit.metrics`."""

from __future__ import annotations

from .metrics import (  # noqa: F401 - re-exported under Sacred's module path
    MetricsLogger,
    ScalarMetricLogEntry,
    linearize_metrics,
)

__all__ = ["MetricsLogger", "ScalarMetricLogEntry", "linearize_metrics"]
