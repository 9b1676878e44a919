"""The ``experimentkit`` command, each subcommand in a subprocess against a memory+json store."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from store_conformance import sample_runs


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    path = tmp_path / "runs.json"
    path.write_text(json.dumps({"runs": sample_runs()}, default=str), encoding="utf-8")
    return f"memory+json://{path}"


def ek(
    *args: str,
    env: dict | None = None,
    stdin: str | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "EXPERIMENTKIT_STORE"}
    full_env.update({"COLUMNS": "200", **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "experimentkit", *args],
        capture_output=True,
        text=True,
        env=full_env,
        input=stdin if stdin is not None else "",
        cwd=cwd,
        timeout=60,
    )


def ids_of(proc: subprocess.CompletedProcess) -> list:
    assert proc.returncode == 0, proc.stderr
    return [run["id"] for run in json.loads(proc.stdout)]


def test_ls_filters_sorts_limits_as_json(store_url: str) -> None:
    proc = ek(
        "-S",
        store_url,
        "ls",
        "--where",
        "config.lr < 0.05",
        "--where",
        "status != QUEUED",
        "--sort=-metrics.loss",
        "--limit",
        "2",
        "--format",
        "json",
    )
    assert ids_of(proc) == ["3", "6"]
    run = json.loads(proc.stdout)[0]
    assert run["experiment"] == "mnist" and run["status"] == "FAILED"
    assert run["config"]["lr"] == 0.001 and run["metrics"] == {"loss": 2.0, "val.accuracy": 0.1}


def test_store_option_after_command_and_env_var(store_url: str, tmp_path: Path) -> None:
    after = ek("ls", "-S", store_url, "--sort", "config.lr", "--desc", "--format", "json")
    assert ids_of(after) == ["5", "1", "7", "4", "10", "6", "2", "3"]
    env = ek("ls", "--format", "json", env={"EXPERIMENTKIT_STORE": store_url})
    assert len(ids_of(env)) == 8


def test_default_store_is_dot_runs(tmp_path: Path) -> None:
    proc = ek("ls", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "./runs" in proc.stderr


def test_ls_table_and_csv(store_url: str) -> None:
    table = ek("-S", store_url, "ls", "--columns", "id,status,config.lr,metrics.val.accuracy")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["id", "status", "config.lr", "metrics.val.accuracy"]
    assert lines[6].split() == ["6", "DEAD", "0.02"]
    rows = list(csv.DictReader(io.StringIO(ek("-S", store_url, "ls", "--format", "csv").stdout)))
    assert [r["id"] for r in rows][:3] == ["1", "2", "3"]
    assert rows[0]["config.opt.name"] == "adam" and rows[0]["metrics.loss"] == "0.3"


def test_table_fits_the_terminal(store_url: str) -> None:
    proc = ek("-S", store_url, "ls", env={"COLUMNS": "50"})
    lines = proc.stdout.splitlines()
    assert all(len(line) <= 50 for line in lines[:-1]) and "hidden" in lines[-1]


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["ls", "--where", "confg.lr < 1"], "did you mean 'config'?"),
        (["ls", "--where", "config.lr =< 1"], "did you mean '<='?"),
        (["ls", "--sort", "stauts"], "did you mean 'status'?"),
        (["ls", "--columns", "id,experment"], "did you mean 'experiment'?"),
        (["show", "99"], "no run '99'"),
        (["rows", "2", "nope"], "no table 'nope'"),
    ],
)
def test_usage_errors_are_one_line_exit_2(store_url: str, args: list, fragment: str) -> None:
    proc = ek("-S", store_url, *args)
    assert proc.returncode == 2
    assert fragment in proc.stderr and proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr


def test_missing_store_is_exit_2(tmp_path: Path) -> None:
    proc = ek("-S", str(tmp_path / "nothing"), "ls")
    assert proc.returncode == 2 and "no run store" in proc.stderr


def test_show_text_and_json(store_url: str) -> None:
    text = ek("-S", store_url, "show", "2")
    assert text.returncode == 0, text.stderr
    for fragment in (
        "run 2  mnist  COMPLETED",
        'opt.name = "sgd"',
        "val.accuracy",
        "artifacts: model.txt",
        "tables: predictions",
        "epoch 2",
    ):
        assert fragment in text.stdout
    data = json.loads(ek("-S", store_url, "show", "3", "--format", "json").stdout)
    assert data["status"] == "FAILED" and data["fail_trace"][-1].startswith("ValueError")
    dead = ek("-S", store_url, "show", "6")
    assert "DEAD (stored as RUNNING)" in dead.stdout


def test_compare(store_url: str) -> None:
    proc = ek("-S", store_url, "compare", "1", "7")
    assert proc.returncode == 0, proc.stderr
    keys = [line.split()[0] for line in proc.stdout.splitlines() if line.startswith("config.")]
    assert keys == ["config.augment", "config.layers", "config.seed"]
    assert any(
        line.split()[:3] == ["metrics.val.accuracy", "0.8", "0.7"] for line in proc.stdout.splitlines()
    )
    data = json.loads(ek("-S", store_url, "compare", "1", "2", "--format", "json").stdout)
    assert data["config"]["lr"] == {"1": 0.1, "2": 0.01}
    assert data["metrics"]["loss"]["2"]["min"] == 0.2


def test_best(store_url: str) -> None:
    best = json.loads(ek("-S", store_url, "best", "val.accuracy", "--format", "json").stdout)
    assert best["id"] == "2"
    lowest = json.loads(
        ek(
            "-S", store_url, "best", "loss", "--min", "--where", "experiment == cifar", "--format", "json"
        ).stdout
    )
    assert lowest["id"] == "4"
    assert ek("-S", store_url, "best", "nothing").returncode == 2


def test_tag_untag_note_persist(store_url: str) -> None:
    assert (
        ek("-S", store_url, "tag", "3", "diverged", "check").stdout.strip() == "run 3 tags: diverged, check"
    )
    assert ek("-S", store_url, "untag", "3", "check").returncode == 0
    assert ek("-S", store_url, "note", "3", "lr too small").returncode == 0
    data = json.loads(ek("-S", store_url, "show", "3", "--format", "json").stdout)
    assert data["tags"] == ["diverged"] and data["notes"] == "lr too small"
    assert ids_of(ek("-S", store_url, "ls", "--where", "tags contains diverged", "--format", "json")) == ["3"]


def test_export_to_file(store_url: str, tmp_path: Path) -> None:
    out = tmp_path / "runs.csv"
    proc = ek("-S", store_url, "export", "--where", "experiment == cifar", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(out.open()))
    assert [r["id"] for r in rows] == ["4", "5", "6"] and rows[0]["config.batch"] == "128"
    as_json = ek("-S", store_url, "export", "--format", "json", "--where", "id == 4")
    assert ids_of(as_json) == ["4"]


def test_rows(store_url: str) -> None:
    proc = ek(
        "-S",
        store_url,
        "rows",
        "2",
        "predictions",
        "--where",
        "label != 1",
        "--sort",
        "pixel_accuracy",
        "--limit",
        "2",
        "--format",
        "json",
    )
    assert proc.returncode == 0, proc.stderr
    assert [r["image"] for r in json.loads(proc.stdout)] == ["d.png", "c.png"]
    desc = ek("-S", store_url, "rows", "2", "predictions", "--sort=-pixel_accuracy")
    assert desc.stdout.splitlines()[1].split()[0] == "a.png"


def test_delete_needs_confirmation(store_url: str) -> None:
    refused = ek("-S", store_url, "delete", "3")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert len(ids_of(ek("-S", store_url, "ls", "--format", "json"))) == 8
    done = ek("-S", store_url, "delete", "3", "4", "--yes")
    assert done.returncode == 0 and "deleted 2" in done.stdout
    assert ids_of(ek("-S", store_url, "ls", "--format", "json")) == ["1", "2", "5", "6", "7", "10"]
    assert ek("-S", store_url, "delete", "99", "--yes").returncode == 2


def test_help_is_fast_and_lists_commands() -> None:
    proc = ek("--help")
    assert proc.returncode == 0
    for name in (
        "ls",
        "show",
        "compare",
        "best",
        "tag",
        "untag",
        "note",
        "export",
        "rows",
        "delete",
        "sync",
        "rerun",
        "plot",
    ):
        assert name in proc.stdout
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            (
                "import sys; from experimentkit.cli.main import build_parser; build_parser(); "
                "heavy = {'numpy', 'pandas', 'matplotlib', 'sqlalchemy', 'pymongo', 'experimentkit.query'};"
                "print(sorted(heavy & set(sys.modules)))"
            ),
        ],
        capture_output=True,
        text=True,
    )
    assert check.stdout.strip() == "[]"


def test_sort_accepts_a_separate_descending_key():
    from experimentkit.cli.main import _attach_sort_values

    assert _attach_sort_values(["ls", "--sort", "-metrics.acc", "--limit", "1"]) == [
        "ls",
        "--sort=-metrics.acc",
        "--limit",
        "1",
    ]
    assert _attach_sort_values(["ls", "--sort", "id"]) == ["ls", "--sort", "id"]
