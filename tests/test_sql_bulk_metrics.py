"""Metric points written through the bulk path (COPY on PostgreSQL, LOAD DATA LOCAL INFILE or INSERT
texts on MariaDB, executemany elsewhere) are stored
exactly as the row-by-row path stored them: NULL for what is not a finite number or an integer
step, naive-UTC times with microseconds, any metric name (COPY escaping), every point once."""

from __future__ import annotations

import datetime as dt
import math
import os

import pytest

sa = pytest.importorskip("sqlalchemy")

from experimentkit import Experiment  # noqa: E402
from experimentkit.backends.sql import schema as s  # noqa: E402
from experimentkit.backends.sql.bulk import CHUNK, sqlite_time_texts  # noqa: E402
from experimentkit.observers import SqlObserver  # noqa: E402
from experimentkit.query import open_store  # noqa: E402
from experimentkit.run import METRIC_CHUNK  # noqa: E402
from tests.dbutil import server_database, sql_url_fixtures, with_driver  # noqa: E402

T0 = dt.datetime(2024, 5, 6, 7, 8, 9, 123456)


_servers, url = sql_url_fixtures("ek_bulk")


def _start(obs, _id=None):
    return obs.started_event(
        ex_info={"name": "bulk"},
        command="main",
        host_info={},
        start_time=T0,
        config={},
        meta_info={},
        _id=_id,
    )


def _rows(url, run_id, name):
    engine = sa.create_engine(with_driver(url))
    try:
        with engine.connect() as conn:
            m = s.metric.c
            return [
                tuple(r)
                for r in conn.execute(
                    sa.select(m.step, m.value, m.timestamp)
                    .where(m.run_id == str(run_id), m.name == name)
                    .order_by(m.metric_id)
                )
            ]
    finally:
        engine.dispose()


class _Item:
    """A numpy-like scalar: not a plain number, converted with float()."""

    def __float__(self):
        return 2.5


