"""Reading a metric back as columns: what was logged is what is read, through the lists and through
``to_numpy`` (built by numpy from the stored text), on the file store (while the run goes: its log;
after: the one compact metrics.json) and on SQL stores (stdlib SQLite path and SQLAlchemy path)."""

from __future__ import annotations

import datetime as dt
import json
import math
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experimentkit import Experiment
from experimentkit.backends.file.schema import metric_names_of, read_metric_summaries
from experimentkit.backends.sql.store import SqlStore
from experimentkit.errors import StoreError
from experimentkit.observers import FileStorageObserver, SqlObserver
from experimentkit.query import open_store
from experimentkit.query.columns import float_column, int_column, time_column
from tests.dbutil import server_database
from tests.file_observer_support import T0, started_file_observer

SERIES = {
    # repr-style decimals of every length, and the forms the decimal fast path must leave alone
    "loss": [0.5, -0.0, 1.0, 2.675, 0.1 + 0.2, 123456789012.345, 1e-05, 1e16, -3.25, 7.0],
    "count": [1, -2, 3, 2**62, 0],
    "mixed": [1, 2.5, float("nan"), float("inf"), None, True, "a,b]", [1, 2]],
}


def _stamps(n: int) -> list:
    # whole seconds are written without a fraction: a column of times of two widths
    return [T0 + dt.timedelta(seconds=i, microseconds=0 if i % 3 == 0 else 10 * i) for i in range(n)]


def _start(base) -> FileStorageObserver:
    obs = started_file_observer(base)
    for name, values in SERIES.items():  # two batches each, interleaved with the other metrics
        stamps = _stamps(len(values))
        for part in (slice(0, 3), slice(3, None)):
            obs.log_metrics(
                {
                    name: {
                        "name": name,
                        "steps": list(range(len(values)))[part],
                        "values": values[part],
                        "timestamps": stamps[part],
                    }
                },
                {},
            )
    return obs


def _check(series, name: str) -> None:
    logged = SERIES[name]
    assert len(series) == len(logged)
    assert series.steps == list(range(len(logged)))
    assert json.dumps(series.values) == json.dumps(logged)  # NaN, -0.0 and types as logged
    assert series.timestamps == _stamps(len(logged))
    steps, values, stamps = series.to_numpy()
    assert steps.tolist() == series.steps
    numbers = [float("nan") if v is None or isinstance(v, (str, list)) else float(v) for v in logged]
    if name == "mixed":
        with pytest.raises((TypeError, ValueError)):
            np.array(logged, dtype=float)  # strings and lists: to_numpy falls back and raises alike
    else:
        assert [math.copysign(1, v) for v in values] == [math.copysign(1, v) for v in numbers]
        assert np.array_equal(values, np.array(numbers), equal_nan=True)
    assert stamps.dtype == np.dtype("datetime64[us]") and stamps.tolist() == series.timestamps


def test_points_logged_are_points_read_while_running_and_after_the_end(tmp_path):
    obs = _start(tmp_path)
    run_dir = obs.dir
    store = open_store(str(tmp_path))
    for name in ("loss", "count"):
        _check(store.metric("1", name), name)  # from metrics.jsonl: the run goes on
    obs.completed_event(stop_time=T0, result=None)
    assert sorted(os.listdir(run_dir)) == ["config.json", "cout.txt", "metrics.json", "run.json"]
    with open(os.path.join(run_dir, "metrics.json")) as f:  # what Sacred's readers do
        sacred_view = json.load(f)
    assert {name: s["values"] for name, s in sacred_view.items()}.keys() == SERIES.keys()
    assert json.dumps(sacred_view["loss"]["values"]) == json.dumps(SERIES["loss"])
    assert sacred_view["loss"]["timestamps"] == [t.isoformat() for t in _stamps(len(SERIES["loss"]))]
    for name in ("loss", "count"):
        _check(store.metric("1", name), name)  # cut out of the compact metrics.json
    mixed = store.metric("1", "mixed")
    assert json.dumps(mixed.values) == json.dumps(SERIES["mixed"])
    assert metric_names_of(run_dir) == store.metric_names("1") == sorted(SERIES)
    with pytest.raises(StoreError, match=r"run 1 has no metric 'los' \(did you mean 'loss'\?\)"):
        store.metric("1", "los")


