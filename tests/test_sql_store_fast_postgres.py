"""FastPostgresStore (``open_store("postgresql://...")``): ``get`` and ``metric`` answered over
psycopg2 alone give the records and series ``SqlStore`` gives, a fresh process reads a run's metric
without importing SQLAlchemy, and queries, URLs with parameters and older layouts go to the full
store.  Needs the PostgreSQL test server (EXPERIMENTKIT_TEST_POSTGRES)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

sa = pytest.importorskip("sqlalchemy")
pytest.importorskip("psycopg2")
np = pytest.importorskip("numpy")

from store_conformance import sample_runs  # noqa: E402

from experimentkit.backends.sql.fast_server import FastPostgresStore, postgres_params  # noqa: E402
from experimentkit.backends.sql.store import SqlStore  # noqa: E402
from experimentkit.errors import StoreError  # noqa: E402
from experimentkit.query import open_store  # noqa: E402
from tests.dbutil import server_database, with_driver  # noqa: E402
from tests.test_sql_store_fast import _fill, _random_specs  # noqa: E402


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    """(FastPostgresStore, SqlStore, specs) over the same random runs on the server."""
    tmp = tmp_path_factory.mktemp("fast-pg")
    with server_database("postgres", "ek_fastpg") as url:
        specs = _random_specs(7)
        _fill(url, specs, tmp)
        full = SqlStore(url)
        for spec in specs:
            if spec["tags"]:
                full.add_tags(spec["id"], spec["tags"])
            if spec["notes"]:
                full.set_note(spec["id"], spec["notes"])
        fast = open_store(url)
        assert isinstance(fast, FastPostgresStore)
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
    # queries are the full store's
    assert [r.id for r in fast.runs().where("config.a != 1").all()] == [
        r.id for r in full.runs().where("config.a != 1").all()
    ]


def test_fresh_process_reads_a_metric_without_sqlalchemy(tmp_path) -> None:
    with server_database("postgres", "ek_fastpg") as url:
        _fill(url, sample_runs(), tmp_path)
        code = (
            "import json, sys\n"
            "from experimentkit.query import open_store\n"
            "s = open_store(sys.argv[1])\n"
            "steps, values, times = s.get('2').metric('val.accuracy').to_numpy()\n"
            "print(json.dumps({'values': values.tolist(), 'stats': s.stats,\n"
            "                  'sqlalchemy': 'sqlalchemy' in sys.modules}))\n"
        )
        done = subprocess.run([sys.executable, "-c", code, url], capture_output=True, text=True, check=True)
        out = json.loads(done.stdout)
        assert out["sqlalchemy"] is False and out["stats"] == {"fast": 2, "full": 0}
        assert out["values"] == SqlStore(url).metric("2", "val.accuracy").values


def test_urls_with_parameters_and_older_layouts_go_to_the_full_store(tmp_path) -> None:
    assert postgres_params("postgresql://u:p%40ss@h:5433/db") == {
        "dbname": "db",
        "host": "h",
        "port": 5433,
        "user": "u",
        "password": "p@ss",
    }
    for other in ("postgresql://h/db?sslmode=require", "postgresql+psycopg://h/db", "postgresql://h/"):
        assert postgres_params(other) is None
    with server_database("postgres", "ek_fastpg") as url:
        _fill(url, sample_runs(), tmp_path)
        engine = sa.create_engine(with_driver(url))
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE schema_version SET version = 5"))
        engine.dispose()
        store = open_store(url)
        assert store.get("2").status == "COMPLETED" and store.stats == {"fast": 0, "full": 1}
        assert store.get("3").status == "FAILED" and store.stats == {"fast": 1, "full": 1}  # upgraded
        store.close()
