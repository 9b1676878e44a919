"""A real observer plugin, installed with pip, adds its flag to every script and records events."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """\
from experimentkit import Experiment

ex = Experiment("plugged")


@ex.config
def cfg():
    lr = 0.1


@ex.automain
def main(_run, lr):
    _run.log_scalar("acc", 0.5)
    return lr * 2
"""


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> Path:
    """pip-install examples/plugin_observer into a private directory (the shared venv stays as it is)."""
    work = tmp_path_factory.mktemp("plugin")
    source = work / "src"
    shutil.copytree(ROOT / "examples" / "plugin_observer", source)
    site = work / "site"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(site),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        pytest.fail(f"pip could not install the example plugin:\n{result.stderr}")
    assert list(site.glob("experimentkit_jsonl-*.dist-info/entry_points.txt"))
    return site


def run_script(directory: Path, site: Path, *args: str) -> subprocess.CompletedProcess:
    (directory / "train.py").write_text(SCRIPT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]))
    return subprocess.run(
        [sys.executable, "train.py", *args],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_installed_plugin_adds_its_flag_to_help(plugin_site, tmp_path):
    result = run_script(tmp_path, plugin_site, "--help")
    assert result.returncode == 0, result.stderr
    assert f"  {'-j FILE --jsonl=FILE':28}  Write every event of this run as one JSON line" in result.stdout
    assert "  FILE      Path of the JSON-lines event log (appended to)." in result.stdout
    lines = result.stdout.splitlines()
    flags = [line.split()[0] for line in lines if line.startswith("  -")]
    assert flags.index("-i") < flags.index("-j") < flags.index("-l")  # sorted among the built-ins


def test_installed_plugin_records_events(plugin_site, tmp_path):
    result = run_script(tmp_path, plugin_site, "--jsonl", "events.jsonl", "with", "lr=0.25")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    kinds = [event["event"] for event in events]
    assert kinds[0] == "started" and kinds[-1] == "completed" and "metrics" in kinds
    assert events[0]["config"]["lr"] == 0.25 and events[0]["command"] == "main"
    assert events[-1]["result"] == 0.5
    metrics = next(e for e in events if e["event"] == "metrics")["metrics"]
    assert metrics["acc"]["values"] == [0.5]


def test_without_the_plugin_the_flag_is_unknown(tmp_path):
    (tmp_path / "train.py").write_text(SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, "train.py", "--jsonl", "x"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("Error: unknown option --jsonl")


def test_a_broken_installed_plugin_is_named_in_one_line(tmp_path):
    site = tmp_path / "site"
    dist = site / "brokenplug-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: brokenplug\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[experimentkit.observers]\nbroken = brokenplug_missing:option\n")
    work = tmp_path / "work"
    work.mkdir()
    result = run_script(work, site, "--help")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: Cannot load observer plugin 'broken' (brokenplug_missing:option) from the entry-point "
        "group 'experimentkit.observers': ModuleNotFoundError: No module named 'brokenplug_missing'"
    ]


def _run_cached(site, cache, workdir, *args):
    """The test script with ``site`` on its path and ``cache`` as the plugin cache directory."""
    (workdir / "train.py").write_text(SCRIPT)
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]), EXPERIMENTKIT_CACHE_DIR=str(cache)
    )
    return subprocess.run(
        [sys.executable, "train.py", *args], cwd=workdir, env=env, capture_output=True, text=True, timeout=60
    )


def test_plugin_discovery_is_cached_and_notices_a_removed_plugin(plugin_site, tmp_path):
    """The second process reads the discovered entry points from the cache; deleting the plugin's
    distribution changes the cache key, so its flag disappears."""
    site = tmp_path / "site"
    shutil.copytree(plugin_site, site)
    cache = tmp_path / "cache"

    def run(*args):
        return _run_cached(site, cache, tmp_path, *args)

    assert "--jsonl=FILE" in run("--help").stdout
    cached = list(cache.glob("plugins-*.json"))
    assert len(cached) == 1 and "experimentkit_jsonl" in cached[0].read_text()
    assert "--jsonl=FILE" in run("--help").stdout  # from the cache
    assert len(list(cache.glob("plugins-*.json"))) == 1
    for dist in site.glob("experimentkit_jsonl-*.dist-info"):
        shutil.rmtree(dist)
    assert "--jsonl=FILE" not in run("--help").stdout


def test_scripts_in_different_directories_share_one_plugin_cache(plugin_site, tmp_path):
    """A script's own directory (first on sys.path) holds no distributions, so running from a new
    directory reads the cache instead of discovering the plugins again (~0.3 s)."""
    cache = tmp_path / "cache"
    for name in ("one", "two"):
        directory = tmp_path / name
        directory.mkdir()
        (directory / "train.py").write_text(SCRIPT)
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join([str(plugin_site), str(ROOT)]),
            EXPERIMENTKIT_CACHE_DIR=str(cache),
        )
        result = subprocess.run(
            [sys.executable, "train.py", "--help"],
            cwd=directory,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "--jsonl=FILE" in result.stdout, result.stderr
    assert len(list(cache.glob("plugins-*.json"))) == 1


def test_plugin_cache_notices_an_entry_points_file_edited_in_place(plugin_site, tmp_path):
    """Editing ``entry_points.txt`` (same distributions, same directory listing) changes the cache
    key through the file's mtime, so the edited entry points are read again."""
    site = tmp_path / "site"
    shutil.copytree(plugin_site, site)
    cache = tmp_path / "cache"

    def help_text():
        return _run_cached(site, cache, tmp_path, "--help").stdout

    assert "--jsonl=FILE" in help_text()
    assert "--jsonl=FILE" in help_text()  # from the cache
    (entry_points,) = site.glob("experimentkit_jsonl-*.dist-info/entry_points.txt")
    before = entry_points.stat().st_mtime_ns
    entry_points.write_text("[experimentkit.observers]\n")
    os.utime(entry_points, ns=(before + 10**9, before + 10**9))
    assert "--jsonl=FILE" not in help_text()
