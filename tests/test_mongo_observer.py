"""MongoObserver on mongomock: Sacred's document layout, incremental writes, retries, budget."""

import datetime as dt
import hashlib
import importlib
import json
import warnings

import gridfs
import mongomock
import mongomock.gridfs
import pytest
from bson import ObjectId
from hypothesis import given, settings
from hypothesis import strategies as st
from pymongo.errors import AutoReconnect

from experimentkit.backends.mongo import schema
from experimentkit.backends.mongo.observer import MongoObserver, QueuedMongoObserver
from experimentkit.errors import ObserverError

T0 = dt.datetime(2024, 5, 1, 12, 0, 0)


def at(seconds):
    return T0 + dt.timedelta(seconds=seconds)


class Recording:
    """A collection wrapper that records update operations and can lose replies or refuse writes."""

    def __init__(self, collection):
        self._collection = collection
        self.updates = []
        self.lose_replies = 0  # apply the next N updates, then raise as if the reply was lost
        self.refuse = 0  # raise on the next N updates without applying them

    def __getattr__(self, name):
        return getattr(self._collection, name)

    def __eq__(self, other):
        return isinstance(other, Recording) and self._collection == other._collection

    def update_one(self, query, update, **kwargs):
        self.updates.append((query, update))
        if self.refuse:
            self.refuse -= 1
            raise AutoReconnect("connection reset by peer")
        result = self._collection.update_one(query, update, **kwargs)
        if self.lose_replies:
            self.lose_replies -= 1
            raise AutoReconnect("connection closed before the reply")
        return result


@pytest.fixture
def client():
    mongomock.gridfs.enable_gridfs_integration()
    return mongomock.MongoClient()


@pytest.fixture
def db(client):
    return client["sacred"]


@pytest.fixture
def recorded(db):
    """An observer built with create_from on recording runs/metrics collections."""
    runs, metrics = Recording(db["runs"]), Recording(db["metrics"])
    obs = MongoObserver.create_from(runs, gridfs.GridFS(db), metrics_collection=metrics)
    return obs, runs, metrics


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "train.py").write_text("print('training')\n")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "util.py").write_text("X = 1\n")
    return tmp_path


def ex_info(workdir):
    return {
        "name": "demo",
        "base_dir": str(workdir),
        "sources": [["train.py", "ignored"], ["lib/util.py", "ignored"]],
        "dependencies": ["numpy==1.26.4", "experimentkit==0.1.0"],
        "repositories": [{"url": "git@example.com:demo.git", "commit": "abc123", "dirty": False}],
        "mainfile": "train.py",
    }


HOST = {
    "hostname": "box",
    "os": ["Linux", "Linux-6"],
    "python_version": "3.11.7",
    "cpu": "AMD",
    "cpu_count": 2,
    "memory_total": 1024,
    "ENV": {},
}


def start(obs, workdir, _id=None, uid="uid-1", config=None, command="main"):
    meta = {
        "command": command,
        "options": {"--name": None},
        "named_configs": [],
        "config_updates": {},
        "uid": uid,
    }
    return obs.started_event(
        ex_info=ex_info(workdir),
        command=command,
        host_info=dict(HOST),
        start_time=T0,
        config=config if config is not None else {"lr": 0.1},
        meta_info=meta,
        _id=_id,
    )


def metrics_batch(name, steps, values, t=0):
    return {
        name: {"name": name, "steps": list(steps), "values": list(values), "timestamps": [at(t)] * len(steps)}
    }


def gridfs_bytes(db, file_id):
    return gridfs.GridFS(db).get(file_id).read()


def full_output(db, doc):
    """What a reader reconstructs: the document's captured_out followed by the spilled parts."""
    spill = b"".join(gridfs_bytes(db, fid) for fid in doc.get("captured_out_spill", []))
    return doc["captured_out"] + spill.decode("utf-8")


