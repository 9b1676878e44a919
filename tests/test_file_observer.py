"""FileStorageObserver: Sacred's layout, atomic writes, append-only logs, attach, name safety."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experimentkit.backends.file import observer as observer_module
from experimentkit.backends.file.observer import ID_COUNTER_FILE, FileStorageObserver
from experimentkit.backends.file.schema import (
    load_run_metrics,
    metrics_log_lines,
    read_jsonl,
    read_metrics_log,
)

T0 = dt.datetime(2024, 5, 1, 12, 0, 0)
SOURCE_TEXT = "print('hello')\n"


def tick(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


@pytest.fixture
def src(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "train.py").write_text(SOURCE_TEXT)
    return folder


def event_kwargs(src: Path, **config) -> dict:
    md5 = hashlib.md5(SOURCE_TEXT.encode()).hexdigest()
    return {
        "ex_info": {
            "name": "demo",
            "base_dir": str(src),
            "sources": [["train.py", md5]],
            "dependencies": ["numpy==1.26.4"],
            "repositories": [],
            "mainfile": "train.py",
        },
        "command": "main",
        "host_info": {
            "hostname": "box",
            "os": ["Linux", "Linux-6.1-x86_64"],
            "python_version": "3.11.4",
            "cpu": "Some CPU",
            "ENV": {},
        },
        "config": {"lr": 0.2, "seed": 7, "opt": {"name": "adam"}, **config},
        "meta_info": {
            "command": "main",
            "options": {"--loglevel": None, "with": True},
            "named_configs": [],
            "config_updates": {"lr": 0.2},
            "comment": "my comment",
        },
    }


def start(basedir: Path, src: Path, _id=None, **kwargs) -> tuple:
    obs = FileStorageObserver(basedir, **kwargs)
    run_id = obs.started_event(start_time=T0, _id=_id, **event_kwargs(src))
    return obs, run_id


def metrics_batch(name: str, steps: list, values: list, t: float = 0.0) -> dict:
    return {
        name: {
            "name": name,
            "steps": steps,
            "values": values,
            "timestamps": [tick(t + i) for i in range(len(steps))],
        }
    }


def load(path: Path):
    return json.loads(path.read_text())


def test_constructing_does_not_create_basedir(tmp_path):
    FileStorageObserver(tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_started_event_writes_sacred_layout(tmp_path, src):
    basedir = tmp_path / "runs"
    obs, run_id = start(basedir, src)
    assert run_id == "1"
    assert obs.dir == str(basedir / "1")
    md5 = hashlib.md5(SOURCE_TEXT.encode()).hexdigest()
    run = load(basedir / "1" / "run.json")
    assert run == {
        "experiment": {
            "name": "demo",
            "base_dir": str(src),
            "dependencies": ["numpy==1.26.4"],
            "repositories": [],
            "mainfile": "train.py",
            "sources": [["train.py", f"_sources/train_{md5}.py"]],
        },
        "command": "main",
        "host": event_kwargs(src)["host_info"],
        "start_time": "2024-05-01T12:00:00",
        "meta": event_kwargs(src)["meta_info"],
        "status": "RUNNING",
        "resources": [],
        "artifacts": [],
        "heartbeat": None,
    }
    assert (basedir / "_sources" / f"train_{md5}.py").read_text() == SOURCE_TEXT
    assert load(basedir / "1" / "config.json") == event_kwargs(src)["config"]
    assert (basedir / "1" / "cout.txt").read_bytes() == b""
    assert not (basedir / "1" / "metrics.json").exists()
    text = (basedir / "1" / "run.json").read_text()
    assert text == json.dumps(run, sort_keys=True, indent=2)


def test_ids_count_up_skip_foreign_dirs_and_honour_given_id(tmp_path, src):
    basedir = tmp_path / "runs"
    (basedir / "7").mkdir(parents=True)
    (basedir / "notes").mkdir()
    (basedir / "99.txt").write_text("")
    assert start(basedir, src)[1] == "8"
    assert start(basedir, src)[1] == "9"
    assert start(basedir, src, _id="custom")[1] == "custom"
    assert load(basedir / "custom" / "run.json")["status"] == "RUNNING"
    with pytest.raises(FileExistsError):
        start(basedir, src, _id="custom")
    for bad in ("../escape", "a/b", ".."):
        with pytest.raises(ValueError, match="run id"):
            start(basedir, src, _id=bad)
    assert not (tmp_path / "escape").exists()


def test_full_run_matches_sacred_observer_output(tmp_path, src):
    """Same events into Sacred's own FileStorageObserver and ours give the same files."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sacred.observers import FileStorageObserver as SacredObserver
    resource = tmp_path / "data.txt"
    resource.write_text("input data")
    artifact = tmp_path / "model.bin"
    artifact.write_bytes(b"\x00\x01weights")
    outputs = {}
    for label, cls in (("sacred", SacredObserver), ("ours", FileStorageObserver)):
        basedir = tmp_path / label
        obs = cls(str(basedir))
        assert obs.started_event(start_time=T0, _id=None, **event_kwargs(src)) == "1"
        obs.resource_event(filename=str(resource))
        obs.log_metrics(metrics_by_name=metrics_batch("loss", [0, 1], [1.5, 1.25]), info={})
        obs.heartbeat_event(
            info={"custom": {"a": [1, 2]}}, captured_out="epoch 1\n", beat_time=tick(1), result=None
        )
        obs.log_metrics(
            metrics_by_name={
                **metrics_batch("loss", [2], [1.0], 2),
                **metrics_batch("acc", [0, 1], [0.5, 0.75], 2),
            },
            info={},
        )
        obs.artifact_event(name="model.bin", filename=str(artifact))
        obs.heartbeat_event(
            info={"custom": {"a": [1, 2]}}, captured_out="epoch 1\nepoch 2\r\n", beat_time=tick(2), result=0.5
        )
        obs.completed_event(stop_time=tick(3), result={"final": 42})
        files = {}
        for name in ("run.json", "config.json", "info.json", "metrics.json"):
            files[name] = load(basedir / "1" / name)
        files["cout.txt"] = (basedir / "1" / "cout.txt").read_bytes()
        files["model.bin"] = (basedir / "1" / "model.bin").read_bytes()
        files["run.json"]["resources"] = [
            [a, b.replace(str(basedir), "<base>")] for a, b in files["run.json"]["resources"]
        ]
        files["stored"] = sorted(
            str(p.relative_to(basedir))
            for p in basedir.rglob("*")
            if p.is_file() and p.parent.name.startswith("_")
        )
        outputs[label] = files
    ours, sacred = outputs["ours"], outputs["sacred"]
    assert ours["run.json"].pop("artifact_meta") == {"model.bin": {"content_type": None, "metadata": None}}
    assert ours == sacred
    assert sorted(ours["run.json"]) == [
        "artifacts",
        "command",
        "experiment",
        "heartbeat",
        "host",
        "meta",
        "resources",
        "result",
        "start_time",
        "status",
        "stop_time",
    ]
    assert ours["run.json"]["status"] == "COMPLETED"
    assert ours["run.json"]["stop_time"] == "2024-05-01T12:00:03"
    assert ours["run.json"]["result"] == {"final": 42}


