"""The file store layout, shared by the observer (write side) and the store (read side).

A base directory holds one directory per run plus two content-addressed folders::

    <basedir>/_sources/<stem>_<md5><ext>     sources, shared by all runs
    <basedir>/_resources/<stem>_<md5><ext>   resources (input files), shared by all runs
    <basedir>/<id>/run.json                  the run entry (Sacred's keys, plus ``artifact_meta``)
                   config.json  info.json  cout.txt
                   metrics.jsonl             append-only metric log (one JSON object per line)
                   metrics.json              Sacred-shaped metrics, written once when the run ends
                   tables/<name>.jsonl       rows logged with ``log_table`` (JSON lines)
                   <artifact files>

Everything but ``metrics.jsonl``, ``cout.txt`` and the tables is replaced atomically; those only
grow by whole appended lines (cout: chunks), so a reader never sees a half-written JSON document.
Files whose name starts with ``.`` are temporary files of an interrupted write: ignore them.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as _dt
import itertools
import json
import math
import operator
import os
import re
import shutil
import time
from collections.abc import Iterable
from typing import Any, Optional

__all__ = [
    "RUN_FILE",
    "CONFIG_FILE",
    "INFO_FILE",
    "COUT_FILE",
    "METRICS_FILE",
    "METRICS_LOG",
    "TABLES_DIR",
    "TABLE_SUFFIX",
    "SOURCES_DIR",
    "RESOURCES_DIR",
    "RESERVED_NAMES",
    "ARTIFACT_META_KEY",
    "LIVE_STATUSES",
    "check_name",
    "check_artifact_name",
    "metrics_log_lines",
    "read_metrics_log",
    "read_jsonl",
    "load_run_metrics",
    "ANNOTATIONS_FILE",
    "read_json",
    "json_items",
    "json_problem",
    "iso_items",
    "metrics_log_line",
    "metrics_json_text",
    "metrics_json_from_items",
    "read_metric_series",
    "METRICS_SUMMARY",
    "add_to_summary",
    "read_metric_summaries",
    "metric_names_of",
    "write_metrics_json_streaming",
    "CHANGES_FILE",
    "note_change",
    "temp_name",
    "write_atomic",
]

RUN_FILE = "run.json"
CONFIG_FILE = "config.json"
INFO_FILE = "info.json"
COUT_FILE = "cout.txt"
METRICS_FILE = "metrics.json"
METRICS_LOG = "metrics.jsonl"
TABLES_DIR = "tables"
TABLE_SUFFIX = ".jsonl"
SOURCES_DIR = "_sources"
RESOURCES_DIR = "_resources"
#: Per-run tags and notes written by the read side (``{"tags": [...], "notes": "..."}``); kept
#: apart from run.json, which Sacred's tools own.
ANNOTATIONS_FILE = "experimentkit.json"
#: ``{"log_size": bytes of metrics.jsonl summarised, "metrics": {name: {last, min, max, count}}}``,
#: kept by the observer so that reading a run does not parse all its points (valid while the log
#: still has that size).
METRICS_SUMMARY = "metrics_summary.json"
#: run.json key holding ``{artifact name: {"content_type": ..., "metadata": ...}}``
#: (Sacred drops both).
ARTIFACT_META_KEY = "artifact_meta"
#: Names an artifact may not take because the store itself writes them.
RESERVED_NAMES = frozenset(
    {
        RUN_FILE,
        CONFIG_FILE,
        COUT_FILE,
        METRICS_FILE,
        INFO_FILE,
        METRICS_LOG,
        TABLES_DIR,
        ANNOTATIONS_FILE,
        METRICS_SUMMARY,
    }
)
#: Statuses of runs that have not ended; any other status (COMPLETED, FAILED, INTERRUPTED, or the
#: STATUS of a custom interrupt) is final.  RUNNING with a stale heartbeat means the process died.
LIVE_STATUSES = frozenset({"QUEUED", "RUNNING"})
#: The base directory's change journal: one run id per line, appended after a write that a reader
#: could not see otherwise (a change to an ended run, an annotation).  A dot file: Sacred and the
#: index skip it.  See docs/storage-file.md, "How queries stay fresh".
CHANGES_FILE = ".experimentkit-changes"

_NUMBER_TYPES = frozenset({int, float})
_METRIC_COLUMNS = ("steps", "timestamps", "values")  # metrics.json's keys, sorted
_MICROSECOND = operator.attrgetter("microsecond")
_TZINFO = operator.attrgetter("tzinfo")


def check_name(kind: str, name: Any) -> str:
    """Return ``name`` if it is a plain file name, else raise ValueError.

    Artifact and table names become file names inside the run directory; a separator or ``..`` would
    let a run write anywhere on disk.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"Invalid {kind} name {name!r}: expected a non-empty string.")
    seps = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    if name in (".", "..") or any(sep in name for sep in seps) or "\0" in name:
        raise ValueError(
            f"Invalid {kind} name {name!r}: it must be a plain file name without "
            f"path separators and not '.' or '..'."
        )
    return name


