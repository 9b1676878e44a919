"""The file store's read path at scale: per-metric summaries kept on write, one metric read without
parsing the others, numpy arrays built from the stored columns."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from experimentkit import Experiment
from experimentkit.backends.file import observer as file_observer
from experimentkit.backends.file.index import _summarize_run_metrics
from experimentkit.backends.file.schema import (
    metrics_json_text,
    read_metrics_log,
    write_metrics_json_streaming,
)
from experimentkit.observers import FileStorageObserver
from experimentkit.query import open_store


def _run(tmp_path, series: dict):
    ex = Experiment("scale")
    ex.observers.append(FileStorageObserver(str(tmp_path)))

    @ex.main
    def main(_run):
        for name, values in series.items():
            for value in values:
                _run.log_scalar(name, value)

    run = ex.run()
    return str(run._id), os.path.join(str(tmp_path), str(run._id))


def _same(a, b):
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


def test_kept_summaries_equal_a_full_read(tmp_path):
    series = {
        "loss": [3.0, float("nan"), 1.0, 2.0],
        "acc": [1, 5, float("inf"), -2],
        "loss_2": [float("nan")],
        "lr": [0.1],
    }
    run_id, run_dir = _run(tmp_path, series)
    with open(os.path.join(run_dir, "metrics_summary.json")) as f:
        kept = json.load(f)["metrics"]
    full = _summarize_run_metrics(run_dir)
    assert set(kept) == set(full) == set(series)
    for name in series:
        assert all(_same(kept[name][k], full[name][k]) for k in ("last", "min", "max", "count"))
    record = open_store(str(tmp_path)).get(run_id)
    assert record.metrics["acc"] == {"last": -2, "min": -2, "max": math.inf, "count": 4}


def test_summaries_are_ignored_once_the_log_changed_or_values_are_not_numbers(tmp_path):
    run_id, run_dir = _run(tmp_path, {"loss": [1.0, 2.0]})
    path = os.path.join(run_dir, "metrics.json")  # the one copy of an ended run's points
    with open(path) as f:
        metrics = json.load(f)
    for key, value in (("steps", 2), ("values", -7.0), ("timestamps", "2024-01-01T00:00:00")):
        metrics["loss"][key].append(value)
    with open(path, "w") as f:  # e.g. rewritten by another tool
        json.dump(metrics, f)
    assert open_store(str(tmp_path)).get(run_id).metrics["loss"] == {
        "last": -7.0,
        "min": -7.0,
        "max": 2.0,
        "count": 3,
    }
    text_run, text_dir = _run(tmp_path, {"phase": ["warmup", "train"], "loss": [1.0]})
    assert not os.path.exists(os.path.join(text_dir, "metrics_summary.json"))
    assert open_store(str(tmp_path)).get(text_run).metrics["phase"]["last"] == "train"


def test_one_metric_is_read_alone_and_to_numpy_matches_the_datetimes(tmp_path):
    run_id, _ = _run(tmp_path, {"loss": [0.5, None, 2.5], "loss2": [9.0], '"odd\tname': [1.0]})
    store = open_store(str(tmp_path))
    series = store.get(run_id).metric("loss")
    steps, values, stamps = series.to_numpy()
    assert steps.tolist() == [0, 1, 2]
    assert values[0] == 0.5 and math.isnan(values[1]) and values[2] == 2.5
    assert stamps.dtype == np.dtype("datetime64[us]")
    assert stamps.tolist() == series.timestamps  # the same instants as the parsed datetimes
    assert store.get(run_id).metric('"odd\tname').values == [1.0]
    assert store.get(run_id).metric("loss2").values == [9.0]


def _log(tmp_path, entries):
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in entries))
    return path


def _streamed(tmp_path, log):
    spool = tmp_path / "spool"
    spool.mkdir(exist_ok=True)
    out = tmp_path / "out.json"
    with open(out, "wb") as f:
        write_metrics_json_streaming(log, f, str(spool))
    return out.read_text()


def test_streaming_metrics_json_has_the_bytes_of_the_in_memory_layout(tmp_path):
    entries = [
        {
            "name": "loss",
            "steps": [0, 1],
            "values": [0.5, float("nan")],
            "timestamps": ["2024-01-01T00:00:00", "2024-01-01T00:00:00.5"],
        },
        {"name": "acc", "steps": [], "values": [], "timestamps": []},
        {"name": "loss", "steps": [2], "values": [None], "timestamps": ["2024-01-01T00:00:01"]},
        {"name": "b\u00e9", "steps": [7], "values": ["text"], "timestamps": ["x"]},
    ]
    log = _log(tmp_path, entries)
    text = _streamed(tmp_path, log)
    assert text == metrics_json_text(read_metrics_log(log))
    assert json.loads(text)["loss"]["steps"] == [0, 1, 2]
    assert _streamed(tmp_path, _log(tmp_path, [])) == "{}"


def test_streaming_keeps_columns_that_hold_commas(tmp_path):
    log = _log(tmp_path, [{"name": "m", "steps": [0], "values": ["a,b", [1, 2]], "timestamps": ["t"]}])
    assert _streamed(tmp_path, log) == metrics_json_text(read_metrics_log(log))


def test_a_run_whose_log_outgrows_the_kept_text_gets_a_complete_metrics_json(tmp_path, monkeypatch):
    monkeypatch.setattr(file_observer, "MAX_KEPT_METRIC_CHARS", 1000)
    values = [i / 7 for i in range(500)]
    run_id, run_dir = _run(tmp_path, {"loss": values, "acc": values[:3]})
    with open(os.path.join(run_dir, "metrics.json")) as f:
        text = f.read()
    assert text == metrics_json_text(json.loads(text))
    assert json.loads(text)["loss"]["values"] == values
    assert json.loads(text)["acc"]["values"] == values[:3]
    assert not os.path.exists(os.path.join(run_dir, "metrics.jsonl"))
    assert [p for p in os.listdir(run_dir) if p.startswith(".")] == []  # no spool or temp left


def test_streaming_cuts_the_observers_lines_and_parses_the_others_alike(tmp_path):
    lines = [
        '{"name":"m","steps":[0,1],"values":[1.5,NaN],"timestamps":["2024-01-01T00:00:00","t"]}\n',
        '{"name": "m", "steps": [2], "values": [-1e-07], "timestamps": ["u"]}\n',  # not ours
        '{"name":"q\\"x","steps":[0],"values":["x\\\\"],"timestamps":["t"]}\n',  # escapes
        '{"name":"m","steps":[3],"values":[true],"timestamps":["v"]}\n',
        '{"name":"m","steps":[4],"values":[5]',  # killed write
    ]
    log = tmp_path / "metrics.jsonl"
    log.write_text("".join(lines))
    text = _streamed(tmp_path, log)
    assert text == metrics_json_text(read_metrics_log(log))
    tricky = tmp_path / "tricky.jsonl"
    tricky.write_text('{"name":"m","steps":[0],"values":["a\\",\\""],"timestamps":["t"]}\n')
    assert _streamed(tmp_path, tricky) == metrics_json_text(read_metrics_log(tricky))


def test_streaming_skips_and_reports_damaged_lines_as_the_in_memory_read_does(tmp_path):
    log = tmp_path / "metrics.jsonl"
    log.write_text(
        '{"name":"m","steps":[0],"values":[1.5],"timestamps":["t"]}\n'
        '{"name": "m", "steps": [1], garbage\n'  # not JSON
        '{"name": 5, "steps": [], "values": [], "timestamps": []}\n'  # JSON, not a metric batch
        '{"name":"m","steps":[2],"values":[0.5],"timestamps":["u"]}\n'
    )
    damaged, held_damaged = [], []
    out = tmp_path / "out.json"
    with open(out, "wb") as f:
        write_metrics_json_streaming(log, f, str(tmp_path), damaged)
    assert out.read_text() == metrics_json_text(read_metrics_log(log, held_damaged))
    assert len(damaged) == len(held_damaged) == 2
    assert damaged[0].startswith("metrics.jsonl: line 2: not valid JSON (")
    assert damaged[1] == "metrics.jsonl: line 3: not a metric batch"
    with pytest.raises(ValueError, match=r"metrics\.jsonl: line 2: not valid JSON"):
        _streamed(tmp_path, log)  # no list to report into: refused, as read_metrics_log does
