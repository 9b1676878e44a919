"""``TinyDbReader``: Sacred's reader of a TinyDB store (search, files, reports, metadata).

Reading decodes only the known tags (dates, numpy arrays, file references); a file reference is a
:class:`~.schema.StoredFile` that opens the stored file read-only from the store's own HashFS folder
when read.  Nothing is unpickled.
"""

from __future__ import annotations

import os
import textwrap
from typing import Any

from . import schema

__all__ = ["TinyDbReader"]

_REPORT = """
-------------------------------------------------
Experiment: {exp_name}
-------------------------------------------------
ID: {exp_id}
Date: {start_date}    Duration: {duration}

Parameters:
{parameters}

Result:
{result}

Dependencies:
{dependencies}

Resources:
{resources}

Source Files:
{sources}

Outputs:
{artifacts}
"""


class TinyDbReader:
    """Read the runs a ``TinyDbObserver`` stored at ``path``."""

    def __init__(self, path: str):
        root = os.path.abspath(path)
        if not os.path.exists(root):
            raise OSError(f"Path does not exist: {path}")
        self.root = root
        self.fs = schema.open_files(root)
        self.db = schema.open_db(root, self.fs)
        self.runs = self.db.table("runs")

    def _decode(self, entry: Any) -> dict:
        return dict(entry)  # the storage has decoded the tags already

    def search(self, *args: Any, **kwargs: Any) -> list:
        """TinyDB's ``search`` on the runs table, with values decoded."""
        return [self._decode(e) for e in self.runs.search(*args, **kwargs)]

    def fetch_metadata(self, exp_name: Any = None, query: Any = None, indices: Any = None) -> list:
        """The run documents matching an experiment name (a regex), a TinyDB query, or indices."""
        from tinydb import Query

        if query is not None or exp_name:
            return self.search(query if query is not None else Query().experiment.name.search(exp_name))
        if indices is None:
            raise ValueError("Must specify an experiment name, indices or pass custom query")
        indices = list(indices) if isinstance(indices, (list, tuple)) else [indices]
        entries = self.runs.all()
        for index in indices:
            if index >= len(entries):
                raise ValueError(
                    f"Index value ({index}) must be less than number of records ({len(entries)})"
                )
        return [self._decode(entries[i]) for i in indices]

    def fetch_files(self, exp_name: Any = None, query: Any = None, indices: Any = None) -> list:
        """Per matching run: ``exp_name``, ``exp_id``, ``date`` and open files by name (sources,
        resources, artifacts)."""
        out = []
        for entry in self.fetch_metadata(exp_name, query, indices):
            record = {
                "exp_name": entry["experiment"]["name"],
                "exp_id": entry["_id"],
                "date": entry["start_time"],
            }
            for key, files in (
                ("sources", {s[0]: s[2] for s in entry["experiment"]["sources"]}),
                ("resources", {r[0]: r[2] for r in entry["resources"]}),
                ("artifacts", {a[0]: a[3] for a in entry["artifacts"]}),
            ):
                if files:
                    record[key] = files
            out.append(record)
        return out

    def fetch_report(self, exp_name: Any = None, query: Any = None, indices: Any = None) -> list:
        """A text report per matching run (Sacred's layout of the report)."""
        reports = []
        for entry in self.fetch_metadata(exp_name, query, indices):
            start = entry["start_time"]
            seconds = (entry["stop_time"] - start).total_seconds() if entry.get("stop_time") else 0.0
            hours, rest = divmod(seconds, 3600)
            minutes, secs = divmod(rest, 60)
            parameters = "\n".join(f"{k}: {v}" for k, v in sorted(entry["config"].items()))
            fields = {
                "parameters": parameters,
                "result": repr(entry.get("result")),
                "dependencies": "\n".join(entry["experiment"].get("dependencies") or ()),
                "resources": "\n".join(r[0] for r in entry["resources"]),
                "sources": "\n".join(s[0] for s in entry["experiment"]["sources"]),
                "artifacts": "\n".join(a[0] for a in entry["artifacts"]),
            }
            fields = {k: _indent(v) or "    None" for k, v in fields.items()}
            reports.append(
                _REPORT.format(
                    exp_name=entry["experiment"]["name"],
                    exp_id=entry["_id"],
                    start_date=start.strftime("%a %d %b %Y"),
                    duration=f"{int(hours):02d}:{int(minutes):02d}:{secs:04.1f}",
                    **fields,
                )
            )
        return reports


def _indent(text: str) -> str:
    wrapper = textwrap.TextWrapper(initial_indent="    ", subsequent_indent="    ", width=150)
    return "\n".join(wrapper.fill(line) for line in text.strip().splitlines())
