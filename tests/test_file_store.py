"""FileStore over real file-storage directories: the shared query cases, index freshness while runs
are written, annotations, per-sample rows, artifact safety and DEAD detection."""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import shutil
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from file_store_support import age_files, run_spec, write_runs
from store_conformance import StoreConformance

from experimentkit.backends.file import index as index_module
from experimentkit.backends.file.index import INDEX_FILE
from experimentkit.backends.file.observer import FileStorageObserver
from experimentkit.backends.file.store import FileStore
from experimentkit.errors import StoreError
from experimentkit.query import open_store

T = _dt.datetime


class TestFileStore(StoreConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def make_store(cls, tmp_path_factory: Any) -> Any:
        def make(specs: list, **store_kwargs: Any) -> FileStore:
            base = tmp_path_factory.mktemp("runs")
            write_runs(base, specs, tmp_path_factory.mktemp("art"))
            return open_store(str(base), **store_kwargs)

        return make

    @pytest.fixture
    def reopen(self) -> Any:
        return lambda store: FileStore(store.path)


class TestFileStoreInMemoryIndex(StoreConformance):
    """The same cases with the index kept in memory (what a read-only directory gets)."""

    @pytest.fixture(scope="class")
    @classmethod
    def make_store(cls, tmp_path_factory: Any) -> Any:
        def make(specs: list, **store_kwargs: Any) -> FileStore:
            base = tmp_path_factory.mktemp("runs")
            write_runs(base, specs, tmp_path_factory.mktemp("art"))
            return FileStore(base, index_path=":memory:", **store_kwargs)

        return make


# --------------------------------------------------------------------------------------------------
# the SQL translation against the reference semantics, on random data
# --------------------------------------------------------------------------------------------------
def _random_specs(count: int) -> list:
    import random

    rnd = random.Random(7)
    pool = [
        None,
        True,
        False,
        0,
        1,
        1.0,
        2,
        -3,
        0.5,
        0.1,
        1e9,
        "a",
        "b",
        "10",
        "",
        "a b",
        [1, 2],
        ["a", 1],
        [],
        {"x": 1},
    ]
    now = _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    specs = []
    for i in range(count):
        config = {
            "lr": rnd.choice([0.1, 0.01, 0.05, 1, 2, "0.1", True]),
            "v": rnd.choice(pool),
            "opt": rnd.choice([{"name": "adam", "m": rnd.choice(pool)}, "sgd", None]),
        }
        if rnd.random() < 0.3:
            del config["v"]
        metrics = {}
        for name in ("acc", "loss.val"):
            if rnd.random() < 0.8:
                values = [rnd.choice([0.1, 0.5, 0.9, 1, 2, None]) for _ in range(rnd.randint(1, 4))]
                metrics[name] = {
                    "steps": list(range(len(values))),
                    "values": values,
                    "timestamps": [now] * len(values),
                }
        status = rnd.choice(["COMPLETED", "FAILED", "RUNNING", "INTERRUPTED"])
        start = now - _dt.timedelta(hours=rnd.randint(0, 1000))
        spec = {
            "id": str(rnd.choice([i + 1, i + 1, f"x{i}"])),
            "command": rnd.choice(["a", "b"]),
            "experiment": {
                "name": rnd.choice(["e1", "e2"]),
                "base_dir": "/",
                "sources": [],
                "dependencies": [],
                "repositories": [],
                "mainfile": "m.py",
            },
            "status": status,
            "config": config,
            "host": {"hostname": rnd.choice(["h1", "h2", "h10"])},
            "meta": {"comment": rnd.choice(["ok", "tried a b", None])},
            "info": {"nan": float("nan")} if rnd.random() < 0.2 else {"n": rnd.choice(pool)},
            "start_time": start,
            "heartbeat": start + _dt.timedelta(minutes=rnd.randint(0, 5)),
            "result": rnd.choice(pool[:12]),
            "metrics": metrics,
            "tags": rnd.sample(["t1", "t2", "t3"], rnd.randint(0, 2)),
            "notes": rnd.choice(["", "good run", "bad"]),
        }
        if status != "RUNNING":
            spec["stop_time"] = spec["heartbeat"]
        if status == "FAILED":
            spec["fail_trace"] = ["x"]
        specs.append(spec)
    unique = {s["id"]: s for s in specs}
    return list(unique.values())


@pytest.fixture(scope="module")
def twin_stores(tmp_path_factory: Any) -> Any:
    from experimentkit.query.memory import InMemoryStore

    specs = _random_specs(40)
    base = tmp_path_factory.mktemp("twin")
    write_runs(base, specs, tmp_path_factory.mktemp("art"))
    store = FileStore(base)
    reference = InMemoryStore(json.loads(json.dumps(specs, default=str)))
    for spec in specs:
        if spec["tags"]:
            store.add_tags(spec["id"], spec["tags"])
        if spec["notes"]:
            store.set_note(spec["id"], spec["notes"])
    yield store, reference
    store.close()


_KEYS = [
    "id",
    "status",
    "experiment",
    "command",
    "config.lr",
    "config.v",
    "config.opt",
    "config.opt.name",
    "config.opt.m",
    "host.hostname",
    "meta.comment",
    "info.n",
    "info.nan",
    "result",
    "tags",
    "notes",
    "metrics.acc",
    "metrics.acc.min",
    "metrics.acc.max",
    "metrics.acc.count",
    "metrics.loss.val",
    "metrics.loss.val.max",
    "start_time",
    "stop_time",
]
_ORDER_KEYS = [k for k in _KEYS if k not in ("info.nan",)]


def _filter_values() -> Any:
    from hypothesis import strategies as st

    scalars = st.sampled_from(
        [
            None,
            True,
            False,
            0,
            1,
            2,
            0.5,
            0.1,
            0.05,
            "a",
            "b",
            "10",
            "",
            "sgd",
            "adam",
            "t1",
            "t2",
            "1",
            "x3",
            "COMPLETED",
            "DEAD",
            "h1",
            "e1",
            "ok",
            "run",
            "2024-01-01",
        ]
    )
    return scalars | st.lists(scalars, max_size=3)


def test_sql_translation_matches_reference(twin_stores: Any) -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from experimentkit.errors import QueryError
    from experimentkit.query import Filter, Order, Query

    store, reference = twin_stores
    ops = ["==", "!=", "<", "<=", ">", ">=", "contains", "in"]

    @settings(max_examples=250, deadline=None)
    @given(
        st.lists(st.tuples(st.sampled_from(_KEYS), st.sampled_from(ops), _filter_values()), max_size=2),
        st.lists(st.tuples(st.sampled_from(_ORDER_KEYS), st.booleans()), max_size=2),
        st.none() | st.integers(0, 5),
        st.integers(0, 3),
    )
    def check(filters: list, orders: list, limit: Any, offset: int) -> None:
        built = []
        for key, op, value in filters:
            try:
                built.append(Filter(key, op, value))
            except QueryError:
                return
        q = Query(
            filters=tuple(built), order=tuple(Order(k, d) for k, d in orders), limit=limit, offset=offset
        )
        expected = [r.id for r in reference.query(q)]
        assert [r.id for r in store.query(q)] == expected, store.explain(q)
        assert store.count(q) == reference.count(q)

    check()


def test_common_queries_run_in_sql(twin_stores: Any) -> None:
    from experimentkit.query import Query, parse_order, parse_where

    store, _ = twin_stores
    q = Query(
        filters=(
            parse_where("config.lr < 0.05"),
            parse_where("status == COMPLETED"),
            parse_where("tags contains t1"),
            parse_where("metrics.acc.max > 0.2"),
        ),
        order=(parse_order("-metrics.acc"),),
        limit=10,
    )
    plan = store.explain(q)
    assert plan["in_python"] == [] and plan["order_in_sql"] and plan["limit_in_sql"]
    assert plan["top_k"] == (
        "walks the index metrics(last) of 'acc' from the highest value, testing the filters on each"
        " run until 10 pass"
    )
    # no limit, or a second sort key: the ORDER BY of ``sql`` sorts every matching run
    assert store.explain(q.replace(limit=None))["top_k"] is None
    assert store.explain(q.replace(order=(*q.order, parse_order("config.lr"))))["top_k"] is None
    # info holds NaN in some runs: SQL cannot read those documents, so Python filters info keys
    assert store.explain(Query(filters=(parse_where("info.n == 1"),)))["in_python"]


# --------------------------------------------------------------------------------------------------
# the index follows the files
# --------------------------------------------------------------------------------------------------
def _ids(store: FileStore, *where: str, order: str = "id") -> list:
    return [r.id for r in store.runs().where(*where).order_by(order).all()]


def test_index_reads_only_changed_runs_and_survives_reopening(tmp_path: Path) -> None:
    write_runs(tmp_path / "runs", [run_spec(str(i)) for i in range(1, 6)], tmp_path)
    age_files(tmp_path / "runs")
    store = FileStore(tmp_path / "runs")
    assert store.index_path == str(tmp_path / "runs" / INDEX_FILE)
    assert store.refresh() == {"read": 5, "dropped": 0, "runs": 5}
    assert store.refresh()["read"] == 0
    store.add_tags("3", ["keep"])
    assert store.refresh()["read"] == 1
    assert _ids(store, "tags contains keep") == ["3"]
    store.close()
    age_files(tmp_path / "runs" / "3")
    again = FileStore(tmp_path / "runs")  # a fresh process: the index file is reused
    assert again.refresh()["read"] == 1  # only run 3 (changed moments ago, so re-checked)
    assert again.refresh()["read"] == 0
    assert _ids(again, "metrics.acc > 0.25") == ["3", "4", "5"]
    again.close()


def test_query_sees_added_changed_and_deleted_runs(tmp_path: Path) -> None:
    base = tmp_path / "runs"
    write_runs(base, [run_spec("1"), run_spec("2", "RUNNING")], tmp_path)
    age_files(base)
    store = FileStore(base)
    assert _ids(store, "status == RUNNING") == ["2"]
    # the running run logs more metrics (appended, directory untouched) and completes
    observer = FileStorageObserver(str(base))
    observer.attach("2")
    observer.log_metrics(
        {"acc": {"name": "acc", "steps": [1], "values": [0.99], "timestamps": [T(2024, 1, 2)]}}, {}
    )
    assert store.get("2").metrics["acc"]["last"] == 0.99
    assert _ids(store, "metrics.acc > 0.9") == ["2"]
    observer.completed_event(stop_time=T(2024, 1, 3), result=5)
    assert _ids(store, "status == COMPLETED") == ["1", "2"]
    assert _ids(store, "result == 5") == ["2"]
    write_runs(base, [run_spec("3")], tmp_path)
    assert _ids(store) == ["1", "2", "3"]
    import shutil

    shutil.rmtree(base / "1")
    assert _ids(store) == ["2", "3"]
    with pytest.raises(StoreError, match="no run '1'"):
        store.get("1")
    store.close()


def test_in_place_rewrite_of_a_live_sacred_run_is_seen(tmp_path: Path) -> None:
    """Sacred rewrites run.json in place (the directory's mtime does not change)."""
    base = tmp_path / "runs"
    write_runs(base, [run_spec("1", "RUNNING")], tmp_path)
    age_files(base)
    store = FileStore(base)
    assert _ids(store, "status == RUNNING") == ["1"]
    run_json = base / "1" / "run.json"
    entry = json.loads(run_json.read_text())
    entry.update(status="COMPLETED", stop_time="2024-01-01T12:00:00", result=[1, 2])
    with open(run_json, "r+") as f:  # truncate and rewrite the same inode, as Sacred does
        f.truncate(0)
        f.write(json.dumps(entry))
    assert _ids(store, "status == COMPLETED") == ["1"]
    assert store.get("1").result == [1, 2]


def test_runs_written_while_querying(tmp_path: Path) -> None:
    base = tmp_path / "runs"
    base.mkdir()
    store = FileStore(base)
    done = threading.Event()

    def writer() -> None:
        for i in range(1, 31):
            write_runs(base, [run_spec(str(i), "RUNNING")], tmp_path)
            observer = FileStorageObserver(str(base))
            observer.attach(str(i))
            observer.completed_event(stop_time=T(2024, 1, 1), result=i)
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    seen = 0
    while not done.is_set():
        runs = store.runs().all()
        assert len(runs) >= seen  # runs only appear
        assert all(r.raw_status in ("RUNNING", "COMPLETED") for r in runs)
        assert all(r.result == int(r.id) for r in runs if r.raw_status == "COMPLETED")
        seen = len(runs)
    thread.join()
    assert _ids(store, "status == COMPLETED") == [str(i) for i in range(1, 31)]
    assert store.count() == 30


def test_a_starting_run_is_not_listed_yet(tmp_path: Path) -> None:
    base = tmp_path / "runs"
    write_runs(base, [run_spec("1")], tmp_path)
    (base / "2").mkdir()
    (base / "2" / "config.json").write_text("{}")
    (base / "_sources").mkdir(exist_ok=True)
    store = FileStore(base)
    assert _ids(store) == ["1"]
    with pytest.raises(StoreError, match=r"^no run '2' in "):
        store.get("2")
    (base / "2" / "run.json").write_text(json.dumps({"status": "QUEUED"}))
    assert _ids(store) == ["1", "2"] and store.get("2").status == "QUEUED"


def test_unwritable_or_corrupt_index(tmp_path: Path) -> None:
    base = tmp_path / "runs"
    write_runs(base, [run_spec("1"), run_spec("2")], tmp_path)
    memory = FileStore(base, index_path=str(tmp_path / "no" / "such" / "dir" / "index.sqlite"))
    assert memory.index_path == ":memory:"
    assert _ids(memory, "metrics.acc > 0.15") == ["2"]
    (base / INDEX_FILE).write_bytes(b"this is not sqlite" * 100)
    store = FileStore(base)
    assert _ids(store, "metrics.acc > 0.15") == ["2"]
    assert sqlite3.connect(base / INDEX_FILE).execute("SELECT COUNT(*) FROM runs").fetchone() == (2,)


@contextlib.contextmanager
def _read_only_directory(base: Path) -> Iterator[None]:
    """Make ``base`` unwritable for this process: chmod for a normal user; for root (who ignores
    modes) a tmpfs holding a copy, remounted read-only; skip where neither is possible."""
    if os.geteuid() != 0:
        base.chmod(0o555)
        try:
            yield
        finally:
            base.chmod(0o755)
        return
    copy = base.with_name(base.name + ".src")
    base.rename(copy)
    base.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(base)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"root cannot make a read-only directory here (mount: {mounted.stderr!r})")
    try:
        shutil.copytree(copy, base, dirs_exist_ok=True)
        subprocess.run(["mount", "-o", "remount,ro", str(base)], check=True)
        yield
    finally:
        subprocess.run(["umount", str(base)], check=True)


