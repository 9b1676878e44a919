"""End to end: a PostgreSQL outage never fails a run, and ``experimentkit sync`` delivers it exactly once.

Real scripts run as subprocesses with ``-s postgresql://...@127.0.0.1:<proxy>/<db> -b 0.2``.  The
URL points at a small TCP proxy running in this test process in front of the real server
(EXPERIMENTKIT_TEST_POSTGRES), so the test can cut the connection mid-run (every open connection
is closed and the port stops listening) and bring it back on the same port.  The script waits at
"gates" (files the test creates) so each phase happens at a known point of the run, not after a
guessed sleep.  Every test gets a fresh database, dropped afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from tests.dbutil import server_database, with_driver  # noqa: E402

sa = pytest.importorskip("sqlalchemy")

pytestmark = pytest.mark.postgres

REPO = Path(__file__).resolve().parent.parent
POINTS = 20  # per metric; the script logs two metrics
FIRST = 8  # points logged before the first gate
RETRY_SECONDS = 2.0

SCRIPT = textwrap.dedent("""
    import os, sys, time
    from experimentkit import Experiment
    from experimentkit.settings import SETTINGS

    SETTINGS.OBSERVER_RETRY_SECONDS = float(os.environ["E2E_RETRY_SECONDS"])
    ex = Experiment("outage")

    def say(text):
        # one write per line: print() makes several writes (unbuffered under PYTHONUNBUFFERED), and
        # the fd capture may put a log line from another thread between them
        sys.stdout.write(text + "\\n")
        sys.stdout.flush()

    def gate(name):
        # wait until the test creates the file <gates>/<name> (no gates dir: do not wait)
        gates = os.environ.get("E2E_GATES")
        deadline = time.monotonic() + 60
        while gates and not os.path.exists(os.path.join(gates, name)):
            if time.monotonic() > deadline:
                raise SystemExit("gate " + name + " never opened")
            time.sleep(0.02)

    @ex.config
    def cfg():
        points = 20
        first = 8

    @ex.automain
    def main(_run, points, first):
        for i in range(points):
            if i == first:
                say("at gate a")
                gate("a")
            if i == (first + points) // 2:
                say("at gate b")
                gate("b")
            _run.log_scalar("loss", 1.0 / (i + 1), i)
            _run.log_scalar("twice", 2 * i)
            say(f"point {i}")
            time.sleep(0.05)
        _run.info["done"] = True
        return points
