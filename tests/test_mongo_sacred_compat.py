"""Sacred 0.8.7's own MongoObserver and ours, field by field, on the same experiment (mongomock).

One script is run twice in subprocesses, once importing ``sacred`` and once ``experimentkit``; each
dumps its mongomock database as MongoDB extended JSON.  The documents are compared key by key and
type by type; values are compared too except where a difference is expected (ids, times, seeds,
paths) or documented (docs/storage-mongo.md).  Then ``MongoStore`` reads both databases.
"""

import datetime as dt
import os
import re
import subprocess
import sys

import mongomock
import mongomock.gridfs
import pytest
from bson import ObjectId, json_util

from experimentkit.backends.mongo.store import MongoStore

SCRIPT = '''\
"""A small experiment recorded into mongomock; the database is dumped to the file argv[1]."""
import os
import sys

import gridfs
import mongomock
import mongomock.gridfs
from bson import json_util

from FRAMEWORK import Experiment
from FRAMEWORK.observers import MongoObserver

mongomock.gridfs.enable_gridfs_integration()
client = mongomock.MongoClient()
db = client["sacred"]
here = os.path.dirname(os.path.abspath(__file__))
ex = Experiment("compat")
# Sacred refuses a mongomock client in the constructor; create_from takes collections.
ex.observers.append(MongoObserver.create_from(db["runs"], gridfs.GridFS(db),
                                              metrics_collection=db["metrics"]))


@ex.config
def cfg():
    lr = 0.1
    batch = 32
    opt = {"name": "adam", "betas": [0.9, 0.99]}


@ex.named_config
def fast():
    lr = 0.5


@ex.main
def main(_run, lr, batch):
    print("training with", lr)
    for step in range(3):
        _run.log_scalar("loss", 1.0 / (step + 1), step)
        _run.log_scalar("val.accuracy", 0.5 + step / 10)
    _run.info["summary"] = {"epochs": 3, "best": 0.7}
    with _run.open_resource(os.path.join(here, "data.txt")) as fh:
        fh.read()
    with open(os.path.join(here, "model.txt"), "w") as fh:
        fh.write("weights")
    _run.add_artifact(os.path.join(here, "model.txt"), name="model.txt")
    return lr * batch


@ex.command
def boom(lr):
    print("about to fail with", lr)
    raise ValueError("boom")


if __name__ == "__main__":
    ex.run(named_configs=["fast"], config_updates={"batch": 64}, options={"--capture": "sys"})
    try:
        ex.run("boom", options={"--capture": "sys"})
    except ValueError:
        pass
    ex.run(options={"--queue": True, "--comment": "later"})
    dump = {name: list(db[name].find()) for name in sorted(db.list_collection_names())}
    with open(sys.argv[1], "w") as fh:
        fh.write(json_util.dumps(dump))
'''

FRAMEWORKS = ("sacred", "experimentkit")

#: Paths whose values differ by nature (ids, times, random seeds, where the script ran).
VARYING = [
    r"\._id$",
    r"\.seed$",
    r"\.base_dir$",
    r"\.resources\[0\]\[0\]$",
    r"\.info\.metrics\[\d\]\.id$",
    r"\.file_id$",
    r"\.sources\[0\]\[1\]$",
    r"time$",
    r"heartbeat$",
    r"timestamps\[\d\]$",
]
#: Documented differences (docs/storage-mongo.md): fields we add.
OURS_ONLY = {
    "captured_out_length",
    "meta.uid",
    "host.cpu_count",
    "host.memory_total",
    # Sacred defines --gcs but never registers it; experimentkit does (-G/--gcs)
    "meta.options.--gcs",
    # experimentkit's own run options
    "meta.options.--strict-observers",
    "meta.options.--system-metrics",
    "meta.options.--tensorboard",
}
#: Differences found by this test that are not (yet) documented; each is reported to the lead.
KNOWN_GAPS = {
    # Sacred leaves config_updates out of meta when ex.run() got none; we record {}.
    ("ours only", "meta.config_updates"),
}


