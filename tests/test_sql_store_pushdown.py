"""SqlStore beyond the shared cases: what SQL is sent (push-down), JSON holding NaN, values Python
sorts as JSON text, DEAD detection in SQL, the tag-order migration, and reading a database whose
runs only the numeric ``result`` column describes (Sacred-era rows)."""

from __future__ import annotations

import datetime as dt
import math
import re

import pytest

sa = pytest.importorskip("sqlalchemy")

from store_conformance import emit_events, sample_runs  # noqa: E402
from test_sql_store import databases  # noqa: E402

from experimentkit.backends.sql import migrations  # noqa: E402
from experimentkit.backends.sql import schema as s  # noqa: E402
from experimentkit.backends.sql.observer import SqlObserver  # noqa: E402
from experimentkit.backends.sql.store import SqlStore  # noqa: E402
from experimentkit.errors import StoreError  # noqa: E402
from experimentkit.query import open_store  # noqa: E402
from experimentkit.query.memory import InMemoryStore  # noqa: E402

T = dt.datetime


def _spec(run_id: str, lr, acc: list, **extra) -> dict:
    spec = {
        "id": run_id,
        "experiment": {
            "name": "exp",
            "base_dir": "/x",
            "sources": [],
            "dependencies": [],
            "repositories": [],
            "mainfile": "a.py",
        },
        "status": "COMPLETED",
        "command": "main",
        "config": {"lr": lr, "seed": int(run_id)},
        "host": {"hostname": "h"},
        "meta": {"uid": f"u{run_id}"},
        "start_time": T(2024, 1, int(run_id), 1),
        "stop_time": T(2024, 1, int(run_id), 2),
        "heartbeat": T(2024, 1, int(run_id), 2),
        "info": {},
        "captured_out": "",
        "metrics": {
            "val.accuracy": {
                "steps": list(range(len(acc))),
                "values": acc,
                "timestamps": [T(2024, 1, 1)] * len(acc),
            }
        },
    }
    spec.update(extra)
    return spec


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def kind(request):
    return request.param


@pytest.fixture
def make(kind, tmp_path):
    """``make(specs, **kw)``: a store over a fresh database of ``kind`` holding ``specs``."""
    with databases(kind, tmp_path) as dbs:
        opened = []

        def build(specs, **kw):
            url = dbs.new()
            for spec in specs:
                emit_events(SqlObserver(url), spec, tmp_path)
            opened.append(SqlStore(url, **kw))
            return opened[-1]

        yield build
        for store in opened:
            store.close()


def _capture(store):
    statements = []
    sa.event.listen(
        store.engine,
        "before_cursor_execute",
        lambda conn, cursor, stmt, params, ctx, many: statements.append(stmt),
    )
    return statements


def _ids(records):
    return [r.id for r in records]


def test_common_query_is_one_limited_sql_statement(make):
    specs = [
        _spec(str(i), lr, [0.1 * i, 0.05 * i])
        for i, lr in [(1, 0.01), (2, 0.1), (3, 0.02), (4, 0.03), (5, 0.2), (6, 0.04)]
    ]
    store = make(specs)
    statements = _capture(store)
    found = store.runs().where("config.lr < 0.05").order_by("-metrics.val.accuracy").limit(2).all()
    assert _ids(found) == ["6", "4"]
    assert found[0].metrics["val.accuracy"]["last"] == pytest.approx(0.3)
    main = [st for st in statements if st.startswith("SELECT run.run_id")]
    assert len(main) == 1 and "LIMIT" in main[0].upper() and "WHERE" in main[0].upper()
    assert "metric" in main[0] and ("json" in main[0].lower())
    # nothing selects runs without a limit, and only the two returned runs get their metrics
    run_selects = [st for st in statements if re.search(r"FROM run\b", st) and "LIMIT" not in st.upper()]
    assert run_selects == []
    assert (
        InMemoryStore(specs)
        .runs()
        .where("config.lr < 0.05")
        .order_by("-metrics.val.accuracy")
        .limit(2)
        .all()[0]
        .id
        == "6"
    )


def test_nan_in_json_falls_back_to_python(make):
    specs = [
        _spec("1", 0.01, [0.5]),
        _spec("2", float("nan"), [0.9]),
        _spec("3", 0.03, [0.7], config={"lr": 0.03, "note": "NaN is a word"}),
        _spec("4", 0.5, [0.95], result=float("nan")),
    ]
    store = make(specs)
    assert _ids(store.runs().where("config.lr < 0.05").order_by("-metrics.val.accuracy").limit(5).all()) == [
        "3",
        "1",
    ]
    assert _ids(store.runs().order_by("-config.seed").limit(3).all()) == ["4", "2", "1"]
    assert store.runs().where("config.lr < 0.05").count() == 2
    assert math.isnan(store.get("2").config["lr"]) and math.isnan(store.get("4").result)
    assert _ids(store.runs().where("result == None").all()) == ["1", "2", "3"]