""")


# ---- the proxy -----------------------------------------------------------------------------------
class Proxy:
    """A TCP forwarder on a fixed local port that can be cut (connections closed, port closed) or
    stalled (everything stays open, nothing is forwarded: a frozen server or a silent network)."""

    def __init__(self, upstream: tuple):
        self.upstream = upstream
        with socket.socket() as probe:  # reserve a free port number; we rebind it on start()
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._listener: socket.socket | None = None
        self._sockets: set = set()
        self._lock = threading.Lock()
        self.accepted = 0
        self.stalled = threading.Event()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Close the port and every connection through it, as a crashed server or network would."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                if self._listener is not listener:  # cut meanwhile
                    client.close()
                    server.close()
                    return
                self._sockets.update((client, server))
                self.accepted += 1
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            reply = src.getpeername()[1] == self.upstream[1]
            while data := src.recv(65536):
                if self._forward(data, reply):
                    dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _forward(self, data: bytes, reply: bool) -> bool:
        """Whether a chunk (``reply``: from the server) goes on; stalled, nothing does."""
        return not self.stalled.is_set()


# ---- databases and processes ---------------------------------------------------------------------
@contextlib.contextmanager
def postgres_database(name: str):
    """A fresh PostgreSQL database: ``(engine, URL)``; dropped afterwards."""
    with server_database("postgres", name) as text:
        url = sa.make_url(text)
        engine = sa.create_engine(with_driver(url))
        try:
            yield engine, url
        finally:
            engine.dispose()


@pytest.fixture
def database():
    with postgres_database("ek_e2e_outage") as found:
        yield found


@pytest.fixture
def proxy(database):
    _, url = database
    p = Proxy((url.host or "127.0.0.1", url.port or 5432))
    yield p
    p.stalled.clear()
    p.cut()


def _proxied(url, proxy: Proxy) -> str:
    return url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)


class Script:
    """The outage script running as a subprocess; stdout and stderr are collected by threads."""

    def __init__(self, tmp_path: Path, sql_url: str, gates: bool = True):
        script = tmp_path / "outage.py"
        script.write_text(SCRIPT)
        self.fallback = tmp_path / "fallback"
        self.gates = tmp_path / "gates"
        self.gates.mkdir()
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "E2E_RETRY_SECONDS": str(RETRY_SECONDS),
            "EXPERIMENTKIT_FALLBACK_DIR": str(self.fallback),
        }
        if gates:
            env["E2E_GATES"] = str(self.gates)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(script),
                "-s",
                sql_url,
                "-b",
                "0.2",
                "with",
                f"points={POINTS}",
                f"first={FIRST}",
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.out: list = []
        self.err: list = []
        self._readers = [
            threading.Thread(target=self._read, args=(s, d), daemon=True)
            for s, d in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream, lines: list) -> None:
        for line in stream:
            lines.append(line)

    def open_gate(self, name: str) -> None:
        (self.gates / name).touch()

    def wait_for(self, text: str, stream: str = "out", timeout: float = 30) -> None:
        lines = self.out if stream == "out" else self.err
        deadline = time.monotonic() + timeout
        while not any(text in line for line in list(lines)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.finish(timeout=5)
                raise AssertionError(f"never saw {text!r} on std{stream}:\n{self.output}")
            time.sleep(0.02)

    def finish(self, timeout: float = 45) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            for reader in self._readers:
                reader.join(5)
        return code

    @property
    def output(self) -> str:
        return "".join(self.out) + "\n--- stderr ---\n" + "".join(self.err)

    @property
    def stderr(self) -> str:
        return "".join(self.err)


def _sync(fallback: Path, expect: int = 0) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "experimentkit", "sync", "--fallback-dir", str(fallback)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == expect, done.stdout + done.stderr
    return done


def _poll(predicate, timeout: float = 20, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _metric_rows(engine) -> list:
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("metric"):
            return []
        return [
            tuple(r)
            for r in conn.execute(
                sa.text("SELECT name, step, value FROM metric ORDER BY name, step, metric_id")
            )
        ]


def _runs(engine) -> list:
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("run"):
            return []
        return [
            r._asdict()
            for r in conn.execute(
                sa.text(
                    "SELECT run_id, uid, status, stop_time, heartbeat, result, info, captured_out, config "
                    "FROM run"
                )
            )
        ]


def _expected_rows(count: int = POINTS) -> list:
    loss = [("loss", i, 1.0 / (i + 1)) for i in range(count)]
    twice = [("twice", i, float(2 * i)) for i in range(count)]
    return sorted(loss + twice)


def _assert_complete_run(engine) -> None:
    """One run, COMPLETED, with every point exactly once, its output, info, result and config."""
    [run] = _runs(engine)
    assert run["status"] == "COMPLETED" and run["stop_time"] is not None
    assert run["result"] == POINTS
    assert json.loads(run["info"]) == {"done": True}
    assert json.loads(run["config"])["points"] == POINTS
    printed = [line for line in run["captured_out"].splitlines() if line.startswith("point ")]
    assert printed == [f"point {i}" for i in range(POINTS)]
    assert _metric_rows(engine) == _expected_rows()


def _journals(fallback: Path) -> list:
    return sorted(fallback.glob("*.jsonl")) if fallback.exists() else []


# ---- tests ---------------------------------------------------------------------------------------
def test_backend_cut_mid_run_completes_journals_and_syncs_exactly_once(tmp_path, database, proxy):
    engine, url = database
    proxy.start()
    script = Script(tmp_path, _proxied(url, proxy))
    script.wait_for("at gate a")
    # the points before the gate reach the database with the next heartbeat
    _poll(lambda: len(_metric_rows(engine)) == 2 * FIRST, what="the first points in PostgreSQL")
    proxy.cut()
    script.open_gate("a")
    script.open_gate("b")
    assert script.finish() == 0, script.output

    # the user's run completed, and the warning names the observer and the journal: it failed at
    # once, or (a loaded machine) a call to it was still pending when the call timeout ran out
    [journal] = _journals(script.fallback)
    assert re.search(r"Observer 'SqlObserver' (failed|has not answered)", script.stderr), script.stderr
    assert "Observer 'SqlObserver' did not recover" in script.stderr
    assert str(journal) in script.stderr and "experimentkit sync" in script.stderr
    assert "Completed after" in script.stderr
    assert all(f"point {i}\n" in script.out for i in range(POINTS))
    # the database still holds what it had before the cut: a RUNNING run, the first points
    [stale] = _runs(engine)
    assert stale["status"] == "RUNNING" and stale["stop_time"] is None
    header = json.loads(journal.read_text().splitlines()[0])
    assert header["opened"] is True and header["replay_spec"]["kwargs"]["url"].endswith(
        f":{proxy.port}/{url.database}"
    )
    assert _metric_rows(engine) == sorted(_expected_rows(FIRST))

    proxy.start()  # the server is reachable again on the URL the journal names
    done = _sync(script.fallback)
    assert re.search(r" synced$", done.stdout, re.M), done.stdout
    _assert_complete_run(engine)
    [run] = _runs(engine)
    assert run["uid"] == stale["uid"] and run["run_id"] == stale["run_id"]
    assert not _journals(script.fallback)
    assert (script.fallback / "synced" / journal.name).exists()

    again = _sync(script.fallback)
    assert "nothing to sync" in again.stdout
    _assert_complete_run(engine)


def test_backend_down_at_start_completes_and_sync_delivers_the_whole_run(tmp_path, database, proxy):
    engine, url = database
    script = Script(tmp_path, _proxied(url, proxy), gates=False)  # nothing listens on the port
    assert script.finish() == 0, script.output
    assert "Observer 'SqlObserver' failed (" in script.stderr
    assert f"cannot reach {_proxied(url, proxy)}" in script.stderr
    [journal] = _journals(script.fallback)
    assert str(journal) in script.stderr
    assert _runs(engine) == []
    header = json.loads(journal.read_text().splitlines()[0])
    assert header["opened"] is False and header["observer"] == "SqlObserver"

    # syncing while the backend is still down delivers nothing and keeps the journal
    early = _sync(script.fallback, expect=1)
    assert re.search(r" failed$", early.stdout, re.M), early.stdout
    assert _journals(script.fallback) == [journal] and _runs(engine) == []

    proxy.start()
    done = _sync(script.fallback)
    assert re.search(r" synced$", done.stdout, re.M), done.stdout
    _assert_complete_run(engine)
    assert _sync(script.fallback).stdout.strip() == "nothing to sync"
    _assert_complete_run(engine)


def test_transient_outage_is_healed_by_retries_without_a_journal(tmp_path, database, proxy):
    engine, url = database
    proxy.start()
    script = Script(tmp_path, _proxied(url, proxy))
    script.wait_for("at gate a")
    _poll(lambda: len(_metric_rows(engine)) == 2 * FIRST, what="the first points in PostgreSQL")
    proxy.cut()
    script.open_gate("a")
    script.wait_for("Observer 'SqlObserver' failed", stream="err")
    script.wait_for("at gate b")
    proxy.start()
    # a heartbeat retry delivers the buffered events while the run is still going
    script.wait_for("Observer 'SqlObserver' recovered", stream="err")
    script.open_gate("b")
    assert script.finish() == 0, script.output
    assert _journals(script.fallback) == []
    assert "did not recover" not in script.stderr
    _assert_complete_run(engine)
    assert proxy.accepted >= 2  # it really reconnected through the restarted proxy


def test_backend_that_stops_answering_does_not_hang_the_run(tmp_path, database, proxy):
    engine, url = database
    proxy.start()
    script = Script(tmp_path, _proxied(url, proxy))
    script.wait_for("at gate a")
    _poll(lambda: len(_metric_rows(engine)) == 2 * FIRST, what="the first points in PostgreSQL")
    proxy.stalled.set()  # connections stay open; no byte reaches the server or comes back
    script.open_gate("a")
    script.open_gate("b")
    script.wait_for("Completed after", stream="err")
    try:
        code = script.proc.wait(RETRY_SECONDS + 6)
    except subprocess.TimeoutExpired:
        script.proc.kill()
        script.finish()
        pytest.fail(
            f"the run was still running {RETRY_SECONDS + 6}s after its main function "
            f"returned:\n{script.output}"
        )
    assert code == 0, script.output
    [journal] = _journals(script.fallback)
    assert str(journal) in script.stderr
