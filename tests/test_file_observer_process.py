"""FileStorageObserver across processes: concurrent id claims and a run killed with SIGKILL."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import experimentkit
from experimentkit.backends.file.schema import read_metrics_log

T0 = dt.datetime(2024, 5, 1, 12, 0, 0)
REPO_ROOT = str(Path(experimentkit.__file__).resolve().parent.parent)
N_RUNS = 50


def _one_run(basedir: str, src: str, worker: int, barrier) -> None:
    from experimentkit.backends.file.observer import FileStorageObserver

    obs = FileStorageObserver(basedir)
    ex_info = {
        "name": "demo",
        "base_dir": src,
        "sources": [["train.py", "md5"]],
        "dependencies": [],
        "repositories": [],
        "mainfile": "train.py",
    }
    barrier.wait()
    obs.started_event(
        ex_info=ex_info,
        command="main",
        host_info={"hostname": "h"},
        start_time=T0,
        config={"worker": worker},
        meta_info={"command": "main"},
        _id=None,
    )
    obs.log_metrics(metrics_by_name={"w": {"steps": [0], "values": [worker], "timestamps": [T0]}}, info={})
    obs.heartbeat_event(info={}, captured_out=f"worker {worker}\n", beat_time=T0, result=None)
    obs.completed_event(stop_time=T0, result=worker)


@pytest.mark.skipif(sys.platform == "win32", reason="uses fork")
def test_fifty_concurrent_processes_get_distinct_ids_and_complete_records(tmp_path):
    src = tmp_path / "project"
    src.mkdir()
    (src / "train.py").write_text("print('hello')\n")
    basedir = tmp_path / "runs"
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(N_RUNS)
    procs = [ctx.Process(target=_one_run, args=(str(basedir), str(src), i, barrier)) for i in range(N_RUNS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * N_RUNS
    run_dirs = sorted(p.name for p in basedir.iterdir() if not p.name.startswith(("_", ".")))
    assert sorted(run_dirs, key=int) == [str(i) for i in range(1, N_RUNS + 1)]
    workers = set()
    for name in run_dirs:
        run = json.loads((basedir / name / "run.json").read_text())
        worker = json.loads((basedir / name / "config.json").read_text())["worker"]
        assert run["status"] == "COMPLETED" and run["result"] == worker
        assert (basedir / name / "cout.txt").read_text() == f"worker {worker}\n"
        assert json.loads((basedir / name / "metrics.json").read_text())["w"]["values"] == [worker]
        workers.add(worker)
    assert workers == set(range(N_RUNS))
    # no temporary file is left behind; the id counter is the only dot file
    assert [p.name for p in basedir.rglob(".*")] == [".experimentkit-next-id"]
    assert (basedir / ".experimentkit-next-id").read_text() == f"{N_RUNS + 1}\n"


CHILD = textwrap.dedent("""
    import datetime as dt, sys, time
    from experimentkit.backends.file.observer import FileStorageObserver
    t0 = dt.datetime(2024, 5, 1)
    obs = FileStorageObserver(sys.argv[1])
    obs.started_event(ex_info={"name": "k", "base_dir": "", "sources": [], "dependencies": [],
                               "repositories": [], "mainfile": None},
                      command="main", host_info={"hostname": "h"}, start_time=t0,
                      config={"a": 1}, meta_info={"command": "main"}, _id=None)
    out = ""
    for beat in range(10_000):
        steps = list(range(beat * 100, beat * 100 + 100))
        obs.log_metrics({"loss": {"steps": steps, "values": [0.5] * 100,
                                  "timestamps": [t0] * 100}}, {})
        out += f"beat {beat}\\n"
        obs.heartbeat_event(info={"beat": beat}, captured_out=out,
                            beat_time=t0 + dt.timedelta(seconds=beat), result=None)
        print(beat, flush=True)
""")


def test_sigkilled_run_leaves_valid_files_up_to_its_last_beat(tmp_path):
    env = {**os.environ, "PYTHONPATH": REPO_ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        last = -1
        while last < 20:
            line = child.stdout.readline()
            assert line, "child exited early"
            last = int(line)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    run_dir = tmp_path / "1"
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "RUNNING" and "stop_time" not in run
    assert run["heartbeat"] >= f"2024-05-01T00:00:{last:02d}"
    steps = read_metrics_log(run_dir / "metrics.jsonl")["loss"]["steps"]
    assert len(steps) >= (last + 1) * 100 and len(steps) % 100 == 0
    assert steps == list(range(len(steps)))
    cout = (run_dir / "cout.txt").read_text()
    assert cout == "".join(f"beat {b}\n" for b in range(cout.count("\n")))
    assert cout.count("\n") >= last + 1
    assert not (run_dir / "metrics.json").exists()
