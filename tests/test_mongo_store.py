"""MongoStore on mongomock: the shared query cases, push-down, rows, DEAD runs, Omniboard fields."""

import datetime as dt

import mongomock
import mongomock.gridfs
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from store_conformance import StoreConformance, emit_events, sample_runs

from experimentkit.backends.mongo.observer import MongoObserver
from experimentkit.backends.mongo.store import MongoStore
from experimentkit.errors import StoreError
from experimentkit.query import (
    Filter,
    Order,
    apply_rows_in_python,
    open_store,
    parse_order,
    parse_row_where,
)

T = dt.datetime


def new_client():
    mongomock.gridfs.enable_gridfs_integration()
    return mongomock.MongoClient()


def fill(client, specs, workdir, **observer_kwargs):
    for spec in specs:
        emit_events(MongoObserver(client=client, **observer_kwargs), spec, workdir)


class TestMongoStoreConformance(StoreConformance):
    """The shared cases, on collections with a prefix (``exp_runs``, ``exp_metrics``, ...)."""

    @pytest.fixture(scope="class")
    @classmethod
    def make_store(cls, tmp_path_factory):
        def make(specs, **store_kwargs):
            client = new_client()
            fill(client, specs, tmp_path_factory.mktemp("art"), collection_prefix="exp")
            return MongoStore(client=client, prefix="exp", **store_kwargs)

        return make

    @pytest.fixture
    def reopen(self):
        return lambda store: MongoStore(client=store.client, db_name=store.db_name, prefix=store.prefix)


# ---- a store of its own for the tests below --------------------------------------------------------
@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    client = new_client()
    fill(client, sample_runs(), tmp_path_factory.mktemp("art"))
    return client


@pytest.fixture
def store(filled):
    return MongoStore(client=filled)


class Spy:
    """Wraps a collection and keeps every document its ``find`` calls returned."""

    def __init__(self, collection):
        self._collection = collection
        self.returned = []
        self.projections = []

    def __getattr__(self, name):
        return getattr(self._collection, name)

    def find(self, *args, **kwargs):
        self.projections.append(args[1] if len(args) > 1 else kwargs.get("projection"))
        return SpyCursor(self._collection.find(*args, **kwargs), self.returned)


class SpyCursor:
    """A cursor that records the documents actually read from it."""

    def __init__(self, cursor, returned):
        self._cursor = cursor
        self._returned = returned

    def sort(self, *args, **kwargs):
        return SpyCursor(self._cursor.sort(*args, **kwargs), self._returned)

    def batch_size(self, n):
        return SpyCursor(self._cursor.batch_size(n), self._returned)

    def __iter__(self):
        for doc in self._cursor:
            self._returned.append(doc)
            yield doc


def test_listing_never_loads_captured_out_and_fetches_full_documents_only_for_the_page(store):
    spy = store._runs = Spy(store._runs)
    best = store.runs().where("config.lr < 0.05").order_by("-metrics.loss").limit(2).all()
    assert [r.id for r in best] == ["3", "6"]
    assert spy.returned and all("captured_out" not in doc for doc in spy.returned)
    full = [doc for doc in spy.returned if "config" in doc and "host" in doc]
    assert sorted(str(doc["_id"]) for doc in full) == ["3", "6"]
    # the first pass asked only for what the query needs
    asked = {k: v for k, v in spy.projections[0].items() if k != "_id"}
    assert asked == {"config.lr": 1, "heartbeat": 1, "start_time": 1, "status": 1}
    # and the config filter was evaluated by the server: only 4 of 8 runs came back
    assert len(spy.returned) - len(full) == 4


def test_metric_filters_narrow_the_runs_fetched(store):
    spy = store._runs = Spy(store._runs)
    found = store.runs().where("metrics.val.accuracy.max > 0.82").all()
    assert {r.id for r in found} == {"2", "7"}
    first_pass = [doc for doc in spy.returned if "config" not in doc]
    assert sorted(str(doc["_id"]) for doc in first_pass) == ["2", "7"]


