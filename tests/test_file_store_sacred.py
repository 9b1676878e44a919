"""A file store written by Sacred 0.8.7 itself (run in a subprocess) read through FileStore."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from experimentkit.errors import StoreError
from experimentkit.query import open_store

pytest.importorskip("sacred")

SCRIPT = textwrap.dedent("""
    from sacred import Experiment

    ex = Experiment("sacred_demo")

    @ex.config
    def cfg():
        lr = 0.1
        opt = {"name": "adam", "betas": [0.9, 0.99]}
        fail = False

    @ex.automain
    def main(_run, lr, fail):
        print("training with", lr)
        for step in range(3):
            _run.log_scalar("val.accuracy", lr * (step + 1))
        _run.info["note"] = "from sacred"
        with open("model.txt", "w") as f:
            f.write("weights %s" % lr)
        _run.add_artifact("model.txt")
        if fail:
            raise ValueError("diverged")
        return lr * 3
""")


@pytest.fixture(scope="module")
def sacred_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("sacred")
    script = work / "demo.py"
    script.write_text(SCRIPT)
    base = work / "runs"
    for updates in (["lr=0.2"], ["lr=0.3", "opt.name=sgd"], ["fail=True"]):
        subprocess.run(
            [sys.executable, str(script), "-F", str(base), "--capture=sys", "with", *updates],
            cwd=work,
            capture_output=True,
            check=False,
            timeout=120,
        )
    assert sorted(p.name for p in base.iterdir() if p.name.isdigit()) == ["1", "2", "3"]
    return base


def test_runs_written_by_sacred(sacred_store: Path) -> None:
    store = open_store(str(sacred_store))
    runs = store.runs().order_by("id").all()
    assert [r.status for r in runs] == ["COMPLETED", "COMPLETED", "FAILED"]
    first = runs[0]
    assert first.experiment["name"] == "sacred_demo" and first.command == "main"
    assert first.config["lr"] == 0.2 and first.config["opt"] == {"name": "adam", "betas": [0.9, 0.99]}
    assert first.result == pytest.approx(0.6) and first.info["note"] == "from sacred"
    assert first.start_time is not None and first.stop_time >= first.start_time
    assert first.host["hostname"]
    assert first.metrics["val.accuracy"]["count"] == 3
    assert first.metrics["val.accuracy"]["last"] == pytest.approx(0.6)
    series = first.metric("val.accuracy")
    assert series.steps == [0, 1, 2] and series.timestamps[0] is not None
    assert "training with 0.2" in first.captured_out()
    assert first.artifacts == ["model.txt"]
    with first.open_artifact("model.txt") as f:
        assert f.read() == b"weights 0.2"
    assert "ValueError: diverged" in "".join(runs[2].fail_trace)
    assert first.tables() == []


def test_queries_and_annotations_on_a_sacred_store(sacred_store: Path) -> None:
    store = open_store(str(sacred_store))
    assert [r.id for r in store.runs().where("config.opt.name == sgd").all()] == ["2"]
    assert [
        r.id
        for r in store.runs()
        .where("config.lr >= 0.2", "status == COMPLETED")
        .order_by("-metrics.val.accuracy")
        .all()
    ] == ["2", "1"]
    assert store.best("val.accuracy").id == "2"
    assert [r.id for r in store.runs().where("config.opt.betas contains 0.99").order_by("id").all()] == [
        "1",
        "2",
        "3",
    ]
    before = (sacred_store / "1" / "run.json").read_bytes()
    store.add_tags("1", ["sacred"])
    assert (sacred_store / "1" / "run.json").read_bytes() == before  # Sacred's file untouched
    assert [r.id for r in store.runs().where("tags contains sacred").all()] == ["1"]
    store.remove_tags("1", ["sacred"])
    with pytest.raises(
        StoreError, match=r"^run 1 has no metric 'val\.acc' \(did you mean 'val\.accuracy'\?\)$"
    ):
        store.metric("1", "val.acc")
