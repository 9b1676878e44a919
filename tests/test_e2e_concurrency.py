"""End to end: 50 runs started at once into one store all get distinct ids and complete records.

Fifty subprocesses of a tiny script start together: each one imports experimentkit, says it is
ready and waits at a gate (a file the test creates), so that all fifty then claim a run id, create
or upgrade the store and write their records at the same moment.  Once into one file-storage
directory (``-F``), once into one fresh PostgreSQL database (``-s``, EXPERIMENTKIT_TEST_POSTGRES).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.dbutil import server_database, with_driver

REPO = Path(__file__).resolve().parent.parent
N_RUNS = 50
POINTS = 5

SCRIPT = textwrap.dedent("""
    import os, sys, time
    from experimentkit import Experiment

    ex = Experiment("many")

    def say(text):
        # one write per line: print() makes several writes (unbuffered under PYTHONUNBUFFERED), and
        # the fd capture may put a log line from another thread between them
        sys.stdout.write(text + "\\n")
        sys.stdout.flush()

    @ex.config
    def cfg():
        worker = 0

    @ex.main
    def main(_run, worker):
        for i in range(5):
            _run.log_scalar("x", worker * 100 + i, i)
        say(f"worker {worker}")
        return worker

    open(os.path.join(os.environ["E2E_READY"], str(os.getpid())), "w").close()
    deadline = time.monotonic() + 60
    while not os.path.exists(os.environ["E2E_GATE"]) and time.monotonic() < deadline:
        time.sleep(0.02)
    ex.run_commandline()
""")


@pytest.fixture(scope="module")
def child_env(tmp_path_factory) -> dict:
    """Environment of the scripts: bytecode cached in a temporary tree shared by all of them.

    Test environments often set PYTHONDONTWRITEBYTECODE; then each of the 50 interpreters would
    compile experimentkit's sources again, which is most of a tiny run's CPU time.  One warm-up
    import fills a cache outside the source tree (PYTHONPYCACHEPREFIX) that the runs then read.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPATH=str(REPO), PYTHONPYCACHEPREFIX=str(tmp_path_factory.mktemp("pycache")))
    warm = (
        "import experimentkit, experimentkit.commandline, experimentkit.initialize, "
        "experimentkit.backends.file.observer, experimentkit.host_info, "
        "experimentkit.dependencies, experimentkit.output\n"
        "try:\n import experimentkit.backends.sql.observer, sqlalchemy, psycopg2\n"
        "except ImportError:\n pass\n"
    )
    subprocess.run([sys.executable, "-c", warm], env=env, check=True, timeout=60)
    return env


HANG_GUARD = 600  # seconds


