"""In-doubt commits: the server committed an event, the client saw an error, the event comes again.

The fault is injected in the dialect's ``do_commit``: the real COMMIT runs, then the driver's own
``OperationalError`` is raised, exactly what a connection dying before the reply looks like.  The
event is then delivered again the ways experimentkit delivers it: by the dispatcher's retry (with
later batches merged into it) and by ``experimentkit sync`` from a journal.  Every metric point,
table row and output character must be stored once.  SQLite always; PostgreSQL and MariaDB when
EXPERIMENTKIT_TEST_POSTGRES / EXPERIMENTKIT_TEST_MYSQL are set (a fresh database per session).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

import pytest

sa = pytest.importorskip("sqlalchemy")

from experimentkit.backends.sql import migrations  # noqa: E402
from experimentkit.backends.sql import schema as s  # noqa: E402
from experimentkit.backends.sql.observer import SqlObserver  # noqa: E402
from experimentkit.dispatch import Dispatcher  # noqa: E402
from experimentkit.sync import sync  # noqa: E402
from tests.dbutil import sql_url_fixtures, with_driver  # noqa: E402

T0 = dt.datetime(2024, 5, 6, 7, 8, 9, 123456)
HOST = {"hostname": "box", "os": ["Linux", "Linux-6"], "python_version": "3.11.2", "cpu": "x"}


# ---- databases -----------------------------------------------------------------------------------

_servers, url = sql_url_fixtures("ek_indoubt")


def _count(url, table, run_id, **where):
    engine = sa.create_engine(with_driver(url))
    try:
        with engine.connect() as conn:
            conds = [table.c.run_id == str(run_id)] + [table.c[k] == v for k, v in where.items()]
            return conn.execute(sa.select(sa.func.count()).select_from(table).where(*conds)).scalar()
    finally:
        engine.dispose()


def _stored(url, run_id):
    """(metric points as (name, step, value), table rows as (name, index, data), output)."""
    engine = sa.create_engine(with_driver(url))
    try:
        with engine.connect() as conn:
            m, t = s.metric.c, s.table_row.c
            points = conn.execute(
                sa.select(m.name, m.step, m.value).where(m.run_id == str(run_id)).order_by(m.metric_id)
            ).all()
            rows = conn.execute(
                sa.select(t.name, t.row_index, t.data)
                .where(t.run_id == str(run_id))
                .order_by(t.name, t.row_index)
            ).all()
            out = conn.execute(sa.select(s.run.c.captured_out).where(s.run.c.run_id == str(run_id))).scalar()
            return [tuple(p) for p in points], [tuple(r) for r in rows], out
    finally:
        engine.dispose()


# ---- faults --------------------------------------------------------------------------------------
class CommitFault:
    """Arms the observer's dialect: ``lost`` commits then raises; ``down`` raises without committing."""

    def __init__(self, observer: SqlObserver, monkeypatch):
        dialect = observer.engine.dialect
        self.modes: list = []
        self.error = dialect.dbapi.OperationalError
        real = dialect.do_commit

        def do_commit(dbapi_conn):
            mode = self.modes.pop(0) if self.modes else None
            if mode != "down":
                real(dbapi_conn)
            if mode is not None:
                raise self.error("lost connection to server during query (injected)")

        monkeypatch.setattr(dialect, "do_commit", do_commit)


def _start(obs):
    return obs.started_event(
        ex_info={
            "name": "demo",
            "base_dir": "/nowhere",
            "sources": [],
            "dependencies": [],
            "repositories": [],
            "mainfile": "main.py",
        },
        command="main",
        host_info=HOST,
        start_time=T0,
        config={"lr": 0.1},
        meta_info={"command": "main", "uid": uuid.uuid4().hex},
        _id=None,
    )