def test_odd_values_steps_and_names_are_stored_like_the_row_path(url):
    obs = SqlObserver(url)
    run_id = _start(obs)
    name = "a\tb\\c\nd"  # COPY's separators and escape character
    aware = dt.datetime(2024, 5, 6, 9, 8, 9, 5, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    values = [1.5, float("nan"), float("inf"), None, True, "x", 10**400, 7, _Item()]
    steps = [0, 1, "2", None, 4, 5, 6, 7, 8]
    stamps = [T0, T0 - dt.timedelta(seconds=1), aware, T0.replace(microsecond=0)] + [T0] * 5
    obs.log_metrics({name: {"steps": steps, "values": values, "timestamps": stamps}}, info={})
    obs.join()
    rows = _rows(url, run_id, name)
    assert [r[0] for r in rows] == [0, 1, 2, None, 4, 5, 6, 7, 8]
    assert [r[1] for r in rows] == [1.5, None, None, None, None, None, None, 7.0, 2.5]
    assert [r[2] for r in rows][:4] == [
        T0,
        T0 - dt.timedelta(seconds=1),
        dt.datetime(2024, 5, 6, 7, 8, 9, 5),
        T0.replace(microsecond=0),
    ]


def test_batches_longer_than_a_chunk_keep_every_point_in_order(url):
    obs = SqlObserver(url)
    run_id = _start(obs)
    n = CHUNK * 2 + 17
    stamps = [T0 + dt.timedelta(microseconds=37 * i) for i in range(n)]
    obs.log_metrics(
        {"loss": {"steps": list(range(n)), "values": [i / 3 for i in range(n)], "timestamps": stamps}},
        info={},
    )
    obs.join()
    rows = _rows(url, run_id, "loss")
    assert len(rows) == n
    assert [r[0] for r in rows] == list(range(n))
    assert all(math.isclose(r[1], i / 3, rel_tol=1e-15) for i, r in enumerate(rows))
    assert [r[2] for r in rows] == stamps


def test_sqlite_time_texts_match_isoformat_for_sorted_and_unsorted_stamps():
    sorted_stamps = [T0 + dt.timedelta(microseconds=250_000 * i) for i in range(11)]
    for stamps in (sorted_stamps, sorted_stamps[::-1], [T0.replace(microsecond=0)], []):
        assert sqlite_time_texts(stamps) == [t.isoformat(" ", "microseconds") for t in stamps]


@pytest.mark.slow
def test_a_run_logging_many_points_is_complete_when_run_returns(url):
    ex = Experiment("bulk_run")
    ex.observers.append(SqlObserver(url))
    n = 300_000

    @ex.main
    def main(_run):
        for i in range(n):
            _run.log_scalar("loss", i * 0.5)

    run = ex.run()
    with open_store(url) as store:
        record = store.get(run._id)
        assert record.status == "COMPLETED"
        assert len(record.metric("loss")) == n


def _stored_blocks(url, run_id, name):
    engine = sa.create_engine(with_driver(url))
    try:
        with engine.connect() as conn:
            b = s.metric_block.c
            stmt = sa.select(sa.func.sum(b.point_count)).where(b.run_id == str(run_id), b.name == name)
            return conn.execute(stmt).scalar()
    finally:
        engine.dispose()


def test_a_run_logging_many_points_on_mariadb_is_complete_when_run_returns(mysql_url):
    # several log_metrics calls (METRIC_CHUNK), several chunks per call (CHUNK) and several
    # multi-row statements per chunk, every one written by the text path
    n = 2 * METRIC_CHUNK + CHUNK + 123
    with server_database("mysql", "ek_bulkrun") as url:
        ex = Experiment("bulk_run_mariadb")
        ex.observers.append(SqlObserver(url))

        @ex.main
        def main(_run):
            for i in range(n):
                _run.log_scalar("loss", i * 0.25 - 1e-7 * i)

        loads = _server_loads()
        run = ex.run(options={"--loglevel": "WARNING"})
        assert _server_loads() > loads  # LOAD DATA LOCAL INFILE wrote the rows
        with open_store(url) as store:
            record = store.get(run._id)
            assert record.status == "COMPLETED"
            series = record.metric("loss")
            assert list(series.steps) == list(range(n))
            assert list(series.values) == [i * 0.25 - 1e-7 * i for i in range(n)]
        rows = _rows(url, run._id, "loss")
        assert len(rows) == n
        assert [r[1] for r in rows] == [i * 0.25 - 1e-7 * i for i in range(n)]
        assert all(a[2] <= b[2] for a, b in zip(rows, rows[1:]))
        assert _stored_blocks(url, run._id, "loss") == n


def _server_loads() -> int:
    """The server's count of LOAD DATA statements (any session's: it only grows)."""
    engine = sa.create_engine(with_driver(os.environ["EXPERIMENTKIT_TEST_MYSQL"]))
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SHOW GLOBAL STATUS LIKE 'Com_load'")).one()[1])
    finally:
        engine.dispose()


def test_without_local_infile_the_rows_go_as_insert_texts(mysql_url):
    """``?local_infile=0``: the server refuses LOAD DATA LOCAL, the chunk goes as INSERT texts."""
    with server_database("mysql", "ek_bulknoload") as url:
        obs = SqlObserver(str(sa.make_url(url).update_query_dict({"local_infile": "0"})))
        run_id = _start(obs)
        n = CHUNK + 5
        stamps = [T0 + dt.timedelta(microseconds=i) for i in range(n)]
        values = [None if i % 7 == 0 else i / 4 for i in range(n)]
        name = "loss 100%s"  # a format character in the text the rows are written into
        obs.log_metrics({name: {"steps": list(range(n)), "values": values, "timestamps": stamps}}, info={})
        obs.join()
        assert _rows(url, run_id, name) == list(zip(range(n), values, stamps))


def test_names_are_escaped_for_the_servers_sql_mode_on_mariadb(mysql_url):
    # with NO_BACKSLASH_ESCAPES a backslash is an ordinary character and only quotes are doubled:
    # the names must be escaped by the connection, not by a fixed rule
    names = ["it's", "a\\'b", "back\\slash\\", 'q"uote']
    for mode in ("NO_BACKSLASH_ESCAPES", "STRICT_TRANS_TABLES"):
        with server_database("mysql", "ek_bulkmode") as url:
            mode_url = str(sa.make_url(url).update_query_dict({"init_command": f"SET sql_mode='{mode}'"}))
            obs = SqlObserver(mode_url)
            run_id = _start(obs)
            stamps = [T0 + dt.timedelta(microseconds=i) for i in range(3)]
            obs.log_metrics(
                {
                    name: {"steps": [0, 1, 2], "values": [1.0, None, 3.5], "timestamps": stamps}
                    for name in names
                },
                info={},
            )
            obs.join()
            for name in names:
                assert _rows(url, run_id, name) == [
                    (0, 1.0, stamps[0]),
                    (1, None, stamps[1]),
                    (2, 3.5, stamps[2]),
                ]


def test_batches_of_any_size_store_each_point_once_in_order(url):
    # sizes on both sides of the rows one statement appends (SQLite: a few hundred) and of a chunk,
    # two names interleaved, a run id and a name with quotes, backslashes and format characters
    obs = SqlObserver(url)
    run_id = _start(obs, "it's 50%s {0}\\")
    names = ["loss", "q'%s {1}\\n"]
    logged: dict = {name: [] for name in names}
    step = 0
    for size in (1, 199, 200, 201, 399, 400, 401, 601, CHUNK - 1, CHUNK + 1, 3):
        for name in names:
            points = [
                (step + i, (step + i) / 7, T0 + dt.timedelta(microseconds=step + i)) for i in range(size)
            ]
            obs.log_metrics(
                {name: {k: list(c) for k, c in zip(("steps", "values", "timestamps"), zip(*points))}},
                info={},
            )
            logged[name] += points
            step += size
    obs.join()
    for name in names:
        rows = _rows(url, run_id, name)
        assert len(rows) == len(logged[name])
        assert rows == logged[name]
        assert _stored_blocks(url, run_id, name) == len(logged[name])
    with open_store(url) as store:
        record = store.get(run_id)
        for name in names:
            assert list(record.metric(name).steps) == [p[0] for p in logged[name]]


def test_nulls_inside_a_batch_of_several_statements_are_stored_as_nulls(url):
    # more points than one SQLite statement appends, with NULL steps, values and times among them
    obs = SqlObserver(url)
    run_id = _start(obs)
    n = 450
    steps = [None if i % 7 == 3 else i for i in range(n)]
    values = [float("nan") if i % 5 == 1 else i / 8 for i in range(n)]
    stamps = [None if i % 11 == 4 else T0 + dt.timedelta(microseconds=i) for i in range(n)]
    obs.log_metrics({"loss": {"steps": steps, "values": values, "timestamps": stamps}}, info={})
    obs.join()
    expected = [(s, None if v != v else v, t) for s, v, t in zip(steps, values, stamps)]
    assert _rows(url, run_id, "loss") == expected
