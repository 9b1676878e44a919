"""MongoDB metrics in bucket documents of bounded size (mongomock, with a lowered bucket size).

Every test runs on mongomock and, when EXPERIMENTKIT_TEST_MONGO names a server
(``mongodb://127.0.0.1:27017``), also on a fresh database of that server, dropped afterwards; there
one more test logs beyond the 16 MiB document limit with the default bucket size.

Sacred keeps one document per metric and ``$push``es every point into it, until MongoDB's 16 MiB
document limit ends the run's recording.  Here point ``i`` goes to bucket ``i // cap``: bucket 0 is
Sacred's document, later ones carry ``bucket: k``; readers put the buckets back together.
"""

import datetime as dt
import os
import uuid

import gridfs
import mongomock
import mongomock.gridfs
import pytest
from pymongo.errors import AutoReconnect

from experimentkit.backends.mongo.observer import MongoObserver
from experimentkit.backends.mongo.store import MongoStore
from experimentkit.errors import ObserverError

T0 = dt.datetime(2026, 1, 1)
CAP = 10


class LosingReplies:
    """A metrics collection whose next ``lose`` updates are applied, then reported as lost, and
    that refuses any document holding more than CAP points (a lowered document cap)."""

    def __init__(self, collection):
        self._collection = collection
        self.lose = 0
        self.biggest = 0

    def __getattr__(self, name):
        return getattr(self._collection, name)

    def update_one(self, query, update, upsert=False):
        result = self._collection.update_one(query, update, upsert=upsert)
        for doc in self._collection.find({}, {"steps": 1}):
            self.biggest = max(self.biggest, len(doc.get("steps") or []))
            assert len(doc.get("steps") or []) <= CAP, "a document outgrew the cap"
        if self.lose:
            self.lose -= 1
            raise AutoReconnect("connection closed before the reply")
        return result


def _server_url() -> str:
    url = os.environ.get("EXPERIMENTKIT_TEST_MONGO")
    if not url:
        pytest.skip("EXPERIMENTKIT_TEST_MONGO is not set: no MongoDB server to test against")
    return url


@pytest.fixture(params=["mongomock", pytest.param("server", marks=pytest.mark.mongo)])
def db(request):
    """The database the runs go to: mongomock's, or a fresh one on the real server."""
    if request.param == "mongomock":
        mongomock.gridfs.enable_gridfs_integration()
        yield mongomock.MongoClient()["sacred"]
        return
    import pymongo

    client = pymongo.MongoClient(_server_url(), serverSelectionTimeoutMS=5000)
    name = f"experimentkit_buckets_{uuid.uuid4().hex[:12]}"
    try:
        yield client[name]
    finally:
        client.drop_database(name)
        client.close()


def observer(db, metrics=None):
    obs = MongoObserver.create_from(
        db["runs"], gridfs.GridFS(db), metrics_collection=metrics or db["metrics"]
    )
    obs.metric_bucket_points = CAP
    return obs


def start(obs):
    return obs.started_event(
        ex_info={"name": "e", "base_dir": "", "sources": []},
        command="main",
        host_info={},
        start_time=T0,
        config={"lr": 0.1},
        meta_info={"uid": "u1"},
        _id=None,
    )


def batch(start_step, count, name="loss"):
    steps = list(range(start_step, start_step + count))
    return {
        name: {
            "name": name,
            "steps": steps,
            "values": [float(s) for s in steps],
            "timestamps": [T0 + dt.timedelta(seconds=s) for s in steps],
        }
    }


