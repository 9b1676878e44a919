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

import json
import os
from collections.abc import Iterable
from typing import Any

__all__ = [
    "RUN_FILE", "CONFIG_FILE", "INFO_FILE", "COUT_FILE", "METRICS_FILE", "METRICS_LOG",
    "TABLES_DIR", "TABLE_SUFFIX", "SOURCES_DIR", "RESOURCES_DIR", "RESERVED_NAMES",
    "ARTIFACT_META_KEY", "LIVE_STATUSES", "check_name", "metrics_log_lines", "read_metrics_log",
    "read_jsonl", "load_run_metrics", "ANNOTATIONS_FILE", "read_json",
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
#: run.json key holding ``{artifact name: {"content_type": ..., "metadata": ...}}``
#: (Sacred drops both).
ARTIFACT_META_KEY = "artifact_meta"
#: Names an artifact may not take because the store itself writes them.
RESERVED_NAMES = frozenset({RUN_FILE, CONFIG_FILE, COUT_FILE, METRICS_FILE, INFO_FILE, METRICS_LOG,
                            TABLES_DIR, ANNOTATIONS_FILE})
#: Statuses of runs that have not ended; any other status (COMPLETED, FAILED, INTERRUPTED, or the
#: STATUS of a custom interrupt) is final.  RUNNING with a stale heartbeat means the process died.
LIVE_STATUSES = frozenset({"QUEUED", "RUNNING"})


def check_name(kind: str, name: Any) -> str:
    """Return ``name`` if it is a plain file name, else raise ValueError.

    Artifact and table names become file names inside the run directory; a separator or ``..`` would
    let a run write anywhere on disk.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"Invalid {kind} name {name!r}: expected a non-empty string.")
    seps = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    if name in (".", "..") or any(sep in name for sep in seps) or "\0" in name:
        raise ValueError(f"Invalid {kind} name {name!r}: it must be a plain file name without "
                         f"path separators and not '.' or '..'.")
    return name


def metrics_log_lines(metrics: Iterable[tuple]) -> str:
    """Encode ``(name, steps, values, timestamps)`` batches (JSON-compatible) as metric log lines.

    One line per metric and batch:
    ``{"name": ..., "steps": [...], "values": [...], "timestamps": [iso, ...]}``.
    """
    return "".join(
        json.dumps({"name": name, "steps": steps, "values": values, "timestamps": timestamps},
                   separators=(",", ":")) + "\n"
        for name, steps, values, timestamps in metrics)


def read_jsonl(path: str | os.PathLike) -> list:
    """Read a JSON-lines file written by appends; a missing file is empty.

    A last line without its newline is the remains of a write that was killed, and is skipped; any
    other malformed line is corruption and raises ValueError naming the file and line.
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
            raise ValueError(f"{os.fspath(path)}: line {number} is not valid JSON ({e})") from None
    return out


def read_metrics_log(path: str | os.PathLike) -> dict:
    """Fold a metric log into Sacred's metrics.json shape
    ``{name: {"steps": [...], "values": [...], "timestamps": [...]}}``."""
    out: dict = {}
    for entry in read_jsonl(path):
        series = out.get(entry["name"])
        if series is None:
            series = out[entry["name"]] = {"steps": [], "values": [], "timestamps": []}
        series["steps"].extend(entry["steps"])
        series["values"].extend(entry["values"])
        series["timestamps"].extend(entry["timestamps"])
    return out


def load_run_metrics(run_dir: str | os.PathLike) -> dict:
    """The metrics of one run directory: the log when there is one (complete even for runs that are
    still going or died), else ``metrics.json`` (directories written by Sacred), else ``{}``."""
    log = os.path.join(run_dir, METRICS_LOG)
    if os.path.exists(log):
        return read_metrics_log(log)
    try:
        with open(os.path.join(run_dir, METRICS_FILE), encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


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
