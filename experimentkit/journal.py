"""Fallback journals: the events an observer missed, on disk as JSON lines, for ``experimentkit sync``.

Values are written as JSON with type tags and read back without pickle.  A journal is a header line,
one line per buffered event (with a sequence number) and marker lines for what retries delivered
later, so it can be appended to during an outage and still be read after a SIGKILL (a torn last line
is skipped).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as _dt
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterable
from typing import Any, Optional

__all__ = [
    "encode_value",
    "decode_value",
    "write_journal",
    "read_journal",
    "JOURNAL_FORMAT",
    "process_identity",
    "writer_alive",
]

JOURNAL_FORMAT = "experimentkit-journal"
_TAGS = ("$datetime", "$date", "$tuple", "$bytes", "$float", "$dict", "$repr")


# ---- JSON with type tags (journals are read back without pickle) ---------------------------------
def encode_value(value: Any) -> Any:
    """Event arguments as JSON data; datetimes, tuples, bytes and odd floats keep a type tag."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else {"$float": repr(float(value))}
    if isinstance(value, _dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, _dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: encode_value(v) for k, v in value.items()}
        return {"$dict": [[encode_value(k), encode_value(v)] for k, v in value.items()]}
    if isinstance(value, list):
        return [encode_value(v) for v in value]
    if isinstance(value, tuple):
        return {"$tuple": [encode_value(v) for v in value]}
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):  # numpy scalars and arrays
        # (by module, not by duck typing: a mock or proxy answers every attribute and would recurse)
        return encode_value(value.tolist())
    return {"$repr": repr(value)}


def decode_value(data: Any) -> Any:
    """Inverse of :func:`encode_value` (a ``$repr`` comes back as its string)."""
    if isinstance(data, list):
        return [decode_value(v) for v in data]
    if not isinstance(data, dict):
        return data
    if len(data) == 1:
        ((tag, payload),) = data.items()
        if tag == "$datetime":
            return _dt.datetime.fromisoformat(payload)
        if tag == "$date":
            return _dt.date.fromisoformat(payload)
        if tag == "$tuple":
            return tuple(decode_value(v) for v in payload)
        if tag == "$bytes":
            return base64.b64decode(payload)
        if tag == "$float":
            return float(payload)
        if tag == "$dict":
            return {decode_value(k): decode_value(v) for k, v in payload}
        if tag == "$repr":
            return payload
    return {k: decode_value(v) for k, v in data.items()}


# ---- journal files -------------------------------------------------------------------------------
# A journal is JSON lines: a header, then event lines ``{"seq", "event", "kwargs"}`` and marker lines.
# It is written while the outage lasts, one whole line per ``write`` in append mode, so a process
# killed at any moment leaves a readable journal (at worst a torn last line, which readers skip).
# Markers: ``delivered_through`` (every event with a seq up to it reached the observer), ``opened`` /
# ``assigned_id`` / ``replay_spec`` (learnt after the header was written) and ``finalized`` (the run
# ended; nothing will be appended any more).
def write_journal(path: str, header: dict, events: Iterable[tuple]) -> None:
    """Write a finalized journal atomically: a header line, then one ``{seq, event, kwargs}`` line
    each (used when the journal could not be kept up to date during the run)."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".jsonl")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(_line(_journal_header(header)))
            for seq, (event, kwargs) in enumerate(events):
                fh.write(_line({"seq": seq, "event": event, "kwargs": encode_value(kwargs)}))
            fh.write(_line({"finalized": True}))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_journal(path: str) -> tuple:
    """``(header, [(event, kwargs), ...])``: the events no ``delivered_through`` marker covers, in
    order and compacted like the run's buffer; the header has the markers folded in and
    ``finalized`` set once the run that wrote it ended."""
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    lines = text.split("\n")
    lines.pop()  # after the last newline: empty, or a line torn by a crash (never complete)
    records = []
    for number, line in enumerate(lines, 1):
        try:
            records.append(json.loads(line))
        except ValueError:
            raise ValueError(f"{path}: line {number} is not JSON") from None
    if not records or not isinstance(records[0], dict) or records[0].get("format") != JOURNAL_FORMAT:
        raise ValueError(f"{path} is not an experimentkit fallback journal")
    header = dict(records[0])
    header["finalized"] = header.get("version") == 1  # version 1 was written whole at the end
    delivered = -1
    entries = []
    out = ""
    for record in records[1:]:
        if "event" in record:
            kwargs = record["kwargs"]
            if "out_from" in record:
                kwargs["captured_out"] = out[: record["out_from"]] + kwargs["captured_out"]
            if record["event"] == "heartbeat_event" and isinstance(kwargs.get("captured_out"), str):
                out = kwargs["captured_out"]
            entries.append((record["event"], kwargs, record["seq"]))
            continue
        delivered = max(delivered, record.get("delivered_through", delivered))
        header.update({k: v for k, v in record.items() if k in _MARKER_FIELDS})
    undelivered = [entry for entry in entries if entry[2] > delivered]
    return header, [(event, decode_value(kwargs)) for event, kwargs, _ in _compact(undelivered)]


_MARKER_FIELDS = ("opened", "assigned_id", "replay_spec", "last_error", "finalized")


def _line(record: dict) -> str:
    return json.dumps(record, allow_nan=False) + "\n"


def _journal_header(header: dict) -> dict:
    return dict(header, format=JOURNAL_FORMAT, version=2)


class _Journal:
    """One failing observer's journal, appended to while the run goes on."""

    def __init__(self, path: str, header: dict):
        self.path = path
        self.files_dir = path[: -len(".jsonl")] + ".files"
        self.replay_spec = header.get("replay_spec")
        self.next_seq = 0
        self._last_out: Optional[str] = None  # captured_out of the last journaled heartbeat
        directory = os.path.dirname(path) or "."
        os.makedirs(directory, exist_ok=True)
        # the header goes in with the file (rename), so a journal on disk always has one
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".jsonl")
        try:
            os.write(fd, _line(_journal_header(header)).encode("utf-8"))
            os.close(fd)
            self._fd = os.open(tmp, os.O_WRONLY | os.O_APPEND)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def write(self, record: dict) -> None:
        """Append one line with one ``write`` (whole lines only; flushed: no user-space buffer)."""
        data = _line(record).encode("utf-8")
        while data:  # a regular file takes it at once; a short write only on a full disk
            data = data[os.write(self._fd, data) :]

    def append(self, event: str, kwargs: dict) -> tuple:
        """Journal an event; returns ``(seq, kwargs)`` with artifact files pointing at kept copies."""
        seq = self.next_seq
        kwargs = _keep_artifact_file(event, kwargs, self.files_dir, seq)
        record = {"seq": seq, "event": event, "kwargs": encode_value(kwargs)}
        out = kwargs.get("captured_out") if event == "heartbeat_event" else None
        if isinstance(out, str):
            # the output only grows: store what is new since the last heartbeat line, or a long
            # outage would write the whole output again at every beat
            last = self._last_out
            if last is not None and out.startswith(last):
                record["out_from"] = len(last)
                record["kwargs"]["captured_out"] = out[len(last) :]
            self._last_out = out
        self.write(record)
        self.next_seq += 1
        return seq, kwargs

    def close(self, sync: bool = False) -> None:
        if self._fd >= 0:
            if sync:
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1

    def discard(self) -> None:
        """Everything was delivered: the journal and its kept files go."""
        self.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        shutil.rmtree(self.files_dir, ignore_errors=True)