def test_metric_summaries_are_computed_by_the_server(filled, tmp_path):
    client = new_client()
    spec = dict(
        sample_runs()[0],
        id="n1",
        metrics={
            "loss": {
                "steps": [0, 1, 2, 3],
                "values": [float("nan"), 2.0, None, 0.5],
                "timestamps": [T(2024, 1, 1)] * 4,
            }
        },
    )
    fill(client, [spec], tmp_path)
    run = MongoStore(client=client).get("n1")
    assert run.metrics["loss"] == {"last": 0.5, "min": 0.5, "max": 2.0, "count": 4}


def test_captured_out_includes_spilled_parts(tmp_path):
    client = new_client()
    spec = dict(sample_runs()[1], captured_out="x" * 40 + "é" * 30 + "tail\n")
    with pytest.warns(RuntimeWarning, match="stored in GridFS"):
        fill(client, [spec], tmp_path, captured_out_budget=16)
    doc = client.sacred.runs.find_one()
    assert doc["captured_out_spill"], "the observer should have spilled to GridFS"
    store = MongoStore(client=client)
    assert store.captured_out("2") == spec["captured_out"]
    assert store.delete(["2"]) == ["2"]
    assert (
        client.sacred["fs.files"].count_documents({"filename": {"$regex": "^(captured_out|artifact)://"}})
        == 0
    )


def test_tags_and_notes_are_omniboards_fields(store, filled):
    store.add_tags("4", ["omni", "x"])
    store.set_note("4", "looks fine")
    doc = filled.sacred.runs.find_one({"_id": "4"})
    assert doc["omniboard"] == {"tags": ["omni", "x"], "notes": "looks fine"}
    # and what Omniboard writes is what the store reads
    filled.sacred.runs.update_one(
        {"_id": "4"}, {"$set": {"omniboard.tags": ["from-ui"], "omniboard.notes": "edited"}}
    )
    run = store.get("4")
    assert run.tags == ["from-ui"] and run.notes == "edited"
    assert [r.id for r in store.runs().where("tags contains from-ui").all()] == ["4"]
    assert store.remove_tags("4", ["from-ui"]) == []
    # runs without any omniboard field have the note '' (not dropped by the server)
    assert len(store.runs().where("notes == ''").all()) == 7


def test_dead_runs_follow_the_clock(filled):
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    young = MongoStore(client=filled, clock=lambda: T(2024, 1, 5, 10, 31), dead_after=120)
    assert young.get("6").status == "RUNNING"
    old = MongoStore(client=filled, clock=lambda: now + dt.timedelta(days=1), dead_after=120)
    assert {r.id for r in old.runs().where("status == DEAD").all()} == {"5", "6"}
    assert {r.id for r in old.runs().where("status == RUNNING").all()} == set()
    assert old.get("6").raw_status == "RUNNING"


def test_records_are_plain_values(store):
    run = store.get("2")
    assert run.experiment["sources"] == []
    assert "metrics" not in run.info  # the observer's [{name, id}] index is not user info
    assert run.artifacts == ["model.txt"]
    with run.open_artifact("model.txt") as fh:
        assert fh.read() == b"weights v2"


def test_escaped_keys_read_back_unescaped(tmp_path):
    client = new_client()
    spec = dict(
        sample_runs()[0],
        id="e1",
        info={"a.b": 1, "$money": 2},
        tables={"t": [{"x.y": 1}, {"x.y": 3}, {"x.y": 2}]},
    )
    fill(client, [spec], tmp_path)
    store = MongoStore(client=client)
    assert store.get("e1").info == {"a.b": 1, "$money": 2}
    rows = store.rows(
        "e1",
        "t",
        where=[parse_row_where("x.y >= 2")],
        order=[Order("x.y", descending=True, row=True)],
        limit=5,
    )
    assert rows == [{"x.y": 3}, {"x.y": 2}]


def test_unknown_things_are_one_line_errors(store, filled):
    with pytest.raises(StoreError, match="no run '99'"):
        store.get("99")
    with pytest.raises(StoreError, match="did you mean 'loss'"):
        store.metric("1", "los")
    with pytest.raises(StoreError, match="did you mean 'predictions'"):
        store.rows("2", "prediction")
    with pytest.raises(StoreError, match="no collection 'nope_runs'"):
        MongoStore(client=filled, prefix="nope")
    with pytest.raises(StoreError, match="no run store in MongoDB database 'other'"):
        MongoStore(client=filled, db_name="other")


