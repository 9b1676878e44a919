"""``experimentkit rerun``: the recorded script runs again with the recorded configuration."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """\
import json, os, sys
with open(os.path.join(os.path.dirname(__file__), "called.json"), "w") as f:
    json.dump({"argv": sys.argv[1:], "rerun_of": os.environ.get("EXPERIMENTKIT_RERUN_OF")}, f)
"""


def _store(tmp_path: Path, recorded_source: str) -> str:
    (tmp_path / "train.py").write_text(SCRIPT)
    md5 = hashlib.md5(recorded_source.encode()).hexdigest()
    run = {
        "id": "7",
        "status": "COMPLETED",
        "command": "train",
        "experiment": {
            "name": "demo",
            "base_dir": str(tmp_path),
            "mainfile": "train.py",
            "sources": [["train.py", f"_sources/train_{md5}.py"]],
            "dependencies": ["pytest==0.0.1"],
            "repositories": [],
        },
        "config": {"lr": 0.01, "opt": {"name": "sgd"}, "seed": 12345},
        "meta": {
            "command": "train",
            "named_configs": ["fast"],
            "config_updates": {"lr": 0.01, "opt": {"name": "sgd"}},
            "options": {"--file_storage": "runs", "--force": True, "--debug": True},
        },
    }
    path = tmp_path / "runs.json"
    path.write_text(json.dumps({"runs": [run]}))
    return f"memory+json://{path}"


def _ek(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "EXPERIMENTKIT_RERUN_OF"}
    return subprocess.run(
        [sys.executable, "-m", "experimentkit", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_rerun_passes_config_seed_named_configs_and_marks_the_run(tmp_path: Path) -> None:
    proc = _ek("-S", _store(tmp_path, SCRIPT), "rerun", "7")
    assert proc.returncode == 0, proc.stderr
    called = json.loads((tmp_path / "called.json").read_text())
    assert called["argv"] == [
        "train",
        "with",
        "fast",
        "lr=0.01",
        "opt.name='sgd'",
        "seed=12345",
        "--file_storage=runs",
        "--force",
        "--comment=rerun of 7",
    ]
    assert called["rerun_of"] == "7"
    assert "source train.py changed" not in proc.stderr
    assert "package pytest is" in proc.stderr


def test_rerun_warns_about_changed_sources_and_dry_run_runs_nothing(tmp_path: Path) -> None:
    proc = _ek("-S", _store(tmp_path, "print('old version')\n"), "rerun", "7", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "warning: source train.py changed since the run" in proc.stderr
    assert "train.py train with fast" in proc.stdout
    assert not (tmp_path / "called.json").exists()


def test_rerun_of_a_run_whose_script_is_gone(tmp_path: Path) -> None:
    url = _store(tmp_path, SCRIPT)
    (tmp_path / "train.py").unlink()
    proc = _ek("-S", url, "rerun", "7")
    assert proc.returncode == 2 and "script of run 7 is gone" in proc.stderr


def test_rerun_records_into_the_store_it_read_by_absolute_path(tmp_path):
    from types import SimpleNamespace

    from experimentkit.cli.rerun import rerun_command

    record = SimpleNamespace(
        id="3",
        command="main",
        config={"seed": 5, "lr": 0.1},
        experiment={"base_dir": str(tmp_path), "mainfile": "train.py"},
        meta={
            "config_updates": {"lr": 0.1},
            "named_configs": [],
            "options": {"--file_storage": "runs", "--sql": "sqlite:///other.db"},
        },
    )
    argv = rerun_command(record, "python", store_target="runs")
    assert f"--file_storage={tmp_path.cwd() / 'runs'}" in argv
    assert "--sql=sqlite:///other.db" in argv  # other recorded observers are kept
    argv = rerun_command(record, "python", store_target="sqlite:///rel.db")
    assert f"--sql=sqlite:///{tmp_path.cwd() / 'rel.db'}" in argv
    assert "--file_storage=runs" in argv
