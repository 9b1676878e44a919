"""Helpers shared by the benchmark scripts: interleaved subprocess timing and result tables."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Optional

HERE = os.path.dirname(os.path.abspath(__file__))


def _bytecode_as_installed() -> None:
    """Measure experimentkit as pip leaves an installed package: with its modules compiled.

    pip compiles what it installs (Sacred, MLflow, numpy have their ``.pyc``), but an editable
    checkout under ``PYTHONDONTWRITEBYTECODE`` (set on some machines) would compile every
    experimentkit module again in each measured interpreter, a cost no installed user pays.  So the
    variable is dropped for the children and the package compiled once, into the source tree's
    ``__pycache__`` as Python itself would."""
    if os.environ.pop("PYTHONDONTWRITEBYTECODE", None) is None:
        return
    package = os.path.join(os.path.dirname(HERE), "experimentkit")
    subprocess.run([sys.executable, "-m", "compileall", "-q", package], check=True, capture_output=True)


_bytecode_as_installed()


def have(module: str) -> bool:
    """Whether ``module`` can be imported in a fresh interpreter (sacred, mlflow are optional)."""
    done = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True)
    return done.returncode == 0


def time_command(cmd: list, env: Optional[dict] = None, cwd: Optional[str] = None) -> float:
    """Wall-clock seconds of one run of ``cmd``; raises if it fails."""
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, env=env, cwd=cwd)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{cmd} failed: {done.stderr.decode()[-2000:]}")
    return elapsed


def interleaved(commands: dict, repeat: int, setup: Optional[Callable[[str], None]] = None) -> dict:
    """Median seconds per named command, running the commands interleaved to share machine noise."""
    samples: dict = {name: [] for name in commands}
    for _ in range(repeat):
        for name, cmd in commands.items():
            if setup is not None:
                setup(name)
            samples[name].append(time_command(cmd))
    return {name: statistics.median(values) for name, values in samples.items()}


def write_script(text: str) -> str:
    """Write ``text`` to a temporary .py file and return its path."""
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as handle:
        handle.write(text)
    return handle.name


def table(rows: list, headers: list) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def run_script_child(script: str, spec: dict) -> dict:
    """Run ``script --child SPEC OUT`` in a fresh interpreter and return the JSON it wrote to OUT."""
    import json

    fd, out = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        done = subprocess.run(
            [sys.executable, os.path.abspath(script), "--child", json.dumps(spec), out],
            capture_output=True,
            timeout=900,
        )
        if done.returncode != 0:
            raise RuntimeError(f"child {spec} failed:\n{done.stderr.decode()[-3000:]}")
        with open(out, encoding="utf-8") as f:
            return json.load(f)
    finally:
        os.unlink(out)


def answer_child(child_arg: Optional[list], child: Callable[..., dict]) -> bool:
    """In a ``--child SPEC OUT`` process (``run_script_child``): run ``child(**SPEC)`` and write its
    JSON answer to OUT.  False in the parent process (no ``--child``)."""
    import json

    if not child_arg:
        return False
    spec = json.loads(child_arg[0])
    with open(child_arg[1], "w", encoding="utf-8") as f:
        json.dump(child(**spec), f)
    return True


def open_bench_run(observer: Any) -> str:
    """Start a run on ``observer`` directly, without an ``Experiment`` (the events' minimal
    arguments): for measuring what an observer's writes cost on their own.  Returns the run id."""
    import datetime as dt

    return str(
        observer.started_event(
            ex_info={
                "name": "bench",
                "base_dir": "/tmp",
                "sources": [],
                "dependencies": [],
                "repositories": [],
            },
            command="main",
            host_info={},
            start_time=dt.datetime.utcnow(),
            config={},
            meta_info={},
            _id=None,
        )
    )
