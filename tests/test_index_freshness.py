"""The file store's index stays correct without a ``stat`` per run: new runs from a foreign writer
(Sacred 0.8.7 in a subprocess), runs deleted or replaced by hand, a running run's new points, a
replay reaching an ended run, tags set by another process; and the number of ``stat`` and listing
calls a warm query makes does not grow with the number of runs."""

from __future__ import annotations

import builtins
import datetime as _dt
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from file_store_support import age_files, run_spec, write_runs

from experimentkit.backends.file.observer import FileStorageObserver
from experimentkit.backends.file.schema import CHANGES_FILE
from experimentkit.backends.file.store import FileStore
from experimentkit.errors import QueryError

T = _dt.datetime


def _spec(run_id: str, status: str = "COMPLETED", lr: float = 0.1) -> dict:
    config = {"lr": lr, "optimizer": "adam" if int(run_id) % 2 else "sgd"}
    return run_spec(run_id, status, acc=int(run_id) / 100, config=config)


def _ids(store: FileStore, *where: str) -> list:
    return [r.id for r in store.runs().where(*where).order_by("id").all()]


def _aged_store(tmp_path: Path, count: int, **kwargs: Any) -> tuple:
    base = tmp_path / "runs"
    write_runs(base, [_spec(str(i), **kwargs) for i in range(1, count + 1)], tmp_path)
    age_files(base)
    store = FileStore(base)
    assert store.refresh()["read"] == count
    return base, store


SACRED_SCRIPT = textwrap.dedent("""
    import sys
    from sacred import Experiment
    from sacred.observers import FileStorageObserver

    ex = Experiment("foreign")
    ex.observers.append(FileStorageObserver(sys.argv[1]))

    @ex.config
    def cfg():
        lr = 0.5

    @ex.main
    def main(_run, lr):
        _run.log_scalar("acc", 0.97)
        return lr

    ex.run()
""")