def _run_all(tmp: Path, child_env: dict, observer_args: list) -> list:
    """Start N_RUNS scripts, open the gate once all are ready, wait; returns their outputs."""
    script = tmp / "many.py"
    script.write_text(SCRIPT)
    ready, gate, logs = tmp / "ready", tmp / "gate", tmp / "logs"
    ready.mkdir()
    logs.mkdir()
    env = {
        **child_env,
        "E2E_READY": str(ready),
        "E2E_GATE": str(gate),
        "EXPERIMENTKIT_FALLBACK_DIR": str(tmp / "fallback"),
    }
    procs = []
    try:
        for worker in range(N_RUNS):
            with open(logs / f"{worker}.out", "w") as out:
                procs.append(
                    subprocess.Popen(
                        [sys.executable, str(script), *observer_args, "with", f"worker={worker}"],
                        cwd=tmp,
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
        # hang guards, not speed checks: fifty interpreters on two loaded cores can take minutes
        deadline = time.monotonic() + HANG_GUARD
        while len(os.listdir(ready)) < N_RUNS:
            assert time.monotonic() < deadline, "the scripts did not all start"
            assert all(p.poll() is None for p in procs), "a script ended before the gate opened"
            time.sleep(0.05)
        gate.touch()
        codes = [p.wait(HANG_GUARD) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    failed = {w: (logs / f"{w}.out").read_text() for w, code in enumerate(codes) if code != 0}
    assert not failed, f"{len(failed)} runs failed; first: {next(iter(failed.items()))}"
    journals = list((tmp / "fallback").glob("*.jsonl")) if (tmp / "fallback").exists() else []
    assert journals == [], "some events were not delivered during the run"
    # (whether a started_event outlived the call timeout depends on CPU starvation with 50
    # interpreters on the machine's cores; tests/test_sql_many_starts.py counts it with threads)
    return [(logs / f"{w}.out").read_text() for w in range(N_RUNS)]


@pytest.mark.slow
@pytest.mark.timeout(2 * HANG_GUARD + 60)
def test_fifty_runs_at_once_into_one_file_store(tmp_path, child_env):
    store = tmp_path / "runs"
    _run_all(tmp_path, child_env, ["-F", str(store)])
    run_dirs = sorted(
        (p for p in store.iterdir() if not p.name.startswith(("_", "."))), key=lambda p: int(p.name)
    )
    assert [p.name for p in run_dirs] == [str(i) for i in range(1, N_RUNS + 1)]
    workers = []
    for run_dir in run_dirs:
        run = json.loads((run_dir / "run.json").read_text())
        worker = json.loads((run_dir / "config.json").read_text())["worker"]
        assert run["status"] == "COMPLETED" and run["result"] == worker and "stop_time" in run
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert metrics["x"]["steps"] == list(range(POINTS))
        assert metrics["x"]["values"] == [worker * 100 + i for i in range(POINTS)]
        assert f"worker {worker}\n" in (run_dir / "cout.txt").read_text()
        workers.append(worker)
    assert sorted(workers) == list(range(N_RUNS))
    assert len(list((store / "_sources").iterdir())) == 1  # the shared source, stored once
    assert [p.name for p in store.rglob(".*")] == [".experimentkit-next-id"]  # no temporary files left


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.skipif(
    not os.environ.get("EXPERIMENTKIT_TEST_POSTGRES"),
    reason="EXPERIMENTKIT_TEST_POSTGRES is not set: no PostgreSQL server to test against",
)
@pytest.mark.timeout(2 * HANG_GUARD + 60)
def test_fifty_runs_at_once_into_one_postgres_database(tmp_path, child_env):
    sa = pytest.importorskip("sqlalchemy")
    with server_database("postgres", "ek_e2e_many") as url:
        _run_all(tmp_path, child_env, ["-s", url])
        engine = sa.create_engine(with_driver(url))
        try:
            with engine.connect() as conn:
                runs = conn.execute(
                    sa.text("SELECT run_id, status, result, config, captured_out, stop_time FROM run")
                ).all()
                points = conn.execute(
                    sa.text("SELECT run_id, step, value FROM metric WHERE name = 'x' ORDER BY run_id, step")
                ).all()
                experiments = conn.execute(sa.text("SELECT count(*) FROM experiment")).scalar()
                hosts = conn.execute(sa.text("SELECT count(*) FROM host")).scalar()
        finally:
            engine.dispose()
    assert len(runs) == N_RUNS and len({r.run_id for r in runs}) == N_RUNS
    by_run: dict = {}
    for run_id, step, value in points:
        by_run.setdefault(run_id, []).append((step, value))
    workers = []
    for run in runs:
        worker = json.loads(run.config)["worker"]
        assert run.status == "COMPLETED" and run.result == worker and run.stop_time is not None
        assert f"worker {worker}\n" in run.captured_out
        assert by_run[run.run_id] == [(i, worker * 100 + i) for i in range(POINTS)]
        workers.append(worker)
    assert sorted(workers) == list(range(N_RUNS))
    assert experiments == 1 and hosts == 1  # shared rows were created once, not 50 times


@pytest.mark.slow
@pytest.mark.timeout(2 * HANG_GUARD + 60)
def test_fifty_runs_at_once_into_one_fresh_sqlite_file(tmp_path, child_env):
    """The schema is created by one of them (``BEGIN EXCLUSIVE``) while the others wait; every run
    is stored whole, none is journaled."""
    sa = pytest.importorskip("sqlalchemy")
    db = tmp_path / "runs.db"
    _run_all(tmp_path, child_env, ["-s", f"sqlite:///{db}"])
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            runs = conn.execute(sa.text("SELECT run_id, status, result, config FROM run")).all()
            points = conn.execute(sa.text("SELECT count(*) FROM metric WHERE name = 'x'")).scalar()
            experiments = conn.execute(sa.text("SELECT count(*) FROM experiment")).scalar()
    finally:
        engine.dispose()
    assert len(runs) == N_RUNS and len({r.run_id for r in runs}) == N_RUNS
    assert all(r.status == "COMPLETED" and r.result == json.loads(r.config)["worker"] for r in runs)
    assert points == N_RUNS * POINTS and experiments == 1