def _metrics(name, steps, start=0):
    """Points ``steps`` with value step/10 and one-second-apart microsecond timestamps."""
    return {
        name: {
            "name": name,
            "steps": list(steps),
            "values": [i / 10 for i in steps],
            "timestamps": [T0 + dt.timedelta(seconds=start + i, microseconds=7) for i in range(len(steps))],
        }
    }


def _beat(out):
    return {"info": {}, "captured_out": out, "beat_time": T0, "result": None}


# ---- the observer called again, as the dispatcher does ------------------------------------------
@pytest.mark.parametrize("mode", ["lost", "down"])
def test_retried_events_store_everything_once(url, monkeypatch, mode):
    """A reply lost after commit and a failure before commit both end with each item stored once."""
    obs = SqlObserver(url)
    run_id = _start(obs)
    obs.log_metrics(_metrics("loss", range(3)), info={})
    obs.log_table("preds", [{"i": 0}])
    obs.heartbeat_event(**_beat("one\n"))
    fault = CommitFault(obs, monkeypatch)

    fault.modes = [mode]
    with pytest.raises(sa.exc.OperationalError):
        obs.log_metrics(_metrics("loss", range(3, 5), start=3), info={})
    obs.log_metrics(_metrics("loss", range(3, 5), start=3), info={})

    fault.modes = [mode]
    with pytest.raises(sa.exc.OperationalError):
        obs.log_table("preds", [{"i": 1}, {"i": 2}])
    obs.log_table("preds", [{"i": 1}, {"i": 2}])

    fault.modes = [mode]
    with pytest.raises(sa.exc.OperationalError):
        obs.heartbeat_event(**_beat("one\ntwö\n"))
    obs.heartbeat_event(**_beat("one\ntwö\nthree\n"))  # the next beat carries more output

    # Normal calls after recovery append as usual.
    obs.log_metrics(_metrics("loss", [5], start=5), info={})
    obs.log_table("preds", [{"i": 3}])
    obs.heartbeat_event(**_beat("one\ntwö\nthree\nfour\n"))
    obs.join()

    points, rows, out = _stored(url, run_id)
    assert points == [("loss", i, i / 10) for i in range(6)]
    assert rows == [("preds", i, f'{{"i": {i}}}') for i in range(4)]
    assert out == "one\ntwö\nthree\nfour\n"


def test_failing_twice_in_a_row_and_retry_with_a_merged_batch(url, monkeypatch):
    """Lost, then down, then a retry that also carries the next batch (the dispatcher merges)."""
    obs = SqlObserver(url)
    run_id = _start(obs)
    obs.log_metrics({**_metrics("acc", [0]), **_metrics("loss", [0])}, info={})
    fault = CommitFault(obs, monkeypatch)
    fault.modes = ["lost", "down"]
    first = {**_metrics("acc", [1, 2], start=1), **_metrics("loss", [1], start=1)}
    for _ in range(2):
        with pytest.raises(sa.exc.OperationalError):
            obs.log_metrics(first, info={})
    merged = {
        **_metrics("acc", [1, 2, 3], start=1),
        **_metrics("loss", [1, 2], start=1),
        **_metrics("new", [0]),
    }
    obs.log_metrics(merged, info={})
    points, _, _ = _stored(url, run_id)
    assert sorted(points) == sorted(
        [("acc", i, i / 10) for i in range(4)] + [("loss", i, i / 10) for i in range(3)] + [("new", 0, 0.0)]
    )
    obs.join()