# ---- the run document -------------------------------------------------------------------------
def test_started_event_writes_sacreds_document(client, db, workdir):
    obs = MongoObserver(client=client)
    config = {
        "lr": 0.1,
        "layers": (32, 16),
        "opt.name": "adam",
        "$weird": 1,
        "big": 2**70,
        "when": dt.date(2024, 1, 2),
    }
    run_id = start(obs, workdir, config=config)
    assert run_id == 1
    doc = db.runs.find_one({"_id": 1})
    assert set(doc) == {
        "_id",
        "experiment",
        "format",
        "command",
        "host",
        "start_time",
        "config",
        "meta",
        "status",
        "resources",
        "artifacts",
        "captured_out",
        "info",
        "heartbeat",
    }  # as Sacred's; captured_out_length is set by the first beat with output
    assert doc["format"] == "MongoObserver-0.7.0"
    assert doc["command"] == "main" and doc["status"] == "RUNNING"
    assert doc["host"] == HOST
    assert doc["start_time"] == T0 and isinstance(doc["start_time"], dt.datetime)
    assert doc["config"] == {
        "lr": 0.1,
        "layers": [32, 16],
        "opt,name": "adam",
        "@weird": 1,
        "big": str(2**70),
        "when": "2024-01-02",
    }
    assert doc["meta"]["uid"] == "uid-1" and doc["meta"]["options"] == {"--name": None}
    assert (doc["resources"], doc["artifacts"], doc["captured_out"], doc["info"], doc["heartbeat"]) == (
        [],
        [],
        "",
        {},
        None,
    )
    experiment = doc["experiment"]
    assert {k: v for k, v in experiment.items() if k != "sources"} == {
        k: v for k, v in ex_info(workdir).items() if k != "sources"
    }
    assert [rel for rel, _ in experiment["sources"]] == ["train.py", "lib/util.py"]
    for rel, file_id in experiment["sources"]:
        assert isinstance(file_id, ObjectId)
        stored = db["fs.files"].find_one({"_id": file_id})
        content = (workdir / rel).read_bytes()
        assert stored["filename"] == str(workdir / rel)
        assert stored["metadata"]["md5"] == hashlib.md5(content).hexdigest()
        assert gridfs_bytes(db, file_id) == content


def test_ids_autoincrement_skip_foreign_ids_and_honour_given_ones(client, db, workdir):
    obs = MongoObserver(client=client)
    db.runs.insert_one({"_id": "0", "status": "COMPLETED"})  # an SqlObserver-assigned id
    assert start(obs, workdir, uid="a") == 1
    assert start(obs, workdir, uid="b") == 2
    assert start(obs, workdir, uid="c", _id="custom") == "custom"
    assert start(obs, workdir, uid="d") == 3
    with pytest.raises(ObserverError, match="already exists"):
        start(obs, workdir, uid="e", _id=2)


def test_id_taken_by_a_concurrent_run_is_retried(db, workdir):
    class Racing(Recording):
        raced = False

        def insert_one(self, doc):
            if not self.raced:
                self.raced = True
                self._collection.insert_one({"_id": doc["_id"], "status": "RUNNING"})
            return self._collection.insert_one(doc)

    obs = MongoObserver.create_from(Racing(db["runs"]), gridfs.GridFS(db))
    assert start(obs, workdir) == 2
    assert db.runs.count_documents({}) == 2


def test_sources_are_deduplicated_across_runs(client, db, workdir):
    obs = MongoObserver(client=client)
    start(obs, workdir, uid="a")
    start(obs, workdir, uid="b")
    first, second = (db.runs.find_one({"_id": i})["experiment"]["sources"] for i in (1, 2))
    assert first == second
    assert db["fs.files"].count_documents({}) == 2
    (workdir / "train.py").write_text("print('changed')\n")
    start(obs, workdir, uid="c")
    third = db.runs.find_one({"_id": 3})["experiment"]["sources"]
    assert third[0][1] != first[0][1] and third[1][1] == first[1][1]


