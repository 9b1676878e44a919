"""Sweeps and several runs from Python: ``ex.sweep`` on every launcher, runs in threads (own run,
own record, own output), Optuna with n_jobs=2 and a pruner, joblib threads and processes,
experiments sent to worker processes, Mongo sweep records."""

from __future__ import annotations

import contextvars
import json
import os
import re
import subprocess
import sys
import threading

import pytest
from sweep_helpers import ls_json, sweep_records, write_script

from experimentkit import Experiment
from experimentkit.errors import UsageError
from experimentkit.observers import FileStorageObserver, SqlObserver
from experimentkit.query import open_store


def make_experiment(observer, name="py"):
    ex = Experiment(name, interactive=True)
    ex.observers.append(observer)

    @ex.config
    def cfg():
        x = 1
        fail = False

    @ex.main
    def main(x, fail, _run):
        for i in range(20):
            ex.log_scalar("v", x)  # through the experiment: must find *this* run
            _run.log_scalar("w", x * 10)  # through the run handle
            print(f"x={x} line {i}")
        if fail:
            raise RuntimeError(f"x={x} failed")
        return x

    return ex


def check_records(store_target, expected_xs):
    """Every run is complete and holds only its own data."""
    with open_store(store_target) as store:
        runs = store.runs().all()
        assert sorted(r.config["x"] for r in runs) == sorted(expected_xs)
        for run in runs:
            x = run.config["x"]
            assert run.status == "COMPLETED"
            assert run.result == x
            assert run.metrics["v"]["count"] == 20 and run.metrics["v"]["max"] == x
            assert run.metrics["w"]["count"] == 20 and run.metrics["w"]["min"] == x * 10
            # print() writes a line's text and its newline apart: in a run whose capture is shared,
            # another thread's text can land between them, so count the texts, not the lines
            lines = re.findall(r"x=(\d+) line \d+", run.captured_out())
            own = [rx for rx in lines if rx == str(x)]
            assert len(own) == 20
            if "output_shared" not in run.info:  # else its capture began before the others ran
                assert len(lines) == 20
        return runs


def test_sweep_local_processes_returns_the_runs(tmp_path):
    ex = make_experiment(FileStorageObserver(str(tmp_path / "runs")))
    result = ex.sweep({"x": [1, 2, 3], "fail": [False]}, jobs=2)
    assert result.status == "COMPLETED" and len(result) == 3
    assert [(r.index, r.values, r.status, r.result) for r in result] == [
        (0, {"x": 1, "fail": False}, "COMPLETED", 1),
        (1, {"x": 2, "fail": False}, "COMPLETED", 2),
        (2, {"x": 3, "fail": False}, "COMPLETED", 3),
    ]
    check_records(str(tmp_path / "runs"), [1, 2, 3])
    assert {r["id"] for r in ls_json(str(tmp_path / "runs"), f"sweep == {result.id}")} == {
        r.run_id for r in result
    }


def test_sweep_failure_and_fail_fast_from_python(tmp_path):
    ex = make_experiment(FileStorageObserver(str(tmp_path / "runs")))
    result = ex.sweep({"x": [1, 2], "fail": [True, False]})
    assert result.status == "FAILED"
    assert [(f.values["x"], f.error) for f in result.failed] == [
        (1, "RuntimeError: x=1 failed"),
        (2, "RuntimeError: x=2 failed"),
    ]
    stopped = ex.sweep({"x": [1, 2], "fail": [True]}, fail_fast=True)
    assert len(stopped) == 1 and stopped.status == "FAILED"


def test_typo_in_python_space_is_the_single_run_error(tmp_path):
    ex = make_experiment(FileStorageObserver(str(tmp_path / "runs")))
    with pytest.raises(UsageError, match="did you mean 'x'"):
        ex.sweep({"xx": [1, 2]})
    assert not (tmp_path / "runs").exists() or os.listdir(tmp_path / "runs") == []


