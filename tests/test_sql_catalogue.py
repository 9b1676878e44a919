"""The SQL key catalogue and metric summaries (schema version 5), seen from outside: the SQL a
top-10 query sends reads ``metric_summary`` and ``run_key`` and never the metric points or a scan
of the runs' JSON for its keys; a database from before version 5 gets both filled when opened; a
key missing from the catalogue (runs written by other tools) is still found.  On SQLite and, when
their URLs are set, PostgreSQL and MariaDB/MySQL."""

from __future__ import annotations

import datetime as _dt
import os
import re
import subprocess
import sys

import pytest

sa = pytest.importorskip("sqlalchemy")

from store_conformance import sample_runs  # noqa: E402

from experimentkit.backends.sql.fast_sqlite import FastSqliteStore  # noqa: E402
from experimentkit.backends.sql.observer import SqlObserver  # noqa: E402
from experimentkit.backends.sql.store import SqlStore  # noqa: E402
from experimentkit.errors import QueryError  # noqa: E402
from tests.dbutil import with_driver  # noqa: E402
from tests.test_sql_store import databases, fill  # noqa: E402

KINDS = [
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("mysql", marks=pytest.mark.mysql),
]
TOP10 = ("config.lr < 0.05", "-metrics.val.accuracy")


@pytest.fixture(params=KINDS)
def url(request, tmp_path):
    with databases(request.param, tmp_path) as dbs:
        url = dbs.new()
        fill(url, sample_runs(), tmp_path)
        yield url


def _statements(store: SqlStore) -> list:
    """The SQL ``store`` sends from now on (as compiled by SQLAlchemy)."""
    sent: list = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda *a: sent.append(a[2]))
    return sent


def _top10(store) -> list:
    where, order = TOP10
    return [r.id for r in store.runs().where(where).order_by(order).limit(10).all()]


def test_top10_query_reads_summaries_and_catalogue(url) -> None:
    store = SqlStore(url)
    sent = _statements(store)
    assert _top10(store) == ["2", "3", "6", "10"]
    main = [s for s in sent if "ORDER BY" in s and "LIMIT" in s and "FROM run" in s]
    assert len(main) == 1 and "metric_summary" in main[0]
    assert not [s for s in sent if re.search(r"\bmetric\b(?!_)", s.replace("metric.", ""))]
    # the keys were checked by two catalogue lookups, not by existence queries over the runs' JSON
    assert len([s for s in sent if "FROM run_key" in s]) == 2
    assert not [s for s in sent if s not in main and "json" in s.lower()]
    store.close()


