"""The fast end-of-run metric flush: same bytes as the plain JSON encoder, on every path.

metrics.json must stay byte-identical to ``json.dumps(metrics, sort_keys=True, separators=(",", ":"))``
(Sacred's shape, compact) and metrics.jsonl lines to ``json.dumps(line, separators=(",", ":"))``,
whether metrics.json is built from the text the observer kept or from the log read back (after
attach, a foreign append, or too much kept text); once the run has ended the log is gone.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import math
import types
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experimentkit import Experiment
from experimentkit import run as run_module
from experimentkit.backends.file import observer as observer_module
from experimentkit.backends.file.observer import FileStorageObserver
from experimentkit.backends.file.schema import (
    iso_items,
    json_items,
    metrics_json_text,
    metrics_log_lines,
)
from experimentkit.observers.base import RunObserver
from tests.file_observer_support import T0, started_file_observer

# ---- strategies ---------------------------------------------------------------------------------
floats = st.floats(allow_nan=True, allow_infinity=True)
texts = st.text(
    alphabet=st.sampled_from(["a", ",", '"', "\\", "\n", " ", "é", "💡", ":", "[", "."]), max_size=6
)
scalars = st.one_of(st.integers(-(10**20), 10**20), floats, st.none(), st.booleans(), texts)
nested = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(texts, inner, max_size=3)),
    max_leaves=6,
)
columns = st.one_of(st.lists(scalars, max_size=8), st.lists(nested, max_size=4))
metric_names = st.one_of(st.sampled_from(["loss", "acc", "lr"]), texts)
metrics_dicts = st.dictionaries(
    metric_names,
    st.dictionaries(st.sampled_from(["steps", "values", "timestamps", "x", "é,\n"]), columns, max_size=4),
    max_size=4,
)

naive = st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31, 23, 59, 59))
# few distinct seconds, many microsecond=0 points: the cases the per-second formatting must get right
clustered = st.builds(
    lambda base, offsets: [base + dt.timedelta(microseconds=o) for o in offsets],
    st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1)).map(
        lambda t: t.replace(microsecond=0)
    ),
    st.lists(
        st.sampled_from([0, 1, 999_999, 1_000_000, 1_500_000, 3_000_000, 59_999_999, 86_400_000_000])
        | st.integers(0, 5 * 10**6),
        max_size=12,
    ),
)


def reference_log_line(name, steps, values, stamps) -> str:
    return (
        json.dumps(
            {"name": name, "steps": steps, "values": values, "timestamps": stamps}, separators=(",", ":")
        )
        + "\n"
    )


def _read_text(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def complete(obs: FileStorageObserver) -> str:
    """End the run; return its metric log as it was (the end replaces it by metrics.json)."""
    log = Path(obs.dir) / "metrics.jsonl"
    text = log.read_text() if log.exists() else ""
    obs.completed_event(stop_time=T0, result=None)
    assert not log.exists()
    return text


def assert_metrics_json_is_reference(run_dir: Path, log_text: str = "") -> dict:
    """metrics.json holds the points of ``log_text`` (when given), with exactly the bytes of the
    standard encoder's compact layout, and the run keeps no second copy of them."""
    text = (run_dir / "metrics.json").read_text()
    expected: dict = {} if log_text else json.loads(text)
    for line in filter(None, log_text.splitlines()):
        entry = json.loads(line)
        series = expected.setdefault(entry["name"], {"steps": [], "values": [], "timestamps": []})
        for key in series:
            series[key] += entry[key]
    assert text == json.dumps(expected, sort_keys=True, separators=(",", ":"))
    assert not (run_dir / "metrics.jsonl").exists()
    return expected


# ---- the encoders -------------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(metrics=metrics_dicts)
def test_metrics_json_text_is_byte_identical_to_compact_json_dumps(metrics):
    assert metrics_json_text(metrics) == json.dumps(metrics, sort_keys=True, separators=(",", ":"))


def test_metrics_json_text_special_values_and_empty_shapes():
    metrics = {
        "b": {
            "values": [
                math.nan,
                math.inf,
                -math.inf,
                None,
                True,
                False,
                0,
                -0.0,
                1e300,
                "x,y",
                'q"uote',
                "new\nline",
                "ü",
            ]
        },
        "a": {"steps": [], "values": [[1, 2], {"z": 1, "a": [3]}], "timestamps": ["t"]},
        "c": {},
    }
    assert metrics_json_text(metrics) == json.dumps(metrics, sort_keys=True, separators=(",", ":"))
    assert metrics_json_text({}) == "{}"


