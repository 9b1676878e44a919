"""Run lifecycle: events, log lines, metrics, tables, flushing, failures, interrupts."""

import datetime as dt
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

from experimentkit.context import current_run
from experimentkit.errors import SacredInterrupt, TimeoutInterrupt
from experimentkit.observers.memory import InMemoryObserver
from experimentkit.run import Run
from experimentkit.testing import make_run

LOGGER = "test_run"


def new_run(main, observers=(), **attributes):
    attributes.setdefault("capture_mode", "sys")
    attributes.setdefault("beat_interval", 0)
    attributes.setdefault("observer_retry_seconds", 0)
    return make_run(main, {"lr": 0.1}, observers, logger=logging.getLogger(LOGGER), **attributes)


def messages(caplog):
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == LOGGER]


def test_constructor_has_sacreds_signature_and_attributes():
    run = Run({"a": 1}, None, print, [], None, None, {}, {}, [], [])
    assert run.beat_interval == 10.0
    assert run.capture_mode is None and run.captured_out_filter is None
    assert run.info == {} and run.meta_info == {} and run.fail_trace is None
    for flag in ("debug", "pdb", "unobserved", "force", "queue_only"):
        assert getattr(run, flag) is False
    assert run._id is None and run.status is None and run.captured_out == ""


def test_completed_run_emits_events_in_order_with_exact_kwargs(caplog):
    caplog.set_level(logging.INFO)
    observer = InMemoryObserver()

    def main():
        run = current_run()
        run.log_scalar("loss", 0.5)
        run.info["best"] = 3
        print("hello")
        return 7

    run = new_run(main, [observer])
    run.host_info = {"hostname": "h"}
    assert run() == 7
    assert observer.event_names == [
        "started_event",
        "log_metrics",
        "heartbeat_event",
        "completed_event",
    ]
    started = observer.events[0][1]
    assert set(started) == {
        "ex_info",
        "command",
        "host_info",
        "start_time",
        "config",
        "meta_info",
        "_id",
    }
    assert started["command"] == "main" and started["_id"] is None
    assert started["config"] == {"lr": 0.1} and started["host_info"] == {"hostname": "h"}
    assert len(started["meta_info"]["uid"]) == 32
    metrics = observer.events[1][1]
    assert set(metrics) == {"metrics_by_name", "info"}
    loss = metrics["metrics_by_name"]["loss"]
    assert loss["name"] == "loss" and loss["steps"] == [0] and loss["values"] == [0.5]
    assert isinstance(loss["timestamps"][0], dt.datetime) and loss["timestamps"][0].tzinfo is None
    beat = observer.events[2][1]
    assert set(beat) == {"info", "captured_out", "beat_time", "result"}
    assert beat["info"] == {"best": 3} and beat["result"] == 7
    assert beat["captured_out"].startswith("hello\n")
    assert observer.events[3][1] == {"stop_time": run.stop_time, "result": 7}
    assert run.status == "COMPLETED" and run._id == 1
    assert run.start_time <= run.stop_time
    assert abs(run.start_time - dt.datetime.utcnow()) < dt.timedelta(seconds=5)
    assert messages(caplog) == [
        ("INFO", "Running command 'main'"),
        ("INFO", 'Started run with ID "1"'),
        ("INFO", "Result: 7"),
        ("INFO", "Completed after 0:00:00"),
    ]


def test_second_start_raises():
    run = new_run(lambda: None)
    run()
    with pytest.raises(RuntimeError, match=r"A run can only be started once\. \(Last start was"):
        run()


def test_no_observers_warning_and_plain_started_line(caplog):
    caplog.set_level(logging.INFO)
    new_run(lambda: None)()
    assert ("WARNING", "No observers have been added to this run") in messages(caplog)
    assert ("INFO", "Started") in messages(caplog)
    caplog.clear()
    new_run(lambda: None, debug=True)()
    new_run(lambda: None, [InMemoryObserver()], unobserved=True)()
    assert not [m for m in messages(caplog) if m[0] == "WARNING"]


def test_unobserved_run_sends_nothing():
    observer = InMemoryObserver()
    new_run(lambda: 1, [observer], unobserved=True)()
    assert observer.events == []


def test_capture_mode_defaults_to_no_without_observers():
    run = new_run(lambda: print("x"), capture_mode=None)
    run()
    assert run.capture_mode == "no" and run.captured_out == ""


def test_hooks_run_around_main_inside_the_active_run():
    seen = []
    run = new_run(lambda: seen.append(("main", current_run())))
    run.pre_run_hooks = [lambda: seen.append(("pre", current_run()))]
    run.post_run_hooks = [lambda: seen.append(("post", current_run()))]
    run()
    assert seen == [("pre", run), ("main", run), ("post", run)]
    assert current_run() is None


def test_main_receives_args():
    assert new_run(lambda a, b: a + b)(2, 3) == 5


