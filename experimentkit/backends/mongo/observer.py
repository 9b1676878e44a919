"""``MongoObserver``: runs in MongoDB, in Sacred 0.8's layout (Omniboard and incense read them).

What it does differently from Sacred's:

* A heartbeat sets only ``heartbeat``, ``info`` and ``result`` and appends only the new output, in
  one update.  ``captured_out`` stays a plain string (readers see it as before), grown server-side
  by an update pipeline (``$concat``, MongoDB >= 4.2): a beat costs the same late in a run.
* Output beyond a byte budget (12 MiB by default) goes to GridFS instead of killing the run at
  MongoDB's 16 MiB document limit.
* Every event is one update of one document and is safe to retry: appends are guarded by how much
  was already stored, so a retry after a lost reply neither loses nor duplicates data.
* A server that cannot be reached is a one-line ``ObserverError`` naming the URL within ~3 s.
* Resources are uploaded to GridFS too, and ``log_table`` rows go to a ``tables`` collection.
"""

from __future__ import annotations

import functools
import json
import mimetypes
import os
import re
import sys
import tempfile
import warnings
from typing import Any, Callable, Optional, TypeVar

from ...dependencies import get_digest
from ...errors import ObserverError
from ...observers.base import RunObserver, copy_resource
from ...observers.queue import QueueObserver
from ...serialize import flatten, sacred_flatten
from . import schema

__all__ = ["MongoObserver", "QueuedMongoObserver", "DEFAULT_MONGO_PRIORITY"]

DEFAULT_MONGO_PRIORITY = 30

_FACTORY = "experimentkit.backends.mongo.observer:MongoObserver"
_DUPLICATE_KEY = 11000
_F = TypeVar("_F", bound=Callable[..., Any])


