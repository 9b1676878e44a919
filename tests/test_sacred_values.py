"""Results and ``_run.info`` are stored in Sacred's jsonpickle form (file, SQL, Mongo), and our read side
turns the safe known forms into plain values without instantiating anything.

Sacred's stored form comes from Sacred itself: the same experiment runs under Sacred 0.8.7 with its
FileStorageObserver in a subprocess, and our stores must hold exactly what it wrote.
"""

import json
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("sacred")
np = pytest.importorskip("numpy")

SCRIPT = textwrap.dedent("""
    import datetime, sys
    import numpy as np
    from FRAMEWORK import Experiment

    class Plain:
        def __init__(self):
            self.a = 1
            self.b = [1, 2]

    ex = Experiment("values")

    @ex.main
    def main(_run):
        _run.info["array"] = np.arange(6).reshape(2, 3)
        _run.info["big"] = np.arange(40) * 0.5
        _run.info["scalar"] = np.float64(0.25)
        _run.info["tuple"] = (1, "a")
        _run.info["when"] = datetime.datetime(2024, 5, 6, 7, 8, 9, 10)
        return {"masked": np.ma.masked_array([1, 2, 3], mask=[0, 1, 0]), "set": {3}, "int": np.int64(7),
                "day": datetime.date(2024, 1, 2), "obj": Plain(), "plain": [1, 2.5, "x"],
                "nested": (np.float32(1.5), (2, 3))}

    if __name__ == "__main__":
        OBSERVERS
        ex.run(options={"--loglevel": "ERROR"})
""")

PLAIN_RESULT = {
    "masked": [1, None, 3],
    "set": [3],
    "int": 7,
    "day": "2024-01-02",
    "obj": {"py/object": "__main__.Plain", "a": 1, "b": [1, 2]},
    "plain": [1, 2.5, "x"],
    "nested": [1.5, [2, 3]],
}
PLAIN_INFO = {
    "array": [[0, 1, 2], [3, 4, 5]],
    "big": [i * 0.5 for i in range(40)],
    "scalar": 0.25,
    "tuple": [1, "a"],
    "when": "2024-05-06T07:08:09.000010",
}


