"""Journal details found missing by mutation testing: merging batches with new metric names without
touching the caller's lists, a zombie writer, a journal written in the current directory."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time

from experimentkit.journal import process_identity, read_journal, write_journal, writer_alive
from tests.test_dispatch_support import T0, Flaky, metric_batch, opened_dispatcher


def test_buffered_batches_merge_new_names_and_leave_the_callers_dicts_alone(tmp_path):
    observer = Flaky()
    disp = opened_dispatcher(observer, tmp_path)
    observer.down = True
    first, second = metric_batch("loss", [0, 1]), {**metric_batch("loss", [2]), **metric_batch("acc", [0])}
    disp.emit("log_metrics", metrics_by_name=first, info={})
    disp.emit("log_metrics", metrics_by_name=second, info={})
    assert (
        first == metric_batch("loss", [0, 1]) and second["acc"] == metric_batch("acc", [0])["acc"]
    )  # not extended
    [(event, kwargs)] = read_journal(str(tmp_path / "u-0-Flaky.jsonl"))[1]
    assert kwargs["metrics_by_name"] == {**metric_batch("loss", [0, 1, 2]), **metric_batch("acc", [0])}
    observer.down = False
    disp.retry()
    assert observer.run.metrics["loss"]["steps"] == [0, 1, 2] and observer.run.metrics["acc"]["steps"] == [0]


def test_a_writer_that_exited_but_was_not_reaped_is_not_alive():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    started = None
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:  # poll until it is a zombie (exited, not yet waited for)
            with open(f"/proc/{child.pid}/stat") as fh:
                stat = fh.read()
            started = started or process_identity(child.pid)
            if stat[stat.rfind(")") + 2] == "Z":
                break
            threading.Event().wait(0.01)
        assert writer_alive(child.pid, started) is False
        assert writer_alive(os.getpid(), process_identity()) is True
    finally:
        child.wait()


def test_a_journal_named_without_a_directory_goes_in_the_current_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_journal(
        "j.jsonl", {"run_uid": "u", "observer": "X", "replay_spec": None}, [("log_metrics", {"x": 1})]
    )
    assert os.listdir(tmp_path) == ["j.jsonl"]
    assert read_journal("j.jsonl")[1] == [("log_metrics", {"x": 1})]


def journaling_dispatcher(tmp_path):
    observer = Flaky()
    disp = opened_dispatcher(observer, tmp_path)
    observer.down = True
    return observer, disp


def beat(disp, out):
    disp.emit("heartbeat_event", info={}, captured_out=out, beat_time=T0, result=None)


def test_heartbeats_are_journaled_as_what_is_new_with_consecutive_numbers(tmp_path):
    import json

    _, disp = journaling_dispatcher(tmp_path)
    beat(disp, "epoch 1\n")
    disp.emit("log_metrics", metrics_by_name=metric_batch("loss", [0]), info={})
    beat(disp, "epoch 1\nepoch 2\n")
    beat(disp, "restarted\n")  # not a continuation: stored whole
    with open(tmp_path / "u-0-Flaky.jsonl") as fh:
        lines = [json.loads(line) for line in fh][1:]
    assert [line["seq"] for line in lines] == [0, 1, 2, 3]
    beats = [line for line in lines if line["event"] == "heartbeat_event"]
    assert [b["kwargs"]["captured_out"] for b in beats] == ["epoch 1\n", "epoch 2\n", "restarted\n"]
    assert [b.get("out_from") for b in beats] == [None, 8, None]
    [(_, kwargs), (_, newest)] = read_journal(str(tmp_path / "u-0-Flaky.jsonl"))[1]
    assert kwargs["metrics_by_name"]["loss"]["steps"] == [0] and newest["captured_out"] == "restarted\n"


def test_a_recovery_without_artifacts_removes_the_journal_without_a_warning(tmp_path, caplog):
    observer, disp = journaling_dispatcher(tmp_path)
    beat(disp, "x")
    observer.down = False
    disp.retry()
    assert os.listdir(tmp_path) == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith("Observer 'Flaky' failed (")
