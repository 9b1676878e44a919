"""Store-independent read-side behaviour: DEAD detection, push-down bookkeeping, open_store."""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

import pytest

from experimentkit.errors import StoreError
from experimentkit.query import Query, apply_in_python, open_store, parse_order, parse_where
from experimentkit.query.memory import InMemoryStore

NOW = _dt.datetime(2024, 6, 1, 12, 0, 0)


def _store(**kwargs: object) -> InMemoryStore:
    specs = [
        {
            "id": "1",
            "status": "RUNNING",
            "start_time": "2024-06-01T11:00:00",
            "heartbeat": "2024-06-01T11:59:30",
        },
        {
            "id": "2",
            "status": "RUNNING",
            "start_time": "2024-06-01T11:00:00",
            "heartbeat": "2024-06-01T11:50:00",
        },
        {"id": "3", "status": "RUNNING", "start_time": "2024-06-01T11:59:00"},
        {"id": "4", "status": "RUNNING", "start_time": "2024-06-01T10:00:00"},
        {
            "id": "5",
            "status": "COMPLETED",
            "start_time": "2024-01-01T00:00:00",
            "heartbeat": "2024-01-01T00:00:00",
        },
    ]
    return InMemoryStore(specs, clock=lambda: NOW, **kwargs)


def test_running_runs_without_recent_heartbeat_are_dead() -> None:
    store = _store()
    status = {r.id: (r.status, r.raw_status) for r in store.runs().all()}
    assert status == {
        "1": ("RUNNING", "RUNNING"),
        "2": ("DEAD", "RUNNING"),
        "3": ("RUNNING", "RUNNING"),
        "4": ("DEAD", "RUNNING"),
        "5": ("COMPLETED", "COMPLETED"),
    }
    assert [r.id for r in store.runs().where("status == DEAD").all()] == ["2", "4"]


def test_dead_threshold_is_configurable() -> None:
    assert _store(dead_after=3600).get("2").status == "RUNNING"
    assert _store(dead_after=10).get("1").status == "DEAD"


def test_apply_in_python_skips_pushed_filters_and_checks_limit_use() -> None:
    store = _store()
    records = store.runs().all()
    q = Query(filters=(parse_where("status == DEAD"),), order=(parse_order("-id"),), limit=1)
    # the backend claims it applied the filter: nothing is filtered again
    assert [r.id for r in apply_in_python(records, q, filtered=q.filters)] == ["5"]
    assert [r.id for r in apply_in_python(records, q)] == ["4"]
    pre_sorted = records[::-1]
    assert [r.id for r in apply_in_python(pre_sorted, q.replace(filters=()), ordered=True)] == ["5"]
    with pytest.raises(
        ValueError, match=r"^a backend may only apply offset/limit after applying every filter and the order$"
    ):
        apply_in_python(records, q, limited=True, ordered=True)


def test_metric_series_numpy_and_pandas() -> None:
    store = InMemoryStore(
        [
            {
                "id": "1",
                "metrics": {
                    "loss": {
                        "steps": [0, 10],
                        "values": [1.5, None],
                        "timestamps": ["2024-01-01T00:00:00", "2024-01-01T00:01:00"],
                    }
                },
            }
        ]
    )
    run = store.get("1")
    assert run.metrics["loss"] == {"last": None, "min": 1.5, "max": 1.5, "count": 2}
    steps, values, times = run.metric("loss").to_numpy()
    assert steps.tolist() == [0, 10] and values[0] == 1.5 and values[1] != values[1]
    assert str(times.dtype) == "datetime64[us]"
    frame = run.metrics_frame()
    assert list(frame.columns) == ["metric", "step", "value", "timestamp"] and len(frame) == 2


def test_open_store_errors_are_one_line(tmp_path: Path) -> None:
    cases = [
        str(tmp_path / "missing"),
        "nosuch://x",
        f"sqlite:///{tmp_path}/missing.db",
        f"memory+json://{tmp_path}/missing.json",
    ]
    for target in cases:
        with pytest.raises(StoreError) as info:
            open_store(target)
        assert "\n" not in str(info.value)
    assert "unknown store scheme 'nosuch://'" in _message(lambda: open_store("nosuch://x"))


def _message(fn: object) -> str:
    try:
        fn()
    except StoreError as exc:
        return str(exc)
    raise AssertionError("no StoreError")


def test_memory_json_store_writes_annotations_back(tmp_path: Path) -> None:
    path = tmp_path / "runs.json"
    path.write_text(json.dumps({"runs": [{"id": 1}, {"id": 2}]}))
    store = open_store(f"memory+json://{path}")
    store.add_tags("1", ["x"])
    store.set_note("2", "hello")
    store.delete(["2"])
    again = open_store(f"memory+json://{path}")
    assert again.get("1").tags == ["x"] and [r.id for r in again.runs()] == ["1"]


def test_unknown_run_suggests_close_id() -> None:
    store = InMemoryStore([{"id": "run-alpha"}])
    assert "did you mean 'run-alpha'" in _message(lambda: store.get("run-alpa"))