def test_sweep_in_threads_each_run_has_its_own_record(tmp_path):
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    ex = make_experiment(SqlObserver(url))
    result = ex.sweep({"x": list(range(1, 9))}, launcher="threads", jobs=4)
    assert result.status == "COMPLETED"
    runs = check_records(url, list(range(1, 9)))
    assert all("thread" in r.meta["output_capture"] for r in runs)
    assert {r.meta["sweep"]["id"] for r in runs} == {result.id}


def test_user_threads_with_joblib_each_run_complete(tmp_path):
    joblib = pytest.importorskip("joblib")
    ex = make_experiment(FileStorageObserver(str(tmp_path / "runs")))
    results = joblib.Parallel(n_jobs=4, backend="threading")(
        joblib.delayed(lambda x: ex.run(config_updates={"x": x}).result)(x) for x in range(1, 9)
    )
    assert results == list(range(1, 9))
    check_records(str(tmp_path / "runs"), list(range(1, 9)))


def test_a_plain_thread_inside_main_still_sees_the_run(tmp_path):
    ex = Experiment("plain", interactive=True)
    ex.observers.append(FileStorageObserver(str(tmp_path / "runs")))
    seen = []

    @ex.main
    def main(_run):
        def worker():
            seen.append(ex.current_run is _run)
            ex.log_scalar("from_thread", 1.0)

        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()

    ex.run()
    assert seen == [True]
    [run] = ls_json(str(tmp_path / "runs"))
    assert run["metrics"] == {"from_thread": 1.0}