@settings(max_examples=300, deadline=None)
@given(
    stamps=st.one_of(
        clustered, clustered.map(sorted), st.lists(naive, max_size=8), st.lists(naive, max_size=8).map(sorted)
    )
)
def test_iso_items_matches_isoformat(stamps):
    assert iso_items(stamps) == json_items([t.isoformat() for t in stamps])


def test_iso_items_aware_and_extreme_datetimes():
    aware = [T0.replace(tzinfo=dt.timezone.utc), T0.replace(microsecond=5, tzinfo=dt.timezone.utc)]
    extremes = [dt.datetime.min, dt.datetime(999, 1, 1, 0, 0, 0, 7), dt.datetime.max, dt.datetime.max]
    for stamps in (aware, extremes, [T0]):
        assert iso_items(stamps) == json_items([t.isoformat() for t in stamps])
    assert iso_items([]) == ""


# ---- the observer -------------------------------------------------------------------------------
point = st.tuples(
    st.integers(0, 10**6),
    st.one_of(floats, st.integers(-5, 5), st.none(), texts, st.lists(st.integers(), max_size=2)),
    st.integers(0, 3 * 10**6),
)
batch = st.dictionaries(st.sampled_from(["loss", "acc", "a,b"]), st.lists(point, max_size=5), max_size=3)


@settings(max_examples=60, deadline=None)
@given(batches=st.lists(batch, max_size=5))
def test_log_lines_and_metrics_json_match_the_standard_encoder(tmp_path_factory, batches):
    obs = started_file_observer(tmp_path_factory.mktemp("runs"))
    expected_log = ""
    for metrics in batches:
        by_name = {}
        for name, points in metrics.items():
            stamps = [T0 + dt.timedelta(microseconds=us) for _, _, us in points]
            by_name[name] = {
                "name": name,
                "steps": [s for s, _, _ in points],
                "values": [v for _, v, _ in points],
                "timestamps": stamps,
            }
            expected_log += reference_log_line(
                name, by_name[name]["steps"], by_name[name]["values"], [t.isoformat() for t in stamps]
            )
        obs.log_metrics(metrics_by_name=by_name, info={})
    run_dir = Path(obs.dir)
    assert _read_text(run_dir / "metrics.jsonl") == expected_log
    assert_metrics_json_is_reference(run_dir, complete(obs) or "\n")


def test_metrics_log_lines_keeps_its_format():
    lines = metrics_log_lines([('a,"b', [1, 2], [0.5, math.nan], ["t1", "t2"]), ("x", [], [], [])])
    assert lines == (
        reference_log_line('a,"b', [1, 2], [0.5, math.nan], ["t1", "t2"])
        + reference_log_line("x", [], [], [])
    )


def test_timestamps_that_are_not_datetimes_are_kept_as_before(tmp_path):
    obs = started_file_observer(tmp_path)
    obs.log_metrics(
        metrics_by_name={
            "m": {
                "steps": (0, 1, 2),
                "values": [1.0, 2.0, 3.0],
                "timestamps": [dt.date(2024, 1, 2), "yesterday", 7],
            }
        },
        info={},
    )
    metrics = assert_metrics_json_is_reference(Path(obs.dir), complete(obs))
    assert metrics["m"]["timestamps"] == ["2024-01-02", "yesterday", 7]


def test_numpy_columns_are_converted(tmp_path):
    np = pytest.importorskip("numpy")
    obs = started_file_observer(tmp_path)
    obs.log_metrics(
        metrics_by_name={
            "m": {"steps": np.arange(3), "values": np.array([0.5, 1, 2]), "timestamps": [T0] * 3}
        },
        info={},
    )
    metrics = assert_metrics_json_is_reference(Path(obs.dir), complete(obs))
    assert metrics["m"] == {
        "steps": [0, 1, 2],
        "values": [0.5, 1.0, 2.0],
        "timestamps": ["2024-05-01T12:00:00"] * 3,
    }


def one_point(name: str, step: int, value) -> dict:
    return {
        name: {
            "name": name,
            "steps": [step],
            "values": [value],
            "timestamps": [T0 + dt.timedelta(seconds=step, microseconds=step)],
        }
    }


