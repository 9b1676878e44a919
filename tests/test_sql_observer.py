"""SqlObserver against real SQLite files and, when their URLs are set, real PostgreSQL and MariaDB.

Server tests create a database ``ek_sqlobs_<random>`` through the URL in
EXPERIMENTKIT_TEST_POSTGRES / EXPERIMENTKIT_TEST_MYSQL and drop it afterwards, so parallel sessions
never share tables.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import threading
import uuid

import pytest

sa = pytest.importorskip("sqlalchemy")

from experimentkit.backends.sql import migrations  # noqa: E402
from experimentkit.backends.sql import schema as s  # noqa: E402
from experimentkit.backends.sql.observer import SqlObserver  # noqa: E402
from experimentkit.errors import ObserverError, StoreError  # noqa: E402
from tests.dbutil import server_database, with_driver  # noqa: E402

T0 = dt.datetime(2024, 5, 6, 7, 8, 9, 123456)


# ---- databases -----------------------------------------------------------------------------------
@contextlib.contextmanager
def _fresh_database(kind: str, tmp_path):
    """Yield the URL (in the env var's own form) of a new, empty database; drop it afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / ('db-' + uuid.uuid4().hex[:8] + '.sqlite')}"
        return
    with server_database(kind, "ek_sqlobs") as url:
        yield url


_SESSION_DBS: dict = {}


@pytest.fixture(scope="session")
def _server_dbs(tmp_path_factory):
    """One database per server for the whole session (created on first use)."""
    stack = contextlib.ExitStack()
    tmp = tmp_path_factory.mktemp("sqlobs")

    def get(kind):
        if kind not in _SESSION_DBS:
            _SESSION_DBS[kind] = stack.enter_context(_fresh_database(kind, tmp))
        return _SESSION_DBS[kind]

    with stack:
        yield get
        _SESSION_DBS.clear()


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def url(request, tmp_path, _server_dbs):
    """A database URL per backend; server backends share one database per session."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runs.sqlite'}"
    return _server_dbs(request.param)


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def empty_url(request, tmp_path):
    """A URL of a brand-new empty database per backend."""
    with _fresh_database(request.param, tmp_path) as u:
        yield u


@contextlib.contextmanager
def _reader(url: str):
    engine = sa.create_engine(with_driver(url))
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def _row(url, table, **where):
    with _reader(url) as conn:
        rows = conn.execute(sa.select(table).where(*[table.c[k] == v for k, v in where.items()]))
        return [dict(r) for r in rows.mappings()]


# ---- run inputs ----------------------------------------------------------------------------------
def _ex_info(base_dir, name="demo"):
    sources = []
    for rel, text in [("main.py", "print('main')\n"), ("pkg/util.py", "X = 'ünïcode'\n")]:
        path = base_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        sources.append([rel, hashlib.md5(path.read_bytes()).hexdigest()])
    return {
        "name": name,
        "base_dir": str(base_dir),
        "sources": sources,
        "mainfile": "main.py",
        "dependencies": ["numpy==1.26.4", "experimentkit==0.1.0"],
        "repositories": [{"url": "git@example.org:me/demo.git", "commit": "a" * 40, "dirty": True}],
    }


HOST = {
    "hostname": "box",
    "os": ["Linux", "Linux-6.1.0-x86_64-with-glibc2.36"],
    "python_version": "3.11.2",
    "cpu": "Intel Xeon",
    "cpu_count": 2,
    "memory_total": 1024,
    "ENV": {"CUDA_VISIBLE_DEVICES": "0"},
}


def _meta(**extra):
    return {
        "command": "main",
        "options": {"--comment": "hi"},
        "named_configs": [],
        "config_updates": {"lr": 0.1},
        "uid": uuid.uuid4().hex,
        **extra,
    }


def _start(obs, tmp_path, _id=None, meta=None, config=None):
    return obs.started_event(
        ex_info=_ex_info(tmp_path),
        command="main",
        host_info=HOST,
        start_time=T0,
        config=config or {"lr": 0.1, "layers": [1, 2]},
        meta_info=meta or _meta(),
        _id=_id,
    )


def _metrics(name, steps, values, start=T0):
    return {
        name: {
            "name": name,
            "steps": list(steps),
            "values": list(values),
            "timestamps": [start + dt.timedelta(seconds=i) for i in range(len(steps))],
        }
    }


# ---- the full record -----------------------------------------------------------------------------
def test_every_recorded_field(url, tmp_path):
    obs = SqlObserver(url)
    meta = _meta(comment="first try", priority=3, tags=["b", "a"])
    run_id = _start(obs, tmp_path, meta=meta)
    assert isinstance(run_id, int)
    obs.log_metrics(_metrics("loss", [0, 1], [1.5, 0.25]), info={})
    obs.heartbeat_event(info={"epoch": 1}, captured_out="one\n", beat_time=T0 + dt.timedelta(1), result=None)
    obs.log_table("preds", [{"x": 1, "y": "a"}, {"x": 2, "y": "b"}])
    obs.log_table("preds", [{"x": 3, "y": "c"}])
    resource = tmp_path / "data.csv"
    resource.write_bytes(b"a,b\n1,2\n")
    obs.resource_event(filename=str(resource))
    obs.resource_event(filename=str(resource))  # the same file again: one link
    blob = os.urandom(200_000)  # larger than MySQL's plain BLOB
    (tmp_path / "model.bin").write_bytes(blob)
    obs.artifact_event(
        name="model.bin",
        filename=str(tmp_path / "model.bin"),
        metadata={"epoch": 3},
        content_type="application/x-model",
    )
    (tmp_path / "plot.png").write_bytes(b"\x89PNG")
    obs.artifact_event(name="plot.png", filename=str(tmp_path / "plot.png"))
    obs.heartbeat_event(
        info={"epoch": 2}, captured_out="one\ntwo\n", beat_time=T0 + dt.timedelta(2), result=0.5
    )
    stop = T0 + dt.timedelta(3)
    obs.completed_event(stop_time=stop, result={"acc": 0.9})
    obs.join()

    (run,) = _row(url, s.run, run_id=str(run_id))
    assert run["uid"] == meta["uid"] and run["command"] == "main"
    assert run["status"] == "COMPLETED"
    assert (run["start_time"], run["stop_time"]) == (T0, stop)  # microseconds kept (MySQL too)
    assert run["heartbeat"] == T0 + dt.timedelta(2)
    assert run["comment"] == "first try" and run["priority"] == 3
    assert json.loads(run["config"]) == {"lr": 0.1, "layers": [1, 2]}
    assert json.loads(run["info"]) == {"epoch": 2}
    assert json.loads(run["meta"]) == meta
    assert json.loads(run["host_info"]) == HOST
    assert run["captured_out"] == "one\ntwo\n"
    assert run["result"] is None and json.loads(run["result_json"]) == {"acc": 0.9}

    (exp,) = _row(url, s.experiment, experiment_id=run["experiment_id"])
    assert (exp["name"], exp["base_dir"], exp["mainfile"]) == ("demo", str(tmp_path), "main.py")
    (host,) = _row(url, s.host, host_id=run["host_id"])
    assert (host["hostname"], host["cpu"], host["os"], host["os_info"], host["python_version"]) == (
        "box",
        "Intel Xeon",
        "Linux",
        "Linux-6.1.0-x86_64-with-glibc2.36",
        "3.11.2",
    )

    with _reader(url) as conn:
        srcs = conn.execute(
            sa.select(s.source.c.filename, s.source.c.content, s.source.c.md5sum)
            .join(s.experiments_sources)
            .where(s.experiments_sources.c.experiment_id == exp["experiment_id"])
            .order_by(s.source.c.filename)
        ).all()
        deps = conn.execute(
            sa.select(s.dependency.c.name, s.dependency.c.version)
            .join(s.experiments_dependencies)
            .where(s.experiments_dependencies.c.experiment_id == exp["experiment_id"])
            .order_by(s.dependency.c.name)
        ).all()
        repos = conn.execute(
            sa.select(s.repository.c.url, s.repository.c.commit, s.repository.c.dirty)
            .join(s.experiments_repositories)
            .where(s.experiments_repositories.c.experiment_id == exp["experiment_id"])
        ).all()
        res = conn.execute(
            sa.select(s.resource.c.filename, s.resource.c.content, s.resource.c.md5sum)
            .join(s.runs_resources)
            .where(s.runs_resources.c.run_id == str(run_id))
        ).all()
        tags = (
            conn.execute(sa.select(s.tag.c.tag).where(s.tag.c.run_id == str(run_id)).order_by(s.tag.c.tag))
            .scalars()
            .all()
        )
        trows = conn.execute(
            sa.select(s.table_row.c.name, s.table_row.c.row_index, s.table_row.c.data)
            .where(s.table_row.c.run_id == str(run_id))
            .order_by(s.table_row.c.row_index)
        ).all()
    assert [(f, c) for f, c, _ in srcs] == [
        ("main.py", "print('main')\n"),
        ("pkg/util.py", "X = 'ünïcode'\n"),
    ]
    assert [m for _, _, m in srcs] == [src[1] for src in _ex_info(tmp_path)["sources"]]
    assert deps == [("experimentkit", "0.1.0"), ("numpy", "1.26.4")]
    assert [(u, c, bool(d)) for u, c, d in repos] == [("git@example.org:me/demo.git", "a" * 40, True)]
    assert res == [(str(resource), b"a,b\n1,2\n", hashlib.md5(b"a,b\n1,2\n").hexdigest())]
    assert tags == ["a", "b"]
    assert [(n, i, json.loads(d)) for n, i, d in trows] == [
        ("preds", 0, {"x": 1, "y": "a"}),
        ("preds", 1, {"x": 2, "y": "b"}),
        ("preds", 2, {"x": 3, "y": "c"}),
    ]

    arts = {a["filename"]: a for a in _row(url, s.artifact, run_id=str(run_id))}
    assert bytes(arts["model.bin"]["content"]) == blob
    assert arts["model.bin"]["content_type"] == "application/x-model"
    assert json.loads(arts["model.bin"]["metadata"]) == {"epoch": 3}
    assert arts["model.bin"]["md5sum"] == hashlib.md5(blob).hexdigest()
    assert arts["plot.png"]["content_type"] == "image/png" and arts["plot.png"]["metadata"] is None


def test_second_run_of_same_experiment_reuses_rows(url, tmp_path):
    first, second = SqlObserver(url), SqlObserver(url)
    id1, id2 = _start(first, tmp_path), _start(second, tmp_path)
    assert id2 > id1
    (r1,), (r2,) = _row(url, s.run, run_id=str(id1)), _row(url, s.run, run_id=str(id2))
    assert r1["experiment_id"] == r2["experiment_id"] and r1["host_id"] == r2["host_id"]
    with _reader(url) as conn:
        links = s.experiments_sources
        n = conn.execute(
            sa.select(sa.func.count()).select_from(links).where(links.c.experiment_id == r1["experiment_id"])
        ).scalar()
    assert n == 2


# ---- metrics and output --------------------------------------------------------------------------
def test_metric_rows_equal_logged_points(url, tmp_path):
    obs = SqlObserver(url)
    run_id = _start(obs, tmp_path)
    batches = [
        _metrics("loss", range(0, 3), [3.0, 2.5, 2.0]),
        {
            **_metrics("loss", range(3, 5), [1.0, 0.5], T0 + dt.timedelta(hours=1)),
            **_metrics("acc", [10, 20], [0.1, 0.2]),
        },
        _metrics("weird", [0, 1, 2, 3], [float("nan"), float("inf"), True, 2**40]),
    ]
    for batch in batches:
        obs.log_metrics(batch, info={})
    obs.log_metrics({}, info={})  # nothing new: no statement, no error
    # NaN, inf and True are not finite numbers: stored as NULL.
    stored_value = {"weird": [None, None, None, float(2**40)]}
    expected = [
        (name, step, stored_value.get(name, g["values"])[i], g["timestamps"][i])
        for batch in batches
        for name, g in batch.items()
        for i, step in enumerate(g["steps"])
    ]
    with _reader(url) as conn:
        stored = conn.execute(
            sa.select(s.metric.c.name, s.metric.c.step, s.metric.c.value, s.metric.c.timestamp).where(
                s.metric.c.run_id == str(run_id)
            )
        ).all()
    assert sorted(map(tuple, stored), key=repr) == sorted(expected, key=repr)


def test_output_is_appended_not_resent(url, tmp_path):
    obs = SqlObserver(url)
    run_id = _start(obs, tmp_path)
    sent: list = []
    sa.event.listen(
        obs.engine,
        "before_cursor_execute",
        lambda conn, cur, stmt, params, ctx, many: sent.append(repr(params)),
    )
    out = ""
    for i, chunk in enumerate(["alpha ünï\n", "beta\n", "", "gamma" * 5000 + "\n"]):
        out += chunk
        sent.clear()
        obs.heartbeat_event(info={}, captured_out=out, beat_time=T0 + dt.timedelta(seconds=i), result=i)
        assert _row(url, s.run, run_id=str(run_id))[0]["captured_out"] == out
        if i:
            assert not any("alpha" in p for p in sent), "earlier output was sent again"
    assert _row(url, s.run, run_id=str(run_id))[0]["result"] == 3.0


# ---- ids, idempotence, attach --------------------------------------------------------------------
def test_given_id_is_kept_and_auto_ids_avoid_it(url, tmp_path):
    obs = SqlObserver(url)
    auto = _start(obs, tmp_path)
    assert _start(SqlObserver(url), tmp_path, _id="custom-7") == "custom-7"
    taken = auto + 1  # the next key the database would hand out
    assert _start(SqlObserver(url), tmp_path, _id=str(taken)) == str(taken)
    later = _start(SqlObserver(url), tmp_path)
    assert isinstance(later, int) and later > taken
    with pytest.raises(ObserverError, match="custom-7"):
        _start(SqlObserver(url), tmp_path, _id="custom-7")
    assert len(_row(url, s.run, run_id="custom-7")) == 1


def test_replayed_started_event_with_same_uid_returns_existing_run(url, tmp_path):
    meta = _meta()
    first = SqlObserver(url)
    run_id = _start(first, tmp_path, meta=meta)
    first.heartbeat_event(info={}, captured_out="abc", beat_time=T0, result=None)
    replay = SqlObserver(url)
    assert _start(replay, tmp_path, meta=meta) == run_id
    assert len(_row(url, s.run, uid=meta["uid"])) == 1
    replay.heartbeat_event(info={}, captured_out="abcdef", beat_time=T0, result=None)
    assert _row(url, s.run, uid=meta["uid"])[0]["captured_out"] == "abcdef"


def test_attach_continues_run_and_output(url, tmp_path):
    first = SqlObserver(url)
    run_id = _start(first, tmp_path)
    first.heartbeat_event(info={}, captured_out="héllo\n", beat_time=T0, result=None)
    spec = first.replay_spec()
    assert spec == {"factory": "experimentkit.backends.sql.observer:SqlObserver", "kwargs": {"url": url}}
    module, _, attr = spec["factory"].partition(":")
    later = getattr(__import__(module, fromlist=[attr]), attr)(**spec["kwargs"])
    later.attach(run_id)
    later.heartbeat_event(info={}, captured_out="héllo\nworld\n", beat_time=T0, result=None)
    later.log_metrics(_metrics("m", [0], [1.0]), info={})
    later.failed_event(
        fail_time=T0 + dt.timedelta(1), fail_trace=["Traceback:\n", "  boom\n", "ValueError: x"]
    )
    (run,) = _row(url, s.run, run_id=str(run_id))
    assert run["captured_out"] == "héllo\nworld\n"
    assert run["status"] == "FAILED" and run["fail_trace"] == "Traceback:\n  boom\nValueError: x"
    assert len(_row(url, s.metric, run_id=str(run_id))) == 1
    with pytest.raises(ObserverError, match="no run with id"):
        SqlObserver(url).attach("does-not-exist")


def test_queued_and_interrupted_statuses(url, tmp_path):
    queued = SqlObserver(url)
    qid = queued.queued_event(
        ex_info=_ex_info(tmp_path),
        command="main",
        host_info=HOST,
        queue_time=T0,
        config={},
        meta_info=_meta(),
        _id=None,
    )
    (row,) = _row(url, s.run, run_id=str(qid))
    assert (row["status"], row["queue_time"], row["start_time"]) == ("QUEUED", T0, None)
    obs = SqlObserver(url)
    rid = _start(obs, tmp_path)
    obs.interrupted_event(interrupt_time=T0 + dt.timedelta(1), status="TIMEOUT")
    (row,) = _row(url, s.run, run_id=str(rid))
    assert (row["status"], row["stop_time"]) == ("TIMEOUT", T0 + dt.timedelta(1))


def test_events_before_a_run_raise(tmp_path):
    obs = SqlObserver(f"sqlite:///{tmp_path / 'x.sqlite'}")
    with pytest.raises(ObserverError, match="started_event"):
        obs.heartbeat_event(info={}, captured_out="", beat_time=T0, result=None)


# ---- construction, engines, failures -------------------------------------------------------------
def test_create_from_engine_and_replay_spec(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'e.sqlite'}")
    obs = SqlObserver.create_from(engine, session=object(), priority=7)
    assert obs.priority == 7 and SqlObserver("sqlite://").priority == 40
    run_id = _start(obs, tmp_path)
    obs.join()
    with engine.connect() as conn:  # the caller's engine still works after join
        assert conn.execute(sa.select(s.run.c.status)).scalar() == "RUNNING"
    assert obs.replay_spec()["kwargs"]["url"] == f"sqlite:///{tmp_path / 'e.sqlite'}"
    secret = "postgresql://me:s3cret@127.0.0.1:1/db"
    assert SqlObserver(secret).replay_spec()["kwargs"]["url"] == secret
    assert "s3cret" not in repr(SqlObserver(secret))


def test_unreachable_server_propagates(tmp_path):
    obs = SqlObserver("postgresql://postgres@127.0.0.1:9/nothing")  # discard port: nobody listens
    with pytest.raises(sa.exc.OperationalError, match="127.0.0.1"):
        _start(obs, tmp_path)


@contextlib.contextmanager
def _silent_server():
    """A port that accepts TCP connections and never says a word: a hung database server."""
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], accepted
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()


def test_a_server_that_never_answers_fails_the_start_instead_of_hanging(tmp_path, monkeypatch):
    # without a connect timeout libpq waits for the server's reply forever (pytest-timeout would fail
    # the test); the default is shortened so the test does not spend the production 5 s
    from experimentkit.backends.sql import observer as sql_observer

    monkeypatch.setattr(sql_observer, "_CONNECT_TIMEOUT", 1)
    with _silent_server() as (port, accepted):
        obs = SqlObserver(f"postgresql://postgres@127.0.0.1:{port}/nothing")
        raised: list = []

        def start() -> None:
            try:
                _start(obs, tmp_path)
            except Exception as exc:
                raised.append(exc)

        thread = threading.Thread(target=start, daemon=True)  # a hang must not hang pytest too
        thread.start()
        thread.join(60)  # a deadline for a hang, far above the 1 s asked for
        assert not thread.is_alive(), "started_event still waits for a server that never answers"
        assert accepted, "the observer never reached the silent server"
    (exc,) = raised
    assert isinstance(exc, sa.exc.OperationalError) and "timeout" in str(exc)


@pytest.mark.postgres
def test_reconnects_after_connection_is_killed(tmp_path, _server_dbs):
    url = _server_dbs("postgres")
    obs = SqlObserver(url)
    run_id = _start(obs, tmp_path)
    with obs.engine.connect() as conn:
        pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
    with _reader(url) as conn:
        assert conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
    obs.heartbeat_event(info={}, captured_out="back", beat_time=T0, result=None)
    assert _row(url, s.run, run_id=str(run_id))[0]["captured_out"] == "back"


@pytest.mark.parametrize(
    "kind",
    [pytest.param("postgres", marks=pytest.mark.postgres), pytest.param("mysql", marks=pytest.mark.mysql)],
)
def test_fifty_concurrent_runs(kind, tmp_path):
    with _fresh_database(kind, tmp_path) as url:  # fresh: the schema creation races too
        ex_info = _ex_info(tmp_path)
        barrier = threading.Barrier(50)
        ids: list = []
        errors: list = []

        def one_run(i):
            obs = SqlObserver(url)
            try:
                barrier.wait()
                rid = obs.started_event(
                    ex_info=ex_info,
                    command="main",
                    host_info=HOST,
                    start_time=T0,
                    config={"i": i},
                    meta_info=_meta(),
                    _id=None,
                )
                obs.log_metrics(_metrics("loss", range(10), [float(i)] * 10), info={})
                obs.heartbeat_event(info={}, captured_out=f"run {i}\n", beat_time=T0, result=None)
                obs.completed_event(stop_time=T0, result=i)
                ids.append(rid)
            except Exception as exc:  # reported below
                errors.append(exc)
            finally:
                obs.join()

        threads = [threading.Thread(target=one_run, args=(i,)) for i in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors[:3]
        assert len(set(ids)) == 50 and all(isinstance(i, int) for i in ids)
        with _reader(url) as conn:
            runs = conn.execute(sa.select(s.run)).mappings().all()
            counts = conn.execute(
                sa.select(s.metric.c.run_id, sa.func.count()).group_by(s.metric.c.run_id)
            ).all()
            n_exp = conn.execute(sa.select(sa.func.count()).select_from(s.experiment)).scalar()
            n_host = conn.execute(sa.select(sa.func.count()).select_from(s.host)).scalar()
            n_src = conn.execute(sa.select(sa.func.count()).select_from(s.source)).scalar()
        assert len(runs) == 50 and {int(r["run_id"]) for r in runs} == set(ids)
        assert all(r["status"] == "COMPLETED" and r["captured_out"] == f"run {r['result']:g}\n" for r in runs)
        assert sorted(n for _, n in counts) == [10] * 50
        assert (n_exp, n_host, n_src) == (1, 1, 2)


# ---- migrations ----------------------------------------------------------------------------------
def test_fresh_database_gets_current_schema(empty_url):
    engine = sa.create_engine(with_driver(empty_url))
    try:
        assert migrations.upgrade(engine) == s.SCHEMA_VERSION
        assert migrations.upgrade(engine) == s.SCHEMA_VERSION  # idempotent
        with engine.connect() as conn:
            assert migrations.stored_version(conn) == s.SCHEMA_VERSION
            assert set(s.metadata.tables) <= set(sa.inspect(conn).get_table_names())
            conn.execute(s.schema_version.update().values(version=s.SCHEMA_VERSION + 1))
            conn.commit()
        with pytest.raises(StoreError, match="newer"):
            migrations.upgrade(engine)
    finally:
        engine.dispose()


def test_upgrade_sacred_database(empty_url, tmp_path):
    """A database written by Sacred 0.8's own SqlObserver is upgraded in place and extended."""
    sacred_sql = pytest.importorskip("sacred.observers.sql")
    import warnings

    from sqlalchemy.orm import sessionmaker

    engine = sa.create_engine(with_driver(empty_url))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        old = sacred_sql.SqlObserver.create_from(engine, sessionmaker(bind=engine)())
        old_id = old.started_event(
            ex_info=_ex_info(tmp_path, "old"),
            command="main",
            host_info=HOST,
            start_time=T0,
            config={"a": 1},
            meta_info={"comment": "sacred"},
            _id=None,
        )
        old.heartbeat_event(info={"x": 1}, captured_out="from sacred\n", beat_time=T0, result=2.5)
        old.completed_event(stop_time=T0, result=2.5)
        old.session.close()
    try:
        with engine.connect() as conn:
            assert migrations.stored_version(conn) == 0
        assert migrations.upgrade(engine) == s.SCHEMA_VERSION
        with engine.connect() as conn:
            assert migrations.stored_version(conn) == s.SCHEMA_VERSION
            cols = {c["name"] for c in sa.inspect(conn).get_columns("run")}
            indexes = {i["name"] for i in sa.inspect(conn).get_indexes("run")}
        assert {"uid", "result_json", "meta", "host_info", "note"} <= cols
        assert {"ux_run_uid", "ix_run_status"} <= indexes

        (old_row,) = _row(empty_url, s.run, run_id=str(old_id))
        assert (old_row["status"], old_row["result"], old_row["captured_out"]) == (
            "COMPLETED",
            2.5,
            "from sacred\n",
        )

        obs = SqlObserver(empty_url)
        big = "x" * 70_000  # beyond MySQL's 64 KB TEXT, which Sacred's columns were
        qid = obs.queued_event(
            ex_info=_ex_info(tmp_path, "old"),
            command="c" * 100,
            host_info=HOST,
            queue_time=T0,
            config={"big": big},
            meta_info=_meta(),
            _id=None,
        )
        assert str(qid) != str(old_id)
        (new_row,) = _row(empty_url, s.run, run_id=str(qid))
        assert new_row["status"] == "QUEUED" and json.loads(new_row["config"]) == {"big": big}
        assert new_row["host_id"] == old_row["host_id"]  # Sacred's host row is reused
    finally:
        engine.dispose()


# ---- end to end ----------------------------------------------------------------------------------
def test_experiment_run_end_to_end(url):
    from experimentkit import Experiment

    ex = Experiment("sql_e2e")

    @ex.config
    def cfg():
        lr = 0.25  # noqa: F841 - a config entry

    @ex.main
    def main(lr, _run):
        print("training")
        for step in range(4):
            _run.log_scalar("loss", 1.0 / (step + 1), step)
        return lr * 2

    obs = SqlObserver(url)
    ex.observers.append(obs)
    run = ex.run(options={"--capture": "sys"})
    (row,) = _row(url, s.run, run_id=str(run._id))
    assert (row["status"], row["result"]) == ("COMPLETED", 0.5)
    assert json.loads(row["config"])["lr"] == 0.25
    assert "training\n" in row["captured_out"]
    points = _row(url, s.metric, run_id=str(run._id))
    assert sorted((p["step"], p["value"]) for p in points) == [(i, 1.0 / (i + 1)) for i in range(4)]


# ---- import cost ---------------------------------------------------------------------------------
def test_sqlalchemy_is_loaded_only_when_used():
    code = (
        "import sys, experimentkit.observers as o, experimentkit.backends.sql as b\n"
        "cls = o.SqlObserver\n"
        "obs = cls('sqlite://')\n"
        "assert 'sqlalchemy' not in sys.modules, 'imported too early'\n"
        "obs.engine\n"
        "assert 'sqlalchemy' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
