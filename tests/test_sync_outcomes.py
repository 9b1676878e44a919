"""What ``sync`` reports for journals at the edges, found missing by mutation testing: a journal gone
since the directory was listed, an unreadable one, headers without names, discarding a bare journal,
and a sync resumed after an event was skipped and a later one failed for now."""

from __future__ import annotations

import importlib
import json
import os

from experimentkit.journal import write_journal
from experimentkit.observers.memory import InMemoryObserver
from experimentkit.sync import SyncResult, discard, sync
from tests.test_sync_edges import STARTED, T0

FACTORY = "tests.test_sync_outcomes:Resumable"


def test_a_journal_removed_since_the_listing_is_skipped_as_removed(tmp_path):
    # a dangling link is listed like a journal but is gone when sync opens it
    os.symlink(tmp_path / "gone.jsonl", tmp_path / "a.jsonl")
    assert sync(str(tmp_path)) == [
        SyncResult(str(tmp_path / "a.jsonl"), "?", "?", "skipped", message="the journal was removed")
    ]


def test_an_unreadable_journal_fails_with_its_reason(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text("not json\n")
    assert sync(str(tmp_path)) == [
        SyncResult(str(path), "?", "?", "failed", message=f"unreadable journal: {path}: line 1 is not JSON")
    ]
    assert path.exists()  # left for a person to look at


def test_a_header_without_names_is_reported_with_question_marks(tmp_path):
    path = str(tmp_path / "j.jsonl")
    write_journal(path, {"replay_spec": None}, [STARTED])
    [result] = sync(str(tmp_path))
    assert (result.observer, result.run_uid, result.status, result.remaining) == ("?", "?", "skipped", 1)
    assert result.backend == "-"


def test_discarding_a_bare_journal_needs_no_progress_and_no_kept_files(tmp_path):
    path = str(tmp_path / "j.jsonl")
    write_journal(path, {"replay_spec": {"kwargs": {}}}, [])
    result = discard(path)
    assert result == SyncResult(path, "?", "?", "discarded", remaining=0)
    assert result.backend == "?"  # a spec without a factory or a place
    assert os.listdir(tmp_path) == []


class Resumable(InMemoryObserver):
    """Opens runs without returning an id, refuses tables for good and fails metrics for now, as
    ``failures`` says; ``calls`` lists what every instance was asked (sync builds a new one)."""

    calls: list = []
    failures: list = []

    def started_event(self, **kwargs):
        self.calls.append("started_event")
        super().started_event(**kwargs)
        return None  # the run is known by the _id it was given

    def attach(self, _id):
        self.calls.append(("attach", _id))
        super().attach(_id)

    def log_table(self, name, rows):
        self.calls.append("log_table")
        raise ValueError("a column it cannot store")

    def log_metrics(self, metrics_by_name, info):
        self.calls.append("log_metrics")
        if self.failures:
            raise self.failures.pop()
        super().log_metrics(metrics_by_name=metrics_by_name, info=info)


def test_a_sync_resumed_after_a_skip_and_a_failure_replays_only_the_rest(tmp_path):
    started = (STARTED[0], dict(STARTED[1], _id=42))
    metrics = {"loss": {"name": "loss", "steps": [0], "values": [1.0], "timestamps": [T0]}}
    events = [
        started,
        ("log_table", {"name": "preds", "rows": [{"i": 1}]}),
        ("log_metrics", {"metrics_by_name": metrics, "info": {}}),
        ("completed_event", {"stop_time": T0, "result": 1}),
    ]
    path = str(tmp_path / "j.jsonl")
    write_journal(path, {"run_uid": "u", "observer": "R", "replay_spec": {"factory": FACTORY}}, events)
    # the class sync builds: this file may be imported under another module name by pytest
    built = importlib.import_module(FACTORY.split(":")[0]).Resumable
    built.calls[:] = []
    built.failures[:] = [ConnectionError("database restarting")]

    [first] = sync(str(tmp_path), trust=[FACTORY])
    assert (first.status, first.delivered, first.remaining) == ("failed", 1, 2)
    assert first.skipped == ["log_table 'preds' (ValueError: a column it cannot store)"]
    with open(tmp_path / "j.progress.json") as fh:
        progress = json.load(fh)
    assert (progress["delivered"], progress["run_id"]) == (2, 42)

    [second] = sync(str(tmp_path), trust=[FACTORY])
    assert (second.status, second.delivered, second.remaining, second.run_id) == ("synced", 2, 0, 42)
    assert built.calls == [
        "started_event",
        "log_table",
        "log_metrics",
        ("attach", 42),  # the second sync extends the run the first one opened
        "log_metrics",
    ]


class Namespace:
    """A factory reached through an attribute path (``module:Outer.Inner``)."""

    Resumable = Resumable


def test_a_run_opened_before_the_outage_is_attached_by_its_assigned_id(tmp_path):
    metrics = {"loss": {"name": "loss", "steps": [3], "values": [0.5], "timestamps": [T0]}}
    factory = "tests.test_sync_outcomes:Namespace.Resumable"
    header = {"run_uid": "u", "observer": "R", "replay_spec": {"factory": factory}}
    path = tmp_path / "j.jsonl"
    write_journal(str(path), header, [("log_metrics", {"metrics_by_name": metrics, "info": {}})])
    with open(path, "a") as fh:  # the markers a run writes once the observer had opened it
        fh.write(json.dumps({"opened": True, "assigned_id": 7}) + "\n")
    built = importlib.import_module("tests.test_sync_outcomes").Resumable
    built.calls[:] = []
    built.failures[:] = []
    [result] = sync(str(tmp_path), trust=[factory])
    assert (result.status, result.delivered, result.run_id) == ("synced", 1, 7)
    assert built.calls == [("attach", 7), "log_metrics"]
