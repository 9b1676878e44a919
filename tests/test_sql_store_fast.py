"""FastSqliteStore (``open_store("sqlite:///...")``): the shared conformance cases answered by the
stdlib path, the same answers as ``SqlStore`` on random queries over random runs, no SQLAlchemy
import in a fresh process, and the cases that must go to the full store.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import json
import random
import sqlite3
import subprocess
import sys
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experimentkit.backends.sql.common import SCHEMA_VERSION

pytest.importorskip("sqlalchemy")

from store_conformance import StoreConformance, emit_events, sample_runs  # noqa: E402

from experimentkit.backends.sql.fast_sqlite import FastSqliteStore, sqlite_file  # noqa: E402
from experimentkit.backends.sql.observer import SqlObserver  # noqa: E402
from experimentkit.backends.sql.store import SqlStore  # noqa: E402
from experimentkit.query import Filter, Order, Query, open_store, parse_where  # noqa: E402

T = _dt.datetime
# Conformance cases that only read runs: each must be answered by the stdlib path alone.
_READ_TESTS = (
    "test_filter",
    "test_order",
    "test_limit_and_offset",
    "test_filter_order_and_limit_combined",
    "test_first_and_best",
    "test_record_fields",
    "test_failed_record",
    "test_dead_detection",
)


def _fill(url: str, specs: list, workdir) -> None:
    for spec in specs:
        emit_events(SqlObserver(url), spec, workdir)


class FastConformance(StoreConformance):
    """The shared cases on a store ``open_store`` returns (``store_class``), over databases from
    ``new_url``; the read-only cases must be answered without the full store."""

    store_class: type = FastSqliteStore

    @classmethod
    def new_url(cls, stack: contextlib.ExitStack, tmp) -> str:
        """A new empty database (``stack`` drops it at the end)."""
        return f"sqlite:///{tmp / f'runs{uuid.uuid4().hex[:8]}.sqlite'}"

    @pytest.fixture(scope="class")
    @classmethod
    def make_store(cls, tmp_path_factory):
        tmp = tmp_path_factory.mktemp(f"fast-{cls.__name__}")
        with contextlib.ExitStack() as stack:
            opened = []

            def make(specs, **store_kwargs):
                url = cls.new_url(stack, tmp)
                _fill(url, specs, tmp)
                store = open_store(url, **store_kwargs)
                assert isinstance(store, cls.store_class)
                opened.append(store)
                return store

            yield make
            for store in opened:
                store.close()

    @pytest.fixture
    def reopen(self):
        return lambda store: open_store(store.url)

    @pytest.fixture(autouse=True)
    def _answered_fast(self, request):
        """The read-only cases must be answered by the fast path, never the full store."""
        if not request.node.name.startswith(_READ_TESTS):
            yield
            return
        store = request.getfixturevalue("store")
        before = dict(store.stats)
        yield
        assert store.stats["full"] == before["full"]
        assert store.stats["fast"] > before["fast"]


class TestFastSqliteConformance(FastConformance):
    store_class = FastSqliteStore


# --------------------------------------------------------------------------------------------------
# same answers as SqlStore on random queries
# --------------------------------------------------------------------------------------------------
_VALUES = [
    0,
    1,
    -2,
    0.5,
    3.25,
    10,
    True,
    False,
    "a",
    "b",
    "ä",
    "10",
    "",
    None,
    [1, 2],
    ["a"],
    {"x": 1},
    {"x": "a"},
    2**40,
]


def _random_specs(seed: int) -> list:
    """Runs with values of every JSON type under the same keys, odd ids, DEAD and alive runs."""
    rng = random.Random(seed)
    template = sample_runs()[0]
    now = _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    ids = [
        "1",
        "2",
        "3",
        "10",
        "11",
        "-4",
        "007",
        "abc",
        "x10",
        "b",
        "99",
        "5",
        "6",
        "7",
        "8",
        "12",
        "B",
        "é",
    ]
    specs = []
    for n, run_id in enumerate(ids):
        spec = copy.deepcopy(template)
        config: dict = {}
        for key in ("a", "b", "c"):
            if rng.random() < 0.8:
                config[key] = copy.deepcopy(rng.choice(_VALUES))
        if rng.random() < 0.6:
            config["nest"] = {"v": copy.deepcopy(rng.choice(_VALUES))}
        start = T(2024, 1, 1) + _dt.timedelta(hours=rng.randrange(48))
        status = rng.choice(["COMPLETED", "FAILED", "INTERRUPTED", "RUNNING", "RUNNING"])
        spec.update(
            id=run_id,
            status=status,
            config=config,
            command=rng.choice(["train", "main", "x"]),
            start_time=start,
            tags=rng.sample(["best", "bad", "z", "a"], rng.randrange(3)),
            stop_time=None if status == "RUNNING" else start + _dt.timedelta(hours=1),
            heartbeat=(now + _dt.timedelta(minutes=10))
            if status == "RUNNING" and rng.random() < 0.5
            else start + _dt.timedelta(minutes=30),
            result=copy.deepcopy(rng.choice(_VALUES)),
            info={"k": copy.deepcopy(rng.choice(_VALUES))},
            notes=rng.choice(["", "good run", "bad"]),
            fail_trace=["Traceback\n", "Boom\n"],
            metrics={},
            tables={},
            artifacts={},
        )
        spec["experiment"] = dict(spec["experiment"], name=rng.choice(["mnist", "cifar"]))
        spec["host"] = dict(spec["host"], hostname=rng.choice(["alpha", "beta", "ä"]))
        spec["meta"] = dict(spec["meta"], uid=f"u{n}", comment=rng.choice(["x", "yz"]))
        for name in ("acc", "loss"):
            if rng.random() < 0.75:
                values = [
                    rng.choice([0.1, 0.5, 0.9, 0.5, 2.0, -1.0, float("nan")])
                    for _ in range(rng.randrange(1, 4))
                ]
                spec["metrics"][name] = {
                    "steps": list(range(len(values))),
                    "values": values,
                    "timestamps": [start] * len(values),
                }
        specs.append(spec)
    return specs


def fill_twin(url: str, specs: list, tmp) -> SqlStore:
    """The runs of ``specs`` written to ``url``, with their tags and notes; the full store on it."""
    _fill(url, specs, tmp)
    full = SqlStore(url)
    for spec in specs:
        if spec["tags"]:
            full.add_tags(spec["id"], spec["tags"])
        if spec["notes"]:
            full.set_note(spec["id"], spec["notes"])
    return full


@pytest.fixture(scope="module")
def twin_stores(tmp_path_factory):
    """(FastSqliteStore, SqlStore) over the same random runs."""
    tmp = tmp_path_factory.mktemp("fast-twins")
    url = f"sqlite:///{tmp / 'twins.sqlite'}"
    full = fill_twin(url, _random_specs(7), tmp)
    fast = FastSqliteStore(url)
    yield fast, full
    fast.close()
    full.close()


_KEYS = [
    "id",
    "status",
    "experiment",
    "experiment.mainfile",
    "command",
    "start_time",
    "stop_time",
    "heartbeat",
    "notes",
    "host.hostname",
    "config.a",
    "config.b",
    "config.c",
    "config.nest.v",
    "config.nest",
    "config.missing",
    "info.k",
    "meta.comment",
    "result",
    "metrics.acc",
    "metrics.loss.min",
    "metrics.loss.max",
    "metrics.acc.count",
    "tags",
]
_TIME_KEYS = ("start_time", "stop_time", "heartbeat")
_times = st.sampled_from([T(2024, 1, 1, 5), T(2024, 1, 2), T(2024, 1, 2, 12, 30), T(2030, 1, 1)])
_scalars = st.sampled_from(
    [
        0,
        1,
        -2,
        0.5,
        True,
        False,
        "a",
        "ä",
        "10",
        "",
        "COMPLETED",
        "DEAD",
        "mnist",
        "alpha",
        "best",
        "good",
        "x",
        "7",
        "abc",
        0.9,
    ]
)
_JSON_KEYS = [k for k in _KEYS if k.startswith(("config.", "info.", "result"))]


@st.composite
def _filters(draw: st.DrawFn) -> Filter:
    key = draw(st.sampled_from(_KEYS + _JSON_KEYS))  # JSON keys have the most cases
    op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "contains", "in"]))
    values = _times if key in _TIME_KEYS else _scalars
    if op == "in":
        value = draw(st.lists(values, max_size=3))
    else:
        value = draw(st.one_of(values, st.none()) if key not in _TIME_KEYS else values)
    return Filter(key, op, value)


_queries = st.builds(
    Query,
    filters=st.lists(_filters(), max_size=3).map(tuple),
    order=st.lists(
        st.builds(Order, st.sampled_from([k for k in _KEYS if k != "tags"]), st.booleans()), max_size=2
    ).map(tuple),
    limit=st.one_of(st.none(), st.integers(-1, 6)),
    offset=st.integers(0, 4),
)


@settings(max_examples=200, deadline=None)
@given(q=_queries)
def test_same_answers_as_sqlstore(twin_stores, q: Query) -> None:
    fast, full = twin_stores
    before = fast.stats["full"]
    assert fast.query(q) == full.query(q)
    assert fast.count(q) == full.count(q)
    assert fast.stats["full"] == before, "the stdlib path handed the query to SqlStore"


def element_cases() -> list:
    """``contains`` and ``in`` on JSON keys holding lists, objects and strings (matched in SQL
    element by element where the dialect can)."""
    keys = [k for k in _KEYS if k.startswith(("config.", "info.", "result"))] + ["tags"]
    values: list = [1, 2, "a", "", True, None, 0.5, "b", "abc"]
    cases = [Query(filters=(Filter(key, "contains", v),)) for key in keys for v in values]
    cases += [
        Query(filters=(Filter(key, "in", [v, w]),)) for key in keys for v in values[:5] for w in (2, "a")
    ]
    return cases + [Query(filters=(Filter(key, "in", []),)) for key in keys]


def reference_ids(specs: list, q: Query) -> list:
    """The ids ``q`` selects by the reference semantics (``InMemoryStore``), in query order."""
    from experimentkit.query.memory import InMemoryStore

    return [r.id for r in InMemoryStore(json.loads(json.dumps(specs, default=str))).query(q)]


def test_list_elements_as_the_reference(twin_stores) -> None:
    fast, _ = twin_stores
    specs = _random_specs(7)
    before = fast.stats["full"]
    for q in element_cases():
        assert [r.id for r in fast.query(q)] == reference_ids(specs, q), q
    assert fast.stats["full"] == before, "the stdlib path handed the query to SqlStore"


def sweep_cases() -> list:
    """Each key with each operator and order alone (hypothesis samples combinations)."""
    cases = []
    for key in _KEYS:
        values = (
            [T(2024, 1, 1, 5), T(2024, 1, 2, 12, 30)]
            if key in _TIME_KEYS
            else [None, 1, 0.5, True, "a", "7", "10", "DEAD", "alpha"]
        )
        cases += [
            Query(filters=(Filter(key, op, v),)) for v in values for op in ("==", "!=", "<", ">=", "contains")
        ]
        cases.append(Query(filters=(Filter(key, "in", values[:3]),)))
        if key != "tags":
            cases += [Query(order=(Order(key, desc),), limit=4, offset=1) for desc in (False, True)]
    return cases


def test_every_key_operator_and_order_as_sqlstore(twin_stores) -> None:
    fast, full = twin_stores
    for q in sweep_cases():
        assert [r.id for r in fast.query(q)] == [r.id for r in full.query(q)], q
    assert fast.stats["full"] == 0
    for root in ("config", "info", "meta", "metrics"):
        assert fast.key_names(root) == full.key_names(root)
    assert fast.statuses() == full.statuses() and fast._full is None  # answered by the stdlib path


def test_records_equal_sqlstore_records(twin_stores) -> None:
    fast, full = twin_stores
    assert fast.query(Query()) == full.query(Query())
    for run in full.query(Query()):
        assert fast.get(run.id) == run
    with pytest.raises(Exception, match="no run 'nope'"):
        fast.get("nope")


# --------------------------------------------------------------------------------------------------
# a fresh process does not import SQLAlchemy
# --------------------------------------------------------------------------------------------------
def test_fresh_process_never_imports_sqlalchemy(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.sqlite'}"
    _fill(url, sample_runs(), tmp_path)
    code = (
        "import json, sys\n"
        "from experimentkit.query import open_store\n"
        "s = open_store(sys.argv[1])\n"
        "top = s.runs().where('config.lr < 0.05').order_by('-metrics.val.accuracy').limit(3).all()\n"
        "out = {'ids': [r.id for r in top], 'count': s.runs().where('status == COMPLETED').count(),\n"
        "       'best': s.best('loss', minimize=True).id, 'get': s.get('3').status,\n"
        "       'stats': s.stats, 'sqlalchemy': 'sqlalchemy' in sys.modules}\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, url], capture_output=True, text=True, check=True)
    out = json.loads(done.stdout)
    assert out["sqlalchemy"] is False
    assert out["stats"] == {"fast": 4, "full": 0}
    assert out["ids"] == ["2", "3", "6"] and out["count"] == 3
    assert out["best"] == "2" and out["get"] == "FAILED"


# --------------------------------------------------------------------------------------------------
# what goes to the full store
# --------------------------------------------------------------------------------------------------
def test_old_schema_version_is_upgraded_by_the_full_store(tmp_path) -> None:
    path = tmp_path / "old.sqlite"
    _fill(f"sqlite:///{path}", sample_runs(), tmp_path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE schema_version SET version = 1")
    store = open_store(f"sqlite:///{path}")
    # store.query: the bare query (RunQuery.all would first check the key, upgrading already)
    found = store.query(Query(filters=(parse_where("config.lr < 0.05"),)))
    assert [r.id for r in found] == ["2", "3", "6", "10"]
    assert store.stats == {"fast": 0, "full": 1}
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    assert store.runs().where("config.lr < 0.05").count() == 4
    assert store.stats == {"fast": 1, "full": 1}
    store.close()


def test_json_with_nan_goes_to_the_full_store(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'nan.sqlite'}"
    specs = sample_runs()
    specs[0]["config"]["lr"] = float("nan")
    specs[1]["config"]["extra"] = float("inf")
    _fill(url, specs, tmp_path)
    fast, full = FastSqliteStore(url), SqlStore(url)
    q = Query(filters=(parse_where("config.lr < 0.05"),), order=(Order("config.lr", True),), limit=3)
    assert [r.id for r in fast.query(q)] == [r.id for r in full.query(q)] == ["10", "6", "2"]
    assert fast.stats["full"] == 1
    # queries that parse no JSON stay on the stdlib path
    assert fast.query(Query(filters=(parse_where("status == COMPLETED"),))) == full.query(
        Query(filters=(parse_where("status == COMPLETED"),))
    )
    assert fast.stats == {"fast": 1, "full": 1}
    fast.close()
    full.close()


def test_rows_with_null_meta_go_to_the_full_store(tmp_path) -> None:
    path = tmp_path / "sacred-like.sqlite"
    _fill(f"sqlite:///{path}", sample_runs(), tmp_path)
    with sqlite3.connect(path) as conn:  # as Sacred wrote it: no meta JSON, only columns
        conn.execute("UPDATE run SET meta = NULL, comment = 'kept' WHERE run_id = '4'")
    fast, full = FastSqliteStore(f"sqlite:///{path}"), SqlStore(f"sqlite:///{path}")
    q = Query(filters=(parse_where("meta.comment == kept"),))
    assert [r.id for r in fast.query(q)] == [r.id for r in full.query(q)] == ["4"]
    assert fast.stats == {"fast": 0, "full": 1}
    assert fast.get("4") == full.get("4") and fast.get("4").meta["comment"] == "kept"
    fast.close()
    full.close()


def test_other_operations_use_the_full_store(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.sqlite'}"
    _fill(url, sample_runs(), tmp_path)
    store = open_store(url)
    assert store.add_tags("2", ["x"]) == ["x"]
    assert store.get("2").tags == ["x"] and store.stats["fast"] == 1
    assert store.rows("2", "predictions", limit=1)[0]["image"] == "a.png"
    assert store.get("2").captured_out() == "epoch 1\nepoch 2\n"
    store.close()


@pytest.mark.parametrize(
    "url, path",
    [
        ("sqlite:///runs.db", "runs.db"),
        ("sqlite:////abs/runs.db", "/abs/runs.db"),
        ("sqlite+pysqlite:///a/b.db", "a/b.db"),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("sqlite:///runs.db?timeout=3", None),
        ("sqlite:///my%20runs.db", None),
        ("sqlite+aiosqlite:///runs.db", None),
        ("postgresql://h/db", None),
    ],
)
def test_sqlite_file(url: str, path) -> None:
    assert sqlite_file(url) == path


def test_memory_url_uses_the_full_store() -> None:
    store = FastSqliteStore("sqlite://")
    assert store.runs().all() == [] and store.stats == {"fast": 0, "full": 1}
    store.close()
