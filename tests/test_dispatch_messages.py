"""What the dispatcher tells the user, word for word, and what it leaves for ``experimentkit sync``:
every warning about an observer (unreachable, slow, failing, refusing an event, too slow for the
end of the run, never answering, not recovered, journal lost), the journal's header keys and name,
the kept copies of artifacts; then what mutation testing found untested around them: retries across
observers, calls that outlive their timeout, the order of observers, ``copy=`` and the defaults of
the call timeout."""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import signal
import socket
import threading
import time

import pytest

import experimentkit.dispatch as dispatch
from experimentkit.dispatch import Dispatcher, decode_value, is_permanent, process_identity, read_journal
from experimentkit.observers.memory import InMemoryObserver
from experimentkit.settings import SETTINGS
from tests.test_dispatch_faults import InterruptedWhileDelivering, files_cannot_grow_past
from tests.test_dispatch_support import STARTED, T0, Flaky, opened_dispatcher

LOGGER = "tests.dispatch"
URL = "postgresql://db.example/exps"


def said(caplog, level=logging.WARNING) -> list:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == level]


def new_dispatcher(observers, tmp_path, **kwargs) -> Dispatcher:
    kwargs.setdefault("retry_seconds", 0)
    return Dispatcher(
        observers, logger=logging.getLogger(LOGGER), run_uid="u", fallback_dir=str(tmp_path), **kwargs
    )


def beat(disp, out="") -> None:
    disp.emit("heartbeat_event", info={}, captured_out=out, beat_time=T0, result=None)


class Remote(Flaky):
    """A flaky observer that says where it writes by a URL."""

    def replay_spec(self):
        return {"factory": "experimentkit.observers.memory:lookup", "kwargs": {"url": URL}}


class Slow(Remote):
    """Holds ``held`` (an event name) until ``release`` is set, then raises ``error`` if set."""

    error = None

    def __init__(self, held, **kwargs):
        super().__init__(**kwargs)
        self.held = held
        self.release = threading.Event()
        self.returned = threading.Event()

    def _maybe_fail(self, event):
        super()._maybe_fail(event)
        if event == self.held:
            self.release.wait(60)
            self.returned.set()
            if self.error is not None:
                raise self.error


class Refusing(Remote):
    """Refuses ``refused`` (an event name) for good, once it is up."""

    def __init__(self, refused, **kwargs):
        super().__init__(**kwargs)
        self.refused = refused

    def _maybe_fail(self, event):
        super()._maybe_fail(event)
        if event == self.refused:
            raise ValueError(f"cannot take {event}")


# ---- an observer that cannot open the run --------------------------------------------------------
def test_an_unreachable_observer_is_reported_once_with_where_its_events_are_recorded(tmp_path, caplog):
    disp = new_dispatcher([Remote(down=True)], tmp_path)
    assert disp.open("started_event", **STARTED) is None
    journal = tmp_path / "u-0-Remote.jsonl"
    assert said(caplog) == [
        "Observer 'Remote' failed (ConnectionError: backend unreachable (started_event)): cannot reach "
        f"{URL}; the run goes on, recording its events in {journal}; run 'experimentkit sync' once it "
        "is reachable"
    ]
    assert disp.unopened() == [f"'Remote' ({URL}) (ConnectionError: backend unreachable (started_event))"]