def test_dispatcher_retry_after_a_lost_reply(url, monkeypatch, tmp_path):
    """Through the real dispatcher: the failed event is buffered, merged with the next, retried."""
    obs = SqlObserver(url)
    disp = Dispatcher(
        [obs],
        logger=logging.getLogger("test-indoubt"),
        run_uid="u1",
        retry_seconds=0,
        fallback_dir=str(tmp_path / "fallback"),
        call_timeout=30,
    )
    run_id = disp.open(
        "started_event",
        ex_info={"name": "demo"},
        command="main",
        host_info=HOST,
        start_time=T0,
        config={},
        meta_info={"uid": uuid.uuid4().hex},
    )
    fault = CommitFault(obs, monkeypatch)
    fault.modes = ["lost"]
    disp.emit("log_metrics", metrics_by_name=_metrics("loss", range(2)), info={})
    disp.emit("log_table", name="t", rows=[{"a": 1}])
    disp.emit("log_metrics", metrics_by_name=_metrics("loss", range(2, 4), start=2), info={})
    disp.emit("heartbeat_event", **_beat("hello\n"))
    assert disp.failing  # the lost reply made the dispatcher buffer everything after it
    disp.retry()
    assert not disp.failing and disp.finish() == []
    points, rows, out = _stored(url, run_id)
    assert points == [("loss", i, i / 10) for i in range(4)]
    assert rows == [("t", 0, '{"a": 1}')]
    assert out == "hello\n"


# ---- replay from a journal ----------------------------------------------------------------------
@pytest.mark.parametrize("lost", ["log_metrics", "log_table", "heartbeat_event"])
def test_sync_replay_of_a_committed_event_adds_nothing(url, monkeypatch, tmp_path, lost):
    """The run journals an event the server had committed; sync attaches and replays it."""
    fallback = tmp_path / "fallback"
    obs = SqlObserver(url)
    disp = Dispatcher(
        [obs],
        logger=logging.getLogger("test-indoubt"),
        run_uid=uuid.uuid4().hex,
        retry_seconds=0,
        fallback_dir=str(fallback),
        call_timeout=30,
    )
    run_id = disp.open(
        "started_event",
        ex_info={"name": "demo"},
        command="main",
        host_info=HOST,
        start_time=T0,
        config={},
        meta_info={"uid": uuid.uuid4().hex},
    )
    disp.emit("log_metrics", metrics_by_name=_metrics("loss", [0]), info={})
    disp.emit("log_table", name="t", rows=[{"a": 0}])
    disp.emit("heartbeat_event", **_beat("a\n"))
    events = [
        ("log_metrics", {"metrics_by_name": _metrics("loss", [1, 2], start=1), "info": {}}),
        ("log_table", {"name": "t", "rows": [{"a": 0}, {"a": 1}]}),
        ("heartbeat_event", _beat("a\nb\n")),
    ]
    events.sort(key=lambda e: e[0] != lost)  # the lost one first: the others queue behind it
    fault = CommitFault(obs, monkeypatch)
    fault.modes = ["lost"] + ["down"] * 50  # then the server stays unreachable until the end
    for event, kwargs in events:
        disp.emit(event, **kwargs)
    disp.emit("completed_event", stop_time=T0, result=1)
    (journal,) = disp.finish()
    fault.modes = []

    (result,) = sync(str(fallback))
    assert result.status == "synced", result.message
    points, rows, out = _stored(url, run_id)
    assert points == [("loss", i, i / 10) for i in range(3)]
    # Equal rows in consecutive calls: the row count in the journal's replay_spec tells them apart.
    assert rows == [("t", 0, '{"a": 0}'), ("t", 1, '{"a": 0}'), ("t", 2, '{"a": 1}')]
    assert out == "a\nb\n"
    assert _count(url, s.run, run_id, status="COMPLETED") == 1


