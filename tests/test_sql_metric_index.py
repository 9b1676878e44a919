"""Schema version 8: ``metric`` keeps one index, on ``(run_id, name, metric_id)``; which metrics exist
is read from ``metric_summary``.  A version-7 database (with the index on ``name`` alone) is brought
forward, and the stores still know their metrics and refuse the ones they do not have."""

from __future__ import annotations

import pytest

sa = pytest.importorskip("sqlalchemy")

from experimentkit import Experiment  # noqa: E402
from experimentkit.backends.sql import migrations  # noqa: E402
from experimentkit.backends.sql import schema as s  # noqa: E402
from experimentkit.backends.sql.store import SqlStore  # noqa: E402
from experimentkit.errors import QueryError, StoreError  # noqa: E402
from experimentkit.observers import SqlObserver  # noqa: E402
from experimentkit.query import open_store  # noqa: E402
from tests.dbutil import fresh_sql_url_fixture, with_driver  # noqa: E402

url = fresh_sql_url_fixture("ek_mindex")


def _log_loss(url: str) -> None:
    ex = Experiment("m")
    ex.observers.append(SqlObserver(url))

    @ex.main
    def main(_run):
        for step in range(3):
            _run.log_scalar("train.loss", 1.0 / (step + 1), step)

    ex.run(options={"--loglevel": "WARNING"})


def _metric_indexes(engine: sa.Engine) -> set:
    return {ix["name"] for ix in sa.inspect(engine).get_indexes("metric")}


def _stores(url: str) -> list:
    return [open_store(url), SqlStore(url)]


def test_a_version_7_database_loses_the_name_index_and_still_knows_its_metrics(url):
    _log_loss(url)
    engine = sa.create_engine(with_driver(url))
    try:
        assert _metric_indexes(engine) == {"ix_metric_run_id_name_metric_id"}
        with engine.begin() as conn:  # back to version 7's layout
            conn.execute(sa.text("CREATE INDEX ix_metric_name ON metric (name)"))
            conn.execute(s.schema_version.update().values(version=7))
        assert "ix_metric_name" in _metric_indexes(engine)
        assert migrations.upgrade(engine) == s.SCHEMA_VERSION
        assert _metric_indexes(engine) == {"ix_metric_run_id_name_metric_id"}
    finally:
        engine.dispose()
    for store in _stores(url):
        with store:
            assert store.key_names("metrics") == ["metrics.train.loss"]
            found = store.runs().where("metrics.train.loss < 0.5").all()
            assert [run.id for run in found] == ["1"]
            with pytest.raises((QueryError, StoreError), match=r"did you mean 'metrics\.train\.loss'"):
                store.runs().where("metrics.train.los < 0.5").all()
