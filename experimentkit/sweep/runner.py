"""Running a sweep: check every task, record the sweep, hand the tasks to a launcher, keep counts.

Order of work (so that bad input records nothing): expand the space, check the launcher (installed,
options), resolve the config of each distinct task shape (typos get the single-run message with its
suggestion), and only then create the sweep record and start runs.  Failed runs do not stop the
sweep unless ``fail_fast``; Ctrl-C interrupts the running runs and marks the sweep INTERRUPTED;
``resume`` runs only the tasks without a COMPLETED run.
"""

from __future__ import annotations

import getpass
import logging
import signal
import socket
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Optional

from ..errors import UsageError
from .records import books_for_observers, utc_iso
from .space import Space, Task

__all__ = ["SweepResult", "SweepOutcome", "run_sweep", "check_tasks", "completed_indices"]


@dataclass
class SweepOutcome:
    """How one run of the sweep ended."""

    index: int
    values: dict
    status: str
    run_id: Optional[str] = None
    result: Any = None
    error: str = ""
    lost: bool = False  # the run's process ended without reporting (crash, kill, lost worker)


@dataclass
class SweepResult:
    """A finished (or stopped) sweep: its id, status and the outcome of every run started."""

    id: Optional[int]
    status: str
    runs: list = field(default_factory=list)
    skipped: int = 0  # tasks already COMPLETED before a resume

    def __iter__(self):
        return iter(self.runs)

    def __len__(self) -> int:
        return len(self.runs)

    @property
    def failed(self) -> list:
        return [r for r in self.runs if r.status not in ("COMPLETED", "PRUNED")]

    @property
    def counts(self) -> dict:
        return dict(Counter(r.status for r in self.runs))


def check_tasks(ex: Any, command: Optional[str], tasks: list, options: dict) -> None:
    """Resolve the config of one task of every distinct shape; raises the single run's
    ``UsageError``."""
    from ..commandline.options import validate_options
    from ..initialize import resolve_config

    validate_options(options)
    quiet = logging.getLogger("experimentkit.sweep.check")
    quiet.disabled = True  # each run warns about its own config when it starts (so warn=False below)
    seen = set()
    force = bool(options.get("--force"))
    for task in tasks:
        shape = (_shape(task.updates), tuple(task.named_configs))
        if shape in seen:
            continue
        seen.add(shape)
        updates = dict(task.updates)
        updates.setdefault("seed", 0)  # no fresh seed needed just to check
        resolve_config(
            ex, command or ex.default_command, updates, task.named_configs, force, logger=quiet, warn=False
        )


def _shape(updates: dict, prefix: str = "") -> tuple:
    keys: list[tuple[str, str]] = []
    for key, value in sorted(updates.items()):
        if isinstance(value, dict) and value:
            keys.extend(_shape(value, f"{prefix}{key}."))
        else:
            keys.append((f"{prefix}{key}", type(value).__name__))
    return tuple(keys)


def _plugin_observer_given(options: dict) -> bool:
    from ..commandline.plugins import observer_plugin_options

    return any(options.get(option.get_flag()) for option in observer_plugin_options())


def completed_indices(target_options: dict, observers: list, sweep_id: int) -> set:
    """Indices of the tasks of ``sweep_id`` that have a COMPLETED run in the first store."""
    store = _open_first_store(target_options, observers)
    if store is None:
        return set()
    with store:
        runs = store.runs().where(**{"meta.sweep.id": sweep_id, "status": "COMPLETED"}).all()
    return {r.meta.get("sweep", {}).get("index") for r in runs}


