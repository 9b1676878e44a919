"""End to end: an Experiment recording into FileStorageObserver."""

from __future__ import annotations

import json

import pytest

from experimentkit import Experiment
from experimentkit.backends.file.observer import ID_COUNTER_FILE
from experimentkit.observers import FileStorageObserver


def make_experiment(basedir, fail: bool = False) -> Experiment:
    ex = Experiment("tiny")
    ex.observers.append(FileStorageObserver(basedir))

    @ex.config
    def cfg():
        lr = 0.1  # noqa: F841

    @ex.main
    def main(lr, _run):
        print("training with", lr)
        for step in range(3):
            _run.log_scalar("loss", 1.0 / (step + 1), step)
        _run.info["best"] = 0.5
        if fail:
            raise RuntimeError("diverged")
        return lr * 2

    return ex


def test_completed_experiment_is_recorded(tmp_path):
    ex = make_experiment(tmp_path)
    run = ex.run(config_updates={"lr": 0.25}, options={"--capture": "sys"})
    assert run._id == "1"
    run_dir = tmp_path / "1"
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "COMPLETED" and record["result"] == 0.5
    assert record["experiment"]["name"] == "tiny"
    for _relpath, stored in record["experiment"]["sources"]:
        assert (tmp_path / stored).is_file()
    assert json.loads((run_dir / "config.json").read_text())["lr"] == 0.25
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["loss"]["steps"] == [0, 1, 2]
    assert metrics["loss"]["values"] == [1.0, 0.5, 1.0 / 3]
    assert not (run_dir / "metrics.jsonl").exists()  # one copy of the points once the run ended
    assert "training with 0.25" in (run_dir / "cout.txt").read_text()
    assert json.loads((run_dir / "info.json").read_text()) == {"best": 0.5}
    assert [p.name for p in tmp_path.rglob(".*")] == [ID_COUNTER_FILE]  # no temporary file


def test_failed_experiment_keeps_output_and_metrics(tmp_path):
    ex = make_experiment(tmp_path, fail=True)
    with pytest.raises(RuntimeError, match="diverged"):
        ex.run(options={"--capture": "sys"})
    record = json.loads((tmp_path / "1" / "run.json").read_text())
    assert record["status"] == "FAILED"
    assert any("diverged" in line for line in record["fail_trace"])
    assert "training with 0.1" in (tmp_path / "1" / "cout.txt").read_text()
    assert json.loads((tmp_path / "1" / "metrics.json").read_text())["loss"]["steps"] == [0, 1, 2]
