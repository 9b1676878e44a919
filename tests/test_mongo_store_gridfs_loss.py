"""A MongoDB store whose GridFS lost files (a partial restore, a hand clean-up): each read names what
is missing, in one line, and what is still there stays readable."""

import mongomock
import mongomock.gridfs
import pytest

from experimentkit import Experiment
from experimentkit.backends.mongo.store import MongoStore
from experimentkit.errors import StoreError
from experimentkit.observers import MongoObserver


@pytest.fixture
def stored(tmp_path, monkeypatch):
    """One run with a source file, two artifacts and output spilled to GridFS."""
    mongomock.gridfs.enable_gridfs_integration()
    client = mongomock.MongoClient()
    (tmp_path / "weights.bin").write_bytes(b"\x00weights")
    (tmp_path / "notes.txt").write_text("notes")
    ex = Experiment("lossy", base_dir=str(tmp_path))
    ex.observers.append(MongoObserver(client=client, captured_out_budget=16))

    @ex.main
    def main(_run):
        print("x" * 64)
        _run.add_artifact(str(tmp_path / "weights.bin"), metadata={"epoch": 3})
        _run.add_artifact(str(tmp_path / "notes.txt"))

    monkeypatch.chdir(tmp_path)
    with pytest.warns(RuntimeWarning, match="GridFS"):
        ex.run(options={"--capture": "sys"})
    return client, MongoStore(client=client)


def _drop_file(client, **query):
    files = client.sacred["fs.files"]
    doc = files.find_one(query)
    assert doc is not None, query
    files.delete_one({"_id": doc["_id"]})
    client.sacred["fs.chunks"].delete_many({"files_id": doc["_id"]})
    return doc["_id"]


def test_artifacts_and_their_metadata_read_back(stored):
    _, store = stored
    run = store.get("1")
    assert sorted(run.artifacts) == ["notes.txt", "weights.bin"]
    assert run.open_artifact("weights.bin").read() == b"\x00weights"
    meta = store.artifact_metadata("1")
    assert meta["weights.bin"]["metadata"] == {"epoch": 3}


def test_a_lost_artifact_is_named_and_the_other_still_reads(stored):
    client, store = stored
    lost = _drop_file(client, filename={"$regex": "weights.bin$"})
    with pytest.raises(
        StoreError, match=rf"the artifact 'weights.bin' of run 1 is missing from GridFS \({lost}\)"
    ):
        store.artifact("1", "weights.bin")
    assert store.artifact("1", "notes.txt").read() == b"notes"
    with pytest.raises(StoreError, match="run 1 has no artifact 'weight.bin' .*did you mean 'weights.bin'"):
        store.artifact("1", "weight.bin")


def test_lost_output_parts_are_warned_about_and_the_rest_is_returned(stored):
    client, store = stored
    (spilled,) = client.sacred.runs.find_one()["captured_out_spill"][:1]
    _drop_file(client, _id=spilled)
    with pytest.warns(
        RuntimeWarning, match=rf"run 1: a part of the captured output \({spilled}\) is missing"
    ):
        text = store.captured_out("1")
    assert "x" * 64 not in text


def test_a_lost_source_file_is_named(stored):
    client, store = stored
    (entry,) = [e for e in client.sacred.runs.find_one()["experiment"]["sources"] if e[0].endswith(".py")][:1]
    _drop_file(client, _id=entry[1])
    with pytest.raises(StoreError, match=f"source file '{entry[0]}' of run 1 is missing from GridFS"):
        store.source("1", entry[0])
    with pytest.raises(StoreError, match="run 1 has no source file 'nope.py'"):
        store.source("1", "nope.py")
