"""One bad event never loses a run: permanent failures are dropped (with a warning and a note in the
run's record), transient ones are buffered; sync skips what can never be delivered and builds only
registered observers; ``sync --discard`` gives a journal up."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from experimentkit.context import current_run
from experimentkit.dispatch import is_permanent
from experimentkit.errors import ObserverError, PermanentObserverError
from experimentkit.journal import read_journal, write_journal
from experimentkit.observers import FileStorageObserver
from experimentkit.sync import build_observer, format_results, sync
from experimentkit.testing import make_run
from tests.test_dispatch_support import Flaky

LOGGER = "test_poison"
REPO = str(Path(__file__).resolve().parents[1])


def new_run(main, observers, tmp_path, **attributes):
    attributes.setdefault("capture_mode", "sys")
    attributes.setdefault("beat_interval", 0)
    attributes.setdefault("observer_retry_seconds", 0.3)
    return make_run(
        main,
        {"lr": 0.1},
        observers,
        logger=logging.getLogger(LOGGER),
        fallback_dir=str(tmp_path / "fallback"),
        **attributes,
    )


def warnings_of(caplog):
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]


class Picky(Flaky):
    """Refuses some events for good (``refuse[event] = exception``)."""

    def __init__(self, refuse, **kwargs):
        super().__init__(**kwargs)
        self.refuse = refuse

    def _maybe_fail(self, event):
        super()._maybe_fail(event)
        if event in self.refuse:
            raise self.refuse[event]


def training(points=30, artifact=None):
    def main():
        run = current_run()
        for i in range(points // 2):
            run.log_scalar("loss", i)
        if artifact is not None:
            run.add_artifact(artifact, name="bad/../name")
        for i in range(points // 2, points):
            run.log_scalar("loss", i)
        run.info["done"] = True
        return "ok"

    return main


# ---- the classification ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "exc",
    [
        TypeError("x"),
        ValueError("x"),
        KeyError("x"),
        AttributeError("x"),
        UnicodeEncodeError("utf-8", "x", 0, 1, "bad"),
        FileNotFoundError(2, "gone", "f"),
        IsADirectoryError("d"),
        NotADirectoryError("d"),
        FileExistsError("f"),
        PermanentObserverError("name too long"),
    ],
)
def test_permanent_failures(exc):
    assert is_permanent(exc)


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionError("refused"),
        ConnectionResetError("reset"),
        TimeoutError("slow"),
        OSError(28, "No space left on device"),
        PermissionError("read-only"),
        ObserverError("busy"),
        RuntimeError("?"),
    ],
)
def test_transient_failures(exc):
    assert not is_permanent(exc)


def test_driver_errors_are_classified_by_what_they_describe():
    sa_exc = pytest.importorskip("sqlalchemy.exc")
    assert is_permanent(sa_exc.DataError("INSERT ...", {}, ValueError("value too long")))
    assert not is_permanent(sa_exc.OperationalError("SELECT 1", {}, OSError("server closed")))
    # a StatementError around the driver's TypeError (an unstorable parameter)
    assert is_permanent(sa_exc.StatementError("bad parameter", "INSERT", {}, TypeError("x")))
    bson_errors = pytest.importorskip("bson.errors")
    assert is_permanent(bson_errors.InvalidDocument("key must not contain '.'"))


# ---- the run goes on --------------------------------------------------------------------------------
def test_a_permanent_failure_drops_that_event_only(tmp_path, caplog):
    healthy = Flaky()
    picky = Picky({"log_table": ValueError("column name too long\nINSERT INTO ... [params]")})

    def main():
        run = current_run()
        for i in range(20):
            run.log_scalar("loss", i)
        run.log_table("t", [{"a": 1}])
        return "ok"

    run = new_run(main, [healthy, picky], tmp_path)
    assert run() == "ok"
    for observer in (healthy, picky):
        assert observer.run.status == "COMPLETED" and observer.run.result == "ok"
        assert observer.run.metrics["loss"]["steps"] == list(range(20))
    assert healthy.run.tables == {"t": [{"a": 1}]} and picky.run.tables == {}
    # the note is in the run's record, for every observer
    note = "Picky: log_table 't' dropped (ValueError: column name too long)"
    assert run.info["dropped_events"] == [note]
    assert picky.run.info["dropped_events"] == [note]
    [warning] = [w for w in warnings_of(caplog) if "cannot store" in w]
    assert warning.startswith("Observer 'Picky' cannot store log_table 't' in ")
    assert warning.endswith("(ValueError: column name too long); that event is dropped; later events go on")
    assert "\n" not in warning and "INSERT" not in warning
    assert run.fallback_journals == []
    assert not (tmp_path / "fallback").exists() or not list((tmp_path / "fallback").iterdir())


def test_a_permanent_failure_while_retrying_a_buffer_drops_it_and_delivers_the_rest(tmp_path):
    picky = Picky({"artifact_event": PermanentObserverError("name the backend cannot store")})
    source = tmp_path / "model.bin"
    source.write_bytes(b"w")

    def main():
        run = current_run()
        picky.down = True  # the backend goes away: the artifact is buffered behind a batch
        run.log_scalar("loss", 0)
        run._beat()
        run.add_artifact(source, "m.bin")
        run.log_scalar("loss", 1)
        run._beat()
        picky.down = False  # back: the retry meets the artifact, which can never be stored

    run = new_run(main, [picky], tmp_path)
    run()
    assert picky.run.status == "COMPLETED"
    assert picky.run.metrics["loss"]["steps"] == [0, 1]
    assert picky.run.artifacts == []
    assert run.fallback_journals == []
    assert run.info["dropped_events"] == [
        "Picky: artifact 'm.bin' dropped (PermanentObserverError: name the backend cannot store)"
    ]


def test_an_observer_that_cannot_open_the_run_is_left_out_with_one_warning(tmp_path, caplog):
    healthy, picky = Flaky(), Picky({"started_event": ValueError("bad id")})
    run = new_run(training(), [healthy, picky], tmp_path)
    assert run() == "ok"
    assert healthy.run.status == "COMPLETED"
    assert healthy.run.metrics["loss"]["steps"] == list(range(30))
    assert picky.runs == {} and picky.attempts == ["started_event"]
    assert [w for w in warnings_of(caplog) if "Picky" in w] == [
        f"Observer 'Picky' cannot store started_event in {picky!r} (ValueError: bad id); "
        "it cannot record this run and gets no more events"
    ]
    assert run.fallback_journals == []


def test_missing_artifact_or_resource_raises_at_the_call_before_any_observer(tmp_path):
    observer = Flaky()
    seen = {}

    def main():
        run = current_run()
        for method, arg in ((run.add_artifact, "nope.png"), (run.add_resource, "missing.csv")):
            with pytest.raises(FileNotFoundError, match=f"no such file: '{arg}'") as info:
                method(arg)
            seen[method.__name__] = info.value.filename
        with pytest.raises(IsADirectoryError, match="is a directory"):
            run.add_artifact(tmp_path)
        run.log_scalar("loss", 1)

    run = new_run(main, [observer], tmp_path)
    run()
    assert seen == {"add_artifact": "nope.png", "add_resource": "missing.csv"}
    assert "artifact_event" not in observer.event_names
    assert "resource_event" not in observer.event_names
    assert observer.run.status == "COMPLETED" and observer.run.metrics["loss"]["steps"] == [0]


def test_file_store_keeps_a_run_whose_artifact_name_it_cannot_store(tmp_path, caplog):
    source = tmp_path / "plot.png"
    source.write_bytes(b"png")
    observer = FileStorageObserver(tmp_path / "runs")
    run = new_run(training(artifact=source), [observer], tmp_path)
    assert run() == "ok"
    stored = json.loads((tmp_path / "runs" / "1" / "run.json").read_text())
    assert stored["status"] == "COMPLETED" and stored["result"] == "ok"
    assert stored["artifacts"] == []
    metrics = json.loads((tmp_path / "runs" / "1" / "metrics.json").read_text())
    assert metrics["loss"]["steps"] == list(range(30))
    info = json.loads((tmp_path / "runs" / "1" / "info.json").read_text())
    assert info["done"] is True
    assert info["dropped_events"] == [
        "FileStorageObserver: artifact 'bad/../name' dropped (ValueError: Invalid artifact name "
        "'bad/../name': '/'-separated parts must be plain file names, not empty, '.' or '..'.)"
    ]
    assert run.fallback_journals == []


def test_the_end_of_run_window_bounds_a_slow_backend(tmp_path):
    """A backend that answers, but slowly: what it cannot take within the window (plus one short
    last attempt) is journaled, not waited for; stored + journaled = every point, once."""
    import threading

    gate = threading.Event()

    class Slow(Flaky):
        def log_metrics(self, **kwargs):
            if self.run is not None and self.run.metrics:  # the first batch is fast
                gate.wait(5)
            return super().log_metrics(**kwargs)

    slow = Slow()

    def main():
        run = current_run()
        for i in range(10):
            run.log_scalar("loss", i)
        run._beat()
        for i in range(10, 20):
            run.log_scalar("loss", i)

    run = new_run(main, [slow], tmp_path, observer_retry_seconds=0.2)
    run()
    gate.set()
    [journal] = run.fallback_journals
    header, events = read_journal(journal)
    journaled = [s for e, k in events if e == "log_metrics" for s in k["metrics_by_name"]["loss"]["steps"]]
    assert journaled == list(range(10, 20))
    assert [e for e, _ in events][-1] == "completed_event"
    assert slow.run.metrics["loss"]["steps"] in (list(range(10)), list(range(20)))


# ---- sync -------------------------------------------------------------------------------------------
def _journal(tmp_path, events, spec):
    path = tmp_path / "fb" / "uid1-0-FileStorageObserver.jsonl"
    header = {
        "run_uid": "uid1",
        "observer": "FileStorageObserver",
        "replay_spec": spec,
        "opened": False,
        "assigned_id": None,
    }
    write_journal(str(path), header, events)
    return path


def _started():
    import datetime as dt

    now = dt.datetime(2026, 1, 1)
    return (
        "started_event",
        dict(
            ex_info={"name": "e", "base_dir": "", "sources": []},
            command="main",
            host_info={},
            start_time=now,
            config={},
            meta_info={"uid": "uid1"},
            _id=None,
        ),
    )


def _metrics(steps):
    import datetime as dt

    return (
        "log_metrics",
        {
            "metrics_by_name": {
                "loss": {
                    "name": "loss",
                    "steps": steps,
                    "values": steps,
                    "timestamps": [dt.datetime(2026, 1, 1)] * len(steps),
                }
            },
            "info": {},
        },
    )


def test_sync_skips_an_undeliverable_event_and_delivers_the_rest(tmp_path):
    import datetime as dt

    store = tmp_path / "runs"
    spec = FileStorageObserver(store).replay_spec()
    path = _journal(
        tmp_path,
        [
            _started(),
            _metrics([0, 1, 2]),
            (
                "artifact_event",
                {
                    "name": "model.bin",
                    "filename": str(tmp_path / "gone.bin"),
                    "metadata": None,
                    "content_type": None,
                },
            ),
            _metrics([3, 4]),
            ("completed_event", {"stop_time": dt.datetime(2026, 1, 1, 1), "result": 7}),
        ],
        spec,
    )
    [result] = sync(str(tmp_path / "fb"))
    assert result.status == "synced" and result.delivered == 4 and result.remaining == 0
    assert result.skipped == [
        "artifact 'model.bin' (FileNotFoundError: [Errno 2] No such file or "
        f"directory: '{tmp_path / 'gone.bin'}')"
    ]
    stored = json.loads((store / "1" / "run.json").read_text())
    assert stored["status"] == "COMPLETED" and stored["result"] == 7
    metrics = json.loads((store / "1" / "metrics.json").read_text())
    assert metrics["loss"]["steps"] == [0, 1, 2, 3, 4]
    assert not path.exists()
    table = format_results([result])
    assert table.splitlines()[0].split() == ["journal", "run", "backend", "delivered", "remaining", "status"]
    assert table.splitlines()[1].split() == [path.name, "uid1", "(id", "1)", str(store), "4", "0", "synced"]
    assert f"{path.name}: skipped artifact 'model.bin' (FileNotFoundError" in table
    assert sync(str(tmp_path / "fb")) == []


def test_sync_never_calls_a_factory_that_is_not_registered(tmp_path):
    marker = tmp_path / "pwned"
    spec = {"factory": "os:system", "kwargs": {"command": f"touch {marker}"}}
    _journal(tmp_path, [_started()], spec)
    [result] = sync(str(tmp_path / "fb"))
    assert result.status == "failed"
    assert "refusing to call the replay factory 'os:system'" in result.message
    assert not marker.exists()
    with pytest.raises(PermissionError, match="not a registered observer factory"):
        build_observer(spec)
    assert not marker.exists()
    # the CLI says the same and exits 1, the journal stays
    done = subprocess.run(
        [sys.executable, "-m", "experimentkit", "sync", "--fallback-dir", str(tmp_path / "fb")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": REPO},
    )
    assert done.returncode == 1 and not marker.exists()
    assert "refusing to call the replay factory 'os:system'" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_sync_discard_asks_and_drops_a_journal(tmp_path):
    spec = FileStorageObserver(tmp_path / "runs").replay_spec()
    path = _journal(tmp_path, [_started(), _metrics([0, 1])], spec)
    base = [sys.executable, "-m", "experimentkit", "sync", "--fallback-dir", str(tmp_path / "fb")]
    env = {**os.environ, "PYTHONPATH": REPO}
    no = subprocess.run(
        base + ["--discard", path.name],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert no.returncode == 2 and path.exists()
    assert no.stderr.strip() == (
        "experimentkit: error: sync --discard deletes undelivered events; confirm with --yes"
    )
    typo = subprocess.run(
        base + ["--discard", "uid1-0-FileStorageObserver.json", "--yes"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert typo.returncode == 2 and "did you mean 'uid1-0-FileStorageObserver.jsonl'" in typo.stderr
    yes = subprocess.run(
        base + ["--discard", path.name, "--yes"], capture_output=True, text=True, timeout=60, env=env
    )
    assert yes.returncode == 0, yes.stderr
    assert not path.exists()
    assert yes.stdout.splitlines()[1].split()[-3:] == ["0", "2", "discarded"]
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("capture", ["fd", "sys"])
def test_observer_warnings_go_to_the_log_not_into_the_captured_output(tmp_path, capture):
    script = tmp_path / "script.py"
    script.write_text(
        "from experimentkit import Experiment\n"
        "ex = Experiment('warn')\n"
        "@ex.automain\n"
        "def main(_run):\n"
        "    print('before')\n"
        "    open('m.bin', 'wb').write(b'w')\n"
        "    _run.add_artifact('m.bin', name='bad/../name')\n"
        "    _run._beat()\n"
        "    print('after')\n"
        "    return 3\n"
    )
    done = subprocess.run(
        [sys.executable, str(script), "-F", "runs", f"--capture={capture}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": REPO, "EXPERIMENTKIT_FALLBACK_DIR": str(tmp_path / "fb")},
    )
    assert done.returncode == 0, done.stderr
    [warning] = [line for line in done.stderr.splitlines() if "cannot store" in line]
    assert warning.startswith(
        "WARNING - warn - Observer 'FileStorageObserver' cannot store artifact 'bad/../name' in "
    )
    cout = (tmp_path / "runs" / "1" / "cout.txt").read_text()
    assert "before\n" in cout and "after\n" in cout
    assert "cannot store" not in cout
    info = json.loads((tmp_path / "runs" / "1" / "info.json").read_text())
    assert len(info["dropped_events"]) == 1
    assert json.loads((tmp_path / "runs" / "1" / "run.json").read_text())["status"] == "COMPLETED"
