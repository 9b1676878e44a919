"""An example observer plugin: writes every run event as one JSON line to a file.

Installed (``pip install -e examples/plugin_observer``), it adds ``-j FILE`` / ``--jsonl=FILE`` to
the command line of every experiment script, through the entry-point group
``experimentkit.observers``.
"""

from __future__ import annotations

import datetime
import json
import os
from typing import Any

from experimentkit.observers.base import RunObserver

__all__ = ["JsonLinesObserver", "JsonLinesOption", "jsonl_option"]


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    return repr(value)


class JsonLinesObserver(RunObserver):
    """Appends ``{"event": name, ...arguments}`` per event, one whole line at a time."""

    priority = 5

    def __init__(self, path: str):
        self.path = os.path.abspath(path)

    def _write(self, event: str, **fields: Any) -> None:
        line = json.dumps({"event": event, **fields}, default=_jsonable, sort_keys=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line + "\n")

    def started_event(self, ex_info, command, host_info, start_time, config, meta_info, _id):
        self._write(
            "started",
            command=command,
            start_time=start_time,
            config=config,
            experiment=ex_info.get("name"),
            _id=_id,
        )
        return _id

    def queued_event(self, ex_info, command, host_info, queue_time, config, meta_info, _id):
        self._write("queued", command=command, queue_time=queue_time, config=config, _id=_id)
        return _id

    def log_metrics(self, metrics_by_name, info):
        if metrics_by_name:
            self._write("metrics", metrics=metrics_by_name)

    def completed_event(self, stop_time, result):
        self._write("completed", stop_time=stop_time, result=result)

    def interrupted_event(self, interrupt_time, status):
        self._write("interrupted", interrupt_time=interrupt_time, status=status)

    def failed_event(self, fail_time, fail_trace):
        self._write("failed", fail_time=fail_time, fail_trace=fail_trace)


class JsonLinesOption:
    """Write every event of this run as one JSON line to the file FILE."""

    short_flag = "-j"
    long_flag = "--jsonl"
    arg = "FILE"
    arg_description = "Path of the JSON-lines event log (appended to)."

    def apply(self, args: str, run: Any) -> None:
        """Add a JsonLinesObserver writing to ``args``."""
        run.observers.append(JsonLinesObserver(args))


jsonl_option = JsonLinesOption()