def test_replayed_started_event_returns_the_existing_run(client, db, workdir):
    obs = MongoObserver(client=client)
    assert start(obs, workdir, uid="same") == 1
    obs.heartbeat_event(info={}, captured_out="abc", beat_time=at(1), result=None)
    again = MongoObserver(client=client)
    assert start(again, workdir, uid="same") == 1
    assert db.runs.count_documents({}) == 1
    again.heartbeat_event(info={}, captured_out="abcdef", beat_time=at(2), result=None)
    assert db.runs.find_one()["captured_out"] == "abcdef"


def test_queued_then_started_fills_the_queued_document(client, db, workdir):
    obs = MongoObserver(client=client)
    meta = {"command": "main", "uid": "q1", "queue_time": T0}
    run_id = obs.queued_event(
        ex_info=ex_info(workdir),
        command="main",
        host_info=HOST,
        queue_time=T0,
        config={"a": 1},
        meta_info=meta,
        _id=None,
    )
    queued = db.runs.find_one({"_id": run_id})
    assert set(queued) == {"_id", "experiment", "command", "host", "config", "meta", "status"}
    assert queued["status"] == "QUEUED" and queued["config"] == {"a": 1}
    runner = MongoObserver(client=client, overwrite=run_id)
    assert start(runner, workdir, uid="other") == run_id
    doc = db.runs.find_one({"_id": run_id})
    assert doc["status"] == "RUNNING" and doc["start_time"] == T0
    assert db.runs.count_documents({}) == 1
    with pytest.raises(RuntimeError, match="Can't overwrite with QUEUED run"):
        runner.queued_event(
            ex_info=ex_info(workdir),
            command="main",
            host_info=HOST,
            queue_time=T0,
            config={},
            meta_info={},
            _id=None,
        )


def test_a_replayed_queued_event_returns_the_queued_run(client, db, workdir):
    obs = MongoObserver(client=client)
    queue = dict(
        ex_info=ex_info(workdir),
        command="main",
        host_info=HOST,
        queue_time=T0,
        config={"a": 1},
        meta_info={"command": "main", "uid": "q1", "queue_time": T0},
        _id=None,
    )
    run_id = obs.queued_event(**queue)
    assert MongoObserver(client=client).queued_event(**queue) == run_id  # e.g. from a journal
    assert db.runs.count_documents({}) == 1


def test_a_source_file_gone_before_the_run_starts_is_warned_about_and_left_out(client, db, workdir):
    (workdir / "lib" / "util.py").unlink()
    with pytest.warns(RuntimeWarning, match=r"source file .*util\.py is gone; not stored"):
        run_id = start(MongoObserver(client=client), workdir)
    assert [relpath for relpath, _ in db.runs.find_one({"_id": run_id})["experiment"]["sources"]] == [
        "train.py"
    ]


def test_the_observers_sweep_book_is_the_one_its_store_reads(client, workdir):
    from experimentkit.backends.mongo.store import MongoStore

    obs = MongoObserver(client=client, collection_prefix="exp")
    start(obs, workdir)
    sweep_id = obs.sweep_book().create({"status": "RUNNING", "grid": {"lr": [1, 2]}})
    [record] = MongoStore(client=client, prefix="exp").sweep_book().records()
    assert record["id"] == sweep_id and record["grid"] == {"lr": [1, 2]}


def test_overwrite_of_a_missing_run_fails(client, workdir):
    with pytest.raises(RuntimeError, match="Couldn't find run to overwrite with _id='7'"):
        start(MongoObserver(client=client, overwrite=7), workdir)


# ---- heartbeats and output ----------------------------------------------------------------------
def test_heartbeat_sets_only_what_changed_and_appends_output(recorded, db, workdir):
    obs, runs, _ = recorded
    start(obs, workdir, config={"marker": "CONFIG-VALUE"})
    first = "line one\n" * 50
    obs.heartbeat_event(info={"epoch": 1}, captured_out=first, beat_time=at(1), result=0.5)
    obs.heartbeat_event(info={"epoch": 2}, captured_out=first + "tail\n", beat_time=at(2), result=0.25)
    doc = db.runs.find_one({"_id": 1})
    assert doc["captured_out"] == first + "tail\n"
    assert doc["captured_out_length"] == len(first) + 5
    assert (doc["info"], doc["heartbeat"], doc["result"]) == ({"epoch": 2}, at(2), 0.25)
    beat = runs.updates[-1]
    written = repr(beat)
    assert "line one" not in written and "CONFIG-VALUE" not in written and "tail\\n" in written
    (stage,) = [step["$set"] for step in beat[1]]
    assert set(stage) == {"heartbeat", "info", "result", "captured_out", "captured_out_length"}


