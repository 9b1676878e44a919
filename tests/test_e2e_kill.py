"""End to end: runs that are killed, terminated or fail leave a valid, complete-so-far record.

A real script runs as a subprocess with ``-b 0.2`` and either ``-F DIR`` or ``-s sqlite:///FILE``.

* SIGKILL: nothing runs after the signal, so the record must already be valid: run.json parses (or
  the ``run`` row reads), the status is RUNNING with a heartbeat, and every point logged before the
  last heartbeat is readable; the read side reports the run as DEAD once the heartbeat is stale.
* SIGTERM: the run ends as INTERRUPTED with a stop time, its output and all its metrics, and the
  process exits non-zero.
* An exception: FAILED with its trace, and the output printed before it is kept.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from experimentkit.backends.file.schema import load_run_metrics

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

SCRIPT = textwrap.dedent("""
    import sys, time
    from experimentkit import Experiment

    ex = Experiment("killme")

    def say(text):
        # one write per line: print() makes several writes (unbuffered under PYTHONUNBUFFERED), and
        # the fd capture may put a log line from another thread between them
        sys.stdout.write(text + "\\n")
        sys.stdout.flush()

    @ex.config
    def cfg():
        fail = False
        limit = 1000  # the test stops the run long before

    @ex.automain
    def main(_run, fail, limit):
        for i in range(limit):
            _run.log_scalar("loss", 1.0 / (i + 1), i)
            say(f"point {i}")
            if fail and i == 5:
                raise RuntimeError("boom at point 5")
            time.sleep(0.02)
        return limit
""")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Backend:
    """Where a run is recorded (``-F DIR`` or ``-s sqlite:///FILE``) and how to read it raw."""

    def __init__(self, kind: str, tmp: Path):
        self.kind = kind
        self.path = tmp / "runs" if kind == "file" else tmp / "runs.sqlite"
        self.flag = ["-F", str(self.path)] if kind == "file" else ["-s", f"sqlite:///{self.path}"]
        self.store_target = str(self.path) if kind == "file" else f"sqlite:///{self.path}"

    def record(self) -> dict | None:
        """The stored run 1 as ``{status, heartbeat, stop_time, captured_out, fail_trace}``."""
        if self.kind == "file":
            run_dir = self.path / "1"
            if not (run_dir / "run.json").exists():
                return None
            run = json.loads((run_dir / "run.json").read_text())
            cout = run_dir / "cout.txt"
            return {
                "status": run["status"],
                "heartbeat": _time(run.get("heartbeat")),
                "stop_time": _time(run.get("stop_time")),
                "fail_trace": run.get("fail_trace"),
                "captured_out": cout.read_text() if cout.exists() else "",
            }
        if not self.path.exists():
            return None
        with _sqlite(self.path) as conn:
            try:
                row = conn.execute(
                    "SELECT status, heartbeat, stop_time, captured_out, fail_trace "
                    "FROM run WHERE run_id = '1'"
                ).fetchone()
            except sqlite3.OperationalError:  # the tables do not exist yet
                return None
        if row is None:
            return None
        status, heartbeat, stop_time, out, trace = row
        return {
            "status": status,
            "heartbeat": _time(heartbeat),
            "stop_time": _time(stop_time),
            "captured_out": out or "",
            "fail_trace": trace,
        }

    def loss_steps(self) -> list:
        """The steps of metric ``loss`` as stored, in storage order."""
        if self.kind == "file":
            return load_run_metrics(self.path / "1").get("loss", {}).get("steps", [])
        with _sqlite(self.path) as conn:
            rows = conn.execute(
                "SELECT step FROM metric WHERE run_id = '1' AND name = 'loss' ORDER BY metric_id"
            ).fetchall()
        return [step for (step,) in rows]


class _sqlite:
    """A read-only SQLite connection that is closed on exit (sqlite3's own context only commits)."""

    def __init__(self, path: Path):
        self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)

    def __enter__(self) -> sqlite3.Connection:
        return self.conn

    def __exit__(self, *exc) -> None:
        self.conn.close()


def _time(value) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(str(value))