def test_result_none_logs_no_result_line(caplog):
    caplog.set_level(logging.INFO)
    new_run(lambda: None)()
    assert not [m for _, m in messages(caplog) if m.startswith("Result")]


def test_steps_auto_increment_per_name_and_continue_after_explicit_step():
    observer = InMemoryObserver()

    def main():
        run = current_run()
        run.log_scalar("a", 1.0)
        run.log_scalar("a", 2.0)
        run.log_scalar("b", 5, step=10)
        run.log_scalar("a", 3.0, step=7)
        run.log_scalar("a", 4.0)
        run.log_scalar("b", np.float32(6.5))
        run.log_scalar("c", np.int64(3), step=np.int64(4))
        run.log_scalar("c", 9)

    new_run(main, [observer])()
    metrics = observer.run.metrics
    assert metrics["a"]["steps"] == [0, 1, 7, 8] and metrics["a"]["values"] == [1.0, 2.0, 3.0, 4.0]
    assert metrics["b"]["steps"] == [10, 11] and metrics["b"]["values"] == [5, 6.5]
    assert type(metrics["b"]["values"][1]) is float
    assert metrics["c"]["steps"] == [4, 5] and type(metrics["c"]["steps"][0]) is int
    assert type(metrics["c"]["values"][0]) is int


def test_beat_interval_zero_still_flushes_everything(tmp_path):
    observer = InMemoryObserver()
    artifact = tmp_path / "model.bin"
    artifact.write_bytes(b"x")

    def main():
        run = current_run()
        for i in range(1000):
            run.log_scalar("loss", i)
        run.log_table("preds", [{"i": i, "p": i / 10} for i in range(3)])
        run.info["done"] = True
        run.add_artifact(str(artifact))
        print("end of main")

    run = new_run(main, [observer], beat_interval=0)
    run()
    assert run._beat_thread is None
    recorded = observer.run
    assert recorded.metrics["loss"]["steps"] == list(range(1000))
    assert recorded.tables["preds"] == [{"i": 0, "p": 0.0}, {"i": 1, "p": 0.1}, {"i": 2, "p": 0.2}]
    assert recorded.info == {"done": True}
    assert "end of main" in recorded.captured_out
    assert recorded.artifacts == [
        {"name": "model.bin", "filename": str(artifact), "metadata": None, "content_type": None}
    ]
    assert observer.event_names[-1] == "completed_event"


def test_periodic_heartbeats_deliver_each_point_once():
    observer = InMemoryObserver()

    def main():
        run = current_run()
        for i in range(40):
            run.log_scalar("x", i)
            time.sleep(0.005)

    new_run(main, [observer], beat_interval=0.03)()
    beats = observer.event_names.count("heartbeat_event")
    assert beats >= 3
    assert observer.event_names.count("log_metrics") == beats
    assert observer.run.metrics["x"]["steps"] == list(range(40))


def test_log_table_appends_dataframes_and_checks_rows():
    observer = InMemoryObserver()

    def main():
        run = current_run()
        run.log_table("t", pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}))
        run.log_table("t", [{"a": np.int64(3), "b": None}])
        with pytest.raises(TypeError, match=r"row 0, column 'a' holds a list"):
            run.log_table("t", [{"a": [1]}])
        with pytest.raises(TypeError, match="rows must be flat dicts"):
            run.log_table("t", [1, 2])

    new_run(main, [observer])()
    assert observer.run.tables["t"] == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}, {"a": 3, "b": None}]
    assert type(observer.run.tables["t"][0]["a"]) is int
    assert observer.event_names.count("log_table") == 1


def test_artifacts_and_resources(tmp_path):
    observer = InMemoryObserver()
    data = tmp_path / "data.txt"
    data.write_text("content")

    def main():
        run = current_run()
        with run.open_resource(str(data)) as fh:
            assert fh.read() == "content"
        run.add_artifact(data, name="copy.txt", metadata={"k": 1}, content_type="text/plain")

    new_run(main, [observer])()
    assert observer.run.resources == [str(data)]
    assert observer.run.artifacts == [
        {
            "name": "copy.txt",
            "filename": str(data),
            "metadata": {"k": 1},
            "content_type": "text/plain",
        }
    ]


def test_failed_run_has_filtered_trace_and_reraises(caplog):
    observer = InMemoryObserver()

    def broken_main():
        print("partial output")
        current_run().log_scalar("loss", 1.0)
        raise ValueError("boom")

    run = new_run(broken_main, [observer])
    with pytest.raises(ValueError, match="boom"):
        run()
    assert run.status == "FAILED" and run.stop_time is not None
    assert observer.event_names[-1] == "failed_event"
    trace = "".join(run.fail_trace)
    assert trace.startswith("Traceback (most recent calls WITHOUT Sacred internals):\n")
    assert "broken_main" in trace and "ValueError: boom" in trace
    assert "experimentkit/run.py" not in trace and "experimentkit" + os.sep not in trace
    assert observer.events[-1][1] == {"fail_time": run.stop_time, "fail_trace": run.fail_trace}
    assert observer.run.metrics["loss"]["values"] == [1.0]
    assert "partial output" in observer.run.captured_out
    assert ("ERROR", "Failed after 0:00:00!") in messages(caplog)


