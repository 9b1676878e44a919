"""The dispatcher: observer order and ids, failure isolation, retries, the fallback journal."""

import datetime as dt
import json
import logging
import math
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from experimentkit.context import current_run
from experimentkit.dispatch import Dispatcher
from experimentkit.journal import decode_value, encode_value, read_journal
from experimentkit.observers.memory import InMemoryObserver
from experimentkit.observers.queue import QueueObserver
from experimentkit.testing import make_run
from tests.test_dispatch_support import Flaky

LOGGER = "test_dispatch"


def new_run(main, observers, tmp_path, **attributes):
    attributes.setdefault("capture_mode", "sys")
    attributes.setdefault("beat_interval", 0)
    attributes.setdefault("observer_retry_seconds", 0.3)
    return make_run(
        main,
        {"lr": 0.1},
        observers,
        logger=logging.getLogger(LOGGER),
        fallback_dir=str(tmp_path / "fallback"),
        **attributes,
    )


def logging_main(points=50, sleep=0.0):
    def main():
        run = current_run()
        for i in range(points):
            run.log_scalar("loss", i / 2)
            if sleep:
                time.sleep(sleep)
        run.log_table("preds", [{"i": 1}])
        run.info["n"] = points
        print("output line")
        return "ok"

    return main


def warnings_of(caplog):
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]


def test_observers_called_by_descending_priority_and_first_id_passed_on(tmp_path):
    order = []

    class Recording(InMemoryObserver):
        def started_event(self, **kwargs):
            order.append((self.priority, kwargs["_id"]))
            return super().started_event(**kwargs)

    low, high, mid = Recording(priority=1), Recording(priority=40), Recording(priority=20)
    run = new_run(lambda: None, [low, high, mid], tmp_path)
    run()
    assert order == [(40, None), (20, 1), (1, 1)]
    assert run._id == 1 and [o.priority for o in run.observers] == [40, 20, 1]


def test_given_id_wins(tmp_path):
    a, b = InMemoryObserver(priority=2), InMemoryObserver(priority=1)
    run = new_run(lambda: None, [a, b], tmp_path)
    run._id = "custom"
    run()
    assert run._id == "custom" and list(a.runs) == ["custom"] and list(b.runs) == ["custom"]


@pytest.mark.parametrize(
    "event", ["started_event", "heartbeat_event", "log_metrics", "log_table", "completed_event"]
)
def test_transient_failure_is_reported_once_retried_and_delivered_exactly_once(event, tmp_path, caplog):
    # a backend that cannot open the run gets one last attempt at the end, not the whole window
    failures = 1 if event == "started_event" else 2
    healthy, flaky = InMemoryObserver(priority=1), Flaky({event: failures}, priority=5)
    run = new_run(logging_main(), [healthy, flaky], tmp_path)
    assert run() == "ok"
    assert run.status == "COMPLETED"
    warnings = warnings_of(caplog)
    failed = [w for w in warnings if w.startswith("Observer 'Flaky' failed (")]
    assert len(failed) == 1
    assert failed[0].startswith(f"Observer 'Flaky' failed (ConnectionError: transient failure in {event})")
    if event == "started_event":
        assert " cannot reach InMemoryObserver(" in failed[0]
        assert failed[0].endswith("run 'experimentkit sync' once it is reachable")
    else:
        assert failed[0].endswith("; buffering its events and retrying")
    for observer in (healthy, flaky):
        assert observer.event_names[0] == "started_event"
        assert observer.event_names[-1] == "completed_event"
        recorded = observer.run
        assert recorded.metrics["loss"]["steps"] == list(range(50))
        assert recorded.tables["preds"] == [{"i": 1}]
        assert recorded.status == "COMPLETED" and recorded.info == {"n": 50}
    assert healthy.event_names == [
        "started_event",
        "log_metrics",
        "log_table",
        "heartbeat_event",
        "completed_event",
    ]
    assert run.fallback_journals == []


def test_failures_during_periodic_heartbeats_lose_and_duplicate_nothing(tmp_path):
    healthy = InMemoryObserver()
    flaky = Flaky({"log_metrics": 2, "heartbeat_event": 1})
    run = new_run(logging_main(points=30, sleep=0.004), [healthy, flaky], tmp_path, beat_interval=0.02)
    run()
    for observer in (healthy, flaky):
        assert observer.run.metrics["loss"]["steps"] == list(range(30))
    assert flaky.run.status == "COMPLETED"