def test_missing_server_is_a_one_line_store_error():
    with pytest.raises(StoreError, match=r"Cannot reach MongoDB at mongodb://u:\*\*\*@127.0.0.1:1"):
        open_store("mongodb://u:secret@127.0.0.1:1/sacred", serverSelectionTimeoutMS=300)


def test_a_malformed_url_is_a_store_error():
    with pytest.raises(StoreError, match="bad MongoDB URL"):
        MongoStore("mongodb://h:notaport/")


def test_open_store_passes_database_and_prefix(monkeypatch):
    seen = {}

    def fake(url, **kwargs):
        seen.update(kwargs, url=url)
        return "store"

    import experimentkit.backends.mongo.store as module

    monkeypatch.setattr(module, "MongoStore", fake)
    assert open_store("mongodb://h:27017/mydb?prefix=p&tls=false") == "store"
    assert seen == {"url": "mongodb://h:27017/?tls=false", "db_name": "mydb", "prefix": "p"}


# ---- per-sample rows -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rows_store(tmp_path_factory):
    client = new_client()
    spec = dict(sample_runs()[1], id="r")
    fill(client, [spec], tmp_path_factory.mktemp("art"))
    return MongoStore(client=client)


def put_rows(store, rows):
    tables = store._tables
    tables.delete_many({"run_id": "r", "table": "h"})
    if rows:
        tables.insert_many(
            [{"run_id": "r", "table": "h", "index": i, "row": row} for i, row in enumerate(rows)]
        )


scalars = st.one_of(
    st.none(),
    st.integers(-3, 3),
    st.sampled_from([0.5, 1.5, -0.5]),
    st.booleans(),
    st.sampled_from(["a", "b", "ab"]),
)
values = st.one_of(scalars, scalars, st.lists(st.integers(0, 2), max_size=2))
row_lists = st.lists(
    st.dictionaries(st.sampled_from(["v", "w"]), values, max_size=2), min_size=1, max_size=12
)
where_exprs = st.sampled_from(
    [
        [],
        ["v < 1"],
        ["v >= 0", "w != None"],
        ["v == 1"],
        ["w in [a, 2]"],
        ["v contains a"],
        ["w == None"],
        ["v != 0"],
    ]
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=row_lists,
    where=where_exprs,
    sort=st.sampled_from(["v", "-v", "w", "-w", None]),
    limit=st.sampled_from([None, 0, 1, 3, 20]),
)
# MongoDB sorts an array by its smallest element and null first; the reference does neither.
@example(rows=[{"v": [0]}, {"v": 1}, {"v": 2}], where=[], sort="v", limit=2)
@example(rows=[{"v": 2}, {"v": None}, {"v": 1}, {}], where=[], sort="-v", limit=3)
def test_rows_match_the_reference(rows_store, rows, where, sort, limit):
    put_rows(rows_store, rows)
    filters = [parse_row_where(w) for w in where]
    orders = [parse_order(sort, row=True)] if sort else []
    assert rows_store.rows("r", "h", where=filters, order=orders, limit=limit) == apply_rows_in_python(
        rows, filters, orders, limit
    )


def test_top_rows_of_a_numeric_column_stream_from_the_server(rows_store):
    rows = [{"img": i, "acc": (i * 37 % 101) / 100} for i in range(300)] + [{"img": "none"}]
    put_rows(rows_store, rows)
    spy = rows_store._tables = Spy(rows_store._tables)
    try:
        worst = rows_store.rows(
            "r", "h", where=[Filter("acc", "<", 0.8, row=True)], order=[Order("acc", row=True)], limit=5
        )
    finally:
        rows_store._tables = spy._collection
    assert worst == apply_rows_in_python(
        rows, [Filter("acc", "<", 0.8, row=True)], [Order("acc", row=True)], 5
    )
    assert len(spy.returned) < 50, "the sort and the limit should run in MongoDB"
