"""Metric directions: recorded by real runs (``ex.metric_goal``, ``log_scalar(..., goal=)``) in
every backend, read back by ``store.metric_goal``; inferred from the name otherwise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from experimentkit import Experiment
from experimentkit.errors import UsageError
from experimentkit.query import open_store
from experimentkit.query.base import infer_goal

REPO = Path(__file__).resolve().parent.parent


def _experiment(observer: Any) -> Experiment:
    ex = Experiment("goals", interactive=True)
    ex.observers.append(observer)
    ex.metric_goal("score", "min")

    @ex.main
    def main(_run: Any) -> None:
        _run.log_scalar("score", 3.0)
        _run.log_scalar("top.hits", 0.5, goal="minimize")  # the name says max: recorded wins
        _run.log_scalar("val.loss", 0.2)

    return ex


def _observer_and_store(kind: str, tmp_path: Path) -> tuple:
    if kind == "file":
        from experimentkit.observers import FileStorageObserver

        return (FileStorageObserver(str(tmp_path / "runs")), lambda: open_store(tmp_path / "runs"))
    if kind == "sqlite":
        pytest.importorskip("sqlalchemy")
        from experimentkit.backends.sql.observer import SqlObserver

        url = f"sqlite:///{tmp_path / 'runs.db'}"
        return SqlObserver(url), lambda: open_store(url)
    mongomock = pytest.importorskip("mongomock")
    from experimentkit.backends.mongo.observer import MongoObserver
    from experimentkit.backends.mongo.store import MongoStore

    client = mongomock.MongoClient()
    return MongoObserver(client=client), lambda: MongoStore(client=client)


@pytest.mark.parametrize("kind", ["file", "sqlite", "mongomock", "postgres"])
def test_recorded_goals_are_stored_and_win(tmp_path: Path, kind: str) -> None:
    if kind == "postgres":
        from experimentkit.backends.sql.observer import SqlObserver
        from tests.dbutil import server_database

        with server_database("postgres", "ek_goals") as url:
            _experiment(SqlObserver(url)).run()
            with open_store(url) as store:
                _check(store)
        return
    observer, opener = _observer_and_store(kind, tmp_path)
    _experiment(observer).run()
    with opener() as store:
        _check(store)


def _check(store: Any) -> None:
    run = store.runs().first()
    assert run.info["metric_goals"] == {"min": ["score", "top.hits"]}
    assert store.metric_goal("score") == ("min", f"recorded by run {run.id}")
    assert store.metric_goal("top.hits") == ("min", f"recorded by run {run.id}")
    assert store.metric_goal("val.loss") == ("min", "from the name 'loss'")


def test_a_goal_is_min_or_max() -> None:
    ex = Experiment("bad", interactive=True)
    with pytest.raises(UsageError, match="a metric goal is 'min' .* or 'max' .*, not 'up'"):
        ex.metric_goal("x", "up")


@pytest.mark.parametrize(
    "name, expected",
    [
        ("val.loss", ("min", "loss")),
        ("train_error", ("min", "error")),
        ("test/ppl", ("min", "ppl")),
        ("rmse", ("min", "rmse")),
        ("val.accuracy", ("max", "accuracy")),
        ("f1", ("max", "f1")),
        ("episode_reward", ("max", "reward")),
        ("acc_error", ("min", "error")),
        ("lr", None),
        ("glossary", None),
    ],
)
def test_goal_inferred_from_whole_words(name: str, expected: Any) -> None:
    assert infer_goal(name) == expected


def test_loglevel_error_silences_config_warnings(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "examples" / "train.py"),
            "-l",
            "ERROR",
            "print_config",
            "with",
            "lr=1e-3x",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert "WARNING" not in done.stderr
    loud = subprocess.run(
        [sys.executable, str(REPO / "examples" / "train.py"), "print_config", "with", "lr=1e-3x"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert "lr" in loud.stderr  # without -l the same command does say something about lr
