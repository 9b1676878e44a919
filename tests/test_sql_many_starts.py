"""Fifty runs of one process starting at once into one SQL store: none waits on another's start.

Each run goes through ``ex.run(options={"--sql": URL})`` on its own thread (as runs in a thread
pool, an Optuna study with ``n_jobs`` or a sweep would), all released together.  What is checked is
counted, never timed: every run is COMPLETED with a distinct id, no event went to a fallback journal
(a ``started_event`` that outlived the call timeout would have), and the schema is checked once per
process, not once per run (SQLAlchemy's statement events count what reaches the database).
"""

from __future__ import annotations

import logging
import threading

import pytest

from experimentkit import Experiment
from experimentkit.backends.sql import schema
from tests.dbutil import server_database, with_driver

sa = pytest.importorskip("sqlalchemy")

N_RUNS = 50
POINTS = 5


def _experiment() -> Experiment:
    ex = Experiment("many_threads")

    @ex.config
    def cfg():
        worker = 0

    @ex.main
    def main(_run, worker):
        for i in range(POINTS):
            _run.log_scalar("x", worker * 100 + i, i)
        return worker

    return ex


class _Statements:
    """Counts the statements sent to any database while active, by what they touch."""

    def __init__(self) -> None:
        self.schema_checks = 0
        self.ddl = 0
        self.creates = 0
        self._lock = threading.Lock()

    def __enter__(self) -> _Statements:
        sa.event.listen(sa.engine.Engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc) -> None:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany) -> None:
        text = statement.lower()
        with self._lock:
            if "schema_version" in text or "pg_catalog" in text or "sqlite_master" in text:
                self.schema_checks += 1
            if text.lstrip().startswith(("create ", "alter ", "drop ")):
                self.ddl += 1
            if text.lstrip().startswith("create table"):
                self.creates += 1


def _run_all(url: str, fallback, caplog) -> list:
    ex = _experiment()
    gate = threading.Event()
    runs: list = [None] * N_RUNS
    errors: list = []

    def one(worker: int) -> None:
        try:
            gate.wait()
            runs[worker] = ex.run(
                config_updates={"worker": worker},
                options={"--sql": url, "--capture": "no", "--loglevel": "WARNING"},
            )
        except BaseException as exc:  # noqa: B036 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(w,)) for w in range(N_RUNS)]
    with caplog.at_level(logging.WARNING):
        for t in threads:
            t.start()
        gate.set()
        for t in threads:
            t.join(120)
    assert not errors, errors[:3]
    assert all(run is not None for run in runs)
    assert [r.status for r in runs] == ["COMPLETED"] * N_RUNS
    assert len({r._id for r in runs}) == N_RUNS
    assert [r.result for r in runs] == list(range(N_RUNS))
    # a started_event beyond the call timeout would have been journaled and warned about
    assert not fallback.exists() or not list(fallback.glob("*.jsonl"))
    assert not [rec.getMessage() for rec in caplog.records if "SqlObserver" in rec.getMessage()]
    return runs


def _stored(engine_url) -> tuple:
    engine = sa.create_engine(engine_url)
    try:
        with engine.connect() as conn:
            runs = conn.execute(sa.text("SELECT run_id, status FROM run")).all()
            points = conn.execute(sa.text("SELECT count(*) FROM metric")).scalar()
            experiments = conn.execute(sa.text("SELECT count(*) FROM experiment")).scalar()
    finally:
        engine.dispose()
    return runs, points, experiments


@pytest.fixture
def fallback(tmp_path, monkeypatch):
    path = tmp_path / "fallback"
    from experimentkit.settings import SETTINGS

    monkeypatch.setitem(SETTINGS, "FALLBACK_DIR", str(path))
    return path


def _check_store(engine_url) -> None:
    runs, points, experiments = _stored(engine_url)
    assert len(runs) == N_RUNS and len({r.run_id for r in runs}) == N_RUNS
    assert {r.status for r in runs} == {"COMPLETED"}
    assert points == N_RUNS * POINTS and experiments == 1


def test_fifty_threads_start_at_once_on_sqlite_and_check_the_schema_once(tmp_path, fallback, caplog):
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    _run_all(url, fallback, caplog)  # a fresh file: one run creates the schema, the others wait
    with _Statements() as seen:
        _run_all(url, fallback, caplog)
    # the engine of this URL is shared by the process's runs: its schema was found current before
    assert seen.schema_checks == 0 and seen.ddl == 0
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM run")).scalar() == 2 * N_RUNS
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_fifty_threads_start_at_once_on_postgres_and_create_the_schema_once(fallback, caplog):
    with server_database("postgres", "ek_many_threads") as url:
        with _Statements() as seen:
            _run_all(url, fallback, caplog)
        _check_store(with_driver(url))
        assert seen.creates == len(schema.metadata.tables)  # each table made once, by one run
        with _Statements() as again:
            _run_all(url, fallback, caplog)
        assert again.schema_checks == 0 and again.ddl == 0  # and never checked again in this process
        _, points, _ = _stored(with_driver(url))
        assert points == 2 * N_RUNS * POINTS


def test_a_store_made_again_under_the_same_url_is_found_and_set_up(tmp_path, fallback, caplog):
    """The process remembers that a URL's schema is current; a store deleted and created again
    since (a test fixture, a cleanup script) is set up again instead of failing the run."""
    db = tmp_path / "runs.db"
    ex = _experiment()
    options = {"--sql": f"sqlite:///{db}", "--capture": "no"}
    first = ex.run(config_updates={"worker": 1}, options=options)
    db.unlink()
    for extra in tmp_path.glob("runs.db-*"):  # the write-ahead log and its index
        extra.unlink()
    second = ex.run(config_updates={"worker": 2}, options=options)
    assert (first.status, second.status) == ("COMPLETED", "COMPLETED")
    assert not fallback.exists() or not list(fallback.glob("*.jsonl"))
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT status, result FROM run")).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [("COMPLETED", 2.0)]


def test_a_run_ending_does_not_reset_the_pool_under_a_concurrent_run(tmp_path):
    """The engine is shared by the runs of a process: one run's ``join`` must not dispose of the
    pool while another run still uses it (every dispose starts a new pool while the old
    connections are still checked out, so 50 concurrent runs could open hundreds of connections:
    PostgreSQL's "too many clients")."""
    from experimentkit.observers import SqlObserver

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    first, second = SqlObserver(url), SqlObserver(url)
    assert first.engine is second.engine
    pool = first.engine.pool
    first.join()  # the second observer still uses the engine
    assert second.engine.pool is pool
    second.join()  # the last user: idle connections are released
    assert second.engine.pool is not pool
