"""``FileStore``: the read side of file storage (``experimentkit ls runs/``, ``open_store("runs")``).

Reads directories written by experimentkit's ``FileStorageObserver`` or by Sacred 0.8 itself.
Queries go through :class:`~experimentkit.backends.file.index.RunIndex` (an SQLite index that is
brought up to date from the files before each query); single runs, metric series, output, artifacts
and per-sample rows are read from the run directory.  Tags and notes live in
``<run>/experimentkit.json``, replaced atomically, so run.json stays as Sacred's tools wrote it.
Nothing read is unpickled or jsonpickle-decoded.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, BinaryIO, Optional, Union

from ...errors import StoreError, suggest_known
from ...query.base import ColumnSeries, Filter, Key, MetricSeries, Order, Query, RunRecord, Store
from ...query.memory import parse_time
from ...query.semantics import apply_in_python, apply_rows_in_python, id_sort_key
from .index import RunIndex, is_run_name, read_run_dir
from .schema import (
    ANNOTATIONS_FILE,
    ARTIFACT_META_KEY,
    COUT_FILE,
    RUN_FILE,
    TABLE_SUFFIX,
    TABLES_DIR,
    check_name,
    metric_names_of,
    note_change,
    read_json,
    read_jsonl,
    read_metric_series,
    remove_stale_temporaries,
    write_atomic,
)

__all__ = ["FileStore"]

_TIME_FIELDS = ("start_time", "stop_time", "heartbeat")


class FileStore(Store):
    """The runs under one file-storage base directory.

    ``index_path`` overrides where the SQLite index lives (default
    ``<path>/.experimentkit-index.sqlite``; ``":memory:"`` keeps it in this process only, as
    happens anyway when the directory is read-only).
    """

    def __init__(self, path: Union[str, os.PathLike], *, index_path: Optional[str] = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.path = os.path.abspath(os.fspath(path))
        if not os.path.isdir(self.path):
            raise StoreError(f"no run store at '{path}' (not a directory)")
        self._index = RunIndex(self.path, index_path)
        self._checked = False  # the index was refreshed by check_query for the next query

    def __str__(self) -> str:
        return self.path

    @property
    def index_path(self) -> str:
        """Where the index lives (``":memory:"`` when the directory could not hold it)."""
        return self._index.path

    def close(self) -> None:
        self._index.close()

    def sweep_book(self) -> Any:
        from .sweeps import FileSweepBook

        return FileSweepBook(self.path)

    def refresh(self, full: bool = False) -> dict:
        """Update the index from the directories now (queries do this themselves); returns
        ``{"read": runs re-read, "dropped": runs gone, "runs": run directories present}``.
        ``full=True`` re-reads every run directory: the way to make the index see hand edits of
        ended runs (docs/storage-file.md, "How queries stay fresh")."""
        return dict(self._index.refresh(full), runs=self._index.run_dirs())

    # ---- queries --------------------------------------------------------------------------------
    def _refresh(self) -> None:
        """Bring the index up to date, once for a ``check_query`` and the query that follows it."""
        if self._checked:
            self._checked = False
        else:
            self._index.refresh()

    def check_query(self, q: Query) -> None:
        self._index.refresh()
        self._checked = False
        super().check_query(q)
        self._checked = True

    def has_key(self, key: Key) -> bool:
        found = self._index.has_key(key)
        return super().has_key(key) if found is None else found

    def key_names(self, root: str) -> list:
        return self._index.key_names(root)

    def statuses(self) -> list:
        return self._index.statuses()

    def query(self, q: Query) -> list:
        self._refresh()
        docs, done, ordered, limited = self._index.select(q, self.dead_cutoff())
        records = [self._record(doc) for doc in docs]
        return apply_in_python(records, q, filtered=done, ordered=ordered, limited=limited)

    def explain(self, q: Query) -> dict:
        """How ``q`` would run: ``sql`` on the index, the filters left to Python (``in_python``),
        whether the order (``order_in_sql``) and the limit (``limit_in_sql``) are done in SQL, and
        ``top_k``: how a top-k ordered by one metric walks that metric's summary index instead of
        sorting every run (None when ``sql`` runs as it is)."""
        self._index.refresh()
        cutoff = self.dead_cutoff()
        plan = self._index.plan(q, cutoff)
        return {
            "sql": plan["sql"],
            "in_python": [f for f in q.filters if f not in plan["filtered"]],
            "order_in_sql": plan["ordered"],
            "limit_in_sql": plan["limited"],
            "top_k": self._index.top_walk(q, cutoff),
        }

    def count(self, q: Optional[Query] = None) -> int:
        q = Query() if q is None else q
        self._refresh()
        found = self._index.count(q.filters, self.dead_cutoff())
        return super().count(q) if found is None else found

    def get(self, run_id: Any) -> RunRecord:
        name, run_dir = self._run_dir(run_id)
        doc = read_run_dir(run_dir, name)
        if doc is None:
            raise StoreError(
                f"run '{run_id}' in {self} cannot be read right now (its run.json is "
                f"being written); try again"
            )
        return self._record(doc)

    def _record(self, doc: dict) -> RunRecord:
        fields = {name: parse_time(doc[name]) for name in _TIME_FIELDS}
        return self.new_record(
            id=doc["id"],
            status=doc["status"],
            experiment=doc["experiment"],
            command=doc["command"],
            config=doc["config"],
            info=doc["info"],
            host=doc["host"],
            meta=doc["meta"],
            result=doc["result"],
            fail_trace=doc["fail_trace"],
            tags=doc["tags"],
            notes=doc["notes"],
            artifacts=doc["artifacts"],
            metrics=doc["metrics"],
            damaged=list(doc.get("damaged") or []),
            resources=doc.get("resources") or [],
            **fields,
        )

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
        if not _inside(os.path.realpath(run_dir), os.path.realpath(self.path)):
            raise StoreError(f"refusing run '{run_id}': its directory is a link out of the store")
        return name, run_dir

    def _names(self) -> list:
        try:
            return sorted((n for n in os.listdir(self.path) if is_run_name(n)), key=id_sort_key)
        except OSError:
            return []

    # ---- per-run data ---------------------------------------------------------------------------
    def metric_names(self, run_id: Any) -> list:
        _, run_dir = self._run_dir(run_id)
        return metric_names_of(run_dir)  # damage is in the record

    def metric(self, run_id: Any, name: str) -> MetricSeries:
        """One metric, reading only its own log lines (or its own part of metrics.json); the
        columns are decoded when first used, and by numpy for ``to_numpy``."""
        _, run_dir = self._run_dir(run_id)
        try:
            columns = read_metric_series(run_dir, name)
        except ValueError as exc:
            raise StoreError(f"cannot read the metrics of run '{run_id}': {exc}") from None
        if columns is None:
            metrics = self.metric_names(run_id)
            raise StoreError(f"run {run_id} has no metric '{name}'{suggest_known(name, metrics, 'metrics')}")
        return ColumnSeries(name, *columns)

    def captured_out(self, run_id: Any) -> str:
        _, run_dir = self._run_dir(run_id)
        cout = os.path.realpath(os.path.join(run_dir, COUT_FILE))
        if not _inside(cout, os.path.realpath(run_dir)):
            raise StoreError(
                f"refusing the output of run '{run_id}': {COUT_FILE} is a link out of the run directory"
            )
        try:
            with open(cout, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def artifact(self, run_id: Any, name: str) -> BinaryIO:
        """Open an artifact listed in run.json; a name resolving outside the run directory (``..``,
        an absolute path, a symlink out of the store) is refused."""
        _, run_dir = self._run_dir(run_id)
        listed = (read_json(os.path.join(run_dir, RUN_FILE), {}) or {}).get("artifacts") or []
        if name not in listed:
            hint = suggest_known(name, listed, "artifacts")
            raise StoreError(f"run {run_id} has no artifact '{name}'{hint}")
        target = os.path.realpath(os.path.join(run_dir, name))
        if not (_inside(target, os.path.realpath(run_dir)) and _inside(target, os.path.realpath(self.path))):
            raise StoreError(
                f"refusing artifact '{name}' of run {run_id}: it points outside the run directory"
            )
        try:
            return open(target, "rb")
        except (FileNotFoundError, IsADirectoryError):
            raise StoreError(f"artifact '{name}' of run {run_id} is listed but its file is missing") from None

    def source(self, run_id: Any, relpath: str) -> bytes:
        """A copied source file (``_sources/<stem>_<md5><ext>``); a recorded path that resolves
        outside the store (sources not copied, ``..``, a symlink out) is refused, never read."""
        _, run_dir = self._run_dir(run_id)
        experiment = (read_json(os.path.join(run_dir, RUN_FILE), {}) or {}).get("experiment")
        entries = [
            e for e in (experiment or {}).get("sources") or [] if isinstance(e, (list, tuple)) and len(e) > 1
        ]
        stored = [str(e[1]) for e in entries if str(e[0]) == relpath]
        if not stored:
            names = [str(e[0]) for e in entries]
            hint = suggest_known(relpath, names, "source files")
            raise StoreError(f"run {run_id} has no source file '{relpath}'{hint}")
        base = os.path.realpath(self.path)
        target = os.path.realpath(os.path.join(base, stored[0]))
        if os.path.isabs(stored[0]) or not _inside(target, base):
            raise StoreError(
                f"source file '{relpath}' of run {run_id} is not kept in the store (recorded as {stored[0]})"
            )
        try:
            with open(target, "rb") as f:
                return f.read()
        except OSError as exc:
            raise StoreError(
                f"cannot read source file '{relpath}' of run {run_id}: {exc.strerror or exc}"
            ) from None

    def artifact_metadata(self, run_id: Any) -> dict:
        _, run_dir = self._run_dir(run_id)
        meta = (read_json(os.path.join(run_dir, RUN_FILE), {}) or {}).get(ARTIFACT_META_KEY)
        return meta if isinstance(meta, dict) else {}

    def tables(self, run_id: Any) -> list:
        _, run_dir = self._run_dir(run_id)
        try:
            names = os.listdir(os.path.join(run_dir, TABLES_DIR))
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(
            n[: -len(TABLE_SUFFIX)] for n in names if n.endswith(TABLE_SUFFIX) and not n.startswith(".")
        )

    def rows(
        self,
        run_id: Any,
        table: str,
        where: Sequence[Filter] = (),
        order: Sequence[Order] = (),
        limit: Optional[int] = None,
    ) -> list:
        known = self.tables(run_id)
        if table not in known:
            raise StoreError(f"run {run_id} has no table '{table}'{suggest_known(table, known, 'tables')}")
        _, run_dir = self._run_dir(run_id)
        path = os.path.join(run_dir, TABLES_DIR, table + TABLE_SUFFIX)
        damaged: list = []
        rows = read_jsonl(path, damaged)
        for note in damaged:  # the readable rows are answered; say what was skipped
            print(f"experimentkit: warning: run {run_id}: tables/{note}; skipped", file=sys.stderr)
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
        text = json.dumps(data, indent=2, sort_keys=True)
        write_atomic(os.path.join(run_dir, ANNOTATIONS_FILE), text.encode("utf-8"))

    @contextlib.contextmanager
    def _annotating(self, run_id: Any) -> Iterator[tuple]:
        """Read-modify-write of experimentkit.json under an exclusive lock on the run directory
        (``flock`` on its descriptor, no lock file), so concurrent tag/untag/note lose nothing."""
        _, run_dir = self._run_dir(run_id)
        fd = os.open(run_dir, os.O_RDONLY)
        try:
            try:
                import fcntl
            except ImportError:  # no flock on this platform: last writer wins, as before
                fcntl = None  # type: ignore[assignment]  # checked below
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            data = self._annotations(run_dir)
            yield run_dir, data
            self._save_annotations(run_dir, data)
            remove_stale_temporaries(run_dir)  # a killed writer's (this is a writer of the run)
            note_change(self.path, os.path.basename(run_dir))  # the index no longer watches ended runs
        finally:
            os.close(fd)  # releases the lock

    def add_tags(self, run_id: Any, tags: Iterable[str]) -> list:
        with self._annotating(run_id) as (_, data):
            data["tags"] += [t for t in dict.fromkeys(str(t) for t in tags) if t not in data["tags"]]
        return list(data["tags"])

    def remove_tags(self, run_id: Any, tags: Iterable[str]) -> list:
        with self._annotating(run_id) as (_, data):
            drop = {str(t) for t in tags}
            data["tags"] = [t for t in data["tags"] if t not in drop]
        return list(data["tags"])

    def set_note(self, run_id: Any, text: str) -> None:
        with self._annotating(run_id) as (_, data):
            data["notes"] = str(text)

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
