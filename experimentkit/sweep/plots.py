"""Sweep plots (``experimentkit plot --sweep ID METRIC --kind params``): the metric against each
swept parameter (one panel each) and a parallel-coordinates chart of all of them, as one PNG.

Kept apart from :mod:`experimentkit.plotting`; matplotlib is imported only here, when a plot is
made.
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import UsageError

__all__ = ["params_figure", "plot_sweep_command"]


def _numeric_axis(values: list) -> tuple:
    """Numbers stay numbers (log scale when they span decades); anything else becomes categories."""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        positive = [v for v in values if v > 0]
        log = len(positive) == len(values) and positive and max(positive) / min(positive) >= 100
        return [float(v) for v in values], log, None
    labels = list(dict.fromkeys(str(v) for v in values))
    return [labels.index(str(v)) for v in values], False, labels


def params_figure(rows: list, keys: list, metric: str) -> Any:
    """``rows``: ``(values_dict, metric_value)`` of every run with the metric."""
    try:
        import matplotlib
    except ImportError:
        raise UsageError("plotting needs matplotlib (pip install 'experimentkit[plot]')") from None
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    columns = max(1, len(keys))
    fig = Figure(figsize=(4 * columns + 1, 8), layout="constrained")
    grid = fig.add_gridspec(2, columns)
    metrics = [m for _, m in rows]
    for i, key in enumerate(keys):
        ax = fig.add_subplot(grid[0, i])
        xs, log, labels = _numeric_axis([v.get(key) for v, _ in rows])
        ax.scatter(xs, metrics)
        if log:
            ax.set_xscale("log")
        if labels:
            ax.set_xticks(range(len(labels)), labels)
        ax.set_xlabel(key)
        ax.set_ylabel(metric)
    ax = fig.add_subplot(grid[1, :])
    dims = keys + [metric]
    scaled = []
    for dim in dims:
        raw = metrics if dim == metric else [v.get(dim) for v, _ in rows]
        xs, log, _ = _numeric_axis(raw)
        if log:
            xs = [math.log10(x) for x in xs]
        low, high = min(xs), max(xs)
        scaled.append([(x - low) / (high - low) if high > low else 0.5 for x in xs])
    low, high = min(metrics), max(metrics)
    cmap = matplotlib.colormaps["viridis"]
    for r in range(len(rows)):
        shade = (metrics[r] - low) / (high - low) if high > low else 0.5
        ax.plot(range(len(dims)), [scaled[d][r] for d in range(len(dims))], color=cmap(shade), alpha=0.8)
    ax.set_xticks(range(len(dims)), dims)
    ax.set_yticks([])
    ax.set_title(f"parallel coordinates (colour: {metric})")
    return fig


def plot_sweep_command(args: Any, store: Any, metric: str) -> int:
    """``experimentkit plot --sweep ID METRIC --kind params -o FILE.png``."""
    from ..plotting import save_figure
    from .records import open_book

    if args.sweep is None:
        raise UsageError("--kind params plots a sweep: give --sweep ID")
    if args.kind != "params":
        raise UsageError("with --sweep, use --kind params")
    book = open_book(args.store_target)
    try:
        record = book.get(args.sweep)
    finally:
        book.close()
    tasks = {t["index"]: t for t in record.get("tasks") or []}
    keys = []
    for task in tasks.values():
        keys += [k for k in task.get("values") or {} if k not in keys]
    rows = []
    seen_metrics: set = set()
    for run in store.runs().where(**{"meta.sweep.id": record["id"]}).all():
        seen_metrics |= set(run.metrics)
        value = (run.metrics.get(metric) or {}).get("last")
        task = tasks.get((run.meta.get("sweep") or {}).get("index"))
        if task is not None and isinstance(value, (int, float)):
            rows.append((task.get("values") or {}, value))
    if not rows:
        from ..errors import suggest

        raise UsageError(
            f"no run of sweep {record['id']} logged the metric '{metric}'"
            f"{suggest(metric, sorted(seen_metrics))}"
        )
    path = save_figure(params_figure(rows, keys, metric), args.output)
    print(f"wrote {path}")
    return 0