def test_an_unreachable_observer_whose_journal_cannot_be_written_keeps_its_events_in_memory(tmp_path, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("where the fallback directory should be")
    fallback = blocker / "fallback"
    disp = new_dispatcher([Remote(down=True)], fallback)
    disp.open("started_event", **STARTED)
    assert said(caplog) == [
        "Observer 'Remote' failed (ConnectionError: backend unreachable (started_event)): cannot reach "
        f"{URL}; the run goes on, keeping its events in memory; run 'experimentkit sync' once it is "
        "reachable"
    ]
    [error] = said(caplog, logging.ERROR)
    assert re.fullmatch(
        re.escape(f"Observer 'Remote': cannot keep its fallback journal in {fallback} up to date (")
        + r"[A-Za-z]+Error: \[Errno \d+\] .+\); its buffered events are kept in memory only until the end "
        r"of the run",
        error,
    ), error


def test_a_slow_observer_is_reported_as_not_answering_rather_than_unreachable(tmp_path, caplog):
    observer = Slow("started_event")
    disp = new_dispatcher([observer], tmp_path, call_timeout=0.05)
    try:
        disp.open("started_event", **STARTED)
    finally:
        observer.release.set()
    journal = tmp_path / "u-0-Slow.jsonl"
    assert said(caplog) == [
        f"Observer 'Slow' has not answered started_event within 0.05s ({URL}); the run goes on, "
        f"recording its events in {journal} until it does"
    ]
    assert observer.returned.wait(60)
    header, events = read_journal(str(journal))
    assert header["opened"] is False and header["assigned_id"] is None
    assert [e for e, _ in events] == ["started_event"]


class Interrupted(Remote):
    def started_event(self, **kwargs):
        raise KeyboardInterrupt


def test_an_observer_interrupted_while_opening_the_run_is_listed_as_not_answering(tmp_path, caplog):
    disp = new_dispatcher([Interrupted()], tmp_path)
    with pytest.raises(KeyboardInterrupt):
        disp.open("started_event", **STARTED)
    assert disp.unopened() == [f"'Interrupted' ({URL}) (no answer)"]
    assert said(caplog) == []


def test_a_strict_run_does_not_talk_about_journals_for_an_observer_that_cannot_open_it(tmp_path, caplog):
    disp = new_dispatcher([Remote(down=True)], tmp_path, strict=True)
    disp.open("started_event", **STARTED)
    assert said(caplog) == []
    assert disp.unopened() == [f"'Remote' ({URL}) (ConnectionError: backend unreachable (started_event))"]


def test_an_observer_refusing_the_run_gets_no_more_events_and_says_so(tmp_path, caplog):
    notes = []
    observer = Refusing("started_event")
    disp = new_dispatcher([observer], tmp_path, on_drop=notes.append)
    disp.open("started_event", **STARTED)
    beat(disp, "a")
    assert said(caplog) == [
        f"Observer 'Refusing' cannot store started_event in {URL} (ValueError: cannot take "
        "started_event); it cannot record this run and gets no more events"
    ]
    assert notes == ["Refusing: started_event dropped (ValueError: cannot take started_event)"]
    assert observer.attempts == ["started_event"]  # the heartbeat never reached it
    assert disp.unopened() == [f"'Refusing' ({URL}) (ValueError: cannot take started_event)"]
    assert disp.failed_observers == [observer]
    assert disp.finish() == [] and os.listdir(tmp_path) == []


def test_a_refused_resource_is_named_and_a_note_kept(tmp_path, caplog):
    notes = []
    disp = opened_dispatcher(Refusing("resource_event"), tmp_path, on_drop=notes.append)
    disp.emit("resource_event", filename="data.csv")
    assert said(caplog) == [
        f"Observer 'Refusing' cannot store resource 'data.csv' in {URL} (ValueError: cannot take "
        "resource_event); that event is dropped; later events go on"
    ]
    assert notes == ["Refusing: resource 'data.csv' dropped (ValueError: cannot take resource_event)"]


def test_a_refused_event_that_was_journaled_is_marked_so_sync_does_not_send_it(tmp_path):
    observer = Refusing("log_table")
    disp = opened_dispatcher(observer, tmp_path)
    observer.down = True
    disp.emit("log_table", name="t", rows=[{"i": 0}])
    beat(disp, "a")
    observer.down = False
    observer.failures = {"heartbeat_event": 10**6}
    disp.retry()  # the table is refused for good, the beat still fails
    header, events = read_journal(str(tmp_path / "u-0-Refusing.jsonl"))
    assert [e for e, _ in events] == ["heartbeat_event"]


# ---- an observer that fails while the run goes on ------------------------------------------------
def test_a_failing_observer_is_reported_with_why_and_where(tmp_path, caplog):
    observer = Remote()
    disp = opened_dispatcher(observer, tmp_path)
    observer.down = True
    disp.emit("log_table", name="t", rows=[])
    disp.emit("log_table", name="v", rows=[])  # buffered behind the first: no second warning
    assert said(caplog) == [
        f"Observer 'Remote' failed (ConnectionError: backend unreachable (log_table)) writing to {URL}; "
        "buffering its events and retrying"
    ]


def test_an_observer_too_slow_for_the_end_of_run_window_is_told_its_events_go_to_the_journal(
    tmp_path, caplog, monkeypatch
):
    monkeypatch.setattr(dispatch, "LAST_ATTEMPT_SECONDS", 0.0)  # no last attempt after the window
    observer = Remote()
    disp = opened_dispatcher(observer, tmp_path)
    disp.start_end_window()  # retry_seconds=0: over at once
    beat(disp, "a")
    assert said(caplog) == [
        "Observer 'Remote' is too slow for the end-of-run window (0s): its last events go to the "
        "fallback journal"
    ]
    assert observer.attempts == ["started_event"]  # the beat was not even tried
    [journal] = disp.finish()
    header, events = read_journal(journal)
    assert header["last_error"] is None  # it never failed: it ran out of time
    assert [(e, k["captured_out"]) for e, k in events] == [("heartbeat_event", "a")]


def test_an_observer_that_never_answers_is_journaled_with_a_warning(tmp_path, caplog):
    observer = Slow("heartbeat_event")
    disp = opened_dispatcher(observer, tmp_path, call_timeout=0.05)
    try:
        beat(disp, "a")
        caplog.clear()
        [journal] = disp.finish()
    finally:
        observer.release.set()
    assert said(caplog)[0] == (
        "Observer 'Slow' never answered heartbeat_event; journaling it (the backend may already hold "
        "part of it)"
    )
    header, events = read_journal(journal)
    assert header["finalized"] is True and [e for e, _ in events] == ["heartbeat_event"]


def test_the_end_of_run_wait_names_every_observer_and_backs_off(tmp_path, caplog):
    first, second = Remote(), Flaky()
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        if len(slept) == 8:
            first.down = second.down = False

    disp = new_dispatcher([first, second], tmp_path, retry_seconds=100, sleep=sleep, call_timeout=5)
    disp.open("started_event", **STARTED)
    first.down = second.down = True
    beat(disp, "a")
    caplog.clear()
    assert disp.finish() == []
    [waiting] = said(caplog)
    assert re.fullmatch(r"Waiting up to [\d.]+s for observer 'Remote', 'Flaky' to recover", waiting)
    assert slept == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    assert first.run.captured_out == second.run.captured_out == "a"


# ---- what is left for sync -----------------------------------------------------------------------
@pytest.fixture
def far_east_local_time():
    """Local time 14 hours ahead of UTC, so a local timestamp cannot pass for a UTC one."""
    previous = os.environ.get("TZ")
    os.environ["TZ"] = "Etc/GMT-14"
    time.tzset()
    try:
        yield
    finally:
        if previous is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = previous
        time.tzset()


def test_the_journal_header_says_who_wrote_it_and_how_to_rebuild_the_observer(tmp_path, far_east_local_time):
    observer = Numbered(None)  # takes the id the run was given
    disp = opened_dispatcher(observer, tmp_path, given_id=7)
    observer.down = True
    before = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    beat(disp, "a")
    after = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    header, _ = read_journal(str(tmp_path / "u-0-Numbered.jsonl"))
    assert {k: header[k] for k in ("run_uid", "observer", "replay_spec", "opened", "pid", "hostname")} == {
        "run_uid": "u",
        "observer": "Numbered",
        "replay_spec": observer.replay_spec(),
        "opened": True,
        "pid": os.getpid(),
        "hostname": socket.gethostname(),
    }
    assert decode_value(header["assigned_id"]) == 7
    assert header["pid_started"] == process_identity()
    assert before <= dt.datetime.fromisoformat(header["created"]) <= after  # in UTC, without a zone


def test_a_journal_written_whole_at_the_end_keeps_the_last_error_and_copies_of_artifacts(tmp_path):
    blocker = tmp_path / "fallback"
    blocker.write_text("a file where the fallback directory should be, until the end of the run")
    observer = Remote()
    disp = opened_dispatcher(observer, blocker)
    observer.down = True
    (tmp_path / "model.pt").write_bytes(b"weights")
    disp.emit(
        "artifact_event",
        name="model.pt",
        filename=str(tmp_path / "model.pt"),
        metadata=None,
        content_type=None,
    )
    blocker.unlink()
    [journal] = disp.finish()
    assert journal == str(blocker / "u-0-Remote.jsonl")
    header, [(event, kwargs)] = read_journal(journal)
    assert header["finalized"] is True and header["observer"] == "Remote" and header["run_uid"] == "u"
    assert header["last_error"] == "ConnectionError: backend unreachable (artifact_event)"
    assert event == "artifact_event"
    assert os.path.dirname(kwargs["filename"]) == str(blocker / "u-0-Remote.files")
    with open(kwargs["filename"], "rb") as fh:
        assert fh.read() == b"weights"


def test_artifacts_of_the_same_name_journaled_at_the_end_keep_their_own_contents(tmp_path):
    blocker = tmp_path / "fallback"
    blocker.write_text("a file where the fallback directory should be, until the end of the run")
    observer = Remote()
    disp = opened_dispatcher(observer, blocker)
    observer.down = True
    for step in ("first", "second"):
        (tmp_path / step).mkdir()
        (tmp_path / step / "model.pt").write_text(step)
        disp.emit(
            "artifact_event",
            name=f"{step}.pt",
            filename=str(tmp_path / step / "model.pt"),
            metadata=None,
            content_type=None,
        )
    blocker.unlink()
    [journal] = disp.finish()
    kept = {}
    for _, kwargs in read_journal(journal)[1]:
        with open(kwargs["filename"]) as fh:
            kept[kwargs["name"]] = fh.read()
    assert kept == {"first.pt": "first", "second.pt": "second"}


def test_a_journal_that_cannot_be_written_at_the_end_is_reported_with_why(tmp_path, caplog):
    blocker = tmp_path / "fallback"
    blocker.write_text("a file where the fallback directory should be")
    observer = Remote()
    disp = opened_dispatcher(observer, blocker)
    observer.down = True
    beat(disp, "a")
    assert disp.finish() == []
    journal = blocker / "u-0-Remote.jsonl"
    [_, lost] = said(caplog, logging.ERROR)
    assert re.fullmatch(
        re.escape(f"Observer 'Remote' lost 1 events: could not write the fallback journal {journal} (")
        + r"[A-Za-z]+Error: \[Errno \d+\] .+\)",
        lost,
    ), lost


@pytest.mark.parametrize(
    ("name", "stem"),
    [("a.b-c_D9 mit ä!", "a.b-c_D9_mit_"), ("", "observer")],
    ids=["punctuation", "empty"],
)
def test_the_journal_is_named_after_the_observer_in_safe_characters(tmp_path, name, stem):
    observer = type(name, (Remote,), {})()
    disp = opened_dispatcher(observer, tmp_path)
    observer.down = True
    beat(disp, "a")
    assert os.listdir(tmp_path) == [f"u-0-{stem}.jsonl"]


# ---- order and defaults --------------------------------------------------------------------------
class Plain:
    """An observer without a ``priority`` attribute (as Sacred allows): it counts as priority 0."""

    def __init__(self, calls):
        self.calls = calls

    def started_event(self, **kwargs):
        self.calls.append("plain")
        return "plain-id"


class Ranked(InMemoryObserver):
    def __init__(self, calls, priority):
        super().__init__(priority=priority)
        self.calls = calls

    def started_event(self, **kwargs):
        self.calls.append(self.priority)
        return super().started_event(**kwargs)


def test_an_observer_without_a_priority_goes_between_positive_and_negative_ones(tmp_path):
    calls: list = []
    disp = new_dispatcher([Ranked(calls, -1), Plain(calls), Ranked(calls, 1)], tmp_path)
    disp.open("started_event", **STARTED)
    assert calls == [1, "plain", -1]


@pytest.mark.parametrize(("retry_seconds", "expected"), [(0, 1.0), (0.5, 1.0), (5, 5.0), (10**6, None)])
def test_the_call_timeout_defaults_to_the_end_of_run_window_between_a_second_and_the_setting(
    tmp_path, retry_seconds, expected
):
    disp = new_dispatcher([], tmp_path, retry_seconds=retry_seconds)
    assert disp.call_timeout == (float(SETTINGS.OBSERVER_CALL_TIMEOUT) if expected is None else expected)


def test_a_journal_that_cannot_be_removed_is_reported_with_why(tmp_path, caplog):
    observer = Remote()
    disp = opened_dispatcher(observer, tmp_path)
    observer.down = True
    beat(disp, "a")
    journal = tmp_path / "u-0-Remote.jsonl"
    journal.rename(tmp_path / "moved.jsonl")
    journal.mkdir()  # unlink fails on a directory
    (journal / "x").write_text("")
    observer.down = False
    caplog.clear()
    disp.retry()
    assert [m for m in said(caplog) if "fallback journal" in m] == [
        f"Could not remove the fallback journal {journal} ([Errno 21] Is a directory: '{journal}')"
    ]


def test_a_journal_that_breaks_mid_run_is_reported_once_with_why(tmp_path, caplog):
    observer = Remote()
    disp = opened_dispatcher(observer, tmp_path)
    observer.down = True
    disp.emit("log_table", name="t", rows=[])
    beat(disp, "a")
    observer.down = False
    observer.failures["heartbeat_event"] = 1
    with files_cannot_grow_past(tmp_path / "u-0-Remote.jsonl"):
        disp.retry()  # the table arrives; its marker cannot be written
        disp.retry()  # the beat arrives: nothing more is written to the broken journal
    assert said(caplog, logging.ERROR) == [
        f"Observer 'Remote': cannot keep its fallback journal in {tmp_path} up to date (OSError: [Errno 27] "
        "File too large); its buffered events are kept in memory only until the end of the run"
    ]
    assert observer.run.captured_out == "a"


def test_warnings_about_observers_are_handed_to_the_run_to_keep_out_of_its_output(tmp_path, caplog):
    hidden: list = []
    observer = Remote()
    disp = opened_dispatcher(observer, tmp_path)
    disp.hide_from_output = hidden.append
    observer.down = True
    beat(disp, "a")
    assert hidden == said(caplog) and len(hidden) == 1


class Basedir(Flaky):
    def replay_spec(self):
        return {
            "factory": "experimentkit.observers.file:FileStorageObserver",
            "kwargs": {"basedir": "/runs/x"},
        }


def test_an_observer_writing_to_a_directory_is_reported_with_the_directory(tmp_path, caplog):
    observer = Basedir()
    disp = opened_dispatcher(observer, tmp_path)
    observer.down = True
    beat(disp, "a")
    assert said(caplog) == [
        "Observer 'Basedir' failed (ConnectionError: backend unreachable (heartbeat_event)) writing to "
        "/runs/x; buffering its events and retrying"
    ]


# ---- retries -------------------------------------------------------------------------------------
def test_a_retry_that_times_out_is_the_error_the_journal_keeps(tmp_path):
    observer = Slow("heartbeat_event", failures={"heartbeat_event": 1})
    disp = opened_dispatcher(observer, tmp_path, call_timeout=0.05)
    beat(disp, "a")  # refused: buffered
    try:
        disp.retry()  # held: in flight
        [journal] = disp.finish()
    finally:
        observer.release.set()
    assert read_journal(journal)[0]["last_error"] == "_Stuck: no answer to heartbeat_event within 0.05s"


def test_one_observer_still_down_does_not_hold_back_the_retry_of_another(tmp_path, caplog):
    first, second = Remote(), Flaky()
    disp = new_dispatcher([first, second], tmp_path)
    disp.open("started_event", **STARTED)
    first.down = second.down = True
    beat(disp, "a")
    second.down = False
    caplog.set_level(logging.INFO)
    disp.retry()
    assert second.run.captured_out == "a" and first.run.captured_out == ""
    assert [m for m in said(caplog, logging.INFO) if "recovered" in m] == [
        "Observer 'Flaky' recovered; delivered 1 buffered events"
    ]
    assert os.listdir(tmp_path) == ["u-0-Remote.jsonl"]


def test_the_events_after_one_refused_on_a_retry_are_delivered_in_the_same_retry(tmp_path, caplog):
    observer = Refusing("log_table")
    disp = opened_dispatcher(observer, tmp_path)
    observer.down = True
    disp.emit("log_table", name="t", rows=[{"i": 0}])
    beat(disp, "a")
    observer.down = False
    caplog.set_level(logging.INFO)
    disp.retry()
    assert observer.run.captured_out == "a" and os.listdir(tmp_path) == []
    assert "Observer 'Refusing' recovered; delivered 1 buffered events" in said(caplog, logging.INFO)


class Numbered(Flaky):
    """Opens the run under its own id."""

    def __init__(self, run_id, **kwargs):
        super().__init__(**kwargs)
        self.run_id = run_id

    def started_event(self, **kwargs):
        self._maybe_fail("started_event")
        return self.run_id


def test_the_run_id_comes_from_the_first_observer_that_opened_the_run_even_on_a_retry(tmp_path, caplog):
    late, early = Numbered("late-id", down=True, priority=1), Numbered("early-id")
    disp = new_dispatcher([late, early], tmp_path)
    assert disp.open("started_event", **STARTED) == "early-id"
    late.down = False
    caplog.set_level(logging.INFO)
    disp.retry()
    assert disp.run_id == "early-id" and late.attempts == ["started_event"] * 2
    assert said(caplog, logging.INFO) == ["Observer 'Numbered' recovered; delivered 1 buffered events"]


def test_a_run_opened_only_on_a_retry_takes_that_observers_id(tmp_path, caplog):
    observer = Numbered("its-id", down=True)
    disp = new_dispatcher([observer], tmp_path)
    assert disp.open("started_event", **STARTED) is None
    caplog.set_level(logging.INFO)
    disp.retry()  # still down: not recovered
    assert said(caplog, logging.INFO) == [] and disp.run_id is None
    observer.down = False
    disp.retry()
    assert disp.run_id == "its-id"


def test_one_observer_whose_retry_hangs_does_not_hold_back_the_retry_of_another(tmp_path):
    first, second = Slow("heartbeat_event", failures={"heartbeat_event": 1}), Flaky()
    disp = new_dispatcher([first, second], tmp_path, call_timeout=0.05)
    disp.open("started_event", **STARTED)
    second.down = True
    beat(disp, "a")  # both buffer it
    second.down = False
    try:
        disp.retry()  # the first is held: in flight; the second gets the beat
        assert second.run.captured_out == "a"
    finally:
        first.release.set()


# ---- what the observers get ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "exc",
    [
        type("DataError", (Exception,), {})("value out of range"),
        type("Refused", (type("InvalidDocument", (Exception,), {}),), {})(),
    ],
    ids=["by-name", "by-base-name"],
)
def test_the_drivers_data_errors_are_permanent_by_class_name(exc):
    assert is_permanent(exc) is True