def test_read_only_directory_keeps_the_index_in_memory(tmp_path: Path) -> None:
    base = tmp_path / "runs"
    write_runs(base, [run_spec("1")], tmp_path)
    with _read_only_directory(base):
        with pytest.raises(OSError):
            (base / "probe").write_text("x")
        store = FileStore(base)
        assert store.index_path == ":memory:" and _ids(store) == ["1"]


def test_racy_timestamps_are_not_trusted(tmp_path: Path, monkeypatch: Any) -> None:
    """A run written in the same clock tick as the scan is looked at again next time."""
    base = tmp_path / "runs"
    write_runs(base, [run_spec("1")], tmp_path)
    store = FileStore(base)
    assert store.refresh()["read"] == 1
    assert store.refresh()["read"] == 1  # its mtimes are recent: not trusted yet
    monkeypatch.setattr(index_module, "RACY_SECONDS", 0.0)
    store.refresh()
    assert store.refresh()["read"] == 0


# --------------------------------------------------------------------------------------------------
# annotations, rows, artifacts, DEAD
# --------------------------------------------------------------------------------------------------
def test_tags_and_notes_live_beside_run_json(tmp_path: Path) -> None:
    base = tmp_path / "runs"
    write_runs(base, [run_spec("1")], tmp_path)
    before = (base / "1" / "run.json").read_bytes()
    store = FileStore(base)
    assert store.add_tags(1, ["a", "b"]) == ["a", "b"]
    store.set_note("1", "looks good")
    assert (base / "1" / "run.json").read_bytes() == before
    saved = json.loads((base / "1" / "experimentkit.json").read_text())
    assert saved == {"tags": ["a", "b"], "notes": "looks good"}
    assert not [p for p in (base / "1").iterdir() if p.name.startswith(".")]
    other = FileStore(base, index_path=":memory:")
    assert other.get("1").tags == ["a", "b"] and other.get("1").notes == "looks good"
    assert _ids(other, "notes contains good") == ["1"]


