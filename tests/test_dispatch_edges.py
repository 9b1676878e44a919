"""Dispatcher details found missing by mutation testing: a driver error wrapping a permanent one, the
call thread being a daemon (a hung backend must not keep the process alive at exit), a replay
spec that changed during an outage reaching the journal, what the warnings name (the dropped table or
artifact, the recovered observer's count, the journal of one that did not recover), and the run uid
kept from duck-typed observers."""

from __future__ import annotations

import logging
import threading

import pytest

from experimentkit.dispatch import Dispatcher, is_permanent
from experimentkit.journal import read_journal
from experimentkit.observers.memory import InMemoryObserver
from tests.test_dispatch_support import STARTED, T0, Flaky, opened_dispatcher


def test_a_driver_error_is_permanent_exactly_when_the_error_it_wraps_is():
    sa = pytest.importorskip("sqlalchemy")
    refused = sa.exc.StatementError("INSERT", "INSERT ...", {}, ValueError("NaN in a JSON column"))
    unreachable = sa.exc.StatementError("INSERT", "INSERT ...", {}, ConnectionError("reset"))
    assert is_permanent(refused) is True
    assert is_permanent(unreachable) is False


class Blocking(InMemoryObserver):
    """Holds ``log_table`` until ``release`` is set."""

    def __init__(self):
        super().__init__(name="blocking")
        self.entered = threading.Event()
        self.release = threading.Event()

    def log_table(self, name, rows):
        self.entered.set()
        self.release.wait()
        return super().log_table(name=name, rows=rows)


def test_the_observer_call_runs_in_a_daemon_thread(tmp_path):
    observer = Blocking()
    disp = opened_dispatcher(observer, tmp_path)
    caller = threading.Thread(target=disp.emit, kwargs=dict(event="log_table", name="t", rows=[{"i": 0}]))
    caller.start()
    try:
        assert observer.entered.wait(60), "the observer call never started"
        calls = [t for t in threading.enumerate() if t.name == "experimentkit-observer-call" and t.is_alive()]
        assert calls and all(t.daemon for t in calls)
    finally:
        observer.release.set()
        caller.join(60)
    assert observer.run.tables["t"] == [{"i": 0}]


def test_a_replay_spec_that_changed_during_the_outage_is_written_to_the_journal(tmp_path):
    observer = Flaky()
    disp = opened_dispatcher(observer, tmp_path)
    observer.down = True
    disp.emit("log_table", name="t", rows=[{"i": 0}])
    disp.emit("heartbeat_event", info={}, captured_out="", beat_time=T0, result=None)
    changed = {"factory": "experimentkit.observers.memory:lookup", "kwargs": {"name": "moved"}}
    observer.replay_spec = lambda: changed  # e.g. row counts the backend confirmed since
    observer.down = False
    observer.failures = {"heartbeat_event": 10**6}  # the journal stays: the beat is not delivered
    disp.retry()
    header, events = read_journal(str(tmp_path / "u-0-Flaky.jsonl"))
    assert header["replay_spec"] == changed and [e for e, _ in events] == ["heartbeat_event"]


class Refusing(Flaky):
    """Refuses tables for good once ``refuse`` is set; says where it writes by a URL with a password."""

    refuse = False

    def replay_spec(self):
        return {"factory": "x:y", "kwargs": {"url": "postgresql://me:s3cret@db.example/exps"}}

    def log_table(self, **kwargs):
        if self.refuse:
            raise ValueError("column 'img' has a type it cannot store")
        return super().log_table(**kwargs)


def refused_messages(caplog):
    return [r.getMessage() for r in caplog.records if "cannot store" in r.getMessage()]


def test_an_event_refused_for_good_is_reported_with_where_and_why(tmp_path, caplog):
    observer = Refusing()
    disp = opened_dispatcher(observer, tmp_path)
    observer.refuse = True
    disp.emit("log_table", name="t", rows=[{"img": object()}])
    [message] = refused_messages(caplog)
    assert "cannot store log_table 't' in postgresql://me:***@db.example/exps" in message
    assert "s3cret" not in message
    assert "ValueError: column 'img' has a type it cannot store" in message


def buffered_table(observer, tmp_path):
    """A dispatcher on ``observer`` that went down and buffered one ``log_table`` event."""
    disp = opened_dispatcher(observer, tmp_path)
    observer.down = True
    disp.emit("log_table", name="t", rows=[{"i": 0}])
    return disp


def test_an_event_refused_for_good_on_a_retry_is_reported_with_why(tmp_path, caplog):
    observer = Refusing()
    disp = buffered_table(observer, tmp_path)
    observer.down, observer.refuse = False, True
    disp.retry()
    [message] = refused_messages(caplog)
    assert "ValueError: column 'img' has a type it cannot store" in message


class RefusingArtifacts(Refusing):
    def artifact_event(self, **kwargs):
        raise ValueError("the bucket refuses this content type")


def test_a_dropped_artifact_is_named_in_the_warning(tmp_path, caplog):
    disp = opened_dispatcher(RefusingArtifacts(), tmp_path)
    (tmp_path / "model.pt").write_bytes(b"weights")
    disp.emit(
        "artifact_event",
        name="model.pt",
        filename=str(tmp_path / "model.pt"),
        metadata=None,
        content_type=None,
    )
    [message] = [r.getMessage() for r in caplog.records if "refuses this content type" in r.getMessage()]
    assert "cannot store artifact 'model.pt' in" in message


def test_a_recovered_observer_is_reported_with_the_count_it_delivered(tmp_path, caplog):
    observer = Flaky()
    disp = buffered_table(observer, tmp_path)
    disp.emit("log_table", name="u", rows=[{"i": 1}])  # another table: not merged with the first
    observer.down = False
    caplog.set_level(logging.INFO)
    disp.retry()
    assert "Observer 'Flaky' recovered; delivered 2 buffered events" in [
        r.getMessage() for r in caplog.records
    ]


class DuckTyped:
    """A Sacred-style observer that does not derive from ``RunObserver``."""

    priority = 0

    def __init__(self):
        self.meta_info = None

    def started_event(self, ex_info, command, host_info, start_time, config, meta_info, _id):
        self.meta_info = meta_info
        return "1"


def test_only_our_own_observers_get_the_run_uid_in_meta_info(tmp_path):
    duck, ours = DuckTyped(), InMemoryObserver()
    disp = Dispatcher(
        [duck, ours],
        logger=logging.getLogger("tests.dispatch"),
        run_uid="u",
        retry_seconds=0,
        fallback_dir=str(tmp_path),
    )
    disp.open("started_event", **dict(STARTED, meta_info={"command": "m", "uid": "u"}))
    assert duck.meta_info == {"command": "m"}  # exactly as Sacred gives it
    assert ours.run.meta["uid"] == "u"  # kept, for experimentkit sync


@pytest.mark.parametrize("replayable", [True, False], ids=["replayable", "not-replayable"])
def test_an_observer_that_did_not_recover_is_reported_with_its_journal_and_what_to_do(
    tmp_path, caplog, replayable
):
    disp = buffered_table(Flaky(replayable=replayable), tmp_path)
    [journal] = disp.finish()
    assert journal == str(tmp_path / "u-0-Flaky.jsonl")
    then = (
        "Run 'experimentkit sync' to deliver them once it is reachable again."
        if replayable
        else "Flaky has no replay_spec(), so 'experimentkit sync' cannot replay them automatically."
    )
    expected = f"Observer 'Flaky' did not recover; its 1 undelivered events are saved in {journal}. {then}"
    assert expected in [r.getMessage() for r in caplog.records]