def _open_first_store(options: dict, observers: list) -> Any:
    from ..query import open_store

    if options.get("--file_storage"):
        return open_store(options["--file_storage"])
    if options.get("--sql"):
        return open_store(options["--sql"])
    if options.get("--mongo_db"):
        from ..backends.mongo.store import MongoStore
        from ..commandline.options import parse_mongo_db_arg

        kwargs = parse_mongo_db_arg(options["--mongo_db"])
        return MongoStore(kwargs.get("url"), db_name=kwargs.get("db_name", "sacred"))
    for observer in observers:
        kind = type(observer).__name__
        if kind == "FileStorageObserver":
            return open_store(observer.basedir)
        if kind == "SqlObserver":
            return open_store(observer.url)
        if kind == "MongoObserver":
            from ..backends.mongo.store import MongoStore

            database = observer.runs.database
            return MongoStore(
                client=database.client, db_name=database.name, prefix=observer.runs.name[: -len("runs")]
            )
    return None


class _Progress:
    """done / running / failed / remaining with elapsed time and ETA (tqdm on a terminal only)."""

    def __init__(self, total: int, sweep_id: Any, enabled: bool):
        self.bar = None
        if enabled and total and sys.stderr.isatty():
            try:
                from tqdm import tqdm
            except ImportError:
                return
            import shutil

            size = shutil.get_terminal_size((100, 24))  # falls back where a tty reports 0x0
            self.bar = tqdm(
                total=total,
                desc=f"sweep {sweep_id}",
                unit="run",
                file=sys.stderr,
                ncols=min(size.columns, 120),
                nrows=size.lines,
            )

    def update(self, counts: Counter, running: int) -> None:
        if self.bar is not None:
            self.bar.set_postfix(
                running=running,
                failed=sum(n for s, n in counts.items() if s not in ("COMPLETED", "PRUNED")),
                refresh=False,
            )
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_sweep(
    ex: Any,
    tasks: list,
    *,
    command: Optional[str] = None,
    options: Optional[dict] = None,
    space: Optional[Space] = None,
    launcher: Any = "local",
    jobs: int = 1,
    launcher_options: Optional[dict] = None,
    fail_fast: bool = False,
    command_line: Optional[list] = None,
    books: Optional[list] = None,
    resume: Optional[dict] = None,
    progress: bool = True,
    extra_record: Optional[dict] = None,
) -> SweepResult:
    """Run ``tasks`` as one sweep; see the module docstring for the order of checks."""
    from ..launchers import Launcher, get_launcher
    from .worker import make_job

    options = dict(options or {})
    if isinstance(launcher, Launcher):
        chosen = launcher
    else:
        chosen = get_launcher(str(launcher), jobs=jobs, **dict(launcher_options or {}))
    if not tasks:
        raise UsageError("the sweep has no runs (an axis is empty)")
    if options.get("--unobserved") or options.get("--queue"):
        raise UsageError("a sweep records its runs: drop -u/--unobserved and -q/--queue")
    check_tasks(ex, command, tasks, options)
    if books is None:
        books = books_for_observers(ex.observers)
    if not books:
        if not ex.observers and not _plugin_observer_given(options):
            raise UsageError(
                "a sweep records its runs: give a store with -F DIR, -s URL or -m DB (or add an observer)"
            )
        print(
            "experimentkit: warning: only file, SQL and MongoDB stores keep sweep records; "
            "the runs are recorded without one",
            file=sys.stderr,
        )

    todo = list(tasks)
    skipped = 0
    if resume is not None:
        sweep_id = int(resume["id"])
        done = completed_indices(options, ex.observers, sweep_id)
        todo = [t for t in tasks if t.index not in done]
        skipped = len(tasks) - len(todo)
        for book in books:
            book.update(
                sweep_id,
                {
                    "status": "RUNNING",
                    "stop_time": None,
                    "resumed": list(resume.get("resumed", [])) + [utc_iso()],
                },
            )
        counts: Counter = Counter({"COMPLETED": skipped})
    else:
        record = {
            "experiment": ex.path,
            "command": command,
            "command_line": command_line,
            "space": space.describe() if space is not None else None,
            "tasks": [t.to_json() for t in tasks],
            "total": len(tasks),
            "launcher": chosen.name,
            "jobs": chosen.jobs,
            "launcher_options": {k: str(v) for k, v in chosen.options.items()},
            "status": "RUNNING",
            "start_time": utc_iso(),
            "stop_time": None,
            "counts": {},
            "host": socket.gethostname(),
            "user": _user(),
            **(extra_record or {}),
        }
        sweep_id = None
        for book in books:
            sweep_id = book.create(record, sweep_id)
        counts = Counter()

    by_index = {t.index: t for t in tasks}
    outcomes: list = []
    stop = threading.Event()
    bar = _Progress(len(todo), sweep_id, progress)
    started = [0]
    sweep_meta = {"id": sweep_id}

    def jobs_iter():
        for task in todo:
            started[0] += 1
            yield make_job(ex, command, task.to_json(), options, sweep_meta, chosen.shares_process)

    def report(outcome: dict) -> None:
        task = by_index[outcome["index"]]
        result = SweepOutcome(
            task.index,
            task.values,
            outcome["status"] or "FAILED",
            outcome.get("run_id"),
            outcome.get("result"),
            outcome.get("error") or "",
            bool(outcome.get("lost")),
        )
        outcomes.append(result)
        counts[result.status] += 1
        running = started[0] - len(outcomes)
        bar.update(counts, running)
        for book in books:
            _safe_update(book, sweep_id, {"counts": dict(counts)})
        if fail_fast and result.status not in ("COMPLETED", "PRUNED"):
            stop.set()

    status = "COMPLETED"
    begin = time.monotonic()
    previous = _sigterm_as_interrupt()
    try:
        chosen.launch(jobs_iter(), report, stop)
    except KeyboardInterrupt:
        status = "INTERRUPTED"
    finally:
        bar.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if status != "INTERRUPTED" and any(o.status not in ("COMPLETED", "PRUNED") for o in outcomes):
        status = "FAILED"
    if status == "COMPLETED" and len(outcomes) < len(todo):
        status = "FAILED"  # --fail-fast stopped it (a failure is counted above)
    outcomes.sort(key=lambda o: o.index)
    _find_lost_run_ids(outcomes, options, ex.observers, sweep_id)
    _mark_crashed(outcomes, options, ex.observers)
    for book in books:
        _safe_update(
            book,
            sweep_id,
            {
                "status": status,
                "stop_time": utc_iso(),
                "counts": dict(counts),
                "elapsed_seconds": round(time.monotonic() - begin, 3),
            },
        )
    return SweepResult(sweep_id, status, outcomes, skipped)