class Resources:
    """A Sacred-style observer (no ``**kwargs``) that does not take ``copy=``."""

    priority = 0

    def __init__(self):
        self.got: list = []

    def started_event(self, **kwargs):
        return None

    def resource_event(self, filename):
        self.got.append({"filename": filename})


class CopyingResources(Resources):
    def resource_event(self, filename, copy):  # type: ignore[override]
        self.got.append({"filename": filename, "copy": copy})


def test_copy_reaches_the_observers_that_take_it_and_no_others(tmp_path, caplog):
    old, new = Resources(), CopyingResources()
    disp = new_dispatcher([old, new], tmp_path)
    disp.open("started_event", **STARTED)
    disp.emit("resource_event", filename="data.csv", copy=False)
    assert old.got == [{"filename": "data.csv"}]
    assert new.got == [{"filename": "data.csv", "copy": False}]
    assert said(caplog) == [] and disp.failed_observers == []


def test_a_strict_run_that_gives_up_removes_the_journal_of_the_observer_that_could_not_open_it(tmp_path):
    disp = new_dispatcher([Remote(down=True)], tmp_path, strict=True)
    disp.open("started_event", **STARTED)
    assert os.listdir(tmp_path) == ["u-0-Remote.jsonl"]
    disp.abandon_unopened()
    assert os.listdir(tmp_path) == [] and disp.finish() == []


