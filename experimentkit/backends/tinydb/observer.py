"""``TinyDbObserver``: Sacred's ``TinyDbObserver(path="./runs_db", overwrite=None)``.

One run document per run in ``<path>/metadata.json`` and file contents in ``<path>/hashfs`` (see
:mod:`.schema`).  Beyond Sacred: metric points go to the table ``metrics`` (one document per run and
metric name), artifacts keep their content type and metadata, and the database file is replaced
atomically, so a killed run never leaves a torn ``metadata.json``.
"""

from __future__ import annotations

import os
import uuid
import warnings
from typing import Any, Optional

from ...observers.base import RunObserver
from . import schema

__all__ = ["TinyDbObserver", "DEFAULT_TINYDB_PRIORITY"]

DEFAULT_TINYDB_PRIORITY = 0


class TinyDbObserver(RunObserver):
    """Stores runs in a local TinyDB database with a HashFS folder for files."""

    VERSION = "TinyDbObserver-0.8.7"  # the format Sacred 0.8.7 writes; readers check the prefix

    @classmethod
    def create(cls, path: str = "./runs_db", overwrite: Any = None) -> TinyDbObserver:
        """Sacred's deprecated spelling of the constructor."""
        warnings.warn(
            "TinyDbObserver.create(...) is deprecated. Please use TinyDbObserver(...) instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        return cls(path, overwrite)

    def __init__(
        self, path: str = "./runs_db", overwrite: Any = None, priority: int = DEFAULT_TINYDB_PRIORITY
    ):
        root = os.path.abspath(path)
        os.makedirs(root, exist_ok=True)
        fs = schema.open_files(root)
        self._setup(schema.open_db(root, fs), fs, overwrite, root, priority)

    @classmethod
    def create_from(
        cls,
        db: Any,
        fs: Any,
        overwrite: Any = None,
        root: Optional[str] = None,
        priority: int = DEFAULT_TINYDB_PRIORITY,
    ) -> TinyDbObserver:
        """Use an existing TinyDB database and HashFS."""
        self = cls.__new__(cls)
        self._setup(db, fs, overwrite, root, priority)
        return self

    def _setup(self, db: Any, fs: Any, overwrite: Any, root: Optional[str], priority: int) -> None:
        self.db = db
        self.runs = db.table("runs")
        self.metrics = db.table("metrics")
        self.fs = fs
        self.overwrite = overwrite
        self.root = root
        self.priority = priority
        self.run_entry: dict = {}
        self.db_run_id: Optional[int] = None

    def __repr__(self) -> str:
        return f"TinyDbObserver({self.root!r})"

    def replay_spec(self) -> Optional[dict]:
        """Rebuild in another process (``experimentkit sync``)."""
        if self.root is None:
            return None
        return {
            "factory": "experimentkit.backends.tinydb.observer:TinyDbObserver",
            "kwargs": {"path": self.root, "priority": self.priority},
        }

    def attach(self, _id: Any) -> None:
        """Re-open the stored run ``_id``."""
        from tinydb import Query

        found = self.runs.get(Query()["_id"] == _id)
        if found is None:
            raise KeyError(f"Cannot attach to run {_id!r}: it is not in {self.root}")
        self.db_run_id = found.doc_id
        self.run_entry = dict(found)

    # ---- events ----------------------------------------------------------------------------------
    def queued_event(self, *args: Any, **kwargs: Any) -> Any:
        """Queued runs are not stored in TinyDB (as in Sacred)."""
        raise NotImplementedError("queued_event method is not implemented for local TinyDbObserver.")

    def started_event(self, ex_info, command, host_info, start_time, config, meta_info, _id):
        from tinydb import Query

        entry = {
            "experiment": dict(ex_info, sources=self._save_sources(ex_info)),
            "format": self.VERSION,
            "command": command,
            "host": dict(host_info),
            "start_time": start_time,
            "config": config,
            "meta": meta_info,
            "status": "RUNNING",
            "resources": [],
            "artifacts": [],
            "captured_out": "",
            "info": {},
            "heartbeat": None,
            "_id": _id if _id is not None else uuid.uuid4().hex,
        }
        uid = (meta_info or {}).get("uid")
        replayed = self.runs.get(Query().meta.uid == uid) if uid else None
        self.run_entry = entry
        if replayed is not None:  # a replayed start: the run is already stored
            self.db_run_id = replayed.doc_id
            self.run_entry = dict(replayed)
        else:
            self.db_run_id = self.runs.insert(self.run_entry)
        return self.run_entry["_id"]

    def heartbeat_event(self, info, captured_out, beat_time, result):
        self._save(info=info, captured_out=captured_out, heartbeat=beat_time, result=result)

    def completed_event(self, stop_time, result):
        self._save(stop_time=stop_time, result=result, status="COMPLETED")

    def interrupted_event(self, interrupt_time, status):
        self._save(stop_time=interrupt_time, status=status)

    def failed_event(self, fail_time, fail_trace):
        self._save(stop_time=fail_time, status="FAILED", fail_trace=fail_trace)

    def resource_event(self, filename):
        file_id = self.fs.put(filename).id
        resource = [filename, file_id, schema.StoredFile(self.fs, file_id)]
        if resource not in self.run_entry["resources"]:
            self._save(resources=self.run_entry["resources"] + [resource])

    def artifact_event(self, name, filename, metadata=None, content_type=None):
        file_id = self.fs.put(filename).id
        artifact = [name, filename, file_id, schema.StoredFile(self.fs, file_id)]
        changes: dict = {}
        if artifact not in self.run_entry["artifacts"]:
            changes["artifacts"] = self.run_entry["artifacts"] + [artifact]
        if metadata is not None or content_type is not None:
            meta = dict(self.run_entry.get("artifact_meta") or {})
            meta[name] = {"content_type": content_type, "metadata": metadata}
            changes["artifact_meta"] = meta
        if changes:
            self._save(**changes)

    def log_metrics(self, metrics_by_name, info):
        from tinydb import Query

        run_id = self.run_entry["_id"]
        for name, series in metrics_by_name.items():
            new = {key: list(series[key]) for key in ("steps", "values", "timestamps")}
            q = Query()
            stored = self.metrics.get((q.run_id == run_id) & (q.name == name))
            if stored is None:
                self.metrics.insert({"run_id": run_id, "name": name, **new})
            else:
                merged = {key: stored[key] + new[key] for key in new}
                self.metrics.update(merged, doc_ids=[stored.doc_id])

    # ---- helpers ---------------------------------------------------------------------------------
    def _save(self, **changes: Any) -> None:
        self.runs.update(changes, doc_ids=[self.db_run_id])
        self.run_entry.update(changes)  # only after the write: a failed event is retried whole

    def _save_sources(self, ex_info: dict) -> list:
        saved = []
        for name, _md5 in ex_info.get("sources") or ():
            path = os.path.expandvars(os.path.expanduser(os.path.join(ex_info.get("base_dir") or "", name)))
            file_id = self.fs.put(path).id
            saved.append([name, file_id, schema.StoredFile(self.fs, file_id)])
        return saved

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TinyDbObserver) and self.runs.all() == other.runs.all()

    __hash__ = RunObserver.__hash__
