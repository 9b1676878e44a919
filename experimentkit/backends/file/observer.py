"""``FileStorageObserver``: records runs in Sacred's file layout, readable by tools made for Sacred.

Differences from Sacred's observer, all invisible to readers of the Sacred layout:

* every file is replaced atomically (temp file in the same directory + ``os.replace``) or grows by a
  single appended write of whole lines, so a killed run leaves valid JSON behind;
* metric points are appended to ``metrics.jsonl`` at each ``log_metrics`` call (a heartbeat's cost
  does not grow with history); when the run ends, ``metrics.json`` is written once from that log,
  compactly, and the log is removed, so an ended run keeps one copy of its points;
* artifacts keep their ``content_type`` and ``metadata`` (``run.json["artifact_meta"]``);
* ``log_table`` rows go to ``tables/<name>.jsonl``;
* runs can be resumed by a fresh observer (``attach``) when undelivered events are replayed.

See docs/storage-file.md for the layout and schema.py for the file names and line formats.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional, Union

from ...observers.base import RunObserver, copy_resource
from ...serialize import dumps, flatten, sacred_flatten
from .schema import (
    ARTIFACT_META_KEY,
    CONFIG_FILE,
    COUT_FILE,
    INFO_FILE,
    LIVE_STATUSES,
    METRICS_FILE,
    METRICS_LOG,
    METRICS_SUMMARY,
    RESOURCES_DIR,
    RUN_FILE,
    SOURCES_DIR,
    TABLE_SUFFIX,
    TABLES_DIR,
    add_to_summary,
    check_artifact_name,
    check_name,
    iso_items,
    json_items,
    metrics_json_from_items,
    metrics_json_text,
    metrics_log_line,
    metrics_log_lines,
    note_change,
    read_json,
    read_metrics_log,
    remove_stale_temporaries,
    temp_name,
    write_atomic,
    write_metrics_json_streaming,
)

__all__ = ["FileStorageObserver"]

PathType = Union[str, os.PathLike]
DEFAULT_FILE_STORAGE_PRIORITY = 20
_MAX_ID_ATTEMPTS = 1000
#: The run id counter of a base directory (a dot file: Sacred and the index skip it).
ID_COUNTER_FILE = ".experimentkit-next-id"
_PLAIN_TYPES = frozenset({int, float, str, bool, type(None)})
_METRIC_KEYS = ("steps", "values", "timestamps")
#: Most characters of metric-log text kept in memory to write metrics.json without reading the log
#: back (~45 characters a point); beyond it the log is read again at the end.
MAX_KEPT_METRIC_CHARS = 1 << 27


class FileStorageObserver(RunObserver):
    """Store each run in ``<basedir>/<id>/`` (run.json, config.json, info.json, cout.txt, ...)."""

    @classmethod
    def create(cls, *args: Any, **kwargs: Any) -> FileStorageObserver:
        """Deprecated Sacred spelling of ``FileStorageObserver(...)``, kept so old scripts run."""
        warnings.warn(
            "FileStorageObserver.create(...) is deprecated; use FileStorageObserver(...).",
            DeprecationWarning,
            stacklevel=2,
        )
        return cls(*args, **kwargs)

    def __init__(
        self,
        basedir: PathType,
        resource_dir: Optional[PathType] = None,
        source_dir: Optional[PathType] = None,
        template: Optional[PathType] = None,
        priority: int = DEFAULT_FILE_STORAGE_PRIORITY,
        copy_artifacts: bool = True,
        copy_sources: bool = True,
    ):
        base = Path(basedir)
        if template is not None:
            if not os.path.exists(template):
                raise FileNotFoundError(f"Couldn't find template file '{template}'")
            template = Path(template)
        elif (base / "template.html").exists():
            template = base / "template.html"
        self.basedir = str(basedir)
        self.resource_dir = Path(resource_dir) if resource_dir else base / RESOURCES_DIR
        self.source_dir = Path(source_dir) if source_dir else base / SOURCES_DIR
        self.template: Optional[Path] = template
        self.priority = priority
        self.copy_artifacts = copy_artifacts
        self.copy_sources = copy_sources
        self.dir: Optional[str] = None
        self.run_entry: Optional[dict] = None
        self.config: Any = None
        self.info: Any = None
        self._cout_cursor = 0
        self._info_text: Optional[str] = None
        self._ended = False
        # What this observer appended to metrics.jsonl, as {name: {key: [json_items chunk, ...]}}, and
        # the log's size after it; None once the log holds lines it did not write (see _metrics_json).
        self._kept_items: Optional[dict] = None
        self._kept_chars = 0
        self._log_size = 0
        self._log_damaged = False
        # The metrics' summaries (None: not kept, readers summarise the log) and the file sizes the
        # saved ones describe.
        self._summaries: Optional[dict] = None
        self._summaries_saved: Optional[dict] = None

    def __repr__(self) -> str:
        return f"FileStorageObserver({self.basedir!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FileStorageObserver):
            return os.path.abspath(self.basedir) == os.path.abspath(other.basedir)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(os.path.abspath(self.basedir))

    # ---- run lifecycle --------------------------------------------------------------------------
    def sweep_book(self) -> Any:
        """Sweep records beside the runs (``sweeps/`` in the same directory)."""
        from .sweeps import FileSweepBook

        return FileSweepBook(self.basedir)

    def queued_event(
        self,
        ex_info: dict,
        command: str,
        host_info: dict,
        queue_time: _dt.datetime,
        config: dict,
        meta_info: dict,
        _id: Any,
    ) -> Any:
        """Create the run directory with status QUEUED; sources are copied into it (as Sacred)."""
        with self._new_run_dir(_id) as run_id:
            if self.copy_sources:
                for relpath, _md5 in ex_info.get("sources", []):
                    source = os.path.join(ex_info.get("base_dir") or "", relpath)
                    _copy_atomic(source, self._path(os.path.basename(relpath)))
            self._start_entry(
                {
                    "experiment": dict(ex_info),
                    "command": command,
                    "host": dict(host_info),
                    "meta": meta_info,
                    "status": "QUEUED",
                },
                config,
            )
        return run_id

    def started_event(
        self,
        ex_info: dict,
        command: str,
        host_info: dict,
        start_time: _dt.datetime,
        config: dict,
        meta_info: dict,
        _id: Any,
    ) -> Any:
        """Store the sources, claim an id, write run.json (RUNNING), config.json and cout.txt."""
        experiment = dict(ex_info)
        experiment["sources"] = self._save_sources(ex_info)
        with self._new_run_dir(_id) as run_id:
            write_atomic(self._path(COUT_FILE), b"")
            self._start_entry(
                {
                    "experiment": experiment,
                    "command": command,
                    "host": dict(host_info),
                    "start_time": start_time.isoformat(),
                    "meta": meta_info,
                    "status": "RUNNING",
                    "resources": [],
                    "artifacts": [],
                    "heartbeat": None,
                },
                config,
            )
        return run_id

    def heartbeat_event(
        self, info: dict, captured_out: Optional[str], beat_time: _dt.datetime, result: Any
    ) -> None:
        """Append the new output, refresh run.json (heartbeat, result) and info.json."""
        self.info = info
        self._save_cout(captured_out)
        self._entry["heartbeat"] = beat_time.isoformat()
        self._entry["result"] = sacred_flatten(result)
        self._save_json(RUN_FILE, self._entry)
        self._save_info()
        self._save_summaries()
        self._note_if_ended()

    def completed_event(self, stop_time: _dt.datetime, result: Any) -> None:
        """Mark the run COMPLETED with its result."""
        self._entry["result"] = sacred_flatten(result)
        self._finish(stop_time, "COMPLETED")

    def interrupted_event(self, interrupt_time: _dt.datetime, status: str) -> None:
        """Mark the run with the interrupt's status (INTERRUPTED, TIMEOUT, ...)."""
        self._finish(interrupt_time, status)

    def failed_event(self, fail_time: _dt.datetime, fail_trace: list) -> None:
        """Mark the run FAILED and keep the traceback lines."""
        self._entry["fail_trace"] = fail_trace
        self._finish(fail_time, "FAILED")

    # ---- files produced and consumed by the run -------------------------------------------------
    def resource_event(self, filename: str, copy: Optional[bool] = None) -> None:
        """Keep a content-addressed copy of an input file (``[filename, copy]`` in run.json), or
        only its md5 (``[filename, md5]``) for large files and ``copy=False``."""
        if copy_resource(filename, copy):
            entry = [filename, str(self._find_or_save(filename, self.resource_dir))]
        else:
            entry = [filename, _md5(filename)]
        if entry not in self._entry["resources"]:
            self._entry["resources"].append(entry)
            self._save_json(RUN_FILE, self._entry)
            self._note_if_ended()

    def artifact_event(
        self, name: str, filename: str, metadata: Any = None, content_type: Optional[str] = None
    ) -> None:
        """Copy ``filename`` to ``<run dir>/<name>``; record its content type and metadata too."""
        self.save_file(filename, name)
        if name not in self._entry["artifacts"]:
            self._entry["artifacts"].append(name)
        self._entry.setdefault(ARTIFACT_META_KEY, {})[name] = {
            "content_type": content_type,
            "metadata": metadata,
        }
        self._save_json(RUN_FILE, self._entry)
        self._note_if_ended()

    def save_file(self, filename: str, target_name: Optional[str] = None) -> None:
        """Copy ``filename`` into the run directory as ``target_name`` (default: its basename),
        without listing it as an artifact (Sacred's method, which subclasses call).  The store's own
        files (``cout.txt``, ``run.json`` ...) are refused with ``FileExistsError``, as in Sacred."""
        name = os.path.basename(filename) if target_name is None else target_name
        parts = check_artifact_name(name)
        dest = self._path(*parts)
        if len(parts) > 1:  # folders inside the run directory, never through a symlink out of it
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            if not _is_within(os.path.dirname(dest), self._path()):
                raise ValueError(
                    f"Cannot store the artifact {name!r}: its folder leads out of the run directory"
                )
        if not (os.path.exists(dest) and os.path.samefile(filename, dest)):
            _copy_atomic(filename, dest)

    def log_metrics(self, metrics_by_name: dict, info: dict) -> None:
        """Append the new points to the metric log (the cost does not depend on older points)."""
        batch = [
            (
                name,
                _column_items(series["steps"]),
                _column_items(series["values"]),
                _stamp_items(series["timestamps"]),
            )
            for name, series in metrics_by_name.items()
        ]
        if not batch:
            return
        data = "".join(metrics_log_line(name, *columns) for name, *columns in batch).encode("utf-8")
        if self._ended:  # a late (replayed) batch: back to the log the end replaced
            self._seed_log()
        _append(self._path(METRICS_LOG), data)
        self._keep_items(batch, len(data))
        self._summarize(metrics_by_name)
        if self._ended:  # keep metrics.json complete, and the one copy
            self._save_metrics_json()
            self._save_summaries()
            self._drop_log()
            self._note_if_ended()

    def log_table(self, name: str, rows: list) -> None:
        """Append ``rows`` (flat dicts) as JSON lines to ``tables/<name>.jsonl``."""
        check_name("table", name)
        if not rows:
            return
        folder = self._path(TABLES_DIR)
        os.makedirs(folder, exist_ok=True)
        text = "".join(json.dumps(flatten(row), separators=(",", ":")) + "\n" for row in rows)
        _append(os.path.join(folder, name + TABLE_SUFFIX), text.encode("utf-8"))

    # ---- replay ---------------------------------------------------------------------------------
    def replay_spec(self) -> dict:
        """How to rebuild this observer in another process (absolute paths: the cwd may differ)."""
        return {
            "factory": "experimentkit.backends.file.observer:FileStorageObserver",
            "kwargs": {
                "basedir": os.path.abspath(self.basedir),
                "resource_dir": os.path.abspath(self.resource_dir),
                "source_dir": os.path.abspath(self.source_dir),
                "template": os.path.abspath(self.template) if self.template else None,
                "priority": self.priority,
                "copy_artifacts": self.copy_artifacts,
                "copy_sources": self.copy_sources,
            },
        }

    def attach(self, _id: Any) -> None:
        """Re-open the existing run ``_id`` so later events extend it (cursors from the files)."""
        run_dir = os.path.join(self.basedir, check_name("run id", str(_id)))
        try:
            with open(os.path.join(run_dir, RUN_FILE), encoding="utf-8") as f:
                self.run_entry = json.load(f)
        except FileNotFoundError:
            raise FileNotFoundError(f"Cannot attach to run {_id!r}: {run_dir} has no {RUN_FILE}") from None
        self.dir = run_dir
        self.config = _load_json(os.path.join(run_dir, CONFIG_FILE), None)
        self.info = _load_json(os.path.join(run_dir, INFO_FILE), {})
        self._info_text = None
        try:
            with open(os.path.join(run_dir, COUT_FILE), encoding="utf-8", errors="replace") as f:
                self._cout_cursor = len(f.read())
        except FileNotFoundError:
            self._cout_cursor = 0
        _drop_torn_tail(os.path.join(run_dir, METRICS_LOG))
        self._kept_items = None  # the log holds lines written by another observer
        self._log_damaged = False
        self._summaries = None  # which this observer has not summarised
        self._ended = self.run_entry.get("status") not in LIVE_STATUSES

    # ---- helpers --------------------------------------------------------------------------------
    def _path(self, *parts: str) -> str:
        """A path in the run directory, which every event after the run's opening one has."""
        assert self.dir is not None
        return os.path.join(self.dir, *parts)

    @property
    def _entry(self) -> dict:
        """``run_entry``, set by the opening event (or ``attach``) before any other event."""
        assert self.run_entry is not None
        return self.run_entry

    @contextlib.contextmanager
    def _new_run_dir(self, _id: Any) -> Iterator[Any]:
        """Claim a run directory and remove it again if the event fails, so a retry starts clean."""
        run_id = self._make_run_dir(_id)
        try:
            yield run_id
        except BaseException:
            shutil.rmtree(self._path(), ignore_errors=True)
            self.dir = None
            if _id is None:  # hand the number back unless another run took the next one since
                with _IdCounter(os.path.join(self.basedir, ID_COUNTER_FILE)) as counter:
                    if counter.read() == int(run_id) + 1:
                        counter.write(int(run_id))
            raise

    def _make_run_dir(self, _id: Any) -> Any:
        """Claim the run directory with an atomic mkdir; on a collision try the next number."""
        os.makedirs(self.basedir, exist_ok=True)
        if _id is not None:
            run_dir = os.path.join(self.basedir, check_name("run id", str(_id)))
            os.mkdir(run_dir)
            self.dir = run_dir
            return _id
        with _IdCounter(os.path.join(self.basedir, ID_COUNTER_FILE)) as counter:
            candidate = counter.read()
            if candidate is None:
                candidate = _max_numeric_id(self.basedir) + 1
            for attempt in range(_MAX_ID_ATTEMPTS):
                run_dir = os.path.join(self.basedir, str(candidate))
                try:
                    os.mkdir(run_dir)
                except FileExistsError:
                    # made by hand, by Sacred or by a writer without the counter: look at them all
                    scanned = _max_numeric_id(self.basedir) + 1 if attempt == 0 else 0
                    candidate = max(candidate + 1, scanned)
                    continue
                counter.write(candidate + 1)
                self.dir = run_dir
                return str(candidate)
        raise FileExistsError(
            f"Could not claim a run directory in {self.basedir} after "
            f"{_MAX_ID_ATTEMPTS} attempts (ids up to {candidate} are taken)."
        )

    def _start_entry(self, entry: dict, config: Any) -> None:
        """Reset per-run state; write config.json, then run.json (which marks a complete start)."""
        self.run_entry = entry
        self.config = config
        self.info = {}
        self._info_text = None
        self._cout_cursor = 0
        self._ended = False
        self._kept_items, self._kept_chars, self._log_size = {}, 0, 0
        self._log_damaged = False  # the log holds lines that could not be read
        self._summaries = {}
        self._summaries_saved = None
        self._save_json(CONFIG_FILE, config)
        self._save_json(RUN_FILE, entry)

    def _finish(self, stop_time: _dt.datetime, status: str) -> None:
        """Write metrics.json and info.json first, so that a final status implies complete files;
        then drop the metric log, which metrics.json now holds in full."""
        ended_before = self._ended  # a re-sent end (replay): indexes no longer watch this run
        self._ended = True
        self._entry["stop_time"] = stop_time.isoformat()
        self._entry["status"] = status
        self._save_metrics_json()
        self._save_summaries()
        self._save_info()
        self._save_json(RUN_FILE, self._entry)
        self._drop_log()
        self._render_template()
        remove_stale_temporaries(self._path())  # a killed writer's, from an earlier process
        if ended_before:
            self._note_if_ended()

    def _note_if_ended(self) -> None:
        """After a write to a run that had ended: a query index stops looking at a run once it
        ended, so the change is announced in the store's journal (``note_change``)."""
        if self._ended:
            note_change(self.basedir, os.path.basename(self._path()))

    def _save_json(self, name: str, obj: Any) -> None:
        write_atomic(self._path(name), dumps(obj).encode("utf-8"))

    def _save_cout(self, captured_out: Optional[str]) -> None:
        """Append what was printed since the last beat (captured output only ever grows)."""
        if not captured_out or len(captured_out) <= self._cout_cursor:
            return
        new = captured_out[self._cout_cursor :]
        _append(self._path(COUT_FILE), new.encode("utf-8", errors="replace"))
        self._cout_cursor = len(captured_out)

    def _save_info(self) -> None:
        if not self.info:
            return
        text = dumps(sacred_flatten(self.info))
        if text != self._info_text:
            write_atomic(self._path(INFO_FILE), text.encode("utf-8"))
            self._info_text = text

    def _summarize(self, metrics_by_name: dict) -> None:
        """Keep each metric's last/min/max/count up to date (C-speed passes over each batch)."""
        if self._summaries is None:
            return
        for name, series in metrics_by_name.items():
            empty = {"last": None, "min": None, "max": None, "count": 0}
            summary = add_to_summary(self._summaries.get(name, empty), list(series["values"]))
            if summary is None:
                self._summaries = None  # something else than numbers: readers summarise the log
                return
            self._summaries[name] = summary

    def _save_summaries(self) -> None:
        """Write metrics_summary.json for the log as it is now and, once the run has ended, for
        metrics.json (readers check the size of whichever file holds the points)."""
        if not self._summaries or self._log_damaged:  # they would not describe the log
            return
        sizes = {"log_size": _file_size(self._path(METRICS_LOG))}
        if self._ended:
            sizes["json_size"] = _file_size(self._path(METRICS_FILE))
        if sizes == self._summaries_saved:
            return
        text = json.dumps({**sizes, "metrics": self._summaries})
        write_atomic(self._path(METRICS_SUMMARY), text.encode("utf-8"))
        self._summaries_saved = sizes

    def _save_metrics_json(self) -> None:
        """Materialise Sacred's metrics.json (the bytes of ``json.dumps(sort_keys=True,
        separators=(",", ":"))``); a log too big to hold is laid out streaming, in bounded
        memory."""
        self._seed_log()
        path = self._path(METRICS_FILE)
        log = self._path(METRICS_LOG)
        if self._kept_items is None and _file_size(log) > MAX_KEPT_METRIC_CHARS:
            tmp = temp_name(path)
            damaged: list = []
            try:
                with (
                    tempfile.TemporaryDirectory(dir=self.dir, prefix=".spool") as spool_dir,
                    open(tmp, "xb") as out,
                ):
                    write_metrics_json_streaming(log, out, spool_dir, damaged)
                os.replace(tmp, path)
            finally:
                _unlink_quietly(tmp)
            self._log_damaged = bool(damaged)
            return
        write_atomic(path, self._metrics_json().encode("utf-8"))

    def _seed_log(self) -> None:
        """Rebuild the metric log from metrics.json when the run's end removed it and points come
        again (a replayed batch, a re-sent end): later writes then extend every point, not only
        the new ones."""
        log = self._path(METRICS_LOG)
        if os.path.exists(log):
            return
        metrics = read_json(self._path(METRICS_FILE))
        if not metrics:
            return
        self._kept_items = None  # the log now holds points this observer did not keep
        lines = metrics_log_lines(
            (name, s.get("steps") or [], s.get("values") or [], s.get("timestamps") or [])
            for name, s in sorted(metrics.items())
        )
        write_atomic(log, lines.encode("utf-8"))

    def _drop_log(self) -> None:
        """Remove the metric log once metrics.json holds all of it (one copy of the points); a log
        with lines that could not be read stays, for readers to report."""
        if not self._log_damaged:
            _unlink_quietly(self._path(METRICS_LOG))

    def _metrics_json(self) -> str:
        """From the kept log text while the log holds only what this observer appended (checked by
        its size: a replay from another process appends too); else by reading the log once."""
        log = self._path(METRICS_LOG)
        if self._kept_items is not None and _file_size(log) == self._log_size:
            return metrics_json_from_items(self._kept_items)
        self._kept_items = None
        damaged: list = []
        text = metrics_json_text(read_metrics_log(log, damaged))  # what is readable
        self._log_damaged = bool(damaged)
        return text

    def _keep_items(self, batch: list, size: int) -> None:
        """Remember the columns just appended (their item text), up to ``MAX_KEPT_METRIC_CHARS``."""
        if self._kept_items is None:
            return
        self._log_size += size
        self._kept_chars += size
        if self._kept_chars > MAX_KEPT_METRIC_CHARS:
            self._kept_items = None
            return
        for name, *columns in batch:
            series = self._kept_items.get(name)
            if series is None:
                series = self._kept_items[name] = {key: [] for key in _METRIC_KEYS}
            for key, items in zip(_METRIC_KEYS, columns):
                if items:
                    series[key].append(items)

    def _save_sources(self, ex_info: dict) -> list:
        """Return ``[[relpath, stored path relative to basedir]]``, copying sources if asked to."""
        out = []
        for relpath, _md5 in ex_info.get("sources", []):
            abspath = os.path.join(ex_info.get("base_dir") or "", relpath)
            stored = self._find_or_save(abspath, self.source_dir) if self.copy_sources else abspath
            out.append([relpath, os.path.relpath(str(stored), self.basedir)])
        return out

    def _find_or_save(self, filename: str, store_dir: Path) -> Union[str, Path]:
        """Content-addressed copy ``<stem>_<md5><ext>``; files already under basedir are not copied
        when ``copy_artifacts`` is off (as in Sacred)."""
        if not self.copy_artifacts and _is_within(filename, self.basedir):
            return filename
        stem, ext = os.path.splitext(os.path.basename(filename))
        stored = store_dir / f"{stem}_{_md5(filename)}{ext}"
        if not stored.exists():
            store_dir.mkdir(parents=True, exist_ok=True)
            _copy_atomic(filename, str(stored))
        return stored

    def _render_template(self) -> None:
        """Render the mako template (if any, and if mako is installed) to ``report<ext>``."""
        if self.template is None:
            return
        try:
            from mako.template import Template
        except ImportError:
            return
        with open(self._path(COUT_FILE), encoding="utf-8", errors="replace") as f:
            cout = f.read()
        report = Template(filename=str(self.template)).render(
            run=self.run_entry, config=self.config, info=self.info, cout=cout, savedir=self.dir
        )
        report_path = self._path("report" + self.template.suffix)
        write_atomic(report_path, report.encode("utf-8"))