def test_a_finalized_journal_is_closed(tmp_path):
    observer = Remote()
    disp = opened_dispatcher(observer, tmp_path)
    observer.down = True
    beat(disp, "a")
    [journal] = disp.finish()
    fds = "/proc/self/fd"
    assert journal not in [os.path.realpath(os.path.join(fds, fd)) for fd in os.listdir(fds)]


class LongRepr(Flaky):
    def replay_spec(self):
        return None

    def __repr__(self):
        return "LongRepr(" + "x" * 200 + ")"


def test_an_observer_without_a_target_is_named_by_the_start_of_its_repr(tmp_path, caplog):
    observer = LongRepr()
    disp = opened_dispatcher(observer, tmp_path)
    observer.down = True
    beat(disp, "a")
    start = ("LongRepr(" + "x" * 200)[:120]
    assert said(caplog) == [
        "Observer 'LongRepr' failed (ConnectionError: backend unreachable (heartbeat_event)) writing to "
        f"{start}; buffering its events and retrying"
    ]


# ---- calls that outlive their timeout ------------------------------------------------------------
def join_observer_calls() -> None:
    """Wait for every observer call thread to end (their observers were released)."""
    for thread in threading.enumerate():
        if thread.name == "experimentkit-observer-call":
            thread.join(60)