def check_artifact_name(name: Any) -> list:
    """The parts of an artifact name: ``/`` separates folders inside the run directory
    (``checkpoints/epoch=0.ckpt``); an empty part, ``.``, ``..``, a backslash, NUL, an absolute
    name raise ValueError, a first part the store uses itself FileExistsError (neither could
    ever be stored)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"Invalid artifact name {name!r}: expected a non-empty string.")
    parts = name.split("/")
    for part in parts:
        try:
            check_name("artifact", part)
        except ValueError:
            raise ValueError(
                f"Invalid artifact name {name!r}: '/'-separated parts must be plain "
                f"file names, not empty, '.' or '..'."
            ) from None
    if parts[0] in RESERVED_NAMES:  # FileExistsError, as Sacred's file observer raises
        raise FileExistsError(
            f"Invalid artifact name {name!r}: the file store uses the name "
            f"{parts[0]!r} itself (reserved: {', '.join(sorted(RESERVED_NAMES))})."
        )
    return parts


def json_items(values: list) -> str:
    """Compact JSON of a JSON-compatible list without its brackets (a column of a metric log line)."""
    return json.dumps(values, separators=(",", ":"))[1:-1]


def iso_items(stamps: list) -> str:
    """``json_items([t.isoformat() for t in stamps])`` for a list of ``datetime.datetime`` objects.

    ``isoformat`` costs ~0.5 µs a call, the biggest part of a large flush.  Sorted naive stamps (what
    a run logs) are formatted one second at a time instead: the second's text once, and the
    microseconds of all its points by a single ``%`` formatting.
    """
    if not _naive_ascending(stamps):
        return json_items(list(map(_dt.datetime.isoformat, stamps)))
    micros = list(map(_MICROSECOND, stamps))
    parts, start, count = [], 0, len(stamps)
    while start < count:
        second = stamps[start]
        end = bisect.bisect_right(stamps, second.replace(microsecond=999_999), start)
        prefix = second.replace(microsecond=0).isoformat()
        parts.append(f'"{prefix}.%06d",' * (end - start) % tuple(micros[start:end]))
        start = end
    # isoformat leaves out a zero fraction; the second's text itself holds no ".".
    return "".join(parts)[:-1].replace('.000000"', '"')


def _naive_ascending(stamps: list) -> bool:
    return set(map(_TZINFO, stamps)) == {None} and all(
        map(operator.le, stamps, itertools.islice(stamps, 1, None))
    )


def metrics_log_line(name: str, steps: str, values: str, timestamps: str) -> str:
    """One metric log line from its columns' ``json_items`` (the bytes ``metrics_log_lines`` makes)."""
    return (
        f'{{"name":{json.dumps(name)},"steps":[{steps}],"values":[{values}],"timestamps":[{timestamps}]}}\n'
    )


def metrics_log_lines(metrics: Iterable[tuple]) -> str:
    """Encode ``(name, steps, values, timestamps)`` batches (JSON-compatible) as metric log lines.

    One line per metric and batch:
    ``{"name": ..., "steps": [...], "values": [...], "timestamps": [iso, ...]}``.
    """
    return "".join(
        metrics_log_line(name, json_items(steps), json_items(values), json_items(timestamps))
        for name, steps, values, timestamps in metrics
    )


def metrics_json_text(metrics: dict) -> str:
    """metrics.json text for ``{name: {key: list}}``: Sacred's shape, laid out compactly
    (``json.dumps(metrics, sort_keys=True, separators=(",", ":"))``, the C encoder's bytes), so the
    one copy of the points a run keeps is smaller than Sacred's indented file and quick to cut."""
    return json.dumps(metrics, sort_keys=True, separators=(",", ":"))