def test_heartbeat_without_new_output_is_a_plain_set(recorded, db, workdir):
    obs, runs, _ = recorded
    start(obs, workdir)
    obs.heartbeat_event(info={"a": 1}, captured_out="", beat_time=at(1), result=None)
    assert runs.updates[-1] == ({"_id": 1}, {"$set": {"heartbeat": at(1), "info": {"a": 1}, "result": None}})


def test_output_that_looks_like_an_expression_is_stored_literally(client, db, workdir):
    obs = MongoObserver(client=client)
    start(obs, workdir)
    text = "$captured_out {'$concat': 1}\n"
    obs.heartbeat_event(info={"k": "$x"}, captured_out=text, beat_time=at(1), result="$result")
    doc = db.runs.find_one()
    assert (doc["captured_out"], doc["info"], doc["result"]) == (text, {"k": "$x"}, "$result")


def test_heartbeat_retry_after_a_lost_reply_does_not_duplicate_output(recorded, db, workdir):
    obs, runs, _ = recorded
    start(obs, workdir)
    runs.lose_replies = 1
    with pytest.raises(ObserverError, match="Cannot reach MongoDB"):
        obs.heartbeat_event(info={}, captured_out="first\n", beat_time=at(1), result=None)
    # The dispatcher keeps only the newest heartbeat of an outage: it carries all output so far.
    obs.heartbeat_event(info={}, captured_out="first\nsecond\n", beat_time=at(2), result=None)
    doc = db.runs.find_one()
    assert doc["captured_out"] == "first\nsecond\n" and doc["heartbeat"] == at(2)


def test_failed_heartbeat_raises_and_a_retry_stores_it(recorded, db, workdir):
    obs, runs, _ = recorded
    start(obs, workdir)
    runs.refuse = 1
    with pytest.raises(ObserverError):
        obs.heartbeat_event(info={}, captured_out="out", beat_time=at(1), result=None)
    assert db.runs.find_one()["captured_out"] == ""
    obs.heartbeat_event(info={}, captured_out="out", beat_time=at(1), result=None)
    assert db.runs.find_one()["captured_out"] == "out"


def test_output_beyond_the_budget_spills_to_gridfs(client, db, workdir):
    obs = MongoObserver(client=client, captured_out_budget=100)
    start(obs, workdir)
    chunks = ["a" * 60, "é" * 30, "z" * 10]  # 60 + 60 + 10 bytes
    text = ""
    with pytest.warns(RuntimeWarning, match="printed more than 100 bytes") as caught:
        for i, chunk in enumerate(chunks):
            text += chunk
            obs.heartbeat_event(info={}, captured_out=text, beat_time=at(i), result=None)
    assert len([w for w in caught if "printed more than" in str(w.message)]) == 1
    doc = db.runs.find_one()
    assert doc["captured_out"] == "a" * 60 + "é" * 20
    assert len(doc["captured_out"].encode()) == 100
    assert doc["captured_out_truncated"] is True and len(doc["captured_out_spill"]) == 2
    assert full_output(db, doc) == text
    spill = db["fs.files"].find_one({"_id": doc["captured_out_spill"][0]})
    assert spill["filename"] == "captured_out://runs/1/80" and spill["metadata"]["offset"] == 80