def test_points_beyond_the_cap_go_to_further_buckets_and_read_back_whole(db):
    metrics = LosingReplies(db["metrics"])
    obs = observer(db, metrics)
    run_id = start(obs)
    logged = 0
    for size in (7, 7, 30, 1, 2):
        obs.log_metrics(batch(logged, size), info={})
        logged += size
    obs.log_metrics(batch(0, 3, name="acc"), info={})
    obs.heartbeat_event(info={}, captured_out="", beat_time=T0, result=None)
    obs.completed_event(stop_time=T0, result=1)
    assert logged == 47 and metrics.biggest == CAP
    docs = sorted(db.metrics.find({"name": "loss"}), key=lambda d: d.get("bucket", 0))
    assert [len(d["steps"]) for d in docs] == [10, 10, 10, 10, 7]
    assert [d.get("bucket") for d in docs] == [None, 1, 2, 3, 4]
    # bucket 0 is exactly Sacred's document, and run.info.metrics points at it
    assert set(docs[0]) == {"_id", "run_id", "name", "steps", "values", "timestamps"}
    assert docs[0]["steps"] == list(range(10))
    info = db.runs.find_one({"_id": run_id})["info"]
    assert {"name": "loss", "id": str(docs[0]["_id"])} in info["metrics"]

    store = MongoStore(client=db.client, db_name=db.name)
    series = store.metric(run_id, "loss")
    assert series.steps == list(range(47))  # logged = stored, 0 duplicated
    assert series.values == [float(s) for s in range(47)]
    assert len(series.timestamps) == 47
    summary = store.get(run_id).metrics["loss"]
    assert summary == {"last": 46.0, "min": 0.0, "max": 46.0, "count": 47}
    assert store.get(run_id).metrics["acc"]["count"] == 3


def test_a_lost_reply_at_a_bucket_boundary_duplicates_nothing(db):
    metrics = LosingReplies(db["metrics"])
    obs = observer(db, metrics)
    run_id = start(obs)
    obs.log_metrics(batch(0, 8), info={})
    metrics.lose = 1  # the first part (steps 8, 9) is stored, its reply lost
    with pytest.raises(ObserverError):
        obs.log_metrics(batch(8, 6), info={})
    obs.log_metrics(batch(8, 9), info={})  # the dispatcher's retry, merged with the next batch
    store = MongoStore(client=db.client, db_name=db.name)
    assert store.metric(run_id, "loss").steps == list(range(17))


def test_attach_continues_in_the_right_bucket(db):
    first = observer(db)
    run_id = start(first)
    first.log_metrics(batch(0, 13), info={})
    again = observer(db)
    again.attach(run_id)
    again.log_metrics(batch(13, 12), info={})
    docs = sorted(db.metrics.find({"name": "loss"}), key=lambda d: d.get("bucket", 0))
    assert [len(d["steps"]) for d in docs] == [10, 10, 5]
    store = MongoStore(client=db.client, db_name=db.name)
    assert store.metric(run_id, "loss").steps == list(range(25))


def test_a_store_made_before_buckets_gets_its_metric_index_replaced(db):
    db.metrics.create_index([("run_id", 1), ("name", 1)], unique=True)
    obs = observer(db)
    run_id = start(obs)
    obs.log_metrics(batch(0, 25), info={})
    keys = [
        [k for k, _ in (ix["key"].items() if hasattr(ix["key"], "items") else ix["key"])]
        for ix in list(db.metrics.list_indexes())
    ]
    assert ["run_id", "name"] not in keys and ["run_id", "name", "bucket"] in keys
    store = MongoStore(client=db.client, db_name=db.name)
    assert store.metric(run_id, "loss").steps == list(range(25))


@pytest.mark.mongo
@pytest.mark.slow
def test_a_metric_beyond_the_server_document_limit_is_stored_whole():
    """450,000 points of one metric (Sacred's single document would pass 16 MiB at about 400,000)
    with the default bucket size, on the real server, which refuses any document above 16 MiB."""
    import pymongo

    client = pymongo.MongoClient(_server_url(), serverSelectionTimeoutMS=5000)
    name = f"experimentkit_buckets_{uuid.uuid4().hex[:12]}"
    try:
        db = client[name]
        obs = MongoObserver.create_from(db["runs"], gridfs.GridFS(db), metrics_collection=db["metrics"])
        run_id = start(obs)
        logged = 0
        for _ in range(5):
            obs.log_metrics(batch(logged, 90_000), info={})
            logged += 90_000
        obs.completed_event(stop_time=T0, result=1)
        assert db.metrics.count_documents({"run_id": run_id, "name": "loss"}) == 5  # buckets 0..4
        series = MongoStore(client=client, db_name=name).metric(run_id, "loss")
        assert series.steps == list(range(logged))  # logged = stored, 0 duplicated
        assert db.runs.find_one({"_id": run_id})["status"] == "COMPLETED"
    finally:
        client.drop_database(name)
        client.close()
