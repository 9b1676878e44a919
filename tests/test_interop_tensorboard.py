"""TensorBoard both ways: export, import, attach to a recorded run, live mirror, and the CLI."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys
import textwrap

import pytest

from experimentkit import Experiment
from experimentkit.cli.main import main as cli
from experimentkit.observers import FileStorageObserver, SqlObserver
from experimentkit.query import open_store

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing import event_accumulator as ea  # noqa: E402
from tensorboard.util import tensor_util  # noqa: E402

from experimentkit.interop.tensorboard import export_runs, import_logdir  # noqa: E402

EPOCH = dt.datetime(1970, 1, 1)
BASE = 1_700_000_000.0  # a fixed wall time for the logged points


def _record_runs(observer, n_runs=2, points=50):
    """Record ``n_runs`` runs whose points carry explicit, distinct timestamps."""
    ex = Experiment("tbdemo")
    ex.observers.append(observer)

    @ex.config
    def cfg():
        lr = 0.1
        model = {"depth": 3, "kind": "mlp"}

    @ex.main
    def main(_run, lr):
        for i in range(points):
            _run.log_scalar("train.loss", 1.0 / (i + 1) + lr, step=2 * i, timestamp=BASE + i * 0.123457)
            if i % 10 == 0:
                _run.log_scalar(
                    "val.acc", 0.5 + i / 1000, step=i, timestamp=EPOCH + dt.timedelta(seconds=BASE + i)
                )
        return lr

    return [
        ex.run(config_updates={"lr": 0.1 * (k + 1)}, options={"--loglevel": "ERROR"})._id
        for k in range(n_runs)
    ]


def _read_back(directory):
    acc = ea.EventAccumulator(str(directory), size_guidance={ea.TENSORS: 0, ea.SCALARS: 0})
    acc.Reload()
    return {
        tag: [
            (e.step, tensor_util.make_ndarray(e.tensor_proto).item(), e.wall_time) for e in acc.Tensors(tag)
        ]
        for tag in acc.Tags()["tensors"]
        if not tag.startswith("_hparams_")
    }


def _series(store, run_id):
    record = store.get(run_id)
    out = {}
    for name in record.metric_names():
        series = record.metric(name)
        out[name] = [
            (s, v, round((t - EPOCH).total_seconds(), 6))
            for s, v, t in zip(series.steps, series.values, series.timestamps)
        ]
    return out


@pytest.fixture(params=["file", "sqlite"])
def store_target(request, tmp_path):
    if request.param == "file":
        return str(tmp_path / "runs")
    pytest.importorskip("sqlalchemy")
    return f"sqlite:///{tmp_path / 'runs.db'}"


def _observer(target):
    return FileStorageObserver(target) if "://" not in target else SqlObserver(target)


def test_log_export_read_import_round_trip_is_exact(store_target, tmp_path):
    ids = _record_runs(_observer(store_target))
    logdir = tmp_path / "tb"
    with open_store(store_target) as store:
        done = export_runs(store.runs().all(), str(logdir))
        logged = {run_id: _series(store, run_id) for run_id in ids}
    assert [points for _, _, points in done] == [55, 55]

    # TensorBoard's own reader sees every point with its step, value and wall time
    first_dir = logdir / f"{ids[0]}_tbdemo"
    read = _read_back(first_dir)
    assert sorted(read) == ["train.loss", "val.acc"]
    assert [(s, v, round(w, 6)) for s, v, w in read["train.loss"]] == logged[ids[0]]["train.loss"]

    # ... and importing the logdir gives runs with identical steps, values and wall times
    target2 = str(tmp_path / "imported")
    outcomes = import_logdir(str(logdir), target2, experiment="from_tb")
    assert [o.action for o in outcomes] == ["imported", "imported"]
    assert sum(o.points for o in outcomes) == 110
    with open_store(target2) as store:
        by_dir = {r.config["logdir"]: r for r in store.runs().all()}
        assert set(by_dir) == {f"{ids[0]}_tbdemo", f"{ids[1]}_tbdemo"}
        again = by_dir[f"{ids[0]}_tbdemo"]
        assert _series(store, again.id) == logged[ids[0]]
        assert again.config["lr"] == 0.1 and again.config["model"] == {"depth": 3, "kind": "mlp"}
        assert again.status == "COMPLETED" and again.experiment_name == "from_tb"
        assert again.start_time == EPOCH + dt.timedelta(seconds=BASE)


def test_importing_twice_adds_nothing_and_export_twice_replaces(tmp_path):
    target = str(tmp_path / "runs")
    _record_runs(FileStorageObserver(target), n_runs=1, points=5)
    logdir = tmp_path / "tb"
    with open_store(target) as store:
        export_runs(store.runs().all(), str(logdir))
        export_runs(store.runs().all(), str(logdir))  # replaces its own file, no doubled points
    run_dir = next(logdir.iterdir())
    assert len([f for f in os.listdir(run_dir) if "tfevents" in f]) == 1
    assert len(_read_back(run_dir)["train.loss"]) == 5

    dest = str(tmp_path / "dest")
    assert [o.action for o in import_logdir(str(logdir), dest)] == ["imported"]
    second = import_logdir(str(logdir), dest)
    assert [(o.action, o.reason) for o in second] == [("skipped", "imported before")]
    with open_store(dest) as store:
        assert store.runs().count() == 1


def test_a_recorded_runs_logdir_attaches_its_scalars_to_that_run(tmp_path):
    """A run that wrote TensorBoard files (logdir in info.tensorflow.logdirs, as
    stflow.LogFileWriter records it) gets those scalars, not a new run."""
    from experimentkit.interop.tensorboard import _EventWriter

    logdir = tmp_path / "tb_of_run"
    target = str(tmp_path / "runs")
    ex = Experiment("writer")
    ex.observers.append(FileStorageObserver(target))

    @ex.main
    def main(_run):
        _run.info["tensorflow"] = {"logdirs": [str(logdir)]}
        writer = _EventWriter(str(logdir))
        writer.scalars("tb.loss", [0, 1, 2], [3.0, 2.0, 1.0], [BASE, BASE + 1, BASE + 2])
        writer.close()
        _run.log_scalar("own.metric", 1.0)

    run_id = ex.run(options={"--loglevel": "ERROR"})._id
    outcomes = import_logdir(str(logdir), target)
    assert [(o.action, o.run_id, o.points) for o in outcomes] == [("attached", run_id, 3)]
    with open_store(target) as store:
        assert store.runs().count() == 1
        assert store.get(run_id).metric("tb.loss").values == [3.0, 2.0, 1.0]
    again = import_logdir(str(logdir), target)
    assert again[0].action == "skipped"
    with open_store(target) as store:
        assert len(store.get(run_id).metric("tb.loss")) == 3


def test_logdir_written_by_torch_summary_writer_imports_every_scalar(tmp_path):
    tb = pytest.importorskip("torch.utils.tensorboard")
    logdir = tmp_path / "torch_logs"
    for run in ("a", "b"):
        writer = tb.SummaryWriter(str(logdir / run))
        for step in range(100):
            writer.add_scalar("loss", 1.0 / (step + 1), step, walltime=BASE + step)
            writer.add_scalars("pair", {"x": step, "y": -step}, step, walltime=BASE + step)
        writer.close()
    outcomes = import_logdir(str(logdir), str(tmp_path / "runs"))
    # add_scalars writes one sub-directory per series, each an event directory of its own
    assert sum(o.points for o in outcomes) == 2 * 100 * 3
    with open_store(str(tmp_path / "runs")) as store:
        run_a = store.runs().where("config.logdir == 'a'").first()
        series = run_a.metric("loss")
        assert series.steps == list(range(100))
        assert series.values == pytest.approx([1.0 / (s + 1) for s in range(100)], rel=1e-6)


def test_float32_simple_values_from_tensorflow_1_style_writers_import(tmp_path):
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(str(tmp_path / "tf1" / "run"))
    for step in range(3):
        value = summary_pb2.Summary.Value(tag="acc", simple_value=0.25 * step)
        writer.add_event(
            event_pb2.Event(wall_time=BASE + step, step=step, summary=summary_pb2.Summary(value=[value]))
        )
    writer.close()
    outcomes = import_logdir(str(tmp_path / "tf1"), str(tmp_path / "runs"))
    with open_store(str(tmp_path / "runs")) as store:
        series = store.get(outcomes[0].run_id).metric("acc")
    assert (series.steps, series.values) == ([0, 1, 2], [0.0, 0.25, 0.5])


def test_images_and_histograms_of_a_summary_writer_become_media_artifacts(tmp_path):
    tb = pytest.importorskip("torch.utils.tensorboard")
    np = pytest.importorskip("numpy")
    image_module = pytest.importorskip("PIL.Image")
    pixels = [np.full((3, 4, 5), 40 * step, dtype=np.uint8) for step in range(2)]  # CHW
    pixels[1][0, 1, 2] = 255
    samples = np.arange(100, dtype=np.float64) / 10.0
    writer = tb.SummaryWriter(str(tmp_path / "logs" / "run"))
    for step in range(2):
        writer.add_image("val/sample", pixels[step], step, walltime=BASE + step)
        writer.add_histogram("weights", samples + step, step, walltime=BASE + step)
    writer.add_scalar("loss", 0.5, 0, walltime=BASE)
    writer.close()
    (outcome,) = import_logdir(str(tmp_path / "logs"), str(tmp_path / "runs"))
    assert (outcome.points, outcome.media) == (1, 4)
    with open_store(str(tmp_path / "runs")) as store:
        run = store.get(outcome.run_id)
        images = run.media("val/sample")
        assert [(i["step"], i["kind"], i["metadata"]["shape"]) for i in images] == [
            (0, "image", [4, 5, 3]),
            (1, "image", [4, 5, 3]),
        ]
        with run.open_artifact(images[1]["artifact"]) as f, image_module.open(f) as decoded:
            assert (np.asarray(decoded) == pixels[1].transpose(1, 2, 0)).all()
        histograms = run.media("weights")
        assert [h["step"] for h in histograms] == [0, 1]
        with run.open_artifact(histograms[1]["artifact"]) as f:
            stored = json.load(f)
    assert stored["num"] == sum(count for _, _, count in stored["buckets"]) == 100
    assert (stored["min"], stored["max"]) == (1.0, 10.9)


def test_tensorflow_2_style_image_and_histogram_tensors_import(tmp_path):
    np = pytest.importorskip("numpy")
    image_module = pytest.importorskip("PIL.Image")
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.plugins.histogram import summary_v2 as histogram_v2
    from tensorboard.plugins.image import metadata as image_metadata
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    from tensorboard.util import tensor_util

    pngs = []
    for shade in (10, 200):
        buffer = io.BytesIO()
        image_module.new("L", (3, 2), shade).save(buffer, format="PNG")
        pngs.append(buffer.getvalue())
    images = summary_pb2.Summary.Value(
        tag="gen",
        metadata=image_metadata.create_summary_metadata("", ""),
        tensor=tensor_util.make_tensor_proto(np.array([b"3", b"2", *pngs], dtype=object)),
    )
    histogram = histogram_v2.histogram_pb("h", np.array([0.0, 1.0, 1.0, 3.0]), buckets=3)
    writer = EventFileWriter(str(tmp_path / "tf2" / "run"))
    for step, summary in enumerate((summary_pb2.Summary(value=[images]), histogram)):
        writer.add_event(event_pb2.Event(wall_time=BASE + step, step=step, summary=summary))
    writer.close()
    (outcome,) = import_logdir(str(tmp_path / "tf2"), str(tmp_path / "runs"))
    with open_store(str(tmp_path / "runs")) as store:
        run = store.get(outcome.run_id)
        found = {(m["name"], m["step"]): m for m in run.media()}
        assert sorted(found) == [("gen/0", 0), ("gen/1", 0), ("h", 1)]
        with run.open_artifact(found["gen/1", 0]["artifact"]) as f:
            assert f.read() == pngs[1]
        assert found["gen/1", 0]["metadata"]["shape"] == [2, 3, 1]
        with run.open_artifact(found["h", 1]["artifact"]) as f:
            buckets = json.load(f)["buckets"]
    assert [count for _, _, count in buckets] == [1.0, 2.0, 1.0]
    assert (buckets[0][0], buckets[-1][1]) == (0.0, 3.0)


SCRIPT = textwrap.dedent("""
    from experimentkit import Experiment
    ex = Experiment("live")

    @ex.config
    def cfg():
        lr = 0.5

    @ex.automain
    def main(_run, lr):
        for i in range(300):
            _run.log_scalar("loss", lr / (i + 1))