def test_attach_skips_only_what_is_stored(url):
    """After attach, a replayed batch whose head is stored adds just its tail; new data all."""
    obs = SqlObserver(url)
    run_id = _start(obs)
    obs.log_metrics(_metrics("loss", range(3)), info={})
    obs.log_table("t", [{"a": 0}, {"a": 1}])
    obs.heartbeat_event(**_beat("x"))
    obs.join()

    again = SqlObserver(url)
    again.attach(run_id)
    again.log_metrics(_metrics("loss", range(1, 5), start=1), info={})  # 1, 2 are stored
    again.log_metrics(_metrics("loss", [5], start=5), info={})
    again.heartbeat_event(**_beat("xyz"))
    again.join()
    # Journaled when "t" had 1 row: the stored {"a": 1} is the head of the replayed batch.
    third = SqlObserver.for_replay(url, table_rows={"t": 1}, all_tables=True)
    third.attach(run_id)
    third.log_table("t", [{"a": 1}, {"a": 2}])
    third.join()
    points, rows, out = _stored(url, run_id)
    assert points == [("loss", i, i / 10) for i in range(6)]
    assert [r[2] for r in rows] == ['{"a": 0}', '{"a": 1}', '{"a": 2}']
    assert out == "xyz"
    # Without a count equal rows cannot be told apart: a duplicate is kept rather than a row lost.
    fourth = SqlObserver(url)
    fourth.attach(run_id)
    fourth.log_table("t", [{"a": 2}])
    fourth.join()
    assert [r[2] for r in _stored(url, run_id)[1]] == ['{"a": 0}', '{"a": 1}', '{"a": 2}', '{"a": 2}']


# ---- cost of the normal path ---------------------------------------------------------------------
def test_normal_calls_do_not_read_back(tmp_path):
    """Without a failure, log_metrics only INSERTs (one executemany and the packed block) and
    UPDATEs the metric's summary, and a heartbeat is one UPDATE.

    Metric rows go to the driver directly, so the statements are traced by sqlite3 itself."""
    obs = SqlObserver(f"sqlite:///{tmp_path / 'runs.sqlite'}")
    _start(obs)
    obs.log_metrics(_metrics("loss", [0]), info={})
    obs.engine.dispose()
    statements: list = []

    def trace(dbapi_connection, _record):
        dbapi_connection.set_trace_callback(statements.append)

    sa.event.listen(obs.engine, "connect", trace)
    obs.log_metrics(_metrics("loss", range(1, 50), start=1), info={})
    obs.heartbeat_event(**_beat("more output"))
    obs.heartbeat_event(**_beat("more output"))
    kinds = [stmt.split()[0].upper() for stmt in statements if stmt != "SELECT 1"]  # pool ping
    kinds = [kind for kind in kinds if kind in ("INSERT", "UPDATE", "SELECT")]
    # the points, their packed block, the run's summary of "loss", then one UPDATE per heartbeat
    assert kinds == ["INSERT"] * 50 + ["UPDATE"] + ["UPDATE", "UPDATE"]
    assert [s for s in statements if "metric_block" in s][0].startswith("INSERT INTO metric_block")
    assert len(_stored(f"sqlite:///{tmp_path / 'runs.sqlite'}", obs.run_id)[0]) == 50
    obs.join()


# ---- schema step 2 -> 3 --------------------------------------------------------------------------
def test_version_2_database_gets_the_metric_index(url):
    engine = sa.create_engine(with_driver(url))
    try:
        migrations.upgrade(engine)
        prep = engine.dialect.identifier_preparer
        on = " ON metric" if engine.dialect.name == "mysql" else ""
        with engine.begin() as conn:  # back to the version-2 layout
            conn.execute(sa.text("CREATE INDEX ix_metric_run_id_name ON metric (run_id, name)"))
            conn.execute(sa.text(f"DROP INDEX {prep.quote('ix_metric_run_id_name_metric_id')}{on}"))
            conn.execute(s.schema_version.update().values(version=2))
        assert migrations.upgrade(engine) == s.SCHEMA_VERSION
        with engine.connect() as conn:
            indexes = {ix["name"]: ix["column_names"] for ix in sa.inspect(conn).get_indexes("metric")}
            assert migrations.stored_version(conn) == s.SCHEMA_VERSION
        assert indexes["ix_metric_run_id_name_metric_id"] == ["run_id", "name", "metric_id"]
        assert "ix_metric_run_id_name" not in indexes
    finally:
        engine.dispose()
