"""MLflow both ways through MLflow's own client: a real MLflow SQLite store made in the test."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest

pytest.importorskip("mlflow")
from mlflow.entities import Metric, Param, RunTag  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from experimentkit.interop.mlflow import export_mlflow, import_mlflow, typed_param  # noqa: E402
from experimentkit.query import open_store  # noqa: E402

pytestmark = pytest.mark.slow  # MLflow migrates a fresh SQLite schema (seconds) per store

T0 = 1_700_000_000_000  # ms


def _make_mlflow_store(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("mnist", artifact_location=(tmp_path / "art").as_uri())
    artifact = tmp_path / "model.txt"
    artifact.write_text("weights v1\n")
    plot = tmp_path / "curve.csv"
    plot.write_text("step,loss\n0,1.0\n")
    runs = {}
    for number, status in enumerate(("FINISHED", "FAILED", "KILLED")):
        run = client.create_run(experiment, start_time=T0 + number * 1000, run_name=f"run-{number}")
        run_id = run.info.run_id
        client.log_batch(
            run_id,
            params=[
                Param("lr", str(0.01 * (number + 1))),
                Param("model.depth", "3"),
                Param("use_bn", "true"),
                Param("opt", "adam"),
            ],
            metrics=[Metric("loss", 1.0 / (step + 1), T0 + step * 7, step) for step in range(40)]
            + [Metric("val.acc", 0.5 + number / 10, T0 + 999, 0)],
            tags=[
                RunTag("team", "vision"),
                RunTag("best", ""),
                RunTag("mlflow.note.content", f"note {number}"),
            ],
        )
        client.log_artifact(run_id, str(artifact))
        client.log_artifact(run_id, str(plot), "plots")
        client.set_terminated(run_id, status, end_time=T0 + 60_000 + number)
        runs[run_id] = status
    return uri, runs


def test_typed_param_reads_back_numbers_bools_and_text():
    assert [typed_param(v) for v in ("3", "0.5", "1e-3", "true", "False", "None", "adam")] == [
        3,
        0.5,
        0.001,
        True,
        False,
        None,
        "adam",
    ]


def test_import_is_complete_and_idempotent_and_exports_back_the_same(tmp_path):
    uri, runs = _make_mlflow_store(tmp_path)
    target = str(tmp_path / "runs")
    outcomes = import_mlflow(uri, target)
    assert sorted(o.action for o in outcomes) == ["imported"] * 3
    assert sum(o.points for o in outcomes) == 3 * 41

    with open_store(target) as store:
        records = {r.info["mlflow"]["run_id"]: r for r in store.runs().all()}
        assert set(records) == set(runs)
        statuses = {runs[k]: r.status for k, r in records.items()}
        assert statuses == {"FINISHED": "COMPLETED", "FAILED": "FAILED", "KILLED": "INTERRUPTED"}
        first = next(r for k, r in records.items() if runs[k] == "FINISHED")
        assert first.config == {"lr": 0.01, "model": {"depth": 3}, "use_bn": True, "opt": "adam"}
        assert first.experiment_name == "mnist"
        assert first.tags == ["best", "team=vision"] and first.notes == "note 0"
        assert first.start_time == dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=T0)
        loss = first.metric("loss")
        assert loss.steps == list(range(40))
        assert loss.values == [1.0 / (s + 1) for s in range(40)]
        assert [round((t - dt.datetime(1970, 1, 1)).total_seconds() * 1000) for t in loss.timestamps] == [
            T0 + s * 7 for s in range(40)
        ]
        assert sorted(first.artifacts) == ["model.txt", "plots/curve.csv"]
        assert first.open_artifact("plots/curve.csv").read() == b"step,loss\n0,1.0\n"

    again = import_mlflow(uri, target)
    assert [o.action for o in again] == ["skipped"] * 3
    with open_store(target) as store:
        assert store.runs().count() == 3

    # back into a fresh MLflow store: the same values; a second export adds nothing
    uri2 = f"sqlite:///{tmp_path / 'mlflow2.db'}"
    with open_store(target) as store:
        records = store.runs().all()
        exported = export_mlflow(records, uri2)
        assert [o.action for o in export_mlflow(records, uri2)] == ["skipped"] * 3
    assert [o.action for o in exported] == ["exported"] * 3
    source, copy = MlflowClient(tracking_uri=uri), MlflowClient(tracking_uri=uri2)
    origin = {rec.id: rec.info["mlflow"]["run_id"] for rec in records}
    back = copy.search_runs([copy.get_experiment_by_name("mnist").experiment_id])
    assert len(back) == 3
    for run in back:
        mine = source.get_run(origin[run.info.run_name.split("_", 1)[0]])
        assert {k: typed_param(v) for k, v in run.data.params.items()} == {
            k: typed_param(v) for k, v in mine.data.params.items()
        }
        assert run.info.status == mine.info.status
        assert (run.info.start_time, run.info.end_time) == (mine.info.start_time, mine.info.end_time)
        assert run.data.tags["mlflow.note.content"] == mine.data.tags["mlflow.note.content"]
        assert run.data.tags["team"] == "vision"
        history = [(m.step, m.value, m.timestamp) for m in copy.get_metric_history(run.info.run_id, "loss")]
        assert sorted(history) == sorted(
            (m.step, m.value, m.timestamp) for m in source.get_metric_history(mine.info.run_id, "loss")
        )
        assert sorted(a.path for a in copy.list_artifacts(run.info.run_id)) == ["model.txt", "plots"]


def test_unknown_experiment_is_one_line_with_suggestion(tmp_path):
    uri, _ = _make_mlflow_store(tmp_path)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "experimentkit",
            "-S",
            str(tmp_path / "runs"),
            "import-mlflow",
            uri,
            "--experiment",
            "mnits",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no MLflow experiment named 'mnits'" in lines[0]
    assert "mnist" in lines[0]
    assert not (tmp_path / "runs").exists()
