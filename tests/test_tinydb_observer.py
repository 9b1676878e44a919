"""TinyDbObserver and TinyDbReader on a real directory, in Sacred's TinyDB + HashFS layout."""

import datetime
import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("tinydb")
pytest.importorskip("hashfs")


def _experiment(path, tmp_path):
    from experimentkit import Experiment
    from experimentkit.observers import TinyDbObserver

    ex = Experiment("tiny")
    ex.observers.append(TinyDbObserver(str(path)))
    data = tmp_path / "data.txt"
    data.write_text("input")
    out = tmp_path / "out.txt"
    out.write_text("output")

    @ex.config
    def config():
        alpha = 3

    @ex.main
    def main(alpha, _run):
        _run.open_resource(str(data)).close()
        _run.add_artifact(str(out), name="out.txt", content_type="text/plain")
        _run.log_scalar("acc", 0.5)
        _run.log_scalar("acc", 0.75)
        print("tiny output")
        return alpha + 1

    return ex


def test_runs_are_stored_in_sacreds_layout_and_read_back(tmp_path):
    from experimentkit.observers import TinyDbReader

    db = tmp_path / "runs_db"
    ex = _experiment(db, tmp_path)
    ex.run()
    ex.run(config_updates={"alpha": 10})
    raw = json.loads((db / "metadata.json").read_text())
    docs = list(raw["runs"].values())
    assert len(docs) == 2
    doc = docs[0]
    assert doc["format"].startswith("TinyDbObserver-")
    assert doc["status"] == "COMPLETED" and doc["result"] == 4
    assert doc["start_time"].startswith("{TinyDate}")
    assert "tiny output" in doc["captured_out"]
    name, file_id, tag = doc["artifacts"][0][0], doc["artifacts"][0][2], doc["artifacts"][0][3]
    assert name == "out.txt" and tag == '{TinyFile}"' + file_id + '"'
    stored = db / "hashfs" / file_id[:2] / file_id[2:4] / file_id[4:6] / file_id[6:]
    assert stored.read_text() == "output"
    metrics = list(raw["metrics"].values())
    assert metrics[0]["name"] == "acc" and metrics[0]["values"] == [0.5, 0.75]

    reader = TinyDbReader(str(db))
    [first] = reader.fetch_metadata(indices=0)
    assert isinstance(first["start_time"], datetime.datetime)
    assert first["config"]["alpha"] == 3
    files = reader.fetch_files(exp_name="tiny")
    assert len(files) == 2
    assert files[1]["artifacts"]["out.txt"].read() == b"output"
    assert files[1]["resources"][str(tmp_path / "data.txt")].read() == b"input"
    assert any(path.endswith(".py") for path in files[0]["sources"])
    report = reader.fetch_report(indices=[1])[0]
    assert "Experiment: tiny" in report and "alpha: 10" in report and "    11" in report
    with pytest.raises(ValueError, match=r"Index value \(5\) must be less than number of records \(2\)"):
        reader.fetch_metadata(indices=[5])
    with pytest.raises(ValueError, match="Must specify"):
        reader.fetch_metadata()


def test_sacred_reads_what_we_wrote(tmp_path):
    pytest.importorskip("tinydb_serialization", reason="Sacred's TinyDbReader needs tinydb-serialization")
    from sacred.observers import TinyDbReader as SacredReader

    db = tmp_path / "runs_db"
    _experiment(db, tmp_path).run()
    [entry] = SacredReader(str(db)).fetch_metadata(indices=0)
    assert entry["result"] == 4


def test_reader_refuses_missing_path(tmp_path):
    from experimentkit.observers import TinyDbReader

    with pytest.raises(OSError, match="Path does not exist"):
        TinyDbReader(str(tmp_path / "nope"))


def test_command_line_flag(tmp_path):
    script = tmp_path / "exp.py"
    script.write_text(
        textwrap.dedent("""
        from experimentkit import Experiment
        ex = Experiment("cli")
        @ex.automain
        def main():
            return 7
    """)
    )
    done = subprocess.run(
        [sys.executable, str(script), "-t", "db"], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    doc = next(iter(json.loads((tmp_path / "db" / "metadata.json").read_text())["runs"].values()))
    assert doc["result"] == 7 and doc["status"] == "COMPLETED"
    assert os.path.isdir(tmp_path / "db" / "hashfs")


def test_replay_attaches_to_the_stored_run(tmp_path):
    from experimentkit.observers import TinyDbObserver

    t = datetime.datetime(2024, 1, 2, 3, 4, 5, 6)
    obs = TinyDbObserver(str(tmp_path / "db"))
    _id = obs.started_event(
        ex_info={"name": "x", "sources": [], "base_dir": "/"},
        command="main",
        host_info={},
        start_time=t,
        config={},
        meta_info={"uid": "u1"},
        _id=None,
    )
    fresh = TinyDbObserver(**obs.replay_spec()["kwargs"])
    fresh.attach(_id)
    fresh.completed_event(stop_time=t, result=1)
    again = TinyDbObserver(str(tmp_path / "db"))
    assert (
        again.started_event(
            ex_info={"name": "x", "sources": [], "base_dir": "/"},
            command="main",
            host_info={},
            start_time=t,
            config={},
            meta_info={"uid": "u1"},
            _id=None,
        )
        == _id
    )
    docs = list(json.loads((tmp_path / "db" / "metadata.json").read_text())["runs"].values())
    assert len(docs) == 1 and docs[0]["status"] == "COMPLETED"
    assert docs[0]["stop_time"] == "{TinyDate}2024-01-02T03:04:05.000006"
