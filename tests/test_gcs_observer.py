"""GoogleCloudStorageObserver against a local GCS emulator (gcp-storage-emulator on 127.0.0.1) through
google-cloud-storage."""

import json
import socket

import pytest

storage = pytest.importorskip("google.cloud.storage")
emulator = pytest.importorskip("gcp_storage_emulator.server")


@pytest.fixture(scope="module")
def gcs_client():
    with socket.socket() as s:  # a free port: the emulator does not report the one it bound
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = emulator.create_server("127.0.0.1", port, in_memory=True)
    server.start()
    mp = pytest.MonkeyPatch()
    mp.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
    from google.auth.credentials import AnonymousCredentials

    client = storage.Client(project="test", credentials=AnonymousCredentials())
    client.create_bucket("ek-runs")
    yield client
    mp.undo()
    server.stop()


def test_run_is_stored_in_sacred_layout(gcs_client, tmp_path):
    from experimentkit import Experiment
    from experimentkit.observers import GoogleCloudStorageObserver

    ex = Experiment("gcsexp")
    ex.observers.append(GoogleCloudStorageObserver(bucket="ek-runs", basedir="exp", client=gcs_client))
    artifact = tmp_path / "plot.txt"
    artifact.write_text("chart")

    @ex.main
    def main(_run):
        print("to the cloud")
        _run.log_scalar("loss", 0.25)
        _run.add_artifact(str(artifact))
        return 5

    ex.run()
    ex.run()
    blobs = {b.name: b.download_as_bytes() for b in gcs_client.list_blobs("ek-runs", prefix="exp/")}
    assert {
        "exp/1/run.json",
        "exp/1/config.json",
        "exp/1/cout.txt",
        "exp/1/metrics.json",
        "exp/1/plot.txt",
        "exp/2/run.json",
    } <= set(blobs)
    run = json.loads(blobs["exp/1/run.json"])
    assert run["status"] == "COMPLETED" and run["result"] == 5 and run["artifacts"] == ["plot.txt"]
    assert "to the cloud" in blobs["exp/1/cout.txt"].decode()
    assert json.loads(blobs["exp/1/metrics.json"])["loss"]["values"] == [0.25]
    assert all(f"exp/{path}" in blobs for _, path in run["experiment"]["sources"])


def test_missing_bucket_is_refused(gcs_client):
    import datetime

    from experimentkit.observers import GoogleCloudStorageObserver

    obs = GoogleCloudStorageObserver(bucket="no-such-bucket", basedir="x", client=gcs_client)
    with pytest.raises(ValueError, match="'no-such-bucket' does not exist"):
        obs.started_event(
            ex_info={"name": "x", "sources": [], "base_dir": "/"},
            command="main",
            host_info={},
            start_time=datetime.datetime(2020, 1, 1),
            config={},
            meta_info={},
            _id=None,
        )
