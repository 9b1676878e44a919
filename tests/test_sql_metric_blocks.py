"""A metric read back from its packed ``metric_block`` rows is exactly what its ``metric`` rows hold
(steps, values with NULL as None / NaN, naive times to the microsecond), on every SQL backend and on
both SQLite read paths; once the rows change behind the observer's back (rows deleted or added by
hand) the reader goes back to the rows."""

from __future__ import annotations

import datetime as dt

import pytest

sa = pytest.importorskip("sqlalchemy")
np = pytest.importorskip("numpy")

from experimentkit.backends.sql import schema as s  # noqa: E402
from experimentkit.backends.sql.bulk import CHUNK  # noqa: E402
from experimentkit.backends.sql.common import PackedSeries  # noqa: E402
from experimentkit.backends.sql.store import SqlStore  # noqa: E402
from experimentkit.observers import SqlObserver  # noqa: E402
from experimentkit.query import open_store  # noqa: E402
from tests.dbutil import sql_url_fixtures, with_driver  # noqa: E402

T0 = dt.datetime(2024, 5, 6, 7, 8, 9, 123456)


_servers, url = sql_url_fixtures("ek_blocks")


def _run(url, batches):
    """A run whose observer got ``batches`` of ``(steps, values, stamps)`` for metric ``loss``."""
    obs = SqlObserver(url)
    run_id = obs.started_event(
        ex_info={"name": "blocks"},
        command="main",
        host_info={},
        start_time=T0,
        config={},
        meta_info={},
        _id=None,
    )
    for steps, values, stamps in batches:
        obs.log_metrics({"loss": {"steps": steps, "values": values, "timestamps": stamps}}, info={})
    obs.completed_event(stop_time=T0, result=None)
    obs.join()
    return str(run_id)


def _batch(start, n):
    steps = list(range(start, start + n))
    values = [i / 3 - 1e-300 * i for i in steps]
    stamps = [T0 + dt.timedelta(seconds=i // 7, microseconds=37 * i) for i in steps]
    return steps, values, stamps


def _sql(url, *statements):
    engine = sa.create_engine(with_driver(url))
    try:
        with engine.begin() as conn:
            for statement, params in statements:
                conn.execute(sa.text(statement), params)
    finally:
        engine.dispose()


def _rows(url, run_id):
    engine = sa.create_engine(with_driver(url))
    try:
        with engine.connect() as conn:
            m = s.metric.c
            query = sa.select(m.step, m.value, m.timestamp).where(m.run_id == run_id, m.name == "loss")
            return [tuple(r) for r in conn.execute(query.order_by(m.metric_id))]
    finally:
        engine.dispose()


def _stores(url):
    stores = [open_store(url)]
    if url.startswith("sqlite"):
        stores.append(SqlStore(url))  # the SQLAlchemy path beside the stdlib one
    return stores


def _check(url, run_id, packed):
    rows = _rows(url, run_id)
    for store in _stores(url):
        series = store.get(run_id).metric("loss")
        assert isinstance(series, PackedSeries) is packed, store
        assert len(series) == len(rows)
        assert list(zip(series.steps, series.values, series.timestamps)) == rows
        steps, values, stamps = series.to_numpy()
        assert steps.tolist() == [r[0] for r in rows]
        want = np.array([np.nan if r[1] is None else r[1] for r in rows])
        assert np.array_equal(values, want, equal_nan=True)
        assert stamps.dtype == np.dtype("datetime64[us]")
        assert stamps.tolist() == [r[2] for r in rows]
        if packed:
            assert steps.dtype == np.int64 and values.dtype == np.float64
    return rows


def test_blocks_give_the_rows_values_nulls_and_times_exactly(url):
    steps, values, stamps = _batch(0, 9)
    values[2:5] = [float("nan"), float("inf"), None]  # stored as NULL
    first = (steps, values, stamps)
    run_id = _run(url, [first, _batch(9, CHUNK + 5)])  # three blocks
    rows = _check(url, run_id, packed=True)
    assert len(rows) == CHUNK + 14 and [r[1] for r in rows[2:5]] == [None, None, None]
    # without the blocks (a database written before version 6) the rows give the same answer
    _sql(url, ("DELETE FROM metric_block", {}))
    assert _check(url, run_id, packed=False) == rows


def test_rows_deleted_or_added_by_hand_are_read_from_the_rows(url):
    run_id = _run(url, [_batch(0, 50), _batch(50, 50)])
    before = _check(url, run_id, packed=True)
    _sql(url, ("DELETE FROM metric WHERE run_id = :r AND step >= 60", {"r": run_id}))
    assert _check(url, run_id, packed=False) == before[:60]
    _sql(
        url,
        (
            "INSERT INTO metric (run_id, name, step, value, timestamp) VALUES (:r, 'loss', 99, 1.5, :t)",
            {"r": run_id, "t": T0},
        ),
        ("DELETE FROM metric WHERE run_id = :r AND step < 50", {"r": run_id}),
    )
    rows = _check(url, run_id, packed=False)
    assert [r[0] for r in rows] == list(range(50, 60)) + [99]


def test_a_batch_with_a_null_step_or_time_has_no_block_and_the_rows_decide(url):
    steps, values, stamps = _batch(10, 5)
    steps[1], stamps[3] = "not a step", "not a time"
    run_id = _run(url, [_batch(0, 10), (steps, values, stamps)])
    rows = _check(url, run_id, packed=False)
    assert rows[11][0] is None and rows[13][2] is None


def test_deleting_a_run_deletes_its_blocks(url):
    keep, drop = _run(url, [_batch(0, 20)]), _run(url, [_batch(0, 30)])
    store = SqlStore(url)
    try:
        store.delete([drop])
        with store.engine.connect() as conn:
            b = s.metric_block.c
            mine = sa.select(b.run_id, sa.func.sum(b.point_count)).where(b.run_id.in_([keep, drop]))
            left = conn.execute(mine.group_by(b.run_id)).all()
    finally:
        store.close()
    assert [(r[0], int(r[1])) for r in left] == [(keep, 20)]