def test_concurrent_runs_threads_with_copied_context_log_to_their_own_run(tmp_path):
    ex = Experiment("ctx", interactive=True)
    ex.observers.append(FileStorageObserver(str(tmp_path / "runs")))
    barrier = threading.Barrier(2)

    @ex.config
    def cfg():
        x = 0

    @ex.main
    def main(x):
        barrier.wait()  # both runs are active now
        context = contextvars.copy_context()
        helper = threading.Thread(target=context.run, args=(ex.log_scalar, "m", x))
        helper.start()
        helper.join()
        barrier.wait()

    threads = [threading.Thread(target=ex.run, kwargs={"config_updates": {"x": x}}) for x in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    runs = ls_json(str(tmp_path / "runs"))
    assert sorted((r["config"]["x"], r["metrics"]["m"]) for r in runs) == [(1, 1), (2, 2)]


def test_asyncio_tasks_see_their_own_run(tmp_path):
    import asyncio

    ex = make_experiment(FileStorageObserver(str(tmp_path / "runs")))

    async def both():
        return await asyncio.gather(*[asyncio.to_thread(ex.run, config_updates={"x": x}) for x in (1, 2, 3)])

    runs = asyncio.run(both())
    assert sorted(r.result for r in runs) == [1, 2, 3]
    check_records(str(tmp_path / "runs"), [1, 2, 3])


@pytest.mark.optuna
def test_optuna_two_threads_with_pruner_on_sqlite(tmp_path):
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    ex = Experiment("opt", interactive=True)
    ex.observers.append(SqlObserver(url))

    @ex.config
    def cfg():
        lr = 0.1
        width = 4

    @ex.main
    def main(lr, width, _run):
        accuracy = 0.0
        for step in range(10):
            accuracy = (1 - abs(lr - 0.05)) * (step + 1) / 10 * width / 8
            _run.log_scalar("val.accuracy", accuracy)
        return accuracy

    study = ex.optimize(
        "val.accuracy",
        trials=8,
        direction="maximize",
        space={"lr": {"loguniform": [1e-3, 1.0]}, "width": [2, 8]},
        n_jobs=2,
        storage=url,  # the study lives in the runs' own database
        pruner=optuna.pruners.ThresholdPruner(lower=0.15, n_warmup_steps=1),
    )
    states = sorted(t.state.name for t in study.trials)
    assert len(states) == 8 and "FAIL" not in states
    with open_store(url) as store:
        runs = store.runs().all()
        assert len(runs) == 8
        by_trial = {r.meta["optuna"]["trial"]: r for r in runs}
        for trial in study.trials:
            run = by_trial[trial.number]
            assert run.config["lr"] == trial.params["lr"]
            assert run.config["width"] == trial.params["width"]
            series = run.metric("val.accuracy").values
            if trial.state.name == "PRUNED":
                assert run.status == "PRUNED" and len(series) < 10
            else:
                assert run.status == "COMPLETED" and len(series) == 10
                assert series[-1] == trial.value == run.result
            assert trial.intermediate_values == dict(enumerate(series))
    [record] = sweep_records(url)
    assert record["launcher"] == "optuna" and record["objective"] == "val.accuracy"
    assert sum(record["counts"].values()) == 8 and record["status"] == "COMPLETED"


@pytest.mark.optuna
def test_optuna_from_the_command_line(tmp_path):
    pytest.importorskip("optuna")
    script = write_script(tmp_path)
    store = str(tmp_path / "runs")
    spec = tmp_path / "space.yaml"
    spec.write_text("random:\n  lr: {loguniform: [0.001, 0.1]}\n")
    done = subprocess.run(
        [
            sys.executable,
            script,
            "-l",
            "WARNING",
            "-F",
            store,
            "--optuna",
            "4",
            "--sweep-file",
            str(spec),
            "--objective",
            "val.accuracy",
            "--direction",
            "max",
            "with",
            "batch=8,16",
        ],
        capture_output=True,
        text=True,
        cwd=str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    assert "best: val.accuracy=" in done.stderr
    runs = ls_json(store, "sweep == 1")
    assert len(runs) == 4 and all(r["config"]["batch"] in (8, 16) for r in runs)


MAIN_SCRIPT = """
import multiprocessing, sys
from experimentkit import Experiment
from experimentkit.observers import FileStorageObserver

ex = Experiment("in_main")
ex.observers.append(FileStorageObserver(sys.argv[1]))

@ex.config
def cfg():
    x = 1

@ex.main
def main(x):
    return x * 2

def run_one(args):
    experiment, x = args
    return experiment.run(config_updates={"x": x}).result

if __name__ == "__main__":
    if sys.argv[2] == "spawn":
        with multiprocessing.get_context("spawn").Pool(2) as pool:
            print(pool.map(run_one, [(ex, x) for x in (1, 2, 3)]))
    else:
        import joblib
        print(joblib.Parallel(n_jobs=2, backend="loky")(
            joblib.delayed(run_one)((ex, x)) for x in (1, 2, 3)))
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["spawn", "loky"])
def test_experiment_defined_in_main_travels_to_worker_processes(tmp_path, backend):
    if backend == "loky":
        pytest.importorskip("joblib")
    script = tmp_path / "in_main.py"
    script.write_text(MAIN_SCRIPT)
    store = str(tmp_path / "runs")
    done = subprocess.run(
        [sys.executable, str(script), store, backend], capture_output=True, text=True, cwd=str(tmp_path)
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[2, 4, 6]"
    runs = ls_json(store)
    assert sorted(r["result"] for r in runs) == [2, 4, 6]
    assert all(r["status"] == "COMPLETED" for r in runs)


def test_experiment_pickles_by_reference():
    import pickle

    import sweep_helpers  # noqa: F401 - a module with no experiment

    ex = Experiment("loose", interactive=True)  # not a module-level variable
    with pytest.raises(pickle.PicklingError, match="module-level variable"):
        pickle.dumps(ex)


def test_sweep_records_in_mongo(tmp_path):
    pytest.importorskip("mongomock")
    import mongomock.gridfs

    from experimentkit.backends.mongo.store import MongoStore
    from experimentkit.observers import MongoObserver

    mongomock.gridfs.enable_gridfs_integration()
    client = mongomock.MongoClient()
    ex = make_experiment(MongoObserver(client=client))
    first = ex.sweep({"x": [1, 2]}, launcher="threads", jobs=2)
    second = ex.sweep({"x": [3]}, launcher="threads")
    assert (first.id, second.id) == (1, 2)
    records = [json.loads(d["record"]) for d in client["sacred"]["sweeps"].find()]
    assert [(r["id"], r["status"], r["counts"]) for r in records] == [
        (1, "COMPLETED", {"COMPLETED": 2}),
        (2, "COMPLETED", {"COMPLETED": 1}),
    ]
    store = MongoStore(client=client, db_name="sacred")
    assert sorted(r.config["x"] for r in store.runs().where("sweep == 1").all()) == [1, 2]


def test_missing_launcher_packages_name_the_fix(monkeypatch, tmp_path, capsys):
    from experimentkit.launchers import get_launcher

    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setitem(sys.modules, "submitit", None)
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(UsageError, match=r"pip install 'experimentkit\[ray\]'"):
        get_launcher("ray")
    with pytest.raises(UsageError, match=r"pip install 'experimentkit\[slurm\]'"):
        get_launcher("slurm")
    ex = make_experiment(FileStorageObserver(str(tmp_path / "runs")))
    with pytest.raises(UsageError, match=r"pip install 'experimentkit\[optuna\]'"):
        ex.optimize("v", trials=2, space={"x": [1, 2]})
    with pytest.raises(SystemExit) as exit_info:
        ex.run_commandline(["prog", "-M", "--launcher", "ray", "with", "x=1,2"])
    assert exit_info.value.code == 2
    assert "pip install 'experimentkit[ray]'" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


@pytest.mark.ray
@pytest.mark.slow
def test_ray_launcher_local_with_a_crash(tmp_path):
    pytest.importorskip("ray")
    script = write_script(tmp_path)
    store = str(tmp_path / "runs")
    env = dict(os.environ, RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
    done = subprocess.run(
        [
            sys.executable,
            script,
            "-l",
            "WARNING",
            "-F",
            store,
            "-M",
            "--launcher",
            "ray",
            "--jobs",
            "2",
            "with",
            "batch=8,16,32",
            "crash_at=16",
        ],
        capture_output=True,
        text=True,
        cwd=str(tmp_path),
        env=env,
    )
    assert done.returncode == 1, done.stderr
    assert "3 of 3 runs ran (2 COMPLETED, 1 FAILED)" in done.stderr
    runs = ls_json(store, "sweep == 1")
    assert sorted((r["config"]["batch"], r["status"]) for r in runs) == [
        (8, "COMPLETED"),
        (16, "FAILED"),
        (32, "COMPLETED"),
    ]  # the crashed one marked by the sweep
    assert sweep_records(store)[0]["launcher"] == "ray"


@pytest.mark.submitit
@pytest.mark.slow
def test_submitit_local_executor(tmp_path):
    pytest.importorskip("submitit")
    script = write_script(tmp_path)
    store = str(tmp_path / "runs")
    done = subprocess.run(
        [
            sys.executable,
            script,
            "-l",
            "WARNING",
            "-F",
            store,
            "-M",
            "--launcher",
            "slurm",
            "--launcher-arg",
            "cluster=local",
            "--launcher-arg",
            f"folder={tmp_path / 'submitit'}",
            "--launcher-arg",
            "time=00:05:00",
            "--launcher-arg",
            "partition=gpu",
            "--jobs",
            "2",
            "with",
            "batch=8,16,32",
            "fail_at=16",
        ],
        capture_output=True,
        text=True,
        cwd=str(tmp_path),
    )
    assert done.returncode == 1, done.stderr
    assert "3 of 3 runs ran (2 COMPLETED, 1 FAILED)" in done.stderr
    assert "ValueError: bad batch 16" in done.stderr
    runs = ls_json(store, "sweep == 1")
    assert sorted((r["config"]["batch"], r["status"]) for r in runs) == [
        (8, "COMPLETED"),
        (16, "FAILED"),
        (32, "COMPLETED"),
    ]
    [record] = sweep_records(store)
    assert record["launcher"] == "slurm"
    assert record["launcher_options"]["partition"] == "gpu"


RUN_HANDLE_SCRIPT = """
import os
import joblib
from experimentkit import Experiment
from experimentkit.observers import FileStorageObserver

ex = Experiment("handle")
ex.observers.append(FileStorageObserver(os.environ["HANDLE_STORE"]))

def evaluate(run, fold):
    run.log_scalar("fold.score", fold * 10, step=fold)
    return run.config["scale"] * fold

@ex.config
def cfg():
    scale = 3

@ex.automain
def main(_run):
    scores = joblib.Parallel(n_jobs=2, backend="loky")(
        joblib.delayed(evaluate)(_run, fold) for fold in range(4))
    return sum(scores)
"""


@pytest.mark.slow
def test_a_run_handle_sent_to_worker_processes_logs_into_its_run(tmp_path):
    pytest.importorskip("joblib")
    script = tmp_path / "handle.py"
    script.write_text(RUN_HANDLE_SCRIPT)
    store = str(tmp_path / "runs")
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        cwd=str(tmp_path),
        env=dict(os.environ, HANDLE_STORE=store),
    )
    assert done.returncode == 0, done.stderr
    with open_store(store) as opened:
        [run] = opened.runs().all()
        assert run.result == 3 * (0 + 1 + 2 + 3)
        series = run.metric("fold.score")
        assert sorted(zip(series.steps, series.values)) == [(0, 0), (1, 10), (2, 20), (3, 30)]


def test_remote_run_handle_has_only_what_travels(tmp_path):
    import pickle

    ex = Experiment("h", interactive=True)
    ex.observers.append(FileStorageObserver(str(tmp_path / "runs")))
    handles = []

    @ex.config
    def cfg():
        a = {"b": 1}

    @ex.main
    def main(_run):
        handles.append(pickle.loads(pickle.dumps(_run)))
        handles[0].log_scalar("remote", 5)

    run = ex.run()
    handle = handles[0]
    assert (handle._id, handle.config) == (run._id, {"a": {"b": 1}, "seed": run.config["seed"]})
    with pytest.raises(AttributeError, match="belongs in the process that owns the run"):
        handle.add_artifact("x")
    assert ls_json(str(tmp_path / "runs"))[0]["metrics"] == {"remote": 5}


def test_resume_from_python_runs_only_what_did_not_complete(tmp_path):
    failing = {2}
    ex = Experiment("resumable", interactive=True)
    ex.observers.append(FileStorageObserver(str(tmp_path / "runs")))

    @ex.config
    def cfg():
        x = 0

    @ex.main
    def main(x):
        if x in failing:
            raise ValueError(x)
        return x

    first = ex.sweep({"x": [1, 2, 3]})
    assert first.status == "FAILED" and [f.values for f in first.failed] == [{"x": 2}]
    failing.clear()
    again = ex.sweep(resume=first.id)
    assert again.id == first.id and again.status == "COMPLETED" and again.skipped == 2
    assert [(r.values, r.status) for r in again] == [({"x": 2}, "COMPLETED")]
    runs = ls_json(str(tmp_path / "runs"), f"sweep == {first.id}", "status == COMPLETED")
    assert sorted(r["result"] for r in runs) == [1, 2, 3]


@pytest.mark.submitit
def test_slurm_options_reach_submitit_and_no_slurm_is_one_line(tmp_path, monkeypatch):
    pytest.importorskip("submitit")
    from experimentkit.launchers import get_launcher

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(UsageError, match="found no SLURM here .* cluster=local"):
        get_launcher("slurm", jobs=2)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("srun", "sbatch", "squeue", "scancel", "sacct"):
        (bin_dir / tool).write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    launcher = get_launcher(
        "slurm",
        jobs=2,
        partition="gpu",
        time="02:30:00",
        gpus_per_node=1,
        account="proj",
        folder=str(tmp_path / "logs"),
    )
    parameters = launcher.executor()._executor.parameters
    assert parameters["partition"] == "gpu" and parameters["account"] == "proj"
    assert parameters["gpus_per_node"] == 1 and parameters["time"] == 150
