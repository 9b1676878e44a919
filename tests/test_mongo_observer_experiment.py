"""End to end: an Experiment recording into MongoObserver (mongomock)."""

import gridfs
import mongomock
import mongomock.gridfs
import pytest
from pymongo.errors import AutoReconnect

from experimentkit import Experiment
from experimentkit.observers import MongoObserver


@pytest.fixture
def client():
    mongomock.gridfs.enable_gridfs_integration()
    return mongomock.MongoClient()


def make_experiment(observer, tmp_path, fail=False):
    ex = Experiment("tiny")
    ex.observers.append(observer)
    data = tmp_path / "data.txt"
    data.write_text("1 2 3\n")

    @ex.config
    def cfg():
        lr = 0.1  # noqa: F841

    @ex.main
    def main(lr, _run):
        print("training with", lr)
        with _run.open_resource(str(data)) as fh:
            fh.read()
        for step in range(3):
            _run.log_scalar("loss", 1.0 / (step + 1), step)
        _run.log_table("samples", [{"id": i, "pixel_accuracy": acc} for i, acc in enumerate([0.8, 0.3, 0.5])])
        model = tmp_path / "model.txt"
        model.write_text("weights")
        _run.add_artifact(str(model), name="model.txt")
        _run.info["best"] = 0.5
        if fail:
            raise RuntimeError("diverged")
        return lr * 2

    return ex


def test_completed_experiment_is_recorded(client, tmp_path):
    ex = make_experiment(MongoObserver(client=client), tmp_path)
    run = ex.run(config_updates={"lr": 0.25}, options={"--capture": "sys"})
    db = client.sacred
    doc = db.runs.find_one({"_id": run._id})
    assert run._id == 1
    assert doc["status"] == "COMPLETED" and doc["result"] == 0.5
    assert doc["config"]["lr"] == 0.25 and "seed" in doc["config"]
    assert doc["experiment"]["name"] == "tiny" and doc["meta"]["uid"]
    assert "training with 0.25" in doc["captured_out"]
    assert doc["captured_out_length"] == len(doc["captured_out"])
    assert doc["info"]["best"] == 0.5
    loss = db.metrics.find_one({"run_id": 1, "name": "loss"})
    assert loss["values"] == [1.0, 0.5, 1 / 3] and loss["steps"] == [0, 1, 2]
    assert doc["info"]["metrics"] == [{"name": "loss", "id": str(loss["_id"])}]
    worst = db.tables.find({"run_id": 1, "table": "samples"}).sort("row.pixel_accuracy", 1)
    assert [r["row"]["id"] for r in worst] == [1, 2, 0]
    assert [r[0] for r in doc["resources"]] == [str(tmp_path / "data.txt")]
    (artifact,) = doc["artifacts"]
    assert gridfs.GridFS(db).get(artifact["file_id"]).read() == b"weights"


def test_failed_experiment_is_recorded(client, tmp_path):
    ex = make_experiment(MongoObserver(client=client), tmp_path, fail=True)
    with pytest.raises(RuntimeError, match="diverged"):
        ex.run(options={"--capture": "sys"})
    doc = client.sacred.runs.find_one()
    assert doc["status"] == "FAILED" and "diverged" in "".join(doc["fail_trace"])
    assert "training with 0.1" in doc["captured_out"]


def test_a_short_outage_loses_and_duplicates_nothing(client, tmp_path):
    class Flaky:
        """The runs collection; its heartbeat updates fail twice (one lost reply, one refusal)."""

        def __init__(self, collection):
            self._collection = collection
            self.failures = ["lost", "refused"]

        def __getattr__(self, name):
            return getattr(self._collection, name)

        def update_one(self, query, update, **kwargs):
            if isinstance(update, list) and self.failures:
                mode = self.failures.pop(0)
                if mode == "lost":
                    self._collection.update_one(query, update, **kwargs)
                raise AutoReconnect(f"heartbeat {mode}")
            return self._collection.update_one(query, update, **kwargs)

    db = client.sacred
    observer = MongoObserver.create_from(Flaky(db["runs"]), gridfs.GridFS(db))
    ex = make_experiment(observer, tmp_path)
    ex.run(options={"--capture": "sys"})
    assert observer.runs.failures == [], "both failures happened"
    doc = db.runs.find_one()
    assert doc["status"] == "COMPLETED"
    assert doc["captured_out"].count("training with 0.1") == 1
    assert db.metrics.find_one()["steps"] == [0, 1, 2]
