"""Run ids, tags, statuses and other text compare by case in every SQL store, as in SQLite and
PostgreSQL: on MariaDB (whose default collations ignore case) run "abc" is not found as "ABC",
neither by ``open_store(...).get``, ``SqlStore``, a ``--where`` query nor ``experimentkit show``, and
"abc" and "ABC" are two runs.  Needs the test servers for the server cases (skipped without)."""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import subprocess
import sys

import pytest

sa = pytest.importorskip("sqlalchemy")

from store_conformance import _run, emit_events  # noqa: E402

from experimentkit.backends.sql import migrations  # noqa: E402
from experimentkit.backends.sql import schema as s  # noqa: E402
from experimentkit.backends.sql.observer import SqlObserver  # noqa: E402
from experimentkit.backends.sql.store import SqlStore  # noqa: E402
from experimentkit.errors import ObserverError, StoreError  # noqa: E402
from experimentkit.query import Query, open_store, parse_where  # noqa: E402
from tests.dbutil import fresh_sql_url_fixture, server_database, with_driver  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
T0 = _dt.datetime(2024, 3, 1, 12)


url = fresh_sql_url_fixture("ek_case")


def _write(url: str, tmp_path, run_id: str, **extra) -> None:
    spec = _run(run_id, "mnist", "COMPLETED", {"opt": "Adam"}, "alpha", T0, stop_time=T0, **extra)
    emit_events(SqlObserver(url), spec, tmp_path)


@pytest.mark.parametrize("reader", ["open_store", "SqlStore"])
def test_a_run_is_not_found_under_another_case(url, tmp_path, reader) -> None:
    _write(url, tmp_path, "abc")
    _write(url, tmp_path, "xyz")
    with contextlib.closing(SqlStore(url)) as full:
        full.add_tags("abc", ["Fast"])
    store = open_store(url) if reader == "open_store" else SqlStore(url)
    try:
        assert store.get("abc").id == "abc"
        with pytest.raises(StoreError, match=r"no run 'ABC' in .*'abc'"):
            store.get("ABC")
        for where in (
            "id == 'ABC'",
            "id in ['ABC', 'Xyz']",
            "config.opt == 'adam'",
            "config.opt == 'Adam '",
            "experiment.name == 'MNIST'",
            "command == 'TRAIN'",
            "host.hostname == 'ALPHA'",
            "tags contains 'fast'",
        ):
            assert store.query(Query(filters=(parse_where(where),))) == [], where
        assert [r.id for r in store.query(Query(filters=(parse_where("config.opt == 'Adam'"),)))] == [
            "abc",
            "xyz",
        ]
        assert [r.id for r in store.query(Query(filters=(parse_where("tags contains 'Fast'"),)))] == ["abc"]
    finally:
        store.close()


def test_show_names_the_closest_runs(url, tmp_path) -> None:
    _write(url, tmp_path, "abc")
    done = subprocess.run(
        [sys.executable, "-m", "experimentkit", "-S", url, "show", "ABC"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode != 0
    assert "no run 'ABC'" in done.stderr and "'abc'" in done.stderr, done.stderr


def test_ids_and_metric_names_differing_in_case_are_kept_apart(url, tmp_path) -> None:
    points = {"steps": [0, 1], "timestamps": [T0, T0]}
    _write(url, tmp_path, "abc", metrics={"loss": dict(points, values=[1.0, 0.5])})
    _write(url, tmp_path, "ABC", metrics={"loss": dict(points, values=[3.0, 2.0])})
    observer = SqlObserver(url)
    with pytest.raises(ObserverError, match="no run with id 'Abc'"):
        observer.attach("Abc")
    with contextlib.closing(open_store(url)) as store:
        assert {r.id: r.metrics["loss"]["last"] for r in store.query(Query())} == {"abc": 0.5, "ABC": 2.0}
        assert store.metric("ABC", "loss").values == [3.0, 2.0]


def test_a_mariadb_database_of_version_6_is_upgraded_in_place(tmp_path) -> None:
    """Its text columns get the binary collation (the foreign keys on run ids kept), so the runs
    stored before compare by case too."""
    with server_database("mysql", "ek_case_up") as url:
        engine = sa.create_engine(with_driver(url))
        try:
            with engine.begin() as conn:  # version 6's tables, in the server's default collation
                s.metadata.create_all(conn)
                conn.execute(s.schema_version.insert().values(version=6))
                conn.execute(s.run.insert().values(run_id="abc", status="COMPLETED", start_time=T0))
                conn.execute(s.tag.insert().values(run_id="abc", tag="Fast"))
                conn.execute(s.artifact.insert().values(run_id="abc", filename="model.pt", content=b"w"))
            with contextlib.closing(open_store(url)) as store:
                with pytest.raises(StoreError, match=r"no run 'ABC' in .*'abc'"):
                    store.get("ABC")
                assert store.get("abc").tags == ["Fast"]
                assert store.query(Query(filters=(parse_where("tags contains 'fast'"),))) == []
            with engine.connect() as conn:
                assert migrations.stored_version(conn) == s.SCHEMA_VERSION
                collations = set(
                    conn.execute(
                        sa.text(
                            "SELECT COLLATION_NAME FROM information_schema.COLUMNS"
                            " WHERE TABLE_SCHEMA = DATABASE() AND COLLATION_NAME IS NOT NULL"
                        )
                    ).scalars()
                )
                inspector = sa.inspect(conn)
                keys = {t: inspector.get_foreign_keys(t) for t in ("artifact", "tag", "runs_resources")}
            assert collations == {"utf8mb4_nopad_bin"}
            for fks in keys.values():
                on_runs = [fk["constrained_columns"] for fk in fks if fk["referred_table"] == "run"]
                assert on_runs == [["run_id"]], keys
            _write(url, tmp_path, "ABC")
            with contextlib.closing(open_store(url)) as store:
                assert [r.id for r in store.query(Query())] == ["ABC", "abc"]
        finally:
            engine.dispose()
