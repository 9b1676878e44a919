"""Inline SVG charts for the dashboard, written by hand so that no plotting library is needed.

Charts are small strings embedded in the page (no separate requests, nothing for the Content
Security Policy to allow).  Every text that reaches the SVG goes through ``html.escape``; values that
are missing or not finite (None, NaN, inf) are left out rather than breaking the scale.
"""
from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Sequence
from html import escape
from typing import Any, Optional

__all__ = ["line_chart", "progress_chart", "finite_points", "best_so_far", "MAX_POINTS"]

#: Series longer than this are thinned (evenly, keeping the last point) before drawing.
MAX_POINTS = 800
_PAD_LEFT, _PAD_RIGHT, _PAD_TOP, _PAD_BOTTOM = 56, 10, 10, 22


def _number(value: Any) -> Optional[float]:
    """A finite float for plotting, or None (bools, strings and NaN are not plottable)."""
    if isinstance(value, _dt.datetime):
        return value.replace(tzinfo=_dt.timezone.utc).timestamp()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def finite_points(xs: Sequence[Any], ys: Sequence[Any]) -> list:
    """``(x, y)`` float pairs of the plottable points, thinned to at most ``MAX_POINTS``."""
    points = [(x, y) for x, y in ((_number(a), _number(b)) for a, b in zip(xs, ys))
              if x is not None and y is not None]
    if len(points) > MAX_POINTS:
        stride = len(points) / MAX_POINTS
        points = [points[int(i * stride)] for i in range(MAX_POINTS - 1)] + [points[-1]]
    return points


def best_so_far(values: Sequence[float], minimize: bool = False) -> list:
    """The running best of ``values`` (max, or min when ``minimize``)."""
    best: list = []
    for value in values:
        better = not best or (value < best[-1] if minimize else value > best[-1])
        best.append(value if better else best[-1])
    return best


class _Scale:
    """Maps data coordinates into the plot box (y grows downwards in SVG)."""

    def __init__(self, points: Sequence[tuple], width: int, height: int):
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        self.x0, self.x1 = min(xs), max(xs)
        self.y0, self.y1 = min(ys), max(ys)
        self.left, self.right = _PAD_LEFT, width - _PAD_RIGHT
        self.top, self.bottom = _PAD_TOP, height - _PAD_BOTTOM

    def x(self, value: float) -> float:
        if self.x1 == self.x0:
            return (self.left + self.right) / 2
        return self.left + (value - self.x0) / (self.x1 - self.x0) * (self.right - self.left)

    def y(self, value: float) -> float:
        if self.y1 == self.y0:
            return (self.top + self.bottom) / 2
        return self.bottom - (value - self.y0) / (self.y1 - self.y0) * (self.bottom - self.top)


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _frame(scale: _Scale, width: int, height: int, label: str, x_labels: tuple) -> list:
    """Open the SVG with its axes box and the min/max labels of both axes."""
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}"><title>{escape(label)}</title>',
        f'<rect x="{scale.left}" y="{scale.top}" width="{scale.right - scale.left}" '
        f'height="{scale.bottom - scale.top}" fill="none" stroke="#ccc"/>',
        f'<text x="{scale.left - 4}" y="{scale.top + 9}" text-anchor="end">'
        f'{escape(_fmt(scale.y1))}</text>',
        f'<text x="{scale.left - 4}" y="{scale.bottom}" text-anchor="end">'
        f'{escape(_fmt(scale.y0))}</text>',
        f'<text x="{scale.left}" y="{height - 6}">{escape(x_labels[0])}</text>',
        f'<text x="{scale.right}" y="{height - 6}" text-anchor="end">{escape(x_labels[1])}</text>',
    ]


def _empty(width: int, height: int, label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" '
            f'height="{height}" role="img" aria-label="{escape(label)}">'
            f'<text x="8" y="{height // 2}">no plottable values</text></svg>')


def line_chart(xs: Sequence[Any], ys: Sequence[Any], label: str, width: int = 360,
               height: int = 130) -> str:
    """One series as a polyline scaled to the box (steps on x, values on y)."""
    points = finite_points(xs, ys)
    if not points:
        return _empty(width, height, label)
    scale = _Scale(points, width, height)
    parts = _frame(scale, width, height, label, (_fmt(scale.x0), _fmt(scale.x1)))
    if len(points) == 1:
        parts.append(f'<circle cx="{scale.x(points[0][0]):.1f}" cy="{scale.y(points[0][1]):.1f}" '
                     f'r="3" fill="#1f6feb"/>')
    else:
        coords = " ".join(f"{scale.x(x):.1f},{scale.y(y):.1f}" for x, y in points)
        parts.append(f'<polyline fill="none" stroke="#1f6feb" stroke-width="1.5" '
                     f'points="{coords}"/>')
    parts.append("</svg>")
    return "".join(parts)


def progress_chart(points: Sequence[tuple], label: str, minimize: bool = False,
                   width: int = 720, height: int = 260) -> str:
    """Best value so far against wall-clock time.

    ``points`` are ``(time, value, run_id, href)`` sorted by time; each run is a dot linking to its
    page (with the id as tooltip) and the running best is a step line.
    """
    usable = [(_number(t), _number(v), run_id, href) for t, v, run_id, href in points]
    usable = [p for p in usable if p[0] is not None and p[1] is not None]
    if not usable:
        return _empty(width, height, label)
    scale = _Scale([(p[0], p[1]) for p in usable], width, height)
    stamps = [_dt.datetime.fromtimestamp(p[0], _dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
              for p in (usable[0], usable[-1])]
    parts = _frame(scale, width, height, label, tuple(stamps))
    best = best_so_far([p[1] for p in usable], minimize)
    first_x, first_y = usable[0][0], best[0]
    path = [f"M{scale.x(first_x):.1f},{scale.y(first_y):.1f}"]
    for (x, _, _, _), value in zip(usable[1:], best[1:]):
        path.append(f"H{scale.x(x):.1f} V{scale.y(value):.1f}")
    path.append(f"H{scale.right:.1f}")
    parts.append(f'<path fill="none" stroke="#1a7f37" stroke-width="2" d="{" ".join(path)}"/>')
    for x, y, run_id, href in usable:
        parts.append(f'<a href="{escape(href)}"><circle cx="{scale.x(x):.1f}" '
                     f'cy="{scale.y(y):.1f}" r="3.5" fill="#1f6feb" fill-opacity="0.6">'
                     f'<title>run {escape(str(run_id))}: {escape(_fmt(y))}</title></circle></a>')
    parts.append("</svg>")
    return "".join(parts)