def _find_lost_run_ids(outcomes: list, options: dict, observers: list, sweep_id: Any) -> None:
    """A run whose process died without reporting still has a record: find its id by its index."""
    lost = {
        o.index: o for o in outcomes if o.run_id is None and o.status in ("FAILED", "INTERRUPTED") and o.lost
    }
    if not lost:
        return
    try:
        store = _open_first_store(options, observers)
        if store is None:
            return
        with store:
            for record in store.runs().where(**{"meta.sweep.id": sweep_id}).all():
                outcome = lost.get((record.meta.get("sweep") or {}).get("index"))
                if outcome is not None:
                    outcome.run_id = record.id
    except Exception:  # only a nicer summary is at stake
        return


def _first_observer(options: dict, observers: list) -> Any:
    """A fresh observer on the first store (the one ``_open_first_store`` reads)."""
    if options.get("--file_storage"):
        from ..observers import FileStorageObserver

        return FileStorageObserver(options["--file_storage"])
    if options.get("--sql"):
        from ..observers import SqlObserver

        return SqlObserver(options["--sql"])
    from ..observers.sharing import _fresh

    for observer in observers:
        if type(observer).__name__ in ("FileStorageObserver", "SqlObserver", "MongoObserver"):
            return _fresh(observer)
    return None