def process_identity(pid: Optional[int] = None) -> Optional[str]:
    """When process ``pid`` (default: this one) started, in clock ticks since boot (Linux), so that a
    pid reused by another process is not taken for the writer of a journal; None if unknown."""
    fields = _proc_stat(os.getpid() if pid is None else pid)
    return fields[19] if fields else None


def writer_alive(pid: int, started: Optional[str]) -> bool:
    """Whether the process that wrote a journal (``pid``, started at ``started``) still runs here."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: it exists
    fields = _proc_stat(pid)
    if fields is None:
        return True  # no /proc: assume it is the writer
    return fields[0] != "Z" and (started is None or fields[19] == started)


def _proc_stat(pid: int) -> Optional[list]:
    """The fields of /proc/<pid>/stat after the command name (state first), or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()
    return fields if len(fields) > 19 else None


def _compact(pending: list) -> list:
    """Shrink an outage buffer of ``(event, kwargs, seq)``: keep the newest heartbeat, merge adjacent
    metric/table batches (a merged entry keeps the later seq: delivering it covers both)."""
    last_beat = max((i for i, (event, _, _) in enumerate(pending) if event == "heartbeat_event"), default=-1)
    out: list = []
    for i, (event, kwargs, seq) in enumerate(pending):
        if event == "heartbeat_event" and i != last_beat:
            continue
        prev = out[-1] if out else None
        if prev and event == "log_metrics" and prev[0] == "log_metrics":
            merged = {
                "metrics_by_name": _merge_metrics(prev[1]["metrics_by_name"], kwargs["metrics_by_name"]),
                "info": kwargs["info"],
            }
            out[-1] = (event, merged, _later(prev[2], seq))
        elif prev and event == "log_table" and prev[0] == "log_table" and prev[1]["name"] == kwargs["name"]:
            rows = list(prev[1]["rows"]) + list(kwargs["rows"])
            out[-1] = (event, {"name": kwargs["name"], "rows": rows}, _later(prev[2], seq))
        else:
            out.append((event, kwargs, seq))
    return out


def _later(first: Optional[int], second: Optional[int]) -> Optional[int]:
    return first if second is None else second if first is None else max(first, second)


def _merge_metrics(first: dict, second: dict) -> dict:
    """New dicts (observers may keep the ones they were given)."""
    merged = {
        name: {key: (list(val) if isinstance(val, list) else val) for key, val in group.items()}
        for name, group in first.items()
    }
    for name, group in second.items():
        target = merged.setdefault(name, {"name": name, "steps": [], "values": [], "timestamps": []})
        for key in ("steps", "values", "timestamps"):
            target[key].extend(group[key])
    return merged


def _keep_artifact_file(event: str, kwargs: dict, files_dir: str, tag: Any) -> dict:
    """Copy an artifact file next to the journal: often temporary, it may be gone by sync."""
    filename = kwargs.get("filename") if event == "artifact_event" else None
    if not filename or not os.path.isfile(filename):
        return kwargs
    if os.path.dirname(os.path.abspath(filename)) == os.path.abspath(files_dir):
        return kwargs  # already a kept copy
    os.makedirs(files_dir, exist_ok=True)
    copy = os.path.join(files_dir, f"{tag}-{os.path.basename(filename)}")
    shutil.copyfile(filename, copy)
    return dict(kwargs, filename=copy)
