"""``sync``: replaying fallback journals exactly once, resuming, and what cannot be replayed."""

import logging
import os

from experimentkit.context import current_run
from experimentkit.journal import read_journal
from experimentkit.sync import SyncResult, build_observer, sync
from experimentkit.testing import make_run
from tests.test_dispatch_support import Flaky


def run_with_outage(tmp_path, flaky, points=40, down_from_start=False, **attributes):
    """A run whose observer ``flaky`` goes down (after started_event, or from the start)."""
    flaky.down = down_from_start

    def main():
        flaky.down = True
        run = current_run()
        for i in range(points):
            run.log_scalar("loss", i)
        run.log_table("preds", [{"i": i} for i in range(3)])
        run.info["epochs"] = 2
        print("training done")
        return 0.25

    run = make_run(
        main,
        {"lr": 0.1},
        [flaky],
        logger=logging.getLogger("test_sync"),
        capture_mode="sys",
        beat_interval=0,
        observer_retry_seconds=0,
        fallback_dir=str(tmp_path),
        **attributes,
    )
    run()
    return run


def test_sync_delivers_every_event_exactly_once_and_twice_adds_nothing(tmp_path):
    flaky = Flaky()
    run = run_with_outage(tmp_path, flaky)
    [journal] = run.fallback_journals
    assert flaky.run.metrics == {} and flaky.run.status == "RUNNING"
    flaky.down = False  # the backend is reachable again
    [result] = sync(str(tmp_path))
    assert result == SyncResult(
        journal, "Flaky", run.meta_info["uid"], "synced", delivered=4, remaining=0, run_id=1
    )
    recorded = flaky.runs[1]
    assert recorded.metrics["loss"]["steps"] == list(range(40))
    assert recorded.tables["preds"] == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert recorded.status == "COMPLETED" and recorded.result == 0.25
    assert recorded.info == {"epochs": 2} and "training done" in recorded.captured_out
    assert recorded.config == {"lr": 0.1}
    assert not os.path.exists(journal)
    assert os.path.exists(os.path.join(tmp_path, "synced", os.path.basename(journal)))
    events_before = list(flaky.events)
    assert sync(str(tmp_path)) == []
    assert flaky.events == events_before


def test_sync_starts_the_run_when_the_backend_never_saw_it(tmp_path):
    flaky = Flaky()
    run = run_with_outage(tmp_path, flaky, down_from_start=True)
    assert flaky.runs == {}
    flaky.down = False
    [result] = sync(str(tmp_path))
    assert result.status == "synced" and result.run_id == 1
    assert flaky.event_names[0] == "started_event"
    assert flaky.runs[1].metrics["loss"]["steps"] == list(range(40))
    assert flaky.runs[1].status == "COMPLETED"
    assert run.status == "COMPLETED"


def test_interrupted_sync_resumes_without_duplicates(tmp_path):
    flaky = Flaky()
    run_with_outage(tmp_path, flaky, down_from_start=True)
    flaky.down = False
    flaky.failures = {"heartbeat_event": 1}  # dies mid-sync, after started, metrics and table
    [first] = sync(str(tmp_path))
    assert first.status == "failed" and first.delivered == 3 and first.remaining == 2
    assert "ConnectionError" in first.message
    [second] = sync(str(tmp_path))
    assert second.status == "synced" and second.delivered == 2 and second.run_id == 1
    assert flaky.event_names.count("started_event") == 1
    assert flaky.runs[1].metrics["loss"]["steps"] == list(range(40))
    assert list(flaky.runs) == [1]


def test_dry_run_changes_nothing(tmp_path):
    flaky = Flaky()
    run = run_with_outage(tmp_path, flaky)
    flaky.down = False
    events_before = list(flaky.events)
    [result] = sync(str(tmp_path), dry_run=True)
    assert result.status == "pending" and result.remaining == 4 and result.delivered == 0
    assert flaky.events == events_before and os.path.exists(run.fallback_journals[0])


def test_journal_without_replay_spec_is_skipped_and_kept(tmp_path):
    flaky = Flaky(replayable=False)
    run = run_with_outage(tmp_path, flaky)
    [result] = sync(str(tmp_path))
    assert result.status == "skipped" and "no replay_spec" in result.message
    assert os.path.exists(run.fallback_journals[0])


def test_replayed_artifact_uses_the_kept_copy(tmp_path):
    artifact = tmp_path / "model.txt"
    artifact.write_text("weights")
    flaky = Flaky()

    def main():
        flaky.down = True
        current_run().add_artifact(str(artifact))

    run = make_run(
        main,
        {},
        [flaky],
        capture_mode="no",
        beat_interval=0,
        observer_retry_seconds=0,
        fallback_dir=str(tmp_path / "fb"),
    )
    run()
    artifact.unlink()
    flaky.down = False
    [result] = sync(str(tmp_path / "fb"))
    assert result.status == "synced"
    [stored] = flaky.runs[1].artifacts
    assert stored["name"] == "model.txt"
    # the kept copy moved along with the journal into synced/
    synced = tmp_path / "fb" / "synced"
    copies = [p for p in synced.rglob("*model.txt")]
    assert len(copies) == 1 and copies[0].read_text() == "weights"


def test_unreadable_journal_is_reported(tmp_path):
    (tmp_path / "junk.jsonl").write_text('{"not": "a journal"}\n')
    [result] = sync(str(tmp_path))
    assert result.status == "failed" and "not an experimentkit fallback journal" in result.message


def test_build_observer_checks_the_factory_string():
    import pytest

    with pytest.raises(ValueError, match="package.module:callable"):
        build_observer({"factory": "no_colon"})
    observer = build_observer(
        {"factory": "experimentkit.observers.memory:InMemoryObserver", "kwargs": {"priority": 3}}
    )
    assert observer.priority == 3


def test_journal_lines_are_plain_json(tmp_path):
    run = run_with_outage(tmp_path, Flaky())
    with open(run.fallback_journals[0]) as fh:
        text = fh.read()
    assert "py/object" not in text and '"$datetime"' in text
    header, _ = read_journal(run.fallback_journals[0])
    assert header["format"] == "experimentkit-journal" and header["version"] == 2
    assert header["finalized"] is True
