"""The dispatcher when things go very wrong: the journal cannot be written, events live in memory
only, a call times out and then fails, Ctrl-C arrives during a delivery, an observer breaks while
finishing.  Every case must end with each event stored once, journaled, or reported as lost."""

import contextlib
import datetime as dt
import logging
import os
import resource
import signal
import sys
import threading
import time

import pytest

from experimentkit.context import current_run
from experimentkit.dispatch import Dispatcher, read_journal
from experimentkit.errors import ObserverUnreachableError
from experimentkit.journal import process_identity
from experimentkit.observers.base import RunObserver
from experimentkit.observers.memory import InMemoryObserver
from experimentkit.sync import sync
from experimentkit.testing import make_run
from tests.test_dispatch_support import Flaky

T0 = dt.datetime(2024, 1, 1)
LOGGER = "test_dispatch_faults"


def dispatcher(observer, fallback, **kwargs):
    kwargs.setdefault("call_timeout", 5)
    kwargs.setdefault("retry_seconds", 0)
    return Dispatcher(
        [observer] if not isinstance(observer, list) else observer,
        logger=logging.getLogger(LOGGER),
        run_uid="uid1",
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


def points(disp, *steps):
    group = {
        "name": "loss",
        "steps": list(steps),
        "values": [s / 2 for s in steps],
        "timestamps": [T0] * len(steps),
    }
    disp.emit("log_metrics", metrics_by_name={"loss": group}, info={})


def messages(caplog, level=logging.WARNING):
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == level]


def files(directory):
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


class Held(InMemoryObserver):
    """Holds its ``held`` event until ``release`` is set, then raises ``error`` once (if given) or
    stores it; keeps the threads it was called on, so a test can wait for a call to end."""

    def __init__(self, held="heartbeat_event", error=None, **kwargs):
        super().__init__(**kwargs)
        self.held = held
        self.error = error
        self.release = threading.Event()
        self.entered = threading.Event()
        self.threads = []

    def wait_for_calls(self):
        for thread in self.threads:
            thread.join(30)
            assert not thread.is_alive()

    def _hold(self):
        self.threads.append(threading.current_thread())
        self.entered.set()
        assert self.release.wait(30), "the test never released the call"
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def heartbeat_event(self, **kwargs):
        if self.held == "heartbeat_event":
            self._hold()
        return super().heartbeat_event(**kwargs)

    def started_event(self, **kwargs):
        if self.held == "started_event":
            self._hold()
        return super().started_event(**kwargs)


