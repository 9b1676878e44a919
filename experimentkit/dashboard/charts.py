"""Chart data for the dashboard: metric series downsampled on the server, as JSON for the browser.

A metric may hold millions of points; a browser needs about two per horizontal pixel.  Series are
reduced here with min/max per bucket (the first, lowest, highest and last point of every bucket, in
order), which keeps every spike a line chart would show, so a run page stays small whatever was
logged.  The browser side (``static/dashboard.js``) draws the JSON with uPlot.

Values that are missing or not finite (None, NaN, inf) are left out; times are seconds since the
epoch (UTC).
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

__all__ = ["downsample", "series_json", "best_so_far", "number", "BUCKETS"]

#: Buckets per series: each keeps at most 4 points, so a chart gets at most ``4 * BUCKETS`` points.
BUCKETS = 500
_EPOCH = _dt.datetime(1970, 1, 1)


def number(value: Any) -> Optional[float]:
    """A finite float for plotting, or None (bools, strings and NaN are not plottable)."""
    if isinstance(value, _dt.datetime):
        return (value.replace(tzinfo=None) - _EPOCH).total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _floats(values: Sequence[Any]) -> np.ndarray:
    """Floats with NaN for what cannot be plotted; numbers and None take the fast path."""
    if values and isinstance(values[0], _dt.datetime):
        try:
            stamps = np.array(values, dtype="datetime64[us]")
            return (stamps - np.datetime64(_EPOCH, "us")).astype(float) / 1e6
        except (TypeError, ValueError):
            pass
    try:
        array = np.array(values, dtype=float)
        if array.ndim == 1 and not any(isinstance(v, bool) for v in values[:1]):
            array[~np.isfinite(array)] = np.nan
            return array
    except (TypeError, ValueError):
        pass
    slow = [number(v) for v in values]
    return np.array([np.nan if v is None else v for v in slow], dtype=float)


def downsample(n: int, values: np.ndarray, buckets: int = BUCKETS) -> np.ndarray:
    """Indices of the points to keep out of ``n``: all of them when few, else the first, the lowest,
    the highest and the last point of each of ``buckets`` equal slices (sorted, no repeats)."""
    if n <= 4 * buckets:
        return np.arange(n)
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    starts, ends = edges[:-1], edges[1:] - 1
    lows = np.minimum.reduceat(values, starts)
    highs = np.maximum.reduceat(values, starts)
    bucket_of = np.repeat(np.arange(buckets), np.diff(edges))
    index = np.arange(n)
    # The first index in each bucket where the value equals the bucket's low / high.
    big = np.iinfo(np.int64).max
    low_at = np.full(buckets, big)
    high_at = np.full(buckets, big)
    np.minimum.at(low_at, bucket_of[values == lows[bucket_of]], index[values == lows[bucket_of]])
    np.minimum.at(high_at, bucket_of[values == highs[bucket_of]], index[values == highs[bucket_of]])
    keep = np.concatenate([starts, ends, low_at[low_at != big], high_at[high_at != big]])
    return np.unique(keep)


def series_json(series: Any, buckets: int = BUCKETS) -> dict:
    """One ``MetricSeries`` as ``{"name", "count", "step", "time", "value"}`` lists, downsampled;
    ``count`` is the number of plottable points before downsampling."""
    # A series that keeps its columns as stored text has them parsed in C (no list of 10^6 points)
    parsed = series.parsed_columns() if hasattr(series, "parsed_columns") else {}
    values = parsed.get("values")
    values = _floats(series.values) if values is None else np.where(np.isfinite(values), values, np.nan)
    steps = parsed.get("steps")
    if steps is not None:
        steps = steps.astype(float)
    elif len(series.steps) == len(values):
        steps = _floats(series.steps)
    else:
        steps = np.arange(len(values), dtype=float)
    finite = np.flatnonzero(np.isfinite(values) & np.isfinite(steps))
    keep = finite[downsample(len(finite), values[finite], buckets)]
    # Times are converted only for the points kept (turning 10^6 datetimes into floats is slow).
    stamps = parsed.get("timestamps")
    if stamps is not None and len(stamps) == len(values):
        times = (stamps[keep] - np.datetime64(_EPOCH, "us")).astype(float) / 1e6
    elif stamps is None and len(series.timestamps) == len(values):
        times = _floats([series.timestamps[i] for i in keep.tolist()])
    else:
        times = np.full(len(keep), np.nan)

    def out(array: np.ndarray) -> list:
        return [None if not math.isfinite(v) else round(v, 6) for v in array.tolist()]

    return {
        "name": series.name,
        "count": len(finite),
        "step": out(steps[keep]),
        "time": out(times),
        "value": [float(f"{v:.7g}") for v in values[keep].tolist()],
    }


def best_so_far(values: Sequence[float], minimize: bool = False) -> list:
    """The running best of ``values`` (max, or min when ``minimize``)."""
    best: list = []
    for value in values:
        better = not best or (value < best[-1] if minimize else value > best[-1])
        best.append(value if better else best[-1])
    return best