@settings(max_examples=40, deadline=None)
@given(
    chunks=st.lists(st.text(max_size=30), min_size=1, max_size=6),
    budget=st.integers(min_value=1, max_value=60),
)
def test_budget_never_loses_or_reorders_output(tmp_path_factory, chunks, budget):
    mongomock.gridfs.enable_gridfs_integration()
    client = mongomock.MongoClient()
    workdir = tmp_path_factory.mktemp("w")
    (workdir / "train.py").write_text("x")
    (workdir / "lib").mkdir()
    (workdir / "lib" / "util.py").write_text("y")
    obs = MongoObserver(client=client, captured_out_budget=budget)
    start(obs, workdir)
    text = ""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, chunk in enumerate(chunks):
            text += chunk
            obs.heartbeat_event(info={}, captured_out=text, beat_time=at(i), result=None)
    doc = client.sacred.runs.find_one()
    expected = text.encode("utf-8", "replace").decode("utf-8")
    assert full_output(client.sacred, doc) == expected
    assert len(doc["captured_out"].encode()) <= budget
    assert doc.get("captured_out_truncated", False) == (len(expected.encode()) > budget)


# ---- metrics ----------------------------------------------------------------------------------
def test_metrics_are_appended_per_metric_and_referenced_in_info(recorded, db, workdir):
    obs, runs, metrics = recorded
    start(obs, workdir)
    obs.log_metrics(
        metrics_by_name={**metrics_batch("loss", [0, 1], [1.0, 0.5]), **metrics_batch("acc", [0], [0.1])},
        info={},
    )
    obs.log_metrics(metrics_by_name=metrics_batch("loss", [2], [0.25], t=5), info={})
    assert len(metrics.updates) == 3
    assert all(set(update) == {"$push"} for _, update in metrics.updates)
    loss = db.metrics.find_one({"run_id": 1, "name": "loss"})
    assert loss["steps"] == [0, 1, 2] and loss["values"] == [1.0, 0.5, 0.25]
    assert loss["timestamps"] == [at(0), at(0), at(5)]
    assert db.metrics.count_documents({}) == 2
    obs.heartbeat_event(info={"user": 1}, captured_out="", beat_time=at(6), result=None)
    info = db.runs.find_one()["info"]
    acc = db.metrics.find_one({"name": "acc"})
    assert info == {
        "user": 1,
        "metrics": [{"name": "loss", "id": str(loss["_id"])}, {"name": "acc", "id": str(acc["_id"])}],
    }


def test_metric_retry_after_a_lost_reply_appends_only_the_missing_points(recorded, db, workdir):
    obs, _, metrics = recorded
    start(obs, workdir)
    obs.log_metrics(metrics_by_name=metrics_batch("loss", [0], [1.0]), info={})
    metrics.lose_replies = 1
    with pytest.raises(ObserverError):
        obs.log_metrics(metrics_by_name=metrics_batch("loss", [1, 2], [0.9, 0.8]), info={})
    # The dispatcher merged the failed batch with the next one before retrying.
    obs.log_metrics(metrics_by_name=metrics_batch("loss", [1, 2, 3], [0.9, 0.8, 0.7]), info={})
    assert db.metrics.find_one({"name": "loss"})["steps"] == [0, 1, 2, 3]
    # A brand-new metric whose creation reply was lost is not created twice either.
    metrics.lose_replies = 1
    with pytest.raises(ObserverError):
        obs.log_metrics(metrics_by_name=metrics_batch("acc", [0], [0.5]), info={})
    obs.log_metrics(metrics_by_name=metrics_batch("acc", [0, 1], [0.5, 0.6]), info={})
    assert db.metrics.count_documents({"name": "acc"}) == 1
    assert db.metrics.find_one({"name": "acc"})["values"] == [0.5, 0.6]


def test_numpy_metric_values_are_stored_as_numbers(client, db, workdir):
    np = pytest.importorskip("numpy")
    obs = MongoObserver(client=client)
    start(obs, workdir)
    obs.log_metrics(metrics_by_name=metrics_batch("x", [0, 1], [np.float32(0.5), np.int64(3)]), info={})
    assert db.metrics.find_one()["values"] == [0.5, 3]


