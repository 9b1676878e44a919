"""The README runs as written: its "Try it" command, the tour's commands and its Python blocks,
top to bottom, on a fresh directory (the store they build is the one the tour then queries).

The blocks are found by structure, not wording: the first ``bash`` block after the heading that
starts with "Try it"; after the heading containing "tour", the first ``python`` block (the
experiment, saved as ``train.py``), every ``bash`` block (one command per line, ``# comments``
dropped) and every later ``python`` block (run as scripts).  What cannot run here is replaced, and
listed in ``ADAPTATIONS``: the environment setup of "Try it" (this interpreter is that
environment), MongoDB URLs (no server in the tests), the dashboard's port (``--port 0``: the
machine is shared) and ``jq`` when it is not installed.  Every other command must exit 0.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
ADAPTATIONS = {
    "setup": "python3 -m venv / . activate / pip install: the test interpreter is that environment",
    "mongodb": "commands with a mongodb:// URL: no MongoDB server in the tests",
    "serve": "experimentkit serve: started with --port 0, fetched once, then stopped",
    "jq": "| jq: checked with Python's json when jq is not installed",
}
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)
_HEADING = re.compile(r"^#+ (.*)$", re.M)


def _sections(text: str) -> list:
    """[(heading, [(language, code), ...]), ...] in README order."""
    heads = list(_HEADING.finditer(text))
    out = []
    for i, head in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        out.append((head.group(1), _BLOCK.findall(text[head.end() : end])))
    return out


def readme_parts() -> dict:
    """``try_it`` (one command line), ``experiment`` (the tour's first Python block), ``bash``
    (lines of the tour's bash blocks) and ``python`` (the tour's later Python blocks)."""
    sections = _sections(README.read_text(encoding="utf-8"))
    try_it = next(
        code
        for head, blocks in sections
        if head.lower().startswith("try it")
        for lang, code in blocks
        if lang == "bash"
    )
    tour = next(i for i, (head, _) in enumerate(sections) if "tour" in head.lower())
    blocks = [b for _, bs in sections[tour : tour + 1] for b in bs]
    experiment = next(code for lang, code in blocks if lang == "python")
    bash, python, seen_experiment = [], [], False
    for lang, code in blocks:
        if lang == "python":
            if seen_experiment:
                python.append(code)
            seen_experiment = True
        elif lang == "bash":
            bash += [line for line in (_strip_comment(raw) for raw in code.splitlines()) if line]
    return {"try_it": try_it.strip(), "experiment": experiment, "bash": bash, "python": python}


def _strip_comment(line: str) -> str:
    """The line without a trailing ``# comment`` (a ``#`` inside quotes stays)."""
    quote, out = "", []
    for i, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            break
        out.append(char)
    return "".join(out).strip()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A fresh directory holding a copy of examples/ (the README's relative paths), no store."""
    work = tmp_path_factory.mktemp("readme")
    shutil.copytree(
        REPO / "examples", work / "examples", ignore=shutil.ignore_patterns("__pycache__", "runs", "*.db")
    )
    return work


def _env(work: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "EXPERIMENTKIT_STORE"}
    bindir = str(Path(sys.executable).parent)
    env.update(
        PATH=bindir + os.pathsep + env.get("PATH", ""),
        HOME=str(work),
        EXPERIMENTKIT_FALLBACK_DIR=str(work / "fallback"),
        NO_COLOR="1",
        COLUMNS="120",
        PYTHONPATH=str(work / "examples"),
    )
    return env


def _sh(command: str, work: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        cwd=work,
        env=_env(work),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _check(done: subprocess.CompletedProcess, command: str) -> None:
    assert done.returncode == 0, (
        f"README command failed (exit {done.returncode}): {command}\n"
        f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    )


def test_readme_blocks_are_found() -> None:
    parts = readme_parts()
    assert "experimentkit" in parts["try_it"] and "@ex" in parts["experiment"]
    assert any(line.startswith("experimentkit ") for line in parts["bash"])
    assert any(line.startswith("python train.py") for line in parts["bash"])
    assert parts["python"] and all("open_store" in code for code in parts["python"][:1])


def test_strip_comment_keeps_quoted_hashes() -> None:
    assert _strip_comment("experimentkit best x   # the best") == "experimentkit best x"
    assert _strip_comment("experimentkit note 3 'a # b'  # c") == "experimentkit note 3 'a # b'"
    assert _strip_comment("# only a comment") == ""


def _serve(command: str, work: Path) -> None:
    proc = subprocess.Popen(
        shlex.split(command) + ["--port", "0"],
        cwd=work,
        env=_env(work),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline()
        url = re.search(r"http://\S+", first)
        assert url, f"serve printed no URL: {first!r} {proc.stderr.read() if proc.poll() else ''}"
        with urllib.request.urlopen(url.group(0).rstrip("/") + "/", timeout=60) as page:
            assert page.status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=60)


@pytest.mark.timeout(1200)  # a hang guard: the tour runs a sweep and a server, minutes under load
def test_readme_runs_top_to_bottom(workdir: Path) -> None:
    parts = readme_parts()
    # 1. "Try it": everything after the environment setup
    steps = [s.strip() for s in parts["try_it"].split("&&")]
    steps = [s for s in steps if not re.match(r"(python3? -m venv|\. |source |pip )", s)]
    assert steps, "the Try it command has nothing to run"
    for step in steps:
        _check(_sh(step, workdir), step)
    assert any(p.suffix == ".png" and p.stat().st_size > 1000 for p in workdir.iterdir())
    # 2. the tour: the experiment as train.py, then its commands in order
    (workdir / "train.py").write_text(parts["experiment"], encoding="utf-8")
    for line in parts["bash"]:
        if "mongodb://" in line:
            continue  # ADAPTATIONS["mongodb"]
        for command in [c.strip() for c in line.split("&&")]:
            if re.match(r"experimentkit( -S \S+)? serve\b", command):
                _serve(command, workdir)  # ADAPTATIONS["serve"]
                continue
            if "| jq" in command and shutil.which("jq") is None:
                left = command.split("|", 1)[0]  # ADAPTATIONS["jq"]
                done = _sh(left, workdir)
                _check(done, left)
                json.loads(done.stdout)
                continue
            _check(_sh(command, workdir), command)
    # 3. the Python blocks, as scripts, on the same directory
    for number, code in enumerate(parts["python"]):
        script = workdir / f"readme_block_{number}.py"
        script.write_text(code, encoding="utf-8")
        done = subprocess.run(
            [sys.executable, str(script)],
            cwd=workdir,
            env=_env(workdir),
            capture_output=True,
            text=True,
            timeout=300,
        )
        _check(done, f"python block {number}:\n{code}")
