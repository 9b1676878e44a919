"""End to end: a run SIGKILLed during an observer outage loses nothing that the journal had.

A real script runs as a subprocess with ``-b 0.2`` and one observer (``flagobs.FlagObserver``,
written next to it) that raises while a flag file exists and otherwise appends what it receives to a
JSON-lines file; its ``replay_spec`` rebuilds it in another process.  The test lets a few points
through (a heartbeat delivers them), raises the flag, waits until two heartbeats were buffered after a
known printed point, then SIGKILLs the script.  ``python -m experimentkit sync`` must then deliver
every point up to that one (and all the journal holds) exactly once; a second sync adds nothing.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from experimentkit.journal import read_journal
from experimentkit.sync import sync

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

OBSERVER = textwrap.dedent("""
    import json, os
    from experimentkit.observers.base import RunObserver

    class FlagObserver(RunObserver):
        \"\"\"Raises while the file ``flag`` exists; otherwise appends each event to ``out``.\"\"\"

        def __init__(self, flag, out):
            self.flag, self.out = flag, out

        def _record(self, event, **fields):
            if os.path.exists(self.flag):
                raise ConnectionError("backend unreachable")
            with open(self.out, "a") as fh:
                fh.write(json.dumps(dict(fields, event=event)) + "\\n")

        def started_event(self, ex_info, command, host_info, start_time, config, meta_info, _id):
            self._record("started", uid=meta_info["uid"])
            return 1

        def attach(self, _id):
            self._record("attach", id=_id)

        def log_metrics(self, metrics_by_name, info):
            self._record("metrics", steps=metrics_by_name.get("loss", {}).get("steps", []))

        def heartbeat_event(self, info, captured_out, beat_time, result):
            self._record("heartbeat", points=captured_out.count("point "))

        def completed_event(self, stop_time, result):
            self._record("completed")

        def replay_spec(self):
            return {"factory": "flagobs:FlagObserver",
                    "kwargs": {"flag": self.flag, "out": self.out}}
""")

SCRIPT = textwrap.dedent("""
    import os, sys, time
    from experimentkit import Experiment
    from flagobs import FlagObserver

    ex = Experiment("kill_outage")
    ex.observers.append(FlagObserver(os.environ["E2E_FLAG"], os.environ["E2E_OUT"]))

    @ex.automain
    def main(_run):
        for i in range(3000):  # the test kills it long before
            _run.log_scalar("loss", 1.0 / (i + 1), i)
            sys.stdout.write(f"point {i}\\n")
            sys.stdout.flush()
            time.sleep(0.02)
""")


def _read_points(proc: subprocess.Popen, until: int) -> int:
    while True:
        line = proc.stdout.readline()
        assert line, f"the script ended early:\n{proc.stderr.read()}"
        if line.startswith("point ") and int(line.split()[1]) >= until:
            return int(line.split()[1])


def _journaled_beats(fallback: Path) -> int:
    journals = list(fallback.glob("*.jsonl"))
    if not journals:
        return 0
    [journal] = journals
    return journal.read_text().count('"event": "heartbeat_event"')


def _delivered(out: Path) -> list:
    return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []


def _sync_cli(tmp: Path, fallback: Path, env: dict) -> subprocess.CompletedProcess:
    # a test observer: not a registered replay factory, so it has to be trusted explicitly
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "experimentkit",
            "sync",
            "--fallback-dir",
            str(fallback),
            "--trust",
            "flagobs:FlagObserver",
        ],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_sigkill_during_an_outage_then_sync_delivers_every_point_once(tmp_path):
    (tmp_path / "flagobs.py").write_text(OBSERVER)
    (tmp_path / "script.py").write_text(SCRIPT)
    flag, out, fallback = tmp_path / "down", tmp_path / "delivered.jsonl", tmp_path / "fallback"
    env = {
        **os.environ,
        "PYTHONPATH": f"{REPO}{os.pathsep}{tmp_path}",
        "EXPERIMENTKIT_FALLBACK_DIR": str(fallback),
        "E2E_FLAG": str(flag),
        "E2E_OUT": str(out),
    }
    proc = subprocess.Popen(
        [sys.executable, "script.py", "-b", "0.2"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _read_points(proc, 5)
        deadline = time.monotonic() + 20
        while not any(e["event"] == "metrics" and e["steps"] for e in _delivered(out)):
            assert time.monotonic() < deadline, "no points reached the observer"
            time.sleep(0.05)
        flag.write_text("the backend is down")
        printed = _read_points(proc, 20)
        # a beat buffered after `printed` drained its points before that; the next one after it
        beats = _journaled_beats(fallback)
        deadline = time.monotonic() + 20
        while _journaled_beats(fallback) < beats + 2:
            assert time.monotonic() < deadline, "no heartbeats were journaled"
            time.sleep(0.05)
        [live] = sync(str(fallback))  # the run is still going: its journal is not touched
        assert live.status == "skipped" and "still going" in live.message
    finally:
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert "Observer 'FlagObserver' failed (ConnectionError: backend unreachable)" in err

    [journal] = fallback.glob("*.jsonl")
    header, events = read_journal(str(journal))
    assert header["finalized"] is False and header["opened"] is True and header["pid"] == proc.pid
    before = _delivered(out)
    assert [e["event"] for e in before][0] == "started"
    stored_before = [s for e in before if e["event"] == "metrics" for s in e["steps"]]
    assert stored_before and stored_before == list(range(len(stored_before)))

    flag.unlink()  # the backend is back
    first = _sync_cli(tmp_path, fallback, env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert re.search(r"FlagObserver\.jsonl .* synced$", first.stdout, re.M), first.stdout
    after = _delivered(out)
    replayed = after[len(before) :]
    assert replayed[0] == {"event": "attach", "id": 1}
    steps = [s for e in after if e["event"] == "metrics" for s in e["steps"]]
    assert steps == list(range(len(steps))), "points lost or delivered twice"
    assert len(steps) > printed  # every point printed before the last two beats, and more
    assert [e["event"] for e in after].count("started") == 1
    assert replayed[-1]["event"] == "heartbeat" and replayed[-1]["points"] > printed
    assert not journal.exists() and (fallback / "synced" / journal.name).exists()

    second = _sync_cli(tmp_path, fallback, env)
    assert second.returncode == 0 and "nothing to sync" in second.stdout
    assert _delivered(out) == after