def run_script(tmp_path, framework: str, observers: str) -> None:
    script = tmp_path / f"values_{framework}.py"
    script.write_text(SCRIPT.replace("FRAMEWORK", framework).replace("OBSERVERS", observers))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def sacred_stored(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sacred-values")
    run_script(
        tmp,
        "sacred",
        "from sacred.observers import FileStorageObserver; ex.observers.append(FileStorageObserver('runs'))",
    )
    run = json.loads((tmp / "runs" / "1" / "run.json").read_text())
    info = json.loads((tmp / "runs" / "1" / "info.json").read_text())
    return run["result"], info


def test_file_store_holds_what_sacred_writes(tmp_path, sacred_stored):
    run_script(
        tmp_path,
        "experimentkit",
        "from experimentkit.observers import FileStorageObserver; "
        "ex.observers.append(FileStorageObserver('runs'))",
    )
    run = json.loads((tmp_path / "runs" / "1" / "run.json").read_text())
    info = json.loads((tmp_path / "runs" / "1" / "info.json").read_text())
    assert (run["result"], info) == sacred_stored
    assert run["result"]["masked"]["py/object"] == "numpy.ma.MaskedArray"

    from experimentkit.query import open_store

    store = open_store(str(tmp_path / "runs"))
    record = store.get("1")
    assert record.result == PLAIN_RESULT
    assert record.info == PLAIN_INFO
    # the index holds plain values too, so queries on numpy values stored in Sacred's form work
    assert [r.id for r in store.runs().where("info.scalar == 0.25", "result.int > 6")] == ["1"]


def test_sacred_restore_reads_our_values_back(tmp_path):
    run_script(
        tmp_path,
        "experimentkit",
        "from experimentkit.observers import FileStorageObserver; "
        "ex.observers.append(FileStorageObserver('runs'))",
    )
    from sacred.serializer import restore

    info = restore(json.loads((tmp_path / "runs" / "1" / "info.json").read_text()))
    assert isinstance(info["array"], np.ndarray) and info["array"].shape == (2, 3)
    assert np.array_equal(info["big"], np.arange(40) * 0.5)
    assert type(info["scalar"]) is np.float64 and info["tuple"] == (1, "a")
    assert info["when"].isoformat() == "2024-05-06T07:08:09.000010"


def test_sql_store_holds_what_sacred_writes(tmp_path, sacred_stored):
    pytest.importorskip("sqlalchemy")
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    run_script(
        tmp_path,
        "experimentkit",
        f"from experimentkit.observers import SqlObserver; ex.observers.append(SqlObserver({url!r}))",
    )
    import sqlite3

    with sqlite3.connect(tmp_path / "runs.db") as conn:
        result_json, info = conn.execute("SELECT result_json, info FROM run").fetchone()
    assert (json.loads(result_json), json.loads(info)) == sacred_stored

    from experimentkit.backends.sql.store import SqlStore
    from experimentkit.query import open_store

    for store in (open_store(url), SqlStore(url)):  # the stdlib-sqlite3 read path and SQLAlchemy's
        record = store.runs().first()
        assert record.result == PLAIN_RESULT
        assert record.info == PLAIN_INFO
        # numpy values in Sacred's form are compared as the numbers they are
        assert [r.id for r in store.runs().where("info.scalar == 0.25", "result.int > 6")] == [record.id]
        assert store.runs().where("info.scalar > 0.3").all() == []


def test_mongo_store_holds_what_sacred_writes(tmp_path, sacred_stored):
    pytest.importorskip("mongomock")
    import mongomock.gridfs

    from experimentkit.backends.mongo.observer import MongoObserver
    from experimentkit.backends.mongo.store import MongoStore

    mongomock.gridfs.enable_gridfs_integration()
    client = mongomock.MongoClient()
    # in-process: mongomock lives in this interpreter
    namespace = {"__name__": "__main__", "__file__": str(tmp_path / "values_mongo.py")}
    source = SCRIPT.replace("FRAMEWORK", "experimentkit").split('if __name__ == "__main__":')[0]
    (tmp_path / "values_mongo.py").write_text(source)
    code = compile(source, str(tmp_path / "values_mongo.py"), "exec")
    exec(code, namespace)
    ex = namespace["ex"]
    ex.observers.append(MongoObserver(client=client))
    ex.run()  # in this process: no --loglevel, which would change the root logger for later tests
    doc = client["sacred"]["runs"].find_one()
    info = {k: v for k, v in doc["info"].items() if k != "metrics"}
    assert (doc["result"], info) == sacred_stored

    store = MongoStore(client=client)
    record = store.runs().first()
    assert record.result == PLAIN_RESULT
    assert record.info == PLAIN_INFO
    assert [r.id for r in store.runs().where("info.scalar == 0.25", "result.int > 6")] == [record.id]
    assert store.runs().where("info.scalar > 0.3").all() == []


def test_read_side_never_instantiates_tagged_objects(tmp_path):
    from experimentkit.serialize import safe_restore

    evil = {"py/object": "os.system", "py/newargs": {"py/tuple": ["echo hacked"]}}
    reduce = {"py/reduce": [{"py/function": "os.system"}, {"py/tuple": ["echo hacked"]}]}
    assert safe_restore({"x": evil, "y": reduce}) == {
        "x": {"py/object": "os.system", "py/newargs": ["echo hacked"]},
        "y": {"py/reduce": [{"py/function": "os.system"}, ["echo hacked"]]},
    }
    assert safe_restore({"py/object": "numpy.ndarray", "dtype": "object", "values": "not base64!"}) == {
        "py/object": "numpy.ndarray",
        "dtype": "object",
        "values": "not base64!",
    }
