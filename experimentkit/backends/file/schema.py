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
import datetime as _dt
import itertools
import json
import math
import operator
import os
import shutil
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
    "splits_at_commas",
    "json_problem",
    "iso_items",
    "metrics_log_line",
    "metrics_json_text",
    "metrics_json_from_items",
    "read_metric_series",
    "METRICS_SUMMARY",
    "add_to_summary",
    "read_metric_summaries",
    "write_metrics_json_streaming",
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

_SCALAR_TYPES = frozenset({int, float, str, bool, type(None)})
_NUMBER_TYPES = frozenset({int, float})
_METRIC_COLUMNS = ("steps", "timestamps", "values")  # metrics.json's keys, sorted
_ITEM_BREAK = ",\n      "  # between the items of a column in metrics.json (indent 2, third level)
_ITEM_BREAK_BYTES = _ITEM_BREAK.encode()
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


def splits_at_commas(values: list, items: str) -> bool:
    """Whether ``items`` (``json_items(values)``) holds only scalars and commas only between them.

    Such text can be laid out as metrics.json's indented list by a string replace; strings with
    commas, lists or dicts inside a column need the JSON encoder's own layout.
    """
    return set(map(type, values)) <= _SCALAR_TYPES and items.count(",") == len(values) - 1


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
    """``json.dumps(metrics, sort_keys=True, indent=2)`` for ``{name: {key: list}}``, faster.

    The standard library lays out indented JSON with its pure-Python encoder (~1.3 s for 10^6
    points); here each column is encoded by the C encoder and its line breaks are inserted after.
    """
    return _layout_series(
        {
            name: {key: _column_parts(column) for key, column in series.items()}
            for name, series in metrics.items()
        }
    )


def metrics_json_from_items(items_by_name: dict) -> str:
    """metrics.json text from ``{name: {key: [json_items chunk, ...]}}`` whose chunks all passed
    ``splits_at_commas``: what the file observer kept of the log lines it wrote itself."""
    return _layout_series(
        {
            name: {key: _indented_list(chunks) for key, chunks in series.items()}
            for name, series in items_by_name.items()
        }
    )


def _column_parts(column: Any) -> list:
    """A column as ``json.dumps(..., sort_keys=True, indent=2)`` lays it out two levels deep."""
    if type(column) is list:
        items = json_items(column)
        if splits_at_commas(column, items):
            return _indented_list([items])
    # Encoded JSON has no raw newline but the layout's, so re-indenting the lines nests the text.
    return [json.dumps(column, sort_keys=True, indent=2).replace("\n", "\n    ")]


def _indented_list(chunks: list) -> list:
    """Text parts of the indented list holding the items of every chunk (``json_items`` text)."""
    parts = ["[\n      "]
    for chunk in chunks:
        if chunk:
            parts += (chunk.replace(",", _ITEM_BREAK), _ITEM_BREAK)
    if len(parts) == 1:
        return ["[]"]
    parts[-1] = "\n    ]"
    return parts


def _layout_series(parts_by_name: dict) -> str:
    """``{name: {key: text parts of the value}}`` as indent-2 JSON with sorted keys.

    Built as one list of parts joined once: a 10^6-point column is ~70 MB of text, and every
    concatenation of it would cost a copy.
    """
    if not parts_by_name:
        return "{}"
    out = ["{"]
    for name, series in sorted(parts_by_name.items()):
        out.append(f"\n  {json.dumps(name)}: ")
        if series:
            out.append("{")
            for key, value in sorted(series.items()):
                out.append(f"\n    {json.dumps(key)}: ")
                out.extend(value)
                out.append(",")
            out[-1] = "\n  }"
        else:
            out.append("{}")
        out.append(",")
    out[-1] = "\n}"
    return "".join(out)