def metrics_json_from_items(items_by_name: dict) -> str:
    """metrics.json text from ``{name: {key: [json_items chunk, ...]}}`` (what the file observer
    kept of the log lines it wrote): the chunks are joined, never decoded; every metric has the
    three columns, empty when no point was kept."""
    out = [
        json.dumps(name)
        + ":{"
        + ",".join(f'"{key}":[{",".join(c for c in series.get(key) or [] if c)}]' for key in _METRIC_COLUMNS)
        + "}"
        for name, series in sorted(items_by_name.items())
    ]
    return "{" + ",".join(out) + "}"


def write_metrics_json_streaming(
    log_path: str | os.PathLike, out: Any, spool_dir: str, damaged: Optional[list] = None
) -> None:
    """Write ``metrics_json_text(read_metrics_log(log_path, damaged))`` to the binary file ``out``
    with memory bounded by the longest log line (not by the points), for logs too big to hold.

    One pass spools each (metric, column) as item text to its own file in ``spool_dir``; the
    spools are then copied into place in sorted order.  A line that is not a metric batch is
    skipped and described in ``damaged`` (else it raises ValueError), as ``read_metrics_log`` does:
    a big log with one bad line still gives its run an end.
    """
    spools: dict = {}
    opened: list = []
    names = set()
    try:
        with open(log_path, "rb") as log:
            for number, raw in enumerate(log, start=1):
                if not raw.endswith(b"\n"):  # the remains of a killed write
                    break
                if not raw.strip():
                    continue
                try:
                    name, columns = _split_log_line(raw)
                except ValueError as e:
                    if damaged is None:
                        raise ValueError(f"{os.fspath(log_path)}: line {number}: {e}") from None
                    damaged.append(f"{os.path.basename(os.fspath(log_path))}: line {number}: {e}")
                    continue
                names.add(name)
                for key, items in zip(_METRIC_COLUMNS, columns):
                    if not items:
                        continue
                    spool = spools.get((name, key))
                    if spool is None:
                        spool = open(os.path.join(spool_dir, str(len(opened))), "w+b")  # noqa: SIM115
                        opened.append(spool)
                        spools[(name, key)] = spool
                    else:
                        spool.write(b",")
                    spool.write(items)
        out.write(b"{")
        for i, name in enumerate(sorted(names)):
            out.write(f"{',' if i else ''}{json.dumps(name)}:{{".encode())
            for j, key in enumerate(_METRIC_COLUMNS):
                out.write(f'{"," if j else ""}"{key}":['.encode())
                spool = spools.get((name, key))
                if spool is not None:
                    spool.seek(0)
                    shutil.copyfileobj(spool, out, 1 << 20)
                out.write(b"]")
            out.write(b"}")
        out.write(b"}")
    finally:
        for spool in opened:
            spool.close()


def _split_log_line(raw: bytes) -> tuple:
    """``(name, (steps, timestamps, values) as json_items bytes)`` of a metric log line.

    Lines in the observer's own format are cut at their column markers without parsing the points
    (when every comma of a column separates items: numbers, or strings without commas); other
    lines are parsed and re-encoded.
    """
    marks = raw.find(b',"steps":['), raw.find(b'],"values":['), raw.find(b'],"timestamps":[')
    if raw.startswith(b'{"name":"') and raw.endswith(b"]}\n") and -1 < marks[0] < marks[1] < marks[2]:
        name = json.loads(raw[8 : marks[0]])
        steps = raw[marks[0] + 10 : marks[1]]
        values = raw[marks[1] + 12 : marks[2]]
        stamps = raw[marks[2] + 16 : -3]
        if all(_commas_separate(c) for c in (steps, values, stamps)):
            return name, (steps, stamps, values)
    try:
        entry = json.loads(raw)
    except ValueError as e:
        raise ValueError(f"not valid JSON ({e})") from None
    if not (
        isinstance(entry, dict)
        and isinstance(entry.get("name"), str)
        and all(isinstance(entry.get(k), list) for k in _METRIC_COLUMNS)
    ):
        raise ValueError("not a metric batch")
    return entry["name"], tuple(json_items(entry[key]).encode("utf-8") for key in _METRIC_COLUMNS)