# ---- tables -------------------------------------------------------------------------------------
def test_log_table_rows_are_queryable_documents(client, db, workdir):
    obs = MongoObserver(client=client)
    start(obs, workdir)
    obs.log_table(
        "samples", [{"image": f"img{i}.png", "pixel_accuracy": acc} for i, acc in enumerate([0.9, 0.2, 0.7])]
    )
    obs.log_table("samples", [{"image": "img3.png", "pixel_accuracy": 0.1, "index": "mine"}])
    rows = list(db.tables.find({"run_id": 1, "table": "samples"}).sort("row.pixel_accuracy", 1).limit(2))
    assert [(r["index"], r["row"]["image"]) for r in rows] == [(3, "img3.png"), (1, "img1.png")]
    assert rows[0]["row"]["index"] == "mine"
    keys = [index["key"] for index in db.tables.index_information().values()]
    assert [("run_id", 1), ("table", 1), ("index", 1)] in keys


def test_log_table_retry_does_not_duplicate_rows(db, workdir):
    class LosingInserts(Recording):
        lose_inserts = 1

        def insert_many(self, docs, **kwargs):
            result = self._collection.insert_many(docs, **kwargs)
            if self.lose_inserts:
                self.lose_inserts -= 1
                raise AutoReconnect("reply lost")
            return result

    obs = MongoObserver.create_from(db["runs"], gridfs.GridFS(db))
    obs.tables = LosingInserts(db["tables"])
    start(obs, workdir)
    with pytest.raises(ObserverError):
        obs.log_table("t", [{"v": 1}, {"v": 2}])
    obs.log_table("t", [{"v": 1}, {"v": 2}, {"v": 3}])  # merged retry
    assert [r["row"]["v"] for r in db.tables.find().sort("index", 1)] == [1, 2, 3]


# ---- resources, artifacts ---------------------------------------------------------------------
def test_resources_are_uploaded_once_and_listed_once(client, db, workdir):
    obs = MongoObserver(client=client)
    start(obs, workdir)
    data = workdir / "data.csv"
    data.write_text("a,b\n1,2\n")
    obs.resource_event(filename=str(data))
    obs.resource_event(filename=str(data))
    md5 = hashlib.md5(data.read_bytes()).hexdigest()
    assert db.runs.find_one()["resources"] == [[str(data), md5]]
    stored = list(db["fs.files"].find({"filename": str(data)}))
    assert len(stored) == 1 and stored[0]["metadata"]["md5"] == md5
    assert gridfs_bytes(db, stored[0]["_id"]) == b"a,b\n1,2\n"


def test_artifacts_go_to_gridfs_with_metadata_and_content_type(client, db, workdir):
    obs = MongoObserver(client=client)
    start(obs, workdir)
    model = workdir / "model.bin"
    model.write_bytes(b"\x00\x01weights")
    plot = workdir / "plot.png"
    plot.write_bytes(b"\x89PNG")
    obs.artifact_event(
        name="model.bin", filename=str(model), metadata={"epoch": 3}, content_type="application/x-weights"
    )
    obs.artifact_event(name="plot.png", filename=str(plot))
    artifacts = db.runs.find_one()["artifacts"]
    assert [a["name"] for a in artifacts] == ["model.bin", "plot.png"]
    files = {f["filename"]: f for f in db["fs.files"].find({"filename": {"$regex": "^artifact"}})}
    weights = files["artifact://runs/1/model.bin"]
    assert weights["_id"] == artifacts[0]["file_id"]
    assert weights["metadata"] == {"epoch": 3} and weights["contentType"] == "application/x-weights"
    assert files["artifact://runs/1/plot.png"]["contentType"] == "image/png"
    assert gridfs_bytes(db, artifacts[0]["file_id"]) == b"\x00\x01weights"


def test_artifact_retry_reuses_the_upload(recorded, db, workdir):
    obs, runs, _ = recorded
    start(obs, workdir)
    model = workdir / "model.bin"
    model.write_bytes(b"w")
    runs.lose_replies = 1
    with pytest.raises(ObserverError):
        obs.artifact_event(name="model.bin", filename=str(model))
    obs.artifact_event(name="model.bin", filename=str(model))
    assert len(db.runs.find_one()["artifacts"]) == 1
    assert db["fs.files"].count_documents({"filename": "artifact://runs/1/model.bin"}) == 1


