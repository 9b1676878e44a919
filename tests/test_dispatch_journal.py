"""The live fallback journal: on disk while the outage lasts, kept in step with deliveries.

A SIGKILL can come at any moment, so the journal read back *without* ``finish()`` must hold exactly
the events the observer has not taken: what the observer stored plus what the journal replays is
every event once.
"""

import datetime as dt
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from experimentkit.dispatch import Dispatcher, read_journal
from experimentkit.observers.memory import InMemoryObserver
from experimentkit.sync import sync
from tests.test_dispatch_support import Flaky, metric_batch

T0 = dt.datetime(2024, 1, 1)
HEADER = {
    "format": "experimentkit-journal",
    "version": 2,
    "run_uid": "u",
    "observer": "X",
    "replay_spec": None,
    "opened": False,
    "assigned_id": None,
}


def write_lines(path, records, tail=""):
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + tail)
    return str(path)


def metrics_line(seq, steps):
    return {
        "seq": seq,
        "event": "log_metrics",
        "kwargs": {
            "metrics_by_name": {
                "loss": {"name": "loss", "steps": list(steps), "values": list(steps), "timestamps": []}
            },
            "info": {},
        },
    }


def beat_line(seq, out, **extra):
    return dict(
        {
            "seq": seq,
            "event": "heartbeat_event",
            "kwargs": {"info": {}, "captured_out": out, "beat_time": None, "result": None},
        },
        **extra,
    )


# ---- the format ----------------------------------------------------------------------------------
def test_torn_last_line_is_skipped_and_a_corrupt_middle_line_is_an_error(tmp_path):
    path = write_lines(
        tmp_path / "j.jsonl", [HEADER, metrics_line(0, [0])], tail='{"seq": 1, "event": "log_met'
    )
    header, events = read_journal(path)
    assert [e for e, _ in events] == ["log_metrics"] and header["finalized"] is False
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(HEADER) + "\n{torn\n" + json.dumps(metrics_line(0, [0])) + "\n")
    with pytest.raises(ValueError, match="line 2 is not JSON"):
        read_journal(str(bad))