def test_lines_appended_by_someone_else_reach_metrics_json(tmp_path):
    obs = started_file_observer(tmp_path)
    obs.log_metrics(metrics_by_name=one_point("loss", 0, 1.0), info={})
    with open(Path(obs.dir) / "metrics.jsonl", "a") as f:  # e.g. a replay from another process
        f.write(reference_log_line("loss", [1], [0.5], ["2024-05-01T12:00:01"]))
    obs.log_metrics(metrics_by_name=one_point("loss", 2, 0.25), info={})
    log = complete(obs)
    assert assert_metrics_json_is_reference(Path(obs.dir), log)["loss"]["values"] == [1.0, 0.5, 0.25]


def test_too_much_kept_text_falls_back_to_the_log(tmp_path, monkeypatch):
    monkeypatch.setattr(observer_module, "MAX_KEPT_METRIC_CHARS", 200)
    obs = started_file_observer(tmp_path)
    for step in range(10):
        obs.log_metrics(metrics_by_name=one_point("loss", step, step / 4), info={})
    assert obs._kept_items is None
    values = assert_metrics_json_is_reference(Path(obs.dir), complete(obs))["loss"]["values"]
    assert values == [step / 4 for step in range(10)]


def test_late_batch_after_the_end_and_attach(tmp_path):
    obs = started_file_observer(tmp_path)
    obs.log_metrics(metrics_by_name=one_point("a,b", 0, "x,y"), info={})
    obs.log_metrics(metrics_by_name=one_point("loss", 0, 1.0), info={})
    log = complete(obs)
    obs.log_metrics(metrics_by_name=one_point("loss", 1, 2.0), info={})  # replayed late
    log += reference_log_line("loss", [1], [2.0], ["2024-05-01T12:00:01.000001"])
    assert assert_metrics_json_is_reference(Path(obs.dir), log)["loss"]["values"] == [1.0, 2.0]
    other = FileStorageObserver(tmp_path)
    other.attach(Path(obs.dir).name)
    other.log_metrics(metrics_by_name=one_point("loss", 2, 3.0), info={})
    metrics = assert_metrics_json_is_reference(Path(obs.dir))
    assert metrics["loss"]["values"] == [1.0, 2.0, 3.0]
    assert metrics["a,b"]["values"] == ["x,y"]
    other.completed_event(stop_time=T0, result=None)  # a re-sent end keeps every point
    assert assert_metrics_json_is_reference(Path(obs.dir)) == metrics


# ---- the run's side of the contract -------------------------------------------------------------
class Recorder(RunObserver):
    def __init__(self):
        self.batches = []

    def log_metrics(self, metrics_by_name, info):
        self.batches.append(metrics_by_name)


def test_run_hands_observers_grouped_columns_and_naive_utc_datetimes(tmp_path, monkeypatch):
    np = pytest.importorskip("numpy")
    epoch = calendar.timegm(T0.timetuple())
    clock = iter([epoch, epoch + 0.25, epoch + 0.9999996, epoch + 2.000001, epoch + 3])
    monkeypatch.setattr(run_module, "time", types.SimpleNamespace(time=lambda: next(clock)))
    recorder = Recorder()
    ex = Experiment("flush")
    ex.observers += [recorder, FileStorageObserver(tmp_path)]

    @ex.main
    def main(_run):
        _run.log_scalar("loss", 1.5)
        _run.log_scalar("acc", np.float32(0.5))
        _run.log_scalar("loss", 2, step=np.int64(10))
        _run.log_scalar("acc", True)
        _run.log_scalar("loss", 0.25)

    ex.run(options={"--loglevel": "WARNING"})
    merged: dict = {}
    for metrics in recorder.batches:
        for name, series in metrics.items():
            assert series["name"] == name
            got = merged.setdefault(name, {"steps": [], "values": [], "timestamps": []})
            for key in got:
                got[key] += series[key]
    assert merged == {
        "loss": {
            "steps": [0, 10, 11],
            "values": [1.5, 2, 0.25],
            "timestamps": [T0, dt.datetime(2024, 5, 1, 12, 0, 1), dt.datetime(2024, 5, 1, 12, 0, 3)],
        },
        "acc": {
            "steps": [0, 1],
            "values": [0.5, True],
            "timestamps": [T0.replace(microsecond=250000), dt.datetime(2024, 5, 1, 12, 0, 2, 1)],
        },
    }
    assert [type(v) for v in merged["acc"]["values"]] == [float, bool]
    assert all(t.tzinfo is None for series in merged.values() for t in series["timestamps"])
    metrics = assert_metrics_json_is_reference(tmp_path / "1")
    assert metrics["loss"]["timestamps"] == [
        "2024-05-01T12:00:00",
        "2024-05-01T12:00:01",
        "2024-05-01T12:00:03",
    ]
