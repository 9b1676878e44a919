"""FastPostgresStore (``open_store("postgresql://...")``, psycopg2) and FastMysqlStore
(``open_store("mysql+pymysql://...")``, PyMySQL): the shared conformance cases answered over the
DBAPI driver alone (the query compiler's PostgreSQL and MySQL dialects), the same answers as
``SqlStore`` on random queries over random runs, the records and series ``SqlStore`` gives, a fresh
process that queries and reads a run's metric without importing SQLAlchemy, and URLs with
parameters, older layouts and JSON the database refuses going to the full store.  Needs the test
servers (EXPERIMENTKIT_TEST_POSTGRES, EXPERIMENTKIT_TEST_MYSQL); each kind is skipped without its."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

sa = pytest.importorskip("sqlalchemy")
np = pytest.importorskip("numpy")

from hypothesis import given, settings  # noqa: E402
from store_conformance import sample_runs  # noqa: E402

from experimentkit.backends.sql.fast_server import (  # noqa: E402
    FastMysqlStore,
    FastPostgresStore,
    mysql_params,
    postgres_params,
)
from experimentkit.backends.sql.store import SqlStore  # noqa: E402
from experimentkit.errors import StoreError  # noqa: E402
from experimentkit.query import Order, Query, open_store, parse_where  # noqa: E402
from tests.dbutil import ENV, server_database, with_driver  # noqa: E402
from tests.test_sql_store_fast import (  # noqa: E402
    FastConformance,
    _fill,
    _queries,
    _random_specs,
    element_cases,
    fill_twin,
    reference_ids,
    sweep_cases,
)

STORES = {"postgres": FastPostgresStore, "mysql": FastMysqlStore}
DRIVERS = {"postgres": "psycopg2", "mysql": "pymysql"}


def _driver(kind: str) -> None:
    pytest.importorskip(DRIVERS[kind])


class _FastServerConformance(FastConformance):
    kind = "postgres"

    @classmethod
    def new_url(cls, stack: contextlib.ExitStack, tmp) -> str:
        _driver(cls.kind)
        return stack.enter_context(server_database(cls.kind, "ek_fastsrvc"))


class TestFastPostgresConformance(_FastServerConformance):
    kind, store_class = "postgres", FastPostgresStore


class TestFastMysqlConformance(_FastServerConformance):
    kind, store_class = "mysql", FastMysqlStore


@pytest.fixture(scope="module", params=["postgres", "mysql"])
def twins(request, tmp_path_factory):
    """(fast store, SqlStore, specs) over the same random runs on each server."""
    _driver(request.param)
    tmp = tmp_path_factory.mktemp(f"fast-{request.param}")
    with server_database(request.param, "ek_fastsrv") as url:
        specs = _random_specs(7)
        full = fill_twin(url, specs, tmp)
        fast = open_store(url)
        assert isinstance(fast, STORES[request.param])
        yield fast, full, specs
        fast.close()
        full.close()


def test_records_and_series_equal_sqlstore(twins) -> None:
    fast, full, specs = twins
    series = 0
    for spec in specs:
        before = dict(fast.stats)
        run = fast.get(spec["id"])
        assert run == full.get(spec["id"])
        for name in spec["metrics"]:
            mine, theirs = run.metric(name), full.metric(spec["id"], name)
            assert (mine.steps, mine.values, mine.timestamps) == (
                theirs.steps,
                theirs.values,
                theirs.timestamps,
            )
            for a, b in zip(mine.to_numpy(), theirs.to_numpy()):
                assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
            series += 1
        assert fast.stats == {"fast": before["fast"] + 1 + len(spec["metrics"]), "full": before["full"]}
    assert series > 10
    with pytest.raises(StoreError, match="no run 'nope'"):
        fast.get("nope")
    with pytest.raises(StoreError, match="no metric 'accc'.*'acc'"):
        fast.get(next(s["id"] for s in specs if "acc" in s["metrics"])).metric("accc")


@settings(max_examples=100, deadline=None)
@given(q=_queries)
def test_same_answers_as_sqlstore(twins, q: Query) -> None:
    fast, full, _ = twins
    before = fast.stats["full"]
    assert fast.query(q) == full.query(q)
    assert fast.count(q) == full.count(q)
    assert fast.stats["full"] == before, "the driver path handed the query to SqlStore"


def test_every_key_operator_and_order_as_sqlstore(twins) -> None:
    fast, full, _ = twins
    before = fast.stats["full"]
    for q in sweep_cases():
        assert [r.id for r in fast.query(q)] == [r.id for r in full.query(q)], q
    assert fast.stats["full"] == before
    for root in ("config", "info", "meta", "metrics"):
        assert fast.key_names(root) == full.key_names(root)
    assert fast.statuses() == full.statuses()


def test_list_elements_as_the_reference(twins) -> None:
    """PostgreSQL matches list elements in SQL, MySQL/MariaDB in Python: the same answers."""
    fast, _, specs = twins
    before = fast.stats["full"]
    for q in element_cases():
        assert [r.id for r in fast.query(q)] == reference_ids(specs, q), q
    assert fast.stats["full"] == before


@pytest.mark.parametrize("kind", ["postgres", "mysql"])
def test_fresh_process_queries_and_reads_a_metric_without_sqlalchemy(tmp_path, kind) -> None:
    _driver(kind)
    with server_database(kind, "ek_fastsrv") as url:
        _fill(url, sample_runs(), tmp_path)
        code = (
            "import json, sys\n"
            "from experimentkit.query import open_store\n"
            "s = open_store(sys.argv[1])\n"
            "steps, values, times = s.get('2').metric('val.accuracy').to_numpy()\n"
            "top = s.runs().where('config.lr < 0.05').order_by('-metrics.val.accuracy').limit(3).all()\n"
            "n = s.runs().where('status == COMPLETED').count()\n"
            "print(json.dumps({'values': values.tolist(), 'stats': s.stats, 'n': n,\n"
            "                  'top': [r.id for r in top], 'best': s.best('loss', minimize=True).id,\n"
            "                  'sqlalchemy': 'sqlalchemy' in sys.modules}))\n"
        )
        done = subprocess.run([sys.executable, "-c", code, url], capture_output=True, text=True, check=True)
        out = json.loads(done.stdout)
        assert out["sqlalchemy"] is False and out["stats"] == {"fast": 5, "full": 0}
        assert out["top"] == ["2", "3", "6"] and out["n"] == 3 and out["best"] == "2"
        assert out["values"] == SqlStore(url).metric("2", "val.accuracy").values


def test_urls_this_path_does_not_take() -> None:
    assert postgres_params("postgresql://u:p%40ss@h:5433/db") == {
        "dbname": "db",
        "host": "h",
        "port": 5433,
        "user": "u",
        "password": "p@ss",
    }
    for other in ("postgresql://h/db?sslmode=require", "postgresql+psycopg://h/db", "postgresql://h/"):
        assert postgres_params(other) is None
    assert mysql_params("mariadb+pymysql://root@h/db") == {"database": "db", "host": "h", "user": "root"}
    for other in ("mysql+mysqldb://h/db", "mysql://h/db?charset=utf8", "postgresql://h/db"):
        assert mysql_params(other) is None


@pytest.mark.parametrize("kind", ["postgres", "mysql"])
def test_older_layouts_go_to_the_full_store(tmp_path, kind) -> None:
    _driver(kind)
    with server_database(kind, "ek_fastsrv") as url:
        _fill(url, sample_runs(), tmp_path)
        engine = sa.create_engine(with_driver(url))
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE schema_version SET version = 5"))
        engine.dispose()
        store = open_store(url)
        assert store.get("2").status == "COMPLETED" and store.stats == {"fast": 0, "full": 1}
        assert store.get("3").status == "FAILED" and store.stats == {"fast": 1, "full": 1}  # upgraded
        store.close()


@pytest.mark.parametrize("kind", ["postgres", "mysql"])
def test_json_the_database_cannot_read_goes_to_the_full_store(tmp_path, kind) -> None:
    _driver(kind)
    with server_database(kind, "ek_fastsrv") as url:
        specs = sample_runs()
        specs[0]["config"]["lr"] = float("nan")
        _fill(url, specs, tmp_path)
        fast, full = open_store(url), SqlStore(url)
        q = Query(filters=(parse_where("config.lr < 0.05"),), order=(Order("config.lr", True),), limit=3)
        assert [r.id for r in fast.query(q)] == [r.id for r in full.query(q)] == ["10", "6", "2"]
        assert fast.stats == {"fast": 0, "full": 1}
        # queries that parse no JSON stay on the driver path
        q = Query(filters=(parse_where("status == COMPLETED"),))
        assert fast.query(q) == full.query(q) and fast.stats == {"fast": 1, "full": 1}
        fast.close()
        full.close()


def _settled_connections(kind: str, url: str, at_most: int, deadline: float = 30.0) -> int:
    """``_server_connections`` once it is ``at_most`` or fewer, or when ``deadline`` seconds have
    passed: a connection the client closed stays in the server's list until its backend process
    has exited, a moment later."""
    end = time.monotonic() + deadline
    while True:
        count = _server_connections(kind, url)
        if count <= at_most or time.monotonic() > end:
            return count
        time.sleep(0.05)


def _server_connections(kind: str, url: str) -> int:
    """Connections to the database of ``url`` the server has open, counted from another one."""
    name = sa.make_url(url).database
    if kind == "postgres":
        sql, base = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", postgres_params
    else:
        sql, base = "SELECT count(*) FROM information_schema.PROCESSLIST WHERE DB = %s", mysql_params
    params = base(os.environ[ENV[kind]])
    assert params is not None
    driver = importlib.import_module(DRIVERS[kind])
    with contextlib.closing(driver.connect(**params)) as admin:
        cursor = admin.cursor()
        cursor.execute(sql, (name,))
        return int(cursor.fetchone()[0])


@pytest.mark.parametrize("kind", ["postgres", "mysql"])
def test_many_reading_threads_leave_few_connections_and_close_ends_them(tmp_path, kind) -> None:
    """A thread pool reading (a dashboard) does not leave one idle connection per thread."""
    _driver(kind)
    with server_database(kind, "ek_fastpool") as url:
        _fill(url, sample_runs()[:2], tmp_path)
        before = _server_connections(kind, url)  # the observers' own pools
        store = open_store(url)
        threads = 3 * store.POOL_SIZE
        together = threading.Barrier(threads)

        def read(_: int) -> str:
            together.wait()  # every read on its own thread
            return store.get("1").status

        with ThreadPoolExecutor(threads) as pool:
            assert list(pool.map(read, range(threads))) == ["COMPLETED"] * threads
            # the pool's threads are alive and idle here; the connections closed beyond the
            # pool's size leave the server's list when their backends have exited
            kept = _settled_connections(kind, url, before + store.POOL_SIZE)
            assert before < kept <= before + store.POOL_SIZE
        assert store.query(Query()) and store.stats["full"] == 0
        store.close()
        assert _settled_connections(kind, url, before) == before