def test_per_sample_rows_of_the_best_run(tmp_path: Path) -> None:
    """ "From the best run by val.accuracy, the 10 rows with the lowest pixel_accuracy", with real
    runs of an Experiment."""
    from experimentkit import Experiment

    ex = Experiment("seg")
    ex.observers.append(FileStorageObserver(str(tmp_path / "runs")))

    @ex.config
    def cfg() -> None:
        quality = 0.5  # noqa: F841

    @ex.main
    def main(_run: Any, quality: float) -> float:
        for epoch in range(3):
            _run.log_scalar("val.accuracy", quality * (epoch + 1) / 3)
        for part in range(2):
            _run.log_table(
                "predictions",
                [
                    {"image": f"img{part}_{i}.png", "pixel_accuracy": quality * ((i * 7 + part) % 15) / 15}
                    for i in range(15)
                ],
            )
        return quality

    for quality in (0.3, 0.9, 0.6):
        ex.run(config_updates={"quality": quality})
    store = open_store(str(tmp_path / "runs"))
    best = store.best("val.accuracy")
    assert best.config["quality"] == 0.9
    rows = best.rows("predictions", sort="pixel_accuracy", limit=10)
    everything = store.rows(best.id, "predictions")
    assert len(everything) == 30
    expected = sorted(everything, key=lambda r: r["pixel_accuracy"])[:10]
    assert [r["pixel_accuracy"] for r in rows] == [r["pixel_accuracy"] for r in expected]
    assert best.tables() == ["predictions"]
    worst = best.rows("predictions", where="image contains img1_", sort="-pixel_accuracy", limit=2)
    assert len(worst) == 2 and all(r["image"].startswith("img1_") for r in worst)