def test_summaries_describe_the_metrics_json_that_replaced_the_log(tmp_path):
    obs = _start(tmp_path)
    obs.log_metrics({"only": {"name": "only", "steps": [0], "values": [2.5], "timestamps": [T0]}}, {})
    obs.completed_event(stop_time=T0, result=None)
    kept = read_metric_summaries(obs.dir)
    assert kept is None  # "mixed" holds text: nothing is kept, readers summarise the file
    base = tmp_path / "numbers"
    numbers = started_file_observer(base)
    numbers.log_metrics(
        {"x": {"name": "x", "steps": [0, 1], "values": [1.5, 0.5], "timestamps": [T0] * 2}}, {}
    )
    numbers.completed_event(stop_time=T0, result=None)
    assert read_metric_summaries(numbers.dir) == {"x": {"last": 0.5, "min": 0.5, "max": 1.5, "count": 2}}
    with open(os.path.join(numbers.dir, "metrics.json"), "a") as f:
        f.write(" ")  # changed behind the observer's back: the summaries no longer describe it
    assert read_metric_summaries(numbers.dir) is None


def test_a_metrics_json_written_by_sacred_is_read_whole(tmp_path):
    run_dir = tmp_path / "1"
    run_dir.mkdir()
    (run_dir / "run.json").write_text(json.dumps({"status": "COMPLETED", "experiment": {"name": "e"}}))
    stamps = _stamps(3)
    metrics = {
        "loss": {
            "steps": [0, 1, 2],
            "values": [0.5, 0.25, 0.125],
            "timestamps": [t.isoformat() for t in stamps],
        }
    }
    (run_dir / "metrics.json").write_text(json.dumps(metrics, sort_keys=True, indent=2))  # Sacred's layout
    series = open_store(str(tmp_path)).metric("1", "loss")
    assert series.values == [0.5, 0.25, 0.125] and series.timestamps == stamps
    assert series.to_numpy()[2].tolist() == stamps
    assert metric_names_of(run_dir) == ["loss"]


def test_sqlite_reads_the_same_points_on_both_paths(tmp_path):
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    ex = Experiment("cols")
    ex.observers.append(SqlObserver(url))

    @ex.main
    def main(_run):
        for i in range(50):
            _run.log_scalar("loss", i / 8 if i % 7 else float("nan"), step=i * 2)
            _run.log_scalar("acc", i)

    run = ex.run(options={"--loglevel": "ERROR"})
    fast = open_store(url)
    full = SqlStore(url)
    try:
        series = fast.metric(run._id, "loss")
        assert fast.stats["fast"] == 1  # the stdlib path answered
        reference = full.metric(run._id, "loss")
        assert series == reference
        assert series.steps == [i * 2 for i in range(50)]
        assert series.values == [None if i % 7 == 0 else i / 8 for i in range(50)]  # NaN is stored NULL
        steps, values, stamps = series.to_numpy()
        assert steps.tolist() == series.steps
        assert np.array_equal(values, np.array(series.values, dtype=float), equal_nan=True)
        assert stamps.tolist() == series.timestamps == reference.timestamps
        assert all(isinstance(t, dt.datetime) for t in series.timestamps)
        assert fast.metric(run._id, "acc").values == [float(i) for i in range(50)]
    finally:
        full.close()
        fast.close()


@pytest.mark.postgres
def test_postgres_metric_read_through_the_driver_cursor():
    # a database of its own: the server's base database may be at another schema version (a second
    # copy of the suite, or another checkout, running beside this one)
    with server_database("postgres", "ek_cols") as url:
        ex = Experiment("cols_pg")
        ex.observers.append(SqlObserver(url))

        @ex.main
        def main(_run):
            for i in range(20):
                _run.log_scalar("loss", i / 4)

        run = ex.run(options={"--loglevel": "ERROR"})
        store = open_store(url)
        try:
            series = store.metric(run._id, "loss")
            assert series.values == [i / 4 for i in range(20)] and series.steps == list(range(20))
            steps, values, stamps = series.to_numpy()
            assert values.tolist() == series.values and stamps.tolist() == series.timestamps
        finally:
            store.close()


def test_numpy_columns_refuse_what_they_do_not_parse_exactly():
    assert int_column(np, b"1,-2,3").tolist() == [1, -2, 3]
    assert int_column(np, b"1,99999999999999999999") is None  # beyond int64: Python's ints
    assert int_column(np, b"1,null") is None
    assert float_column(np, b"0.5,NaN,-Infinity,1e300").tolist()[::3] == [0.5, 1e300]
    assert float_column(np, b'0.5,"x"') is None and float_column(np, b"0.5,null") is None
    assert float_column(np, b"1.5,2").tolist() == [1.5, 2.0]  # an integer among decimals
    assert float_column(np, b"-0.0,0.1").tolist() == [-0.0, 0.1]
    assert math.copysign(1, float_column(np, b"-0.0,0.1")[0]) == -1
    ok = time_column(np, b'"2024-01-01T00:00:00","2024-01-01 00:00:00.000007"')
    assert ok.tolist() == [dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 1, 0, 0, 0, 7)]
    for bad in (
        b'"2024-02-30T00:00:00"',  # no such day
        b'"2024-01-01T00:00:00+01:00"',  # a zone: converted one by one
        b'"2024-01-01T00:00:00.123456Z"',
        b'"now","2024-01-01T00:00:00"',
        b'"2024-01-01"',
        b'"2024-01-01T00:00:00.12345"',
    ):
        assert time_column(np, bad) is None, bad


