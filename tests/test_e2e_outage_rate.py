"""End to end at a high point rate: PostgreSQL cut, stalled or slowed mid-run loses and duplicates nothing.

The script logs 40,000 points at about 20,000 points/s with ``-b 0.2`` (batches of thousands of
points) through the TCP proxy of ``test_e2e_outage`` in front of EXPERIMENTKIT_TEST_POSTGRES.  Once
its first points are stored the proxy is cut (connections closed, port closed), stalled (everything
open, nothing forwarded: an in-flight batch may be committed with its reply lost) or slowed (every
chunk held back).  Each time the run completes with exit status 0, ends within the documented
end-of-run window, and after ``experimentkit sync`` the database holds exactly the logged points:
as many as were logged, each step once, the run COMPLETED.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from tests.test_e2e_outage import Proxy, _journals, _poll, _sync, postgres_database

sa = pytest.importorskip("sqlalchemy")

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
POINTS = 40_000
GATE_AT = 8_000
RETRY_SECONDS = 2.0
LAST_ATTEMPT = 1.0  # dispatch.LAST_ATTEMPT_SECONDS: one short last attempt after the window
SLACK = 3.0  # writing the journal and leaving the interpreter on a loaded machine

SCRIPT = textwrap.dedent("""
    import os, sys, time
    from experimentkit import Experiment
    from experimentkit.settings import SETTINGS

    SETTINGS.OBSERVER_RETRY_SECONDS = float(os.environ["E2E_RETRY_SECONDS"])
    ex = Experiment("rate")

    def say(text):
        sys.stdout.write(text + "\\n")
        sys.stdout.flush()

    @ex.config
    def cfg():
        points = 40000
        gate_at = 8000

    @ex.main
    def main(_run, points, gate_at):
        for i in range(points):
            if i == gate_at:
                say("at gate")
                while not os.path.exists(os.environ["E2E_GATE"]):
                    time.sleep(0.02)
            _run.log_scalar("loss", i * 0.5, i)
            if i % 1000 == 999:
                time.sleep(0.05)  # about 20,000 points/s
        say(f"main returned at {time.monotonic():.3f}")
        return points

    try:
        ex.run_commandline()
    finally:
        say(f"exiting at {time.monotonic():.3f}")