def test_artifacts_cannot_leave_the_store(tmp_path: Path) -> None:
    base = tmp_path / "runs"
    secret = tmp_path / "secret.txt"
    secret.write_text("do not serve")
    write_runs(base, [run_spec("1", artifacts={"model.txt": "weights"})], tmp_path)
    store = FileStore(base)
    with store.artifact("1", "model.txt") as f:
        assert f.read() == b"weights"
    # a crafted run.json listing names that point elsewhere
    run_json = base / "1" / "run.json"
    entry = json.loads(run_json.read_text())
    os.symlink(secret, base / "1" / "link.txt")
    entry["artifacts"] += ["../../secret.txt", str(secret), "link.txt", "../1/model.txt"]
    run_json.write_text(json.dumps(entry))
    for name in ("../../secret.txt", str(secret), "link.txt"):
        with pytest.raises(StoreError, match="outside"):
            store.artifact("1", name)
    with pytest.raises(StoreError, match="no artifact"):
        store.artifact("1", "config.json")  # files of the store are not artifacts
    for bad_id in ("..", "../runs/1", "_sources", "/", ""):
        with pytest.raises(StoreError, match="no run"):
            store.get(bad_id)
    with pytest.raises(StoreError, match=r"^run 1 has no table '\.\./\.\./secret' \(it has no tables\)$"):
        store.rows("1", "../../secret")