def test_a_run_written_by_sacreds_own_observer_is_seen(tmp_path: Path) -> None:
    pytest.importorskip("sacred")
    base, store = _aged_store(tmp_path, 3)
    assert store.refresh()["read"] == 0
    script = tmp_path / "foreign.py"
    script.write_text(SACRED_SCRIPT)
    done = subprocess.run([sys.executable, str(script), str(base)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert not (base / CHANGES_FILE).exists()  # Sacred knows nothing of the journal
    assert _ids(store, "config.lr == 0.5") == ["4"]
    assert store.get("4").metrics["acc"]["last"] == 0.97
    assert _ids(store) == ["1", "2", "3", "4"]


def test_a_run_deleted_or_replaced_by_hand(tmp_path: Path) -> None:
    base = tmp_path / "runs"
    specs = [_spec(str(i)) for i in range(1, 5)]
    specs[1]["config"]["rare"] = 1  # a key only run 2 has
    write_runs(base, specs, tmp_path)
    age_files(base)
    store = FileStore(base)
    assert _ids(store, "config.rare == 1") == ["2"]
    shutil.rmtree(base / "2")
    assert _ids(store) == ["1", "3", "4"]
    assert store.count() == 3
    with pytest.raises(QueryError, match="config.rare"):  # the key went with its last run
        store.runs().where("config.rare == 1").all()
    # run 3 replaced by another directory of the same name (a new inode in the listing)
    shutil.move(str(base / "3"), str(tmp_path / "old3"))
    other = tmp_path / "other"
    write_runs(other, [_spec("3", lr=0.9)], tmp_path)
    age_files(other)
    shutil.move(str(other / "3"), str(base / "3"))
    assert _ids(store, "config.lr == 0.9") == ["3"]
    assert _ids(store) == ["1", "3", "4"]


def test_a_running_runs_points_and_end_are_seen(tmp_path: Path) -> None:
    base, store = _aged_store(tmp_path, 3)
    observer = FileStorageObserver(str(base))
    observer.started_event(
        ex_info={"name": "live", "base_dir": str(tmp_path), "sources": [], "dependencies": []},
        command="main",
        host_info={},
        start_time=_dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None),
        config={"lr": 0.3},
        meta_info={},
        _id=None,
    )
    assert _ids(store, "status == RUNNING") == ["4"]
    age_files(base)  # nothing below may rely on a recent mtime
    for value in (0.5, 0.8):
        observer.log_metrics(
            {"acc": {"name": "acc", "steps": [0], "values": [value], "timestamps": [T(2024, 1, 2)]}}, {}
        )
        assert store.runs().where("status == RUNNING").all()[0].metrics["acc"]["last"] == value
    observer.completed_event(stop_time=T(2024, 1, 3), result=42)
    assert _ids(store, "result == 42", "status == COMPLETED") == ["4"]


def test_a_replay_into_an_ended_run_and_tags_from_another_process(tmp_path: Path) -> None:
    base, store = _aged_store(tmp_path, 3)
    observer = FileStorageObserver(str(base))
    observer.attach("2")  # `experimentkit sync` delivering a late batch to an ended run
    observer.log_metrics(
        {"acc": {"name": "acc", "steps": [1], "values": [0.99], "timestamps": [T(2024, 1, 2)]}}, {}
    )
    age_files(base)
    assert _ids(store, "metrics.acc > 0.9") == ["2"]
    assert store.refresh()["read"] == 0  # read once, then trusted again
    other = FileStore(base, index_path=str(tmp_path / "elsewhere.sqlite"))
    other.add_tags("3", ["best"])
    age_files(base)
    assert _ids(store, "tags contains best") == ["3"]


def test_hand_edits_of_an_ended_run_need_a_full_refresh_and_a_lost_journal_forces_one(
    tmp_path: Path,
) -> None:
    base, store = _aged_store(tmp_path, 3)
    config = base / "1" / "config.json"
    config.write_text(json.dumps({"lr": 0.7, "optimizer": "adam"}))
    age_files(base)
    assert store.refresh(full=True)["read"] == 3
    assert _ids(store, "config.lr == 0.7") == ["1"]
    store.add_tags("1", ["x"])  # creates the journal
    store.refresh()
    (base / CHANGES_FILE).unlink()  # what it said since the last refresh is unknown now
    assert store.refresh()["read"] == 3


class _CountingEntry:
    """A ``DirEntry`` whose ``stat`` calls are counted."""

    def __init__(self, entry: Any, counts: Counter) -> None:
        self._entry, self._counts = entry, counts

    def __getattr__(self, name: str) -> Any:
        return getattr(self._entry, name)

    def stat(self, **kwargs: Any) -> Any:
        self._counts["DirEntry.stat"] += 1
        return self._entry.stat(**kwargs)


class _CountingScandir:
    def __init__(self, it: Any, counts: Counter) -> None:
        self._it, self._counts = it, counts

    def __enter__(self) -> _CountingScandir:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._it.close()

    def __iter__(self) -> Any:
        return (_CountingEntry(e, self._counts) for e in self._it)


def _count_file_calls(monkeypatch: pytest.MonkeyPatch) -> Counter:
    counts: Counter = Counter()
    real = {name: getattr(os, name) for name in ("stat", "lstat", "listdir")}
    real_scandir, real_open = os.scandir, builtins.open

    def counted(name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            counts[name] += 1
            return real[name](*args, **kwargs)

        return call

    def scandir(*args: Any) -> Any:
        counts["scandir"] += 1
        return _CountingScandir(real_scandir(*args), counts)

    def opened(*args: Any, **kwargs: Any) -> Any:
        counts["open"] += 1
        return real_open(*args, **kwargs)

    for name in real:
        monkeypatch.setattr(os, name, counted(name))
    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(builtins, "open", opened)
    return counts


@pytest.mark.parametrize("live", [0, 2])
def test_a_warm_query_makes_as_many_file_calls_for_60_runs_as_for_15(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, live: int
) -> None:
    calls = []
    for count in (15, 60):
        base = tmp_path / str(count)
        specs = [_spec(str(i)) for i in range(1, count + 1)]
        specs += [_spec(str(count + i), "RUNNING") for i in range(1, live + 1)]
        write_runs(base, specs, tmp_path)
        store = FileStore(base)  # creates the index file: the base directory changes
        store.refresh()
        age_files(base)
        store.refresh()  # lists the base once more, then trusts its mtime
        with monkeypatch.context() as patched:
            counts = _count_file_calls(patched)
            top = store.runs().where("config.optimizer == adam").order_by("-metrics.acc").limit(3).all()
        adam = [i for i in range(count + live, 0, -1) if i % 2]  # odd ids, acc = id / 100
        assert [r.id for r in top] == [str(i) for i in adam[:3]]
        calls.append(counts)
        store.close()
    assert calls[0] == calls[1]
    assert calls[0]["scandir"] == 0 and calls[0]["DirEntry.stat"] == 0  # the base is not listed
    assert calls[0]["stat"] <= 2 + 5 * live  # the base and the watched runs' files


def test_top_k_by_a_metric_matches_the_full_ordering(tmp_path: Path) -> None:
    """The index walk of a top-k (limit + order by one metric) gives the rows of the full order:
    mixed value types, NaN, missing metrics, ties, both directions, offsets, filters."""
    values: list = [0.5, 3, float("nan"), "high", True, 0.5, None, -1, 2.5, "low", 7, 0.5]
    specs = []
    for i, value in enumerate(values, start=1):
        spec = _spec(str(i), lr=0.01 if i % 3 else 0.3)
        if value is None:
            spec["metrics"] = {}
        else:
            points = {"steps": [0, 1], "values": [i, value], "timestamps": [T(2024, 1, 1)] * 2}
            spec["metrics"] = {"m": points}
        specs.append(spec)
    base = tmp_path / "runs"
    write_runs(base, specs, tmp_path)
    store = FileStore(base)
    for order in ("-metrics.m", "metrics.m", "metrics.m.max", "-metrics.m.min"):
        for where in ((), ("config.lr < 0.1",), ("config.optimizer == adam", "metrics.m.count >= 2")):
            full = [r.id for r in store.runs().where(*where).order_by(order).all()]
            for offset, limit in ((0, 3), (2, 4), (0, 20), (5, 0)):
                runs = store.runs().where(*where).order_by(order).offset(offset).limit(limit).all()
                assert [r.id for r in runs] == full[offset : offset + limit], (order, where, offset)


def test_a_directory_without_run_json_is_watched_without_rewriting_the_index(tmp_path: Path) -> None:
    base, store = _aged_store(tmp_path, 2)
    (base / "3").mkdir()  # a run still starting (or a folder that is no run at all)
    (base / "3" / "config.json").write_text('{"lr": 0.2}')
    age_files(base)
    assert _ids(store) == ["1", "2"]
    index = base / ".experimentkit-index.sqlite"
    before = index.stat().st_mtime_ns
    assert _ids(store) == ["1", "2"] and store.refresh() == {"read": 0, "dropped": 0, "runs": 3}
    assert index.stat().st_mtime_ns == before  # nothing re-read, nothing written
    (base / "3" / "run.json").write_text(json.dumps({"status": "RUNNING"}))  # as Sacred: in place
    assert _ids(store, "config.lr == 0.2") == ["3"]
