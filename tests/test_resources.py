"""Resources: recorded with path and md5 by every backend, copied only when small enough or asked
(a large data set must not become a blob in every store), readable and queryable afterwards."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from experimentkit import Experiment
from experimentkit.observers import RunObserver
from experimentkit.query import open_store
from experimentkit.settings import SETTINGS


class SacredStyleObserver(RunObserver):
    """An observer written for Sacred: its resource_event takes only the filename."""

    def __init__(self) -> None:
        self.resources: list = []

    def started_event(self, ex_info, command, host_info, start_time, config, meta_info, _id):
        return 1

    def resource_event(self, filename):
        self.resources.append(filename)


@pytest.fixture
def files(tmp_path: Path, monkeypatch: Any) -> dict:
    monkeypatch.setitem(SETTINGS, "RESOURCE_COPY_LIMIT", 1000)
    data = tmp_path / "data"
    data.mkdir()
    made = {"small.csv": b"a,b\n1,2\n", "big.bin": bytes(range(256)) * 8, "private.csv": b"secret,1\n"}
    for name, content in made.items():
        (data / name).write_bytes(content)
    return {name: (str(data / name), hashlib.md5(content).hexdigest()) for name, content in made.items()}


def _run(observer: Any, files: dict) -> SacredStyleObserver:
    sacred_style = SacredStyleObserver()
    ex = Experiment("res", interactive=True)
    ex.observers += [observer, sacred_style]

    @ex.main
    def main(_run: Any) -> None:
        _run.add_resource(files["small.csv"][0])  # small: copied
        _run.add_resource(files["big.bin"][0])  # above the limit: digest only
        _run.add_resource(files["private.csv"][0], copy=False)  # asked: digest only

    ex.run()
    return sacred_style


def _check_read_side(store: Any, files: dict) -> None:
    run = store.runs().first()
    assert sorted((Path(r["path"]).name, r["md5"]) for r in run.resources) == sorted(
        (name, md5) for name, (_, md5) in files.items()
    )
    md5 = files["big.bin"][1]
    assert [r.id for r in store.runs().where(f"resources.md5 == {md5}").all()] == [run.id]
    assert store.runs().where("resources contains private.csv").count() == 1


def test_file_storage_copies_only_small_resources(tmp_path: Path, files: dict) -> None:
    from experimentkit.observers import FileStorageObserver

    sacred_style = _run(FileStorageObserver(str(tmp_path / "runs")), files)
    assert sacred_style.resources == [path for path, _ in files.values()]
    copies = sorted(p.name for p in (tmp_path / "runs" / "_resources").iterdir())
    assert copies == [f"small_{files['small.csv'][1]}.csv"]
    with open_store(tmp_path / "runs") as store:
        _check_read_side(store, files)


def test_sql_keeps_large_resources_out_of_the_database(tmp_path: Path, files: dict) -> None:
    pytest.importorskip("sqlalchemy")
    from experimentkit.backends.sql.observer import SqlObserver

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    _run(SqlObserver(url), files)
    with sqlite3.connect(tmp_path / "runs.db") as conn:
        stored = dict(conn.execute("SELECT md5sum, length(content) FROM resource"))
    assert stored == {files["small.csv"][1]: 8, files["big.bin"][1]: None, files["private.csv"][1]: None}
    with open_store(url) as store:
        _check_read_side(store, files)


def test_mongo_uploads_only_small_resources(files: dict) -> None:
    mongomock = pytest.importorskip("mongomock")
    from experimentkit.backends.mongo.observer import MongoObserver
    from experimentkit.backends.mongo.store import MongoStore

    client = mongomock.MongoClient()
    _run(MongoObserver(client=client), files)
    uploaded = [
        doc["filename"]
        for doc in client["sacred"]["fs.files"].find()
        if doc["filename"] in {path for path, _ in files.values()}
    ]
    assert uploaded == [files["small.csv"][0]]
    with MongoStore(client=client) as store:
        _check_read_side(store, files)