def test_dead_runs(tmp_path: Path) -> None:
    now = _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)
    base = tmp_path / "runs"
    write_runs(
        base,
        [
            run_spec("1", "RUNNING", heartbeat=now - _dt.timedelta(minutes=10)),
            run_spec("2", "RUNNING", heartbeat=now),
            run_spec("3", "COMPLETED", heartbeat=now - _dt.timedelta(days=9)),
        ],
        tmp_path,
    )
    store = FileStore(base)
    assert _ids(store, "status == DEAD") == ["1"]
    assert _ids(store, "status == RUNNING") == ["2"]
    assert store.get("1").status == "DEAD" and store.get("1").raw_status == "RUNNING"
    assert store.explain(store.runs().where("status == DEAD").query)["in_python"] == []
    patient = FileStore(base, dead_after=3600)
    assert _ids(patient, "status == RUNNING") == ["1", "2"]
    later = FileStore(base, clock=lambda: now + _dt.timedelta(hours=1))
    assert _ids(later, "status == DEAD") == ["1", "2"]


def test_metric_series_and_output(tmp_path: Path) -> None:
    base = tmp_path / "runs"
    spec = run_spec("1", captured_out="hello\n")
    spec["metrics"]["acc"] = {
        "steps": [0, 5],
        "values": [0.5, float("nan")],
        "timestamps": [T(2024, 1, 1), T(2024, 1, 1, 0, 1)],
    }
    write_runs(base, [spec], tmp_path)
    store = FileStore(base)
    series = store.metric("1", "acc")
    assert series.steps == [0, 5] and series.values[0] == 0.5
    steps, values, stamps = series.to_numpy()
    assert steps.tolist() == [0, 5] and str(stamps.dtype) == "datetime64[us]"
    frame = store.get("1").metrics_frame(["acc"])
    assert frame["step"].tolist() == [0, 5] and frame["metric"].tolist() == ["acc", "acc"]
    assert store.captured_out("1") == "hello\n"
    # a NaN last value: the number is neither == None nor comparable
    assert _ids(store, "metrics.acc == None") == []
    assert _ids(store, "metrics.acc > 0") == []
    assert _ids(store, "metrics.acc.max == 0.5") == ["1"]