def test_top10_on_the_stdlib_path_reads_summaries(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.sqlite'}"
    fill(url, sample_runs(), tmp_path)
    store = FastSqliteStore(url)
    sent: list = []
    original = store._connect

    def traced():
        manager = original()
        conn = manager.__enter__()
        conn.set_trace_callback(sent.append)
        return _Closing(manager, conn)

    store._connect = traced  # type: ignore[method-assign]
    assert _top10(store) == ["2", "3", "6", "10"]
    assert store.stats == {"fast": 1, "full": 0}
    text = "\n".join(sent)
    assert "FROM metric_summary" in text and "FROM run_key" in text
    assert "FROM metric " not in text and "FROM metric\n" not in text


class _Closing:
    def __init__(self, manager, conn):
        self.manager, self.conn = manager, conn

    def __enter__(self):
        return self.conn

    def __exit__(self, *exc):
        return self.manager.__exit__(*exc)


def test_summaries_follow_appends_and_nonfinite_points(url) -> None:
    """Each heartbeat batch folds into the summary: last is the last point (None when not finite),
    min/max skip non-finite points, count counts every point."""
    obs = SqlObserver(url)
    run_id = obs.started_event(
        ex_info={"name": "e", "base_dir": "/x", "sources": [], "dependencies": [], "repositories": []},
        command="main",
        host_info={"hostname": "h"},
        start_time=_dt.datetime(2024, 3, 1),
        config={"lr": 0.001},
        meta_info={"uid": "summary-run"},
        _id=None,
    )
    t0 = _dt.datetime(2024, 3, 1)
    for values in ([5.0, 1.0], [float("nan"), 7.0], [float("inf")]):
        steps = list(range(len(values)))
        obs.log_metrics({"m": {"steps": steps, "values": values, "timestamps": [t0] * len(values)}}, {})
    obs.completed_event(stop_time=t0, result=None)
    obs.join()
    store = SqlStore(url)
    record = store.get(run_id)
    assert record.metrics["m"] == {"last": None, "min": 1.0, "max": 7.0, "count": 5}
    assert [r.id for r in store.runs().where("metrics.m.max == 7").all()] == [str(run_id)]
    assert [r.id for r in store.runs().where("metrics.m.count == 5").all()] == [str(run_id)]
    store.close()


def test_database_before_version_5_is_filled_when_opened(url) -> None:
    """An older database (no catalogue, no summaries) answers the same once opened: the upgrade
    computes the summaries from the points and the catalogue from the runs."""
    engine = sa.create_engine(with_driver(url))
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE metric_summary"))
        conn.execute(sa.text("DROP TABLE run_key"))
        conn.execute(sa.text("UPDATE schema_version SET version = 4"))
    store = SqlStore(url)
    assert _top10(store)[0] == "2"
    assert store.get("2").metrics["val.accuracy"] == {"last": 0.9, "min": 0.6, "max": 0.95, "count": 3}
    with engine.connect() as conn:
        names = set(conn.execute(sa.text("SELECT root, name FROM run_key")).all())
    assert {("config", "opt.name"), ("metrics", "val.accuracy"), ("info", "epochs_done")} <= names
    with pytest.raises(QueryError, match=r"did you mean 'config\.lr'"):
        store.runs().where("config.lrr < 1").all()
    store.close()
    engine.dispose()


def test_key_missing_from_the_catalogue_is_found_in_the_runs(url) -> None:
    """Runs written by a tool that keeps no catalogue (Sacred's observer, hand-made rows) still
    count: the key is looked up in the runs, then remembered."""
    engine = sa.create_engine(with_driver(url))
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM run_key"))
    store = SqlStore(url)
    assert _top10(store)[0] == "2"
    with engine.connect() as conn:
        names = set(conn.execute(sa.text("SELECT root, name FROM run_key")).all())
    assert names == {("config", "lr"), ("metrics", "val.accuracy")}
    store.close()
    engine.dispose()


def _sweep(url: str, count: int) -> None:
    """``count`` runs: metric ``v`` with many ties (7 values), a few runs without it or with a
    non-finite last point, and a filter key that keeps one run in five."""
    obs = SqlObserver(url)
    t0 = _dt.datetime(2024, 4, 1)
    ex = {"name": "sweep", "base_dir": "/x", "sources": [], "dependencies": [], "repositories": []}
    for i in range(count):
        obs.started_event(
            ex_info=ex,
            command="main",
            host_info={"hostname": "h"},
            start_time=t0,
            config={"i": i, "keep": i % 5 == 0},
            meta_info={},
            _id=None,
        )
        if i % 11:
            last = float("nan") if i % 13 == 0 else (i % 7) / 10
            obs.log_metrics({"v": {"steps": [0, 1], "values": [0.5, last], "timestamps": [t0, t0]}}, {})
        obs.completed_event(stop_time=t0, result=None)
    obs.join()


@pytest.mark.parametrize("kind", KINDS)
def test_top_k_read_from_the_best_runs_equals_the_full_ordering(kind, tmp_path) -> None:
    """Top-k by a metric comes from the metric's best runs (a window that grows when the filter
    rejects them); ties at the window's edge, missing and non-finite values, offsets and a
    second order key give the same runs as ordering every run."""
    from experimentkit.query import Query, parse_order, parse_where

    with databases(kind, tmp_path) as dbs:
        url = dbs.new()
        _sweep(url, 400)
        stores = [SqlStore(url)] + ([FastSqliteStore(url)] if kind == "sqlite" else [])
        for store in stores:
            for where in ((), ("config.keep == True",), ("config.i > 390",), ("config.i == 3",)):
                for order in (("-metrics.v",), ("metrics.v",), ("-metrics.v", "-config.i")):
                    for limit, offset in ((3, 0), (10, 5), (70, 0)):
                        q = Query(
                            filters=tuple(parse_where(w) for w in where),
                            order=tuple(parse_order(o) for o in order),
                            limit=limit,
                            offset=offset,
                        )
                        every = [r.id for r in store.query(q.replace(limit=None, offset=0))]
                        assert [r.id for r in store.query(q)] == every[offset : offset + limit], (
                            where,
                            order,
                        )
            if isinstance(store, FastSqliteStore):
                assert store.stats["full"] == 0
            store.close()


def _cli(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "experimentkit", "-S", url, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


@pytest.mark.parametrize("kind", KINDS)
def test_catalogue_row_outliving_its_runs_is_corrected_and_the_key_refused(kind, tmp_path) -> None:
    """Runs deleted by hand (``DELETE FROM run``) leave their keys in ``run_key``; a query on such
    a key is still the one-line error with the closest name, from the command line and the API, and
    the stale row is gone afterwards.  A key other runs still have stays, even when nothing
    matches."""
    with databases(kind, tmp_path) as dbs:
        url = dbs.new()
        fill(url, sample_runs(), tmp_path)
        obs = SqlObserver(url)
        t0 = _dt.datetime(2024, 4, 1)
        gone = obs.started_event(
            ex_info={"name": "gone"},
            command="main",
            host_info={},
            start_time=t0,
            config={"lrx": 1, "lr": 0.5},
            meta_info={},
            _id=None,
        )
        obs.log_metrics({"lossx": {"steps": [0], "values": [1.0], "timestamps": [t0]}}, {})
        obs.completed_event(stop_time=t0, result=None)
        obs.join()
        engine = sa.create_engine(with_driver(url))
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM run WHERE run_id = :r"), {"r": str(gone)})
            conn.execute(sa.text("DELETE FROM metric WHERE run_id = :r"), {"r": str(gone)})

        done = _cli(url, "ls", "--where", "config.lrx == 1")
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
        assert "has the key 'config.lrx'" in lines[0] and "did you mean 'config.lr'" in lines[0]
        with engine.connect() as conn:
            left = set(conn.execute(sa.text("SELECT root, name FROM run_key")).all())
        assert ("config", "lrx") not in left and ("config", "lr") in left

        _relist(engine)
        for command in ("ls", "export"):  # a column no listed run has: checked, then refused
            done = _cli(url, command, "--columns", "id,config.lrx,metrics.loss")
            assert done.returncode == 2, (command, done.stdout, done.stderr)
            assert done.stderr.count("\n") == 1 and "did you mean 'config.lr'" in done.stderr
            _relist(engine)
        shown = _cli(url, "ls", "--columns", "id,config.lr")  # a key the runs have: listed
        assert shown.returncode == 0 and "config.lr" in shown.stdout, shown.stderr

        _relist(engine)  # the rows again, as the observer left them
        for store in (FastSqliteStore(url), SqlStore(url)) if kind == "sqlite" else (SqlStore(url),):
            with pytest.raises(QueryError, match=r"'config\.lrx'.*did you mean 'config\.lr'"):
                store.runs().where("config.lrx != 1").all()
            with pytest.raises(QueryError, match=r"'metrics\.lossx'"):
                store.runs().where("metrics.lossx > 0").count()
            with pytest.raises(QueryError, match=r"'config\.lrx'"):  # now from the runs, uncatalogued
                store.runs().order_by("config.lrx").limit(3).all()
            assert store.runs().where("config.lr == 123").all() == []
            assert store.runs().where("config.lr == 123").count() == 0
            store.close()
            _relist(engine)
        engine.dispose()


def _relist(engine) -> None:
    """Put the deleted run's catalogue rows back."""
    with engine.begin() as conn:
        for root, name in (("config", "lrx"), ("metrics", "lossx")):
            row = {"root": root, "name": name}
            conn.execute(sa.text("DELETE FROM run_key WHERE root = :root AND name = :name"), row)
            conn.execute(sa.text("INSERT INTO run_key (root, name) VALUES (:root, :name)"), row)