def test_a_call_that_times_out_and_the_events_behind_it_are_reported(tmp_path, caplog):
    observer = Slow("heartbeat_event")
    disp = opened_dispatcher(observer, tmp_path, call_timeout=0.05)
    try:
        beat(disp, "a")
        beat(disp, "b")
    finally:
        observer.release.set()
    assert said(caplog) == [
        f"Observer 'Slow' failed (_Stuck: no answer to heartbeat_event within 0.05s) writing to {URL}; "
        "buffering its events and retrying",
        f"Observer 'Slow' failed (ObserverError: still waiting for its earlier heartbeat_event) writing to "
        f"{URL}; buffering its events and retrying",
    ]
    join_observer_calls()
    disp.retry()
    assert observer.run.captured_out == "b" and disp.finish() == []


class SlowToOpen(Slow):
    """Answers ``started_event`` late, with its own id or with ``error``."""

    def started_event(self, **kwargs):
        self._maybe_fail("started_event")
        super().started_event(**kwargs)
        return "slow-id"


def test_a_late_answer_to_the_opening_event_is_the_run_id_the_journal_keeps(tmp_path):
    observer = SlowToOpen("started_event")
    disp = new_dispatcher([observer], tmp_path, call_timeout=0.05)
    try:
        assert disp.open("started_event", **STARTED) is None
        beat(disp, "a")  # behind the opening: buffered
    finally:
        observer.release.set()
    join_observer_calls()
    observer.down = True
    disp.retry()  # the run was opened late; the beat fails
    header, events = read_journal(str(tmp_path / "u-0-SlowToOpen.jsonl"))
    assert header["opened"] is True and decode_value(header["assigned_id"]) == "slow-id"
    assert [e for e, _ in events] == ["heartbeat_event"]
    assert disp.unopened() == []