def _reports_connection_errors(method: _F) -> _F:
    """Turn pymongo's long connection errors into one line that names the server."""

    @functools.wraps(method)
    def wrapper(self: MongoObserver, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except ObserverError:
            raise
        except Exception as exc:
            if _is_connection_failure(exc):
                raise _unreachable_class()(self._unreachable(exc)) from exc
            raise

    return wrapper  # type: ignore[return-value]


@functools.lru_cache(maxsize=1)
def _unreachable_class() -> type:
    """The error for a lost connection: an ``ObserverError`` (the dispatcher retries and journals the
    event) that is also pymongo's ``ConnectionFailure``, which code written for Sacred catches."""
    from pymongo.errors import ConnectionFailure

    class MongoUnreachableError(ObserverError, ConnectionFailure):
        pass

    return MongoUnreachableError


class MongoObserver(RunObserver):
    """Stores runs in MongoDB (Sacred's arguments; ``client`` may also be a mongomock client).

    ``**kwargs`` go to ``pymongo.MongoClient``; ``serverSelectionTimeoutMS`` defaults to 3000 so
    that a missing server fails fast.  ``captured_out_budget`` is how many bytes of output a run
    document keeps before the rest is written to GridFS.
    """

    #: Points of one metric per document (bucket): about 45 bytes each, so ~4.5 MB, far below
    #: MongoDB's 16 MiB document limit (Sacred's single ``$push`` document hits it at ~400,000).
    metric_bucket_points: int = 100_000

    VERSION = schema.FORMAT
    COLLECTION_NAME_BLACKLIST = schema.RESERVED_COLLECTIONS

    @classmethod
    def create(cls, *args: Any, **kwargs: Any) -> MongoObserver:
        """Sacred's deprecated spelling of the constructor."""
        warnings.warn(
            "MongoObserver.create(...) is deprecated. Please use MongoObserver(...) instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        return cls(*args, **kwargs)

    def __init__(
        self,
        url: Optional[str] = None,
        db_name: str = "sacred",
        collection: str = "runs",
        collection_prefix: str = "",
        overwrite: Any = None,
        priority: int = DEFAULT_MONGO_PRIORITY,
        client: Any = None,
        failure_dir: Optional[str] = None,
        captured_out_budget: int = schema.DEFAULT_CAPTURED_OUT_BUDGET,
        **kwargs: Any,
    ) -> None:
        if client is not None:
            if not _is_client(client):
                raise ValueError(
                    "client needs to be a pymongo.MongoClient (or a mongomock "
                    f"MongoClient), but is {type(client)} instead"
                )
            if url is not None:
                raise ValueError("Cannot pass both a client and a url.")
        if collection != "runs":
            warnings.warn(
                'Argument "collection" is deprecated. Please use "collection_prefix" instead.',
                DeprecationWarning,
                stacklevel=2,
            )
        names = schema.collection_names(collection, collection_prefix)
        spec: Optional[dict] = None
        if client is None:
            import pymongo

            kwargs.setdefault("serverSelectionTimeoutMS", 3000)
            client = pymongo.MongoClient(url, **kwargs)
            spec_kwargs: dict = {"url": url, "db_name": db_name}
            if collection != "runs":
                spec_kwargs["collection"] = collection
            if collection_prefix:
                spec_kwargs["collection_prefix"] = collection_prefix
            if failure_dir is not None:
                spec_kwargs["failure_dir"] = failure_dir
            spec = {"factory": _FACTORY, "kwargs": spec_kwargs}
        database = client[db_name]
        self._setup(
            database[names["runs"]],
            _gridfs(database),
            overwrite=overwrite,
            metrics=database[names["metrics"]],
            tables=database[names["tables"]],
            failure_dir=failure_dir,
            priority=priority,
            budget=captured_out_budget,
            where=_display_url(url, client),
        )
        self._spec = spec

    @classmethod
    def create_from(
        cls,
        runs: Any,
        fs: Any,
        overwrite: Any = None,
        metrics_collection: Any = None,
        failure_dir: Optional[str] = None,
        priority: int = DEFAULT_MONGO_PRIORITY,
        captured_out_budget: int = schema.DEFAULT_CAPTURED_OUT_BUDGET,
    ) -> MongoObserver:
        """Build from existing collections and a GridFS (tests, dependency injection).

        Without ``metrics_collection`` the metrics go to the collection named after the runs
        collection (``p_runs`` -> ``p_metrics``), where Sacred would drop them.
        """
        self = cls.__new__(cls)
        derived = _sibling_names(runs.name)
        database = runs.database
        if metrics_collection is None:
            metrics_collection = database[derived["metrics"]]
        self._setup(
            runs,
            fs,
            overwrite=overwrite,
            metrics=metrics_collection,
            tables=database[derived["tables"]],
            failure_dir=failure_dir,
            priority=priority,
            budget=captured_out_budget,
            where=_display_url(None, database.client),
        )
        self._spec = None
        return self

    def _setup(
        self,
        runs: Any,
        fs: Any,
        *,
        overwrite: Any,
        metrics: Any,
        tables: Any,
        failure_dir: Optional[str],
        priority: int,
        budget: int,
        where: str,
    ) -> None:
        self.runs = runs
        self.fs = fs
        self.metrics = metrics
        self.tables = tables
        self.overwrite = overwrite
        self.failure_dir = failure_dir
        self.priority = priority
        self.captured_out_budget = int(budget)
        self._where = where
        self._indexed: set = set()
        self._reset(None)

    def _reset(self, run_id: Any) -> None:
        """Forget the previous run (one observer may record several runs in turn)."""
        self._run_id = run_id
        self._entry: dict = {}  # what the document holds, for the failure_dir fallback
        self._last_out = ""  # newest captured_out seen (the document may hold a prefix)
        self._cursor = 0  # characters of output stored (document + spill)
        self._doc_bytes = 0  # UTF-8 bytes of output inside the document
        self._spilled = False
        self._metric_counts: dict = {}  # name -> points stored
        self._metric_ids: dict = {}  # name -> str(ObjectId), in first-stored order
        # name -> signature of the last batch appended: a log_metrics retried after it stored some
        # names but failed on a later one must not append those names' points twice
        self._last_batches: dict = {}
        self._table_counts: dict = {}  # table name -> rows stored
        self._last_artifact: Optional[tuple] = None

    # ---- opening events ---------------------------------------------------------------------
    @_reports_connection_errors
    def sweep_book(self) -> Any:
        """Sweep records beside the runs (a ``sweeps`` collection with the runs' prefix)."""
        from .sweeps import MongoSweepBook

        name = self.runs.name
        return MongoSweepBook(self.runs.database, name[: -len("runs")] if name.endswith("runs") else "")

    def queued_event(
        self,
        ex_info: dict,
        command: str,
        host_info: dict,
        queue_time: Any,
        config: Any,
        meta_info: dict,
        _id: Any,
    ) -> Any:
        """Insert a ``QUEUED`` run document (Sacred's shape) and return its id."""
        if self.overwrite is not None:
            raise RuntimeError("Can't overwrite with QUEUED run.")
        self._ping()
        existing = self._find_by_uid(meta_info)
        if existing is not None:
            self.attach(existing["_id"])
            return existing["_id"]
        doc = {
            "experiment": self._experiment(ex_info),
            "command": command,
            "host": dict(host_info),
            "config": flatten(config),
            "meta": meta_info,
            "status": "QUEUED",
        }
        run_id = self._insert(schema.bson_safe(doc), _id)
        self._reset(run_id)
        self._entry = dict(doc, _id=run_id)
        return run_id

    @_reports_connection_errors
    def started_event(
        self,
        ex_info: dict,
        command: str,
        host_info: dict,
        start_time: Any,
        config: Any,
        meta_info: dict,
        _id: Any,
    ) -> Any:
        """Insert the run document (or fill in the queued/overwritten one); return its id.

        A started_event replayed for a run already stored (same ``meta.uid``) returns the stored
        id and attaches to that run instead of creating a duplicate.
        """
        self._ping()
        target = self._overwrite_target()
        if target is None:
            existing = self._find_by_uid(meta_info)
            if existing is not None and existing.get("status") != "QUEUED":
                self.attach(existing["_id"])
                return existing["_id"]
            target = existing
        if target is not None and _id is not None and _id != target["_id"]:
            raise RuntimeError("Cannot specify both _id and overwrite for MongoObserver.")
        doc = {
            "experiment": self._experiment(ex_info),
            "format": self.VERSION,
            "command": command,
            "host": dict(host_info),
            "start_time": start_time,
            "config": flatten(config),
            "meta": meta_info,
            "status": "RUNNING",
            "resources": [],
            "artifacts": [],
            "captured_out": "",  # captured_out_length comes with the first output (the same as 0)
            "info": {},
            "heartbeat": None,
        }
        safe = schema.bson_safe(doc)
        if target is None:
            run_id = self._insert(safe, _id)
        else:
            run_id = target["_id"]
            self._run_id = run_id
            self._update_run({"$set": safe})
        self._reset(run_id)
        self._entry = dict(doc, _id=run_id)
        return run_id

    def _overwrite_target(self) -> Optional[dict]:
        """The document ``overwrite`` names (an id or a run document), checked to exist."""
        if self.overwrite is None:
            return None
        if self._run_id is not None:
            raise RuntimeError("Cannot overwrite more than once!")
        wanted = self.overwrite.get("_id") if isinstance(self.overwrite, dict) else self.overwrite
        found = self.runs.find_one({"_id": wanted}, {"_id": 1})
        if found is None and isinstance(wanted, str) and wanted.isdigit():
            found = self.runs.find_one({"_id": int(wanted)}, {"_id": 1})
        if found is None:
            raise RuntimeError(f"Couldn't find run to overwrite with _id='{wanted}'")
        return found

    def _find_by_uid(self, meta_info: Any) -> Optional[dict]:
        uid = meta_info.get("uid") if isinstance(meta_info, dict) else None
        if not uid:
            return None
        self._ensure_index(self.runs, [("meta.uid", 1)], sparse=True)
        return self.runs.find_one({"meta.uid": uid}, {"_id": 1, "status": 1})

    def _insert(self, doc: dict, _id: Any) -> Any:
        """Insert with the given id, or with max(numeric id) + 1 (again if another run took it)."""
        from pymongo.errors import DuplicateKeyError

        if _id is not None:
            try:
                self.runs.insert_one(dict(doc, _id=_id))
            except DuplicateKeyError as exc:
                raise ObserverError(
                    f"A run with _id={_id!r} already exists in {self.runs.full_name}"
                ) from exc
            return _id
        numeric = {"_id": {"$type": "number"}}
        for _ in range(100):
            last = list(self.runs.find(numeric, {"_id": 1}).sort("_id", -1).limit(1))
            run_id = int(last[0]["_id"]) + 1 if last else 1
            try:
                self.runs.insert_one(dict(doc, _id=run_id))
            except DuplicateKeyError:
                continue
            return run_id
        raise ObserverError(f"No free run id in {self.runs.full_name} after 100 attempts")

    def _experiment(self, ex_info: dict) -> dict:
        """``ex_info`` with each source replaced by ``[relpath, GridFS file id]``."""
        experiment = dict(ex_info)
        base_dir = ex_info.get("base_dir") or ""
        sources = []
        for relpath, _md5 in ex_info.get("sources", []):
            path = os.path.join(base_dir, relpath)
            if not os.path.isfile(path):
                warnings.warn(
                    f"MongoObserver: source file {path} is gone; not stored", RuntimeWarning, stacklevel=3
                )
                continue
            sources.append([relpath, self._store_file(path)[1]])
        experiment["sources"] = sources
        return experiment

    def _store_file(self, path: str) -> tuple:
        """Upload ``path`` to GridFS unless this content is stored under that name; (md5, id)."""
        md5 = get_digest(path)
        found = self.fs.find_one({"filename": path, "metadata.md5": md5})
        if found is not None:
            return md5, found._id
        with open(path, "rb") as fh:
            # md5 is also kept at the top level, where Sacred's own dedup lookup expects it.
            return md5, self.fs.put(fh, filename=path, md5=md5, metadata={"md5": md5})

    # ---- run events -------------------------------------------------------------------------
    @_reports_connection_errors
    def heartbeat_event(self, info: Any, captured_out: Optional[str], beat_time: Any, result: Any) -> None:
        """Set heartbeat, info and result and append the new output, in one update."""
        self._require_run()
        fields = {
            "heartbeat": beat_time,
            "info": self._stored_info(info),
            "result": schema.bson_safe(sacred_flatten(result)),
        }
        self._entry.update(fields)
        text = captured_out or ""
        if len(text) >= len(self._last_out):
            self._last_out = text
        self._write_beat(fields, text, resynced=False)

    def _write_beat(self, fields: dict, text: str, resynced: bool) -> None:
        new = text[self._cursor :]
        if not new:
            self._update_run({"$set": fields})
            return
        new = new.encode("utf-8", "replace").decode("utf-8")  # lone surrogates cannot be stored
        head, tail = self._split_for_budget(new)
        stage: dict = {key: {"$literal": value} for key, value in fields.items()}
        stage["captured_out_length"] = len(text)
        if head:
            stage["captured_out"] = {"$concat": [{"$ifNull": ["$captured_out", ""]}, {"$literal": head}]}
        if tail:
            spill_id = self._spill(tail, self._cursor + len(head))
            stage["captured_out_spill"] = {
                "$concatArrays": [{"$ifNull": ["$captured_out_spill", []]}, [spill_id]]
            }
            stage["captured_out_truncated"] = True
        # None matches documents written by Sacred, which have no captured_out_length yet.
        guard = {"_id": self._run_id, "captured_out_length": {"$in": [self._cursor, None]}}
        done = self.runs.update_one(guard, [{"$set": stage}])
        if done.matched_count == 0:
            # An earlier attempt whose reply was lost may have stored part of this output.
            if resynced:
                raise ObserverError(
                    f"Run {self._run_id!r} in {self.runs.full_name} changed "
                    "underneath the observer; cannot append its output"
                )
            self._resync_output()
            self._write_beat(fields, text, resynced=True)
            return
        self._cursor = len(text)
        self._doc_bytes += len(head.encode("utf-8"))

    def _split_for_budget(self, new: str) -> tuple:
        """Split new output into the part that still fits in the document and the part to spill."""
        room = self.captured_out_budget - self._doc_bytes
        if room <= 0 or self._spilled:  # once output spilled, all later output must follow it
            return "", new
        data = new.encode("utf-8")
        if len(data) <= room:
            return new, ""
        head = data[:room].decode("utf-8", "ignore")
        return head, new[len(head) :]

    def _spill(self, text: str, offset: int) -> Any:
        """Store output that does not fit in the document as a GridFS file; warn once per run."""
        if not self._spilled:
            self._spilled = True
            warnings.warn(
                f"MongoObserver: run {self._run_id!r} printed more than "
                f"{self.captured_out_budget} bytes; the rest of its output is stored in GridFS "
                "(see captured_out_spill in the run document)",
                RuntimeWarning,
                stacklevel=2,
            )
        return self.fs.put(
            text.encode("utf-8"),
            filename=schema.spill_filename(self.runs.name, self._run_id, offset),
            content_type="text/plain; charset=utf-8",
            metadata={"run_id": self._run_id, "offset": offset},
        )

    def _resync_output(self) -> None:
        doc = self.runs.find_one(
            {"_id": self._run_id}, {"captured_out": 1, "captured_out_length": 1, "captured_out_truncated": 1}
        )
        if doc is None:
            raise ObserverError(f"Run {self._run_id!r} no longer exists in {self.runs.full_name}")
        stored = doc.get("captured_out") or ""
        self._cursor = int(doc.get("captured_out_length", len(stored)))
        self._doc_bytes = len(stored.encode("utf-8"))
        self._spilled = bool(doc.get("captured_out_truncated"))

    def _stored_info(self, info: Any) -> dict:
        """``info`` as stored: flattened, with ``metrics`` naming this run's metric documents."""
        stored = schema.bson_safe(sacred_flatten(dict(info or {})))
        if self._metric_ids:
            stored["metrics"] = [{"name": name, "id": oid} for name, oid in self._metric_ids.items()]
        return stored

    @_reports_connection_errors
    def completed_event(self, stop_time: Any, result: Any) -> None:
        """Final update: ``COMPLETED`` with the result."""
        self._final(
            {
                "stop_time": stop_time,
                "result": schema.bson_safe(sacred_flatten(result)),
                "status": "COMPLETED",
            }
        )

    @_reports_connection_errors
    def interrupted_event(self, interrupt_time: Any, status: str) -> None:
        """Final update: the given status (``INTERRUPTED``, ``TIMEOUT``, ...)."""
        self._final({"stop_time": interrupt_time, "status": status})

    @_reports_connection_errors
    def failed_event(self, fail_time: Any, fail_trace: Any) -> None:
        """Final update: ``FAILED`` with the traceback lines."""
        trace = fail_trace if isinstance(fail_trace, str) else list(fail_trace or [])
        self._final({"stop_time": fail_time, "status": "FAILED", "fail_trace": trace})

    def _final(self, fields: dict) -> None:
        self._require_run()
        self._entry.update(fields)
        try:
            self._update_run({"$set": fields})
        except Exception as exc:
            if not self.failure_dir:
                raise
            reason = self._unreachable(exc) if _is_connection_failure(exc) else f"{type(exc).__name__}: {exc}"
            path = self._save_locally(self.failure_dir)
            print(f"Warning: saving to MongoDB failed! Stored experiment entry in {path}", file=sys.stderr)
            raise ObserverError(
                f"Saving to MongoDB failed ({reason}); stored the run entry in {path}"
            ) from exc

    def _save_locally(self, failure_dir: str) -> str:
        """Write the run entry as JSON to ``failure_dir`` (one file per run, replaced whole)."""
        os.makedirs(failure_dir, exist_ok=True)
        meta = self._entry.get("meta")
        uid = meta.get("uid") if isinstance(meta, dict) else None
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"sacred_mongo_fail_{self._run_id}_{uid or 'run'}")
        path = os.path.join(failure_dir, stem + ".json")
        entry = dict(self._entry, captured_out=self._last_out)
        fd, tmp = tempfile.mkstemp(dir=failure_dir, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(entry, fh, default=_json_default, indent=2, sort_keys=True)
        os.replace(tmp, path)
        return path

    @_reports_connection_errors
    def resource_event(self, filename: str, copy: Optional[bool] = None) -> None:
        """Upload the resource to GridFS (deduplicated; not for large files or ``copy=False``);
        record ``[filename, md5]`` once per run."""
        self._require_run()
        md5 = self._store_file(filename)[0] if copy_resource(filename, copy) else get_digest(filename)
        self._update_run({"$addToSet": {"resources": [filename, md5]}})
        resources = self._entry.setdefault("resources", [])
        if [filename, md5] not in resources:
            resources.append([filename, md5])

    @_reports_connection_errors
    def artifact_event(
        self, name: str, filename: str, metadata: Any = None, content_type: Optional[str] = None
    ) -> None:
        """Upload the file as ``artifact://<runs>/<id>/<name>`` and append ``{name, file_id}``."""
        self._require_run()
        stat = os.stat(filename)
        key = (name, filename, stat.st_size, stat.st_mtime_ns)
        if self._last_artifact is not None and self._last_artifact[0] == key:
            file_id = self._last_artifact[1]  # a retry: reuse the upload, do not list it twice
        else:
            if content_type is None:
                content_type = mimetypes.guess_type(filename)[0]
            gridfs_name = schema.artifact_filename(self.runs.name, self._run_id, name)
            with open(filename, "rb") as fh:
                file_id = self.fs.put(
                    fh,
                    filename=gridfs_name,
                    content_type=content_type,
                    metadata=schema.bson_safe(flatten(metadata)),
                )
            self._last_artifact = (key, file_id)
        entry = {"name": name, "file_id": file_id}
        self.runs.update_one(
            {"_id": self._run_id, "artifacts.file_id": {"$ne": file_id}}, {"$push": {"artifacts": entry}}
        )
        artifacts = self._entry.setdefault("artifacts", [])
        if entry not in artifacts:
            artifacts.append(entry)

    @_reports_connection_errors
    def log_metrics(self, metrics_by_name: dict, info: Any) -> None:
        """Append new points to the metric's bucket documents (``$push``/``$each``, upserted).

        Point ``i`` of a metric lives in bucket ``i // metric_bucket_points``: bucket 0 is Sacred's
        document (``{run_id, name, steps, values, timestamps}``, no ``bucket`` field), later ones
        add ``bucket: k``.  A document never outgrows MongoDB's 16 MiB limit, whatever the run
        logs; tools made for Sacred read the first ``metric_bucket_points`` points.
        """
        self._require_run()
        self._ensure_metric_index()
        for name, group in metrics_by_name.items():
            self._push_metric(
                name, list(group["steps"]), flatten(list(group["values"])), list(group["timestamps"])
            )

    def _ensure_metric_index(self) -> None:
        """One document per (run, metric, bucket).  A store made before buckets has a unique
        index on (run_id, name), which refuses bucket 1: it is replaced."""
        marker = (self.metrics.name, "buckets")
        if marker in self._indexed:
            return
        from pymongo.errors import OperationFailure

        try:
            for index in list(self.metrics.list_indexes()):
                keys = index["key"]
                fields = [k for k, _ in (keys.items() if hasattr(keys, "items") else keys)]
                if index.get("unique") and fields == ["run_id", "name"]:
                    self.metrics.drop_index(index["name"])
        except OperationFailure:  # no rights: buckets beyond the first will be refused
            pass
        self._ensure_index(self.metrics, [("run_id", 1), ("name", 1), ("bucket", 1)], unique=True)
        self._indexed.add(marker)

    def _bucket_query(self, name: str, bucket: int) -> dict:
        where = {"$exists": False} if bucket == 0 else bucket
        return {"run_id": self._run_id, "name": name, "bucket": where}

    def _push_metric(self, name: str, steps: list, values: list, timestamps: list) -> None:
        from pymongo.errors import DuplicateKeyError

        batch = (len(steps), steps[:1], steps[-1:], timestamps[:1], timestamps[-1:]) if steps else None
        if batch is not None and self._last_batches.get(name) == batch:
            return  # this very batch was appended by an earlier attempt of the same event
        cap = max(int(self.metric_bucket_points), 1)
        stored = self._metric_counts.get(name, 0)
        retried = False
        while steps:
            bucket, used = divmod(stored, cap)
            take = min(cap - used, len(steps))
            update: dict = {
                "$push": {
                    "steps": {"$each": steps[:take]},
                    "values": {"$each": values[:take]},
                    "timestamps": {"$each": timestamps[:take]},
                }
            }
            # an upsert takes the equality fields of the query: bucket 0 gets no ``bucket``
            query = dict(self._bucket_query(name, bucket), steps={"$size": used})
            try:
                done = self.metrics.update_one(query, update, upsert=used == 0)
            except DuplicateKeyError:
                done = None
            if done is not None and (done.matched_count or done.upserted_id is not None):
                if done.upserted_id is not None and bucket == 0:
                    self._metric_ids[name] = str(done.upserted_id)
                stored += take
                self._metric_counts[name] = stored
                steps, values, timestamps = steps[take:], values[take:], timestamps[take:]
                continue
            # The buckets hold more points than we know of: an earlier attempt whose reply was
            # lost stored the first ones of this batch.  Skip those and append the rest.
            now = self._load_metric(name)
            skip = now - stored
            if retried or not 0 < skip <= len(steps):
                raise ObserverError(
                    f"Metric {name!r} of run {self._run_id!r} changed underneath "
                    "the observer; cannot append to it"
                )
            retried = True
            steps, values, timestamps = steps[skip:], values[skip:], timestamps[skip:]
            stored = now
        self._last_batches[name] = batch

    def _load_metric(self, name: str) -> int:
        """Points of ``name`` stored in all its buckets (also remembers bucket 0's id)."""
        total = 0
        for found in self.metrics.aggregate(
            [
                {"$match": {"run_id": self._run_id, "name": name}},
                {"$project": {"name": 1, "bucket": 1, "count": {"$size": "$steps"}}},
            ]
        ):
            total += found["count"]
            if not found.get("bucket"):
                self._metric_ids.setdefault(name, str(found["_id"]))
        self._metric_counts[name] = total
        return total

    @_reports_connection_errors
    def log_table(self, name: str, rows: list) -> None:
        """Insert one ``{run_id, table, index, row}`` document per row; retries skip stored rows."""
        from pymongo.errors import BulkWriteError

        self._require_run()
        if not rows:
            return
        self._ensure_index(self.tables, [("run_id", 1), ("table", 1), ("index", 1)], unique=True)
        start = self._table_counts.get(name, 0)
        docs = [
            {
                "run_id": self._run_id,
                "table": name,
                "index": start + i,
                "row": schema.bson_safe(flatten(dict(row))),
            }
            for i, row in enumerate(rows)
        ]
        try:
            self.tables.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            details = exc.details or {}
            if details.get("writeConcernErrors") or any(
                err.get("code") != _DUPLICATE_KEY for err in details.get("writeErrors", [])
            ):
                raise
        self._table_counts[name] = start + len(rows)

    def join(self) -> None:
        """Nothing is buffered: every event is written when it happens."""

    # ---- replay -----------------------------------------------------------------------------
    def replay_spec(self) -> Optional[dict]:
        """How ``experimentkit sync`` rebuilds this observer; None when built from a client."""
        if self._spec is None:
            return None
        return {"factory": self._spec["factory"], "kwargs": dict(self._spec["kwargs"])}

    @_reports_connection_errors
    def attach(self, _id: Any) -> None:
        """Continue the stored run ``_id``: later events append to it where it left off."""
        doc = self.runs.find_one({"_id": _id})
        if doc is None:
            raise ObserverError(f"No run with _id={_id!r} in {self.runs.full_name}")
        self._reset(_id)
        self._last_out = doc.pop("captured_out", None) or ""
        self._entry = doc
        self._cursor = int(doc.get("captured_out_length", len(self._last_out)))
        self._doc_bytes = len(self._last_out.encode("utf-8"))
        self._spilled = bool(doc.get("captured_out_truncated"))
        counts = [
            {"$match": {"run_id": _id}},
            {"$project": {"name": 1, "bucket": 1, "count": {"$size": "$steps"}}},
        ]
        for found in self.metrics.aggregate(counts):
            name = found["name"]
            if not found.get("bucket"):
                self._metric_ids[name] = str(found["_id"])
            self._metric_counts[name] = self._metric_counts.get(name, 0) + found["count"]
        lasts = [{"$match": {"run_id": _id}}, {"$group": {"_id": "$table", "last": {"$max": "$index"}}}]
        for found in self.tables.aggregate(lasts):
            self._table_counts[found["_id"]] = found["last"] + 1

    # ---- helpers ----------------------------------------------------------------------------
    def _require_run(self) -> None:
        if self._run_id is None:
            raise ObserverError("MongoObserver got an event before started_event (or attach)")

    def _update_run(self, update: dict) -> None:
        if self.runs.update_one({"_id": self._run_id}, update).matched_count == 0:
            raise ObserverError(f"Run {self._run_id!r} no longer exists in {self.runs.full_name}")

    def _ping(self) -> None:
        """Fail fast, naming the URL, when the server is missing."""
        self.runs.database.client.admin.command("ping")

    def _ensure_index(self, collection: Any, keys: list, **options: Any) -> None:
        """Create an index once per observer; a refused one (rights, old duplicates) costs speed."""
        from pymongo.errors import OperationFailure

        marker = (collection.name, tuple(keys))
        if marker in self._indexed:
            return
        try:
            collection.create_index(keys, **options)
        except OperationFailure as exc:
            warnings.warn(
                f"MongoObserver: could not create index {keys} on {collection.full_name}: {exc}",
                RuntimeWarning,
                stacklevel=3,
            )
        self._indexed.add(marker)

    def _unreachable(self, exc: BaseException) -> str:
        text = str(exc).split(", Timeout:")[0].split(" (configured timeouts")[0].strip()
        reason = text.splitlines()[0][:300] if text else type(exc).__name__
        return f"Cannot reach MongoDB at {self._where}: {reason}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MongoObserver) and self.runs == other.runs

    def __hash__(self) -> int:
        return hash(self.runs.full_name)

    def __repr__(self) -> str:
        return f"<MongoObserver {self._where} {self.runs.full_name}>"


class QueuedMongoObserver(QueueObserver):
    """A ``MongoObserver`` whose events after ``started_event`` are written by a background thread.

    Retries are bounded and ``join()`` has a timeout, so a database that goes away never hangs the
    process; what could not be written is journaled by the run for ``experimentkit sync``.
    """

    @classmethod
    def create(cls, *args: Any, **kwargs: Any) -> QueuedMongoObserver:
        """Sacred's deprecated spelling of the constructor."""
        warnings.warn(
            "QueuedMongoObserver.create(...) is deprecated. Please use QueuedMongoObserver(...) instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        return cls(*args, **kwargs)

    def __init__(
        self,
        interval: float = 20.0,
        retry_interval: float = 10.0,
        url: Optional[str] = None,
        db_name: str = "sacred",
        collection: str = "runs",
        overwrite: Any = None,
        priority: int = DEFAULT_MONGO_PRIORITY,
        client: Any = None,
        *,
        max_retries: int = 3,
        join_timeout: Optional[float] = None,
        **kwargs: Any,
    ) -> None:
        covered = MongoObserver(
            url=url,
            db_name=db_name,
            collection=collection,
            overwrite=overwrite,
            priority=priority,
            client=client,
            **kwargs,
        )
        super().__init__(
            covered,
            interval=interval,
            retry_interval=retry_interval,
            max_retries=max_retries,
            join_timeout=join_timeout,
        )


# ---- module helpers -------------------------------------------------------------------------
def _is_client(client: Any) -> bool:
    import pymongo

    if isinstance(client, pymongo.MongoClient):
        return True
    mongomock = sys.modules.get("mongomock")
    return mongomock is not None and isinstance(client, mongomock.MongoClient)


def _is_connection_failure(exc: BaseException) -> bool:
    errors = sys.modules.get("pymongo.errors")
    return errors is not None and isinstance(exc, errors.ConnectionFailure)


def _gridfs(database: Any) -> Any:
    import gridfs

    if type(database).__module__.startswith("mongomock"):
        import mongomock.gridfs

        mongomock.gridfs.enable_gridfs_integration()
    return gridfs.GridFS(database)


def _sibling_names(runs_name: str) -> dict:
    """Metrics/tables collections that go with a runs collection (``p_runs`` -> ``p_metrics``)."""
    is_default = runs_name == "runs" or runs_name.endswith("_runs")
    prefix = runs_name[: -len("runs")] if is_default else ""
    return {"metrics": f"{prefix}metrics", "tables": f"{prefix}tables"}


def _display_url(url: Optional[str], client: Any) -> str:
    """The server as users wrote it, without a password."""
    if url is None:
        try:
            seeds = client.topology_description.server_descriptions()
        except Exception:
            return type(client).__module__.split(".")[0]
        url = ",".join(f"{host}:{port}" for host, port in seeds) or "localhost:27017"
    if "://" not in url:
        url = "mongodb://" + url
    return re.sub(r"://([^:/@]*):[^@/]*@", r"://\1:***@", url)


def _json_default(value: Any) -> Any:
    isoformat = getattr(value, "isoformat", None)
    return isoformat() if callable(isoformat) else str(value)
