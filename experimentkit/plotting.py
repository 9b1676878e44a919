"""Metric plots for ``experimentkit plot``: curves per run, best-so-far over time, and bars per run.

matplotlib is an optional extra, imported only when a plot is made, and figures are built without
pyplot (no GUI backend, no global figure state), so plotting works headless.  Each ``*_figure``
function returns the ``Figure`` so callers (and tests) can inspect its series before saving.

What the figures promise (a plot that misleads is worse than none):

* the direction used (lower or higher is better) is in the title of every ranking figure;
* colours come from a colormap sampled for the number of runs (distinct beyond 10), the best run
  is drawn thicker and last, and legends and bar labels show the config values that differ;
* bars are zoomed to the data (not from zero, which makes 0.93 and 0.95 look equal) and labelled
  with their values;
* a metric logged once per run is not drawn as invisible one-point curves: ``metric_figure``
  switches to bars and says so;
* time axes pick their tick format from the span (ConciseDateFormatter).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Optional, Union

from .errors import UsageError

__all__ = [
    "curves_figure",
    "best_so_far_figure",
    "bars_figure",
    "bars_multi_figure",
    "metric_figure",
    "save_figure",
    "run_labels",
    "KINDS",
]

KINDS = ("curves", "best-so-far", "bars", "bars-multi")
_LEGEND_MAX = 20  # above this many runs the legend names only the best one
_LABEL_KEYS = 3  # differing config entries shown per label


def _figure() -> tuple:
    try:
        import matplotlib
    except ImportError:
        raise UsageError("plotting needs matplotlib (pip install 'experimentkit[plot]')") from None
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 5.5), layout="constrained")
    return fig, fig.add_subplot()


def _colors(n: int) -> list:
    """``n`` distinct colours: tab10 up to 10, else viridis sampled ``n`` times."""
    from matplotlib import colormaps

    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    cmap = colormaps["viridis"]
    return [cmap(i / max(n - 1, 1)) for i in range(n)]


def run_labels(records: Sequence[Any]) -> dict:
    """``{id: "3 (lr=0.1, batch=32)"}``: each run's id and the config values that differ between
    ``records`` (at most three, seeds left out)."""
    from .cli.output import cell, flatten

    flat = {r.id: flatten(r.config) for r in records}
    keys = sorted({k for f in flat.values() for k in f} - {"seed"})
    differing = [
        k for k in keys if len({json.dumps(f.get(k), sort_keys=True, default=str) for f in flat.values()}) > 1
    ][:_LABEL_KEYS]
    labels = {}
    for run_id, values in flat.items():
        parts = [f"{k.rsplit('.', 1)[-1]}={cell(values[k])}" for k in differing if k in values]
        labels[run_id] = f"{run_id} ({', '.join(parts)})" if parts else str(run_id)
    return labels


def _direction(minimize: bool) -> str:
    return "lower is better" if minimize else "higher is better"


def _value(record: Any, metric: str) -> Optional[float]:
    summary = record.metrics.get(metric) or {}
    return summary.get("last")


def _number(record: Any, metric: str) -> Optional[float]:
    """The metric's last value when it is a real number (not a bool, not NaN): what can be ranked."""
    value = _value(record, metric)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
        return float(value)
    return None


def _best_id(records: Iterable[Any], metric: str, minimize: bool) -> Optional[str]:
    scored = [(v, r.id) for r in records if (v := _number(r, metric)) is not None]
    if not scored:
        return None
    return (min(scored) if minimize else max(scored, key=lambda p: p[0]))[1]