def write_metrics_json_streaming(log_path: str | os.PathLike, out: Any, spool_dir: str) -> bool:
    """Write ``metrics_json_text(read_metrics_log(log_path))`` to the binary file ``out`` with
    memory bounded by the longest log line (not by the points), for logs too big to hold.

    One pass spools each (metric, column) as laid-out text to its own file in ``spool_dir``; the
    spools are then copied into place in sorted order.  Returns False, having written nothing,
    when a column cannot be laid out by a string replace (then the caller reads the log whole).
    """
    spools: dict = {}
    opened: list = []
    names = set()
    try:
        with open(log_path, "rb") as log:
            for raw in log:
                if not raw.endswith(b"\n"):  # the remains of a killed write
                    break
                if not raw.strip():
                    continue
                name, columns = _split_log_line(raw)
                if columns is None:
                    return False
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
                        spool.write(_ITEM_BREAK_BYTES)
                    spool.write(items.replace(b",", _ITEM_BREAK_BYTES))
        if not names:
            out.write(b"{}")
            return True
        out.write(b"{")
        for i, name in enumerate(sorted(names)):
            out.write(f"{',' if i else ''}\n  {json.dumps(name)}: {{".encode())
            for j, key in enumerate(_METRIC_COLUMNS):
                out.write(f'{"," if j else ""}\n    "{key}": '.encode())
                spool = spools.get((name, key))
                if spool is None:
                    out.write(b"[]")
                    continue
                out.write(b"[\n      ")
                spool.seek(0)
                shutil.copyfileobj(spool, out, 1 << 20)
                out.write(b"\n    ]")
            out.write(b"\n  }")
        out.write(b"\n}")
        return True
    finally:
        for spool in opened:
            spool.close()


def _split_log_line(raw: bytes) -> tuple:
    """``(name, (steps, timestamps, values) as json_items bytes)`` of a metric log line, or
    ``(None, None)`` when a column cannot be laid out by a string replace.

    Lines in the observer's own format are cut at their column markers without parsing the points
    (a column whose commas all separate items: numbers, or strings without commas); other lines
    are parsed and re-encoded.
    """
    marks = raw.find(b',"steps":['), raw.find(b'],"values":['), raw.find(b'],"timestamps":[')
    if raw.startswith(b'{"name":"') and raw.endswith(b"]}\n") and -1 < marks[0] < marks[1] < marks[2]:
        name = json.loads(raw[8 : marks[0]])
        steps = raw[marks[0] + 10 : marks[1]]
        values = raw[marks[1] + 12 : marks[2]]
        stamps = raw[marks[2] + 16 : -3]
        if all(_commas_separate(c) for c in (steps, values, stamps)):
            return name, (steps, stamps, values)
    entry = json.loads(raw)
    columns = []
    for key in _METRIC_COLUMNS:
        column = entry[key]
        items = json_items(column) if column else ""
        if column and not splits_at_commas(column, items):
            return None, None
        columns.append(items.encode("utf-8"))
    return entry["name"], tuple(columns)


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
    """``(steps, values, timestamps)`` of one metric of a run directory (timestamps as stored: ISO
    text), or None when the run has no such metric.

    Lines of other metrics are recognised by their first bytes (``{"name":<name>,``, as the
    observer writes them) and never parsed; lines written otherwise are parsed and checked.
    """
    log = os.path.join(run_dir, METRICS_LOG)
    try:
        with open(log, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        series = load_run_metrics(run_dir).get(name)
        if series is None:
            return None
        return (
            list(series.get("steps") or []),
            list(series.get("values") or []),
            list(series.get("timestamps") or []),
        )
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
    return (steps, values, stamps) if found else None


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
    """The summaries the observer kept, if they describe the metric log as it is now, else None."""
    try:
        kept = read_json(os.path.join(run_dir, METRICS_SUMMARY))
        size = os.stat(os.path.join(run_dir, METRICS_LOG)).st_size
    except (OSError, ValueError):
        return None
    if not isinstance(kept, dict) or kept.get("log_size") != size:
        return None
    metrics = kept.get("metrics")
    return metrics if isinstance(metrics, dict) else None


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