def _column_items(values: Any) -> str:
    """``json_items`` of a column; ``flatten`` only if some item is not plain."""
    if type(values) is not list:
        values = list(values)
    if not set(map(type, values)) <= _PLAIN_TYPES:
        values = flatten(values)
    return json_items(values)


def _stamp_items(stamps: Any) -> str:
    """Like ``_column_items`` for timestamps, which are written as ``isoformat`` strings."""
    if type(stamps) is not list:
        stamps = list(stamps)
    if set(map(type, stamps)) == {_dt.datetime}:
        return iso_items(stamps)
    return _column_items([t.isoformat() if isinstance(t, (_dt.datetime, _dt.date)) else t for t in stamps])


def _file_size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


def _copy_atomic(source: str, dest: str) -> None:
    tmp = temp_name(dest)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, dest)
    except BaseException:
        _unlink_quietly(tmp)
        raise


def _append(path: str, data: bytes) -> None:
    """Append ``data`` with one write on an O_APPEND descriptor (whole lines, never interleaved).

    All or nothing: if the disk fills up part-way, the file is cut back to its length before the
    call and the error raised, so the retry of this event starts on a fresh line instead of after
    half a line (which would make the log unreadable from there on).
    """
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        before = os.fstat(fd).st_size
        try:
            written = os.write(fd, data)
            while written < len(data):  # a short write (disk full, signal): finish the chunk
                written += os.write(fd, data[written:])
        except BaseException:
            os.ftruncate(fd, before)
            raise
    finally:
        os.close(fd)