@pytest.mark.parametrize(
    "exc, status",
    [
        (KeyboardInterrupt(), "INTERRUPTED"),
        (SacredInterrupt(), "INTERRUPTED"),
        (TimeoutInterrupt(), "TIMEOUT"),
    ],
)
def test_interrupts_end_as_their_status(exc, status, caplog):
    observer = InMemoryObserver()

    def main():
        current_run().log_scalar("x", 1)
        raise exc

    run = new_run(main, [observer])
    with pytest.raises(type(exc)):
        run()
    assert run.status == status and run.stop_time is not None
    assert observer.events[-1] == (
        "interrupted_event",
        {"interrupt_time": run.stop_time, "status": status},
    )
    assert observer.run.metrics["x"]["values"] == [1]
    assert ("WARNING", "Aborted after 0:00:00!") in messages(caplog)


def test_custom_interrupt_status():
    class Preempted(SacredInterrupt):
        STATUS = "PREEMPTED"

    observer = InMemoryObserver()
    run = new_run(lambda: (_ for _ in ()).throw(Preempted()), [observer])
    with pytest.raises(Preempted):
        run()
    assert run.status == "PREEMPTED" and observer.run.status == "PREEMPTED"


def test_queue_only_emits_only_queued_event(caplog):
    caplog.set_level(logging.INFO)
    observer = InMemoryObserver()
    called = []

    def main():
        called.append(1)

    run = new_run(main, [observer], queue_only=True)
    assert run() is None
    assert called == [] and run.status == "QUEUED"
    assert observer.event_names == ["queued_event"]
    queued = observer.events[0][1]
    assert set(queued) == {
        "ex_info",
        "command",
        "host_info",
        "queue_time",
        "config",
        "meta_info",
        "_id",
    }
    assert queued["meta_info"]["queue_time"] == queued["queue_time"]
    assert messages(caplog)[-2:] == [
        ("INFO", "Queuing-up command 'main'"),
        ("INFO", 'Queued-up run with ID "1"'),
    ]


def test_seed_in_config_seeds_globals():
    import random

    run = make_run(lambda: random.random(), {"seed": 5}, capture_mode="no", beat_interval=0)
    other = make_run(lambda: random.random(), {"seed": 5}, capture_mode="no", beat_interval=0)
    assert run() == other()


def test_sigterm_handler_is_restored():
    previous = signal.getsignal(signal.SIGTERM)
    new_run(lambda: None)()
    assert signal.getsignal(signal.SIGTERM) is previous


SIGTERM_SCRIPT = textwrap.dedent("""
    import json, logging, sys, time
    from experimentkit.context import current_run
    from experimentkit.observers.memory import InMemoryObserver
    from experimentkit.testing import make_run

    logging.basicConfig(level=logging.INFO, format="%(levelname)s - %(name)s - %(message)s")
    observer = InMemoryObserver()

    def main():
        run = current_run()
        for i in range(3):
            run.log_scalar("x", i)
        print("ready", flush=True)
        time.sleep(30)

    run = make_run(main, {}, [observer], beat_interval=0, observer_retry_seconds=0)
    try:
        run()
    finally:
        summary = {"status": run.status, "stop": run.stop_time is not None,
                   "events": observer.event_names, "x": observer.run.metrics["x"]["values"],
                   "out": observer.run.captured_out}
        sys.stderr.write("SUMMARY " + json.dumps(summary) + "\\n")
""")


def test_sigterm_ends_the_run_as_interrupted_in_a_real_process(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SIGTERM_SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode not in (0, -signal.SIGTERM)  # handled: not killed, not a success
    line = [ln for ln in err.splitlines() if ln.startswith("SUMMARY ")]
    assert line, err
    import json

    summary = json.loads(line[0][len("SUMMARY ") :])
    assert summary["status"] == "INTERRUPTED" and summary["stop"]
    assert summary["events"][-1] == "interrupted_event"
    assert summary["x"] == [0, 1, 2]
    assert "ready" in summary["out"]
    assert "Aborted after" in err


def test_each_run_gets_a_random_version_4_uuid_as_its_uid():
    """The uid is what ``uuid.uuid4().hex`` gives (made without importing ``uuid``)."""
    import uuid

    from experimentkit import Experiment

    uids = []
    for _ in range(3):
        ex = Experiment("uid")
        ex.main(lambda: None)
        uids.append(ex.run(options={"--loglevel": "WARNING"}).meta_info["uid"])
    for uid in uids:
        parsed = uuid.UUID(hex=uid)
        assert parsed.hex == uid and parsed.version == 4 and parsed.variant == uuid.RFC_4122
    assert len(set(uids)) == 3
