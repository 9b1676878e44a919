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
    # labelled with the config values that differ; the best run (2) highlighted
    assert [line.get_label() for line in lines] == [
        "1 (augment=True, batch=32, layers=64,32)",
        "2 (augment=True, batch=64, layers=128) (best)",
        "7 (batch=32)",
    ]
    assert list(lines[1].get_ydata()) == [0.6, 0.95, 0.9]
    assert lines[1].get_linewidth() > lines[0].get_linewidth()
    path = save_figure(fig, tmp_path / "curves.png")
    assert path.read_bytes().startswith(PNG)


def test_bars_sorted_best_first(store: InMemoryStore) -> None:
    bars = metric_figure(store, "val.accuracy", kind="bars").axes[0].patches
    assert [round(b.get_height(), 3) for b in bars] == [0.9, 0.8, 0.7, 0.4, 0.1]
    low = metric_figure(store, "loss", kind="bars", minimize=True).axes[0].patches
    assert [round(b.get_height(), 3) for b in low] == [0.25, 0.3, 0.35, 0.6, 1.5, 2.0]
    # without --min a loss is still lower-is-better (from its name), and the title says so
    ax = metric_figure(store, "loss", kind="bars").axes[0]
    assert [round(b.get_height(), 3) for b in ax.patches] == [0.25, 0.3, 0.35, 0.6, 1.5, 2.0]
    assert "best first (lower is better)" in ax.get_title()


def test_best_so_far_is_one_monotone_line(store: InMemoryStore) -> None:
    ax = metric_figure(store, "loss", kind="best-so-far").axes[0]
    (line,) = ax.get_lines()
    assert list(line.get_ydata()) == [0.3, 0.25, 0.25, 0.25, 0.25, 0.25]
    assert len(ax.collections) == 1 and len(ax.collections[0].get_offsets()) == 6


def test_unlogged_metric_and_bad_kind_are_usage_errors(store: InMemoryStore) -> None:
    with pytest.raises(UsageError, match="has the key 'metrics.nothing'"):
        metric_figure(store, "nothing")
    with pytest.raises(
        UsageError,
        match="has the key 'metrics.val.acc' "
        r"\(did you mean 'metrics.val.accuracy'\?\)",
    ):
        metric_figure(store, "val.acc")
    with pytest.raises(UsageError, match="no chosen run logged the metric 'val.accuracy'"):
        metric_figure(store, "val.accuracy", runs=["4"])
    with pytest.raises(UsageError, match="unknown plot kind"):
        metric_figure(store, "loss", kind="pie")


def test_plot_command_writes_png(tmp_path: Path) -> None:
    path = tmp_path / "runs.json"
    path.write_text(json.dumps({"runs": sample_runs()}, default=str))
    out = tmp_path / "best.png"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "experimentkit",
            "-S",
            f"memory+json://{path}",
            "plot",
            "metrics.val.accuracy",
            "-o",
            str(out),
            "--kind",
            "best-so-far",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes().startswith(PNG) and out.stat().st_size > 1000


def _many_runs(n: int) -> InMemoryStore:
    specs = []
    for i in range(n):
        spec = sample_runs()[1]
        spec.update(id=str(i + 1), config={"lr": 0.01 * (i + 1), "batch": 32})
        spec["metrics"] = {
            "val.loss": {
                "steps": [0, 1, 2],
                "values": [1.0, 0.5, 0.5 - 0.01 * i],
                "timestamps": ["2024-01-02T10:00:00"] * 3,
            },
            "test.acc": {"steps": [0], "values": [0.90 + 0.002 * i], "timestamps": ["2024-01-02T10:00:00"]},
        }
        specs.append(spec)
    return InMemoryStore(specs)


def test_colours_stay_distinct_past_ten_runs_and_best_is_highlighted() -> None:
    store = _many_runs(14)
    notes: list = []
    lines = metric_figure(store, "val.loss", notes=notes).axes[0].get_lines()
    assert (
        len(
            {
                line.get_color() if isinstance(line.get_color(), str) else tuple(line.get_color())
                for line in lines
            }
        )
        == 14
    )
    best = [line for line in lines if line.get_label().endswith("(best)")]
    assert [line.get_label() for line in best] == ["14 (lr=0.14) (best)"]
    assert notes == ["val.loss: lower is better (from the name 'loss'; --max to override)"]


def test_metric_logged_once_switches_to_zoomed_labelled_bars() -> None:
    store = _many_runs(3)
    notes: list = []
    ax = metric_figure(store, "test.acc", notes=notes).axes[0]
    assert notes[-1] == "every chosen run logged 'test.acc' once: drawing bars instead of curves"
    assert [round(b.get_height(), 3) for b in ax.patches] == [0.904, 0.902, 0.9]
    low, high = ax.get_ylim()
    assert 0.85 < low < 0.9 and 0.904 < high < 0.95  # zoomed: 0.90 and 0.904 do not look equal
    assert [t.get_text() for t in ax.texts] == ["0.904", "0.902", "0.9"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["3 (lr=0.03)", "2 (lr=0.02)", "1 (lr=0.01)"]
    assert "axis zoomed" in ax.get_title()


def test_time_axis_format_follows_the_span(store: InMemoryStore) -> None:
    from matplotlib.dates import ConciseDateFormatter

    ax = metric_figure(store, "loss", kind="best-so-far").axes[0]
    assert isinstance(ax.xaxis.get_major_formatter(), ConciseDateFormatter)


def test_plot_command_prints_direction_and_refuses_missing_directory(tmp_path: Path) -> None:
    path = tmp_path / "runs.json"
    path.write_text(json.dumps({"runs": sample_runs()}, default=str))
    base = [sys.executable, "-m", "experimentkit", "-S", f"memory+json://{path}", "plot", "loss"]
    proc = subprocess.run(
        base + ["-o", str(tmp_path / "b.png"), "--kind", "bars", "--max"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "loss: higher is better (--max)" in proc.stderr
    proc = subprocess.run(
        base + ["-o", str(tmp_path / "nodir" / "b.png")], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"experimentkit: error: cannot write {tmp_path / 'nodir' / 'b.png'}: the directory "
        f"{tmp_path / 'nodir'} does not exist"
    ]
