"""Small Sacred projects, written the way public Sacred experiments are (ingredients, named configs,
config files, hooks, resources, artifacts, failures), run unchanged apart from the import.

Each project in ``tests/sacred_projects`` runs as a script under Sacred 0.8.7 and under experimentkit
(separate interpreters, the same command line, recording with ``-F``); both must give the same exit
status, config, result, info, metrics, artifacts, resources, stored keys and printed config.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("sacred")

PROJECTS = Path(__file__).resolve().parent / "sacred_projects"
ANSI = re.compile(r"\x1b\[[0-9;]*m")

CASES = [
    ("train_mlp", ["with", "seed=3"]),
    ("train_mlp", ["with", "small", "lr=0.1", "seed=5"]),
    ("train_mlp", ["with", "large", "dataset.noise=0.5", "optimizer.momentum=0.9", "seed=7"]),
    ("from_files", ["with", "seed=1"]),
    ("from_files", ["with", "quick", "seed=1"]),
    ("from_files", ["count_lines", "with", "seed=1"]),
    ("fails_late", ["with", "seed=2"]),
    ("fails_late", ["with", "fail_at=9", "seed=2"]),
]


def _run_project(tmp_path: Path, framework: str, script: str, args: list[str]) -> dict[str, Any]:
    folder = tmp_path / framework
    shutil.copytree(PROJECTS, folder)
    if framework == "experimentkit":
        for source in folder.glob("*.py"):
            source.write_text(re.sub(r"\bfrom sacred\b", "from experimentkit", source.read_text()))
    done = subprocess.run(
        [sys.executable, f"{script}.py", *args, "-F", "runs"],
        capture_output=True,
        text=True,
        cwd=folder,
    )
    found: dict[str, Any] = {"status": done.returncode, "stderr": done.stderr[-2000:]}
    runs = sorted(p for p in (folder / "runs").glob("*") if p.name.isdigit())
    found["runs"] = [_record(run_dir) for run_dir in runs]
    return found


def _record(run_dir: Path) -> dict[str, Any]:
    run = json.loads((run_dir / "run.json").read_text())
    metrics_file = run_dir / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.exists() else {}
    info_file = run_dir / "info.json"
    return {
        # experimentkit adds keys that Sacred's readers ignore (docs/sacred-differences.md)
        "run.json keys": sorted(set(run) - {"artifact_meta"}),
        "meta keys": sorted(set(run["meta"]) - {"uid"}),
        "config": json.loads((run_dir / "config.json").read_text()),
        "status": run["status"],
        "result": run.get("result"),
        "command": run["meta"]["command"],
        "named_configs": run["meta"]["named_configs"],
        "config_updates": run["meta"].get("config_updates") or {},
        "info": json.loads(info_file.read_text()) if info_file.exists() else {},
        "artifacts": {name: (run_dir / name).read_bytes() for name in run["artifacts"]},
        "resources": sorted((Path(path).name, Path(stored).name) for path, stored in run["resources"]),
        "metrics": {k: (v["steps"], v["values"]) for k, v in metrics.items()},
        "fail": (run.get("fail_trace") or [""])[-1].strip(),
        "experiment": {k: run["experiment"][k] for k in ("name", "mainfile")},
        "sources": sorted(Path(path).name for path, _ in run["experiment"]["sources"]),
    }


@pytest.mark.parametrize("script, args", CASES, ids=[" ".join([s, *a]) for s, a in CASES])
def test_project_records_as_under_sacred(tmp_path, script, args):
    theirs = _run_project(tmp_path, "sacred", script, args)
    ours = _run_project(tmp_path, "experimentkit", script, args)
    assert ours["status"] == theirs["status"], (ours["stderr"], theirs["stderr"])
    assert len(theirs["runs"]) == 1
    assert ours["runs"] == theirs["runs"]


def test_failed_project_keeps_what_it_logged(tmp_path):
    ours = _run_project(tmp_path, "experimentkit", "fails_late", ["with", "seed=2"])
    assert ours["status"] == 1
    (run,) = ours["runs"]
    assert run["status"] == "FAILED"
    assert run["fail"] == "DivergedError: loss diverged at step 3"
    assert run["metrics"] == {"loss": ([0, 1, 2, 3], [1.0, 10.0, 100.0, 1000.0])}
    assert run["artifacts"] == {"notes.txt": b"started\n"}
    assert ours["stderr"].rstrip().endswith("DivergedError: loss diverged at step 3")


@pytest.mark.parametrize(
    "args", [["print_config"], ["print_config", "with", "large", "hidden=4", "optimizer.name=adam"]]
)
def test_print_config_prints_what_sacred_prints(tmp_path, args):
    """Sacred colours even when piped; with FORCE_COLOR experimentkit prints the same bytes (the
    random seed aside when none is given)."""
    printed = {}
    for framework in ("sacred", "experimentkit"):
        folder = tmp_path / framework
        shutil.copytree(PROJECTS, folder)
        source = folder / "train_mlp.py"
        if framework == "experimentkit":
            source.write_text(re.sub(r"\bfrom sacred\b", "from experimentkit", source.read_text()))
        command = [sys.executable, "train_mlp.py", *args] + (["seed=1"] if "with" in args else [])
        done = subprocess.run(
            command, capture_output=True, text=True, cwd=folder, env={**os.environ, "FORCE_COLOR": "1"}
        )
        assert done.returncode == 0, done.stderr
        printed[framework] = re.sub(r"seed = \d+ +", "seed = N ", done.stdout)
    assert "\x1b[34m" in printed["sacred"] or "with" not in args
    assert printed["experimentkit"] == printed["sacred"]


def test_print_config_marks_without_colour_when_piped(tmp_path):
    folder = tmp_path / "project"
    shutil.copytree(PROJECTS, folder)
    source = folder / "train_mlp.py"
    source.write_text(re.sub(r"\bfrom sacred\b", "from experimentkit", source.read_text()))
    env = {k: v for k, v in os.environ.items() if k != "FORCE_COLOR"}
    done = subprocess.run(
        [sys.executable, "train_mlp.py", "print_config", "with", "large", "seed=1"],
        capture_output=True,
        text=True,
        cwd=folder,
        env=env,
    )
    assert "\x1b" not in done.stdout
    lines = done.stdout.splitlines()
    assert lines[0] == "Configuration (* modified, + added, ! typechanged, # doc):"
    assert "* hidden = 32" in lines
    assert any(line.startswith("* seed = 1 ") for line in lines)
    assert "  * n_samples = 128                  # how many points to draw" in lines


def test_resource_digest_matches_the_file(tmp_path):
    ours = _run_project(tmp_path, "experimentkit", "from_files", ["with", "seed=1"])
    (run,) = ours["runs"]
    digest = hashlib.md5((PROJECTS / "rows.csv").read_bytes()).hexdigest()
    # as Sacred's file store: [source path, stored copy named by its md5]
    assert run["resources"] == [("rows.csv", f"rows_{digest}.csv")]
