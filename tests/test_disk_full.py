"""Disk full on the file store: an append that cannot finish is cut back, so the retry once space
returns leaves a log every reader reads whole; damaged files are reported, never hidden or changed.

The disk is a real tmpfs of a few pages, mounted for the test (root only; skipped with the reason
otherwise); it is filled with a filler file and emptied again while the run goes on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from experimentkit.backends.file.schema import load_run_metrics, read_metrics_log
from experimentkit.context import current_run
from experimentkit.observers import FileStorageObserver
from experimentkit.query import open_store
from experimentkit.testing import make_run
from tests.file_observer_support import started_file_observer

REPO = str(Path(__file__).resolve().parents[1])
T0 = dt.datetime(2026, 1, 1)


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs (mounted and unmounted here)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'not root'})")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(disk: Path, leave: int) -> Path:
    """Fill the disk up to ``leave`` free bytes (about) with one filler file."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as fh, contextlib.suppress(OSError):
        while True:
            fh.write(b"\0" * 4096)
    assert os.statvfs(disk).f_bavail == 0
    if leave:
        os.truncate(filler, os.path.getsize(filler) - leave)
    return filler


def batch(start, count):
    steps = list(range(start, start + count))
    return {
        "loss": {"name": "loss", "steps": steps, "values": [s / 7 for s in steps], "timestamps": [T0] * count}
    }


def test_a_short_write_is_cut_back_and_the_retry_stores_every_point_once(small_disk):
    obs = started_file_observer(small_disk / "runs", T0)
    obs.log_metrics(batch(0, 100), {})
    log = Path(obs.dir) / "metrics.jsonl"
    size = log.stat().st_size
    filler = fill(small_disk, leave=8192)  # room for part of the next batch only
    with pytest.raises(OSError) as info:
        obs.log_metrics(batch(100, 2000), {})
    assert info.value.errno == errno.ENOSPC
    assert log.stat().st_size == size  # the half line is gone
    assert read_metrics_log(log)["loss"]["steps"] == list(range(100))
    filler.unlink()  # space returns: the dispatcher's retry sends the same batch again
    obs.log_metrics(batch(100, 2000), {})
    assert read_metrics_log(log)["loss"]["steps"] == list(range(2100))
    obs.completed_event(stop_time=T0, result=1)
    steps = json.loads((Path(obs.dir) / "metrics.json").read_text())["loss"]["steps"]
    assert steps == list(range(2100))
    assert not log.exists()  # metrics.json is the one copy now


def test_a_run_whose_disk_fills_up_and_empties_completes_with_every_point(small_disk, tmp_path):
    """Through the dispatcher: the failing batch is buffered (a journal is kept elsewhere), the
    heartbeat retry delivers it once there is space again, no journal is left."""
    filler_box = {}

    def main():
        run = current_run()
        for i in range(100):
            run.log_scalar("loss", i)
        run._beat()
        filler_box["f"] = fill(small_disk, leave=8192)
        for i in range(100, 3000):
            run.log_scalar("loss", i)
        run._beat()  # fails: disk full
        filler_box["f"].unlink()
        run._dispatcher.retry()  # what the next heartbeat does
        for i in range(3000, 3100):
            run.log_scalar("loss", i)
        return "ok"

    observer = FileStorageObserver(small_disk / "runs")
    run = make_run(
        main,
        {},
        [observer],
        logger=logging.getLogger("test_disk_full"),
        capture_mode="sys",
        beat_interval=0,
        observer_retry_seconds=1,
        fallback_dir=str(tmp_path / "fallback"),
    )
    assert run() == "ok"
    assert run.fallback_journals == []
    run_dir = small_disk / "runs" / "1"
    stored = json.loads((run_dir / "run.json").read_text())
    assert stored["status"] == "COMPLETED"
    steps = json.loads((run_dir / "metrics.json").read_text())["loss"]["steps"]
    assert steps == list(range(3100))  # logged = stored, 0 duplicated
    with open_store(str(small_disk / "runs")) as store:
        record = store.get("1")
        assert record.damaged == [] and record.metrics["loss"]["count"] == 3100