def _commas_separate(items: bytes) -> bool:
    """Whether every comma of compact JSON list items separates two items (no nesting, no comma
    inside a string)."""
    if b"[" in items or b"{" in items or b"\\" in items:
        return False
    if b'"' not in items:
        return True
    return items.count(b",") == items.count(b'","')


def read_jsonl(path: str | os.PathLike, damaged: Optional[list] = None) -> list:
    """Read a JSON-lines file written by appends; a missing file is empty.

    A last line without its newline is the remains of a write that was killed, and is skipped; any
    other malformed line is corruption: with a ``damaged`` list it is skipped and described there
    (file and line; the lines around it are read), else it raises ValueError naming them.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    end = data.rfind(b"\n") + 1
    out = []
    for number, line in enumerate(data[:end].split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except ValueError as e:
            note = f"{os.path.basename(os.fspath(path))}: line {number} is not valid JSON ({e})"
            if damaged is None:
                raise ValueError(f"{os.fspath(path)}: line {number} is not valid JSON ({e})") from None
            damaged.append(note)
    return out


def read_metrics_log(path: str | os.PathLike, damaged: Optional[list] = None) -> dict:
    """Fold a metric log into Sacred's metrics.json shape
    ``{name: {"steps": [...], "values": [...], "timestamps": [...]}}`` (``damaged``: see
    :func:`read_jsonl`)."""
    out: dict = {}
    for number, entry in enumerate(read_jsonl(path, damaged), start=1):
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("name"), str)
            and all(isinstance(entry.get(k), list) for k in ("steps", "values", "timestamps"))
        ):
            if damaged is None:
                raise ValueError(f"{os.fspath(path)}: entry {number} is not a metric batch")
            damaged.append(f"{os.path.basename(os.fspath(path))}: entry {number} is not a metric batch")
            continue
        series = out.get(entry["name"])
        if series is None:
            series = out[entry["name"]] = {"steps": [], "values": [], "timestamps": []}
        series["steps"].extend(entry["steps"])
        series["values"].extend(entry["values"])
        series["timestamps"].extend(entry["timestamps"])
    return out


def read_metric_series(run_dir: str | os.PathLike, name: str) -> Optional[tuple]:
    """``(steps, values, timestamps)`` of one metric of a run directory, or None when the run has
    no such metric.  Each column is a list or its JSON item text (``bytes``, the form
    ``query.base.ColumnSeries`` decodes on demand); timestamps are always text (ISO, as stored).

    A run that is going (or died) is read from its log: lines of other metrics are recognised by
    their first bytes (``{"name":<name>,``, as the observer writes them) and never parsed; lines
    written otherwise are parsed and checked.  An ended run is read from its metrics.json, whose
    columns are cut out without decoding the points when the file has the compact layout the
    observer writes (anything else is decoded whole).
    """
    log = os.path.join(run_dir, METRICS_LOG)
    try:
        with open(log, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return _metrics_json_series(run_dir, name)
    ours = ('{"name":' + json.dumps(name) + ",").encode("utf-8")
    steps: list = []
    values: list = []
    stamps: list = []
    found = False
    end = data.rfind(b"\n") + 1  # a last line without its newline is a killed write
    for number, line in enumerate(data[:end].split(b"\n"), start=1):
        if not line.startswith(ours) and (line.startswith(b'{"name":"') or not line.strip()):
            continue
        try:
            entry = json.loads(line)
        except ValueError as e:
            raise ValueError(f"{os.fspath(log)}: line {number} is not valid JSON ({e})") from None
        if entry.get("name") != name:
            continue
        found = True
        steps.extend(entry["steps"])
        values.extend(entry["values"])
        stamps.extend(entry["timestamps"])
    return (steps, values, json_items(stamps).encode("utf-8")) if found else None


def _metrics_json_series(run_dir: str | os.PathLike, name: str) -> Optional[tuple]:
    """One metric of metrics.json: cut out of the compact layout, else from the decoded file."""
    try:
        with open(os.path.join(run_dir, METRICS_FILE), "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    try:
        columns = _compact_columns(data, name)
    except ValueError:
        columns = None
    if columns is not None:
        found = columns.get(name)
        return None if found is None else tuple(found[key] for key in ("steps", "values", "timestamps"))
    try:
        metrics = json.loads(data)
    except ValueError as exc:
        raise ValueError(json_problem(METRICS_FILE, exc)) from None
    series = metrics.get(name) if isinstance(metrics, dict) else None
    if not isinstance(series, dict):
        return None
    stamps = [t.isoformat() if isinstance(t, _dt.datetime) else t for t in series.get("timestamps") or []]
    return (
        list(series.get("steps") or []),
        list(series.get("values") or []),
        json_items(stamps).encode("utf-8"),
    )


_COMPACT_SERIES = (b':{"steps":[', b'],"timestamps":[', b'],"values":[')


def _compact_columns(data: bytes, wanted: Optional[str] = None) -> Optional[dict]:
    """``{name: {key: JSON item text}}`` of a metrics.json in the observer's compact layout
    (``{"name":{"steps":[...],"timestamps":[...],"values":[...]},...}``), or None for any other
    text.  Only the metric names are decoded; a column is cut at the first ``]`` that is outside a
    string, and is taken only when it holds no nested list, object or escape.  With ``wanted``,
    only that metric's columns are copied out (the others are checked where they lie)."""
    if data == b"{}":
        return {}
    if not data.startswith(b'{"') or not data.endswith(b"]}}"):
        return None
    out: dict = {}
    pos = 1
    while True:
        name, pos = _name_at(data, pos)
        if name is None:
            return None
        series = {}
        for key, mark in zip(("steps", "timestamps", "values"), _COMPACT_SERIES):
            if not data.startswith(mark, pos):
                return None
            pos += len(mark)
            end = data.find(b"]", pos)
            if end < 0 or any(data.find(c, pos, end) >= 0 for c in (b"[", b"{", b"\\")):
                return None
            if data.find(b'"', pos, end) >= 0 and data.count(b'"', pos, end) % 2:
                return None  # the "]" was inside a string
            series[key] = data[pos:end] if wanted is None or name == wanted else b""
            pos = end
        out[name] = series
        if data.startswith(b"]},", pos):
            pos += 3
        elif pos + 3 == len(data):
            return out
        else:
            return None