def test_permanent_failure_writes_a_journal_and_never_fails_the_run(tmp_path, caplog):
    healthy = InMemoryObserver()
    flaky = Flaky()

    def main():
        flaky.down = True  # the backend goes away after the run started
        return logging_main()()

    run = new_run(main, [healthy, flaky], tmp_path)
    assert run() == "ok"
    assert healthy.run.status == "COMPLETED"
    assert len(healthy.run.metrics["loss"]["steps"]) == 50
    [path] = run.fallback_journals
    assert path.startswith(str(tmp_path / "fallback"))
    assert run.meta_info["uid"] in path
    header, events = read_journal(path)
    assert header["observer"] == "Flaky" and header["opened"] is True
    assert decode_value(header["assigned_id"]) == 1
    assert header["replay_spec"] == flaky.replay_spec()
    assert "ConnectionError" in header["last_error"]
    assert [e for e, _ in events] == [
        "log_metrics",
        "log_table",
        "heartbeat_event",
        "completed_event",
    ]
    assert events[0][1]["metrics_by_name"]["loss"]["steps"] == list(range(50))
    assert isinstance(events[2][1]["beat_time"], dt.datetime)
    messages = warnings_of(caplog)
    assert any(path in m and "experimentkit sync" in m for m in messages)


def test_outage_buffer_keeps_only_the_newest_heartbeat_and_merges_metrics(tmp_path):
    flaky = Flaky()

    def main():
        flaky.down = True
        return logging_main(points=30, sleep=0.004)()

    run = new_run(main, [flaky], tmp_path, beat_interval=0.02, observer_retry_seconds=0)
    run()
    _, events = read_journal(run.fallback_journals[0])
    # a beat that finds no new points still sends an empty log_metrics (as Sacred does); when the
    # table went out in an earlier beat, that empty batch lands after it and cannot be merged
    events = [(e, k) for e, k in events if e != "log_metrics" or k["metrics_by_name"]]
    names = [e for e, _ in events]
    assert names.count("heartbeat_event") == 1 and names.count("log_metrics") == 1
    assert events[names.index("log_metrics")][1]["metrics_by_name"]["loss"]["steps"] == list(range(30))
    assert "output line" in events[names.index("heartbeat_event")][1]["captured_out"]


def test_observer_down_from_the_start_gets_started_event_journaled(tmp_path):
    healthy, flaky = InMemoryObserver(priority=1), Flaky(down=True, priority=9)
    run = new_run(logging_main(), [healthy, flaky], tmp_path)
    run()
    assert run._id == 1  # taken from the next observer
    header, events = read_journal(run.fallback_journals[0])
    assert header["opened"] is False and events[0][0] == "started_event"
    assert events[0][1]["_id"] is None and events[0][1]["config"] == {"lr": 0.1}


def test_unreplayable_observer_is_journaled_with_a_warning(tmp_path, caplog):
    flaky = Flaky(down=True, replayable=False)
    run = new_run(lambda: None, [flaky], tmp_path, observer_retry_seconds=0)
    run()
    header, events = read_journal(run.fallback_journals[0])
    assert header["replay_spec"] is None and events
    assert any("cannot replay them automatically" in m for m in warnings_of(caplog))


def test_final_wait_is_bounded(tmp_path, caplog):
    """The end-of-run wait for a backend that went away sleeps no longer than the window in all,
    backing off between attempts, then journals (the sleeps are counted, not timed)."""
    flaky = Flaky()
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        time.sleep(seconds)

    disp = Dispatcher(
        [flaky],
        logger=logging.getLogger(LOGGER),
        run_uid="u",
        retry_seconds=0.5,
        fallback_dir=str(tmp_path),
        sleep=sleep,
    )
    disp.open(
        "started_event", ex_info={}, command="main", host_info={}, start_time=None, config={}, meta_info={}
    )
    flaky.down = True  # the backend answered at the start, then went away
    disp.emit("completed_event", stop_time=None, result=None)
    [journal] = disp.finish()
    assert [e for e, _ in read_journal(journal)[1]] == ["completed_event"]
    assert 0 < sum(slept) <= 0.5 + 1e-9
    # backing off, not a busy loop: only the last sleep is cut short by the end of the window
    assert slept[:-1] == [min(0.05 * 2**i, 2.0) for i in range(len(slept) - 1)]
    assert slept[-1] <= min(0.05 * 2 ** (len(slept) - 1), 2.0)
    assert flaky.attempts.count("completed_event") == len(slept) + 2  # once per sleep, and the first two
    assert any(
        m.startswith("Waiting up to ") and m.endswith("for observer 'Flaky' to recover")
        for m in warnings_of(caplog)
    )