def test_failed_run_keeps_output_trace_and_metrics(tmp_path, src):
    obs, run_id = start(tmp_path, src)
    obs.log_metrics(metrics_by_name=metrics_batch("loss", [0], [3.0]), info={})
    obs.heartbeat_event(info={}, captured_out="starting\nboom soon\n", beat_time=tick(1), result=None)
    trace = ["Traceback (most recent call last):\n", "ValueError: boom\n"]
    obs.failed_event(fail_time=tick(2), fail_trace=trace)
    run = load(tmp_path / run_id / "run.json")
    assert run["status"] == "FAILED"
    assert run["fail_trace"] == trace
    assert run["stop_time"] == "2024-05-01T12:00:02"
    assert (tmp_path / run_id / "cout.txt").read_text() == "starting\nboom soon\n"
    assert load(tmp_path / run_id / "metrics.json")["loss"]["values"] == [3.0]
    assert not (tmp_path / run_id / "info.json").exists()


def test_interrupted_run_gets_given_status_and_empty_metrics_json(tmp_path, src):
    obs, run_id = start(tmp_path, src)
    obs.interrupted_event(interrupt_time=tick(5), status="TIMEOUT")
    run = load(tmp_path / run_id / "run.json")
    assert (run["status"], run["stop_time"]) == ("TIMEOUT", "2024-05-01T12:00:05")
    assert load(tmp_path / run_id / "metrics.json") == {}


