"""End-to-end tests of ``python train.py [COMMAND] [with UPDATE...] [OPTIONS]`` in subprocesses, plus an
in-process property test of value round-trips."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]

TRAIN = '''\
"""A demo experiment docstring."""
import os
import time

from experimentkit import Experiment, Ingredient

data = Ingredient("dataset")


@data.config
def dcfg():
    path = "/data/x"  # where the data lives
    batch = 32


@data.named_config
def big():
    batch = 256


ex = Experiment("demo", ingredients=[data])


@ex.config
def cfg():
    lr = 0.1  # learning rate
    # number of epochs
    epochs = 3
    opt = {"name": "sgd", "momentum": 0.9}
    x = None
    mode = "ok"


@ex.named_config
def fast():
    epochs = 1


@ex.command
def hello(lr, name="world"):
    """Say hello."""
    print("hello", name, lr)


@ex.automain
def main(_run, lr, epochs, opt, x, mode, dataset):
    _run.log_scalar("loss", 0.5)
    if mode == "fail":
        raise ValueError("boom in main")
    if mode == "interrupt":
        raise KeyboardInterrupt
    if mode == "sleep":
        print("SLEEPING", flush=True)
        time.sleep(30)
    return {"lr": lr, "epochs": epochs, "opt": opt, "x": x, "batch": dataset["batch"]}
'''


@pytest.fixture(scope="module")
def script(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("cli")
    path = directory / "train.py"
    path.write_text(TRAIN)
    return path


def run_cli(
    script: Path, *args: str, env: dict | None = None, input: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), full_env.get("PYTHONPATH")]))
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, script.name, *args],
        cwd=script.parent,
        env=full_env,
        capture_output=True,
        text=True,
        input=input,
        timeout=timeout,
    )


def recorded(runs: Path) -> tuple[dict, dict]:
    """``(run.json, config.json)`` of the only run in a FileStorage directory."""
    run_dirs = [p for p in runs.iterdir() if p.name.isdigit()]
    assert len(run_dirs) == 1, run_dirs
    return (
        json.loads((run_dirs[0] / "run.json").read_text()),
        json.loads((run_dirs[0] / "config.json").read_text()),
    )


# ---- help ---------------------------------------------------------------------------------------


def test_help_lists_usage_options_and_commands(script):
    result = run_cli(script, "--help")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith(
        "Usage:\n  train.py [(with UPDATE...)] [options]\n  train.py help [COMMAND]\n"
        "  train.py (-h | --help)\n  train.py COMMAND [(with UPDATE...)] [options]\n"
        "\nA demo experiment docstring.\n\nOptions:\n"
    )
    for line in (
        "  -F VALUE --file_storage=VALUE  Add a file-storage observer to the experiment.",
        "  -u --unobserved               Ignore all observers for this run.",
        "  print_config         Print the updated configuration and exit.",
        "  print_named_configs  Print the available named configs and exit.",
        "  hello                Say hello.",
    ):
        assert line in out.splitlines()
    assert (
        out.index("print_config ") < out.index("save_config ") < out.index("hello ") < out.index("\n  main")
    )
    assert run_cli(script, "-h").stdout == out


def test_help_command_prints_signature_and_doc(script):
    result = run_cli(script, "help", "hello")
    assert result.returncode == 0
    assert result.stdout.startswith("hello(lr, name='world')\n    Say hello.")


# ---- grammar ------------------------------------------------------------------------------------


def test_updates_named_configs_and_files_reach_the_recorded_config(script, tmp_path):
    runs = tmp_path / "runs"
    update_file = tmp_path / "upd.json"
    update_file.write_text(json.dumps({"opt": {"momentum": 0.5}}))
    result = run_cli(
        script,
        "-F",
        str(runs),
        "with",
        "fast",
        "dataset.big",
        str(update_file),
        "lr=1e-3",
        "opt.name=adam",
        'x={"a": [1, 2.5, None, True], "b": "two words"}',
        "mode=ok",
    )
    assert result.returncode == 0, result.stderr
    run, config = recorded(runs)
    assert config["lr"] == 0.001 and config["epochs"] == 1
    assert config["opt"] == {"name": "adam", "momentum": 0.5}
    assert config["dataset"]["batch"] == 256
    assert config["x"] == {"a": [1, 2.5, None, True], "b": "two words"}
    assert run["status"] == "COMPLETED"
    assert run["meta"]["named_configs"] == ["fast", "dataset.big", str(update_file)]
    assert run["meta"]["options"]["UPDATE"][-1] == "mode=ok"
    assert run["result"]["batch"] == 256


def test_command_with_updates_and_options_after_them(script):
    result = run_cli(script, "hello", "with", "name=you", "lr=2", "-l", "WARNING")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hello you 2"
    assert "INFO" not in result.stderr  # -l WARNING silenced the run's INFO lines


@pytest.mark.parametrize(
    "literal",
    ["'quoted'", "hello world", "plain_word", "1e-3", "(1, 2)", "[[1], {'k': None}]", "-7", "False", "''"],
)
def test_literal_values_from_a_real_command_line(script, tmp_path, literal):
    import ast

    runs = tmp_path / "runs"
    result = run_cli(script, "-F", str(runs), "with", f"x={literal}")
    assert result.returncode == 0, result.stderr
    try:
        expected = ast.literal_eval(literal)
    except (ValueError, SyntaxError):
        expected = literal  # bare words stay strings
    if isinstance(expected, tuple):
        expected = list(expected)
    assert recorded(runs)[1]["x"] == expected


# ---- options ------------------------------------------------------------------------------------


def test_meta_options_are_recorded(script, tmp_path):
    runs = tmp_path / "runs"
    result = run_cli(
        script,
        "-F",
        str(runs),
        "-c",
        "my comment",
        "-n",
        "renamed",
        "-P",
        "2.5",
        "-i",
        "custom-id",
        "-b",
        "0.5",
        "-C",
        "sys",
        "--force",
        "with",
        "newkey=1",
    )
    assert result.returncode == 0, result.stderr
    run_dirs = [p for p in runs.iterdir() if p.name == "custom-id"]
    assert run_dirs, list(runs.iterdir())
    run = json.loads((run_dirs[0] / "run.json").read_text())
    assert run["meta"]["comment"] == "my comment" and run["meta"]["priority"] == 2.5
    assert run["experiment"]["name"] == "renamed"
    assert run["meta"]["options"]["--capture"] == "sys"
    assert json.loads((run_dirs[0] / "config.json").read_text())["newkey"] == 1


def test_queue_unobserved_and_print_config_option(script, tmp_path):
    runs = tmp_path / "runs"
    queued = run_cli(script, "-F", str(runs), "-q")
    assert queued.returncode == 0, queued.stderr
    assert recorded(runs)[0]["status"] == "QUEUED"
    unobserved = run_cli(script, "-F", str(tmp_path / "none"), "-u", "-p", "with", "lr=0.5")
    assert unobserved.returncode == 0, unobserved.stderr
    assert not (tmp_path / "none").exists() or not any((tmp_path / "none").iterdir())
    out = unobserved.stdout
    # piped: no colour, so the modified entry is marked with a sign
    assert out.startswith("Configuration (* modified, + added, ! typechanged, # doc):\n")
    assert "\n* lr = 0.5                           # learning rate\n" in out
    assert "\n" + "-" * 79 + "\n" in out


def test_sql_option_records_the_run(script, tmp_path):
    db = tmp_path / "runs.sqlite"
    result = run_cli(script, "-s", f"sqlite:///{db}", "with", "lr=0.25")
    assert result.returncode == 0, result.stderr
    import sqlite3

    with sqlite3.connect(db) as conn:
        tables = {row[0] for row in conn.execute("select name from sqlite_master where type='table'")}
    assert tables, "the SQL observer created no tables"


def test_enforce_clean_outside_a_repository_is_a_usage_error(script, tmp_path):
    runs = tmp_path / "runs"
    result = run_cli(script, "-e", "-F", str(runs))
    assert result.returncode == 2
    assert result.stderr.strip().startswith("Error: No version control detected")
    assert not runs.exists() or not any(runs.iterdir())


# ---- built-in commands --------------------------------------------------------------------------


def test_print_config_is_plain_when_piped_and_coloured_when_forced(script):
    plain = run_cli(script, "print_config", "with", "opt.name=adam")
    assert plain.returncode == 0, plain.stderr
    assert "\x1b" not in plain.stdout
    assert "  * name = 'adam'" in plain.stdout.splitlines()  # marked without colour
    forced = run_cli(script, "print_config", "with", "opt.name=adam", env={"FORCE_COLOR": "1"})
    assert "\x1b[34m    name = 'adam'\x1b[0m" in forced.stdout
    assert "\x1b" not in run_cli(script, "print_config", env={"FORCE_COLOR": "1", "NO_COLOR": "1"}).stdout


def test_print_named_configs_dependencies_and_save_config(script, tmp_path):
    named = run_cli(script, "print_named_configs")
    assert named.stdout.splitlines()[:3] == ["Named Configurations (doc):", "  fast", "  dataset.big"]
    deps = run_cli(script, "print_dependencies")
    assert deps.stdout.startswith("Dependencies:\n") and "\nSources:\n  train.py " in deps.stdout
    target = tmp_path / "saved.json"
    saved = run_cli(script, "save_config", "with", f"config_filename={target}", "lr=0.75")
    assert saved.returncode == 0, saved.stderr
    data = json.loads(target.read_text())
    assert data["lr"] == 0.75 and "config_filename" not in data and data["dataset"]["batch"] == 32


# ---- bad input: exit 2, one line, nothing recorded ----------------------------------------------


@pytest.mark.parametrize(
    "args,message",
    [
        (["with", "=3"], "=3"),
        (["with", "a=[1,"], "a=[1,"),
        (["with", "d={'x':"], "d={'x':"),
        (["with", "epochz=3"], "did you mean 'epochs'"),
        (["with", "nosuchconfig"], "nosuchconfig"),
        (["with", "missing.json"], "missing.json"),
        (["helo"], 'Command "helo" not found. Available commands are: print_config'),
        (["-C", "foo"], "capture mode 'foo'"),
        (["-l", "LOUD"], "log level 'LOUD'"),
        (["-P", "x"], "PRIORITY"),
        (["-b", "soon"], "--beat-interval"),
        (["-m", "1bad"], "--mongo_db"),
        (["--fource"], "did you mean '--force'"),
        (["hello", "lr=3"], "go after 'with'"),
        (["with"], "needs at least one UPDATE"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_records_nothing(script, tmp_path, args, message):
    runs = tmp_path / "runs"
    result = run_cli(script, "-F", str(runs), *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ") and message in lines[0], lines[0]
    assert "Traceback" not in result.stderr
    assert not runs.exists() or not any(runs.iterdir())


def test_unknown_command_suggests_a_close_one(script):
    result = run_cli(script, "helo")
    assert result.stderr.strip().endswith("(did you mean 'hello'?)")


# ---- failures, debug, pdb, interrupts ------------------------------------------------------------


def test_failing_main_exits_1_with_filtered_trace_and_records_failure(script, tmp_path):
    runs = tmp_path / "runs"
    result = run_cli(script, "-F", str(runs), "with", "mode=fail")
    assert result.returncode == 1
    assert "ValueError: boom in main" in result.stderr
    trace = result.stderr[result.stderr.index("Traceback") :]
    assert "experimentkit" not in trace
    assert recorded(runs)[0]["status"] == "FAILED"


def test_debug_shows_the_full_trace(script):
    result = run_cli(script, "-d", "with", "mode=fail")
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert os.sep + "experimentkit" + os.sep in result.stderr  # internal frames kept


def test_pdb_opens_post_mortem(script):
    result = run_cli(script, "-D", "with", "mode=fail", input="p 'IN-PDB'\nq\n")
    assert "(Pdb)" in result.stdout and "IN-PDB" in result.stdout
    assert result.returncode == 1


def test_keyboard_interrupt_exits_130_and_records_interrupted(script, tmp_path):
    runs = tmp_path / "runs"
    result = run_cli(script, "-F", str(runs), "with", "mode=interrupt")
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr
    assert recorded(runs)[0]["status"] == "INTERRUPTED"


def test_sigterm_exits_143_and_records_interrupted(script, tmp_path):
    runs = tmp_path / "runs"
    env = {k: v for k, v in os.environ.items()}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen(
        [sys.executable, script.name, "-F", str(runs), "with", "mode=sleep"],
        cwd=script.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            line = proc.stdout.readline()
            if "SLEEPING" in line:
                break
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == 143
    run = recorded(runs)[0]
    assert run["status"] == "INTERRUPTED" and run.get("stop_time")


# ---- property: any Python literal given as x=<repr> arrives unchanged ----------------------------

KEYS = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**62), 2**62)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
)
LITERALS = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def inprocess_ex():
    import logging

    from experimentkit import Experiment

    ex = Experiment("prop", interactive=True)
    ex.logger = logging.getLogger("prop-test")
    ex.logger.setLevel(logging.ERROR)

    @ex.config
    def cfg():
        x = None

    @ex.main
    def main(x):
        return x

    return ex


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=LITERALS)
def test_any_literal_arrives_unchanged(inprocess_ex, value):
    run = inprocess_ex.run_commandline(["prop.py", "with", f"x={value!r}", "-C", "no"])
    assert run.config["x"] == value
    assert run.result == value