""")


def test_tensorboard_option_mirrors_a_live_run(tmp_path):
    script = tmp_path / "live.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), "-F", "runs", "-T", "tb", "-l", "ERROR"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    read = _read_back(tmp_path / "tb" / "1_live")
    assert [s for s, _, _ in read["loss"]] == list(range(300))
    assert read["loss"][9][1] == 0.05
    with open_store(str(tmp_path / "runs")) as store:  # the file store got the same points
        assert len(store.get("1").metric("loss")) == 300


def test_tensorboard_setting_mirrors_every_run_and_the_option_overrides_it(tmp_path):
    script = tmp_path / "live.py"
    script.write_text(
        SCRIPT.replace(
            "from experimentkit import Experiment",
            "from experimentkit import SETTINGS, Experiment\nSETTINGS.TENSORBOARD_LOGDIR = 'tb'",
        )
    )

    def run(*words):
        done = subprocess.run(
            [sys.executable, str(script), "-F", "runs", "-l", "ERROR", *words],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr

    run()
    run("-T", "other")
    assert os.listdir(tmp_path / "tb") == ["1_live"]
    assert [s for s, _, _ in _read_back(tmp_path / "tb" / "1_live")["loss"]] == list(range(300))
    assert os.listdir(tmp_path / "other") == ["2_live"]


def test_tensorboard_setting_applies_to_ex_run(tmp_path, monkeypatch):
    from experimentkit import SETTINGS

    monkeypatch.setitem(SETTINGS, "TENSORBOARD_LOGDIR", str(tmp_path / "tb"))
    ids = _record_runs(FileStorageObserver(str(tmp_path / "runs")), n_runs=1, points=3)
    read = _read_back(tmp_path / "tb" / f"{ids[0]}_tbdemo")
    assert [v for _, v, _ in read["train.loss"]] == [1.1, 0.6, 1 / 3 + 0.1]


def test_tensorboard_logdir_setting_defaults_from_the_environment(tmp_path):
    script = tmp_path / "live.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), "-l", "ERROR"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, EXPERIMENTKIT_TENSORBOARD_LOGDIR=str(tmp_path / "team_tb")),
    )
    assert done.returncode == 0, done.stderr
    (mirrored,) = os.listdir(tmp_path / "team_tb")  # no storing observer: named by the run's uid
    assert mirrored.endswith("_live")
    assert len(_read_back(tmp_path / "team_tb" / mirrored)["loss"]) == 300


def test_cli_export_where_and_import(tmp_path, capsys):
    target = str(tmp_path / "runs")
    ids = _record_runs(FileStorageObserver(target), n_runs=2, points=3)
    code = cli(
        ["-S", target, "export-tensorboard", "--logdir", str(tmp_path / "tb"), "--where", "config.lr > 0.15"]
    )
    out = capsys.readouterr().out
    assert code == 0 and "exported 1 run(s)" in out
    assert os.listdir(tmp_path / "tb") == [f"{ids[1]}_tbdemo"]
    code = cli(["-S", str(tmp_path / "back"), "import-tensorboard", str(tmp_path / "tb")])
    assert code == 0 and "imported" in capsys.readouterr().out


def test_cli_mistakes_are_one_line_exit_2(tmp_path):
    def run(*words):
        return subprocess.run(
            [sys.executable, "-m", "experimentkit", *words],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=120,
        )

    missing = run("-S", str(tmp_path / "runs"), "import-tensorboard", "no_such_dir")
    assert missing.returncode == 2
    assert missing.stderr.strip() == (
        "experimentkit: error: no TensorBoard logdir at 'no_such_dir' (not a directory)"
    )
    (tmp_path / "empty").mkdir()
    empty = run("-S", str(tmp_path / "runs"), "import-tensorboard", "empty")
    assert empty.returncode == 2 and len(empty.stderr.strip().splitlines()) == 1
    assert "no TensorBoard event files" in empty.stderr
    assert not (tmp_path / "runs").exists()  # nothing created by a failed import