def test_cout_only_appends_the_new_part(tmp_path, src):
    obs, run_id = start(tmp_path, src)
    cout = tmp_path / run_id / "cout.txt"
    obs.heartbeat_event(info={}, captured_out="héllo\n", beat_time=tick(1), result=None)
    # Tamper with what is on disk: a rewrite of the whole output would undo this.
    cout.write_bytes(cout.read_bytes().replace(b"h", b"H"))
    obs.heartbeat_event(info={}, captured_out="héllo\n", beat_time=tick(2), result=None)
    obs.heartbeat_event(info={}, captured_out="héllo\nworld\n", beat_time=tick(3), result=None)
    obs.completed_event(stop_time=tick(4), result=None)
    assert cout.read_text(encoding="utf-8") == "Héllo\nworld\n"


def test_info_json_written_only_when_non_empty(tmp_path, src):
    obs, run_id = start(tmp_path, src)
    info_file = tmp_path / run_id / "info.json"
    obs.heartbeat_event(info={}, captured_out="", beat_time=tick(1), result=None)
    assert not info_file.exists()
    obs.heartbeat_event(info={"best": 0.9}, captured_out="", beat_time=tick(2), result=None)
    assert load(info_file) == {"best": 0.9}
    assert load(tmp_path / run_id / "run.json")["heartbeat"] == "2024-05-01T12:00:02"


def test_metrics_log_and_final_metrics_json(tmp_path, src):
    np = pytest.importorskip("numpy")
    obs, run_id = start(tmp_path, src)
    run_dir = tmp_path / run_id
    obs.log_metrics(metrics_by_name=metrics_batch("loss", [0, 1], [0.9, 0.8]), info={})
    obs.log_metrics(metrics_by_name={}, info={})
    obs.log_metrics(
        metrics_by_name={
            **metrics_batch("loss", [np.int64(2)], [np.float32(0.5)], 2),
            **metrics_batch("acc", [0], [1], 2),
        },
        info={},
    )
    assert not (run_dir / "metrics.json").exists()
    lines = read_jsonl(run_dir / "metrics.jsonl")
    assert [line["name"] for line in lines] == ["loss", "loss", "acc"]
    assert lines[0] == {
        "name": "loss",
        "steps": [0, 1],
        "values": [0.9, 0.8],
        "timestamps": ["2024-05-01T12:00:00", "2024-05-01T12:00:01"],
    }
    obs.completed_event(stop_time=tick(9), result=None)
    expected = {
        "acc": {"steps": [0], "values": [1], "timestamps": ["2024-05-01T12:00:02"]},
        "loss": {
            "steps": [0, 1, 2],
            "values": [0.9, 0.8, 0.5],
            "timestamps": ["2024-05-01T12:00:00", "2024-05-01T12:00:01", "2024-05-01T12:00:02"],
        },
    }
    text = (run_dir / "metrics.json").read_text()
    assert json.loads(text) == expected
    assert text == json.dumps(expected, sort_keys=True, separators=(",", ":"))
    assert not (run_dir / "metrics.jsonl").exists()  # one copy of the points once the run ended


