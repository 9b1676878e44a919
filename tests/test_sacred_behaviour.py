"""Behaviour a Sacred user relies on, compared with Sacred 0.8.7 itself: the same script run as a
subprocess once with ``sacred`` and once with ``experimentkit`` imported (neither sees the other's code).
"""

import json
import re
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("sacred")

ANSI = re.compile(r"\x1b\[[0-9;]*m")

SCRIPT = textwrap.dedent('''
    """A script that behaves the same under Sacred and experimentkit."""
    from FRAMEWORK import Experiment, Ingredient

    settings = Ingredient("settings")

    @settings.config
    def settings_cfg():
        verbose = True

    paths = Ingredient("dataset.paths", ingredients=[settings])

    @paths.config
    def paths_cfg(settings):
        quiet = not settings["verbose"]
        base = "/data/"

    dataset = Ingredient("dataset", ingredients=[paths, settings])

    @dataset.config
    def dataset_cfg(paths):
        basepath = paths["base"] + "sets/"   # sub-ingredient by its relative name

    @dataset.capture
    def where(basepath, paths, settings):
        return [basepath, paths["base"], settings["verbose"]]

    ex = Experiment("behaviour", ingredients=[dataset, paths])

    @ex.config
    def cfg(dataset):
        opt = None
        lr = 0.1
        out = dataset["paths"]["base"] + "out/"

    @ex.named_config
    def fast():
        """Fast preset."""
        lr = 0.1

    @ex.capture
    def needs(missing_value):
        return missing_value

    @ex.capture
    def helper(lr):
        return lr

    @ex.main
    def main(opt, lr, out, _config):
        helper()
        return [opt, lr, out, where()]

    @ex.command
    def fail_missing():
        needs()

    @ex.command
    def mutate(_config):
        _config["lr"] = 2

    if __name__ == "__main__":
        import json, sys
        run = ex.run_commandline()
        print("RESULT " + json.dumps(run.result if run is not None else None))
''')


def run_both(tmp_path, *argv: str) -> dict:
    out = {}
    for framework in ("sacred", "experimentkit"):
        folder = tmp_path / framework
        folder.mkdir(exist_ok=True)
        script = folder / "behaviour.py"
        script.write_text(SCRIPT.replace("FRAMEWORK", framework))
        done = subprocess.run(
            [sys.executable, str(script), *argv], capture_output=True, text=True, cwd=folder
        )
        out[framework] = done
    return out


def result_of(done) -> object:
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    return json.loads(lines[-1][len("RESULT ") :]) if lines else "no result"


def log_lines(done) -> list:
    return [line for line in done.stderr.splitlines() if re.match(r"^(DEBUG|INFO|WARNING|ERROR) - ", line)]


def test_ingredient_scope_sees_sub_ingredients_by_relative_name(tmp_path):
    both = run_both(tmp_path, "-l", "WARNING")
    assert both["experimentkit"].returncode == both["sacred"].returncode == 0, both["experimentkit"].stderr
    assert (
        result_of(both["experimentkit"])
        == result_of(both["sacred"])
        == [None, 0.1, "/data/out/", ["/data/sets/", "/data/", True]]
    )


def test_none_and_default_values_are_ordinary_updates(tmp_path):
    both = run_both(tmp_path, "with", "opt=None", "lr=0.1")
    for done in both.values():
        assert done.returncode == 0, done.stderr
        assert "Added new config entry" not in done.stderr
    assert result_of(both["experimentkit"]) == result_of(both["sacred"])


def test_saved_config_with_nulls_can_be_given_back(tmp_path):
    both = run_both(tmp_path, "save_config", "with", "opt=None")
    for done in both.values():
        assert done.returncode == 0, done.stderr
    ours = tmp_path / "experimentkit"
    saved = json.loads((ours / "config.json").read_text())
    assert saved["opt"] is None
    done = subprocess.run(
        [sys.executable, "behaviour.py", "with", "config.json", "-l", "WARNING"],
        capture_output=True,
        text=True,
        cwd=ours,
    )
    assert done.returncode == 0, done.stderr
    assert "Added new config entry" not in done.stderr
    assert result_of(done)[:2] == [None, 0.1]


