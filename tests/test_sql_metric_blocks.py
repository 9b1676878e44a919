"""A metric read back from its packed ``metric_block`` rows is exactly what its ``metric`` rows hold
(steps, values with NULL as None / NaN, naive times to the microsecond), on every SQL backend and on
both read paths; once the rows change behind the observer's back (rows deleted, added or updated by
hand) the reader goes back to the rows.  On PostgreSQL it learns so from the triggers on ``metric``
(schema version 9), without counting the rows: no read here sends a ``count``."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest

sa = pytest.importorskip("sqlalchemy")
np = pytest.importorskip("numpy")

from experimentkit.backends.sql import migrations  # noqa: E402
from experimentkit.backends.sql import schema as s  # noqa: E402
from experimentkit.backends.sql.bulk import CHUNK  # noqa: E402
from experimentkit.backends.sql.common import PackedSeries  # noqa: E402
from experimentkit.backends.sql.store import SqlStore  # noqa: E402
from experimentkit.errors import StoreError  # noqa: E402
from experimentkit.observers import SqlObserver  # noqa: E402
from experimentkit.query import open_store  # noqa: E402
from tests.dbutil import sql_url_fixtures, with_driver  # noqa: E402

T0 = dt.datetime(2024, 5, 6, 7, 8, 9, 123456)


_servers, url = sql_url_fixtures("ek_blocks")


def _start(url):
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
    return obs, str(run_id)


def _log(obs, batches, name="loss"):
    for steps, values, stamps in batches:
        obs.log_metrics({name: {"steps": steps, "values": values, "timestamps": stamps}}, info={})


def _run(url, batches):
    """A run whose observer got ``batches`` of ``(steps, values, stamps)`` for metric ``loss``."""
    obs, run_id = _start(url)
    _log(obs, batches)
    obs.completed_event(stop_time=T0, result=None)
    obs.join()
    return run_id


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


def _hand_rows(run_id, name, points):
    """Statements for ``_sql`` inserting ``(step, value, timestamp)`` points as another tool would."""
    insert = "INSERT INTO metric (run_id, name, step, value, timestamp) VALUES (:r, :n, :s, :v, :t)"
    return [(insert, {"r": run_id, "n": name, "s": st, "v": v, "t": t}) for st, v, t in points]


def _select(url, query):
    engine = sa.create_engine(with_driver(url))
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(query)]
    finally:
        engine.dispose()


def _rows(url, run_id, name="loss"):
    m = s.metric.c
    query = sa.select(m.step, m.value, m.timestamp).where(m.run_id == run_id, m.name == name)
    return _select(url, query.order_by(m.metric_id))


def _blocks(url, run_id, name="loss"):
    """The point counts of the series' blocks, in writing order."""
    b = s.metric_block.c
    query = sa.select(b.point_count).where(b.run_id == run_id, b.name == name).order_by(b.block_id)
    return [row[0] for row in _select(url, query)]


def _stores(url):
    return [open_store(url), SqlStore(url)]  # the fast path beside the SQLAlchemy one


@contextlib.contextmanager
def _statements(url):
    """The SQL text every PostgreSQL connection opened meanwhile sends (nothing elsewhere)."""
    sent: list = []
    if not url.startswith("postgres"):
        yield sent
        return
    psycopg2 = pytest.importorskip("psycopg2")
    from psycopg2.extras import LoggingConnection

    class Log:
        def write(self, text):
            sent.append(text)

    def connect(*args, **kwargs):
        conn = real(*args, connection_factory=LoggingConnection, **kwargs)
        conn.initialize(Log())
        return conn

    real = psycopg2.connect
    psycopg2.connect = connect
    try:
        yield sent
    finally:
        psycopg2.connect = real


def _read(url, run_id, name="loss"):
    """``(store, series)`` of each store, checked to be read without counting the rows on
    PostgreSQL (the stores connect while the statements are seen)."""
    found = []
    with _statements(url) as sent:
        for store in _stores(url):
            with store:
                before = len(sent)
                series = store.get(run_id).metric(name)
                mine = sent[before:]
            assert not [text for text in mine if "count(" in text.lower()], mine
            assert any("FROM metric_block" in text for text in mine) or not url.startswith("postgres")
            found.append((store, series))
    return found


def _check(url, run_id, packed, name="loss"):
    rows = _rows(url, run_id, name)
    for store, series in _read(url, run_id, name):
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
        *_hand_rows(run_id, "loss", [(99, 1.5, T0)]),
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


@pytest.fixture
def pg_url(_servers):
    """The module's PostgreSQL database (its triggers on ``metric``; skipped without a server)."""
    return _servers("postgres")


def test_the_observer_keeps_its_blocks_and_reads_them_without_a_count(url):
    run_id = _run(url, [_batch(0, 7), _batch(7, CHUNK + 3)])
    assert _blocks(url, run_id) == [7, CHUNK, 3]
    _check(url, run_id, packed=True)


