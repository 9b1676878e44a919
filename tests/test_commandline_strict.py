"""``SETTINGS.COMMAND_LINE.STRICT_PARSING`` turns bare words in ``with`` updates into usage errors."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import sys
    from experimentkit import Experiment, SETTINGS

    SETTINGS.COMMAND_LINE.STRICT_PARSING = sys.argv.pop(1) == "strict"
    ex = Experiment("strict_demo")

    @ex.config
    def cfg():
        model = "mlp"

    @ex.automain
    def main(model):
        print("model is", model)
""")


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "train.py"
    path.write_text(SCRIPT)
    return path


def _run(script, mode, *words):
    return subprocess.run(
        [sys.executable, str(script), mode, *words],
        capture_output=True,
        text=True,
        cwd=script.parent,
        timeout=120,
    )


def test_strict_parsing_rejects_a_bare_word_before_main(script):
    done = _run(script, "strict", "with", "model=resnet")
    assert done.returncode == 2
    assert "model is" not in done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "strict parsing is on" in lines[0] and "model=resnet" in lines[0]


def test_strict_parsing_accepts_a_quoted_string(script):
    done = _run(script, "strict", "with", "model='resnet'")
    assert done.returncode == 0, done.stderr
    assert "model is resnet" in done.stdout


def test_without_strict_parsing_a_bare_word_is_a_string(script):
    done = _run(script, "lenient", "with", "model=resnet")
    assert done.returncode == 0, done.stderr
    assert "model is resnet" in done.stdout