def _io_counters() -> tuple:
    fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return int(fields["rchar"]), int(fields["wchar"])


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc/self/io")
def test_heartbeat_io_does_not_grow_with_history(tmp_path, src):
    """Bytes read and written for one beat are the same with 1e3 and 1e5 points stored before."""

    def one_beat_io(prior: int, basedir: Path) -> tuple:
        obs, _ = start(basedir, src)
        steps = list(range(prior))
        obs.log_metrics(
            metrics_by_name={"loss": {"steps": steps, "values": [0.5] * prior, "timestamps": [T0] * prior}},
            info={},
        )
        obs.heartbeat_event(info={"a": 1}, captured_out="x" * prior, beat_time=tick(1), result=1)
        before = _io_counters()
        obs.log_metrics(metrics_by_name=metrics_batch("loss", [prior, prior + 1], [0.25, 0.125]), info={})
        obs.heartbeat_event(
            info={"a": 1}, captured_out="x" * prior + "new line\n", beat_time=tick(2), result=2
        )
        after = _io_counters()
        return after[0] - before[0], after[1] - before[1]

    small_read, small_write = one_beat_io(1_000, tmp_path / "small")
    big_read, big_write = one_beat_io(100_000, tmp_path / "big")
    assert big_read <= small_read + 512
    assert big_write <= small_write + 512
    assert big_write < 10_000


def test_resources_are_content_addressed_and_listed_once(tmp_path, src):
    basedir = tmp_path / "runs"
    obs, run_id = start(basedir, src)
    resource = tmp_path / "data.csv"
    resource.write_text("a,b\n1,2\n")
    md5 = hashlib.md5(b"a,b\n1,2\n").hexdigest()
    obs.resource_event(filename=str(resource))
    obs.resource_event(filename=str(resource))
    stored = basedir / "_resources" / f"data_{md5}.csv"
    assert stored.read_text() == "a,b\n1,2\n"
    assert load(basedir / run_id / "run.json")["resources"] == [[str(resource), str(stored)]]


def test_resource_inside_basedir_not_copied_without_copy_artifacts(tmp_path, src):
    basedir = tmp_path / "runs"
    obs, run_id = start(basedir, src, copy_artifacts=False)
    inside = basedir / "shared.txt"
    inside.write_text("x")
    obs.resource_event(filename=str(inside))
    assert load(basedir / run_id / "run.json")["resources"] == [[str(inside), str(inside)]]
    assert not (basedir / "_resources").exists()


def test_sources_not_copied_without_copy_sources(tmp_path, src):
    basedir = tmp_path / "runs"
    obs, run_id = start(basedir, src, copy_sources=False)
    sources = load(basedir / run_id / "run.json")["experiment"]["sources"]
    assert sources == [["train.py", os.path.relpath(src / "train.py", basedir)]]
    assert not (basedir / "_sources").exists()


def test_artifacts_keep_content_type_and_metadata(tmp_path, src):
    obs, run_id = start(tmp_path / "runs", src)
    plot = tmp_path / "plot.png"
    plot.write_bytes(b"\x89PNG")
    obs.artifact_event(name="plot.png", filename=str(plot), metadata={"epoch": 3}, content_type="image/png")
    obs.artifact_event(name="plot.png", filename=str(plot), metadata={"epoch": 4}, content_type="image/png")
    run_dir = tmp_path / "runs" / run_id
    run = load(run_dir / "run.json")
    assert run["artifacts"] == ["plot.png"]
    assert run["artifact_meta"] == {"plot.png": {"content_type": "image/png", "metadata": {"epoch": 4}}}
    assert (run_dir / "plot.png").read_bytes() == b"\x89PNG"