def _start(tmp: Path, backend: Backend, *updates: str) -> subprocess.Popen:
    script = tmp / "killme.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO), "EXPERIMENTKIT_FALLBACK_DIR": str(tmp / "fallback")}
    args = [sys.executable, str(script), *backend.flag, "-b", "0.2"]
    if updates:
        args += ["with", *updates]
    return subprocess.Popen(args, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _read_points(proc: subprocess.Popen, until: int) -> int:
    """Read the script's ``point i`` lines until ``i == until``."""
    while True:
        line = proc.stdout.readline()
        assert line, f"the script ended early:\n{proc.stderr.read()}"
        if line.startswith("point ") and int(line.split()[1]) >= until:
            return int(line.split()[1])


def _wait_for_heartbeat_after(backend: Backend, moment: dt.datetime, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while True:
        record = backend.record()
        if record and record["heartbeat"] and record["heartbeat"] > moment:
            return record["heartbeat"]
        assert time.monotonic() < deadline, "no heartbeat arrived"
        time.sleep(0.05)


def _stop(proc: subprocess.Popen, sig: int) -> tuple:
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return proc.returncode, out, err


# ---- SIGKILL -------------------------------------------------------------------------------------
@pytest.fixture(scope="module", params=["file", "sqlite"])
def killed(request, tmp_path_factory):
    """A run SIGKILLed after a few heartbeats: ``(backend, last point printed before the last beat)``."""
    tmp = tmp_path_factory.mktemp(f"killed-{request.param}")
    backend = Backend(request.param, tmp)
    proc = _start(tmp, backend)
    try:
        printed = _read_points(proc, 10)
        seen_at = _utcnow()
        # a beat stamped after `seen_at` drained its points before stamping; the beat after it
        # drained them after `seen_at`, so every point printed by then is stored
        first = _wait_for_heartbeat_after(backend, seen_at)
        _wait_for_heartbeat_after(backend, first)
    finally:
        code, _, _ = _stop(proc, signal.SIGKILL)
    assert code == -signal.SIGKILL
    return backend, printed, proc.pid


def test_sigkilled_run_is_a_valid_running_record_with_its_metrics_up_to_the_last_beat(killed):
    backend, printed, pid = killed
    record = backend.record()  # parses: no half-written file or row
    assert record["status"] == "RUNNING"
    assert record["heartbeat"] is not None and record["stop_time"] is None
    steps = backend.loss_steps()
    assert steps == list(range(len(steps))), "points lost or duplicated"
    assert len(steps) > printed
    lines = record["captured_out"].splitlines()
    assert [line for line in lines if line.startswith("point ")][: printed + 1] == [
        f"point {i}" for i in range(printed + 1)
    ]
    if backend.kind == "file":
        run_dir = backend.path / "1"
        assert not (run_dir / "metrics.json").exists()  # written only when a run ends
        # a kill can land between writing a temporary file and renaming it over its target: the
        # only hidden files left may be such temporaries of the killed process, never a damaged
        # target (the record above parsed)
        hidden = [p.name for p in run_dir.iterdir() if p.name.startswith(".")]
        temporary = re.compile(rf"\.[\w.]+\.{pid}\.[0-9a-f]{{8}}\.tmp")
        assert [name for name in hidden if not temporary.fullmatch(name)] == []
        json.loads((run_dir / "config.json").read_text())


def test_sigkilled_run_reads_as_dead_once_its_heartbeat_is_stale(killed):
    from experimentkit.errors import StoreError
    from experimentkit.query import open_store

    backend, _, _ = killed
    from experimentkit.query.base import utcnow

    try:
        # an injected clock an hour ahead instead of sleeping past dead_after
        store = open_store(
            backend.store_target, dead_after=0.5, clock=lambda: utcnow() + dt.timedelta(hours=1)
        )
    except StoreError as exc:
        if "no file store" in str(exc) or "no sql store" in str(exc):
            pytest.skip(f"the {backend.kind} read-side store is not available yet: {exc}")
        raise
    assert open_store(backend.store_target, dead_after=3600).get("1").status == "RUNNING"  # fresh beat
    run = store.get("1")
    assert run.status == "DEAD" and run.raw_status == "RUNNING"
    assert run.heartbeat is not None


# ---- SIGTERM and failures ------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["file", "sqlite"])
def test_sigterm_interrupts_the_run_and_keeps_output_and_metrics(tmp_path, kind):
    backend = Backend(kind, tmp_path)
    proc = _start(tmp_path, backend)
    try:
        _read_points(proc, 5)
        _wait_for_heartbeat_after(backend, _utcnow())
    except BaseException:
        _stop(proc, signal.SIGKILL)
        raise
    sent_at = _utcnow()
    code, out, err = _stop(proc, signal.SIGTERM)
    assert code == 128 + signal.SIGTERM, err  # handled, and reported like a shell would
    assert "Aborted after" in err
    printed = [int(line.split()[1]) for line in out.splitlines() if line.startswith("point ")]
    last = printed[-1]
    record = backend.record()
    assert record["status"] == "INTERRUPTED"
    assert record["stop_time"] is not None and record["stop_time"] >= sent_at
    # everything logged before the signal was flushed, not only what the last periodic beat sent
    assert backend.loss_steps() == list(range(last + 1))
    assert f"point {last}\n" in record["captured_out"]
    if kind == "file":
        metrics = json.loads((backend.path / "1" / "metrics.json").read_text())
        assert metrics["loss"]["steps"] == list(range(last + 1))


@pytest.mark.parametrize("kind", ["file", "sqlite"])
def test_failed_run_keeps_its_output_and_trace(tmp_path, kind):
    backend = Backend(kind, tmp_path)
    proc = _start(tmp_path, backend, "fail=True")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "RuntimeError: boom at point 5" in err
    record = backend.record()
    assert record["status"] == "FAILED" and record["stop_time"] is not None
    trace = record["fail_trace"]
    trace_text = "".join(trace) if isinstance(trace, list) else trace
    assert "RuntimeError: boom at point 5" in trace_text
    assert [line for line in record["captured_out"].splitlines() if line.startswith("point ")] == [
        f"point {i}" for i in range(6)
    ]
    assert backend.loss_steps() == list(range(6))
    if kind == "file":
        assert isinstance(trace, list) and all(isinstance(line, str) for line in trace)
        cout = (backend.path / "1" / "cout.txt").read_text()
        assert "point 5\n" in cout
