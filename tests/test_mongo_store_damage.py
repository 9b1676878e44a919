"""MongoStore on documents it did not write: damaged run documents are read with what is wrong named
(the rest of the run is kept), BSON-only values come back as plain ones, and every reader of one run
refuses an unknown run id in one line."""

import datetime as dt

import mongomock
import mongomock.gridfs
import pytest
from bson import Decimal128, ObjectId

from experimentkit.backends.mongo.store import MongoStore
from experimentkit.errors import StoreError

T0 = dt.datetime(2024, 1, 1)


def good_run(run_id, **fields):
    doc = {
        "_id": run_id,
        "status": "COMPLETED",
        "experiment": {"name": "e", "sources": []},
        "config": {},
        "host": {},
        "meta": {},
        "start_time": T0,
        "artifacts": [],
    }
    return {**doc, **fields}


@pytest.fixture
def client():
    mongomock.gridfs.enable_gridfs_integration()
    return mongomock.MongoClient()


def test_damaged_run_documents_are_read_with_what_is_wrong_named(client):
    db = client["sacred"]
    damaged = good_run(1, status=5, config=["not", "a", "document"], info="text", start_time="yesterday")
    del damaged["meta"]
    db["runs"].insert_many([damaged, good_run(2)])
    db["metrics"].insert_one(
        {"run_id": 1, "name": "loss", "steps": [0, 1], "values": ["a", "b"], "timestamps": [T0] * 2}
    )
    store = MongoStore(client=client)
    record = store.get("1")
    assert sorted(record.damaged) == sorted(
        [
            "run 1: the document has no 'meta' field",
            "run 1: field 'status' is a int, not a string",
            "run 1: field 'config' is a list, not a document",
            "run 1: field 'info' is a str, not a document",
            "run 1: the document has no readable 'start_time'",
            "metric 'loss': stored values that are not numbers (last left out)",
        ]
    )
    assert record.config == {} and record.info == {} and record.meta == {}  # read as empty, not lost
    assert store.get("2").damaged == []


def test_bson_values_come_back_as_plain_values(client):
    oid = ObjectId()
    aware = dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    client["sacred"]["runs"].insert_one(
        good_run(7, config={"ref": oid, "price": Decimal128("2.5"), "when": aware}, heartbeat=aware)
    )
    record = MongoStore(client=client).get("7")
    assert record.config == {"ref": str(oid), "price": 2.5, "when": dt.datetime(2024, 1, 1, 10)}
    assert record.heartbeat == dt.datetime(2024, 1, 1, 10)  # naive UTC, as every store gives times


def test_every_reader_of_one_run_refuses_an_unknown_run_id(client):
    client["sacred"]["runs"].insert_one(good_run(1))
    store = MongoStore(client=client)
    readers = [
        lambda: store.captured_out("9"),
        lambda: store.source("9", "train.py"),
        lambda: store.artifact("9", "model.pt"),
        lambda: store.artifact_metadata("9"),
    ]
    for read in readers:
        with pytest.raises(StoreError, match="no run '9'"):
            read()


def test_a_client_and_a_url_together_are_refused(client):
    with pytest.raises(ValueError, match="Cannot pass both a client and a url"):
        MongoStore("mongodb://127.0.0.1:27017", client=client)


def test_the_sweep_book_keeps_records_beside_the_runs_of_the_store(client):
    client["sacred"]["exp_runs"].insert_one(good_run(1))
    store = MongoStore(client=client, prefix="exp")
    book = store.sweep_book()
    assert str(book) == str(store)
    first = book.create({"status": "RUNNING", "start_time": T0, "grid": {"lr": [0.1, 0.01]}})
    second = book.create({"status": "RUNNING"})
    book.update(first, {"status": "COMPLETED"})
    assert (first, second) == (1, 2)
    assert [(r["id"], r["status"]) for r in book.records()] == [(1, "COMPLETED"), (2, "RUNNING")]
    assert book.records()[0]["grid"] == {"lr": [0.1, 0.01]}
    assert client["sacred"]["exp_sweeps"].count_documents({}) == 2  # beside exp_runs
    assert book.create({"status": "QUEUED"}, sweep_id=7) == 7
