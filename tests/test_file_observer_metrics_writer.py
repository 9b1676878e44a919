"""The file observer's metrics writer, found missing by mutation testing: the running summaries,
columns given as tuples or ranges, dates among timestamps, the log's file mode, a damaged or torn
log, attaching, and a log too big to hold (streamed)."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import tempfile
import time

import pytest

from experimentkit.backends.file import observer as observer_module
from experimentkit.backends.file.observer import FileStorageObserver
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


# ---- a damaged log, attach, big logs -------------------------------------------------------------
def append_damaged_line(observer):
    """What a writer killed part-way and then continued by another leaves: a line that is not JSON."""
    with open(os.path.join(observer.dir, "metrics.jsonl"), "a") as fh:
        fh.write('{"name": "loss", "steps": [2], garbage\n')


@pytest.fixture(params=["held", "streamed"])
def end_path(request, monkeypatch):
    """metrics.json built from the log read whole ("held"), or streamed as for a log too big to hold
    (the bound lowered to a few bytes)."""
    if request.param == "streamed":
        monkeypatch.setattr(observer_module, "MAX_KEPT_METRIC_CHARS", 50)
    return request.param


def test_a_damaged_line_is_skipped_and_the_log_kept_for_readers_to_report(tmp_path, end_path):
    observer = started_file_observer(tmp_path / "runs")
    observer.log_metrics({"loss": series([0, 1], [1.0, 0.5], [T0, T0])}, info={})
    append_damaged_line(observer)
    observer.log_metrics({"loss": series([3], [0.25], [T0])}, info={})
    observer.completed_event(stop_time=T0, result=None)
    run_dir = tmp_path / "runs" / "1"
    assert json.loads((run_dir / "run.json").read_text())["status"] == "COMPLETED"
    stored = json.loads((run_dir / "metrics.json").read_text())
    assert stored["loss"]["steps"] == [0, 1, 3] and stored["loss"]["values"] == [1.0, 0.5, 0.25]
    assert b"garbage" in (run_dir / "metrics.jsonl").read_bytes()  # kept: readers report it
    assert not (run_dir / "metrics_summary.json").exists()  # a summary would not describe the log


def test_a_late_batch_after_the_end_of_a_run_with_a_damaged_log_is_stored(tmp_path, end_path):
    observer = started_file_observer(tmp_path / "runs")
    observer.log_metrics({"loss": series([0], [1.0], [T0])}, info={})
    append_damaged_line(observer)
    observer.completed_event(stop_time=T0, result=None)
    observer.log_metrics({"loss": series([1], [0.5], [T0])}, info={})  # replayed after the end
    stored = json.loads((tmp_path / "runs" / "1" / "metrics.json").read_text())
    assert stored["loss"]["steps"] == [0, 1]


def test_a_big_log_is_spooled_beside_the_run_not_in_the_system_temp_dir(tmp_path, monkeypatch):
    # the system temp dir may be small (a tmpfs) or gone; the run's own disk has room for its points
    monkeypatch.setattr(observer_module, "MAX_KEPT_METRIC_CHARS", 50)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-dir"))
    observer = started_file_observer(tmp_path / "runs")
    for step in range(3):
        observer.log_metrics({"loss": series([step], [step / 2], [T0])}, info={})
    observer.completed_event(stop_time=T0, result=None)
    run_dir = tmp_path / "runs" / "1"
    assert json.loads((run_dir / "metrics.json").read_text())["loss"]["values"] == [0.0, 0.5, 1.0]
    assert sorted(os.listdir(run_dir)) == [
        "config.json",
        "cout.txt",
        "metrics.json",
        "metrics_summary.json",
        "run.json",
    ]


def test_a_run_without_metrics_ended_by_an_attached_observer_gets_an_empty_metrics_json(tmp_path):
    started_file_observer(tmp_path / "runs")
    other = FileStorageObserver(str(tmp_path / "runs"))
    other.attach("1")
    other.completed_event(stop_time=T0, result=None)
    assert (tmp_path / "runs" / "1" / "metrics.json").read_text() == "{}"


def test_attach_cuts_only_the_torn_tail_of_the_log(tmp_path):
    observer = started_file_observer(tmp_path / "runs")
    observer.log_metrics({"loss": series([0], [1.0], [T0])}, info={})
    observer.log_metrics({"loss": series([1], [0.5], [T0])}, info={})
    with open(os.path.join(observer.dir, "metrics.jsonl"), "a") as fh:
        fh.write('{"name":"loss","steps":[2')  # the writer was killed mid-line
    other = FileStorageObserver(str(tmp_path / "runs"))
    other.attach("1")
    other.log_metrics({"loss": series([2], [0.25], [T0])}, info={})
    other.completed_event(stop_time=T0, result=None)
    stored = json.loads((tmp_path / "runs" / "1" / "metrics.json").read_text())
    assert stored["loss"]["steps"] == [0, 1, 2] and stored["loss"]["values"] == [1.0, 0.5, 0.25]


def test_the_end_builds_metrics_json_from_the_kept_text_up_to_the_bound_without_reading_the_log(
    tmp_path, monkeypatch
):
    # the text kept of every batch appended, up to MAX_KEPT_METRIC_CHARS: the end costs no read of
    # the points (set here to exactly what three batches append)
    batches = [{"loss": series([step], [step / 2], [T0])} for step in range(3)]
    measure = started_file_observer(tmp_path / "measure")
    for batch in batches:
        measure.log_metrics(batch, info={})
    monkeypatch.setattr(
        observer_module,
        "MAX_KEPT_METRIC_CHARS",
        os.path.getsize(tmp_path / "measure" / "1" / "metrics.jsonl"),
    )

    def read_back(*args, **kwargs):
        raise AssertionError("the end read the metric log back")

    monkeypatch.setattr(observer_module, "read_metrics_log", read_back)
    observer = started_file_observer(tmp_path / "runs")
    for batch in batches:
        observer.log_metrics(batch, info={})
    observer.completed_event(stop_time=T0, result=None)
    stored = json.loads((tmp_path / "runs" / "1" / "metrics.json").read_text())
    assert stored["loss"]["values"] == [0.0, 0.5, 1.0]


def test_a_heartbeat_without_new_points_does_not_rewrite_the_summary(tmp_path):
    observer = started_file_observer(tmp_path / "runs")
    observer.log_metrics({"loss": series([0], [1.0], [T0])}, info={})
    summary = tmp_path / "runs" / "1" / "metrics_summary.json"
    observer.heartbeat_event(info={}, captured_out="", beat_time=T0, result=None)
    written = os.stat(summary).st_ino  # each write replaces the file: a new inode
    observer.heartbeat_event(info={}, captured_out="", beat_time=T0, result=None)
    assert os.stat(summary).st_ino == written
    observer.log_metrics({"loss": series([1], [0.5], [T0])}, info={})
    observer.heartbeat_event(info={}, captured_out="", beat_time=T0, result=None)
    assert os.stat(summary).st_ino != written
    assert json.loads(summary.read_text())["metrics"]["loss"]["count"] == 2


def test_an_append_the_kernel_cuts_short_is_finished_with_the_rest(tmp_path):
    # a signal that arrives while a write waits for room returns the part written so far (here: a
    # full pipe, the one place a short write can be made on demand; a filling disk does it too)
    fcntl = pytest.importorskip("fcntl")
    import signal
    import termios
    import threading

    fifo = str(tmp_path / "metrics.jsonl")
    os.mkfifo(fifo)
    data = b"".join(b'{"name":"loss","steps":[%d]}\n' % i for i in range(40_000))  # > a pipe's room
    main = threading.get_ident()
    received, problems = [], []

    def reader():
        fd = os.open(fifo, os.O_RDONLY)
        try:
            room = fcntl.fcntl(fd, 1032)  # F_GETPIPE_SZ
            deadline = time.monotonic() + 60
            while int.from_bytes(fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4), "little") < room:
                if time.monotonic() > deadline:
                    problems.append("the pipe never filled")
                    break
                time.sleep(0.001)
            signal.pthread_kill(main, signal.SIGUSR1)  # the writer waits for room: cut its write short
            size = 0
            while size <= len(data) and (chunk := os.read(fd, min(1 << 16, len(data) + 1 - size))):
                received.append(chunk)  # a byte more than was sent ends the reading: the writer fails
                size += len(chunk)
        finally:
            os.close(fd)

    previous = signal.signal(signal.SIGUSR1, lambda *_: None)  # a handler: the write is interrupted
    thread = threading.Thread(target=reader)
    thread.start()
    try:
        observer_module._append(fifo, data)
    finally:
        thread.join(60)
        signal.signal(signal.SIGUSR1, previous)
    assert problems == []
    assert b"".join(received) == data  # every byte once, in order
