"""The file observer's metrics writer, found missing by mutation testing: the running summaries,
columns given as tuples or ranges, dates among timestamps, and the log's file mode."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat

import pytest

from tests.file_observer_support import T0, series, started_file_observer


def test_the_summary_follows_every_batch(tmp_path):
    observer = started_file_observer(tmp_path / "runs")
    observer.log_metrics({"loss": series([0, 1], [3.0, 1.0], [T0, T0])}, info={})
    observer.log_metrics({"loss": series([2], [2.0], [T0]), "acc": series([0], [0.5], [T0])}, info={})
    observer.heartbeat_event(info={}, captured_out="", beat_time=T0, result=None)
    summary = json.loads((tmp_path / "runs" / "1" / "metrics_summary.json").read_text())
    assert summary["metrics"] == {
        "loss": {"last": 2.0, "min": 1.0, "max": 3.0, "count": 3},
        "acc": {"last": 0.5, "min": 0.5, "max": 0.5, "count": 1},
    }
    assert summary["log_size"] == os.path.getsize(tmp_path / "runs" / "1" / "metrics.jsonl")


def test_values_that_are_not_numbers_leave_no_summary(tmp_path):
    observer = started_file_observer(tmp_path / "runs")
    observer.log_metrics({"loss": series([0], [1.0], [T0])}, info={})
    observer.log_metrics({"note": series([0], ["text"], [T0])}, info={})
    observer.log_metrics({"loss": series([1], [0.5], [T0])}, info={})
    observer.heartbeat_event(info={}, captured_out="", beat_time=T0, result=None)
    assert not (tmp_path / "runs" / "1" / "metrics_summary.json").exists()


def test_tuples_ranges_and_dates_are_written_like_lists_and_datetimes(tmp_path):
    observer = started_file_observer(tmp_path / "runs")
    day = dt.date(2024, 5, 2)
    observer.log_metrics({"loss": series(range(2), (0.5, 0.25), (T0, day))}, info={})
    observer.completed_event(stop_time=T0, result=None)
    stored = json.loads((tmp_path / "runs" / "1" / "metrics.json").read_text())
    assert stored == {
        "loss": {"steps": [0, 1], "values": [0.5, 0.25], "timestamps": [T0.isoformat(), day.isoformat()]}
    }


def test_the_metric_log_gets_the_ordinary_file_mode(tmp_path):
    umask = os.umask(0o022)
    try:
        observer = started_file_observer(tmp_path / "runs")
        observer.log_metrics({"loss": series([0], [1.0], [T0])}, info={})
    finally:
        os.umask(umask)
    mode = stat.S_IMODE(os.stat(tmp_path / "runs" / "1" / "metrics.jsonl").st_mode)
    assert mode == 0o644  # 0o666 less the umask: not executable, readable by others like metrics.json


def test_after_the_end_the_summary_describes_metrics_json(tmp_path):
    observer = started_file_observer(tmp_path / "runs")
    observer.log_metrics({"loss": series([0, 1], [3.0, 1.0], [T0, T0])}, info={})
    observer.heartbeat_event(info={}, captured_out="", beat_time=T0, result=None)
    observer.completed_event(stop_time=T0, result=None)
    run_dir = tmp_path / "runs" / "1"
    summary = json.loads((run_dir / "metrics_summary.json").read_text())
    assert summary["json_size"] == os.path.getsize(run_dir / "metrics.json") > 0
    assert summary["metrics"]["loss"] == {"last": 1.0, "min": 1.0, "max": 3.0, "count": 2}
    assert not (run_dir / "metrics.jsonl").exists()  # metrics.json is the one copy now


def test_a_write_cut_short_by_a_full_disk_leaves_the_log_as_it_was(tmp_path):
    # a file-size limit makes the kernel take part of the batch and then refuse the rest (EFBIG), as
    # a filling disk does; SIGXFSZ is ignored so the refusal is an error, not the end of the process
    import errno
    import resource
    import signal

    observer = started_file_observer(tmp_path / "runs")
    observer.log_metrics({"loss": series([0], [1.0], [T0])}, info={})
    log = tmp_path / "runs" / "1" / "metrics.jsonl"
    before = log.read_bytes()
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (len(before) + 10, hard))
    try:
        with pytest.raises(OSError) as refused:
            observer.log_metrics({"loss": series([1, 2, 3], [0.5, 0.25, 0.125], [T0] * 3)}, info={})
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert refused.value.errno == errno.EFBIG
    assert log.read_bytes() == before  # cut back: the retry starts on a fresh line
    observer.log_metrics({"loss": series([1], [0.5], [T0])}, info={})
    observer.completed_event(stop_time=T0, result=None)
    stored = json.loads((tmp_path / "runs" / "1" / "metrics.json").read_text())
    assert stored["loss"]["steps"] == [0, 1]