def test_a_value_updated_by_hand_is_read_back(pg_url):
    """PostgreSQL only: elsewhere the count cannot see an update (the rows still match the blocks)."""
    url = pg_url
    run_id = _run(url, [_batch(0, 30)])
    _sql(url, ("UPDATE metric SET value = 42.5 WHERE run_id = :r AND step = 3", {"r": run_id}))
    rows = _check(url, run_id, packed=False)
    assert rows[3][1] == 42.5 and len(rows) == 30


def test_truncate_drops_every_block_and_rows_written_later_are_read(pg_url):
    url = pg_url
    run_id = _run(url, [_batch(0, 30)])
    _sql(url, ("TRUNCATE metric", {}))
    assert _blocks(url, run_id) == []
    for store in _stores(url):
        with store, pytest.raises(StoreError, match="has no metric 'loss'"):
            store.get(run_id).metric("loss")
    steps, values, stamps = _batch(0, 30)  # as many points as the old blocks held, other values
    _sql(url, *_hand_rows(run_id, "loss", [(st, 2 * v, t) for st, v, t in zip(steps, values, stamps)]))
    assert [r[1] for r in _check(url, run_id, packed=False)] == [2 * v for v in values]


def test_a_series_inserted_into_by_hand_stays_on_its_rows_while_the_observer_appends(url):
    obs, run_id = _start(url)
    _log(obs, [_batch(0, 20)])
    _sql(url, *_hand_rows(run_id, "loss", [(500, 1.5, T0)]))
    _log(obs, [_batch(20, 10)])  # blocks again, but they miss the hand row
    obs.completed_event(stop_time=T0, result=None)
    obs.join()
    rows = _check(url, run_id, packed=False)
    assert [r[0] for r in rows] == list(range(20)) + [500] + list(range(20, 30))


def test_rows_another_tool_writes_to_a_new_series_are_read_also_after_the_observer_appends(url):
    obs, run_id = _start(url)
    _log(obs, [_batch(0, 5)])
    _sql(url, *_hand_rows(run_id, "acc", [(step, 0.5, T0) for step in range(3)]))
    assert _check(url, run_id, packed=False, name="acc") == [(step, 0.5, T0) for step in range(3)]
    _log(obs, [_batch(3, 4)], name="acc")
    obs.completed_event(stop_time=T0, result=None)
    obs.join()
    rows = _check(url, run_id, packed=False, name="acc")
    assert [r[0] for r in rows] == list(range(7))
    _check(url, run_id, packed=True)  # the observer's own series is untouched


def test_a_chunk_without_a_block_sends_the_whole_series_to_its_rows_for_good(url):
    steps, values, stamps = _batch(0, 5)
    stamps[2] = "not a time"
    run_id = _run(url, [(steps, values, stamps), _batch(5, 10)])  # a block follows the blockless chunk
    assert [r[0] for r in _check(url, run_id, packed=False)] == list(range(15))


def _drop_triggers(url):
    """Back to version 8: no triggers, no function."""
    _sql(
        url,
        *[(f"DROP TRIGGER {name} ON metric", {}) for name in migrations._TRIGGERS],
        ("DROP FUNCTION experimentkit_metric_changed()", {}),
        ("UPDATE schema_version SET version = 8", {}),
    )


def _triggers(url):
    query = sa.text(
        "SELECT tgname FROM pg_trigger WHERE tgrelid = 'metric'::regclass AND NOT tgisinternal"
        " ORDER BY tgname"
    )
    return [row[0] for row in _select(url, query)]


def test_a_version_8_database_gets_the_triggers_and_its_series_changed_by_hand_are_read_from_rows(pg_url):
    url = pg_url
    same, deleted, short = (_run(url, [_batch(0, 40)]) for _ in range(3))
    _drop_triggers(url)
    assert _triggers(url) == []
    # rows deleted by hand under version 8 (which counted them): a whole series, a few points
    _sql(
        url,
        ("DELETE FROM metric WHERE run_id = :r", {"r": deleted}),
        ("DELETE FROM metric WHERE run_id = :r AND step >= 30", {"r": short}),
    )
    engine = sa.create_engine(with_driver(url))
    try:
        assert migrations.upgrade(engine) == s.SCHEMA_VERSION == 9
    finally:
        engine.dispose()
    assert _triggers(url) == sorted(migrations._TRIGGERS)
    _check(url, same, packed=True)
    assert [r[0] for r in _check(url, short, packed=False)] == list(range(30))
    assert _blocks(url, deleted) == []  # no rows, no blocks: nothing left to read
    for store in _stores(url):
        with store, pytest.raises(StoreError, match="has no metric 'loss'"):
            store.get(deleted).metric("loss")
    _sql(url, ("UPDATE metric SET value = -2 WHERE run_id = :r AND step = 5", {"r": same}))
    assert _check(url, same, packed=False)[5][1] == -2
