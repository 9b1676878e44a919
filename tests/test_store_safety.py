"""The read side leaks nothing and loses nothing: no symlink out of the store is followed, concurrent
tag/untag/note keep every update, ``--where`` and damaged SQLite files are one-line errors, and a
typo'd store is never created."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest

from experimentkit.dashboard.app import handle
from experimentkit.errors import QueryError, StoreError
from experimentkit.query import Query, open_store, parse_where

REPO = str(Path(__file__).resolve().parents[1])


def _script_run(tmp_path: Path, *args: str) -> None:
    script = tmp_path / "tiny.py"
    script.write_text(
        "from experimentkit import Experiment\nex = Experiment('tiny')\n"
        "@ex.automain\ndef main(_run):\n    print('hello')\n"
        "    _run.log_scalar('loss', 1.0)\n    return 1\n"
    )
    done = subprocess.run(
        [sys.executable, str(script), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": REPO},
    )
    assert done.returncode == 0, done.stderr


def _cli(tmp_path: Path, *args: str, stdin=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "experimentkit", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": REPO},
    )


@pytest.fixture(scope="module")
def file_store(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("safety")
    _script_run(tmp, "-F", "runs")
    _script_run(tmp, "-F", "runs")
    return tmp


# ---- symlinks out of the store ----------------------------------------------------------------------
def test_cout_linked_out_of_the_store_is_never_read(tmp_path):
    _script_run(tmp_path, "-F", "runs")
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    cout = tmp_path / "runs" / "1" / "cout.txt"
    cout.unlink()
    cout.symlink_to(secret)
    with open_store(str(tmp_path / "runs")) as store:
        with pytest.raises(StoreError, match="cout.txt is a link out of the run directory"):
            store.get("1").captured_out()
        status, _, body = handle(store, "GET", "/run/1")
    assert b"TOP SECRET" not in body
    shown = _cli(tmp_path, "-S", "runs", "show", "1")
    assert "TOP SECRET" not in shown.stdout + shown.stderr
    assert shown.returncode == 2
    assert shown.stderr.strip() == (
        "experimentkit: error: refusing the output of run '1': cout.txt is a link out of the run directory"
    )


def test_run_directory_linked_in_from_outside_is_not_a_run(tmp_path):
    _script_run(tmp_path, "-F", "runs")
    _script_run(tmp_path, "-F", "elsewhere")
    (tmp_path / "runs" / "7").symlink_to(tmp_path / "elsewhere" / "1")
    (tmp_path / "runs" / "8").symlink_to(tmp_path / "runs" / "1")  # inside the store: fine
    with open_store(str(tmp_path / "runs")) as store:
        assert sorted(r.id for r in store.query(Query())) == ["1", "8"]
        with pytest.raises(StoreError, match="link out of the store"):
            store.get("7")
        status, _, _ = handle(store, "GET", "/run/7")
    assert status == 404 or status.startswith("404")
    shown = _cli(tmp_path, "-S", "runs", "show", "7", "--format", "json")
    assert shown.returncode == 2 and shown.stdout == ""


# ---- concurrent annotations ---------------------------------------------------------------------------
def _tagger(store_path: str, worker: int, count: int) -> None:
    with open_store(store_path) as store:
        for i in range(count):
            store.add_tags("1", [f"w{worker}-{i}"])
            if i % 3 == 0:
                store.set_note("1", f"note by {worker}")


@pytest.mark.slow
def test_concurrent_tags_from_many_processes_are_all_kept(file_store):
    store_path = str(file_store / "runs")
    workers, count = 6, 8
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_tagger, args=(store_path, w, count)) for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with open_store(store_path) as store:
        tags = store.get("1").tags
    assert sorted(tags) == sorted(f"w{w}-{i}" for w in range(workers) for i in range(count))
    assert len(tags) == workers * count
    annotations = json.loads((file_store / "runs" / "1" / "experimentkit.json").read_text())
    assert annotations["notes"].startswith("note by ")
    assert [p.name for p in (file_store / "runs" / "1").iterdir() if p.name.startswith(".")] == []


# ---- --where never prints a traceback -------------------------------------------------------------------
HUGE = [
    ("config.x == " + "9" * 5000, None),
    ("metrics.loss > " + "9" * 400, None),
    ("config.x == -" + "9" * 30, None),
    ("id in [" + ",".join(str(i) for i in range(5000)) + "]", ["1", "2"]),
    ("config.x in [" + ",".join(f"'s{i}'" for i in range(5000)) + "]", []),
    ("tags in [" + ",".join(f"t{i}" for i in range(3000)) + "]", []),
    ("config.x == 'a\0b'", QueryError),
    ("config.x\0 == 1", QueryError),
    ("config.x " + "<" * 3000 + " 1", QueryError),
    ("config.x == " + "[" * 3000, QueryError),
]


@pytest.mark.parametrize("expr, expected", HUGE, ids=[f"expr{i}" for i in range(len(HUGE))])
@pytest.mark.parametrize("kind", ["file", "sqlite"])
def test_where_with_huge_or_odd_input_is_an_answer_or_a_one_line_error(
    file_store, tmp_path, kind, expr, expected
):
    if kind == "file":
        target = str(file_store / "runs")
    else:
        pytest.importorskip("sqlalchemy")
        if not (file_store / "runs.db").exists():
            _script_run(file_store, "-s", "sqlite:///runs.db")
            _script_run(file_store, "-s", "sqlite:///runs.db")
        target = "sqlite:///" + str(file_store / "runs.db")
    if expected is QueryError:
        with pytest.raises(QueryError) as info:
            parse_where(expr)
        assert "\n" not in str(info.value) and len(str(info.value)) < 300
        return
    with open_store(target) as store:
        found = sorted(r.id for r in store.query(Query(filters=[parse_where(expr)])))
    assert found == (expected if expected is not None else [])


def test_where_errors_on_the_command_line_are_one_short_line(file_store):
    done = _cli(file_store, "-S", "runs", "ls", "-w", "config.x == " + "[" * 3000)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and len(done.stderr) < 300


# ---- damaged or missing SQLite files ----------------------------------------------------------------
def test_damaged_sqlite_files_are_one_line_errors_and_nothing_is_created(file_store, tmp_path):
    pytest.importorskip("sqlalchemy")
    if not (file_store / "runs.db").exists():
        _script_run(file_store, "-s", "sqlite:///runs.db")
    good = (file_store / "runs.db").read_bytes()
    (tmp_path / "trunc.db").write_bytes(good[:3000])
    (tmp_path / "garbage.db").write_bytes(os.urandom(5000))
    (tmp_path / "text.db").write_text("hello\n")
    (tmp_path / "empty.db").write_bytes(b"")
    expected = {
        "trunc.db": "experimentkit: error: cannot read the store 'sqlite:///trunc.db': "
        "DatabaseError: database disk image is malformed",
        "garbage.db": "experimentkit: error: 'garbage.db' is not an SQLite database (wrong file, or damaged)",
        "text.db": "experimentkit: error: 'text.db' is not an SQLite database (wrong file, or damaged)",
        "empty.db": "experimentkit: error: no SQLite run store at 'empty.db' (the file is empty)",
        "typo.db": "experimentkit: error: no SQLite run store at 'typo.db' (file not found)",
    }
    for name, message in expected.items():
        before = (tmp_path / name).read_bytes() if (tmp_path / name).exists() else None
        done = _cli(tmp_path, "-S", f"sqlite:///{name}", "ls")
        assert done.returncode == 2, name
        assert done.stderr.strip() == message
        after = (tmp_path / name).read_bytes() if (tmp_path / name).exists() else None
        assert after == before, f"{name} was changed"
    typo = _cli(tmp_path, "-S", "typo_dir", "ls")
    assert typo.returncode == 2 and not (tmp_path / "typo_dir").exists()


def test_a_database_server_store_that_cannot_be_reached_is_one_line(tmp_path):
    pytest.importorskip("sqlalchemy")
    base = os.environ.get("EXPERIMENTKIT_TEST_POSTGRES")
    if not base:
        pytest.skip("EXPERIMENTKIT_TEST_POSTGRES is not set: no PostgreSQL server to test against")
    from tests.dbutil import with_driver

    typo = with_driver(base).set(database="no_such_db_h10").render_as_string(hide_password=False)
    done = _cli(tmp_path, "-S", typo, "ls")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"experimentkit: error: cannot read the store '{typo}': OperationalError: ")
    assert 'database "no_such_db_h10" does not exist' in done.stderr
    assert done.stderr.count("\n") == 1
    refused = _cli(tmp_path, "-S", "postgresql+psycopg2://me:hunter2@127.0.0.1:1/x", "ls")
    assert refused.returncode == 2 and "hunter2" not in refused.stderr
    assert refused.stderr.startswith(
        "experimentkit: error: cannot read the store 'postgresql+psycopg2://me:***@127.0.0.1:1/x': "
    )
