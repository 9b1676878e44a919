"""Scripts and helpers shared by the sweep tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys

SCRIPT = """
import os, signal, sys, time
from experimentkit import Experiment

ex = Experiment("swept")

@ex.config
def cfg():
    lr = 0.1
    batch = 32
    crash_at = -1       # batch value whose run exits hard with os._exit(3)
    fail_at = -1        # batch value whose run raises
    kill_parent_at = -1 # batch value whose run SIGKILLs the sweep process (once: marker file)
    block_file = ""     # while this file exists, runs wait (announcing themselves on a FIFO)
    fifo = ""
    die_on_sigint = False  # Ctrl-C ends the run's process at once (it cannot record its end)

@ex.named_config
def big():
    batch = 128

@ex.named_config
def small():
    batch = 8

@ex.automain
def main(lr, batch, crash_at, fail_at, kill_parent_at, block_file, fifo, die_on_sigint, _run):
    if die_on_sigint:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    for step in range(3):
        _run.log_scalar("loss", lr * batch / (step + 1))
        _run.log_scalar("val.accuracy", 1.0 / (1 + abs(lr - 0.01) * batch))
    print(f"run lr={lr} batch={batch}")
    if batch == crash_at:
        sys.stdout.flush()
        os._exit(3)
    if batch == fail_at:
        raise ValueError(f"bad batch {batch}")
    marker = os.path.join(os.path.dirname(os.path.abspath(__file__)), "killed-once")
    if batch == kill_parent_at and not os.path.exists(marker):
        open(marker, "w").close()
        os.kill(os.getppid(), signal.SIGKILL)
        raise SystemExit(1)
    if block_file and os.path.exists(block_file):
        with open(fifo, "w") as announce:
            announce.write(f"{batch}\\n")
        while os.path.exists(block_file):
            time.sleep(0.05)
    return lr * batch
"""


def write_script(directory) -> str:
    path = os.path.join(str(directory), "swept.py")
    with open(path, "w") as f:
        f.write(SCRIPT)
    return path


def run_script(script: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, script, "-l", "WARNING", *args],
        capture_output=True,
        text=True,
        cwd=os.path.dirname(script),
        **kwargs,
    )


def cli(store: str, *args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "experimentkit", "-S", store, *args], capture_output=True, text=True, cwd=cwd
    )


def ls_json(store: str, *where: str) -> list:
    args = ["ls", "--format", "json"]
    for expression in where:
        args += ["--where", expression]
    done = cli(store, *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def sweep_records(store: str) -> list:
    done = cli(store, "sweeps", "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