def test_readers_skip_a_torn_line_and_say_where(tmp_path):
    run_dir = tmp_path / "runs" / "1"
    obs = FileStorageObserver(tmp_path / "runs")
    obs.started_event(
        ex_info={"name": "e", "base_dir": "", "sources": []},
        command="main",
        host_info={},
        start_time=T0,
        config={"lr": 0.1},
        meta_info={},
        _id=None,
    )
    obs.log_metrics(batch(0, 10), {})
    with open(run_dir / "metrics.jsonl", "ab") as fh:  # what an older writer left on a full disk
        fh.write(b'{"name":"loss","steps":[10,11],"val')
        fh.write(b"\n")
    obs.log_metrics(batch(10, 5), {})
    damaged: list = []
    assert load_run_metrics(run_dir, damaged)["loss"]["steps"] == list(range(15))
    assert damaged == [
        "metrics.jsonl: line 2 is not valid JSON (Unterminated string starting at: "
        "line 1 column 32 (char 31))"
    ]
    obs.completed_event(stop_time=T0, result=1)  # the end is not blocked by the torn line
    assert json.loads((run_dir / "metrics.json").read_text())["loss"]["steps"] == list(range(15))
    damaged = []  # the log stays, so that readers still say what could not be read
    assert load_run_metrics(run_dir, damaged)["loss"]["steps"] == list(range(15))
    assert damaged[0].startswith("metrics.jsonl: line 2 is not valid JSON")


def _cli(cwd, *args):
    return subprocess.run(
        [sys.executable, "-m", "experimentkit", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": REPO},
    )


def test_damaged_runs_are_marked_by_ls_and_named_by_show_and_never_changed(tmp_path):
    for i in range(4):
        obs = FileStorageObserver(tmp_path / "runs")
        obs.started_event(
            ex_info={"name": "e", "base_dir": "", "sources": []},
            command="main",
            host_info={},
            start_time=T0,
            config={"lr": 0.1},
            meta_info={},
            _id=None,
        )
        obs.log_metrics(batch(0, 10), {})
        if i == 2:  # a line an older writer tore (the run's end keeps such a log)
            with open(tmp_path / "runs" / "3" / "metrics.jsonl", "ab") as fh:
                fh.write(b"garbage\n")
        obs.completed_event(stop_time=T0, result=1)
    runs = tmp_path / "runs"
    (runs / "1" / "run.json").write_text('{"status": "COMPL')
    (runs / "2" / "config.json").write_text('{"lr": \n 0.1,,}')
    before = {
        p: p.read_bytes()
        for p in runs.rglob("*")
        if p.is_file() and not p.name.startswith(".experimentkit-index")
    }

    listed = _cli(tmp_path, "-S", "runs", "ls", "--columns", "id,status,metrics.loss.count")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split(None, 1) for line in listed.stdout.splitlines()[1:]]
    assert rows == [
        ["1", "DAMAGED              10"],
        ["2", "COMPLETED (damaged)  10"],
        ["3", "COMPLETED (damaged)  10"],
        ["4", "COMPLETED            10"],
    ]

    expected = {
        "1": "run.json: line 1 column 12: Unterminated string starting at",
        "2": "config.json: line 2 column 6: Expecting property name enclosed in double quotes",
        "3": "metrics.jsonl: line 2 is not valid JSON (Expecting value: line 1 column 1 (char 0))",
    }
    for run_id, note in expected.items():
        shown = _cli(tmp_path, "-S", "runs", "show", run_id)
        assert shown.returncode == 1
        assert f"damaged (shown: what could be read; nothing was changed):\n  {note}\n" in shown.stdout
        assert shown.stderr == f"experimentkit: warning: run {run_id} is damaged: {note}\n"
        data = json.loads(_cli(tmp_path, "-S", "runs", "show", run_id, "--format", "json").stdout)
        assert data["damaged"] == [note]
    assert "metrics:" in _cli(tmp_path, "-S", "runs", "show", "3").stdout  # the rest is read
    after = {
        p: p.read_bytes()
        for p in runs.rglob("*")
        if p.is_file() and not p.name.startswith(".experimentkit-index")
    }
    assert after == before