def test_temporaries_left_by_killed_writers_are_removed_by_the_next_writer(tmp_path: Path) -> None:
    """A writer killed between writing its temporary and renaming it leaves ``.<file>.<pid>.<hex>.tmp``;
    the next write of that run (an annotation, the observer's end) removes those older than an
    hour, and leaves young ones (a writer at work) and files that only look alike."""
    from experimentkit.backends.file.schema import STALE_TEMPORARY_AGE

    base = tmp_path / "runs"
    write_runs(base, [run_spec("1")], tmp_path)
    run_dir = base / "1"
    old = _dt.datetime.now().timestamp() - STALE_TEMPORARY_AGE - 60
    stale = [run_dir / ".run.json.4242.0badc0de.tmp", run_dir / ".experimentkit.json.7.12345678.tmp"]
    young = run_dir / ".run.json.4243.feedf00d.tmp"
    lookalikes = [run_dir / "model.4242.0badc0de.tmp", run_dir / ".notes.tmp"]
    for path in stale + [young] + lookalikes:
        path.write_text("{")
    for path in stale + lookalikes:
        os.utime(path, (old, old))
    FileStore(base).add_tags("1", ["kept"])
    assert not any(p.exists() for p in stale)
    assert young.exists() and all(p.exists() for p in lookalikes)
    assert FileStore(base).get("1").tags == ["kept"]

    # the observer's end of a run does the same in its own directory
    from experimentkit import Experiment

    ex = Experiment("temps")
    ex.observers.append(FileStorageObserver(str(base)))
    seen: list = []

    @ex.main
    def main(_run):
        leftover = Path(_run.observers[0].dir) / ".metrics.json.99.00000000.tmp"
        leftover.write_text("")
        os.utime(leftover, (old, old))
        seen.append(leftover)

    ex.run(options={"--loglevel": "ERROR"})
    assert seen and not seen[0].exists()