def _name_at(data: bytes, pos: int) -> tuple:
    """The JSON string (a metric name) starting at ``pos`` and the position after it."""
    end = data.find(b'":', pos + 1)
    while end > 0 and data[end - 1 : end] == b"\\":  # an escaped quote inside the name
        end = data.find(b'":', end + 1)
    if data[pos : pos + 1] != b'"' or end < 0:
        return None, pos
    name = json.loads(data[pos : end + 1])
    return (name, end + 1) if isinstance(name, str) else (None, pos)


def add_to_summary(summary: Optional[dict], values: list) -> Optional[dict]:
    """``{"last", "min", "max", "count"}`` (as ``query.memory.summarize`` gives) of a series after
    ``values`` are appended; None once the series holds something other than int/float numbers
    (then only a full read summarises it).  C-speed passes over the batch."""
    if summary is None or not values or not set(map(type, values)) <= _NUMBER_TYPES:
        return None if summary is None or values else summary
    try:
        finite = math.isfinite(sum(values, 0.0))
    except OverflowError:
        finite = False
    numeric = values if finite else [v for v in values if v == v]  # NaN is skipped
    low, high = summary["min"], summary["max"]
    if numeric:
        low = min(numeric) if low is None else min(low, min(numeric))
        high = max(numeric) if high is None else max(high, max(numeric))
    return {"last": values[-1], "min": low, "max": high, "count": summary["count"] + len(values)}


def read_metric_summaries(run_dir: str | os.PathLike) -> Optional[dict]:
    """The summaries the observer kept, if they describe the points as they are now (the log's
    size while it exists; once the run's end has replaced it by metrics.json, that file's size),
    else None."""
    try:
        kept = read_json(os.path.join(run_dir, METRICS_SUMMARY))
    except (OSError, ValueError):
        return None
    if not isinstance(kept, dict):
        return None
    try:
        valid = kept.get("log_size") == os.stat(os.path.join(run_dir, METRICS_LOG)).st_size
    except FileNotFoundError:
        try:
            valid = kept.get("json_size") == os.stat(os.path.join(run_dir, METRICS_FILE)).st_size
        except OSError:
            return None
    except OSError:
        return None
    metrics = kept.get("metrics")
    return metrics if valid and isinstance(metrics, dict) else None