def _drop_torn_tail(path: str) -> None:
    """Cut a log back to its last complete line, so appends after a crash start on a fresh line."""
    try:
        with open(path, "rb+") as f:
            data = f.read()
            end = data.rfind(b"\n") + 1
            if end != len(data):
                f.truncate(end)
    except FileNotFoundError:
        pass


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _load_json(path: str, default: Any) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return default


class _IdCounter:
    """The next run id of a base directory, in a file held under an exclusive ``flock`` while a
    run directory is claimed: starting a run costs one small read and write, not a listing of
    every run.  The counter is only a hint: the directory is still claimed by an atomic
    ``mkdir``, and a taken number (a directory made by hand, by Sacred, or a counter left
    behind by a crash) sends the allocation back to scanning the directory.  Where ``flock`` is
    not available (Windows, some network file systems) every allocation scans, as Sacred does."""

    def __init__(self, path: str):
        self.path = path
        self.fd: Optional[int] = None

    def __enter__(self) -> _IdCounter:
        try:
            import fcntl

            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except (ImportError, OSError):
            return self
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            os.close(fd)
            return self
        self.fd = fd
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.fd is not None:
            os.close(self.fd)  # releases the lock
            self.fd = None

    def read(self) -> Optional[int]:
        """The stored next id, or None (no counter yet, unreadable, or no lock held)."""
        if self.fd is None:
            return None
        text = os.pread(self.fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text.isdigit() else None

    def write(self, next_id: int) -> None:
        if self.fd is not None:
            data = f"{next_id}\n".encode("ascii")
            os.pwrite(self.fd, data, 0)
            os.ftruncate(self.fd, len(data))


def _max_numeric_id(basedir: str) -> int:
    with os.scandir(basedir) as entries:
        ids = [int(e.name) for e in entries if e.name.isascii() and e.name.isdigit() and e.is_dir()]
    return max(ids, default=0)


def _is_within(filename: str, folder: str) -> bool:
    try:
        Path(filename).resolve().relative_to(Path(folder).resolve())
    except ValueError:
        return False
    return True


def _md5(filename: str) -> str:
    digest = hashlib.md5()
    with open(filename, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
