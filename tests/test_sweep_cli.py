"""Sweeps from the command line (``python train.py -M ...``, ``experimentkit sweep``), real
processes and real stores: grids with a hard crash, bad input, fail-fast, resume after a kill,
Ctrl-C, SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from sweep_helpers import cli, ls_json, run_script, sweep_records, write_script


@pytest.fixture
def script(tmp_path):
    return write_script(tmp_path)


def test_grid_with_a_hard_crash_finishes_the_others(script, tmp_path):
    store = str(tmp_path / "runs")
    done = run_script(
        script, "-F", store, "-M", "with", "lr=0.1,0.01", "batch=32,64", "crash_at=64", "--jobs", "2"
    )
    assert done.returncode == 1
    assert "Sweep 1 FAILED: 4 of 4 runs ran (2 COMPLETED, 2 FAILED)" in done.stderr
    assert "FAILED #1" in done.stderr and "FAILED #3" in done.stderr
    assert "exit code 3" in done.stderr
    runs = ls_json(store, "sweep == 1")
    assert len(runs) == 4
    completed = sorted((r["config"]["lr"], r["config"]["batch"]) for r in runs if r["status"] == "COMPLETED")
    assert completed == [(0.01, 32), (0.1, 32)]
    # the crashed runs could not record their end: the sweep recorded it for them
    crashed = [r for r in runs if r["config"]["batch"] == 64]
    assert [r["status"] for r in crashed] == ["FAILED", "FAILED"]
    shown = cli(store, "show", crashed[0]["id"])
    assert "exit code 3" in shown.stdout
    [record] = sweep_records(store)
    assert record["status"] == "FAILED"
    assert record["counts"] == {"COMPLETED": 2, "FAILED": 2}
    assert record["total"] == 4 and record["launcher"] == "local" and record["jobs"] == 2
    assert record["space"]["grid"] == {"lr": [0.1, 0.01], "batch": [32, 64]}
    assert record["command_line"][-2:] == ["--jobs", "2"]
    # each run knows its place in the sweep, and its own updates (not the sweep's words)
    assert sorted(r["config"]["batch"] for r in ls_json(store, "sweep.index == 1")) == [64]


def test_named_configs_ranges_and_seeds_as_axes(script, tmp_path):
    store = str(tmp_path / "runs")
    done = run_script(
        script, "-F", store, "--multirun", "with", "big,small", "seed=range(2)", "lr=logspace(-3,-1,3)"
    )
    assert done.returncode == 0, done.stderr
    runs = ls_json(store)
    assert len(runs) == 2 * 2 * 3
    assert {(r["config"]["batch"], r["config"]["seed"]) for r in runs} == {(128, 0), (128, 1), (8, 0), (8, 1)}
    assert sorted({r["config"]["lr"] for r in runs}) == [0.001, 0.01, 0.1]


def test_list_literal_and_quoted_commas_stay_one_run(script, tmp_path):
    store = str(tmp_path / "runs")
    done = run_script(script, "-F", store, "-M", "-f", "with", "lr=0.1,0.2", "tags=[1,2]", 'name="a,b"')
    assert done.returncode == 0, done.stderr
    runs = ls_json(store)
    assert len(runs) == 2
    assert all(r["config"]["tags"] == [1, 2] and r["config"]["name"] == "a,b" for r in runs)


@pytest.mark.parametrize(
    "args, message",
    [
        (["with", "lr=0.1,0.01", "bach=32,64"], "did you mean 'batch'"),
        (["with", "lr=range(5,1)"], "the axis has no values"),
        (["with", "lr=range(1,"], "cannot parse"),
        (["with", "lr=0.1,,0.2"], "empty value between commas"),
        (["with", "big,smal"], "did you mean 'small'"),
        (["--launcher", "rayy", "with", "lr=1,2"], "unknown launcher 'rayy' \\(did you mean 'ray'\\?\\)"),
        (
            ["--launcher", "slurm", "--launcher-arg", "partitio=gpu", "with", "lr=1,2"],
            "did you mean 'partition'",
        ),
        (["--jobs", "0", "with", "lr=1,2"], "--jobs must be at least 1"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_records_nothing(script, tmp_path, args, message):
    import re

    store = tmp_path / "runs"
    done = run_script(script, "-F", str(store), "-M", *args)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    assert re.search(message, lines[0]), lines[0]
    assert not store.exists() or os.listdir(store) == []


def test_sweep_flags_without_a_sweep_and_m_is_still_mongo(script, tmp_path):
    done = run_script(script, "-F", str(tmp_path / "runs"), "--jobs", "2", "with", "lr=0.1")
    assert done.returncode == 2
    assert "--jobs applies to sweeps: add --multirun (-M)" in done.stderr
    help_text = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True).stdout
    assert "-m VALUE --mongo_db=VALUE" in help_text
    assert "-M --multirun" in help_text


def test_fail_fast_stops_starting_runs(script, tmp_path):
    store = str(tmp_path / "runs")
    done = run_script(script, "-F", store, "-M", "--fail-fast", "with", "batch=64,32,16", "fail_at=64")
    assert done.returncode == 1
    assert "1 of 3 runs ran" in done.stderr
    assert "ValueError: bad batch 64" in done.stderr
    assert len(ls_json(store)) == 1
    assert sweep_records(store)[0]["status"] == "FAILED"


def test_failed_runs_do_not_stop_the_sweep(script, tmp_path):
    store = str(tmp_path / "runs")
    done = run_script(script, "-F", store, "-M", "with", "batch=64,32,16", "fail_at=64")
    assert done.returncode == 1
    assert "3 of 3 runs ran (2 COMPLETED, 1 FAILED)" in done.stderr
    assert "FAILED #0 (run 1) batch=64: ValueError: bad batch 64" in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["file", "sqlite"])
def test_resume_after_the_sweep_process_is_killed(script, tmp_path, backend):
    if backend == "file":
        store, option = str(tmp_path / "runs"), "-F"
    else:
        store, option = f"sqlite:///{tmp_path / 'runs.db'}", "-s"
    first = run_script(script, option, store, "-M", "with", "batch=1,2,3,4,5", "kill_parent_at=3")
    assert first.returncode == -signal.SIGKILL
    [record] = sweep_records(store)
    assert record["status"] == "RUNNING"  # nobody could close it
    before = ls_json(store, "sweep == 1")
    assert sorted(r["config"]["batch"] for r in before if r["status"] == "COMPLETED") == [1, 2]
    second = run_script(script, option, store, "-M", "--resume", "1")
    assert second.returncode == 0, second.stderr
    assert "(2 already COMPLETED were skipped)" in second.stderr
    after = ls_json(store, "sweep == 1", "status == COMPLETED")
    assert sorted(r["config"]["batch"] for r in after) == [1, 2, 3, 4, 5]
    assert len(ls_json(store, "sweep == 1", "config.batch == 1")) == 1  # not run again
    [record] = sweep_records(store)
    assert record["status"] == "COMPLETED" and len(record["resumed"]) == 1


def _launcher_args(launcher: str, tmp_path) -> list:
    """The command-line words that choose ``launcher`` (the tests' local forms of Ray and SLURM)."""
    if launcher == "ray":
        pytest.importorskip("ray")
        return ["--launcher", "ray"]
    if launcher == "slurm":
        pytest.importorskip("submitit")
        return [
            "--launcher",
            "slurm",
            "--launcher-arg",
            "cluster=local",
            "--launcher-arg",
            f"folder={tmp_path / 'submitit'}",
        ]
    return []


RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


@pytest.mark.slow
@pytest.mark.parametrize(
    "launcher, signum",
    [
        ("local", signal.SIGINT),
        ("local", signal.SIGTERM),
        ("local-hard", signal.SIGINT),
        pytest.param("ray", signal.SIGINT, marks=pytest.mark.ray),
        pytest.param("slurm", signal.SIGINT, marks=pytest.mark.submitit),
    ],
)
def test_ctrl_c_interrupts_running_runs_and_resume_continues(script, tmp_path, launcher, signum):
    store = str(tmp_path / "runs")
    block = tmp_path / "block"
    block.write_text("")
    fifo = str(tmp_path / "started")
    os.mkfifo(fifo)
    chosen = _launcher_args(launcher, tmp_path)
    words = [*chosen, "--jobs", "2", "with", "batch=1,2,3,4", f"block_file={block}", f"fifo={fifo}"]
    if launcher == "local-hard":  # the runs die of the signal: the sweep records their end
        words.append("die_on_sigint=True")
    env = dict(os.environ, **RAY_ENV)
    process = subprocess.Popen(
        [sys.executable, script, "-l", "WARNING", "-F", store, "-M", *words],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=str(tmp_path),
        env=env,
    )
    # read-write, so the FIFO never reports end-of-file between the two runs' announcements;
    # reading blocks until both running runs have announced themselves
    with os.fdopen(os.open(fifo, os.O_RDWR), "r") as announcements:
        seen = [announcements.readline(), announcements.readline()]
    assert all(line.strip() for line in seen)
    process.send_signal(signum)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 130, err
    assert "Sweep 1 INTERRUPTED" in err and "continue with --resume 1" in err
    runs = ls_json(store, "sweep == 1")
    # the two running runs are recorded INTERRUPTED, and nothing started after the signal
    assert sorted(r["status"] for r in runs) == ["INTERRUPTED", "INTERRUPTED"], err
    [record] = sweep_records(store)
    assert record["status"] == "INTERRUPTED" and record["counts"] == {"INTERRUPTED": 2}
    block.unlink()
    unknown = run_script(script, "-F", store, "-M", "--resume")  # no sweep had this command line
    assert unknown.returncode == 2 and "no unfinished sweep with this command line" in unknown.stderr
    # the same command again with --resume continues sweep 1
    resumed = run_script(script, "-F", store, "-M", *words, "--resume", env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert len(sweep_records(store)) == 1
    done = ls_json(store, "sweep == 1", "status == COMPLETED")
    assert sorted(r["config"]["batch"] for r in done) == [1, 2, 3, 4]
    assert sweep_records(store)[0]["status"] == "COMPLETED"


def test_unreachable_database_is_one_line_with_the_password_hidden(script, tmp_path):
    done = run_script(script, "-s", "postgresql://user:secret@127.0.0.1:1/none", "-M", "with", "lr=1,2")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "secret" not in done.stderr
    assert "postgresql://user:***@127.0.0.1:1/none" in done.stderr
    listing = cli("postgresql://user:secret@127.0.0.1:1/none", "sweeps")
    assert listing.returncode == 2 and "secret" not in listing.stderr
    missing = cli(f"sqlite:///{tmp_path / 'missing.db'}", "sweeps")
    assert missing.returncode == 2 and not (tmp_path / "missing.db").exists()


def test_sweeps_sweep_show_and_plot(script, tmp_path):
    store = str(tmp_path / "runs")
    done = run_script(script, "-F", store, "-M", "with", "lr=0.1,0.01,0.001", "batch=8,16")
    assert done.returncode == 0, done.stderr
    listing = cli(store, "sweeps")
    assert listing.returncode == 0
    assert "COMPLETED" in listing.stdout and "6 COMPLETED" in listing.stdout
    show = cli(store, "sweep-show", "1", "--objective", "val.accuracy")
    assert show.returncode == 0, show.stderr
    lines = show.stdout.splitlines()
    assert "6 COMPLETED" in lines[0]
    best_row = [line for line in lines if line.startswith("*")]
    assert len(best_row) == 1 and " 0.01 " in best_row[0]  # lr=0.01 maximises val.accuracy
    table = lines[lines.index(next(x for x in lines if "index" in x)) + 1 :]
    assert table[0].startswith("*")  # sorted by the objective, best first
    alias = cli(store, "show", "--sweep", "1", "--objective", "val.accuracy")
    assert alias.returncode == 0 and alias.stdout == show.stdout
    as_json = cli(store, "show", "--sweep", "1", "--objective", "val.accuracy", "--format", "json")
    assert as_json.returncode == 0 and [r["best"] for r in json.loads(as_json.stdout)].count("*") == 1
    # a loss with no recorded direction: lower is better, from its name
    by_loss = cli(store, "sweep-show", "1", "--objective", "loss")
    assert by_loss.returncode == 0, by_loss.stderr
    assert "sorted by loss (lower is better)" in by_loss.stdout
    neither = cli(store, "show")
    assert neither.returncode == 2 and "show needs a run id" in neither.stderr
    both = cli(store, "show", "1", "--sweep", "1")
    assert both.returncode == 2 and "not both" in both.stderr
    wrong = cli(store, "sweep-show", "1", "--objective", "val.acuracy")
    assert wrong.returncode == 2 and "did you mean 'val.accuracy'" in wrong.stderr
    missing = cli(store, "sweep-show", "9")
    assert missing.returncode == 2 and "no sweep '9'" in missing.stderr
    png = tmp_path / "params.png"
    plot = cli(store, "plot", "--sweep", "1", "loss", "--kind", "params", "-o", str(png))
    assert plot.returncode == 0, plot.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert cli(store, "ls", "--where", "swep == 1").stderr.count("did you mean 'sweep'") == 1


def test_experimentkit_sweep_command_runs_the_script(script, tmp_path):
    store = str(tmp_path / "runs")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "experimentkit",
            "sweep",
            script,
            "-l",
            "WARNING",
            "-F",
            store,
            "with",
            "lr=0.1,0.2",
        ],
        capture_output=True,
        text=True,
        cwd=str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    assert len(ls_json(store, "sweep == 1")) == 2


def test_sweep_file_random_search(script, tmp_path):
    store = str(tmp_path / "runs")
    spec = tmp_path / "sweep.yaml"
    spec.write_text("grid:\n  batch: [8, 16]\nrandom:\n  lr: {loguniform: [0.001, 0.1]}\n")
    done = run_script(script, "-F", store, "--sweep-file", str(spec), "--samples", "3")
    assert done.returncode == 0, done.stderr
    runs = ls_json(store)
    assert len(runs) == 6
    assert all(0.001 <= r["config"]["lr"] <= 0.1 for r in runs)
    assert sweep_records(store)[0]["space"]["random"] == {"lr": {"loguniform": [0.001, 0.1]}}


def test_sqlite_store(script, tmp_path):
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    done = run_script(script, "-s", url, "-M", "with", "batch=8,16,32", "--jobs", "2")
    assert done.returncode == 0, done.stderr
    assert len(ls_json(url, "sweep == 1")) == 3
    [record] = sweep_records(url)
    assert record["counts"] == {"COMPLETED": 3} and record["status"] == "COMPLETED"
    show = cli(url, "sweep-show", "1")
    assert show.returncode == 0 and show.stdout.count("COMPLETED") >= 3


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind",
    [pytest.param("postgres", marks=pytest.mark.postgres), pytest.param("mysql", marks=pytest.mark.mysql)],
)
def test_server_database_store_and_resume(script, tmp_path, kind):
    from dbutil import server_database

    with server_database(kind, "sweep") as url:
        done = run_script(script, "-s", url, "-M", "with", "batch=1,2,3", "fail_at=2")
        assert done.returncode == 1
        assert len(ls_json(url, "sweep == 1")) == 3
        assert sweep_records(url)[0]["counts"] == {"COMPLETED": 2, "FAILED": 1}
        again = run_script(script, "-s", url, "-M", "--resume", "1", "-f", "with", "fail_at=-1")
        assert again.returncode == 1  # the stored task still says fail_at=2
        assert "(2 already COMPLETED were skipped)" in again.stderr
        assert len(ls_json(url, "sweep == 1")) == 4


def test_progress_bar_on_a_terminal_only(script, tmp_path):
    pytest.importorskip("tqdm")
    import pty

    store = str(tmp_path / "runs")
    pid, fd = pty.fork()
    if pid == 0:  # the child: the sweep, with a terminal as stdout/stderr
        os.chdir(str(tmp_path))
        os.execv(
            sys.executable,
            [sys.executable, script, "-l", "ERROR", "-F", store, "-M", "with", "batch=1,2,3", "fail_at=2"],
        )
    output = b""
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        output += data
    _, status = os.waitpid(pid, 0)
    text = output.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 1
    assert "sweep 1: 100%" in text and "3/3" in text and "failed=1" in text
    # not a terminal: no bar, only the summary
    quiet = run_script(script, "-F", str(tmp_path / "quiet"), "-M", "with", "batch=1,2")
    assert quiet.stderr.splitlines()[0].startswith("Sweep 1 COMPLETED")
