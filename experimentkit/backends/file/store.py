"""``FileStore``: the read side of file storage (``experimentkit ls runs/``, ``open_store("runs")``).

Reads directories written by experimentkit's ``FileStorageObserver`` or by Sacred 0.8 itself.
Queries go through :class:`~experimentkit.backends.file.index.RunIndex` (an SQLite index that is
brought up to date from the files before each query); single runs, metric series, output, artifacts
and per-sample rows are read from the run directory.  Tags and notes live in
``<run>/experimentkit.json``, replaced atomically, so run.json stays as Sacred's tools wrote it.
Nothing read is unpickled or jsonpickle-decoded.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterable, Sequence
from typing import Any, BinaryIO, Optional, Union

from ...errors import StoreError, suggest
from ...query.base import Filter, MetricSeries, Order, Query, RunRecord, Store, TextTimeSeries
from ...query.memory import parse_time
from ...query.semantics import apply_in_python, apply_rows_in_python, id_sort_key
from .index import RunIndex, is_run_name, read_run_dir
from .schema import (
    ANNOTATIONS_FILE,
    COUT_FILE,
    RUN_FILE,
    TABLE_SUFFIX,
    TABLES_DIR,
    check_name,
    load_run_metrics,
    read_json,
    read_jsonl,
    read_metric_series,
)

__all__ = ["FileStore"]

_TIME_FIELDS = ("start_time", "stop_time", "heartbeat")


class FileStore(Store):
    """The runs under one file-storage base directory.

    ``index_path`` overrides where the SQLite index lives (default
    ``<path>/.experimentkit-index.sqlite``; ``":memory:"`` keeps it in this process only, as
    happens anyway when the directory is read-only).
    """

    def __init__(self, path: Union[str, os.PathLike], *, index_path: Optional[str] = None,
                 **kwargs: Any):
        super().__init__(**kwargs)
        self.path = os.path.abspath(os.fspath(path))
        if not os.path.isdir(self.path):
            raise StoreError(f"no run store at '{path}' (not a directory)")
        self._index = RunIndex(self.path, index_path)

    def __str__(self) -> str:
        return self.path

    @property
    def index_path(self) -> str:
        """Where the index lives (``":memory:"`` when the directory could not hold it)."""
        return self._index.path

    def close(self) -> None:
        self._index.close()

    def refresh(self) -> dict:
        """Update the index from the directories now (queries do this themselves); returns
        ``{"read": runs re-read, "dropped": runs gone, "runs": runs present}``."""
        return self._index.refresh()

    # ---- queries --------------------------------------------------------------------------------
    def query(self, q: Query) -> list:
        self._index.refresh()
        docs, done, ordered, limited = self._index.select(q, self.dead_cutoff())
        records = [self._record(doc) for doc in docs]
        return apply_in_python(records, q, filtered=done, ordered=ordered, limited=limited)

    def explain(self, q: Query) -> dict:
        """How ``q`` would run: ``sql`` on the index, the filters left to Python (``in_python``),
        and whether the order (``order_in_sql``) and the limit (``limit_in_sql``) are done in SQL."""
        self._index.refresh()
        plan = self._index.plan(q, self.dead_cutoff())
        return {"sql": plan["sql"], "in_python": [f for f in q.filters
                                                  if f not in plan["filtered"]],
                "order_in_sql": plan["ordered"], "limit_in_sql": plan["limited"]}

    def count(self, q: Optional[Query] = None) -> int:
        q = Query() if q is None else q
        self._index.refresh()
        found = self._index.count(q.filters, self.dead_cutoff())
        return super().count(q) if found is None else found

    def get(self, run_id: Any) -> RunRecord:
        name, run_dir = self._run_dir(run_id)
        doc = read_run_dir(run_dir, name)
        if doc is None:
            raise StoreError(f"run '{run_id}' in {self} cannot be read right now (its run.json is "
                             f"being written); try again")
        return self._record(doc)

    def _record(self, doc: dict) -> RunRecord:
        fields = {name: parse_time(doc[name]) for name in _TIME_FIELDS}
        return self.new_record(
            id=doc["id"], status=doc["status"], experiment=doc["experiment"],
            command=doc["command"], config=doc["config"], info=doc["info"], host=doc["host"],
            meta=doc["meta"], result=doc["result"], fail_trace=doc["fail_trace"],
            tags=doc["tags"], notes=doc["notes"], artifacts=doc["artifacts"],
            metrics=doc["metrics"], **fields)

    def _run_dir(self, run_id: Any) -> tuple:
        """(name, directory) of a stored run; names that could leave the base directory are
        unknown."""
        name = str(run_id)
        run_dir = os.path.join(self.path, name)
        try:
            check_name("run id", name)
        except ValueError:
            raise self.unknown_run(run_id) from None
        if not is_run_name(name) or not os.path.isfile(os.path.join(run_dir, RUN_FILE)):
            raise self.unknown_run(run_id, self._names())
        return name, run_dir

    def _names(self) -> list:
        try:
            return sorted((n for n in os.listdir(self.path) if is_run_name(n)), key=id_sort_key)
        except OSError:
            return []

    # ---- per-run data ---------------------------------------------------------------------------
    def _metrics(self, run_id: Any) -> dict:
        _, run_dir = self._run_dir(run_id)
        try:
            return load_run_metrics(run_dir) or {}
        except ValueError as exc:
            raise StoreError(f"cannot read the metrics of run '{run_id}': {exc}") from None

    def metric_names(self, run_id: Any) -> list:
        return sorted(self._metrics(run_id))

    def metric(self, run_id: Any, name: str) -> MetricSeries:
        """One metric, reading only its own log lines; timestamps are parsed when first used."""
        _, run_dir = self._run_dir(run_id)
        try:
            columns = read_metric_series(run_dir, name)
        except ValueError as exc:
            raise StoreError(f"cannot read the metrics of run '{run_id}': {exc}") from None
        if columns is None:
            metrics = self._metrics(run_id)
            raise StoreError(f"run {run_id} has no metric '{name}'{suggest(name, metrics)}")
        return TextTimeSeries(name, *columns)

    def captured_out(self, run_id: Any) -> str:
        _, run_dir = self._run_dir(run_id)
        try:
            with open(os.path.join(run_dir, COUT_FILE), encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def artifact(self, run_id: Any, name: str) -> BinaryIO:
        """Open an artifact listed in run.json; a name resolving outside the run directory (``..``,
        an absolute path, a symlink out of the store) is refused."""
        _, run_dir = self._run_dir(run_id)
        listed = (read_json(os.path.join(run_dir, RUN_FILE), {}) or {}).get("artifacts") or []
        if name not in listed:
            raise StoreError(f"run {run_id} has no artifact '{name}'{suggest(name, listed)}")
        target = os.path.realpath(os.path.join(run_dir, name))
        if not (_inside(target, os.path.realpath(run_dir))
                and _inside(target, os.path.realpath(self.path))):
            raise StoreError(f"refusing artifact '{name}' of run {run_id}: it points outside the "
                             f"run directory")
        try:
            return open(target, "rb")
        except (FileNotFoundError, IsADirectoryError):
            raise StoreError(f"artifact '{name}' of run {run_id} is listed but its file is "
                             f"missing") from None

    def tables(self, run_id: Any) -> list:
        _, run_dir = self._run_dir(run_id)
        try:
            names = os.listdir(os.path.join(run_dir, TABLES_DIR))
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(n[:-len(TABLE_SUFFIX)] for n in names
                      if n.endswith(TABLE_SUFFIX) and not n.startswith("."))

    def rows(self, run_id: Any, table: str, where: Sequence[Filter] = (),
             order: Sequence[Order] = (), limit: Optional[int] = None) -> list:
        known = self.tables(run_id)
        if table not in known:
            raise StoreError(f"run {run_id} has no table '{table}'{suggest(table, known)}")
        _, run_dir = self._run_dir(run_id)
        path = os.path.join(run_dir, TABLES_DIR, table + TABLE_SUFFIX)
        try:
            rows = read_jsonl(path)
        except ValueError as exc:
            raise StoreError(f"cannot read table '{table}' of run {run_id}: {exc}") from None
        return apply_rows_in_python(rows, where, order, limit)

    # ---- annotations and deletion ---------------------------------------------------------------
    def _annotations(self, run_dir: str) -> dict:
        try:
            data = read_json(os.path.join(run_dir, ANNOTATIONS_FILE), {})
        except ValueError:
            data = {}
        data = data if isinstance(data, dict) else {}
        return {"tags": list(data.get("tags") or []), "notes": str(data.get("notes") or "")}

    def _save_annotations(self, run_dir: str, data: dict) -> None:
        """Replace experimentkit.json atomically (temp file + rename, as the observer writes)."""
        path = os.path.join(run_dir, ANNOTATIONS_FILE)
        tmp = os.path.join(run_dir, f".{ANNOTATIONS_FILE}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=2, sort_keys=True)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def add_tags(self, run_id: Any, tags: Iterable[str]) -> list:
        _, run_dir = self._run_dir(run_id)
        data = self._annotations(run_dir)
        data["tags"] += [t for t in dict.fromkeys(str(t) for t in tags) if t not in data["tags"]]
        self._save_annotations(run_dir, data)
        return list(data["tags"])

    def remove_tags(self, run_id: Any, tags: Iterable[str]) -> list:
        _, run_dir = self._run_dir(run_id)
        data = self._annotations(run_dir)
        drop = {str(t) for t in tags}
        data["tags"] = [t for t in data["tags"] if t not in drop]
        self._save_annotations(run_dir, data)
        return list(data["tags"])

    def set_note(self, run_id: Any, text: str) -> None:
        _, run_dir = self._run_dir(run_id)
        data = self._annotations(run_dir)
        data["notes"] = str(text)
        self._save_annotations(run_dir, data)

    def delete(self, run_ids: Iterable[Any]) -> list:
        found = [self._run_dir(run_id) for run_id in run_ids]  # all known before any deletion
        deleted = []
        for name, run_dir in found:
            if name not in deleted:
                shutil.rmtree(run_dir)
                deleted.append(name)
        self._index.forget(deleted)
        return deleted


def _inside(path: str, folder: str) -> bool:
    return path.startswith(folder.rstrip(os.sep) + os.sep)