def curves_figure(
    series_by_run: Mapping[str, Any],
    metric: str,
    labels: Optional[Mapping[str, str]] = None,
    best: Optional[str] = None,
) -> Any:
    """One line per run: the metric's values over its steps (``series_by_run``: id → series).
    Short series get markers (a single point is otherwise invisible); ``best`` is highlighted."""
    fig, ax = _figure()
    labels = labels or {}
    colors = _colors(len(series_by_run))
    few = len(series_by_run) > _LEGEND_MAX
    for (run_id, series), color in zip(series_by_run.items(), colors):
        is_best = run_id == best
        label = labels.get(run_id, str(run_id)) + (" (best)" if is_best else "")
        ax.plot(
            series.steps,
            series.values,
            label=label if is_best or not few else "_nolegend_",
            color=color,
            marker="o" if len(series.values) <= 20 else None,
            markersize=4,
            linewidth=2.8 if is_best else 1.3,
            alpha=1.0 if is_best or best is None else 0.7,
            zorder=3 if is_best else 2,
        )
    ax.set_xlabel("step")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} per step" + (f" (best run {best} highlighted)" if best else ""))
    if series_by_run:
        ax.legend(
            title="run (differing config)",
            fontsize="small",
            ncols=2 if len(series_by_run) > 10 and not few else 1,
        )
    return fig


def best_so_far_figure(records: Iterable[Any], metric: str, minimize: bool = False) -> Any:
    """Is the project progressing?  Each run's final value at the time it ended (dots) and the best
    value reached so far across runs (one step line), against wall-clock time."""
    points = sorted(
        ((r.stop_time or r.heartbeat or r.start_time, _value(r, metric), r.id) for r in records),
        key=lambda p: (p[0] is None, p[0]),
    )
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
    ax.set_title(f"best {metric} so far ({_direction(minimize)})")
    ax.legend(fontsize="small")
    _time_axis(ax)
    return fig


def _time_axis(ax: Any) -> None:
    """Tick labels chosen by the span shown (years ... seconds), never ``02:48.000000``."""
    from matplotlib import dates

    locator = dates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator))


def bars_figure(
    records: Iterable[Any], metric: str, minimize: bool = False, labels: Optional[Mapping[str, str]] = None
) -> Any:
    """One bar per run with the metric's last value, best first, the axis zoomed to the values
    and each bar labelled with its value; the best bar is highlighted."""
    from .cli.output import cell

    pairs = sorted(
        ((r.id, v) for r in records if (v := _number(r, metric)) is not None),
        key=lambda p: p[1],
        reverse=not minimize,
    )
    labels = labels or {}
    fig, ax = _figure()
    values = [p[1] for p in pairs]
    colors = ["tab:orange" if i == 0 else "tab:blue" for i in range(len(pairs))]
    bars = ax.bar([labels.get(p[0], str(p[0])) for p in pairs], values, color=colors)
    ax.bar_label(bars, labels=[cell(float(v)) for v in values], padding=2, fontsize="small")
    if values:
        low, high = min(values), max(values)
        span = (high - low) or abs(high) * 0.1 or 1.0
        bottom = low - 0.15 * span
        if low >= 0 and bottom < 0:
            bottom = 0.0
        ax.set_ylim(bottom, high + 0.15 * span)
    ax.set_xlabel("run (differing config)")
    ax.set_ylabel(metric)
    ax.tick_params(axis="x", labelrotation=30)
    for tick in ax.get_xticklabels():
        tick.set_horizontalalignment("right")
    zoomed = values and ax.get_ylim()[0] != 0
    ax.set_title(
        f"{metric} per run, best first ({_direction(minimize)})"
        + (" - axis zoomed, not from 0" if zoomed else "")
    )
    return fig


