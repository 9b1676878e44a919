"""End to end: mistakes are not outages, and secrets are not stored.

Real scripts run as subprocesses.  A store option that can be known wrong before the run starts is one
line and exit 2 before main; a backend that cannot be reached runs on into the journal, says so at
once, and does not spend the end-of-run window on it; ``--strict-observers`` refuses to start; the
password of a store URL is kept out of every record, listing and log.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.dbutil import server_database, with_driver

REPO = str(Path(__file__).resolve().parents[1])

SCRIPT = textwrap.dedent("""
    from experimentkit import Experiment

    ex = Experiment("mistakes")

    @ex.automain
    def main(_run):
        print("MAIN RAN")
        for i in range(25):
            _run.log_scalar("loss", i / 10)
        model = "model.bin"
        open(model, "wb").write(b"w")
        _run.add_artifact(model, name="checkpoints/epoch=0-step=90.ckpt")
        return 42
""")


def _run(tmp_path: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    full_env = {
        **os.environ,
        "PYTHONPATH": REPO,
        "EXPERIMENTKIT_FALLBACK_DIR": str(tmp_path / "fallback"),
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, str(script), *args],
        cwd=tmp_path,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["-s", "notaurl"],
            "Error: --sql needs a database URL such as sqlite:///runs.db or "
            "postgresql://user@host/db, not 'notaurl'",
        ),
        (
            ["-F", "afile"],
            "Error: --file_storage: 'afile' is a file; give a directory (it is created if missing)",
        ),
        (
            ["-F", "afile/runs"],
            "Error: --file_storage: 'afile/runs' cannot be made: '{cwd}/afile' is a file, not a directory",
        ),
        (
            ["-s", "sqlite:///nonexistent_dir/runs.db"],
            "Error: --sql: the directory 'nonexistent_dir' of 'nonexistent_dir/runs.db' does not exist",
        ),
        (
            ["-s", "postgresql://me:hunter2@127.0.0.1:99999/db"],
            "Error: --sql: the port 99999 in 'postgresql://me:***@127.0.0.1:99999/db' is not a port "
            "number (1-65535)",
        ),
        (
            ["-s", "nosuchdb://x/y"],
            "Error: --sql: unknown database kind 'nosuchdb' in 'nosuchdb://x/y' "
            "(e.g. sqlite, postgresql, mysql+pymysql)",
        ),
        (["-m", "mongodb://"], "Error: --mongo_db: 'mongodb://' names no server (mongodb://host[:port]/db)"),
        (
            ["-m", "mongodb://127.0.0.1:99999/db"],
            "Error: --mongo_db: the port 99999 in 'mongodb://127.0.0.1:99999/db' is not a port number "
            "(1-65535)",
        ),
    ],
)
def test_a_store_option_known_wrong_is_one_line_and_exit_2_before_main(tmp_path, args, message):
    pytest.importorskip("sqlalchemy")
    (tmp_path / "afile").write_text("not a directory")
    done = _run(tmp_path, *args)
    assert done.returncode == 2
    assert done.stderr.strip() == message.format(cwd=os.path.realpath(tmp_path))
    assert "MAIN RAN" not in done.stdout
    assert not (tmp_path / "fallback").exists()
    assert not (tmp_path / "nonexistent_dir").exists()


def test_unreachable_backend_at_start_journals_at_once_and_skips_the_window(tmp_path):
    pytest.importorskip("sqlalchemy")
    pytest.importorskip("psycopg2")
    port = _free_port()  # nothing listens there
    url = f"postgresql+psycopg2://me:hunter2@127.0.0.1:{port}/db"
    done = _run(tmp_path, "-s", url, "-F", "runs")
    assert done.returncode == 0, done.stderr
    assert "MAIN RAN" in done.stdout
    [journal] = (tmp_path / "fallback").glob("*.jsonl")
    said = [line for line in done.stderr.splitlines() if "cannot reach" in line]
    assert said == [
        f"WARNING - mistakes - Observer 'SqlObserver' failed (OperationalError: "
        f"{said[0].split('(OperationalError: ', 1)[1].split('): cannot reach', 1)[0]}): cannot "
        f"reach postgresql+psycopg2://me:***@127.0.0.1:{port}/db; the run goes on, recording its "
        f"events in {journal}; run 'experimentkit sync' once it is reachable"
    ]
    # said before main ran, and the end-of-run window was not spent on it
    lines = done.stderr.splitlines()
    assert lines.index(said[0]) < next(i for i, line in enumerate(lines) if "Started run" in line)
    assert "Waiting up to" not in done.stderr
    assert "hunter2" not in done.stderr + done.stdout
    # the file store, healthy, has everything
    stored = json.loads((tmp_path / "runs" / "1" / "run.json").read_text())
    assert stored["status"] == "COMPLETED" and stored["result"] == 42
    assert stored["artifacts"] == ["checkpoints/epoch=0-step=90.ckpt"]
    assert (tmp_path / "runs" / "1" / "checkpoints" / "epoch=0-step=90.ckpt").read_bytes() == b"w"
    assert "hunter2" not in (tmp_path / "runs" / "1" / "run.json").read_text()
    assert stored["meta"]["options"]["--sql"] == f"postgresql+psycopg2://me@127.0.0.1:{port}/db"
    # the journal (private to the user: 0600) keeps what sync needs, the password included
    assert oct(journal.stat().st_mode & 0o777) == "0o600"


def test_strict_observers_refuses_to_start(tmp_path):
    pytest.importorskip("sqlalchemy")
    pytest.importorskip("psycopg2")
    port = _free_port()
    done = _run(tmp_path, "--strict-observers", "-s", f"postgresql+psycopg2://me:hunter2@127.0.0.1:{port}/db")
    assert done.returncode == 2
    assert "MAIN RAN" not in done.stdout
    [error] = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert error.startswith(
        f"Error: Observer 'SqlObserver' (postgresql+psycopg2://me:***@127.0.0.1:"
        f"{port}/db) (OperationalError: "
    )
    assert error.endswith("cannot record this run; with --strict-observers the run does not start")
    assert "Traceback" not in done.stderr and "hunter2" not in done.stderr
    assert not list((tmp_path / "fallback").glob("*.jsonl")) if (tmp_path / "fallback").exists() else True


def test_strict_observers_setting(tmp_path):
    pytest.importorskip("sqlalchemy")
    pytest.importorskip("psycopg2")
    port = _free_port()
    script = tmp_path / "script.py"
    script.write_text(
        SCRIPT.replace(
            "from experimentkit import Experiment",
            "from experimentkit import Experiment, SETTINGS\nSETTINGS.STRICT_OBSERVERS = True",
        )
    )
    done = subprocess.run(
        [sys.executable, str(script), "-s", f"postgresql+psycopg2://me@127.0.0.1:{port}/db"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": REPO, "EXPERIMENTKIT_FALLBACK_DIR": str(tmp_path / "fallback")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "MAIN RAN" not in done.stdout
    assert "with --strict-observers the run does not start" in done.stderr


@pytest.mark.slow
def test_password_of_a_sql_url_is_never_stored_shown_or_logged(tmp_path):
    sa = pytest.importorskip("sqlalchemy")
    with server_database("postgres", "ekpw") as base:
        # the test server trusts local connections: any password is accepted, and must vanish
        url = with_driver(base).set(password="hunter2").render_as_string(hide_password=False)
        done = _run(tmp_path, "-s", url)
        assert done.returncode == 0, done.stderr
        assert "hunter2" not in done.stderr + done.stdout
        engine = sa.create_engine(with_driver(base))
        try:
            with engine.connect() as conn:
                tables = sa.inspect(conn).get_table_names()
                dump = "".join(
                    str(row) for table in tables for row in conn.execute(sa.text(f"SELECT * FROM {table}"))
                )
        finally:
            engine.dispose()
        assert "me" not in tables and "MAIN RAN" in dump and "hunter2" not in dump
        assert "checkpoints/epoch=0-step=90.ckpt" in dump
        store = with_driver(base).render_as_string(hide_password=False)
        env = {**os.environ, "PYTHONPATH": REPO}
        for command in (
            ["show", "1", "--format", "json"],
            ["show", "1"],
            ["ls", "--format", "json"],
            ["rerun", "1", "--dry-run"],
        ):
            shown = subprocess.run(
                [sys.executable, "-m", "experimentkit", "-S", store, *command],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert shown.returncode == 0, shown.stderr
            assert "hunter2" not in shown.stdout + shown.stderr, command
        data = json.loads(
            subprocess.run(
                [sys.executable, "-m", "experimentkit", "-S", store, "show", "1", "--format", "json"],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            ).stdout
        )
        assert data["status"] == "COMPLETED" and data["result"] == 42
        assert data["meta"]["options"]["--sql"] == url.replace(":hunter2@", "@")
        assert data["artifacts"] == ["checkpoints/epoch=0-step=90.ckpt"]
        assert data["metrics"]["loss"]["count"] == 25
        # rerun gets the password from the environment
        rerun = subprocess.run(
            [sys.executable, "-m", "experimentkit", "-S", store, "rerun", "1", "--dry-run"],
            cwd=tmp_path,
            env={**env, "EXPERIMENTKIT_DB_PASSWORD": "s3cret"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "--sql=" + url.replace(":hunter2@", ":***@") in rerun.stdout
