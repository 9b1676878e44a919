"""Damaged runs in SQL and MongoDB stores are reported like damaged files, never hidden or changed.

Two runs are stored by the real observers, then damaged by hand as a broken tool, a manual edit or
a bad migration would: a run row whose ``config`` text is not JSON, a metric row holding text
(SQLite keeps whatever it is given), a column holding JSON that is not an object (PostgreSQL, whose
metric column refuses text), a MongoDB run document without its ``config`` and ``start_time``, one
whose ``config`` is a string and a metric document holding a string.  ``experimentkit ls`` marks
both runs and still shows what is readable; ``show`` names what is damaged, says it on stderr and
exits 1; the stored data is byte for byte what it was.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from experimentkit import Experiment
from experimentkit.cli.main import main
from tests.dbutil import server_database, with_driver

CONFIG_NOTE = "run 1: column config: line 1 column 9: Expecting property name enclosed in double quotes"


def _store_two_runs(observer_factory: Any) -> None:
    ex = Experiment("damage")

    @ex.config
    def cfg():
        a = 1

    @ex.main
    def main_(_run):
        _run.log_scalar("loss", 0.5, 0)
        _run.log_scalar("loss", 0.25, 1)
        return 3

    for _ in range(2):
        run = ex.resolve(options={"--capture": "no", "--loglevel": "WARNING"})
        run.observers.append(observer_factory())
        run()
        assert run.status == "COMPLETED"


@pytest.fixture
def cli(capsys: Any, monkeypatch: Any) -> Any:
    monkeypatch.setenv("COLUMNS", "200")

    def run(target: str, *args: str, factory: Any = None) -> tuple:
        if factory is not None:  # mongomock: the command is handed the in-process store
            monkeypatch.setattr("experimentkit.cli.commands.open_store", lambda _t: factory())
            monkeypatch.setattr("experimentkit.query.open_store", lambda _t: factory())
        code = main(["-S", target, *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _ls_rows(out: str) -> dict:
    rows = {}
    for line in out.splitlines()[1:]:
        cells = line.split()
        rows[cells[0]] = line
    return rows


def _check_cli(cli: Any, target: str, notes: dict, factory: Any = None) -> None:
    code, out, err = cli(target, "ls", factory=factory)
    assert code == 0, err
    rows = _ls_rows(out)
    assert sorted(rows) == ["1", "2"]
    assert all("COMPLETED (damaged)" in row for row in rows.values()), out
    for run_id, expected in notes.items():
        code, out, err = cli(target, "show", run_id, factory=factory)
        assert code == 1, (out, err)
        listed = "\n".join(f"  {note}" for note in expected)
        assert f"damaged (shown: what could be read; nothing was changed):\n{listed}\n" in out
        assert err == f"experimentkit: warning: run {run_id} is damaged: {'; '.join(expected)}\n"
        assert "command:   main" in out  # the readable part is shown


# ---- SQL --------------------------------------------------------------------------------------------
def _sql_dump(sa: Any, url: Any) -> list:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [
                [tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY 1"))]
                for table in ("run", "metric", "experiment", "host")
            ]
    finally:
        engine.dispose()


def _damage_sql(sa: Any, url: Any, statements: list) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(sa.text(statement))
    finally:
        engine.dispose()


def test_damaged_sqlite_rows_are_reported_and_left_alone(tmp_path, cli):
    sa = pytest.importorskip("sqlalchemy")
    from experimentkit.backends.sql.observer import SqlObserver
    from experimentkit.backends.sql.store import SqlStore

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    _store_two_runs(lambda: SqlObserver(url))
    _damage_sql(
        sa,
        url,
        [
            "UPDATE run SET config = '{\"a\": 1,' WHERE run_id = '1'",
            "UPDATE run SET info = '[1, 2]' WHERE run_id = '2'",
        ],
    )
    before = _sql_dump(sa, url)
    info_note = "run 2: column info: a JSON list, not an object"
    _check_cli(cli, url, {"1": [CONFIG_NOTE], "2": [info_note]})
    # the SQLAlchemy read path (used where the stdlib SQLite path cannot answer) says the same
    store = SqlStore(url)
    try:
        first, second = store.get("1"), store.get("2")
    finally:
        store.close()
    assert first.damaged == [CONFIG_NOTE] and first.config == {}
    assert first.metrics["loss"] == {"last": 0.25, "min": 0.25, "max": 0.5, "count": 2}
    assert second.damaged == [info_note] and second.config == {"a": 1, "seed": second.config["seed"]}
    assert second.metrics["loss"] == {"last": 0.25, "min": 0.25, "max": 0.5, "count": 2}
    assert _sql_dump(sa, url) == before


@pytest.mark.postgres
def test_damaged_postgres_rows_are_reported_and_left_alone(cli):
    sa = pytest.importorskip("sqlalchemy")
    from experimentkit.backends.sql.observer import SqlObserver

    with server_database("postgres", "ek_damage") as url:
        _store_two_runs(lambda: SqlObserver(url))
        _damage_sql(
            sa,
            with_driver(url),
            [
                "UPDATE run SET config = '{\"a\": 1,' WHERE run_id = '1'",
                "UPDATE run SET info = '[1, 2]' WHERE run_id = '2'",
            ],
        )
        before = _sql_dump(sa, with_driver(url))
        _check_cli(cli, url, {"1": [CONFIG_NOTE], "2": ["run 2: column info: a JSON list, not an object"]})
        code, out, err = cli(url, "ls", "--where", "config.a == 1")
        assert code == 0 and sorted(_ls_rows(out)) == ["2"], (out, err)  # run 1's config is unreadable
        assert _sql_dump(sa, with_driver(url)) == before


# ---- MongoDB (mongomock) ---------------------------------------------------------------------------
def test_damaged_mongo_documents_are_reported_and_left_alone(tmp_path, cli):
    mongomock = pytest.importorskip("mongomock")
    from experimentkit.backends.mongo.observer import MongoObserver
    from experimentkit.backends.mongo.store import MongoStore

    client = mongomock.MongoClient()
    _store_two_runs(lambda: MongoObserver(client=client))
    db = client["sacred"]
    db.runs.update_one({"_id": 1}, {"$unset": {"config": "", "start_time": ""}})
    db.runs.update_one({"_id": 2}, {"$set": {"config": "a = 1"}})
    db.metrics.update_one({"run_id": 2, "name": "loss"}, {"$set": {"values.1": "abc"}})
    before = copy.deepcopy([list(db.runs.find()), list(db.metrics.find())])
    _check_cli(
        cli,
        "mongodb://localhost/sacred",
        {
            "1": [
                "run 1: the document has no 'config' field",
                "run 1: the document has no 'start_time'",
            ],
            "2": [
                "run 2: field 'config' is a str, not a document",
                "metric 'loss': stored values that are not numbers (last left out)",
            ],
        },
        factory=lambda: MongoStore(client=client),
    )
    assert [list(db.runs.find()), list(db.metrics.find())] == before
