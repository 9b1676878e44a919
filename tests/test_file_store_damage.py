"""FileStore on a store that is missing pieces or was damaged by hand: each read says what is wrong
in one line (``StoreError``) or answers what is there; nothing outside the store is ever read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experimentkit.backends.file.observer import FileStorageObserver
from experimentkit.context import current_run
from experimentkit.errors import StoreError
from experimentkit.query import open_store
from experimentkit.testing import make_run


def recorded(tmp_path: Path) -> tuple:
    """One finished run in a file store: a metric, an artifact, a text and a table."""
    base = tmp_path / "runs"
    artifact = tmp_path / "model.txt"
    artifact.write_text("weights")

    def main() -> None:
        run = current_run()
        run.log_scalar("loss", 0.5)
        run.add_artifact(str(artifact))
        run.log_text("note", "hello", step=1)
        run.log_table("preds", [{"i": 1}, {"i": 2}])
        print("trained")

    make_run(main, observers=[FileStorageObserver(str(base))], beat_interval=0, capture_mode="sys")()
    return base, base / "1"


def test_a_path_that_is_not_a_directory_is_not_a_store(tmp_path):
    (tmp_path / "runs").write_text("")
    with pytest.raises(
        StoreError, match=r"^no run store at '.*runs' \(not a directory\); give one with -S PATH_OR_URL"
    ):
        open_store(str(tmp_path / "runs"))


def test_a_listed_artifact_whose_file_is_gone_is_said_to_be_missing(tmp_path):
    base, run_dir = recorded(tmp_path)
    (run_dir / "model.txt").unlink()
    store = open_store(str(base))
    with pytest.raises(
        StoreError, match=r"^artifact 'model.txt' of run 1 is listed but its file is missing$"
    ):
        store.artifact("1", "model.txt")


def test_output_that_was_never_written_reads_as_empty(tmp_path):
    base, run_dir = recorded(tmp_path)
    assert open_store(str(base)).captured_out("1").startswith("trained")
    (run_dir / "cout.txt").unlink()
    assert open_store(str(base)).captured_out("1") == ""


def test_damaged_annotations_read_as_none_and_are_replaced_on_the_next_tag(tmp_path):
    base, run_dir = recorded(tmp_path)
    store = open_store(str(base))
    store.add_tags("1", ["best"])
    annotations = [p for p in run_dir.iterdir() if p.name == "experimentkit.json"]
    assert len(annotations) == 1
    annotations[0].write_text("{torn")
    assert store.add_tags("1", ["again"]) == ["again"]
    assert json.loads(annotations[0].read_text())["tags"] == ["again"]


def test_media_metadata_is_read_from_the_run_record(tmp_path):
    base, _ = recorded(tmp_path)
    [item] = open_store(str(base)).get("1").media("note")
    assert (item["name"], item["step"], item["kind"]) == ("note", 1, "text")


def sources(run_dir: Path, entries: list) -> None:
    record = json.loads((run_dir / "run.json").read_text())
    record["experiment"]["sources"] = entries
    (run_dir / "run.json").write_text(json.dumps(record))


def test_source_files_are_read_from_the_store_only(tmp_path):
    base, run_dir = recorded(tmp_path)
    kept = base / "_sources"
    kept.mkdir()
    (kept / "train_abc.py").write_text("print('train')\n")
    outside = tmp_path / "secret.py"
    outside.write_text("password = 1\n")
    sources(
        run_dir,
        [
            ["train.py", "_sources/train_abc.py"],
            ["secret.py", str(outside)],
            ["up.py", "../secret.py"],
            ["gone.py", "_sources/gone_1.py"],
        ],
    )
    store = open_store(str(base))
    assert store.source("1", "train.py") == b"print('train')\n"
    with pytest.raises(StoreError, match=r"^run 1 has no source file 'trian.py'.*train\.py"):
        store.source("1", "trian.py")
    for name in ("secret.py", "up.py"):
        with pytest.raises(StoreError, match=rf"^source file '{name}' of run 1 is not kept in the store"):
            store.source("1", name)
    with pytest.raises(
        StoreError, match=r"^cannot read source file 'gone.py' of run 1: No such file or directory$"
    ):
        store.source("1", "gone.py")


def test_a_damaged_metrics_log_is_an_error_naming_the_run(tmp_path):
    base, run_dir = recorded(tmp_path)
    logs = [p for p in run_dir.rglob("*") if p.is_file() and "metric" in p.name]
    assert logs, sorted(p.name for p in run_dir.rglob("*"))
    for log in logs:
        log.write_text("{not json\n{also not\n")
    with pytest.raises(StoreError, match=r"^cannot read the metrics of run '1': "):
        open_store(str(base)).metric("1", "loss")