@pytest.mark.parametrize(
    "name", ["run.json", "config.json", "cout.txt", "metrics.json", "metrics.jsonl", "info.json"]
)
def test_artifact_cannot_overwrite_store_files(tmp_path, src, name):
    obs, run_id = start(tmp_path, src)
    before = (tmp_path / run_id / "run.json").read_text()
    source = tmp_path / "evil"
    source.write_text("{}")
    with pytest.raises(FileExistsError, match="reserved"):  # Sacred's exception type
        obs.artifact_event(name=name, filename=str(source))
    assert (tmp_path / run_id / "run.json").read_text() == before


@pytest.mark.parametrize(
    "name",
    [
        "../escape.txt",
        "..",
        "sub/../../escape.txt",
        "/tmp/escape.txt",
        "",
        "a\0b",
        "sub//x",
        "sub/",
        "tables/x.jsonl",
    ],
)
def test_artifact_and_table_names_cannot_leave_the_run_dir(tmp_path, src, name):
    basedir = tmp_path / "runs"
    obs, run_id = start(basedir, src)
    source = tmp_path / "payload"
    source.write_text("payload")
    before = sorted(p for p in tmp_path.rglob("*"))
    # ValueError, or FileExistsError for a store file's name (as Sacred's observer raises)
    with pytest.raises((ValueError, FileExistsError), match="artifact name"):
        obs.artifact_event(name=name, filename=str(source))
    with pytest.raises(ValueError, match="table name"):
        obs.log_table(name, [{"a": 1}])
    assert sorted(p for p in tmp_path.rglob("*")) == before
    assert load(basedir / run_id / "run.json")["artifacts"] == []


def test_artifact_names_with_slashes_go_to_folders_inside_the_run(tmp_path, src):
    obs, run_id = start(tmp_path, src)
    source = tmp_path / "weights"
    source.write_bytes(b"ckpt")
    obs.artifact_event(name="checkpoints/epoch=0-step=90.ckpt", filename=str(source))
    obs.artifact_event(name="checkpoints/epoch=0-step=90.ckpt", filename=str(source))
    assert (tmp_path / run_id / "checkpoints" / "epoch=0-step=90.ckpt").read_bytes() == b"ckpt"
    assert load(tmp_path / run_id / "run.json")["artifacts"] == ["checkpoints/epoch=0-step=90.ckpt"]


def test_artifact_folder_symlinked_out_of_the_run_is_refused(tmp_path, src):
    obs, run_id = start(tmp_path / "runs", src)
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "runs" / run_id / "link").symlink_to(outside)
    source = tmp_path / "weights"
    source.write_bytes(b"ckpt")
    with pytest.raises(ValueError, match="out of the run directory"):
        obs.artifact_event(name="link/x.ckpt", filename=str(source))
    assert list(outside.iterdir()) == []


def test_log_table_appends_json_lines(tmp_path, src):
    obs, run_id = start(tmp_path, src)
    obs.log_table("predictions", [{"id": 1, "pred": 0.5}, {"id": 2, "pred": None}])
    obs.log_table("predictions", [])
    obs.log_table("predictions", [{"id": 3, "pred": "x"}])
    assert read_jsonl(tmp_path / run_id / "tables" / "predictions.jsonl") == [
        {"id": 1, "pred": 0.5},
        {"id": 2, "pred": None},
        {"id": 3, "pred": "x"},
    ]


def test_no_temporary_files_are_left(tmp_path, src):
    obs, run_id = start(tmp_path, src)
    art = tmp_path / "art.txt"
    art.write_text("a")
    obs.artifact_event(name="art.txt", filename=str(art))
    obs.log_metrics(metrics_by_name=metrics_batch("m", [0], [1.0]), info={})
    obs.heartbeat_event(info={"x": 1}, captured_out="out", beat_time=tick(1), result=None)
    obs.completed_event(stop_time=tick(2), result=None)
    assert [p.name for p in tmp_path.rglob(".*")] == [ID_COUNTER_FILE]  # no temporary file