def test_the_run_page_chart_data_is_the_same_from_the_stored_text(tmp_path):
    from experimentkit.dashboard import charts
    from experimentkit.query.base import MetricSeries

    obs = _start(tmp_path)
    obs.completed_event(stop_time=T0, result=None)
    store = open_store(str(tmp_path))
    for name in SERIES:
        stored = store.metric("1", name)
        assert stored.parsed_columns()["timestamps"] is not None  # the C path is the one taken
        from_text = charts.series_json(stored)
        again = store.metric("1", name)
        as_lists = MetricSeries(name, list(again.steps), list(again.values), list(again.timestamps))
        assert from_text == charts.series_json(as_lists)


def _bits(array) -> list:
    return np.asarray(array, dtype=float).view(np.uint64).tolist()


def _as_stored(values: list) -> bytes:
    return json.dumps(values, separators=(",", ":"))[1:-1].encode()


_ANY_DOUBLE = st.floats(allow_nan=False) | st.floats(min_value=-1e6, max_value=1e6) | st.floats(width=32)


@settings(max_examples=300, deadline=None)
@given(st.lists(_ANY_DOUBLE | st.integers(-(2**60), 2**60), min_size=1, max_size=60))
def test_float_column_is_bit_for_bit_what_json_reads(values):
    """Every double (and integer) as Python writes it is read back to the same bits as ``float()``
    of its text: the digit-and-power division, its long double step and the ones read one by one."""
    items = _as_stored(values)
    assert _bits(float_column(np, items)) == _bits([float(v) for v in json.loads(b"[" + items + b"]")])


def test_float_column_reads_realistic_losses_and_the_halfway_quotients_exactly():
    rng = np.random.default_rng(7)
    losses = (np.exp(-np.arange(20_000) / 3_000) + rng.random(20_000) * 1e-2).tolist()
    losses += [float(np.float32(v)) for v in rng.random(2_000)] + [1.5e-05, -2.5e-07, float("nan")]
    items = _as_stored(losses)
    assert _bits(float_column(np, items)) == _bits(losses)
    # decimals whose 64-bit quotient lies exactly halfway between two doubles (where rounding
    # that quotient again would be wrong), powers of ten beyond a double's exact ones, integers
    # beyond 2**53
    texts = ["8775.5201438860704", "0.2513591700177846", "0.017980015562522789", "7.4592478524708139"]
    texts += ["0.00000000000000000000001", "0.000000000000000000000000123", "9007199254740993"]
    parsed = float_column(np, ",".join(texts).encode())
    assert _bits(parsed) == _bits([float(t) for t in texts])


def test_float_column_leaves_what_is_not_a_plain_number_list_to_json():
    for bad in (b"1,,2", b"1.5,-", b"1-2", b"1..2", b"1,true", b"1,2e999999"):
        out = float_column(np, bad)
        try:
            expected = [float(v) for v in json.loads(b"[" + bad + b"]")]
        except (ValueError, TypeError, OverflowError):
            expected = None
        assert (out is None) or (expected is not None and _bits(out) == _bits(expected)), bad


def test_a_long_time_column_is_parsed_in_its_own_thread_to_the_same_answer(monkeypatch):
    from experimentkit.query import base

    stamps = [dt.datetime(2026, 1, 1) + dt.timedelta(microseconds=7 * i) for i in range(40_000)]
    text = json.dumps([t.isoformat() for t in stamps])[1:-1].replace(", ", ",").encode()
    series = base.ColumnSeries("t", b"1", b"1.5", text)
    started: list = []
    real = base.threading.Thread

    def counting(*args, **kwargs):
        started.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(base.threading, "Thread", counting)
    threaded = series.parsed_columns()["timestamps"]
    assert started and threaded.tolist() == stamps
    monkeypatch.setattr(base, "_THREAD_BYTES", len(text) + 1)
    assert base.ColumnSeries("t", b"1", b"1.5", text).parsed_columns()["timestamps"].tolist() == stamps


def test_without_an_exact_long_double_numpy_parses_the_long_numbers(monkeypatch):
    """Where ``long double`` is not the 80-bit format (or rounds to 53 bits), numbers of 16-18
    digits go to numpy's own parser, with the same answers."""
    from experimentkit.query import columns

    monkeypatch.setattr(columns, "_long_double_ok", lambda np: False)
    values = [0.2513591700177846, 1 / 3, 2.5, -7.4592478524708139]
    assert _bits(float_column(np, _as_stored(values))) == _bits(values)