def metric_names_of(run_dir: str | os.PathLike) -> list:
    """The sorted names of a run directory's metrics, without decoding its points when the kept
    summaries or the compact metrics.json can tell."""
    summaries = read_metric_summaries(run_dir)
    if summaries is not None:
        return sorted(summaries)
    if not os.path.exists(os.path.join(run_dir, METRICS_LOG)):
        try:
            with open(os.path.join(run_dir, METRICS_FILE), "rb") as f:
                columns = _compact_columns(f.read())
        except (OSError, ValueError):
            columns = None
        if columns is not None:
            return sorted(columns)
    return sorted(load_run_metrics(run_dir, damaged=[]) or {})


def load_run_metrics(run_dir: str | os.PathLike, damaged: Optional[list] = None) -> dict:
    """The metrics of one run directory: the log when there is one (complete even for runs that are
    still going or died), else ``metrics.json`` (directories written by Sacred), else ``{}``.

    With a ``damaged`` list, what cannot be read is described there instead of raising ValueError,
    and everything else is returned."""
    log = os.path.join(run_dir, METRICS_LOG)
    if os.path.exists(log):
        return read_metrics_log(log, damaged)
    try:
        with open(os.path.join(run_dir, METRICS_FILE), encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        if damaged is None:
            raise
        damaged.append(json_problem(METRICS_FILE, exc))
        return {}
    if not isinstance(data, dict):
        if damaged is None:
            raise ValueError(f"{METRICS_FILE} is not a JSON object")
        damaged.append(f"{METRICS_FILE}: not a JSON object")
        return {}
    return data


def json_problem(name: str, exc: ValueError) -> str:
    """``name: line L column C: what`` for a JSON document that does not parse."""
    if isinstance(exc, json.JSONDecodeError):
        return f"{name}: line {exc.lineno} column {exc.colno}: {exc.msg}"
    return f"{name}: {exc}"


def read_json(path: str | os.PathLike, default: Any = None) -> Any:
    """A whole JSON document (NaN/Infinity accepted), or ``default`` when the file is missing.

    Malformed JSON raises ValueError: for files Sacred rewrites in place it means a write is in
    progress, so callers reading live runs retry later.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return default
    return json.loads(data)


def note_change(basedir: str | os.PathLike, run_id: str) -> None:
    """Tell the query index that run ``run_id`` changed: append its id as a JSON string line to the
    journal (one write on
    an ``O_APPEND`` descriptor, a whole line, so concurrent writers never interleave).  Called
    *after* the change, so an index that reads the line reads the changed files."""
    fd = os.open(os.path.join(basedir, CHANGES_FILE), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(str(run_id)) + "\n").encode())
    finally:
        os.close(fd)


def temp_name(path: str) -> str:
    """A hidden temporary beside ``path``, named for the writing process (``.<name>.<pid>.<hex>.tmp``):
    readers skip dot files, and a temporary left by a killed writer says whose it was.
    ``os.urandom``, not ``secrets``: importing secrets (hmac, hashlib) costs a query process ~3 ms."""
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")


#: A temporary this old (seconds) was left by a killed writer: writes take milliseconds, and on a
#: shared file system the age, not whether its process lives here, is what can be known.
STALE_TEMPORARY_AGE = 3600.0
_TEMPORARY = re.compile(r"\..+\.[0-9]+\.[0-9a-f]{8}\.tmp")


def remove_stale_temporaries(folder: str, age: float = STALE_TEMPORARY_AGE) -> list:
    """Delete the temporaries of ``write_atomic`` in ``folder`` (not below it) last changed more
    than ``age`` seconds ago; returns their names.  What cannot be deleted is left."""
    removed: list = []
    limit = time.time() - age
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not _TEMPORARY.fullmatch(entry.name):
            continue
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < limit:
                os.unlink(entry.path)
                removed.append(entry.name)
    return removed


def write_atomic(path: str, data: bytes) -> None:
    """Replace ``path`` with ``data``: readers see the old or the new file, never a partial one."""
    tmp = temp_name(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