def test_named_config_docstring_warning_is_sacreds(tmp_path):
    both = run_both(tmp_path, "with", "fast")
    for done in both.values():
        assert done.returncode == 0, done.stderr
        assert [line for line in log_lines(done) if "Added new" in line] == [
            'WARNING - root - Added new config entry: "__doc__"'
        ]


def test_read_only_error_starts_with_sacreds_sentence(tmp_path):
    both = run_both(tmp_path, "mutate")
    for done in both.values():
        assert done.returncode == 1
        assert "The configuration is read-only in a captured function!" in done.stderr
    ours = both["experimentkit"].stderr
    assert re.search(
        r"ReadOnlyConfigError: The configuration is read-only in a captured function! "
        r"Cannot change 'lr'\.",
        ours,
    ), ours


def test_started_run_failing_exits_1_with_the_exception_name(tmp_path):
    both = run_both(tmp_path, "fail_missing")
    assert both["experimentkit"].returncode == both["sacred"].returncode == 1
    assert (
        both["sacred"]
        .stderr.rstrip()
        .endswith("sacred.utils.MissingConfigError: needs is missing value(s): ['missing_value']")
    )
    assert (
        both["experimentkit"]
        .stderr.rstrip()
        .endswith("experimentkit.errors.MissingConfigError: needs is missing value(s): ['missing_value']")
    )
    assert "Failed after" in both["experimentkit"].stderr


def test_usage_error_before_start_exits_2(tmp_path):
    both = run_both(tmp_path, "with", "lrr=0.2")
    assert both["experimentkit"].returncode == 2
    assert both["experimentkit"].stderr.strip().splitlines() == [
        "Error: Added new config entry that is not used anywhere: \"lrr\" (did you mean 'lr'?); check the "
        "spelling, or use --force (force=True) to add it anyway"
    ]


@pytest.mark.parametrize(
    "update, hint",
    [
        ("lr=1e-3x", ""),
        ("lr=0.1,", " (a trailing comma makes a list: did you mean lr=0.1?)"),
    ],
)
def test_type_changing_update_is_one_line_error(tmp_path, update, hint):
    done = run_both(tmp_path, "with", update)["experimentkit"]
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "FixedList" not in lines[0]
    assert lines[0].startswith("Error: Config update lr=")
    assert lines[0].endswith(
        f'changes the type of "lr" from float to {"list" if hint else "str"}{hint}; '
        "give a float, or pass -f/--force (force=True) to change the type anyway"
    )
    forced = subprocess.run(
        [sys.executable, "behaviour.py", "with", update, "-f", "-l", "ERROR"],
        capture_output=True,
        text=True,
        cwd=tmp_path / "experimentkit",
    )
    assert forced.returncode == 0, forced.stderr


def test_debug_log_lines_are_sacreds(tmp_path):
    both = run_both(tmp_path, "-l", "DEBUG")
    ours, theirs = log_lines(both["experimentkit"]), log_lines(both["sacred"])
    assert ours == theirs
    for expected in (
        'DEBUG - behaviour - Using capture mode "no"',
        "DEBUG - behaviour - Starting Heartbeat",
        "DEBUG - helper - Started",
        "DEBUG - helper - Finished after 0:00:00.",
        "DEBUG - behaviour - Stopping Heartbeat",
    ):
        assert expected in ours


def test_print_config_seed_without_scopes_has_no_doc(tmp_path):
    script = textwrap.dedent("""
        from FRAMEWORK import Experiment
        ex = Experiment("bare")

        @ex.main
        def main():
            pass

        ex.run_commandline()
    """)
    outputs = {}
    for framework in ("sacred", "experimentkit"):
        path = tmp_path / f"bare_{framework}.py"
        path.write_text(script.replace("FRAMEWORK", framework))
        done = subprocess.run(
            [sys.executable, str(path), "print_config", "with", "seed=3"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        outputs[framework] = ANSI.sub("", done.stdout)
    assert outputs["experimentkit"] == outputs["sacred"]
    assert outputs["sacred"].splitlines()[1:] == ["  seed = 3"]
