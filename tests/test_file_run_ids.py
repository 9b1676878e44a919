"""Run ids of the file store: allocated from a counter under a lock (no listing of every run per
start), still Sacred's integer directory names, and still right when directories are made by hand
or by Sacred's own observer in the same base directory."""

from __future__ import annotations

import datetime as dt
import sys

import pytest

from experimentkit.backends.file.observer import FileStorageObserver

T0 = dt.datetime(2024, 5, 1, 12)
EX = {"name": "ids", "base_dir": "", "sources": [], "dependencies": [], "repositories": [], "mainfile": None}


def _start(basedir, _id=None):
    obs = FileStorageObserver(str(basedir))
    run_id = obs.started_event(
        ex_info=EX, command="main", host_info={}, start_time=T0, config={}, meta_info={}, _id=_id
    )
    obs.completed_event(stop_time=T0, result=None)
    return run_id


@pytest.mark.skipif(sys.platform == "win32", reason="the counter needs fcntl; Windows scans")
def test_ids_count_on_past_hand_made_directories(tmp_path):
    base = tmp_path / "runs"
    base.mkdir()
    for name in ("1", "2", "7", "notes"):  # a store made before the counter, and a stray folder
        (base / name).mkdir()
    assert _start(base) == "8"  # no counter yet: the directory is scanned once
    assert (base / ".experimentkit-next-id").read_text() == "9\n"
    (base / "9").mkdir()  # made by hand where the counter points: scanned again
    (base / "10").mkdir()
    assert _start(base) == "11"
    assert _start(base, _id="custom") == "custom"  # chosen ids leave the counter alone
    assert _start(base) == "12"


@pytest.mark.skipif(sys.platform == "win32", reason="the counter needs fcntl; Windows scans")
def test_a_deleted_newest_run_does_not_give_its_id_to_the_next(tmp_path):
    """As with SQL's AUTOINCREMENT: an id names one run, even after that run is deleted."""
    base = tmp_path / "runs"
    assert [_start(base) for _ in range(3)] == ["1", "2", "3"]
    for path in sorted((base / "3").iterdir()):
        path.unlink()
    (base / "3").rmdir()
    assert _start(base) == "4"


@pytest.mark.skipif(sys.platform == "win32", reason="the counter needs fcntl; Windows scans")
def test_a_damaged_counter_falls_back_to_scanning(tmp_path):
    base = tmp_path / "runs"
    assert _start(base) == "1"
    (base / ".experimentkit-next-id").write_text("garbage")
    assert _start(base) == "2"
    (base / ".experimentkit-next-id").write_text("1\n")  # behind the directories (a crash)
    assert _start(base) == "3"