def test_failed_replace_keeps_old_file_and_removes_temp(tmp_path, src, monkeypatch):
    obs, run_id = start(tmp_path, src)
    before = (tmp_path / run_id / "run.json").read_text()

    def broken_replace(a, b):
        raise OSError("disk full")

    monkeypatch.setattr(observer_module.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        obs.heartbeat_event(info={}, captured_out="", beat_time=tick(1), result=None)
    assert (tmp_path / run_id / "run.json").read_text() == before
    assert [p.name for p in tmp_path.rglob(".*")] == [ID_COUNTER_FILE]  # no temporary file


def test_failed_start_releases_the_run_dir_so_a_retry_is_clean(tmp_path, src, monkeypatch):
    real_replace = os.replace

    def replace_failing_on_config(a, b):
        if str(b).endswith("config.json"):
            raise OSError("disk full")
        real_replace(a, b)

    monkeypatch.setattr(observer_module.os, "replace", replace_failing_on_config)
    obs = FileStorageObserver(tmp_path / "runs")
    with pytest.raises(OSError, match="disk full"):
        obs.started_event(start_time=T0, _id=None, **event_kwargs(src))
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [ID_COUNTER_FILE, "_sources"]
    monkeypatch.setattr(observer_module.os, "replace", real_replace)
    assert obs.started_event(start_time=T0, _id=None, **event_kwargs(src)) == "1"


def test_attach_extends_an_existing_run(tmp_path, src):
    first, run_id = start(tmp_path, src)
    first.log_metrics(metrics_by_name=metrics_batch("loss", [0, 1], [1.0, 0.9]), info={})
    first.heartbeat_event(info={}, captured_out="ünï\n", beat_time=tick(1), result=None)
    log = tmp_path / run_id / "metrics.jsonl"
    with open(log, "ab") as f:  # a batch torn by a crash
        f.write(b'{"name":"loss","steps":[2')

    spec = first.replay_spec()
    json.dumps(spec)
    module, attr = spec["factory"].split(":")
    factory = getattr(__import__(module, fromlist=[attr]), attr)
    second = factory(**spec["kwargs"])
    assert second == first
    second.attach(run_id)
    second.log_metrics(metrics_by_name=metrics_batch("loss", [2], [0.8], 2), info={})
    second.heartbeat_event(info={"k": 1}, captured_out="ünï\nmore\n", beat_time=tick(2), result=3)
    second.completed_event(stop_time=tick(3), result=3)
    run_dir = tmp_path / run_id
    assert (run_dir / "cout.txt").read_text(encoding="utf-8") == "ünï\nmore\n"
    assert load(run_dir / "metrics.json")["loss"]["values"] == [1.0, 0.9, 0.8]
    run = load(run_dir / "run.json")
    assert (run["status"], run["result"]) == ("COMPLETED", 3)
    assert run["start_time"] == "2024-05-01T12:00:00"
    assert load(run_dir / "info.json") == {"k": 1}
    # a replayed batch arriving after the end still reaches metrics.json
    second.log_metrics(metrics_by_name=metrics_batch("loss", [3], [0.7], 3), info={})
    assert load(run_dir / "metrics.json")["loss"]["values"] == [1.0, 0.9, 0.8, 0.7]


def test_attach_to_missing_run_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="Cannot attach to run '3'"):
        FileStorageObserver(tmp_path).attach("3")


def test_queued_event(tmp_path, src):
    obs = FileStorageObserver(tmp_path / "runs")
    kwargs = event_kwargs(src)
    run_id = obs.queued_event(queue_time=T0, _id=None, **kwargs)
    assert run_id == "1"
    run_dir = tmp_path / "runs" / "1"
    run = load(run_dir / "run.json")
    assert run == {
        "experiment": kwargs["ex_info"],
        "command": "main",
        "host": kwargs["host_info"],
        "meta": kwargs["meta_info"],
        "status": "QUEUED",
    }
    assert (run_dir / "train.py").read_text() == SOURCE_TEXT
    assert load(run_dir / "config.json") == kwargs["config"]


