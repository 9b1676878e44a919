"""S3Observer against a real S3 HTTP endpoint (moto's server on 127.0.0.1), through boto3."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")


@pytest.fixture(scope="module")
def s3_endpoint():
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch, s3_endpoint):
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": s3_endpoint,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def _objects(bucket, prefix=""):
    s3 = boto3.client("s3")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return {
        o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
        for o in listed.get("Contents", ())
    }


def test_experiment_run_is_stored_in_sacred_layout(aws_env, tmp_path):
    from experimentkit import Experiment
    from experimentkit.observers import S3Observer

    ex = Experiment("s3exp")
    ex.observers.append(S3Observer(bucket="runs-bucket", basedir="exps/one"))
    artifact = tmp_path / "model.txt"
    artifact.write_text("weights")

    @ex.config
    def config():
        lr = 0.5

    @ex.main
    def main(lr, _run):
        print("hello s3")
        for step in range(3):
            _run.log_scalar("loss", 1.0 / (step + 1))
        _run.add_artifact(str(artifact))
        return lr * 2

    ex.run()
    ex.run()
    stored = _objects("runs-bucket", "exps/one/")
    assert {k for k in stored if k.startswith("exps/one/1/")} == {
        f"exps/one/1/{n}" for n in ("run.json", "config.json", "cout.txt", "metrics.json", "model.txt")
    }
    assert "exps/one/2/run.json" in stored
    run = json.loads(stored["exps/one/1/run.json"])
    assert run["status"] == "COMPLETED" and run["result"] == 1.0
    assert run["artifacts"] == ["model.txt"]
    assert json.loads(stored["exps/one/1/config.json"])["lr"] == 0.5
    assert "hello s3" in stored["exps/one/1/cout.txt"].decode()
    metrics = json.loads(stored["exps/one/1/metrics.json"])
    assert metrics["loss"]["values"] == [1.0, 0.5, 1.0 / 3] and metrics["loss"]["steps"] == [0, 1, 2]
    assert stored["exps/one/1/model.txt"] == b"weights"
    sources = run["experiment"]["sources"]
    assert sources and all(path.startswith("_sources/") for _, path in sources)
    assert all(f"exps/one/{path}" in stored for _, path in sources)


def test_given_id_that_exists_is_refused(aws_env):
    import datetime

    from experimentkit.observers import S3Observer

    obs = S3Observer(bucket="runs-bucket", basedir="given")
    kwargs = dict(
        ex_info={"name": "x", "sources": [], "base_dir": "/"},
        command="main",
        host_info={},
        start_time=datetime.datetime(2020, 1, 1),
        config={},
        meta_info={},
        _id="abc",
    )
    assert obs.started_event(**kwargs) == "abc"
    with pytest.raises(FileExistsError, match="given/abc already exists"):
        S3Observer(bucket="runs-bucket", basedir="given").started_event(**kwargs)


def test_attach_extends_a_stored_run(aws_env):
    import datetime

    from experimentkit.observers import S3Observer

    t = datetime.datetime(2020, 1, 1)
    obs = S3Observer(bucket="runs-bucket", basedir="attach")
    _id = obs.started_event(
        ex_info={"name": "x", "sources": [], "base_dir": "/"},
        command="main",
        host_info={},
        start_time=t,
        config={"a": 1},
        meta_info={},
        _id=None,
    )
    obs.log_metrics({"m": {"steps": [0], "values": [1.0], "timestamps": [t]}}, {})
    spec = obs.replay_spec()
    assert spec["factory"] == "experimentkit.backends.s3.observer:S3Observer"
    fresh = S3Observer(**spec["kwargs"])
    fresh.attach(_id)
    fresh.log_metrics({"m": {"steps": [1], "values": [2.0], "timestamps": [t]}}, {})
    fresh.completed_event(stop_time=t, result=3)
    stored = _objects("runs-bucket", f"attach/{_id}/")
    assert json.loads(stored[f"attach/{_id}/metrics.json"])["m"]["values"] == [1.0, 2.0]
    assert json.loads(stored[f"attach/{_id}/run.json"])["status"] == "COMPLETED"


def test_bad_bucket_name_and_url_are_user_errors(aws_env, tmp_path):
    from experimentkit.observers import S3Observer

    with pytest.raises(ValueError, match="bucket naming"):
        S3Observer(bucket="Bad_Bucket", basedir="x")
    script = tmp_path / "exp.py"
    script.write_text(
        textwrap.dedent("""
        from experimentkit import Experiment
        ex = Experiment("cli")
        @ex.automain
        def main():
            return 1
    """)
    )
    env = dict(os.environ, **aws_env)
    bad = subprocess.run(
        [sys.executable, str(script), "--s3", "bucket-only"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert bad.returncode == 2
    assert "--s3 must look like s3://<bucket>/path/to/exp" in bad.stderr
    assert "Traceback" not in bad.stderr
    good = subprocess.run(
        [sys.executable, str(script), "-S", "s3://cli-bucket/base/dir"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert good.returncode == 0, good.stderr
    assert json.loads(_objects("cli-bucket")["base/dir/1/run.json"])["status"] == "COMPLETED"


def test_missing_region_is_a_one_line_usage_error(tmp_path):
    script = tmp_path / "exp.py"
    script.write_text(
        "from experimentkit import Experiment\nex = Experiment('cli')\n"
        "@ex.automain\ndef main():\n    return 1\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["HOME"] = str(tmp_path)  # no ~/.aws/config
    done = subprocess.run(
        [sys.executable, str(script), "--s3", "s3://some-bucket/x"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "Error: --s3: You must either pass in an AWS region name, or have a region name specified "
        "in your AWS config file"
    ]