def test_a_journal_without_its_header_is_not_a_journal(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text('{"format": "experimentk')  # torn header: the writer never leaves this
    with pytest.raises(ValueError, match="not an experimentkit fallback journal"):
        read_journal(str(path))


def test_markers_hide_delivered_events_and_fold_into_the_header(tmp_path):
    path = write_lines(
        tmp_path / "j.jsonl",
        [
            HEADER,
            {"seq": 0, "event": "started_event", "kwargs": {"_id": None}},
            metrics_line(1, [0, 1]),
            {"delivered_through": 0, "opened": True, "assigned_id": 7},
            metrics_line(2, [2]),
            {"delivered_through": 1, "replay_spec": {"factory": "m:f", "kwargs": {}}},
            {"seq": 3, "event": "completed_event", "kwargs": {"stop_time": None, "result": 1}},
            {"finalized": True, "last_error": "ConnectionError: down"},
        ],
    )
    header, events = read_journal(path)
    assert events == [
        ("log_metrics", metrics_line(2, [2])["kwargs"]),
        ("completed_event", {"stop_time": None, "result": 1}),
    ]
    assert header["opened"] is True and header["assigned_id"] == 7
    assert header["replay_spec"] == {"factory": "m:f", "kwargs": {}}
    assert header["finalized"] is True and header["last_error"] == "ConnectionError: down"


def test_compaction_applies_to_what_the_markers_leave(tmp_path):
    path = write_lines(
        tmp_path / "j.jsonl",
        [
            HEADER,
            metrics_line(0, [0]),
            beat_line(1, "a"),
            metrics_line(2, [1]),
            beat_line(3, "ab"),
            metrics_line(4, [2]),
            {"delivered_through": 0},
            {"seq": 5, "event": "log_table", "kwargs": {"name": "t", "rows": [{"i": 0}]}},
            {"seq": 6, "event": "log_table", "kwargs": {"name": "t", "rows": [{"i": 1}]}},
        ],
    )
    _, events = read_journal(path)
    assert [e for e, _ in events] == ["log_metrics", "heartbeat_event", "log_metrics", "log_table"]
    assert events[0][1]["metrics_by_name"]["loss"]["steps"] == [1]  # beat 1 dropped, not merged
    assert events[1][1]["captured_out"] == "ab"
    assert events[3][1]["rows"] == [{"i": 0}, {"i": 1}]


def test_heartbeat_output_is_stored_as_what_is_new(tmp_path):
    path = write_lines(
        tmp_path / "j.jsonl",
        [HEADER, beat_line(0, "line 1\n"), beat_line(1, "line 2\n", out_from=7), {"delivered_through": 0}],
    )
    _, [(event, kwargs)] = read_journal(path)
    assert event == "heartbeat_event" and kwargs["captured_out"] == "line 1\nline 2\n"


def test_version_1_journals_count_as_finalized(tmp_path):
    path = write_lines(tmp_path / "j.jsonl", [dict(HEADER, version=1), metrics_line(0, [0])])
    header, events = read_journal(path)
    assert header["finalized"] is True and len(events) == 1


# ---- the dispatcher writes it while the run goes on ----------------------------------------------
def dispatcher(observer, fallback, **kwargs):
    kwargs.setdefault("call_timeout", 5)
    return Dispatcher(
        [observer],
        logger=logging.getLogger("test_journal"),
        run_uid="uid1",
        retry_seconds=0,
        fallback_dir=str(fallback),
        **kwargs,
    )


def start(disp):
    return disp.open(
        "started_event",
        ex_info={},
        command="main",
        host_info={},
        start_time=T0,
        config={"lr": 1},
        meta_info={},
        _id=None,
    )


def beat(disp, out):
    disp.emit("heartbeat_event", info={}, captured_out=out, beat_time=T0, result=None)


def journal_files(fallback):
    return sorted(p.name for p in fallback.iterdir()) if fallback.exists() else []


def test_nothing_is_written_while_the_observer_is_healthy(tmp_path):
    observer = Flaky()
    disp = dispatcher(observer, tmp_path / "fb")
    start(disp)
    for i in range(5):
        disp.emit("log_metrics", metrics_by_name=metric_batch("loss", [i]), info={})
        beat(disp, "x" * i)
    assert not (tmp_path / "fb").exists()
    disp.emit("completed_event", stop_time=T0, result=1)
    assert disp.finish() == [] and not (tmp_path / "fb").exists()


def test_journal_appears_with_the_first_failure_and_goes_when_the_observer_recovers(tmp_path):
    fallback = tmp_path / "fb"
    observer = Flaky()
    disp = dispatcher(observer, fallback)
    start(disp)
    observer.down = True
    disp.emit("log_metrics", metrics_by_name=metric_batch("loss", [0, 1]), info={})
    [name] = journal_files(fallback)
    assert name == "uid1-0-Flaky.jsonl"
    header, events = read_journal(str(fallback / name))
    assert header["pid"] == os.getpid() and header["hostname"] == socket.gethostname()
    assert header["opened"] is True and header["assigned_id"] == 1
    assert header["finalized"] is False and header["replay_spec"] == observer.replay_spec()
    assert [e for e, _ in events] == ["log_metrics"]
    beat(disp, "out\n")
    disp.emit("log_metrics", metrics_by_name=metric_batch("loss", [2]), info={})
    _, events = read_journal(str(fallback / name))
    assert [e for e, _ in events] == ["log_metrics", "heartbeat_event", "log_metrics"]
    observer.down = False
    disp.retry()
    assert journal_files(fallback) == []
    assert observer.run.metrics["loss"]["steps"] == [0, 1, 2]
    disp.emit("completed_event", stop_time=T0, result=1)
    assert disp.finish() == [] and journal_files(fallback) == []


def test_partial_delivery_is_marked_and_the_rest_stays(tmp_path):
    fallback = tmp_path / "fb"
    observer = Flaky(down=True)
    disp = dispatcher(observer, fallback)
    start(disp)  # journaled: the backend never saw the run
    disp.emit("log_metrics", metrics_by_name=metric_batch("loss", [0]), info={})
    disp.emit("log_table", name="t", rows=[{"i": 0}])
    disp.emit("log_metrics", metrics_by_name=metric_batch("loss", [1]), info={})
    [path] = [str(fallback / n) for n in journal_files(fallback)]
    assert read_journal(path)[0]["opened"] is False
    observer.down = False
    observer.failures = {"log_table": 1}
    disp.retry()  # started and the first batch go through, the table fails again
    header, events = read_journal(path)
    assert header["opened"] is True and header["assigned_id"] == 1
    assert [e for e, _ in events] == ["log_table", "log_metrics"]
    with open(path) as fh:
        assert '"delivered_through"' in fh.read()  # appended, not rewritten
    observer.down = True
    disp.emit("completed_event", stop_time=T0, result=1)
    assert disp.finish() == [path]
    header, events = read_journal(path)
    assert header["finalized"] is True and "ConnectionError" in header["last_error"]
    assert [e for e, _ in events] == ["log_table", "log_metrics", "completed_event"]
    observer.down = False
    [result] = sync(str(fallback))
    assert result.status == "synced" and result.delivered == 3
    assert observer.runs[1].metrics["loss"]["steps"] == [0, 1]
    assert observer.runs[1].tables["t"] == [{"i": 0}] and observer.runs[1].status == "COMPLETED"


def test_artifact_copy_is_made_when_journaled_and_removed_on_recovery(tmp_path):
    fallback = tmp_path / "fb"
    artifact = tmp_path / "w.bin"
    artifact.write_bytes(b"abc")
    observer = Flaky()
    disp = dispatcher(observer, fallback)
    start(disp)
    observer.down = True
    disp.emit("artifact_event", name="w.bin", filename=str(artifact), metadata=None, content_type=None)
    artifact.unlink()  # a temporary file, gone before the backend is back
    _, [(_, kwargs)] = read_journal(str(fallback / "uid1-0-Flaky.jsonl"))
    with open(kwargs["filename"], "rb") as fh:
        assert fh.read() == b"abc"
    observer.down = False
    disp.retry()
    assert observer.run.artifacts[0]["name"] == "w.bin"
    assert journal_files(fallback) == []


def test_a_call_that_outlives_its_timeout_is_journaled_until_it_answers(tmp_path):
    fallback = tmp_path / "fb"

    class Slow(InMemoryObserver):
        """Answers a heartbeat only once the test lets it (a backend busy for a while)."""

        answer = threading.Event()
        calls: list = []

        def heartbeat_event(self, **kwargs):
            self.calls.append(threading.current_thread())
            assert self.answer.wait(30)
            return super().heartbeat_event(**kwargs)

    observer = Slow(name="slow-journal")
    disp = dispatcher(observer, fallback, call_timeout=0.05)
    start(disp)
    beat(disp, "a")
    _, events = read_journal(str(fallback / "uid1-0-Slow.jsonl"))
    assert [e for e, _ in events] == ["heartbeat_event"]
    Slow.answer.set()
    for call in Slow.calls:
        call.join(30)
    disp.retry()
    assert journal_files(fallback) == [] and observer.run.captured_out == "a"


def killed_run_journal(fallback):
    """A journal as a SIGKILLed run leaves it: events not delivered, never finalized."""
    observer = Flaky()
    disp = dispatcher(observer, fallback)
    start(disp)
    observer.down = True
    disp.emit("log_metrics", metrics_by_name=metric_batch("loss", [0, 1]), info={})
    beat(disp, "out\n")
    disp.slots[0].journal.close()  # no finish(): the process "dies" here
    return observer, str(fallback / "uid1-0-Flaky.jsonl")


def rewrite_header(path, **changes):
    with open(path) as fh:
        lines = fh.readlines()
    lines[0] = json.dumps(dict(json.loads(lines[0]), **changes)) + "\n"
    with open(path, "w") as fh:
        fh.writelines(lines)


def test_sync_leaves_the_journal_of_a_live_run_alone(tmp_path):
    observer, path = killed_run_journal(tmp_path)
    observer.down = False
    before = list(observer.events)
    [result] = sync(str(tmp_path))
    assert result.status == "skipped" and "still going" in result.message
    assert observer.events == before and os.path.exists(path)


def test_sync_replays_the_journal_of_a_dead_writer(tmp_path):
    observer, path = killed_run_journal(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    rewrite_header(path, pid=dead.pid)
    observer.down = False
    [result] = sync(str(tmp_path))
    assert result.status == "synced" and result.delivered == 2
    assert observer.runs[1].metrics["loss"]["steps"] == [0, 1]
    assert observer.runs[1].captured_out == "out\n" and observer.runs[1].status == "RUNNING"
    assert sync(str(tmp_path)) == []


def test_pid_reused_by_another_process_does_not_count_as_the_writer(tmp_path):
    observer, path = killed_run_journal(tmp_path)
    rewrite_header(path, pid_started="1")  # this pid, but a process started at another time
    observer.down = False
    [result] = sync(str(tmp_path))
    assert result.status == "synced"


def test_unfinished_journal_from_another_host_needs_force(tmp_path):
    observer, path = killed_run_journal(tmp_path)
    rewrite_header(path, hostname="elsewhere.example")
    observer.down = False
    [result] = sync(str(tmp_path))
    assert result.status == "skipped" and "--force" in result.message
    [result] = sync(str(tmp_path), force=True)
    assert result.status == "synced" and observer.runs[1].metrics["loss"]["steps"] == [0, 1]


def test_journal_whose_events_were_all_delivered_is_archived_without_replay(tmp_path):
    path = write_lines(
        tmp_path / "j.jsonl",
        [
            dict(HEADER, replay_spec={"factory": "no.such.module:f"}),
            metrics_line(0, [0]),
            {"delivered_through": 0},
            {"finalized": True},
        ],
    )
    [result] = sync(str(tmp_path))
    assert result.status == "synced" and result.delivered == 0
    assert not os.path.exists(path) and (tmp_path / "synced" / "j.jsonl").exists()


# ---- whatever the outage pattern, a kill loses and duplicates nothing ----------------------------
actions = st.lists(st.sampled_from(["metrics", "beat", "table", "down", "up", "blip", "retry"]), max_size=30)


def assert_stored_plus_journal_is_everything(observer, path, steps, rows, out):
    """What a SIGKILL right now would leave: the observer's record plus the journal's events."""
    stored, journaled = observer.run, read_journal(path)[1] if os.path.exists(path) else []
    got_steps = list(stored.metrics.get("loss", {}).get("steps", []))
    got_rows = list(stored.tables.get("t", []))
    got_out = stored.captured_out
    for event, kwargs in journaled:
        if event == "log_metrics":
            got_steps += kwargs["metrics_by_name"]["loss"]["steps"]
        elif event == "log_table":
            got_rows += kwargs["rows"]
        elif event == "heartbeat_event":
            got_out = kwargs["captured_out"]
    assert got_steps == list(range(steps))
    assert got_rows == [{"i": i} for i in range(rows)]
    assert got_out == out


@settings(max_examples=60, deadline=None)
@example(["down", "metrics", "table", "up", "blip", "beat"])
@example(["down", "metrics", "metrics", "table", "up", "blip", "retry"])  # a merged batch delivered
@example(["down", "beat", "metrics", "beat", "up", "blip", "retry", "beat"])
@given(actions)
def test_stored_plus_journal_is_every_event_once_at_every_moment(actions):
    with tempfile.TemporaryDirectory() as tmp:
        fallback = os.path.join(tmp, "fb")
        path = os.path.join(fallback, "uid1-0-Flaky.jsonl")
        observer = Flaky()
        disp = dispatcher(observer, fallback)
        start(disp)
        step, row, out = 0, 0, ""
        for action in actions:
            if action == "metrics":
                disp.emit("log_metrics", metrics_by_name=metric_batch("loss", [step]), info={})
                step += 1
            elif action == "table":
                disp.emit("log_table", name="t", rows=[{"i": row}])
                row += 1
            elif action == "beat":  # a run retries at each heartbeat
                disp.retry()
                out += f"{step}\n"
                beat(disp, out)
            elif action == "retry":
                disp.retry()
            elif action == "blip":  # the next table and heartbeat fail once: a retry stops halfway
                observer.failures = {"log_table": 1, "heartbeat_event": 1}
            else:
                observer.down = action == "down"
            assert_stored_plus_journal_is_everything(observer, path, step, row, out)
        observer.down, observer.failures = False, {}
        disp.emit("completed_event", stop_time=T0, result=1)
        assert disp.finish() == [] and not os.path.exists(path)
        assert_stored_plus_journal_is_everything(observer, path, step, row, out)