@pytest.fixture(scope="module")
def dumps(tmp_path_factory):
    """``{framework: {collection: [documents]}}`` from one run of the script per framework."""
    procs = {}
    for framework in FRAMEWORKS:
        where = tmp_path_factory.mktemp(framework)
        (where / "exp.py").write_text(SCRIPT.replace("FRAMEWORK", framework))
        (where / "data.txt").write_text("1 2 3\n")
        out = where / "dump.json"
        proc = subprocess.Popen(
            [sys.executable, "-W", "ignore", "exp.py", str(out)],
            cwd=where,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        procs[framework] = (proc, out)
    found = {}
    for framework, (proc, out) in procs.items():
        log = proc.communicate(timeout=120)[0]
        if proc.returncode and framework == "sacred" and "pkg_resources" in log:
            pytest.skip("sacred 0.8.7 cannot be imported here (it needs setuptools<81)")
        assert proc.returncode == 0, f"{framework} run failed:\n{log}"
        found[framework] = json_util.loads(out.read_text())
    return found


def differences(theirs, ours, path=""):
    """``(kind, path)`` for every key, length, type or value that differs."""
    if isinstance(theirs, dict) and isinstance(ours, dict):
        for key in sorted(set(theirs) | set(ours)):
            sub = f"{path}.{key}" if path else key
            if key not in ours:
                yield "sacred only", sub
            elif key not in theirs:
                yield "ours only", sub
            else:
                yield from differences(theirs[key], ours[key], sub)
    elif isinstance(theirs, list) and isinstance(ours, list):
        if len(theirs) != len(ours):
            yield "length", path
        for i, (a, b) in enumerate(zip(theirs, ours)):
            yield from differences(a, b, f"{path}[{i}]")
    elif type(theirs) is not type(ours):
        yield "type", path
    elif theirs != ours and not any(re.search(p, "." + path) for p in VARYING):
        yield "value", path


def by_status(dump):
    return {doc["status"]: doc for doc in dump["runs"]}


def test_the_same_collections_and_documents(dumps):
    sacred, ours = dumps["sacred"], dumps["experimentkit"]
    assert set(sacred) == {"runs", "metrics", "fs.files", "fs.chunks"}
    assert set(ours) == set(sacred)  # no tables collection: the script logs no table
    assert sorted(by_status(sacred)) == sorted(by_status(ours)) == ["COMPLETED", "FAILED", "QUEUED"]
    assert [d["_id"] for d in sacred["runs"]] == [d["_id"] for d in ours["runs"]] == [1, 2, 3]
    assert len(sacred["metrics"]) == len(ours["metrics"]) == 2


@pytest.mark.parametrize("status", ["COMPLETED", "FAILED", "QUEUED"])
def test_run_documents_field_by_field(dumps, status):
    theirs, ours = by_status(dumps["sacred"])[status], by_status(dumps["experimentkit"])[status]
    # Handled below, each with its own check.
    special = {"captured_out", "fail_trace", "experiment.dependencies"}
    found = {
        (kind, path)
        for kind, path in differences(theirs, ours)
        if not any(path == s or path.startswith(s + "[") for s in special)
    }
    allowed = {("ours only", p) for p in OURS_ONLY} | KNOWN_GAPS
    expected = {
        (kind, p)
        for kind, p in allowed
        if _has(theirs, p) != _has(ours, p) and _has(ours, p) == (kind == "ours only")
    }
    assert found == expected
    for name in ("start_time", "heartbeat", "stop_time"):
        assert type(theirs.get(name)) is type(ours.get(name))
        assert ours.get(name) is None or isinstance(ours[name], dt.datetime)
    for doc, framework in ((theirs, "sacred"), (ours, "experimentkit")):
        dependencies = doc["experiment"]["dependencies"]
        assert all(re.fullmatch(r"[\w.\-]+==\S+", d) for d in dependencies)
        assert any(d.startswith(framework + "==") for d in dependencies)
        assert [type(s[1]) for s in doc["experiment"]["sources"]] == [ObjectId]


def _has(doc, dotted):
    for part in dotted.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return False
        doc = doc[part]
    return True


def test_captured_output_and_fail_trace(dumps):
    theirs, ours = by_status(dumps["sacred"]), by_status(dumps["experimentkit"])
    # Sacred prints its content-type guess for an artifact into the run's output; we do not.
    sacred_out = re.sub(
        r"Added text/plain as content-type of artifact .*\n", "", theirs["COMPLETED"]["captured_out"]
    )
    assert sacred_out == ours["COMPLETED"]["captured_out"] == "training with 0.5\n"
    # Sacred loses the output of a failed run; ours keeps it.
    assert theirs["FAILED"]["captured_out"] == ""
    assert ours["FAILED"]["captured_out"] == "about to fail with 0.1\n"
    for trace in (theirs["FAILED"]["fail_trace"], ours["FAILED"]["fail_trace"]):
        assert all(isinstance(line, str) for line in trace)
        assert trace[0].startswith("Traceback (most recent call")
        assert 'in boom\n    raise ValueError("boom")' in "".join(trace)
        assert trace[-1] == "ValueError: boom\n"


def test_metric_documents(dumps):
    for theirs, ours in zip(*(sorted(dumps[f]["metrics"], key=lambda d: d["name"]) for f in FRAMEWORKS)):
        assert list(differences(theirs, ours)) == []
        assert theirs["run_id"] == 1 and theirs["steps"] in ([0, 1, 2],)
        assert all(isinstance(t, dt.datetime) for t in ours["timestamps"])
    for framework in FRAMEWORKS:
        dump = dumps[framework]
        index = by_status(dump)["COMPLETED"]["info"]["metrics"]
        assert index == [{"name": d["name"], "id": str(d["_id"])} for d in dump["metrics"]]


def test_gridfs_files(dumps):
    def files(framework):
        return {f["filename"]: f for f in dumps[framework]["fs.files"]}

    theirs, ours = files("sacred"), files("experimentkit")
    artifact = "artifact://runs/1/model.txt"
    assert {k: v for k, v in theirs[artifact].items() if k not in ("_id", "uploadDate")} == {
        k: v for k, v in ours[artifact].items() if k not in ("_id", "uploadDate")
    }
    chunk = {
        f: next(c for c in dumps[f]["fs.chunks"] if c["files_id"] == fid)
        for f, fid in (("sacred", theirs[artifact]["_id"]), ("experimentkit", ours[artifact]["_id"]))
    }
    assert chunk["sacred"]["data"] == chunk["experimentkit"]["data"] == b"weights"
    # Documented: sources carry their md5 (pymongo 4 dropped it), and resources are uploaded too.
    source = {name: f for name, f in ours.items() if name.endswith("exp.py")}
    (ours_source,) = source.values()
    assert ours_source["md5"] == ours_source["metadata"]["md5"]
    assert sorted(n.rsplit("/", 1)[-1] for n in ours) == ["data.txt", "exp.py", "model.txt"]
    assert sorted(n.rsplit("/", 1)[-1] for n in theirs) == ["exp.py", "model.txt"]


# ---- the read side on both databases ------------------------------------------------------------
def load(dump):
    mongomock.gridfs.enable_gridfs_integration()
    client = mongomock.MongoClient()
    for name, docs in dump.items():
        if docs:
            client.sacred[name].insert_many(docs)
    return MongoStore(client=client, dead_after=10**12)


@pytest.fixture(scope="module")
def stores(dumps):
    return {framework: load(dump) for framework, dump in dumps.items()}


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_store_reads_the_database(stores, framework, tmp_path):
    store = stores[framework]
    assert [r.id for r in store.runs().all()] == ["1", "2", "3"]
    run = store.get(1)
    assert run.status == "COMPLETED" and run.experiment_name == "compat"
    assert run.config["lr"] == 0.5 and run.config["batch"] == 64
    assert run.config["opt"] == {"name": "adam", "betas": [0.9, 0.99]}
    assert run.meta["named_configs"] == ["fast"] and run.result == 32.0
    assert run.info == {"summary": {"epochs": 3, "best": 0.7}}
    assert run.metrics["loss"] == {"last": 1 / 3, "min": 1 / 3, "max": 1.0, "count": 3}
    assert run.metric("val.accuracy").values == [0.5, 0.6, 0.7]
    assert run.metric("val.accuracy").steps == [0, 1, 2]
    assert run.captured_out().startswith("training with 0.5\n")
    assert run.copy_artifact("model.txt", tmp_path).read_bytes() == b"weights"
    assert run.tables() == []
    assert [s[0] for s in run.experiment["sources"]] == ["exp.py"]
    assert store.get("2").fail_trace[-1] == "ValueError: boom\n"
    assert store.get("3").status == "QUEUED" and store.get("3").meta["comment"] == "later"
    assert [r.id for r in store.runs().where("metrics.loss < 0.5", "config.lr > 0.2").all()] == ["1"]
    assert store.best("val.accuracy").id == "1"
    assert [r.id for r in store.runs().where("status != COMPLETED").order_by("-id").all()] == ["3", "2"]


def test_both_databases_give_the_same_records(stores):
    def comparable(record):
        summary = record.to_dict()
        for name in ("start_time", "stop_time", "heartbeat"):
            summary[name] = summary[name] is not None
        summary["config"] = {k: v for k, v in summary["config"].items() if k != "seed"}
        # where the script ran differs; the file name and its md5 must not
        summary["resources"] = [(os.path.basename(r["path"]), r["md5"]) for r in summary["resources"]]
        return summary

    for run_id in ("1", "2", "3"):
        theirs, ours = (stores[f].get(run_id) for f in FRAMEWORKS)
        assert comparable(theirs) == comparable(ours)
        assert theirs.artifacts == ours.artifacts and theirs.metrics == ours.metrics


def test_annotating_a_database_written_by_sacred(dumps):
    store = load(dumps["sacred"])
    assert store.add_tags(1, ["best"]) == ["best"]
    store.set_note("1", "from sacred")
    assert store.get("1").notes == "from sacred"
    assert [r.id for r in store.runs().where("tags contains best").all()] == ["1"]
    assert [str(x) for x in store.delete(["2"])] == ["2"]
    assert [r.id for r in store.runs().all()] == ["1", "3"]
