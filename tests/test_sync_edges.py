"""``sync`` and the journal format at their edges: dates and numpy values in events, journals
written before the writer's pid was recorded, events and runs a backend refuses for good, the
default fallback directory."""

from __future__ import annotations

import datetime as dt

import pytest

from experimentkit.journal import read_journal, write_journal
from experimentkit.observers.memory import InMemoryObserver
from experimentkit.settings import SETTINGS
from experimentkit.sync import format_results, sync

T0 = dt.datetime(2024, 1, 1)
STARTED = (
    "started_event",
    {
        "ex_info": {},
        "command": "main",
        "host_info": {},
        "start_time": T0,
        "config": {},
        "meta_info": {},
        "_id": None,
    },
)


def header(factory, name):
    """A header as the first journals had it: no pid, no host (nothing says its writer is alive)."""
    return {"run_uid": "u1", "observer": "X", "replay_spec": {"factory": factory, "kwargs": {"name": name}}}


class Picky(InMemoryObserver):
    """Refuses tables, heartbeats and artifacts for good (a value or file the backend cannot store)."""

    def log_table(self, name, rows):
        raise ValueError(f"table {name!r} has a column type it cannot store")

    def heartbeat_event(self, info, captured_out, beat_time, result):
        raise TypeError("captured output is not text")

    def artifact_event(self, name, filename, metadata=None, content_type=None):
        raise FileNotFoundError(filename)


class Refusing(InMemoryObserver):
    """Refuses to open the run for good."""

    def started_event(self, **kwargs):
        raise ValueError("no such database 'exps'")


def test_dates_and_numpy_values_survive_the_journal(tmp_path):
    np = pytest.importorskip("numpy")
    info = {"day": dt.date(2024, 5, 1), "when": T0, "n": np.int64(3), "v": np.array([0.5, 1.5])}
    path = str(tmp_path / "j.jsonl")
    write_journal(
        path, header("experimentkit.observers.memory:lookup", "dates"), [("heartbeat_event", {"info": info})]
    )
    [(_, kwargs)] = read_journal(path)[1]
    assert kwargs["info"] == {"day": dt.date(2024, 5, 1), "when": T0, "n": 3, "v": [0.5, 1.5]}
    assert type(kwargs["info"]["day"]) is dt.date


def test_events_refused_for_good_are_skipped_by_name_and_the_rest_arrive(tmp_path):
    events = [
        STARTED,
        ("log_table", {"name": "preds", "rows": [{"i": 1}]}),
        ("heartbeat_event", {"info": {}, "captured_out": "x", "beat_time": T0, "result": None}),
        ("completed_event", {"stop_time": T0, "result": 1}),
    ]
    write_journal(str(tmp_path / "j.jsonl"), header("tests.test_sync_edges:Picky", "picky"), events)
    [result] = sync(str(tmp_path), trust=["tests.test_sync_edges:Picky"])
    assert result.status == "synced" and (result.delivered, result.remaining) == (2, 0)
    assert result.skipped == [
        "log_table 'preds' (ValueError: table 'preds' has a column type it cannot store)",
        "heartbeat_event (TypeError: captured output is not text)",
    ]
    assert "j.jsonl: skipped heartbeat_event (TypeError: captured output is not text)" in format_results(
        [result]
    )


def test_a_run_the_backend_refuses_to_open_says_how_to_give_the_journal_up(tmp_path):
    path = str(tmp_path / "j.jsonl")
    write_journal(path, header("tests.test_sync_edges:Refusing", "refusing"), [STARTED])
    [result] = sync(str(tmp_path), trust=["tests.test_sync_edges:Refusing"])
    assert result.status == "failed"
    assert result.message == (
        f"ValueError: no such database 'exps' - this will not change by itself; "
        f"'experimentkit sync --discard {path}' gives the journal up"
    )


def test_sync_reads_the_configured_fallback_directory_by_default(tmp_path, monkeypatch):
    monkeypatch.setitem(SETTINGS, "FALLBACK_DIR", str(tmp_path))
    write_journal(
        str(tmp_path / "j.jsonl"), header("experimentkit.observers.memory:lookup", "default-dir"), [STARTED]
    )
    [result] = sync()
    assert result.status == "synced" and result.delivered == 1
    assert (tmp_path / "synced" / "j.jsonl").exists()