def test_failed_run_still_reaches_healthy_observers_when_another_is_down(tmp_path):
    healthy, flaky = InMemoryObserver(), Flaky(down=True)
    run = new_run(lambda: 1 / 0, [healthy, flaky], tmp_path, observer_retry_seconds=0)
    with pytest.raises(ZeroDivisionError):
        run()
    assert healthy.run.status == "FAILED" and healthy.run.fail_trace == run.fail_trace
    _, events = read_journal(run.fallback_journals[0])
    assert events[-1][0] == "failed_event" and events[-1][1]["fail_trace"] == run.fail_trace


def test_artifact_file_is_kept_next_to_the_journal(tmp_path):
    artifact = tmp_path / "weights.bin"
    artifact.write_bytes(b"\x00\x01")
    flaky = Flaky(down=True)
    run = new_run(
        lambda: current_run().add_artifact(str(artifact)),
        [flaky],
        tmp_path,
        observer_retry_seconds=0,
    )
    run()
    artifact.unlink()
    _, events = read_journal(run.fallback_journals[0])
    [(_, kwargs)] = [e for e in events if e[0] == "artifact_event"]
    assert kwargs["name"] == "weights.bin"
    with open(kwargs["filename"], "rb") as fh:
        assert fh.read() == b"\x00\x01"


# ---- QueueObserver -------------------------------------------------------------------------------
def test_queue_observer_delivers_in_background_and_joins(tmp_path):
    covered = InMemoryObserver(priority=7)
    queued = QueueObserver(covered, interval=0.01, retry_interval=0.01)
    assert queued.priority == 7
    run = new_run(logging_main(), [queued], tmp_path)
    run()
    assert covered.event_names[0] == "started_event" and covered.event_names[-1] == "completed_event"
    assert covered.run.metrics["loss"]["steps"] == list(range(50))


def test_queue_observer_retries_are_bounded_and_leftovers_are_journaled(tmp_path):
    covered = Flaky()
    queued = QueueObserver(covered, interval=0.01, retry_interval=0.01, max_retries=2, join_timeout=2)

    def main():
        covered.down = True
        return logging_main()()

    run = new_run(main, [queued], tmp_path, observer_retry_seconds=0)
    run()
    header, events = read_journal(run.fallback_journals[0])
    assert header["opened"] is True and header["replay_spec"] == covered.replay_spec()
    assert [e for e, _ in events] == [
        "log_metrics",
        "log_table",
        "heartbeat_event",
        "completed_event",
    ]


def test_queue_observer_transient_failure_is_retried():
    covered = Flaky({"heartbeat_event": 1})
    queued = QueueObserver(covered, interval=0.01, retry_interval=0.01)
    queued.started_event(
        ex_info={},
        command="main",
        host_info={},
        start_time=dt.datetime(2020, 1, 1),
        config={},
        meta_info={},
        _id=None,
    )
    queued.heartbeat_event(info={}, captured_out="a", beat_time=dt.datetime(2020, 1, 1), result=None)
    queued.completed_event(stop_time=dt.datetime(2020, 1, 1), result=None)
    queued.join()
    assert queued.take_undelivered() == []
    assert covered.event_names == ["started_event", "heartbeat_event", "completed_event"]


# ---- type-tagged JSON ----------------------------------------------------------------------------
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text()
    | st.floats(allow_nan=False)
    | st.datetimes()
    | st.binary(max_size=20)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=5), inner, max_size=4)
        | st.dictionaries(st.integers(), inner, max_size=3)
    ),
    max_leaves=20,
)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])  # speed is not the test
@given(values)
def test_encoding_round_trips_through_json(value):
    text = json.dumps(encode_value(value), allow_nan=False)
    assert decode_value(json.loads(text)) == value


def test_special_floats_and_unknown_objects():
    decoded = decode_value(json.loads(json.dumps(encode_value([math.inf, -math.inf, math.nan]))))
    assert decoded[:2] == [math.inf, -math.inf] and math.isnan(decoded[2])
    assert decode_value(encode_value({"$datetime": 1})) == {"$datetime": 1}
    assert decode_value(encode_value(object)) == repr(object)