def test_lists_and_objects_sort_as_in_python(make):
    specs = [
        _spec("1", [3, 1], [0.1]),
        _spec("2", 0.5, [0.2]),
        _spec("3", {"a": 1}, [0.3]),
        _spec("4", "x", [0.4]),
        _spec("5", [1, 2], [0.5]),
        _spec("6", True, [0.6]),
    ]
    store, reference = make(specs), InMemoryStore(specs)
    for keys in (["config.lr"], ["-config.lr"]):
        for limit in (1, 3, 4, None):
            got = store.runs().order_by(*keys).limit(limit).all()
            want = reference.runs().order_by(*keys).limit(limit).all()
            assert _ids(got) == _ids(want), (keys, limit)
    for expr in (
        "config.lr in [0.5, 1]",
        "config.lr contains 1",
        "config.lr == True",
        "config.lr == 1",
        "config.lr > 0.1",
        "config.lr >= x",
    ):
        assert _ids(store.runs().where(expr).all()) == _ids(reference.runs().where(expr).all())


def test_dead_status_is_computed_in_sql(make):
    now = T(2024, 6, 1, 12)
    running = _spec("1", 0.1, [0.1], status="RUNNING", heartbeat=now - dt.timedelta(seconds=30))
    stale = _spec("2", 0.1, [0.1], status="RUNNING", heartbeat=now - dt.timedelta(hours=1))
    store = make([running, stale, _spec("3", 0.1, [0.1])], clock=lambda: now, dead_after=120)
    statements = _capture(store)
    assert _ids(store.runs().where("status == DEAD").limit(5).all()) == ["2"]
    assert any("DEAD" in st or "LIMIT" in st.upper() for st in statements)
    assert store.get("1").status == "RUNNING" and store.get("2").raw_status == "RUNNING"
    assert _ids(store.runs().order_by("status").all()) == ["3", "2", "1"]


def test_rows_push_down_and_fallback(make):
    rows = [{"image": f"{i}.png", "pixel_accuracy": (i * 37 % 10) / 10, "label": i % 3} for i in range(20)]
    rows[5]["pixel_accuracy"] = None
    spec = _spec("1", 0.1, [0.9], tables={"val": rows})
    nan_rows = [{"i": 0, "v": float("nan")}, {"i": 1, "v": 0.5}, {"i": 2, "v": 0.1}]
    store = make([spec, _spec("2", 0.2, [0.1], tables={"val": nan_rows})])
    reference = InMemoryStore([spec])
    got = store.get("1").rows("val", where="label != 1", sort="pixel_accuracy", limit=5)
    want = reference.get("1").rows("val", where="label != 1", sort="pixel_accuracy", limit=5)
    assert got == want and len(got) == 5
    assert store.get("1").rows("val", sort="-pixel_accuracy") == reference.get("1").rows(
        "val", sort="-pixel_accuracy"
    )
    assert [r["i"] for r in store.get("2").rows("val", where="v < 1", sort="v")] == [2, 1]


def test_tag_order_survives_and_old_layout_is_upgraded(tmp_path):
    url = f"sqlite:///{tmp_path / 'v1.sqlite'}"
    emit_events(SqlObserver(url), sample_runs()[0], tmp_path)
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # back to the version-1 layout
        conn.execute(sa.text("ALTER TABLE tag DROP COLUMN seq"))
        conn.execute(s.schema_version.update().values(version=1))
    store = SqlStore(url)
    assert store.add_tags("1", ["zeta", "alpha"]) == ["zeta", "alpha"]
    with engine.connect() as conn:
        assert migrations.stored_version(conn) == s.SCHEMA_VERSION
    store.close()
    engine.dispose()


def test_sacred_era_rows_without_json_columns(tmp_path):
    """Runs an upgraded Sacred database holds: no result_json/meta/host_info, no metrics."""
    url = f"sqlite:///{tmp_path / 'sacred.sqlite'}"
    engine = sa.create_engine(url)
    migrations.upgrade(engine)
    with engine.begin() as conn:
        host = conn.execute(
            s.host.insert().values(
                hostname="old", cpu="x", os="Linux", os_info="Linux-5", python_version="3.8"
            )
        )
        for run_id, result in (("1", 0.25), ("2", 0.75), ("3", None)):
            conn.execute(
                s.run.insert().values(
                    run_id=run_id,
                    status="COMPLETED",
                    command="main",
                    config='{"lr": 0.1}',
                    info="{}",
                    result=result,
                    start_time=T(2020, 1, 1),
                    comment="c",
                    host_id=host.inserted_primary_key[0],
                )
            )
    store = open_store(url)
    assert _ids(store.runs().where("result > 0.5").all()) == ["2"]
    assert _ids(store.runs().order_by("-result").all()) == ["2", "1", "3"]
    run = store.get("1")
    assert run.result == 0.25 and run.host == {
        "hostname": "old",
        "cpu": "x",
        "python_version": "3.8",
        "os": ["Linux", "Linux-5"],
    }
    assert run.meta == {"command": "main", "comment": "c"} and run.metrics == {}
    assert _ids(store.runs().where("host.hostname == old", "meta.comment == c").all()) == ["1", "2", "3"]
    store.close()
    engine.dispose()


def test_a_dialect_the_compiler_lacks_is_refused_before_anything_is_written():
    engine = sa.create_mock_engine("mssql://h/db", executor=lambda *args, **kw: pytest.fail("wrote SQL"))
    with pytest.raises(StoreError, match="no mssql dialect"):
        SqlStore("mssql://h/db", engine=engine)