# ---- end of run ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "event, kwargs, expected",
    [
        (
            "completed_event",
            {"stop_time": at(9), "result": (1, 2)},
            {"status": "COMPLETED", "result": {"py/tuple": [1, 2]}},
        ),  # Sacred's jsonpickle form
        ("interrupted_event", {"interrupt_time": at(9), "status": "TIMEOUT"}, {"status": "TIMEOUT"}),
        (
            "failed_event",
            {"fail_time": at(9), "fail_trace": ["Traceback", "ValueError: x\n"]},
            {"status": "FAILED", "fail_trace": ["Traceback", "ValueError: x\n"]},
        ),
    ],
)
def test_final_events(client, db, workdir, event, kwargs, expected):
    obs = MongoObserver(client=client)
    start(obs, workdir)
    getattr(obs, event)(**kwargs)
    doc = db.runs.find_one()
    assert doc["stop_time"] == at(9)
    assert {key: doc[key] for key in expected} == expected


def test_failed_final_save_writes_the_run_entry_as_json(db, workdir, tmp_path):
    runs = Recording(db["runs"])
    obs = MongoObserver.create_from(runs, gridfs.GridFS(db), failure_dir=str(tmp_path / "fail"))
    start(obs, workdir)
    obs.heartbeat_event(info={"x": 1}, captured_out="some output", beat_time=at(1), result=None)
    runs.refuse = 1
    with pytest.raises(ObserverError, match="stored the run entry in"):
        obs.completed_event(stop_time=at(2), result=42)
    (saved,) = (tmp_path / "fail").glob("sacred_mongo_fail_1_uid-1.json")
    entry = json.loads(saved.read_text())
    assert entry["status"] == "COMPLETED" and entry["result"] == 42
    assert entry["captured_out"] == "some output" and entry["info"] == {"x": 1}
    assert entry["stop_time"] == at(2).isoformat() and entry["config"] == {"lr": 0.1}
    assert isinstance(entry["experiment"]["sources"][0][1], str)
    obs.completed_event(stop_time=at(2), result=42)  # a later retry succeeds
    assert db.runs.find_one()["status"] == "COMPLETED"


def test_events_before_start_are_errors(client):
    with pytest.raises(ObserverError, match="before started_event"):
        MongoObserver(client=client).heartbeat_event(info={}, captured_out="", beat_time=T0, result=None)


def test_deleted_run_is_reported(client, db, workdir):
    obs = MongoObserver(client=client)
    start(obs, workdir)
    db.runs.delete_many({})
    with pytest.raises(ObserverError, match="no longer exists"):
        obs.completed_event(stop_time=T0, result=None)


# ---- replay -------------------------------------------------------------------------------------
def test_attach_continues_output_metrics_and_tables(client, db, workdir):
    obs = MongoObserver(client=client)
    start(obs, workdir)
    obs.log_metrics(metrics_by_name=metrics_batch("loss", [0], [1.0]), info={})
    obs.log_table("t", [{"v": 0}])
    obs.heartbeat_event(info={}, captured_out="before\n", beat_time=at(1), result=None)
    resumed = MongoObserver(client=client)
    resumed.attach(1)
    resumed.log_metrics(metrics_by_name=metrics_batch("loss", [1], [0.5]), info={})
    resumed.log_table("t", [{"v": 1}])
    resumed.heartbeat_event(info={}, captured_out="before\nafter\n", beat_time=at(2), result=None)
    resumed.completed_event(stop_time=at(3), result=None)
    doc = db.runs.find_one()
    assert doc["captured_out"] == "before\nafter\n" and doc["status"] == "COMPLETED"
    assert doc["info"]["metrics"] == [{"name": "loss", "id": str(db.metrics.find_one()["_id"])}]
    assert db.metrics.find_one()["steps"] == [0, 1]
    assert [(r["index"], r["row"]["v"]) for r in db.tables.find().sort("index", 1)] == [(0, 0), (1, 1)]
    with pytest.raises(ObserverError, match="No run with _id=99"):
        MongoObserver(client=client).attach(99)