# ---- a call that timed out, then failed ----------------------------------------------------------
def test_a_call_that_timed_out_and_then_failed_transiently_is_retried_once(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    observer = Held(error=ConnectionError("reset by peer"), name="held-transient")
    disp = dispatcher(observer, tmp_path, call_timeout=0.05)
    start(disp)
    beat(disp, "a")  # no answer within 0.05 s: in flight, journaled
    assert [e for e, _ in read_journal(str(tmp_path / "uid1-0-Held.jsonl"))[1]] == ["heartbeat_event"]
    observer.release.set()
    observer.wait_for_calls()
    assert len(disp.failing) == 1  # the late answer was an error: the event is pending again
    disp.retry()
    assert observer.run.captured_out == "a"
    assert observer.event_names == ["started_event", "heartbeat_event"]
    assert disp.failing == [] and files(tmp_path) == []
    assert any("recovered; delivered 1 buffered events" in m for m in messages(caplog, logging.INFO))


def test_a_call_that_timed_out_and_then_failed_for_good_is_dropped_with_a_note(tmp_path, caplog):
    notes = []
    observer = Held(error=ValueError("value out of range"), name="held-permanent")
    disp = dispatcher(observer, tmp_path, call_timeout=0.05, on_drop=notes.append)
    start(disp)
    beat(disp, "a")
    observer.release.set()
    observer.wait_for_calls()
    assert disp.failing == []  # settled: dropped, nothing left to retry
    beat(disp, "b")  # later events go on
    assert observer.run.captured_out == "b"
    disp.retry()
    assert files(tmp_path) == []  # the journal's only event is marked done
    assert notes == ["Held: heartbeat_event dropped (ValueError: value out of range)"]
    assert any(
        m.startswith("Observer 'Held' cannot store heartbeat_event in ")
        and m.endswith("(ValueError: value out of range); that event is dropped; later events go on")
        for m in messages(caplog)
    )


def test_the_run_a_slow_backend_finally_refuses_gets_no_more_events(tmp_path, caplog):
    observer = Held(held="started_event", error=ValueError("no such database"), name="held-open")
    disp = dispatcher(observer, tmp_path, call_timeout=0.05)
    start(disp)
    assert any("has not answered started_event within 0.05s" in m for m in messages(caplog))
    observer.release.set()
    observer.wait_for_calls()
    points(disp, 0)
    beat(disp, "a")
    disp.retry()
    assert observer.events == [] and disp.failing == []
    assert disp.unopened() == [f"'Held' ({observer!r}) (ValueError: no such database)"]
    assert disp.finish() == [] and files(tmp_path) == []


def test_a_stuck_call_that_ends_while_the_observer_joins_leaves_no_journal(tmp_path):
    class JoinsItsCalls(Held):
        def join(self):
            self.release.set()
            self.wait_for_calls()

    observer = JoinsItsCalls(name="joins")
    disp = dispatcher(observer, tmp_path, call_timeout=0.05)
    start(disp)
    beat(disp, "a")
    assert files(tmp_path) == ["uid1-0-JoinsItsCalls.jsonl"]
    assert disp.finish() == []
    assert files(tmp_path) == [] and observer.run.captured_out == "a"


def test_a_retried_event_that_times_out_again_stays_in_flight_and_is_journaled_at_the_end(tmp_path, caplog):
    observer = Held(name="held-retry")
    disp = dispatcher(observer, tmp_path, call_timeout=0.05)
    start(disp)
    observer.release.set()  # answers, but refuses once first
    observer.error = ConnectionError("refused")
    beat(disp, "a")  # buffered after the error
    observer.release.clear()
    disp.retry()  # the retry is held: in flight again
    assert len(disp.failing) == 1
    try:
        journals = disp.finish()  # the end-of-run window is 0: journaled, never answered
    finally:
        observer.release.set()
        observer.wait_for_calls()
    assert [os.path.basename(p) for p in journals] == ["uid1-0-Held.jsonl"]
    assert [e for e, _ in read_journal(journals[0])[1]] == ["heartbeat_event"]
    assert any("never answered heartbeat_event; journaling it" in m for m in messages(caplog))


# ---- the end-of-run window is used up ------------------------------------------------------------
def test_after_the_window_and_the_last_attempt_events_go_to_the_journal(tmp_path, caplog):
    observer = Held(name="held-late")
    disp = dispatcher(observer, tmp_path, call_timeout=5)
    start(disp)
    disp.start_end_window()  # retry_seconds=0: the window is over; one last second is left
    beat(disp, "a")  # held for the whole last second
    observer.release.set()
    observer.wait_for_calls()
    beat(disp, "b")  # the earlier call answered, but no time is left for this one
    assert any("is too slow for the end-of-run window (0s)" in m for m in messages(caplog))
    journals = disp.finish()
    assert observer.run.captured_out == "a"
    assert [kwargs["captured_out"] for _, kwargs in read_journal(journals[0])[1]] == ["b"]


# ---- the journal cannot be written ---------------------------------------------------------------
def test_events_stay_in_memory_when_the_journal_cannot_be_written_and_arrive_on_recovery(tmp_path, caplog):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the fallback directory should be")
    observer = Flaky()
    disp = dispatcher(observer, blocker / "fallback")
    start(disp)
    observer.down = True
    points(disp, 0, 1)
    points(disp, 2)
    beat(disp, "a")
    errors = messages(caplog, logging.ERROR)
    assert len(errors) == 1  # said once, not per event
    assert errors[0].startswith(
        f"Observer 'Flaky': cannot keep its fallback journal in {blocker / 'fallback'} up"
    )
    assert errors[0].endswith("its buffered events are kept in memory only until the end of the run")
    observer.down = False
    disp.retry()
    assert observer.run.metrics["loss"]["steps"] == [0, 1, 2]
    assert observer.run.captured_out == "a"
    assert disp.finish() == []


def test_memory_only_events_are_written_whole_at_the_end_once_the_directory_can_be_made(tmp_path):
    blocker = tmp_path / "fb"
    blocker.write_text("in the way during the run")
    observer = Flaky()
    disp = dispatcher(observer, blocker)
    start(disp)
    observer.down = True
    points(disp, 0)
    disp.emit("completed_event", stop_time=T0, result=3)
    blocker.unlink()  # the disk is usable again when the run ends; the backend is not
    [journal] = disp.finish()
    header, events = read_journal(journal)
    assert header["finalized"] is True and header["opened"] is True
    assert header["last_error"] == "ConnectionError: backend unreachable (log_metrics)"
    assert [e for e, _ in events] == ["log_metrics", "completed_event"]
    observer.down = False
    [result] = sync(str(blocker))
    assert result.status == "synced" and result.delivered == 2
    assert observer.run.status == "COMPLETED" and observer.run.metrics["loss"]["steps"] == [0]


def test_events_that_cannot_be_kept_anywhere_are_reported_lost_with_their_count(tmp_path, caplog):
    blocker = tmp_path / "fb"
    blocker.write_text("in the way for the whole run")
    observer = Flaky()
    disp = dispatcher(observer, blocker)
    start(disp)
    observer.down = True
    points(disp, 0)
    beat(disp, "a")
    assert disp.finish() == []
    [lost] = [m for m in messages(caplog, logging.ERROR) if "lost" in m]
    assert lost.startswith(f"Observer 'Flaky' lost 2 events: could not write the fallback journal {blocker}")
    assert os.listdir(tmp_path) == ["fb"]  # no temporary file left behind


def test_a_journal_path_taken_by_a_directory_falls_back_to_memory_and_cleans_up(tmp_path, caplog):
    fallback = tmp_path / "fb"
    (fallback / "uid1-0-Flaky.jsonl").mkdir(parents=True)
    (fallback / "uid1-0-Flaky.jsonl" / "keep").write_text("")
    observer = Flaky()
    disp = dispatcher(observer, fallback)
    start(disp)
    observer.down = True
    beat(disp, "a")
    assert "kept in memory only" in messages(caplog, logging.ERROR)[0]
    assert disp.finish() == []
    assert files(fallback) == ["uid1-0-Flaky.jsonl"]  # no stray temporary files


@contextlib.contextmanager
def files_cannot_grow_past(path):
    """Writes that would make any file of this process larger than ``path`` is now fail with
    EFBIG, as on a full disk (RLIMIT_FSIZE; SIGXFSZ ignored so the write fails instead)."""
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(path), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def test_a_journal_that_fills_the_disk_mid_outage_is_written_whole_at_the_end(tmp_path, caplog):
    artifact = tmp_path / "weights.bin"
    artifact.write_bytes(b"w" * 100)
    observer = Flaky()
    fallback = tmp_path / "fb"
    disp = dispatcher(observer, fallback)
    start(disp)
    observer.down = True
    disp.emit("artifact_event", name="weights.bin", filename=str(artifact), metadata=None, content_type=None)
    with files_cannot_grow_past(fallback / "uid1-0-Flaky.jsonl"):
        points(disp, 0)  # the journal cannot take this line: memory only from here on
    [error] = messages(caplog, logging.ERROR)
    assert "(OSError: [Errno 27] File too large)" in error and "kept in memory only" in error
    [journal] = disp.finish()
    header, events = read_journal(journal)
    assert header["finalized"] is True
    assert [e for e, _ in events] == ["artifact_event", "log_metrics"]
    with open(events[0][1]["filename"], "rb") as fh:  # the copy kept when it was first journaled
        assert fh.read() == b"w" * 100


def test_a_delivery_marker_that_cannot_be_written_switches_to_memory(tmp_path, caplog):
    observer = Flaky()
    fallback = tmp_path / "fb"
    disp = dispatcher(observer, fallback)
    start(disp)
    observer.down = True
    points(disp, 0)
    beat(disp, "a")
    observer.down = False
    observer.failures["heartbeat_event"] = 1
    with files_cannot_grow_past(fallback / "uid1-0-Flaky.jsonl"):
        disp.retry()  # the points arrive; their marker cannot be written
    assert "kept in memory only" in messages(caplog, logging.ERROR)[0]
    assert observer.run.metrics["loss"]["steps"] == [0] and observer.run.captured_out == ""
    assert disp.finish() == []  # the heartbeat arrived at the end: the stale journal goes
    assert observer.run.captured_out == "a" and files(fallback) == []


def test_a_journal_that_cannot_be_removed_is_reported_and_harmless(tmp_path, caplog):
    fallback = tmp_path / "fb"
    observer = Flaky()
    disp = dispatcher(observer, fallback)
    start(disp)
    observer.down = True
    beat(disp, "a")
    journal = fallback / "uid1-0-Flaky.jsonl"
    journal.rename(fallback / "moved.jsonl")
    journal.mkdir()  # unlink fails on a directory
    (journal / "x").write_text("")
    observer.down = False
    disp.retry()
    assert observer.run.captured_out == "a"
    assert any(m.startswith(f"Could not remove the fallback journal {journal} (") for m in messages(caplog))


# ---- Ctrl-C during a delivery --------------------------------------------------------------------
class InterruptedWhileDelivering(InMemoryObserver):
    """Ctrl-C arrives while the run delivers ``event`` to this backend (a slow database): as the
    call starts, or once the run waits for its answer."""

    def __init__(self, event, when, **kwargs):
        super().__init__(**kwargs)
        self.event = event
        self.when = when
        self.release = threading.Event()
        self.threads = []

    def _deliver(self, event):
        if event == self.event and not self.threads:
            self.threads.append(threading.current_thread())
            if self.when == "waiting":
                wait_until_main_thread_waits_for(self.threads[0])
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
            assert self.release.wait(30)

    def started_event(self, **kwargs):
        self._deliver("started_event")
        return super().started_event(**kwargs)

    def artifact_event(self, **kwargs):
        self._deliver("artifact_event")
        return super().artifact_event(**kwargs)


def wait_until_main_thread_waits_for(thread):
    """Poll (with a deadline) until the main thread is blocked waiting (for ``thread``'s answer)."""
    main = threading.main_thread().ident
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        frame = sys._current_frames().get(main)
        if frame is not None and frame.f_code.co_name in ("wait", "join", "_wait_for_tstate_lock"):
            return
        threading.Event().wait(0.001)
    raise AssertionError("the main thread never waited for the call")


class ReleasesOnInterrupt(InMemoryObserver):
    """A second backend; when it hears the run was interrupted, the slow one answers."""

    def __init__(self, slow):
        super().__init__()
        self.slow = slow

    def interrupted_event(self, **kwargs):
        self.slow.release.set()
        return super().interrupted_event(**kwargs)


@pytest.mark.parametrize("when", ["starting", "waiting"])
@pytest.mark.parametrize("event", ["started_event", "artifact_event"])
def test_ctrl_c_during_a_delivery_interrupts_the_run_and_the_event_is_stored_once(event, when, tmp_path):
    slow = InterruptedWhileDelivering(event, when, priority=2)
    other = ReleasesOnInterrupt(slow)
    artifact = tmp_path / "a.txt"
    artifact.write_text("x")
    reached = []

    def main():
        current_run().add_artifact(str(artifact))
        reached.append("after the artifact")
        return "finished"

    run = make_run(
        main,
        observers=[slow, other],
        logger=logging.getLogger(LOGGER),
        beat_interval=0,
        capture_mode="no",
        observer_retry_seconds=30,  # the slow backend answers in this window, once released
        fallback_dir=str(tmp_path / "fb"),
    )
    # Ctrl-C must arrive as KeyboardInterrupt, whatever handler the test runner installed
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            run()
    finally:
        signal.signal(signal.SIGINT, previous)
        slow.release.set()
        for thread in slow.threads:
            thread.join(30)
    assert run.status == "INTERRUPTED" and reached == []
    assert run.fallback_journals == [] and files(tmp_path / "fb") == []
    for observer in (slow, other):
        assert observer.event_names.count(event) == 1
        assert observer.event_names[-1] == "interrupted_event", (observer, observer.event_names)
        assert observer.run.status == "INTERRUPTED"


def test_a_keyboard_interrupt_from_one_observer_still_reaches_the_others_and_is_re_raised(tmp_path):
    class Raising(InMemoryObserver):
        def heartbeat_event(self, **kwargs):
            raise KeyboardInterrupt

    raising, healthy = Raising(priority=2), InMemoryObserver(priority=1)
    disp = dispatcher([raising, healthy], tmp_path)
    start(disp)
    with pytest.raises(KeyboardInterrupt):
        beat(disp, "a")
    assert healthy.run.captured_out == "a"
    assert len(disp.failing) == 1  # kept for a retry, not lost


def test_a_keyboard_interrupt_while_opening_reaches_every_observer_first(tmp_path):
    class Raising(InMemoryObserver):
        def started_event(self, **kwargs):
            raise KeyboardInterrupt

    healthy = InMemoryObserver(priority=1)
    disp = dispatcher([Raising(priority=2), healthy], tmp_path)
    with pytest.raises(KeyboardInterrupt):
        start(disp)
    assert healthy.event_names == ["started_event"]


# ---- an observer that breaks in other places -----------------------------------------------------
def test_strict_observers_stop_the_run_and_leave_no_journal(tmp_path):
    down = Flaky(down=True)
    run = make_run(
        lambda: "never",
        observers=[down],
        logger=logging.getLogger(LOGGER),
        beat_interval=0,
        capture_mode="no",
        strict_observers=True,
        fallback_dir=str(tmp_path / "fb"),
    )
    with pytest.raises(
        ObserverUnreachableError,
        match=r"^Observer 'Flaky' \(.*\) \(ConnectionError: backend unreachable \(started_event\)\) "
        r"cannot record this run; with --strict-observers the run does not start$",
    ):
        run()
    assert files(tmp_path / "fb") == [] and run.fallback_journals == []


def test_an_observer_that_fails_while_finishing_is_reported(tmp_path, caplog):
    class BrokenJoin(InMemoryObserver):
        def join(self):
            raise OSError("flush failed")

    disp = dispatcher(BrokenJoin(), tmp_path)
    start(disp)
    assert disp.finish() == []
    assert "Observer 'BrokenJoin' failed while finishing (OSError: flush failed)" in messages(caplog)


def test_a_broken_replay_spec_counts_as_none(tmp_path, caplog):
    class NoSpec(Flaky):
        def replay_spec(self):
            raise RuntimeError("cannot describe myself")

    observer = NoSpec(down=True)
    disp = dispatcher(observer, tmp_path)
    start(disp)
    [journal] = disp.finish()
    assert read_journal(journal)[0]["replay_spec"] is None
    assert any(
        "NoSpec has no replay_spec(), so 'experimentkit sync' cannot replay" in m for m in messages(caplog)
    )


def test_warnings_are_logged_even_when_hiding_them_from_the_output_fails(tmp_path, caplog):
    def broken_hide(message):
        raise RuntimeError("capture already closed")

    def broken_note(note):
        raise RuntimeError("info is read-only")

    class Refusing(InMemoryObserver):
        def resource_event(self, filename):
            raise FileNotFoundError(filename)

    disp = dispatcher(Refusing(), tmp_path, on_drop=broken_note)
    disp.hide_from_output = broken_hide
    start(disp)
    disp.emit("resource_event", filename="/data/x.csv")
    assert any(
        m.startswith("Observer 'Refusing' cannot store resource '/data/x.csv' in ") for m in messages(caplog)
    )


def test_sacred_style_observers_get_events_without_experimentkit_keywords(tmp_path):
    class SacredStyle(RunObserver):
        def __init__(self):
            self.resources = []

        def resource_event(self, filename):
            self.resources.append(filename)

    class TakesEverything(RunObserver):
        def __init__(self):
            self.resources = []

        def resource_event(self, **kwargs):
            self.resources.append(kwargs)

    data = tmp_path / "data.csv"
    data.write_text("a,b\n")
    sacred, everything = SacredStyle(), TakesEverything()

    def main():
        current_run().add_resource(str(data), copy=False)

    make_run(
        main, observers=[sacred, everything], beat_interval=0, capture_mode="no", fallback_dir=str(tmp_path)
    )()
    assert sacred.resources == [str(data)]
    assert everything.resources == [{"filename": str(data), "copy": False}]


def test_process_identity_of_a_process_that_is_gone_is_unknown():
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert process_identity(child.pid) is None
    assert process_identity() == process_identity(os.getpid()) is not None


def test_ctrl_c_during_a_retry_keeps_the_event_in_flight_and_delivers_it_once(tmp_path):
    class InterruptsItsRetry(Held):
        def heartbeat_event(self, **kwargs):
            if self.error is None and not self.threads:  # the retry, after one refusal
                self.threads.append(threading.current_thread())
                wait_until_main_thread_waits_for(self.threads[0])
                signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
                assert self.release.wait(30)
            elif self.error is not None:
                error, self.error = self.error, None
                raise error
            return InMemoryObserver.heartbeat_event(self, **kwargs)

    observer = InterruptsItsRetry(error=ConnectionError("refused"), name="retry-ctrl-c")
    disp = dispatcher(observer, tmp_path)
    start(disp)
    beat(disp, "a")  # refused: buffered
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            disp.retry()
    finally:
        signal.signal(signal.SIGINT, previous)
    observer.release.set()
    observer.wait_for_calls()
    disp.retry()
    assert observer.event_names == ["started_event", "heartbeat_event"]
    assert disp.finish() == [] and files(tmp_path) == []


def test_ctrl_c_before_the_call_thread_reaches_the_observer_cancels_the_call(tmp_path):
    """The interrupt lands after the call's thread started but before it called the observer: that
    call never happens, the event waits for a retry, and it is stored once."""
    observer = Flaky()
    disp = dispatcher(observer, tmp_path)
    start(disp)
    handled, calls = threading.Event(), []
    coverage_hook = threading.gettrace()  # a tracer such as coverage's, passed on untouched

    def first_thing_in_a_new_thread(frame, event, arg):
        sys.settrace(coverage_hook)
        if threading.current_thread().name == "experimentkit-observer-call":
            threading.settrace(coverage_hook)
            calls.append(threading.current_thread())
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
            assert handled.wait(30)
        return coverage_hook(frame, event, arg) if coverage_hook else None

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    threading.settrace(first_thing_in_a_new_thread)
    try:
        with pytest.raises(KeyboardInterrupt):
            beat(disp, "a")
    finally:
        threading.settrace(coverage_hook)
        signal.signal(signal.SIGINT, previous)
        handled.set()
    [call] = calls
    call.join(30)
    assert observer.attempts == ["started_event"]  # the cancelled call did not reach it
    disp.retry()
    assert observer.event_names == ["started_event", "heartbeat_event"]
    assert observer.run.captured_out == "a" and files(tmp_path) == []


def test_batches_merge_across_the_moment_the_journal_stops_taking_lines(tmp_path):
    observer = Flaky()
    fallback = tmp_path / "fb"
    disp = dispatcher(observer, fallback)
    start(disp)
    observer.down = True
    points(disp, 0)  # journaled
    with files_cannot_grow_past(fallback / "uid1-0-Flaky.jsonl"):
        points(disp, 1)  # in memory only, merged with the journaled batch
    [journal] = disp.finish()
    [(event, kwargs)] = read_journal(journal)[1]
    assert event == "log_metrics" and kwargs["metrics_by_name"]["loss"]["steps"] == [0, 1]