def bars_multi_figure(
    records: Iterable[Any],
    metrics: Sequence[str],
    minimize: bool = False,
    labels: Optional[Mapping[str, str]] = None,
) -> Any:
    """Several metrics per run side by side (train vs validation error: the bias/variance view),
    the runs sorted by the first metric, best first; a run that lacks a metric has no bar for it.
    The axis starts at 0 so bars of different metrics compare by length."""
    from .cli.output import cell

    first = metrics[0]
    scored = [(v, r) for r in records if (v := _number(r, first)) is not None]
    ranked = [r for _, r in sorted(scored, key=lambda pair: pair[0], reverse=not minimize)]
    labels = labels or {}
    fig, ax = _figure()
    width = 0.8 / len(metrics)
    positions = range(len(ranked))
    for i, (metric, color) in enumerate(zip(metrics, _colors(len(metrics)))):
        xs, values = [], []
        for x, record in zip(positions, ranked):
            value = _value(record, metric)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
                xs.append(x + (i - (len(metrics) - 1) / 2) * width)
                values.append(value)
        bars = ax.bar(xs, values, width=width, label=metric, color=color)
        if len(ranked) <= 30:
            ax.bar_label(bars, labels=[cell(float(v)) for v in values], padding=2, fontsize="x-small")
    ax.set_xticks(list(positions), [labels.get(r.id, str(r.id)) for r in ranked])
    ax.tick_params(axis="x", labelrotation=30)
    for tick in ax.get_xticklabels():
        tick.set_horizontalalignment("right")
    ax.set_xlabel("run (differing config)")
    ax.set_ylabel(", ".join(metrics))
    ax.set_title(f"{', '.join(metrics)} per run, sorted by {first} ({_direction(minimize)})")
    ax.legend(fontsize="small")
    return fig


def metric_figure(
    store: Any,
    metric: str,
    kind: str = "curves",
    runs: Sequence[Any] = (),
    where: Sequence[Any] = (),
    minimize: Optional[bool] = None,
    notes: Optional[list] = None,
    also: Sequence[str] = (),
) -> Any:
    """Build the ``kind`` of figure for ``metric`` over the chosen runs (ids, or all matching
    ``where``).  ``minimize=None`` uses the metric's direction (``store.metric_goal``).  Lines for
    the user (the direction used, a switch to bars) are appended to ``notes``.  A metric no chosen
    run logged is a usage error.  ``also``: the other metrics of ``bars-multi``."""
    if kind not in KINDS:
        raise UsageError(f"unknown plot kind '{kind}'; use one of: {', '.join(KINDS)}")
    notes = notes if notes is not None else []
    chosen = [store.get(i) for i in runs] if runs else store.runs().where(*where).all()
    if also and kind != "bars-multi":
        raise UsageError("--also goes with --kind bars-multi")
    records = [r for r in chosen if metric in r.metrics]
    for name in [metric, *also]:
        if not any(name in r.metrics for r in chosen):
            from .query.base import parse_key

            key = parse_key(f"metrics.{name}.last")
            if not store.has_key(key):
                raise store.unknown_key(key)
            raise UsageError(f"no chosen run logged the metric '{name}'")
    minimize, note = store.goal_note(metric, minimize)
    notes.append(note)
    labels = run_labels(records)
    if kind == "curves" and all((r.metrics[metric].get("count") or 0) <= 1 for r in records):
        notes.append(f"every chosen run logged '{metric}' once: drawing bars instead of curves")
        kind = "bars"
    if kind == "curves":
        best = _best_id(records, metric, minimize)
        return curves_figure({r.id: r.metric(metric) for r in records}, metric, labels, best)
    if kind == "bars":
        return bars_figure(records, metric, minimize, labels)
    if kind == "bars-multi":
        shown = [metric, *(m for m in dict.fromkeys(also) if m != metric)]
        return bars_multi_figure(records, shown, minimize, labels)
    return best_so_far_figure(records, metric, minimize)


def save_figure(fig: Any, path: Union[str, os.PathLike]) -> Path:
    """Write the figure (format from the file extension, PNG by default); a missing directory is a
    usage error."""
    path = Path(path)
    if not path.parent.is_dir():
        raise UsageError(f"cannot write {path}: the directory {path.parent} does not exist")
    fig.savefig(path, dpi=100, format=path.suffix[1:] or "png")
    return path