def test_attach_to_a_run_written_by_sacred(client, db):
    db.runs.insert_one(
        {"_id": 5, "status": "RUNNING", "captured_out": "sacred said\n", "info": {}, "heartbeat": None}
    )
    obs = MongoObserver(client=client)
    obs.attach(5)
    obs.heartbeat_event(info={}, captured_out="sacred said\nwe add\n", beat_time=at(1), result=None)
    obs.heartbeat_event(info={}, captured_out="sacred said\nwe add\nmore\n", beat_time=at(2), result=None)
    doc = db.runs.find_one({"_id": 5})
    assert doc["captured_out"] == "sacred said\nwe add\nmore\n"
    assert doc["captured_out_length"] == len(doc["captured_out"])


def test_replay_spec_rebuilds_the_observer():
    obs = MongoObserver(url="mongodb://127.0.0.1:1", db_name="exp", collection_prefix="p")
    spec = obs.replay_spec()
    assert spec == {
        "factory": "experimentkit.backends.mongo.observer:MongoObserver",
        "kwargs": {"url": "mongodb://127.0.0.1:1", "db_name": "exp", "collection_prefix": "p"},
    }
    module, name = spec["factory"].split(":")
    rebuilt = getattr(importlib.import_module(module), name)(**spec["kwargs"])
    assert rebuilt == obs and rebuilt.runs.full_name == "exp.p_runs"
    assert MongoObserver(client=mongomock.MongoClient()).replay_spec() is None


# ---- construction -------------------------------------------------------------------------------
def test_constructor_checks(client):
    with pytest.raises(ValueError, match="Cannot pass both a client and a url."):
        MongoObserver(url="mongodb://localhost", client=client)
    with pytest.raises(ValueError, match="client needs to be a pymongo.MongoClient"):
        MongoObserver(client=object())
    with (
        pytest.raises(ValueError, match="Cannot pass both collection and a collection prefix."),
        pytest.warns(DeprecationWarning),
    ):
        MongoObserver(client=client, collection="mine", collection_prefix="p")
    for reserved in ("fs.files", "_properties", "search_space"):
        with pytest.raises(KeyError, match="is reserved"), pytest.warns(DeprecationWarning):
            MongoObserver(client=client, collection=reserved)
    with pytest.warns(DeprecationWarning, match="MongoObserver.create"):
        obs = MongoObserver.create(client=client, db_name="x", priority=5)
    assert obs.priority == 5 and obs.runs.full_name == "x.runs"


def test_collection_names(client):
    obs = MongoObserver(client=client, collection_prefix="p")
    assert (obs.runs.name, obs.metrics.name, obs.tables.name) == ("p_runs", "p_metrics", "p_tables")
    with pytest.warns(DeprecationWarning, match='"collection" is deprecated'):
        old = MongoObserver(client=client, collection="experiments")
    assert (old.runs.name, old.metrics.name) == ("experiments", "metrics")
    assert schema.collection_names() == {"runs": "runs", "metrics": "metrics", "tables": "tables"}
    derived = MongoObserver.create_from(client.db["q_runs"], gridfs.GridFS(client.db))
    assert (derived.metrics.name, derived.tables.name) == ("q_metrics", "q_tables")
    assert MongoObserver(client=client) == MongoObserver(client=client)
    assert MongoObserver(client=client) != obs


def test_queued_mongo_observer_writes_in_the_background(client, db, workdir):
    obs = QueuedMongoObserver(client=client, interval=0.01, retry_interval=0.01)
    assert obs.priority == 30
    assert start(obs, workdir) == 1
    obs.heartbeat_event(info={}, captured_out="bg", beat_time=at(1), result=None)
    obs.completed_event(stop_time=at(2), result=1)
    obs.join()
    doc = db.runs.find_one()
    assert (doc["captured_out"], doc["status"], doc["result"]) == ("bg", "COMPLETED", 1)
    assert obs.take_undelivered() == []


def test_lazy_exports():
    import experimentkit.observers as observers

    assert observers.MongoObserver is MongoObserver
    assert observers.QueuedMongoObserver is QueuedMongoObserver