""")


class SlowProxy(Proxy):
    """The proxy, able to hold every forwarded chunk back for ``delay`` seconds (a slow link), or
    to drop only the server's replies (``replies_lost``: statements arrive and commit, the client
    never hears back)."""

    delay = 0.0

    def __init__(self, upstream: tuple):
        super().__init__(upstream)
        self.replies_lost = threading.Event()
        self.lose_commit_of_points = threading.Event()  # armed: lose replies from the next
        self._copying = False  # COMMIT of a transaction that copied metric points on

    def _watch(self, data: bytes) -> None:
        """Client to server: once armed, the COMMIT after a COPY of points goes through, and from
        then on no reply comes back (the server stored the batch; the run cannot know)."""
        if not self.lose_commit_of_points.is_set():
            return
        if b"COPY metric" in data:
            self._copying = True
        if self._copying and b"COMMIT" in data:
            self.replies_lost.set()

    def _forward(self, data: bytes, reply: bool) -> bool:
        if not reply:
            self._watch(data)
        if self.delay:
            time.sleep(self.delay)  # the slow link itself, not synchronisation
        return super()._forward(data, reply) and not (reply and self.replies_lost.is_set())


@pytest.fixture
def database():
    with postgres_database("ek_e2e_rate") as found:
        yield found


@pytest.fixture
def proxy(database):
    _, url = database
    p = SlowProxy((url.host or "127.0.0.1", url.port or 5432))
    yield p
    p.delay = 0.0
    p.stalled.clear()
    p.cut()


def _start(tmp_path: Path, url, proxy: SlowProxy) -> tuple:
    script = tmp_path / "rate.py"
    script.write_text(SCRIPT)
    gate = tmp_path / "gate"
    fallback = tmp_path / "fallback"
    sql = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "E2E_RETRY_SECONDS": str(RETRY_SECONDS),
        "E2E_GATE": str(gate),
        "EXPERIMENTKIT_FALLBACK_DIR": str(fallback),
    }
    out = open(tmp_path / "out.txt", "w")  # noqa: SIM115 - closed by _finish
    proc = subprocess.Popen(
        [
            sys.executable,
            str(script),
            "-s",
            sql,
            "-b",
            "0.2",
            "with",
            f"points={POINTS}",
            f"gate_at={GATE_AT}",
        ],
        cwd=tmp_path,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return proc, out, gate, fallback


def _wait_for(tmp_path: Path, proc, text: str) -> None:
    _poll(
        lambda: text in (tmp_path / "out.txt").read_text() or proc.poll() is not None,
        timeout=60,
        what=text,
    )
    assert text in (tmp_path / "out.txt").read_text(), (tmp_path / "out.txt").read_text()


def _finish(tmp_path: Path, proc, out) -> str:
    try:
        code = proc.wait(120)
    finally:
        out.close()
    text = (tmp_path / "out.txt").read_text()
    assert code == 0, text
    returned = float(text.split("main returned at ")[1].split()[0])
    exited = float(text.split("exiting at ")[1].split()[0])
    # the documented end of the run: the window, then one short last attempt per observer
    assert exited - returned <= RETRY_SECONDS + LAST_ATTEMPT + SLACK, text
    return text


def _points(engine) -> tuple:
    with engine.connect() as conn:
        total, distinct, low, high = conn.execute(
            sa.text(
                "SELECT count(*), count(DISTINCT step), min(step), max(step) FROM metric WHERE name = 'loss'"
            )
        ).one()
        statuses = [r[0] for r in conn.execute(sa.text("SELECT status FROM run"))]
    return total, distinct, low, high, statuses


def _first_points_stored(engine) -> bool:
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("metric"):
            return False
        return conn.execute(sa.text("SELECT count(*) FROM metric")).scalar() > 0


def _assert_all_stored_once(engine) -> None:
    total, distinct, low, high, statuses = _points(engine)
    assert statuses == ["COMPLETED"]
    assert (total, distinct, low, high) == (POINTS, POINTS, 0, POINTS - 1)  # logged = stored, 0 duplicated


def _sync_until_done(fallback: Path) -> None:
    if _journals(fallback):
        _sync(fallback)
    assert not _journals(fallback)


def test_cut_at_a_high_point_rate(tmp_path, database, proxy):
    engine, url = database
    proxy.start()
    proc, out, gate, fallback = _start(tmp_path, url, proxy)
    _wait_for(tmp_path, proc, "at gate")
    _poll(lambda: _first_points_stored(engine), what="the first points in PostgreSQL")
    proxy.cut()
    gate.touch()
    text = _finish(tmp_path, proc, out)
    assert "did not recover" in text and len(_journals(fallback)) == 1
    proxy.start()
    _sync_until_done(fallback)
    _assert_all_stored_once(engine)


@pytest.mark.parametrize("lost", ["both ways", "replies"])
def test_stall_at_a_high_point_rate(tmp_path, database, proxy, lost):
    """``both ways``: nothing forwarded.  ``replies``: a batch of points reaches the server and
    commits, but neither that COMMIT's answer nor any later one comes back, so the journaled batch
    is in doubt and sync must find it stored (and store only what is not)."""
    engine, url = database
    proxy.start()
    proc, out, gate, fallback = _start(tmp_path, url, proxy)
    _wait_for(tmp_path, proc, "at gate")
    _poll(lambda: _first_points_stored(engine), what="the first points in PostgreSQL")
    (proxy.stalled if lost == "both ways" else proxy.lose_commit_of_points).set()
    gate.touch()
    _finish(tmp_path, proc, out)
    assert len(_journals(fallback)) == 1
    proxy.stalled.clear()  # the run's connections ended with its process; new ones go through
    if lost == "replies":
        assert proxy.replies_lost.is_set()  # a batch was committed with its answer lost
    proxy.replies_lost.clear()
    proxy.lose_commit_of_points.clear()
    _sync_until_done(fallback)
    _assert_all_stored_once(engine)


def test_slow_link_at_a_high_point_rate(tmp_path, database, proxy):
    engine, url = database
    proxy.start()
    proc, out, gate, fallback = _start(tmp_path, url, proxy)
    _wait_for(tmp_path, proc, "at gate")
    _poll(lambda: _first_points_stored(engine), what="the first points in PostgreSQL")
    proxy.delay = 0.05  # every chunk, both ways, held back 50 ms: a slow link, not a dead one
    gate.touch()
    _finish(tmp_path, proc, out)  # slow or not, the run ends within its window
    proxy.delay = 0.0
    _sync_until_done(fallback)  # what the window could not deliver was journaled
    _assert_all_stored_once(engine)