def test_a_late_answer_to_the_opening_event_alone_gives_the_run_its_id(tmp_path):
    """Nothing behind the opening: settling the late answer takes the observer off the failing
    list, and the id it answered is still the run's."""
    observer = SlowToOpen("started_event")
    disp = new_dispatcher([observer], tmp_path, call_timeout=0.05)
    try:
        assert disp.open("started_event", **STARTED) is None
    finally:
        observer.release.set()
    join_observer_calls()
    disp.retry()
    assert disp.run_id == "slow-id" and disp.unopened() == []


def test_a_late_refusal_to_open_the_run_is_the_reason_given(tmp_path):
    observer = SlowToOpen("started_event")
    observer.error = ConnectionError("connection reset")
    disp = new_dispatcher([observer], tmp_path, call_timeout=0.05)
    try:
        disp.open("started_event", **STARTED)
    finally:
        observer.release.set()
    join_observer_calls()
    assert disp.failing  # the late answer is accounted for
    assert disp.unopened() == [f"'SlowToOpen' ({URL}) (ConnectionError: connection reset)"]


def test_an_event_in_flight_when_ctrl_c_arrives_is_journaled_whole(tmp_path):
    observer = InterruptedWhileDelivering("artifact_event", "waiting")
    disp = opened_dispatcher(observer, tmp_path)
    (tmp_path / "a.txt").write_text("x")
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            disp.emit(
                "artifact_event",
                name="a.txt",
                filename=str(tmp_path / "a.txt"),
                metadata=None,
                content_type=None,
            )
        [(event, kwargs)] = read_journal(str(tmp_path / "u-0-InterruptedWhileDelivering.jsonl"))[1]
    finally:
        signal.signal(signal.SIGINT, previous)
        observer.release.set()
    assert event == "artifact_event" and kwargs["name"] == "a.txt"
    join_observer_calls()
    assert disp.finish() == [] and [a["name"] for a in observer.run.artifacts] == ["a.txt"]


