"""The read side tells the truth, through the ``experimentkit`` command, on every backend: no
silent empty answers (unknown keys, statuses, columns, negative limits are one-line errors with
the closest names, exit 2), metric directions, resources and artifacts, and ``ls`` columns.

The stores are filled by the real observers (file storage, SQLite, PostgreSQL when
``EXPERIMENTKIT_TEST_POSTGRES`` is set, and MongoDB through mongomock, whose in-process client the
command is handed by replacing ``open_store``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from store_conformance import RESOURCE_MD5, emit_events, sample_runs

from experimentkit.cli.main import main

REPO = Path(__file__).resolve().parent.parent
KINDS = ["file", "sqlite", "postgres", "mongomock"]


def _fill(observer_factory: Any, work: Path) -> None:
    for spec in sample_runs():
        emit_events(observer_factory(), spec, work)


@pytest.fixture(scope="module", params=KINDS)
def target(request: Any, tmp_path_factory: Any) -> Any:
    """``(store argument, factory or None)``: the factory opens the store in process (mongomock)."""
    kind = request.param
    work = tmp_path_factory.mktemp(kind)
    if kind == "file":
        from experimentkit.observers import FileStorageObserver

        _fill(lambda: FileStorageObserver(str(work / "runs")), work)
        yield str(work / "runs"), None
    elif kind == "sqlite":
        pytest.importorskip("sqlalchemy")
        from experimentkit.backends.sql.observer import SqlObserver

        url = f"sqlite:///{work / 'runs.db'}"
        _fill(lambda: SqlObserver(url), work)
        yield url, None
    elif kind == "postgres":
        from experimentkit.backends.sql.observer import SqlObserver
        from tests.dbutil import server_database

        with server_database("postgres", "ek_h12") as url:
            _fill(lambda: SqlObserver(url), work)
            yield url, None
    else:
        mongomock = pytest.importorskip("mongomock")
        from experimentkit.backends.mongo.observer import MongoObserver
        from experimentkit.backends.mongo.store import MongoStore

        client = mongomock.MongoClient()
        _fill(lambda: MongoObserver(client=client), work)
        yield "mongodb://localhost/sacred", lambda: MongoStore(client=client)


@pytest.fixture
def cli(target: Any, capsys: Any, monkeypatch: Any) -> Any:
    url, factory = target
    if factory is not None:
        monkeypatch.setattr("experimentkit.cli.commands.open_store", lambda _t: factory())
        monkeypatch.setattr("experimentkit.query.open_store", lambda _t: factory())
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str) -> tuple:
        code = main(["-S", url, *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _error(cli: Any, *args: str) -> str:
    code, out, err = cli(*args)
    assert code == 2, (out, err)
    assert out == "" and err.count("\n") == 1 and err.startswith("experimentkit: error: ")
    return err.strip()


@pytest.mark.parametrize(
    "args, message",
    [
        (["ls", "--where", "config.lrr < 0.1"], "has the key 'config.lrr' (did you mean 'config.lr'?)"),
        (
            ["ls", "--where", "metrics.val.acc > 0.9"],
            "has the key 'metrics.val.acc' (did you mean 'metrics.val.accuracy'?)",
        ),
        (
            ["ls", "--sort", "metrics.val.acc"],
            "has the key 'metrics.val.acc' (did you mean 'metrics.val.accuracy'?)",
        ),
        (
            ["ls", "--sort", "-info.epoch_done"],
            "has the key 'info.epoch_done' (did you mean 'info.epochs_done'?)",
        ),
        (
            ["export", "--where", "meta.coment contains try"],
            "has the key 'meta.coment' (did you mean 'meta.comment'?)",
        ),
        (
            ["ls", "--where", "status == completd"],
            "'completd' is not a status (did you mean 'COMPLETED'?); statuses: QUEUED, RUNNING",
        ),
        (["ls", "--limit", "-1"], "limit must be a whole number of 0 or more, not -1"),
        (
            ["ls", "--columns", "config.lr,metrics.los"],
            "has the key 'metrics.los' (did you mean 'metrics.loss'?)",
        ),
        (["best", "val.acc"], "has the key 'metrics.val.acc' (did you mean 'metrics.val.accuracy'?)"),
        (
            ["plot", "val.acc", "-o", "x.png"],
            "has the key 'metrics.val.acc' (did you mean 'metrics.val.accuracy'?)",
        ),
        (
            ["rows", "2", "predictions", "--where", "pixel_acc < 0.3"],
            "table 'predictions' of run 2 has no column 'pixel_acc' (did you mean 'pixel_accuracy'?)",
        ),
        (["rows", "2", "predictions", "--sort", "-lable"], "no column 'lable' (did you mean 'label'?)"),
        (["rows", "2", "predictions", "--limit", "-1"], "limit must be a whole number"),
        (["artifact", "2", "modl.txt"], "run 2 has no artifact 'modl.txt' (did you mean 'model.txt'?)"),
    ],
    ids=lambda v: " ".join(v)[:40] if isinstance(v, list) else None,
)
def test_silent_empty_answers_are_errors(cli: Any, args: list, message: str) -> None:
    assert message in _error(cli, *args)


def test_legal_filters_still_answer(cli: Any) -> None:
    code, out, _ = cli("ls", "--where", "status == completed", "--format", "json")
    assert code == 0 and sorted(r["id"] for r in json.loads(out)) == ["1", "2", "4"]
    code, out, _ = cli("ls", "--where", "config.opt.name == adam", "--format", "json")
    assert code == 0 and sorted(r["id"] for r in json.loads(out)) == ["1", "3", "7"]


def test_best_uses_and_prints_the_direction(cli: Any) -> None:
    code, out, err = cli("best", "loss", "--format", "json")
    assert code == 0 and json.loads(out)["id"] == "2"
    assert err == "loss: lower is better (from the name 'loss'; --max to override)\n"
    code, out, err = cli("best", "loss", "--max", "--format", "json")
    assert code == 0 and json.loads(out)["id"] == "3" and err == "loss: higher is better (--max)\n"
    code, out, err = cli("best", "val.accuracy", "--format", "json")
    assert code == 0 and json.loads(out)["id"] == "2"
    assert err.startswith("val.accuracy: higher is better (from the name 'accuracy'")


def test_resources_are_shown_and_queryable(cli: Any) -> None:
    code, out, _ = cli("show", "2")
    assert code == 0 and f"data.csv (md5 {RESOURCE_MD5})" in out
    code, out, _ = cli("show", "2", "--format", "json")
    assert [Path(r["path"]).name for r in json.loads(out)["resources"]] == ["data.csv"]
    code, out, _ = cli("ls", "--where", f"resources.md5 == {RESOURCE_MD5}", "--format", "json")
    assert code == 0 and [r["id"] for r in json.loads(out)] == ["2"]
    code, out, _ = cli("ls", "--where", "resources contains data.csv", "--format", "json")
    assert code == 0 and [r["id"] for r in json.loads(out)] == ["2"]


def test_artifact_download(cli: Any, tmp_path: Path) -> None:
    code, _, err = cli("artifact", "2", "model.txt", "-o", str(tmp_path))
    assert code == 0 and (tmp_path / "model.txt").read_bytes() == b"weights v2"
    assert err == f"wrote {tmp_path / 'model.txt'} (10 bytes)\n"
    assert "already exists; use --force" in _error(cli, "artifact", "2", "model.txt", "-o", str(tmp_path))
    assert cli("artifact", "2", "model.txt", "-o", str(tmp_path), "--force")[0] == 0
    missing = tmp_path / "nope" / "m.txt"
    assert _error(cli, "artifact", "2", "model.txt", "-o", str(missing)) == (
        f"experimentkit: error: cannot copy artifact 'model.txt' of run 2 to {missing}: the "
        f"directory {missing.parent} does not exist"
    )


def test_ls_keeps_id_status_sort_key_and_tags(cli: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    code, out, _ = cli("ls", "--sort", "-metrics.val.accuracy")
    assert code == 0
    lines = out.splitlines()
    # 60 columns: the required ones, plus what fits (experiment); the rest named as hidden
    assert lines[0].split() == ["id", "experiment", "status", "metrics.val.accuracy", "tags"]
    assert lines[1].split()[0] == "2" and "0.9" in lines[1]
    assert lines[-1].startswith("(") and "hidden: " in lines[-1]
    assert "config.lr" in lines[-1]
    code, out, _ = cli("ls", "--columns", "config.lr", "--sort", "id")
    assert out.splitlines()[0].split() == ["id", "config.lr"]
    assert out.splitlines()[1].split() == ["1", "0.1"]


# ---- the command line itself (file store, real processes) ----------------------------------------
def _run(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "experimentkit", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, **env},
    )


def test_mistyped_command_is_one_line_with_a_suggestion() -> None:
    done = _run("lss")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(
        "experimentkit: error: unknown command 'lss' (did you mean 'ls'?); commands: ls, show"
    )
    assert done.stderr.count("\n") == 1
    done = _run("ls", "--bogus")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "unrecognized arguments: --bogus (see 'experimentkit --help')" in done.stderr


def test_version() -> None:
    from experimentkit import __version__

    done = _run("--version")
    assert done.returncode == 0 and done.stdout == f"experimentkit {__version__}\n"