def test_template_is_rendered_to_report(tmp_path, src):
    pytest.importorskip("mako")
    template = tmp_path / "report.txt"
    template.write_text("status=${run['status']} lr=${config['lr']} out=${cout}")
    obs, run_id = start(tmp_path / "runs", src, template=template)
    obs.heartbeat_event(info={}, captured_out="hi", beat_time=tick(1), result=None)
    obs.completed_event(stop_time=tick(2), result=None)
    report = (tmp_path / "runs" / run_id / "report.txt").read_text()
    assert report == "status=COMPLETED lr=0.2 out=hi"
    with pytest.raises(FileNotFoundError, match="template"):
        FileStorageObserver(tmp_path, template=tmp_path / "missing.html")


def test_create_alias_and_lazy_export(tmp_path):
    import experimentkit.observers as observers

    assert observers.FileStorageObserver is FileStorageObserver
    with pytest.warns(DeprecationWarning):
        obs = FileStorageObserver.create(str(tmp_path), priority=5)
    assert isinstance(obs, FileStorageObserver)
    assert obs.priority == 5 and FileStorageObserver(tmp_path).priority == 20
    assert obs == FileStorageObserver(tmp_path) and obs != FileStorageObserver(tmp_path / "x")


batches = st.lists(
    st.tuples(
        st.sampled_from(["loss", "acc", "lr"]),
        st.lists(st.tuples(st.integers(-(10**12), 10**12), st.floats(allow_nan=False)), max_size=5),
    ),
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(batches=batches, cut=st.integers(min_value=0))
def test_metrics_log_roundtrip_and_torn_tail(tmp_path_factory, batches, cut):
    path = tmp_path_factory.mktemp("log") / "metrics.jsonl"
    encoded = [
        metrics_log_lines(
            [(name, [s for s, _ in pts], [v for _, v in pts], ["2024-01-01T00:00:00"] * len(pts))]
        )
        for name, pts in batches
    ]
    data = "".join(encoded).encode()
    path.write_bytes(data)
    expected: dict = {}
    for name, pts in batches:
        series = expected.setdefault(name, {"steps": [], "values": [], "timestamps": []})
        series["steps"] += [s for s, _ in pts]
        series["values"] += [v for _, v in pts]
        series["timestamps"] += ["2024-01-01T00:00:00"] * len(pts)
    assert read_metrics_log(path) == expected
    # killed mid-write: any byte prefix reads as the complete lines before the cut
    cut = cut % (len(data) + 1)
    path.write_bytes(data[:cut])
    complete = data[:cut].count(b"\n")
    prefix: dict = {}
    for name, pts in batches[:complete]:
        series = prefix.setdefault(name, {"steps": [], "values": [], "timestamps": []})
        series["steps"] += [s for s, _ in pts]
        series["values"] += [v for _, v in pts]
        series["timestamps"] += ["2024-01-01T00:00:00"] * len(pts)
    assert read_metrics_log(path) == prefix


def test_read_jsonl_rejects_corruption_before_the_last_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"name":"a","steps":[1],"values":[1],"timestamps":["t"]}\nnot json\n')
    with pytest.raises(ValueError, match="line 2"):
        read_metrics_log(path)
    assert read_metrics_log(tmp_path / "missing.jsonl") == {}


def test_load_run_metrics_prefers_the_log_and_falls_back_to_sacred_json(tmp_path):
    assert load_run_metrics(tmp_path) == {}
    sacred_shaped = {"acc": {"steps": [0], "values": [0.5], "timestamps": ["2024-01-01T00:00:00"]}}
    (tmp_path / "metrics.json").write_text(json.dumps(sacred_shaped))
    assert load_run_metrics(tmp_path) == sacred_shaped
    (tmp_path / "metrics.jsonl").write_text(metrics_log_lines([("loss", [1], [2.0], ["t"])]))
    expected = {"loss": {"steps": [1], "values": [2.0], "timestamps": ["t"]}}
    assert load_run_metrics(tmp_path) == expected
