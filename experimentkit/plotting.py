"""Metric plots for ``experimentkit plot``: curves per run, best-so-far over time, and bars per run.

matplotlib is an optional extra, imported only when a plot is made, and figures are built without
pyplot (no GUI backend, no global figure state), so plotting works headless.  Each ``*_figure``
function returns the ``Figure`` so callers (and tests) can inspect its series before saving.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Optional, Union

from .errors import UsageError

__all__ = ["curves_figure", "best_so_far_figure", "bars_figure", "metric_figure", "save_figure",
           "KINDS"]

KINDS = ("curves", "best-so-far", "bars")


def _figure() -> tuple:
    try:
        import matplotlib
    except ImportError:
        raise UsageError("plotting needs matplotlib (pip install 'experimentkit[plot]')") from None
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5), layout="constrained")
    return fig, fig.add_subplot()


def curves_figure(series_by_run: Mapping[str, Any], metric: str) -> Any:
    """One line per run: the metric's values over its steps (``series_by_run``: label → series)."""
    fig, ax = _figure()
    for label, series in series_by_run.items():
        ax.plot(series.steps, series.values, label=label)
    ax.set_xlabel("step")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} per step")
    if series_by_run:
        ax.legend(title="run", fontsize="small")
    return fig


def _value(record: Any, metric: str) -> Optional[float]:
    summary = record.metrics.get(metric) or {}
    return summary.get("last")


def best_so_far_figure(records: Iterable[Any], metric: str, minimize: bool = False) -> Any:
    """Is the project progressing?  Each run's final value at the time it ended (dots) and the best
    value reached so far across runs (one step line), against wall-clock time."""
    points = sorted(((r.stop_time or r.heartbeat or r.start_time, _value(r, metric), r.id)
                     for r in records), key=lambda p: (p[0] is None, p[0]))
    points = [p for p in points if p[0] is not None and p[1] is not None]
    fig, ax = _figure()
    best: list = []
    for _, value, _ in points:
        better = not best or (value < best[-1] if minimize else value > best[-1])
        best.append(value if better else best[-1])
    times = [p[0] for p in points]
    ax.scatter(times, [p[1] for p in points], s=14, alpha=0.5, label="run")
    ax.step(times, best, where="post", label="best so far")
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel(metric)
    ax.set_title(f"best {metric} so far ({'lower' if minimize else 'higher'} is better)")
    ax.legend(fontsize="small")
    fig.autofmt_xdate()
    return fig


def bars_figure(records: Iterable[Any], metric: str, minimize: bool = False) -> Any:
    """One bar per run with the metric's last value, best first."""
    pairs = [(r.id, _value(r, metric)) for r in records]
    pairs = sorted((p for p in pairs if p[1] is not None), key=lambda p: p[1],
                   reverse=not minimize)
    fig, ax = _figure()
    ax.bar([str(p[0]) for p in pairs], [p[1] for p in pairs])
    ax.set_xlabel("run")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} per run (best first)")
    return fig


def metric_figure(store: Any, metric: str, kind: str = "curves", runs: Sequence[Any] = (),
                  where: Sequence[Any] = (), minimize: bool = False) -> Any:
    """Build the ``kind`` of figure for ``metric`` over the chosen runs (ids, or all matching
    ``where``); a metric no chosen run logged is a usage error."""
    if kind not in KINDS:
        raise UsageError(f"unknown plot kind '{kind}'; use one of: {', '.join(KINDS)}")
    chosen = [store.get(i) for i in runs] if runs else store.runs().where(*where).all()
    records = [r for r in chosen if metric in r.metrics]
    if not records:
        raise UsageError(f"no chosen run logged the metric '{metric}'")
    if kind == "curves":
        return curves_figure({r.id: r.metric(metric) for r in records}, metric)
    if kind == "bars":
        return bars_figure(records, metric, minimize)
    return best_so_far_figure(records, metric, minimize)


def save_figure(fig: Any, path: Union[str, os.PathLike]) -> Path:
    """Write the figure (format from the file extension, PNG by default)."""
    path = Path(path)
    fig.savefig(path, dpi=100, format=path.suffix[1:] or "png")
    return path
