"""One set of query cases for every ``Store`` (shared by the backend test modules; not collected
itself).

Use it from a backend's test module::

    from store_conformance import StoreConformance, emit_events, sample_runs

    class TestSqliteStore(StoreConformance):
        @pytest.fixture(scope="class")
        @classmethod
        def make_store(cls, tmp_path_factory):
            def make(specs, **store_kwargs):      # store_kwargs: dead_after, clock -> the Store
                url = ...fresh database...
                for spec in specs:
                    emit_events(SqlObserver(url), spec, tmp_path_factory.mktemp("art"))
                return SqlStore(url, **store_kwargs)
            return make

``make_store`` must have class scope (or wider) and build a store holding exactly ``specs``.  Tags
and notes in the specs are applied by these tests through ``store.add_tags``/``set_note`` (observers
never write them).  Override the ``reopen`` fixture to check that annotations survive a fresh
``Store``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from pathlib import Path
from typing import Any

import pytest

from experimentkit.errors import QueryError, StoreError
from experimentkit.query import Query, parse_order, parse_row_where, parse_where

__all__ = ["StoreConformance", "sample_runs", "emit_events", "FILTER_CASES", "ORDER_CASES"]

T = _dt.datetime
#: The content of the one resource (``data.csv``) run 2 reads, and its md5.
RESOURCE_TEXT = "x,y\n1,2\n"
RESOURCE_MD5 = hashlib.md5(RESOURCE_TEXT.encode()).hexdigest()


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)


def _series(values: list, start: _dt.datetime) -> dict:
    return {
        "steps": list(range(len(values))),
        "values": values,
        "timestamps": [start + _dt.timedelta(minutes=i) for i in range(len(values))],
    }


def _run(run_id: str, exp: str, status: str, config: dict, host: str, start: Any, **extra: Any) -> dict:
    mainfile = "train.py" if exp == "mnist" else "cifar.py"
    spec = {
        "id": run_id,
        "experiment": {
            "name": exp,
            "base_dir": "/src/project",
            "sources": [],
            "dependencies": [],
            "repositories": [],
            "mainfile": mainfile,
        },
        "status": status,
        "command": "train" if exp == "mnist" else "main",
        "config": config,
        "host": {"hostname": host, "os": ["Linux", "Linux-6"], "python_version": "3.11.0", "cpu": "x86"},
        "meta": {
            "command": "train" if exp == "mnist" else "main",
            "options": {},
            "named_configs": [],
            "config_updates": {},
            "uid": f"u{run_id}",
        },
        "start_time": start,
        "info": {},
        "captured_out": "",
        "metrics": {},
        "tags": [],
        "notes": "",
    }
    spec.update(extra)
    return spec


def sample_runs(now: _dt.datetime | None = None) -> list:
    """Eight runs exercising every key, operator, missing value and tie the cases below rely on.

    Run 5 is RUNNING with a heartbeat 10 minutes in the future of ``now`` (alive however long the
    suite takes); run 6 is RUNNING with a 2024 heartbeat (DEAD).  Run 10 is QUEUED (no start time).
    """
    now = now or _utcnow().replace(microsecond=0)
    adam = {"name": "adam", "momentum": 0.9}
    runs = [
        _run(
            "1",
            "mnist",
            "COMPLETED",
            {"lr": 0.1, "batch": 32, "opt": dict(adam), "seed": 11, "layers": [64, 32], "augment": True},
            "alpha",
            T(2024, 1, 1, 10),
            stop_time=T(2024, 1, 1, 11),
            heartbeat=T(2024, 1, 1, 11),
            result=0.8,
            info={"epochs_done": 3},
            meta_comment="first try",
            metrics={
                "val.accuracy": _series([0.5, 0.7, 0.8], T(2024, 1, 1, 10)),
                "loss": _series([1.0, 0.5, 0.3], T(2024, 1, 1, 10)),
            },
            tags=["best", "baseline"],
            notes="baseline run",
        ),
        _run(
            "2",
            "mnist",
            "COMPLETED",
            {
                "lr": 0.01,
                "batch": 64,
                "opt": {"name": "sgd", "momentum": 0.0},
                "seed": 12,
                "layers": [128],
                "augment": True,
            },
            "beta",
            T(2024, 1, 2, 10),
            stop_time=T(2024, 1, 2, 12),
            heartbeat=T(2024, 1, 2, 12),
            result=0.9,
            metrics={
                "val.accuracy": _series([0.6, 0.95, 0.9], T(2024, 1, 2, 10)),
                "loss": _series([0.9, 0.2, 0.25], T(2024, 1, 2, 10)),
            },
            captured_out="epoch 1\nepoch 2\n",
            artifacts={"model.txt": "weights v2"},
            resources=[["/data/v2/data.csv", RESOURCE_MD5]],
            tables={
                "predictions": [
                    {"image": "a.png", "pixel_accuracy": 0.9, "label": 3},
                    {"image": "b.png", "pixel_accuracy": 0.4, "label": 1},
                    {"image": "c.png", "pixel_accuracy": 0.7, "label": 3},
                    {"image": "d.png", "pixel_accuracy": 0.2, "label": 0},
                ]
            },
            tags=["best"],
        ),
        _run(
            "3",
            "mnist",
            "FAILED",
            {"lr": 0.001, "batch": 32, "opt": dict(adam), "seed": 13, "augment": False},
            "alpha",
            T(2024, 1, 3, 10),
            stop_time=T(2024, 1, 3, 10, 5),
            heartbeat=T(2024, 1, 3, 10, 5),
            meta_comment="second try",
            fail_trace=["Traceback (most recent call last):\n", "ValueError: boom\n"],
            metrics={
                "val.accuracy": _series([0.1], T(2024, 1, 3, 10)),
                "loss": _series([2.0], T(2024, 1, 3, 10)),
            },
        ),
        _run(
            "4",
            "cifar",
            "COMPLETED",
            {"lr": 0.05, "batch": 128, "seed": 14},
            "gamma",
            T(2024, 1, 4, 10),
            stop_time=T(2024, 1, 4, 13),
            heartbeat=T(2024, 1, 4, 13),
            result=0.35,
            metrics={"loss": _series([0.4, 0.35], T(2024, 1, 4, 10))},
        ),
        _run(
            "5",
            "cifar",
            "RUNNING",
            {"lr": 0.2, "batch": 64, "seed": 15},
            "beta",
            now - _dt.timedelta(seconds=60),
            heartbeat=now + _dt.timedelta(minutes=10),
            metrics={"val.accuracy": _series([0.3, 0.4], now - _dt.timedelta(seconds=60))},
        ),
        _run(
            "6",
            "cifar",
            "RUNNING",
            {"lr": 0.02, "batch": 32, "seed": 16},
            "alpha",
            T(2024, 1, 5, 10),
            heartbeat=T(2024, 1, 5, 10, 30),
            metrics={"loss": _series([1.5], T(2024, 1, 5, 10))},
        ),
        _run(
            "7",
            "mnist",
            "INTERRUPTED",
            {"lr": 0.1, "batch": 32, "opt": dict(adam), "seed": 17},
            "gamma",
            T(2024, 1, 7, 10),
            stop_time=T(2024, 1, 7, 11),
            heartbeat=T(2024, 1, 7, 11),
            metrics={
                "val.accuracy": _series([0.85, 0.7], T(2024, 1, 7, 10)),
                "loss": _series([0.6], T(2024, 1, 7, 10)),
            },
            tags=["baseline"],
        ),
        _run("10", "mnist", "QUEUED", {"lr": 0.03, "batch": 16, "seed": 18}, "delta", None),
    ]
    for spec in runs:
        comment = spec.pop("meta_comment", None)
        if comment:
            spec["meta"]["comment"] = comment
    return runs


#: (expression or list of expressions, the ids they select)
FILTER_CASES = [
    ("status == COMPLETED", {"1", "2", "4"}),
    ("status == completed", {"1", "2", "4"}),
    ("status in [failed, Interrupted]", {"3", "7"}),
    ("status == RUNNING", {"5"}),
    ("status == DEAD", {"6"}),
    ("status != COMPLETED", {"3", "5", "6", "7", "10"}),
    ("status in [FAILED, INTERRUPTED]", {"3", "7"}),
    ("experiment == cifar", {"4", "5", "6"}),
    ("experiment != mnist", {"4", "5", "6"}),
    ("experiment.mainfile == train.py", {"1", "2", "3", "7", "10"}),
    ("command == main", {"4", "5", "6"}),
    ("config.lr < 0.05", {"2", "3", "6", "10"}),
    ("config.lr <= 0.05", {"2", "3", "4", "6", "10"}),
    ("config.lr > 0.05", {"1", "5", "7"}),
    ("config.lr >= 0.1", {"1", "5", "7"}),
    ("config.lr == 0.1", {"1", "7"}),
    ("config.batch == 32", {"1", "3", "6", "7"}),
    ("config.batch != 32", {"2", "4", "5", "10"}),
    ("config.batch == 32.0", {"1", "3", "6", "7"}),
    ("config.batch in [16, 128]", {"4", "10"}),
    ("config.opt.name == adam", {"1", "3", "7"}),
    ("config.opt.name != adam", {"2", "4", "5", "6", "10"}),
    ("config.opt.momentum > 0.5", {"1", "3", "7"}),
    ("config.opt == None", {"4", "5", "6", "10"}),
    ("config.layers contains 64", {"1"}),
    ("config.layers contains 7", set()),
    ("config.layers in [128, 7]", {"2"}),
    ("config.opt.name contains ada", {"1", "3", "7"}),
    ("config.augment == True", {"1", "2"}),
    ("config.augment == 1", set()),
    ("config.lr == '0.1'", set()),
    ("config.opt.name > 5", set()),
    ("metrics.val.accuracy >= 0.9", {"2"}),
    ("metrics.val.accuracy.last > 0.92", set()),
    ("metrics.val.accuracy.max > 0.92", {"2"}),
    ("metrics.val.accuracy.max > 0.82", {"2", "7"}),
    ("metrics.val.accuracy.min < 0.55", {"1", "3", "5"}),
    ("metrics.loss < 0.5", {"1", "2", "4"}),
    ("metrics.loss.count >= 2", {"1", "2", "4"}),
    ("metrics.val.accuracy == None", {"4", "6", "10"}),
    ("metrics.val.accuracy != None", {"1", "2", "3", "5", "7"}),
    ("tags contains best", {"1", "2"}),
    ("tags contains baseline", {"1", "7"}),
    ("tags in [baseline, nothing]", {"1", "7"}),
    ("notes contains baseline", {"1"}),
    ("host.hostname == alpha", {"1", "3", "6"}),
    ("host.hostname in [beta, gamma]", {"2", "4", "5", "7"}),
    ("start_time >= 2024-01-03", {"3", "4", "5", "6", "7"}),
    ("start_time < 2024-01-02T12:00", {"1", "2"}),
    ("stop_time == None", {"5", "6", "10"}),
    ("result > 0.5", {"1", "2"}),
    ("result == None", {"3", "5", "6", "7", "10"}),
    ("id == 2", {"2"}),
    ("id in [1, 10]", {"1", "10"}),
    ("id > 5", {"6", "7", "10"}),
    ("id contains 1", {"1", "10"}),
    ("id < 10", {"1", "2", "3", "4", "5", "6", "7"}),
    ("meta.comment contains try", {"1", "3"}),
    ("meta.uid == u3", {"3"}),
    ("info.epochs_done >= 3", {"1"}),
    (["experiment == mnist", "config.batch == 32", "status == COMPLETED"], {"1"}),
]

#: (expression, the promised message) for filters that would silently select nothing
UNKNOWN_CASES = [
    ("config.lrr < 0.1", r"no run in .* has the key 'config\.lrr' \(did you mean 'config\.lr'\?\)"),
    ("metrics.val.acc > 0.9", r"has the key 'metrics\.val\.acc' \(did you mean 'metrics\.val\.accuracy'\?\)"),
    ("metrics.los.min < 1", r"has the key 'metrics\.los' \(did you mean 'metrics\.loss'\?\)"),
    ("info.epoch_done > 1", r"'info\.epoch_done' \(did you mean 'info\.epochs_done'\?\)"),
    ("meta.coment contains try", r"'meta\.coment' \(did you mean 'meta\.comment'\?\)"),
    ("config.zzz == 1", r"has the key 'config\.zzz'; config keys in the store: config\.augment"),
    ("config.accuracy > 1", r"has the key 'config\.accuracy' \(did you mean 'metrics\.val\.accuracy'\?\)"),
    (
        "status == completd",
        r"'completd' is not a status \(did you mean 'COMPLETED'\?\); "
        r"statuses: QUEUED, RUNNING",
    ),
    ("status in [FAILED, crashed]", r"'crashed' is not a status"),
]

#: (sort keys, the full id order)
ORDER_CASES = [
    (["config.lr"], ["3", "2", "6", "10", "4", "1", "7", "5"]),
    (["-config.lr"], ["5", "1", "7", "4", "10", "6", "2", "3"]),
    (["metrics.val.accuracy"], ["3", "5", "7", "1", "2", "4", "6", "10"]),
    (["-metrics.val.accuracy"], ["2", "1", "7", "5", "3", "4", "6", "10"]),
    (["-metrics.val.accuracy.max"], ["2", "7", "1", "5", "3", "4", "6", "10"]),
    (["start_time"], ["1", "2", "3", "4", "6", "7", "5", "10"]),
    (["-start_time"], ["5", "7", "6", "4", "3", "2", "1", "10"]),
    (["id"], ["1", "2", "3", "4", "5", "6", "7", "10"]),
    (["-id"], ["10", "7", "6", "5", "4", "3", "2", "1"]),
    ([], ["1", "2", "3", "4", "5", "6", "7", "10"]),
    (["experiment", "-config.lr"], ["5", "4", "6", "1", "7", "10", "2", "3"]),
    (["status"], ["1", "2", "4", "6", "3", "7", "10", "5"]),
    (["host.hostname"], ["1", "3", "6", "2", "5", "10", "4", "7"]),
    (["-result"], ["2", "1", "4", "3", "5", "6", "7", "10"]),
    (["config.opt.name"], ["1", "3", "7", "2", "4", "5", "6", "10"]),
]


def emit_events(observer: Any, spec: dict, workdir: Path) -> Any:
    """Drive an observer through the events that record ``spec`` (as a run would); returns its id.

    Metrics go in one ``log_metrics``, each table in two ``log_table`` calls (to check appending),
    artifacts are written under ``workdir`` first; RUNNING runs get no final event.
    """

    def when(value: Any) -> Any:
        return T.fromisoformat(value) if isinstance(value, str) else value

    common = {
        "ex_info": spec["experiment"],
        "command": spec["command"],
        "host_info": spec["host"],
        "config": spec["config"],
        "meta_info": spec["meta"],
        "_id": spec["id"],
    }
    if spec["status"] == "QUEUED":
        return observer.queued_event(queue_time=T(2024, 1, 10), **common)
    run_id = observer.started_event(start_time=when(spec["start_time"]), **common)
    if spec.get("metrics"):
        observer.log_metrics(
            {
                name: {
                    "name": name,
                    "steps": list(s["steps"]),
                    "values": list(s["values"]),
                    "timestamps": [when(t) for t in s["timestamps"]],
                }
                for name, s in spec["metrics"].items()
            },
            spec.get("info", {}),
        )
    for name, rows in (spec.get("tables") or {}).items():
        half = len(rows) // 2
        observer.log_table(name, rows[:half])
        observer.log_table(name, rows[half:])
    for path, _md5 in spec.get("resources") or []:
        folder = Path(workdir) / f"res{spec['id']}"
        folder.mkdir(exist_ok=True)
        (folder / Path(path).name).write_text(RESOURCE_TEXT, encoding="utf-8")
        observer.resource_event(filename=str(folder / Path(path).name))
    for name, content in (spec.get("artifacts") or {}).items():
        path = Path(workdir) / f"{spec['id']}_{name}"
        path.write_text(content, encoding="utf-8")
        observer.artifact_event(name=name, filename=str(path))
    observer.heartbeat_event(
        info=spec.get("info", {}),
        captured_out=spec.get("captured_out", ""),
        beat_time=when(spec.get("heartbeat") or spec["start_time"]),
        result=spec.get("result"),
    )
    stop = when(spec.get("stop_time"))
    if spec["status"] == "COMPLETED":
        observer.completed_event(stop_time=stop, result=spec.get("result"))
    elif spec["status"] == "FAILED":
        observer.failed_event(fail_time=stop, fail_trace=spec["fail_trace"])
    elif spec["status"] != "RUNNING":
        observer.interrupted_event(interrupt_time=stop, status=spec["status"])
    observer.join()
    return run_id


def _annotate(store: Any, specs: list) -> Any:
    for spec in specs:
        if spec.get("tags"):
            store.add_tags(spec["id"], spec["tags"])
        if spec.get("notes"):
            store.set_note(spec["id"], spec["notes"])
    return store


def _ids(records: list) -> list:
    return [r.id for r in records]


def _case_id(value: Any) -> str:
    """A test id that is the same in every process: a set's own order depends on the string hash
    seed, and mutmut looks tests up by the ids another interpreter collected."""
    return str(sorted(value)) if isinstance(value, (set, frozenset)) else str(value)


class StoreConformance:
    """The shared cases; subclass it in a ``test_*.py`` module and provide ``make_store``."""

    @pytest.fixture(scope="class")
    @classmethod
    def store(cls, make_store: Any) -> Any:
        store = _annotate(make_store(sample_runs()), sample_runs())
        yield store
        store.close()

    @pytest.fixture
    def fresh_store(self, make_store: Any) -> Any:
        specs = sample_runs()
        store = _annotate(make_store(specs), specs)
        yield store
        store.close()

    @pytest.fixture
    def reopen(self) -> Any:
        """Returns a function giving a new Store over the same data (identity by default)."""
        return lambda store: store

    # ---- filters and ordering -------------------------------------------------------------------
    @pytest.mark.parametrize("exprs, expected", FILTER_CASES, ids=_case_id)
    def test_filter(self, store: Any, exprs: Any, expected: set) -> None:
        exprs = [exprs] if isinstance(exprs, str) else exprs
        found = store.runs().where(*exprs).all()
        assert set(_ids(found)) == expected
        assert store.runs().where(*exprs).count() == len(expected)

    @pytest.mark.parametrize("keys, expected", ORDER_CASES, ids=_case_id)
    def test_order(self, store: Any, keys: list, expected: list) -> None:
        assert _ids(store.runs().order_by(*keys).all()) == expected

    @pytest.mark.parametrize("expr, message", UNKNOWN_CASES, ids=lambda v: str(v)[:30])
    def test_unknown_key_or_status_is_an_error(self, store: Any, expr: str, message: str) -> None:
        with pytest.raises(QueryError, match=message):
            store.runs().where(expr).all()
        with pytest.raises(QueryError, match=message):
            store.runs().where(expr).count()

    def test_unknown_sort_key_is_an_error(self, store: Any) -> None:
        with pytest.raises(
            QueryError,
            match=r"'metrics\.val\.acc' \(did you mean "
            r"'metrics\.val\.accuracy'\?\)",
        ):
            store.runs().order_by("-metrics.val.acc").first()
        with pytest.raises(QueryError, match="limit must be a whole number of 0 or more, not -1"):
            store.runs().limit(-1)
        # keys some runs lack stay legal, in filters and in orders
        assert {r.id for r in store.runs().where("config.opt.name == adam").all()} == {"1", "3", "7"}
        assert store.runs().order_by("info.epochs_done").first().id == "1"

    def test_unknown_row_column_is_an_error(self, store: Any) -> None:
        run = store.get("2")
        with pytest.raises(
            QueryError,
            match=r"table 'predictions' of run 2 has no column "
            r"'pixel_acc' \(did you mean 'pixel_accuracy'\?\)",
        ):
            run.rows("predictions", where="pixel_acc < 0.3")
        with pytest.raises(QueryError, match=r"no column 'lable' \(did you mean 'label'\?\)"):
            run.rows("predictions", sort="-lable")
        with pytest.raises(QueryError, match="limit must be a whole number"):
            run.rows("predictions", limit=-1)

    def test_empty_store_answers_empty(self, make_store: Any) -> None:
        empty = make_store(sample_runs()[:1])
        empty.delete(["1"])
        try:
            assert empty.runs().where("config.lr < 0.1").order_by("metrics.x").all() == []
        finally:
            empty.close()

    def test_key_null_in_every_run_is_a_key(self, make_store: Any) -> None:
        specs = sample_runs()[:3]
        for spec in specs:
            spec["config"]["warmup"] = None
            spec["info"] = {"schedule": {"kind": None}}
        store = make_store(specs)
        try:
            assert _ids(store.runs().where("config.warmup == None").all()) == ["1", "2", "3"]
            assert _ids(store.runs().order_by("info.schedule.kind").all()) == ["1", "2", "3"]
            assert store.runs().where("config.warmup != None").count() == 0
            with pytest.raises(QueryError, match=r"'config\.warmpu' \(did you mean 'config\.warmup'\?\)"):
                store.runs().where("config.warmpu == 1").all()
        finally:
            store.close()

    def test_key_catalogue_follows_writes_and_deletes(self, make_store: Any) -> None:
        """Keys written at start (config, meta), per heartbeat (info) and per metric are known;
        a key only deleted runs had is unknown again."""
        specs = sample_runs()[:3]
        specs[0]["config"]["only_one"] = {"inner": 1}
        specs[0]["info"] = {"late": {"key": 2}}
        specs[0]["metrics"]["rare.metric"] = _series([3.0], T(2024, 1, 1, 10))
        store = make_store(specs)
        try:
            assert _ids(store.runs().where("config.only_one.inner == 1").all()) == ["1"]
            assert _ids(store.runs().where("info.late.key == 2").all()) == ["1"]
            assert _ids(store.runs().where("metrics.rare.metric > 1").all()) == ["1"]
            assert _ids(store.runs().where("meta.uid == u2").all()) == ["2"]
            store.delete(["1"])
            for expr, shown in (
                ("config.only_one.inner == 1", "config.only_one.inner"),
                ("info.late.key == 2", "info.late.key"),
                ("metrics.rare.metric > 1", "metrics.rare.metric"),
            ):
                with pytest.raises(QueryError, match=f"no run in .* has the key '{shown}'"):
                    store.runs().where(expr).all()
            assert _ids(store.runs().where("config.lr > 0").all()) == ["2", "3"]
        finally:
            store.close()

    def test_recorded_metric_goal_wins(self, make_store: Any) -> None:
        specs = sample_runs()
        specs[6]["info"] = {"metric_goals": {"max": ["loss"]}}  # run 7, the latest with 'loss'
        store = make_store(specs)
        try:
            assert store.metric_goal("loss") == ("max", "recorded by run 7")
            assert store.best("loss").id == "3"
            assert store.best("loss", minimize=True).id == "2"
            assert store.goal_note("loss")[1] == (
                "loss: higher is better (recorded by run 7; --min to override)"
            )
        finally:
            store.close()

    def test_limit_and_offset(self, store: Any) -> None:
        by_acc = store.runs().order_by("-metrics.val.accuracy")
        assert _ids(by_acc.limit(2).all()) == ["2", "1"]
        assert _ids(by_acc.offset(1).limit(2).all()) == ["1", "7"]
        assert _ids(by_acc.offset(7).all()) == ["10"]
        assert by_acc.limit(0).all() == []

    def test_filter_order_and_limit_combined(self, store: Any) -> None:
        q = Query(filters=(parse_where("config.lr < 0.05"),), order=(parse_order("-metrics.loss"),), limit=2)
        assert _ids(store.query(q)) == ["3", "6"]
        assert store.count(q) == 4

    def test_first_and_best(self, store: Any) -> None:
        assert store.runs().where(status="COMPLETED").order_by("-result").first().id == "2"
        assert store.runs().where("experiment == nothing").first() is None
        assert store.best("val.accuracy").id == "2"
        assert store.best("val.accuracy", minimize=True).id == "3"
        assert store.best("loss", minimize=True).id == "2"
        assert store.best("val.accuracy", where="experiment == cifar").id == "5"
        assert store.best("val.accuracy", aggregate="max", where="id != 2").id == "7"
        assert store.best("loss").id == "2"  # lower is better, from the name
        assert store.metric_goal("loss") == ("min", "from the name 'loss'")
        assert store.metric_goal("val.accuracy") == ("max", "from the name 'accuracy'")
        with pytest.raises(QueryError, match="no run in .* has the key 'metrics.nothing'"):
            store.best("nothing")

    # ---- records --------------------------------------------------------------------------------
    def test_record_fields(self, store: Any) -> None:
        run = store.get("1")
        assert run.id == "1" and run.status == "COMPLETED" and run.raw_status == "COMPLETED"
        assert run.experiment["name"] == "mnist" and run.experiment["mainfile"] == "train.py"
        assert run.command == "train"
        assert run.config["opt"] == {"name": "adam", "momentum": 0.9}
        assert run.config["layers"] == [64, 32]
        assert run.host["hostname"] == "alpha"
        assert run.meta["comment"] == "first try" and run.meta["uid"] == "u1"
        assert run.info["epochs_done"] == 3
        assert run.start_time == T(2024, 1, 1, 10) and run.stop_time == T(2024, 1, 1, 11)
        assert run.heartbeat == T(2024, 1, 1, 11)
        assert run.result == 0.8
        assert run.tags == ["best", "baseline"] and run.notes == "baseline run"
        assert run.metrics["val.accuracy"] == {"last": 0.8, "min": 0.5, "max": 0.8, "count": 3}
        assert run.metrics["loss"]["count"] == 3
        assert store.get(1).id == "1"

    def test_failed_record(self, store: Any) -> None:
        run = store.get("3")
        assert run.status == "FAILED" and run.fail_trace[-1].strip() == "ValueError: boom"

    def test_dead_detection(self, store: Any, make_store: Any) -> None:
        assert store.get("5").status == "RUNNING"
        dead = store.get("6")
        assert dead.status == "DEAD" and dead.raw_status == "RUNNING"
        later = make_store(sample_runs(), clock=lambda: _utcnow() + _dt.timedelta(hours=2))
        try:
            assert later.get("5").status == "DEAD"
            assert set(_ids(later.runs().where("status == DEAD").all())) == {"5", "6"}
        finally:
            later.close()
        lenient = make_store(sample_runs(), dead_after=10**10)
        try:
            assert lenient.get("6").status == "RUNNING"
        finally:
            lenient.close()

    def test_metric_series(self, store: Any) -> None:
        series = store.get("2").metric("val.accuracy")
        assert series.steps == [0, 1, 2] and series.values == [0.6, 0.95, 0.9]
        assert series.timestamps[0] == T(2024, 1, 2, 10)
        assert store.metric_names("2") == ["loss", "val.accuracy"]
        with pytest.raises(StoreError, match="val.accuracy"):
            store.metric("2", "val.acuracy")

    def test_captured_out_and_artifacts(self, store: Any, tmp_path: Path) -> None:
        run = store.get("2")
        assert run.captured_out() == "epoch 1\nepoch 2\n"
        assert run.artifacts == ["model.txt"]
        with run.open_artifact("model.txt") as f:
            assert f.read() == b"weights v2"
        copied = run.copy_artifact("model.txt", tmp_path)
        assert copied == tmp_path / "model.txt" and copied.read_bytes() == b"weights v2"
        # no name close: the names that exist are the answer
        with pytest.raises(
            StoreError, match=r"^run 2 has no artifact 'missing\.bin' \(it has: model\.txt\)$"
        ):
            run.open_artifact("missing.bin")

    def test_rows(self, store: Any) -> None:
        assert store.tables("2") == ["predictions"] and store.tables("1") == []
        rows = store.rows("2", "predictions")
        assert [r["image"] for r in rows] == ["a.png", "b.png", "c.png", "d.png"]
        threes = store.rows("2", "predictions", where=[parse_row_where("label == 3")])
        assert [r["image"] for r in threes] == ["a.png", "c.png"]
        worst = store.rows("2", "predictions", order=[parse_order("pixel_accuracy", row=True)], limit=2)
        assert [r["image"] for r in worst] == ["d.png", "b.png"]
        with pytest.raises(StoreError, match=r"^run 2 has no table 'nope' \(it has: predictions\)$"):
            store.rows("2", "nope")
        with pytest.raises(StoreError, match=r"^run 1 has no table 'predictions' \(it has no tables\)$"):
            store.rows("1", "predictions")

    def test_per_sample_query_from_best_run(self, store: Any) -> None:
        best = store.best("val.accuracy")
        worst = best.rows("predictions", where="pixel_accuracy < 0.8", sort="pixel_accuracy", limit=100)
        assert [r["image"] for r in worst] == ["d.png", "b.png", "c.png"]

    def test_resources_are_readable_and_queryable(self, store: Any) -> None:
        run = store.get("2")
        assert [(Path(r["path"]).name, r["md5"]) for r in run.resources] == [("data.csv", RESOURCE_MD5)]
        assert run.to_dict()["resources"][0]["md5"] == RESOURCE_MD5
        assert store.get("1").resources == []
        assert _ids(store.runs().where("resources contains data.csv").all()) == ["2"]
        assert _ids(store.runs().where(f"resources.md5 == {RESOURCE_MD5}").all()) == ["2"]
        assert "2" not in _ids(store.runs().where(f"resources.md5 != {RESOURCE_MD5}").all())
        assert store.runs().where("resources contains other.csv").count() == 0

    def test_frames_reprs_and_artifact_errors(self, store: Any, tmp_path: Path) -> None:
        pytest.importorskip("pandas")
        frame = store.runs().where("experiment == mnist").order_by("id").to_frame()
        assert list(frame["id"]) == ["1", "2", "3", "7", "10"]
        row = frame.set_index("id")
        assert row.loc["2", "metrics.val.accuracy"] == 0.9
        assert row.loc["2", "metrics.val.accuracy.max"] == 0.95
        assert row.loc["1", "config.opt.name"] == "adam" and row.loc["1", "tags"] == ["best", "baseline"]
        assert frame["start_time"].dtype.kind == "M" and frame["duration"].dtype.kind == "m"
        long = store.runs().where("id in [1, 2]").order_by("id").metrics_frame(["loss"])
        assert list(long.columns) == ["run", "metric", "step", "value", "timestamp"]
        assert list(long["run"]) == ["1"] * 3 + ["2"] * 3
        assert list(long["value"]) == [1.0, 0.5, 0.3, 0.9, 0.2, 0.25]
        with pytest.raises(
            QueryError, match=r"^no run in .* has the key 'metrics.los' \(did you mean 'metrics.loss'\?\)"
        ):
            store.runs().metrics_frame(["los"])  # a typo is not an empty frame
        assert store.runs().where("id == 4").metrics_frame(["val.accuracy"]).empty  # run 4 did not log it
        run = store.get("2")
        assert repr(run) == "<RunRecord 2 mnist COMPLETED loss=0.25, val.accuracy=0.9>"
        html = run._repr_html_()
        assert (
            html.startswith("<table")
            and "<th style='text-align:left'>metrics.val.accuracy" in html
            and ">0.9<" in html
        )
        missing = tmp_path / "nope" / "model.txt"
        with pytest.raises(
            StoreError,
            match="cannot copy artifact 'model.txt' of run 2 to .*: the directory .*nope does not exist",
        ):
            run.copy_artifact("model.txt", missing)
        with pytest.raises(StoreError, match="the directory .*nope does not exist"):
            run.copy_artifact("model.txt", f"{missing.parent}/")
        assert not missing.parent.exists()

    def test_unknown_run(self, store: Any) -> None:
        # no id is close to '999': the error names the ids there are, in natural order
        with pytest.raises(StoreError, match=r"^no run '999' in .* \(it has runs 1, 2, 3, 4, 5, 6, 7, 10\)$"):
            store.get("999")
        with pytest.raises(StoreError, match=r"^no run '77' in .* \(did you mean '7'\?\)$"):
            store.get("77")

    # ---- annotations and deletion ----------------------------------------------------------------
    def test_tags_and_notes(self, fresh_store: Any, reopen: Any) -> None:
        assert fresh_store.add_tags("3", ["bad", "check", "bad"]) == ["bad", "check"]
        assert fresh_store.remove_tags("1", ["baseline", "absent"]) == ["best"]
        fresh_store.set_note("3", "diverged")
        store = reopen(fresh_store)
        assert store.get("3").tags == ["bad", "check"] and store.get("3").notes == "diverged"
        assert set(_ids(store.runs().where("tags contains baseline").all())) == {"7"}
        assert set(_ids(store.runs().where("tags contains check").all())) == {"3"}

    def test_delete(self, fresh_store: Any, reopen: Any) -> None:
        with pytest.raises(StoreError, match=r"^no run '999' in "):
            fresh_store.delete(["3", "999"])
        assert set(map(str, fresh_store.delete(["3", "2"]))) == {"2", "3"}
        store = reopen(fresh_store)
        with pytest.raises(StoreError, match=r"^no run '3' in "):
            store.get("3")
        assert _ids(store.runs().all()) == ["1", "4", "5", "6", "7", "10"]
        with pytest.raises(StoreError, match=r"^no run '2' in "):
            store.metric("2", "loss")
