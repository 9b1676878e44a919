"""Metric plots: real PNG files, and the expected number of series in each kind of figure."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from store_conformance import sample_runs

from experimentkit.errors import UsageError
from experimentkit.plotting import metric_figure, save_figure
from experimentkit.query.memory import InMemoryStore

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def store() -> InMemoryStore:
    return InMemoryStore(sample_runs())


def test_curves_one_line_per_run(store: InMemoryStore, tmp_path: Path) -> None:
    fig = metric_figure(store, "val.accuracy", kind="curves", runs=["1", "2", "7"])
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["1", "2", "7"]
    assert list(lines[1].get_ydata()) == [0.6, 0.95, 0.9]
    path = save_figure(fig, tmp_path / "curves.png")
    assert path.read_bytes().startswith(PNG)


def test_bars_sorted_best_first(store: InMemoryStore) -> None:
    bars = metric_figure(store, "val.accuracy", kind="bars").axes[0].patches
    assert [round(b.get_height(), 3) for b in bars] == [0.9, 0.8, 0.7, 0.4, 0.1]
    low = metric_figure(store, "loss", kind="bars", minimize=True).axes[0].patches
    assert [round(b.get_height(), 3) for b in low] == [0.25, 0.3, 0.35, 0.6, 1.5, 2.0]


def test_best_so_far_is_one_monotone_line(store: InMemoryStore) -> None:
    ax = metric_figure(store, "loss", kind="best-so-far", minimize=True).axes[0]
    (line,) = ax.get_lines()
    assert list(line.get_ydata()) == [0.3, 0.25, 0.25, 0.25, 0.25, 0.25]
    assert len(ax.collections) == 1 and len(ax.collections[0].get_offsets()) == 6


def test_unlogged_metric_and_bad_kind_are_usage_errors(store: InMemoryStore) -> None:
    with pytest.raises(UsageError, match="no chosen run"):
        metric_figure(store, "nothing")
    with pytest.raises(UsageError, match="unknown plot kind"):
        metric_figure(store, "loss", kind="pie")


def test_plot_command_writes_png(tmp_path: Path) -> None:
    path = tmp_path / "runs.json"
    path.write_text(json.dumps({"runs": sample_runs()}, default=str))
    out = tmp_path / "best.png"
    proc = subprocess.run(
        [sys.executable, "-m", "experimentkit", "-S", f"memory+json://{path}", "plot",
         "metrics.val.accuracy", "-o", str(out), "--kind", "best-so-far"],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes().startswith(PNG) and out.stat().st_size > 1000
