"""End to end: a file store written by experimentkit matches one written by Sacred 0.8.7 itself.

The same script, once with ``from sacred import ...`` and once with ``from experimentkit import ...``,
runs as real subprocesses with ``-F STORE with ... -c COMMENT``: a config scope with docs, a named
config, an ingredient, two metrics, info, a resource, an artifact and printed output.  The two run
directories are compared file by file and field by field.

Differences that are allowed, and why (also in docs/nothing-lost.md):

* ``experiment.dependencies``: each lists the packages *its* process imported (``sacred``/``numpy``
  vs ``experimentkit``); both are sorted ``name==version`` strings.
* ``experiment.base_dir``, ``experiment.sources[i][1]`` digests, the store path inside ``resources``
  and ``meta.options["--file_storage"]``: the two scripts live in different directories, differ in
  their import line and write to different stores.
* Times differ, but are ISO-format strings in the same order (start <= heartbeat, start <= stop).
* experimentkit adds ``artifact_meta`` (content type and metadata of artifacts), ``meta.uid`` (the
  run's identity across backends and replays), ``host.cpu_count``/``host.memory_total``,
  ``meta.options["--gcs"]`` (Sacred defines ``--gcs`` but never registers it) and our own run
  options (``--strict-observers``, ``--system-metrics``, ``--tensorboard``).
* ``fail_trace``: experimentkit leaves its own frames out; the first and last lines are the same.
* ``cout.txt``: the same lines.  Both runs use ``--capture=sys``: with ``fd`` Sacred 0.8.7 sometimes
  stores a truncated output (its tee has not flushed when it reads), and stdout and stderr come
  through separate pipes, so a log line may land between printed lines in either library.  A
  failed run's output is kept by experimentkit (Sacred 0.8.7 leaves ``cout.txt`` empty), so there
  only experimentkit's is checked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("sacred")

REPO = Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent('''
    """Train a tiny model (the same source for Sacred and experimentkit)."""
    import os
    from {package} import Experiment, Ingredient

    data = Ingredient("data")

    @data.config
    def data_cfg():
        size = 4  # number of samples

    ex = Experiment("compare", ingredients=[data])

    @ex.config
    def cfg():
        """The main configuration."""
        lr = 0.1  # learning rate
        layers = [8, 4]  # hidden layer sizes
        opt = {{"name": "sgd", "momentum": 0.9}}
        seed = 1234
        fail = False  # raise in the middle of training

    @ex.named_config
    def fast():
        """Fewer epochs."""
        epochs = 2

    @data.capture
    def load(size):
        return list(range(size))

    @ex.automain
    def main(_run, lr, fail, epochs=3):
        xs = load()
        print("loaded", len(xs))
        if fail:
            raise ValueError("asked to fail")
        for step in range(epochs):
            _run.log_scalar("loss", 1.0 / (step + 1), step)
            _run.log_scalar("acc", step * 0.25)
        _run.info["best"] = {{"epoch": epochs - 1, "score": 0.75}}
        here = os.path.dirname(os.path.abspath(__file__))
        _run.add_resource(os.path.join(here, "..", "input.txt"))
        out = os.path.join(here, "model.txt")
        with open(out, "w") as f:
            f.write("weights\\n")
        _run.add_artifact(out, name="model.txt")
        print("training with lr", lr)
        print("samples", len(xs))
        return {{"lr": lr, "n": len(xs)}}
''')

SCENARIOS = {
    "completed": ["with", "fast", "lr=0.5", "-c", "a comment", "--capture=sys"],
    "failed": ["with", "fail=True", "--capture=sys"],
}
#: keys only one side has (dotted paths; see the module docstring)
# Sacred defines --gcs but never registers it; experimentkit does (-G/--gcs)
# experimentkit's own run options: -O --strict-observers, -U --system-metrics, -T --tensorboard
OURS_ONLY = {
    "artifact_meta",
    "meta.uid",
    "host.cpu_count",
    "host.memory_total",
    "meta.options.--gcs",
    "meta.options.--strict-observers",
    "meta.options.--system-metrics",
    "meta.options.--tensorboard",
}
SACRED_ONLY: set = set()
TIME_KEYS = ("start_time", "heartbeat", "stop_time")
LOG_LINE = re.compile(r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL) - ")


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """Run every scenario with both libraries at once; ``{(scenario, side): run_dir}``."""
    tmp = tmp_path_factory.mktemp("sacred-vs-ours")
    (tmp / "input.txt").write_text("input data\n")
    procs = {}
    for side, package in (("sacred", "sacred"), ("ours", "experimentkit")):
        project = tmp / side
        project.mkdir()
        (project / "train.py").write_text(SCRIPT.format(package=package))
        for scenario, args in SCENARIOS.items():
            store = tmp / f"{side}-{scenario}-store"
            env = {**os.environ, "PYTHONPATH": str(REPO)}
            env.pop("EXPERIMENTKIT_FALLBACK_DIR", None)
            procs[scenario, side] = subprocess.Popen(
                [sys.executable, "train.py", "-F", str(store), *args],
                cwd=project,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
    dirs = {}
    for (scenario, side), proc in procs.items():
        out, err = proc.communicate(timeout=60)
        assert (proc.returncode == 0) == (scenario == "completed"), f"{side} {scenario}:\n{err}"
        dirs[scenario, side] = tmp / f"{side}-{scenario}-store" / "1"
    return tmp, dirs


def _load(run_dir: Path, name: str):
    return json.loads((run_dir / name).read_text())


def _flat_keys(value, prefix: str = "") -> set:
    if not isinstance(value, dict):
        return set()
    keys = set()
    for key, sub in value.items():
        path = f"{prefix}{key}"
        keys.add(path)
        keys |= _flat_keys(sub, path + ".")
    return keys


def _same_shape(ours, theirs, path: str = "") -> None:
    """Same JSON types all the way down (dict keys compared separately, list lengths here)."""
    assert type(ours) is type(theirs), f"{path}: {type(ours).__name__} vs {type(theirs).__name__}"
    if isinstance(ours, dict):
        for key in ours.keys() & theirs.keys():
            _same_shape(ours[key], theirs[key], f"{path}.{key}")
    elif isinstance(ours, list):
        assert len(ours) == len(theirs), f"{path}: {ours} vs {theirs}"
        for i, (a, b) in enumerate(zip(ours, theirs)):
            _same_shape(a, b, f"{path}[{i}]")


def _check_sources(run: dict, run_dir: Path, project: Path) -> None:
    """``[relpath, "_sources/<stem>_<md5><ext>"]`` entries whose stored copies match the file."""
    [(relpath, stored)] = run["experiment"]["sources"]
    assert relpath == "train.py"
    digest = hashlib.md5((project / relpath).read_bytes()).hexdigest()
    assert stored == f"_sources/train_{digest}.py"
    assert (run_dir.parent / stored).read_bytes() == (project / relpath).read_bytes()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_run_json_has_sacreds_keys_shapes_and_values(stores, scenario):
    tmp, dirs = stores
    ours_dir, theirs_dir = dirs[scenario, "ours"], dirs[scenario, "sacred"]
    ours, theirs = _load(ours_dir, "run.json"), _load(theirs_dir, "run.json")

    keys_ours = {k for k in _flat_keys(ours) if not k.startswith("artifact_meta.")}
    assert keys_ours - OURS_ONLY == _flat_keys(theirs) - SACRED_ONLY
    assert keys_ours >= OURS_ONLY - ({"artifact_meta"} if scenario == "failed" else set())
    for key in (
        "experiment",
        "host",
        "meta",
        "resources",
        "artifacts",
        "status",
        "result",
        "command",
        "fail_trace",
    ):
        assert (key in ours) == (key in theirs), key
    deps_ours = ours["experiment"].pop("dependencies")
    deps_theirs = theirs["experiment"].pop("dependencies")
    for deps, package in ((deps_ours, "experimentkit"), (deps_theirs, "sacred")):
        assert deps == sorted(deps) and any(d.startswith(package + "==") for d in deps)
        assert all(re.fullmatch(r"[A-Za-z0-9_.\-]+==\S+", d) for d in deps)
    trace_ours, trace_theirs = ours.pop("fail_trace", None), theirs.pop("fail_trace", None)
    _same_shape({k: v for k, v in ours.items() if k != "artifact_meta"}, theirs)

    # equal values, where the two runs should agree
    for key in ("command", "status", "result", "artifacts"):
        assert ours[key] == theirs[key], key
    for key in ("name", "mainfile", "repositories"):
        assert ours["experiment"][key] == theirs["experiment"][key], key
    assert ours["experiment"]["base_dir"] == str(tmp / "ours")
    assert theirs["experiment"]["base_dir"] == str(tmp / "sacred")
    _check_sources(ours, ours_dir, tmp / "ours")
    _check_sources(theirs, theirs_dir, tmp / "sacred")
    host_theirs = theirs["host"]
    assert {k: ours["host"][k] for k in host_theirs} == host_theirs
    for key in ("command", "config_updates", "named_configs", "comment"):
        assert ours["meta"].get(key) == theirs["meta"].get(key), key
    options_ours = {k: v for k, v in ours["meta"]["options"].items() if "meta.options." + k not in OURS_ONLY}
    options_ours["--file_storage"] = None
    options_theirs = {
        k: v for k, v in theirs["meta"]["options"].items() if "meta.options." + k not in SACRED_ONLY
    }
    assert options_ours == dict(options_theirs, **{"--file_storage": None})
    assert ours["meta"]["options"]["--file_storage"] == str(ours_dir.parent)
    assert re.fullmatch(r"[0-9a-f]{32}", ours["meta"]["uid"])

    # times: ISO strings of naive datetimes, in order
    stamps = {key: dt.datetime.fromisoformat(ours[key]) for key in TIME_KEYS}
    assert all(stamp.tzinfo is None for stamp in stamps.values())
    assert stamps["start_time"] <= stamps["heartbeat"] and stamps["start_time"] <= stamps["stop_time"]

    if scenario == "completed":
        assert ours["result"] == {"lr": 0.5, "n": 4}
        [(path_ours, stored_ours)] = ours["resources"]
        [(path_theirs, stored_theirs)] = theirs["resources"]
        assert path_ours == path_theirs == os.path.normpath(tmp / "sacred" / ".." / "input.txt")
        assert stored_ours == stored_theirs.replace(str(theirs_dir.parent), str(ours_dir.parent))
        assert Path(stored_ours).read_text() == Path(stored_theirs).read_text() == "input data\n"
        assert ours["artifact_meta"] == {"model.txt": {"content_type": None, "metadata": None}}
        assert (ours_dir / "model.txt").read_text() == (theirs_dir / "model.txt").read_text()
    else:
        assert ours["status"] == "FAILED"
        assert isinstance(trace_ours, list) and all(isinstance(line, str) for line in trace_ours)
        assert trace_ours[0].startswith("Traceback (most recent call")
        assert trace_theirs[0].startswith("Traceback (most recent call")
        assert trace_ours[-1] == trace_theirs[-1] == "ValueError: asked to fail\n"
        frame = 'train.py", line 37, in main\n    raise ValueError("asked to fail")\n'
        assert trace_ours[-2].endswith(frame) and trace_theirs[-2].endswith(frame)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_config_metrics_and_info_files_are_equal(stores, scenario):
    _, dirs = stores
    ours_dir, theirs_dir = dirs[scenario, "ours"], dirs[scenario, "sacred"]
    config = _load(ours_dir, "config.json")
    assert config == _load(theirs_dir, "config.json")
    assert config["seed"] == 1234 and config["data"] == {"size": 4}

    metrics_ours, metrics_theirs = _load(ours_dir, "metrics.json"), _load(theirs_dir, "metrics.json")
    assert metrics_ours.keys() == metrics_theirs.keys()
    for name, series in metrics_theirs.items():
        mine = metrics_ours[name]
        assert mine.keys() == series.keys() == {"steps", "values", "timestamps"}
        assert mine["steps"] == series["steps"] and mine["values"] == series["values"]
        assert len(mine["timestamps"]) == len(series["timestamps"])
        for stamp in mine["timestamps"]:
            dt.datetime.fromisoformat(stamp)
    if scenario == "completed":
        assert metrics_ours["loss"] == {**metrics_ours["loss"], "steps": [0, 1], "values": [1.0, 0.5]}
        assert (
            _load(ours_dir, "info.json")
            == _load(theirs_dir, "info.json")
            == {"best": {"epoch": 1, "score": 0.75}}
        )
    else:
        assert metrics_ours == {}
        assert not (ours_dir / "info.json").exists() and not (theirs_dir / "info.json").exists()


def _split_cout(text: str) -> tuple:
    """(printed lines in order, log lines without their elapsed times, sorted)."""
    lines = text.splitlines()
    printed = [line for line in lines if not LOG_LINE.match(line)]
    logs = sorted(re.sub(r"\d+:\d\d:\d\d", "H:MM:SS", line) for line in lines if LOG_LINE.match(line))
    return printed, logs


def test_captured_output_has_the_same_lines(stores):
    _, dirs = stores
    ours = _split_cout((dirs["completed", "ours"] / "cout.txt").read_text())
    theirs = _split_cout((dirs["completed", "sacred"] / "cout.txt").read_text())
    assert ours == theirs
    assert ours[0] == ["loaded 4", "training with lr 0.5", "samples 4"]


def test_failed_run_keeps_its_output(stores):
    _, dirs = stores
    assert (dirs["failed", "ours"] / "cout.txt").read_text() == "loaded 4\n"
