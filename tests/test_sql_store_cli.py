"""The ``experimentkit`` command over a real SQLite store made by real runs of examples/train.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("sqlalchemy")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cli(store: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "experimentkit", "-S", store, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Three runs of the example: lr 0.01 and 0.03 pass the filter below, 0.5 does not."""
    url = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'runs.db'}"
    for lr, seed in ((0.01, 1), (0.03, 2), (0.5, 3)):
        done = subprocess.run(
            [sys.executable, "examples/train.py", "-s", url, "with", f"lr={lr}", f"seed={seed}", "epochs=5"],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]
    return url


def test_ls_filters_and_sorts_in_json(store):
    done = _cli(
        store, "ls", "--where", "config.lr < 0.05", "--sort=-metrics.val.accuracy", "--format", "json"
    )
    assert done.returncode == 0, done.stderr
    runs = json.loads(done.stdout)
    assert sorted(r["config"]["lr"] for r in runs) == [0.01, 0.03]
    accuracies = [r["metrics"]["val.accuracy"] for r in runs]
    assert accuracies == sorted(accuracies, reverse=True)
    assert all(r["status"] == "COMPLETED" and r["experiment"] == "logreg" for r in runs)


def test_show_best_tag_and_rows(store):
    best = json.loads(_cli(store, "best", "val.accuracy", "--format", "json").stdout)
    every = json.loads(_cli(store, "ls", "--format", "json").stdout)
    assert best["metrics"]["val.accuracy"] == max(r["metrics"]["val.accuracy"] for r in every)
    run_id = str(best["id"])

    shown = _cli(store, "show", run_id)
    assert shown.returncode == 0 and "val_predictions" in shown.stdout

    assert _cli(store, "tag", run_id, "best", "checked").returncode == 0
    tagged = json.loads(_cli(store, "ls", "--where", "tags contains best", "--format", "json").stdout)
    assert [str(r["id"]) for r in tagged] == [run_id] and tagged[0]["tags"] == ["best", "checked"]

    done = _cli(
        store,
        "rows",
        run_id,
        "val_predictions",
        "--sort",
        "prob",
        "--limit",
        "3",
        "--where",
        "label == 1",
        "--format",
        "json",
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert len(rows) == 3 and all(r["label"] == 1 for r in rows)
    assert [r["prob"] for r in rows] == sorted(r["prob"] for r in rows)


def test_bad_expression_is_one_line_exit_2(store):
    done = _cli(store, "ls", "--where", "confg.lr < 0.05")
    assert done.returncode == 2 and "config" in done.stderr and "Traceback" not in done.stderr