def _mark_crashed(outcomes: list, options: dict, observers: list) -> None:
    """A run whose process died (``os._exit``, a signal) could not record its end: record it as
    FAILED with the exit code, so its record does not stay RUNNING until it counts as DEAD.  A run
    stopped by Ctrl-C that did not get to record it (a worker cancelled hard) is recorded as
    INTERRUPTED, when its record still says RUNNING."""
    from ..run import _utcnow

    crashed = [o for o in outcomes if o.run_id is not None and o.status == "FAILED" and o.lost]
    stopped = [o for o in outcomes if o.run_id is not None and o.status == "INTERRUPTED" and o.lost]
    if stopped:
        stopped = _still_running(stopped, options, observers)
    for outcome in crashed + stopped:
        try:
            observer = _first_observer(options, observers)
            if observer is None:
                return
            observer.attach(outcome.run_id)
            if outcome.status == "FAILED":
                observer.failed_event(
                    fail_time=_utcnow(), fail_trace=[f"experimentkit sweep: {outcome.error}\n"]
                )
            else:
                observer.interrupted_event(interrupt_time=_utcnow(), status="INTERRUPTED")
        except Exception as exc:
            print(
                f"experimentkit: warning: could not mark run {outcome.run_id} {outcome.status}: "
                f"{type(exc).__name__}: {exc}",
                file=sys.stderr,
            )


def _still_running(outcomes: list, options: dict, observers: list) -> list:
    """The outcomes whose run is stored as RUNNING (its process never wrote its end)."""
    from ..query import Filter

    try:
        store = _open_first_store(options, observers)
        if store is None:
            return []
        with store:
            running = {
                r.id
                for r in store.runs().where(Filter("id", "in", [o.run_id for o in outcomes])).all()
                if r.raw_status == "RUNNING"
            }
    except Exception:
        return []
    return [o for o in outcomes if o.run_id in running]


def _sigterm_as_interrupt() -> Any:
    """SIGTERM stops the sweep like Ctrl-C (main thread only); returns the previous handler."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt("SIGTERM")

    try:
        return signal.signal(signal.SIGTERM, handler)
    except (ValueError, OSError):
        return None


def _safe_update(book: Any, sweep_id: Any, changes: dict) -> None:
    """A store that fails while the sweep runs must not stop the sweep (the runs are recorded by
    their own observers)."""
    try:
        book.update(sweep_id, changes)
    except Exception as exc:
        print(
            f"experimentkit: warning: could not update sweep {sweep_id} in {book}: "
            f"{type(exc).__name__}: {exc}",
            file=sys.stderr,
        )


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return ""


def describe_values(values: dict) -> str:
    """``lr=0.1 batch=64`` for summaries."""
    return " ".join(
        f"{k}={v!r}" if isinstance(v, str) and k != "named_config" else f"{k}={v}" for k, v in values.items()
    )


def summary(result: SweepResult, total: int) -> str:
    """The lines printed when a sweep ends, naming every run that did not complete."""
    counts = ", ".join(f"{n} {s}" for s, n in sorted(result.counts.items()))
    head = f"Sweep {result.id} {result.status}: {len(result.runs)} of {total} runs ran"
    if result.skipped:
        head += f" ({result.skipped} already COMPLETED were skipped)"
    lines = [head + (f" ({counts})" if counts else "")]
    for outcome in result.failed:
        run = f"run {outcome.run_id}" if outcome.run_id else "no run recorded"
        error = f": {outcome.error}" if outcome.error else ""
        lines.append(f"  {outcome.status} #{outcome.index} ({run}) {describe_values(outcome.values)}{error}")
    if result.status == "INTERRUPTED" and result.id is not None:
        lines.append(f"  continue with --resume {result.id}")
    return "\n".join(lines)


def tasks_from_record(record: dict) -> list:
    """The tasks stored in a sweep record (for ``--resume``)."""
    return [Task.from_json(t) for t in record.get("tasks") or []]