def test_an_event_that_fails_after_its_timeout_is_retried_before_the_events_behind_it(tmp_path):
    observer = Slow("heartbeat_event")
    observer.error = ConnectionError("reset")
    disp = opened_dispatcher(observer, tmp_path, call_timeout=0.05)
    try:
        beat(disp, "a")  # in flight
        disp.emit("log_table", name="t", rows=[])  # buffered behind it
    finally:
        observer.release.set()
    join_observer_calls()
    observer.error = None
    disp.retry()
    assert observer.attempts == ["started_event", "heartbeat_event", "heartbeat_event", "log_table"]
    assert observer.run.captured_out == "a" and disp.finish() == []


class Unhurried(Remote):
    """Takes a twentieth of a second for every table, like a backend across the ocean."""

    def log_table(self, **kwargs):
        threading.Event().wait(0.05)
        return super().log_table(**kwargs)


def test_a_call_in_the_end_of_run_window_may_take_the_window_not_just_the_last_attempt(
    tmp_path, caplog, monkeypatch
):
    monkeypatch.setattr(dispatch, "LAST_ATTEMPT_SECONDS", 0.0)  # no time after the window
    observer = Unhurried()
    disp = new_dispatcher([observer], tmp_path, retry_seconds=600, call_timeout=60)
    disp.open("started_event", **STARTED)
    disp.start_end_window()
    disp.emit("log_table", name="t", rows=[{"i": 0}])
    assert observer.run.tables["t"] == [{"i": 0}] and said(caplog) == []
