"""MongoObserver with real pymongo clients: a missing server, and (opt-in) a real MongoDB server."""

import datetime as dt
import os
import subprocess
import sys
import uuid

import pytest

from experimentkit.backends.mongo.observer import MongoObserver
from experimentkit.errors import ObserverError

T0 = dt.datetime(2024, 5, 1, 12, 0, 0)


def start(obs, workdir, uid):
    (workdir / "train.py").write_text("print('hi')\n")
    ex_info = {
        "name": "demo",
        "base_dir": str(workdir),
        "sources": [["train.py", "x"]],
        "dependencies": [],
        "repositories": [],
        "mainfile": "train.py",
    }
    return obs.started_event(
        ex_info=ex_info,
        command="main",
        host_info={"hostname": "h"},
        start_time=T0,
        config={"lr": 0.1, "a.b": 1},
        meta_info={"command": "main", "uid": uid},
        _id=None,
    )


def test_missing_server_is_a_one_line_error_within_seconds(tmp_path):
    # constructing must not wait for the server: a ping there would raise from the constructor
    obs = MongoObserver(url="mongodb://127.0.0.1:1")
    # "within seconds" is the default server-selection timeout, read back from the client itself
    assert obs.runs.database.client.options.server_selection_timeout == 3
    with pytest.raises(ObserverError) as caught:
        start(obs, tmp_path, uid="u")
    message = str(caught.value)
    assert message.startswith("Cannot reach MongoDB at mongodb://127.0.0.1:1: ")
    assert "\n" not in message and "configured timeouts" not in message and len(message) < 200


def test_a_given_server_selection_timeout_is_kept():
    obs = MongoObserver(url="mongodb://127.0.0.1:1", serverSelectionTimeoutMS=250)
    assert obs.runs.database.client.options.server_selection_timeout == 0.25


def test_connection_errors_after_start_are_reported_without_the_password(tmp_path):
    obs = MongoObserver(
        url="mongodb://user:secret@127.0.0.1:1/?authSource=admin", serverSelectionTimeoutMS=200
    )
    with pytest.raises(ObserverError, match=r"Cannot reach MongoDB at mongodb://user:\*\*\*@") as e:
        obs.attach(1)
    assert "secret" not in str(e.value)


def test_importing_the_observer_does_not_import_pymongo():
    code = (
        "import sys, experimentkit.backends.mongo.observer, experimentkit.observers; "
        "print(sorted(m for m in ('pymongo', 'gridfs', 'bson') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.fixture
def mongo_url():
    url = os.environ.get("EXPERIMENTKIT_TEST_MONGO")
    if not url:
        pytest.skip("real MongoDB tests need EXPERIMENTKIT_TEST_MONGO (e.g. mongodb://127.0.0.1:27017)")
    return url


@pytest.mark.mongo
def test_full_run_against_a_real_server(mongo_url, tmp_path):
    import gridfs
    import pymongo

    db_name = f"experimentkit_test_{uuid.uuid4().hex[:12]}"
    client = pymongo.MongoClient(mongo_url, serverSelectionTimeoutMS=3000)
    try:
        obs = MongoObserver(url=mongo_url, db_name=db_name, captured_out_budget=64)
        run_id = start(obs, tmp_path, uid="real-1")
        replayed = MongoObserver(url=mongo_url, db_name=db_name)
        assert start(replayed, tmp_path, uid="real-1") == run_id
        obs.log_metrics(
            metrics_by_name={
                "loss": {"name": "loss", "steps": [0, 1], "values": [1.0, 0.5], "timestamps": [T0, T0]}
            },
            info={},
        )
        obs.log_table("samples", [{"acc": 0.3}, {"acc": 0.1}])
        text = ""
        with pytest.warns(RuntimeWarning, match="printed more than 64 bytes"):
            for i in range(4):
                text += f"line {i} " + "x" * 20 + "\n"
                obs.heartbeat_event(info={"i": i}, captured_out=text, beat_time=T0, result=i)
        (tmp_path / "model.bin").write_bytes(b"weights")
        obs.artifact_event(name="model.bin", filename=str(tmp_path / "model.bin"))
        obs.completed_event(stop_time=T0, result=3)

        db = client[db_name]
        doc = db.runs.find_one({"_id": run_id})
        assert doc["status"] == "COMPLETED" and doc["config"] == {"lr": 0.1, "a,b": 1}
        fs = gridfs.GridFS(db)
        spilled = b"".join(fs.get(fid).read() for fid in doc["captured_out_spill"]).decode()
        assert doc["captured_out"] + spilled == text and doc["captured_out_truncated"] is True
        assert doc["info"]["metrics"][0]["name"] == "loss"
        assert db.metrics.find_one({"run_id": run_id})["values"] == [1.0, 0.5]
        lowest = db.tables.find({"run_id": run_id, "table": "samples"}).sort("row.acc", 1)
        assert [r["row"]["acc"] for r in lowest] == [0.1, 0.3]
        assert fs.get(doc["artifacts"][0]["file_id"]).read() == b"weights"
    finally:
        client.drop_database(db_name)
        client.close()
