"""``MongoStore``: the read side of Sacred's MongoDB layout (ours and Sacred 0.8's own).

How a query runs, so that a listing over many runs stays cheap:

1. Filters are translated into a MongoDB ``$match`` that selects a *superset* of the matching runs
   (an exact translation is impossible in general: MongoDB matches arrays element-wise, sorts
   ``null`` first and brackets types differently).  Metric filters and orders are evaluated on
   per-run summaries (last, min, max, count) computed *by the server* from the ``metrics``
   collection, so no value array is transferred; a metric filter then narrows the run ``$match``
   to the runs that satisfy it.
2. For the candidates only the fields the query names are fetched, and the reference semantics
   (:func:`~experimentkit.query.semantics.apply_in_python`) filter, sort and page them exactly.
3. The complete documents of the selected page are fetched, without ``captured_out``.

Per-sample rows are read from the ``tables`` collection with the filters pushed down the same way;
for "the N rows with the lowest/highest column" over a numeric column the sort and the early stop
happen in MongoDB.  Tags and notes are Omniboard's ``omniboard.tags`` / ``omniboard.notes``.
Nothing is ever unpickled; artifacts are GridFS file objects.
"""

from __future__ import annotations

import datetime as _dt
import functools
import math
import re
import sys
import warnings
from collections.abc import Iterable, Sequence
from typing import Any, BinaryIO, Callable, Optional, TypeVar

from ...errors import StoreError, suggest, suggest_known
from ...query.base import (
    DEFAULT_DEAD_AFTER,
    HINT_IDS,
    INT_TEXT,
    TIME_KEYS,
    Filter,
    Key,
    MetricSeries,
    Order,
    Query,
    RunRecord,
    Store,
    dotted_keys,
    resource_entries,
    utcnow,
)
from ...query.semantics import apply_in_python, apply_rows_in_python, matches
from . import schema

__all__ = ["MongoStore"]

_F = TypeVar("_F", bound=Callable[..., Any])
_RANGE_OPS = {"<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte"}
_INT64 = (-(2**63), 2**63 - 1)
#: Fields every listing needs: the id and what decides DEAD.
_ALWAYS = ("status", "heartbeat", "start_time")
#: Run-document fields that always hold one string, so ``!=`` can be pushed down exactly.
_SCALAR_PATHS = ("command", "experiment.name")
#: Above this many candidate runs, metric summaries are selected by name only (no ``$in``).
_IN_LIMIT = 5000


def _reports_connection_errors(method: _F) -> _F:
    """Turn pymongo's long connection errors into one line naming the server."""

    @functools.wraps(method)
    def wrapper(self: MongoStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except StoreError:
            raise
        except Exception as exc:
            errors = sys.modules.get("pymongo.errors")
            if errors is not None and isinstance(exc, errors.ConnectionFailure):
                reason = str(exc).split(", Timeout:")[0].splitlines()[0][:300]
                raise StoreError(f"Cannot reach MongoDB at {self._where}: {reason}") from exc
            raise

    return wrapper  # type: ignore[return-value]


class MongoStore(Store):
    """Runs stored by ``MongoObserver`` (experimentkit's or Sacred 0.8's) in ``db_name``.

    ``prefix`` selects the collections ``<prefix>_runs`` / ``_metrics`` / ``_tables`` (Sacred's
    ``collection_prefix``).  ``client`` may be a pymongo or mongomock client instead of ``url``;
    other keyword arguments go to ``pymongo.MongoClient`` (``serverSelectionTimeoutMS`` defaults to
    3000 so that a missing server is an error within seconds).
    """

    @_reports_connection_errors
    def __init__(
        self,
        url: Optional[str] = None,
        *,
        db_name: str = "sacred",
        prefix: str = "",
        client: Any = None,
        dead_after: float = DEFAULT_DEAD_AFTER,
        clock: Callable[[], _dt.datetime] = utcnow,
        **client_kwargs: Any,
    ) -> None:
        super().__init__(dead_after=dead_after, clock=clock)
        if client is not None and url is not None:
            raise ValueError("Cannot pass both a client and a url.")
        self._owns_client = client is None
        self._where = _display_url(url) if client is None else type(client).__module__.split(".")[0]
        if client is None:
            import pymongo
            from pymongo.errors import ConfigurationError

            client_kwargs.setdefault("serverSelectionTimeoutMS", 3000)
            try:
                client = pymongo.MongoClient(url, **client_kwargs)
            except (ConfigurationError, ValueError) as exc:
                raise StoreError(f"bad MongoDB URL {self._where}: {exc}") from None
        self.client = client
        self.db_name = db_name
        self.prefix = prefix
        try:
            names = schema.collection_names("runs", prefix)
        except (KeyError, ValueError) as exc:
            raise StoreError(f"bad collection prefix {prefix!r}: {exc}") from None
        database = client[db_name]
        client.admin.command("ping")
        existing = database.list_collection_names()
        if names["runs"] not in existing:
            candidates = [name for name in existing if name.endswith("runs")]
            raise StoreError(
                f"no run store in MongoDB database '{db_name}' at {self._where} "
                f"(no collection '{names['runs']}')"
                f"{suggest(names['runs'], candidates)}"
            )
        self._runs = database[names["runs"]]
        self._metrics = database[names["metrics"]]
        self._tables = database[names["tables"]]
        self._fs = schema.open_gridfs(database)
        self._files = database["fs.files"]

    def __str__(self) -> str:
        suffix = f"?prefix={self.prefix}" if self.prefix else ""
        return f"{self._where}/{self.db_name}{suffix}"

    def close(self) -> None:
        """Close the client if this store opened it."""
        if self._owns_client:
            self.client.close()

    def sweep_book(self) -> Any:
        from . import schema
        from .sweeps import MongoSweepBook

        runs = schema.collection_names("runs", self.prefix)["runs"]
        prefix = runs[: -len("runs")] if runs.endswith("runs") else ""
        return MongoSweepBook(self.client[self.db_name], prefix, str(self))

    # ---- queries --------------------------------------------------------------------------------
    @_reports_connection_errors
    def query(self, q: Query) -> list:
        skeletons, raw_ids, match = self._select(q)
        page = apply_in_python(skeletons, q)
        if not page:
            return []
        wanted = [raw_ids[r.id] for r in page]
        if len(page) == len(skeletons) and len(page) > _IN_LIMIT:
            docs, summaries = self._runs.find(match, {"captured_out": 0}), self._summaries(None)
        else:
            docs = self._runs.find({"_id": {"$in": wanted}}, {"captured_out": 0})
            summaries = self._summaries(wanted)
        by_id = {str(doc["_id"]): doc for doc in docs}
        return self._records([by_id[r.id] for r in page if r.id in by_id], summaries)

    @_reports_connection_errors
    def count(self, q: Optional[Query] = None) -> int:
        """Counted on the light first pass: no complete document is fetched."""
        q = (q or Query()).replace(limit=None, offset=0)
        return len(apply_in_python(self._select(q)[0], q))

    def _select(self, q: Query) -> tuple:
        """Light records (only the fields ``q`` names) of a superset of the matching runs, their
        stored ids by text id, and the ``$match`` that selected them."""
        keys = [f.parsed_key for f in q.filters] + [o.parsed_key for o in q.order]
        names = sorted({k.path[0] for k in keys if k.root == "metrics"})
        clauses = [c for c in (self._clause(f) for f in q.filters) if c is not None]
        summaries: dict = {}
        metric_filters = [f for f in q.filters if f.parsed_key.root == "metrics" and not matches(None, f)]
        if metric_filters:
            # Runs lacking the metric cannot match these filters: select the runs from the
            # server-side summaries first, then fetch only those documents.
            summaries = self._summaries(None, names)
            allowed = None
            for flt in metric_filters:
                key = flt.parsed_key
                ok = {
                    str(raw): raw
                    for raw, found in summaries.values()
                    if matches((found.get(key.path[0]) or {}).get(key.aggregate), flt)
                }
                allowed = ok if allowed is None else {k: ok[k] for k in ok if k in allowed}
            clauses.append({"_id": {"$in": list((allowed or {}).values())}})
        match = {"$and": clauses} if clauses else {}
        docs = list(self._runs.find(match, _projection(keys)))
        if names and not metric_filters:
            run_ids = [doc["_id"] for doc in docs] if len(docs) <= _IN_LIMIT else None
            summaries = self._summaries(run_ids, names)
        records = self._records(docs, summaries, resolve_sources=False)
        return records, {str(doc["_id"]): doc["_id"] for doc in docs}, match

    # ---- the key catalogue: existence queries that stop at the first document found --------------
    @_reports_connection_errors
    def has_key(self, key: Key) -> bool:
        if key.root == "metrics":
            return self._metrics.find_one({"name": key.path[0]}, {"_id": 1}) is not None
        if key.root not in ("config", "info", "meta") or any(
            INT_TEXT.match(p) or p.startswith(("$", "@")) for p in key.path
        ):
            return True
        return self._runs.find_one({_field_path(key): {"$exists": True}}, {"_id": 1}) is not None

    @_reports_connection_errors
    def key_names(self, root: str) -> list:
        if root == "metrics":
            return sorted(f"metrics.{name}" for name in self._metrics.distinct("name"))
        docs = self._runs.find({}, {root: 1})
        records = self._records(list(docs), {}, resolve_sources=False)
        return sorted(dotted_keys((getattr(r, root) for r in records), root))

    @_reports_connection_errors
    def statuses(self) -> list:
        return sorted(str(v) for v in self._runs.distinct("status") if v is not None)

    def _clause(self, flt: Filter) -> Optional[dict]:
        """A MongoDB condition selecting every run ``flt`` accepts (maybe more), or None."""
        key, op, value = flt.parsed_key, flt.op, flt.value
        if key.root == "metrics":
            return None
        if key.root == "id":
            wanted = [value] if op == "==" else value if op == "in" else None
            if wanted is None or any(v is None for v in wanted):
                return None
            return {"_id": {"$in": [raw for v in wanted for raw in _raw_ids(v)]}}
        if key.root == "status":
            return _status_clause(op, value)
        if key.root == "notes" and matches("", flt):
            return None  # a run without notes has '' and must not be dropped by the server
        if key.root == "experiment" and key.path[:1] == ("sources",):
            return None  # stored as GridFS ids, read as md5s
        if key.root == "resources":
            return None  # [path, md5] pairs, matched per resource in Python
        path = _field_path(key)
        if op == "!=" and path in _SCALAR_PATHS and isinstance(value, str):
            return {path: {"$ne": value}}
        clause = _positive_clause(path, op, value)
        if clause is not None and key.root in ("config", "info", "result"):
            # Sacred's jsonpickle forms ({"py/object": "numpy.float64", "value": 0.9}) are objects
            # the server cannot compare: they are selected too and decided after safe_restore.
            clause = {"$or": [clause, {path: {"$type": "object"}}]}
        return clause

    # ---- records --------------------------------------------------------------------------------
    def _summaries(self, run_ids: Optional[list], names: Optional[list] = None) -> dict:
        """``{str(run_id): (run_id, {name: {last, min, max, count}})}`` computed by the server."""
        match: dict = {}
        if run_ids is not None:
            match["run_id"] = {"$in": list(run_ids)}
        if names is not None:
            match["name"] = {"$in": list(names)}
        numbers = {
            "$filter": {
                "input": {"$ifNull": ["$values", []]},
                "as": "v",
                "cond": {"$and": [{"$gte": ["$$v", -math.inf]}, {"$lte": ["$$v", math.inf]}]},
            }
        }
        pipeline = [
            {"$match": match},
            {
                "$project": {
                    "_id": 0,
                    "run_id": 1,
                    "name": 1,
                    "bucket": 1,
                    "last": {"$arrayElemAt": ["$values", -1]},
                    "count": {"$size": {"$ifNull": ["$values", []]}},
                    "numbers": numbers,
                }
            },
            # $min/$max of a nested expression is not understood by mongomock: a second stage.
            {
                "$project": {
                    "run_id": 1,
                    "name": 1,
                    "bucket": 1,
                    "last": 1,
                    "count": 1,
                    "min": {"$min": "$numbers"},
                    "max": {"$max": "$numbers"},
                }
            },
        ]
        found: dict = {}
        # a metric may span several bucket documents (see MongoObserver.log_metrics): fold them
        for doc in sorted(self._metrics.aggregate(pipeline), key=lambda d: d.get("bucket") or 0):
            entry = found.setdefault(str(doc.get("run_id")), (doc.get("run_id"), {}))
            name = doc.get("name")
            summary = {agg: doc.get(agg) for agg in ("last", "min", "max", "count")}
            before = entry[1].get(name)
            if before is not None:
                summary = _fold_summaries(before, summary)
            entry[1][name] = summary
        return found

    def _records(self, docs: list, summaries: dict, resolve_sources: bool = True) -> list:
        md5s = self._source_md5s(docs) if resolve_sources else {}
        # the light records of a first pass (resolve_sources=False) hold only some fields: no damage check
        return [
            self._record(doc, summaries.get(str(doc["_id"]), (None, {}))[1], md5s, check=resolve_sources)
            for doc in docs
        ]

    def _record(self, doc: dict, metrics: dict, md5s: dict, check: bool = True) -> RunRecord:
        omniboard: dict = doc["omniboard"] if isinstance(doc.get("omniboard"), dict) else {}
        tags = omniboard.get("tags") or []
        stored: dict = doc["experiment"] if isinstance(doc.get("experiment"), dict) else {}
        experiment = _plain(stored)
        if isinstance(stored.get("sources"), list):
            experiment["sources"] = [_source(entry, md5s) for entry in stored["sources"]]
        info = _plain(doc.get("info") or {})
        if isinstance(info, dict) and _is_metric_index(info.get("metrics")):
            info.pop("metrics")  # the observer's own bookkeeping, not user info
        fields = {
            name: _plain(doc[name])
            for name in ("command", "result", "fail_trace")
            if doc.get(name) is not None
        }
        for name in ("config", "host", "meta"):
            fields[name] = _plain(doc.get(name) or {})
        for name in TIME_KEYS:
            fields[name] = _time(doc.get(name))
        artifacts = [a.get("name") for a in doc.get("artifacts") or [] if isinstance(a, dict)]
        damaged = _damage_of(doc, metrics) if check else []
        for name in ("config", "host", "meta"):
            if not isinstance(fields[name], dict):
                fields[name] = {}
        if not isinstance(info, dict):
            info = {}
        return self.new_record(
            id=doc["_id"],
            status=doc.get("status"),
            damaged=damaged,
            experiment=experiment,
            info=info,
            tags=[str(t) for t in tags] if isinstance(tags, list) else [str(tags)],
            notes=str(omniboard.get("notes") or ""),
            artifacts=list(dict.fromkeys(artifacts)),
            metrics=dict(metrics),
            resources=resource_entries(_plain(doc.get("resources"))),
            **fields,
        )

    def _source_md5s(self, docs: list) -> dict:
        """GridFS id → md5 of the stored sources (Sacred with pymongo 4 stores none)."""
        ids = [
            entry[1]
            for doc in docs
            for entry in (doc.get("experiment") or {}).get("sources") or []
            if isinstance(entry, (list, tuple)) and len(entry) > 1
        ]
        if not ids:
            return {}
        found = self._files.find({"_id": {"$in": ids}}, {"md5": 1, "metadata.md5": 1})
        return {f["_id"]: f.get("md5") or (f.get("metadata") or {}).get("md5") for f in found}

    @_reports_connection_errors
    def get(self, run_id: Any) -> RunRecord:
        doc = self._runs.find_one({"_id": {"$in": _raw_ids(run_id)}}, {"captured_out": 0})
        if doc is None:
            raise self._unknown(run_id)
        return self._records([doc], self._summaries([doc["_id"]]))[0]

    def _raw_id(self, run_id: Any) -> Any:
        """The stored ``_id`` of a run given as text or number; StoreError when unknown."""
        doc = self._runs.find_one({"_id": {"$in": _raw_ids(run_id)}}, {"_id": 1})
        if doc is None:
            raise self._unknown(run_id)
        return doc["_id"]

    def _unknown(self, run_id: Any) -> StoreError:
        known = [doc["_id"] for doc in self._runs.find({}, {"_id": 1}).limit(HINT_IDS)]
        return self.unknown_run(run_id, known, complete=len(known) < HINT_IDS)

    # ---- run contents ---------------------------------------------------------------------------
    @_reports_connection_errors
    def metric_names(self, run_id: Any) -> list:
        return sorted(self._metrics.distinct("name", {"run_id": self._raw_id(run_id)}))

    @_reports_connection_errors
    def metric(self, run_id: Any, name: str) -> MetricSeries:
        raw = self._raw_id(run_id)
        docs = sorted(
            self._metrics.find({"run_id": raw, "name": name}), key=lambda d: d.get("bucket") or 0
        )  # bucket documents, in order
        if not docs:
            names = self._metrics.distinct("name", {"run_id": raw})
            raise StoreError(f"run {run_id} has no metric '{name}'{suggest_known(name, names, 'metrics')}")
        return MetricSeries(
            name,
            [s for d in docs for s in d.get("steps") or []],
            [v for d in docs for v in d.get("values") or []],
            [_time(t) for d in docs for t in d.get("timestamps") or []],
        )

    @_reports_connection_errors
    def captured_out(self, run_id: Any) -> str:
        """``captured_out`` followed by the parts spilled to GridFS, in order."""
        doc = self._runs.find_one(
            {"_id": {"$in": _raw_ids(run_id)}}, {"captured_out": 1, "captured_out_spill": 1}
        )
        if doc is None:
            raise self._unknown(run_id)
        parts = [doc.get("captured_out") or ""]
        for file_id in doc.get("captured_out_spill") or []:
            try:
                parts.append(self._fs.get(file_id).read().decode("utf-8", "replace"))
            except Exception as exc:
                if type(exc).__name__ != "NoFile":
                    raise
                warnings.warn(
                    f"run {run_id}: a part of the captured output ({file_id}) is missing from GridFS",
                    RuntimeWarning,
                    stacklevel=2,
                )
        return "".join(parts)

    @_reports_connection_errors
    def source(self, run_id: Any, relpath: str) -> bytes:
        """The source file's content from GridFS (the id recorded in ``experiment.sources``)."""
        doc = self._runs.find_one({"_id": {"$in": _raw_ids(run_id)}}, {"experiment.sources": 1})
        if doc is None:
            raise self._unknown(run_id)
        entries = [
            e
            for e in (doc.get("experiment") or {}).get("sources") or []
            if isinstance(e, (list, tuple)) and len(e) > 1
        ]
        for entry in entries:
            if str(entry[0]) == relpath:
                try:
                    return self._fs.get(entry[1]).read()
                except Exception as exc:
                    if type(exc).__name__ != "NoFile":
                        raise
                    raise StoreError(
                        f"source file '{relpath}' of run {run_id} is missing from GridFS"
                    ) from None
        names = [str(e[0]) for e in entries]
        hint = suggest_known(relpath, names, "source files")
        raise StoreError(f"run {run_id} has no source file '{relpath}'{hint}")

    @_reports_connection_errors
    def artifact(self, run_id: Any, name: str) -> BinaryIO:
        doc = self._runs.find_one({"_id": {"$in": _raw_ids(run_id)}}, {"artifacts": 1})
        if doc is None:
            raise self._unknown(run_id)
        entries = [a for a in doc.get("artifacts") or [] if isinstance(a, dict)]
        found = [a["file_id"] for a in entries if a.get("name") == name and "file_id" in a]
        if not found:
            names = [str(a.get("name")) for a in entries]
            hint = suggest_known(name, names, "artifacts")
            raise StoreError(f"run {run_id} has no artifact '{name}'{hint}")
        try:
            return self._fs.get(found[-1])  # a name added twice: the newest
        except Exception as exc:
            if type(exc).__name__ != "NoFile":
                raise
            raise StoreError(
                f"the artifact '{name}' of run {run_id} is missing from GridFS ({found[-1]})"
            ) from None

    @_reports_connection_errors
    def artifact_metadata(self, run_id: Any) -> dict:
        doc = self._runs.find_one({"_id": {"$in": _raw_ids(run_id)}}, {"artifacts": 1})
        if doc is None:
            raise self._unknown(run_id)
        names = {
            a["file_id"]: a.get("name")
            for a in doc.get("artifacts") or []
            if isinstance(a, dict) and "file_id" in a
        }
        found = self._files.find(
            {"_id": {"$in": list(names)}}, {"metadata": 1, "contentType": 1, "content_type": 1}
        )
        return {
            names[f["_id"]]: {
                "content_type": f.get("contentType") or f.get("content_type"),
                "metadata": f.get("metadata"),
            }
            for f in found
        }

    @_reports_connection_errors
    def tables(self, run_id: Any) -> list:
        return sorted(self._tables.distinct("table", {"run_id": self._raw_id(run_id)}))

    @_reports_connection_errors
    def rows(
        self,
        run_id: Any,
        table: str,
        where: Sequence[Filter] = (),
        order: Sequence[Order] = (),
        limit: Optional[int] = None,
    ) -> list:
        raw = self._raw_id(run_id)
        if self._tables.find_one({"run_id": raw, "table": table}, {"_id": 1}) is None:
            names = self._tables.distinct("table", {"run_id": raw})
            raise StoreError(f"run {run_id} has no table '{table}'{suggest_known(table, names, 'tables')}")
        clauses = [{"run_id": raw}, {"table": table}]
        for flt in where:
            clause = _positive_clause(_row_path(flt.key), flt.op, flt.value)
            if clause is not None:
                clauses.append(clause)
        if limit is not None and limit <= 0:
            return []
        if limit is not None and len(order) == 1 and self._numeric_column(clauses, order[0]):
            return self._top_rows(clauses, order[0], where, limit)
        docs = self._tables.find({"$and": clauses}, {"row": 1, "_id": 0}).sort("index", 1)
        return apply_rows_in_python([_plain(d.get("row") or {}) for d in docs], where, order, limit)

    def _numeric_column(self, clauses: list, order: Order) -> bool:
        """Whether every candidate row holds a number (or nothing) in the sort column, so that
        MongoDB's sort gives the reference order."""
        path = _row_path(order.key)
        # ($type matches array elements, so arrays of numbers are looked for separately.)
        odd = {
            "$or": [
                {path: {"$exists": True, "$ne": None, "$not": {"$type": "number"}}},
                {path: {"$type": "array"}},
                {path: math.nan},
            ]
        }
        return self._tables.find_one({"$and": [*clauses, odd]}, {"_id": 1}) is None

    def _top_rows(self, clauses: list, order: Order, where: Sequence[Filter], limit: int) -> list:
        """The first ``limit`` rows in ``order`` (numbers sorted by the server, ties in logging
        order, rows without a value last), checked against ``where`` as they stream in."""
        path = _row_path(order.key)
        numbered = self._tables.find({"$and": [*clauses, {path: {"$type": "number"}}]}, {"row": 1, "_id": 0})
        missing = self._tables.find({"$and": [*clauses, {path: None}]}, {"row": 1, "_id": 0})
        found: list = []
        for cursor in (
            numbered.sort([(path, -1 if order.descending else 1), ("index", 1)]),
            missing.sort("index", 1),
        ):
            for doc in cursor.batch_size(max(limit, 10)):
                row = _plain(doc.get("row") or {})
                if all(matches(row.get(f.key), f) for f in where):
                    found.append(row)
                    if len(found) >= limit:
                        return found
        return found

    # ---- annotations ----------------------------------------------------------------------------
    @_reports_connection_errors
    def add_tags(self, run_id: Any, tags: Iterable[str]) -> list:
        from pymongo import ReturnDocument

        new = [str(t) for t in dict.fromkeys(tags)]
        doc = self._runs.find_one_and_update(
            {"_id": self._raw_id(run_id)},
            {"$addToSet": {schema.OMNIBOARD_TAGS: {"$each": new}}},
            projection={"omniboard": 1},
            return_document=ReturnDocument.AFTER,
        )
        return list((doc or {}).get("omniboard", {}).get("tags") or [])

    @_reports_connection_errors
    def remove_tags(self, run_id: Any, tags: Iterable[str]) -> list:
        from pymongo import ReturnDocument

        doc = self._runs.find_one_and_update(
            {"_id": self._raw_id(run_id)},
            {"$pullAll": {schema.OMNIBOARD_TAGS: [str(t) for t in tags]}},
            projection={"omniboard": 1},
            return_document=ReturnDocument.AFTER,
        )
        return list((doc or {}).get("omniboard", {}).get("tags") or [])

    @_reports_connection_errors
    def set_note(self, run_id: Any, text: str) -> None:
        self._runs.update_one({"_id": self._raw_id(run_id)}, {"$set": {schema.OMNIBOARD_NOTES: str(text)}})

    @_reports_connection_errors
    def delete(self, run_ids: Iterable[Any]) -> list:
        """Delete runs, their metrics, rows, artifacts and spilled output.  Sources and resources
        stay: GridFS holds one copy for every run that used the same file."""
        raws = [self._raw_id(run_id) for run_id in run_ids]
        for raw in raws:
            doc = self._runs.find_one({"_id": raw}, {"artifacts": 1, "captured_out_spill": 1})
            if doc is None:
                continue
            files = [a.get("file_id") for a in doc.get("artifacts") or [] if isinstance(a, dict)]
            files += list(doc.get("captured_out_spill") or [])
            self._metrics.delete_many({"run_id": raw})
            self._tables.delete_many({"run_id": raw})
            self._runs.delete_one({"_id": raw})
            for file_id in files:
                if file_id is not None:
                    self._fs.delete(file_id)
        return [str(raw) for raw in raws]


# ---- translation of filters -----------------------------------------------------------------------
def _field_path(key: Key) -> str:
    """Where a key's value lives in a run document."""
    if key.root == "tags":
        return schema.OMNIBOARD_TAGS
    if key.root == "notes":
        return schema.OMNIBOARD_NOTES
    return schema.field_path(key.root, *key.path)


def _row_path(column: str) -> str:
    return schema.field_path("row", column)


def _projection(keys: list) -> dict:
    """The fields to fetch to evaluate ``keys`` (a path stops before an array index or a key
    that escaping makes ambiguous, and no path is fetched together with one of its parents)."""
    paths = set(_ALWAYS)
    for key in keys:
        if key.root in ("id", "status", "metrics"):
            continue
        if key.root in ("tags", "notes"):
            paths.add("omniboard")
            continue
        if key.root == "resources":
            paths.add("resources")
            continue
        parts = [key.root]
        for part in key.path:
            if INT_TEXT.match(part) or part.startswith(("$", "@")) or "," in part:
                break
            parts.append(part)
        paths.add(".".join(parts))
    kept = {p for p in paths if not any(p.startswith(other + ".") for other in paths)}
    return dict.fromkeys(sorted(kept), 1)


def _is_plain_scalar(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isnan(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return _INT64[0] <= value <= _INT64[1]
    return isinstance(value, (str, bool, _dt.datetime))


def _positive_clause(path: str, op: str, value: Any) -> Optional[dict]:
    """A condition matching every document whose ``path`` satisfies ``op value`` under the
    reference semantics (and maybe more), or None when no such condition is safe.

    ``!=`` and comparisons with ``None`` are never pushed: MongoDB matches arrays element-wise and
    treats a missing field as null, so those could drop runs the reference accepts.
    """
    if op == "==":
        return {path: value} if _is_plain_scalar(value) else None
    if op == "in":
        if not all(_is_plain_scalar(v) for v in value):
            return None
        return {path: {"$in": list(value)}}
    if op in _RANGE_OPS:
        if isinstance(value, bool) or not _is_plain_scalar(value):
            return None
        return {path: {_RANGE_OPS[op]: value}}
    if op == "contains":
        if isinstance(value, str):
            return {"$or": [{path: value}, {path: {"$regex": re.escape(value)}}]}
        return {path: value} if _is_plain_scalar(value) else None
    return None


def _status_clause(op: str, value: Any) -> Optional[dict]:
    """Stored status for an effective-status filter (DEAD and RUNNING are stored as RUNNING)."""

    def stored(status: Any) -> list:
        return ["RUNNING", None] if status in ("RUNNING", "DEAD") else [status]

    if op == "==" and isinstance(value, str):
        return {"status": {"$in": stored(value)}}
    if op == "in" and all(isinstance(v, str) for v in value):
        return {"status": {"$in": [s for v in value for s in stored(v)]}}
    if op == "!=" and isinstance(value, str) and value not in ("RUNNING", "DEAD"):
        return {"status": {"$ne": value}}
    return None


def _raw_ids(run_id: Any) -> list:
    """The stored ``_id`` values a run id given as text or number may have."""
    from bson import ObjectId

    if isinstance(run_id, (ObjectId, bool)) or run_id is None:
        return [run_id]
    text = str(run_id)
    found: list = [text]
    if INT_TEXT.match(text) and _INT64[0] <= int(text) <= _INT64[1]:
        found.append(int(text))
    if ObjectId.is_valid(text):
        found.append(ObjectId(text))
    return found


# ---- conversion of stored values ----------------------------------------------------------------
# What every run document of Sacred's layout has, with the BSON type readers rely on.
_RUN_FIELDS = {"status": str, "experiment": dict, "config": dict, "host": dict, "meta": dict}


def _damage_of(doc: dict, metrics: dict) -> list:
    """What of a run document cannot be read as Sacred's layout: missing fields, fields of another
    type, metric values that are not numbers (each left out; the rest of the run is read)."""
    damaged = []
    for name, kind in _RUN_FIELDS.items():
        if name not in doc:
            damaged.append(f"run {doc['_id']}: the document has no {name!r} field")
        elif not isinstance(doc[name], kind):
            damaged.append(
                f"run {doc['_id']}: field {name!r} is a {type(doc[name]).__name__}, not a "
                f"{'document' if kind is dict else 'string'}"
            )
    if "info" in doc and doc["info"] is not None and not isinstance(doc["info"], dict):
        damaged.append(f"run {doc['_id']}: field 'info' is a {type(doc['info']).__name__}, not a document")
    if doc.get("status") != "QUEUED" and not isinstance(doc.get("start_time"), _dt.datetime):
        what = "no" if doc.get("start_time") is None else "no readable"
        damaged.append(f"run {doc['_id']}: the document has {what} 'start_time'")
    for name, summary in metrics.items():
        last = summary.get("last")
        if last is not None and (not isinstance(last, (int, float)) or isinstance(last, bool)):
            damaged.append(f"metric {name!r}: stored values that are not numbers (last left out)")
            summary["last"] = None
    return damaged


def _plain(value: Any) -> Any:
    """Stored BSON → plain values: keys unescaped, ObjectIds as text, times naive UTC."""
    if isinstance(value, dict):
        return {schema.unescape_key(k) if isinstance(k, str) else k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float)) or value is None:
        return value
    if isinstance(value, _dt.datetime):
        return _time(value)
    name = type(value).__name__
    if name == "ObjectId":
        return str(value)
    if name == "Decimal128":
        return float(value.to_decimal())
    return value


def _time(value: Any) -> Any:
    if isinstance(value, _dt.datetime) and value.tzinfo is not None:
        return value.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    return value


def _source(entry: Any, md5s: dict) -> Any:
    """``[relpath, GridFS id]`` → ``[relpath, md5]`` when GridFS knows the md5."""
    if not isinstance(entry, list) or len(entry) < 2:
        return entry
    return [entry[0], md5s.get(entry[1]) or _plain(entry[1])]


def _fold_summaries(first: dict, then: dict) -> dict:
    """The summary of a metric from those of two consecutive bucket documents."""

    def pick(agg: Callable, a: Any, b: Any) -> Any:
        values = [v for v in (a, b) if v is not None]
        return agg(values) if values else None

    return {
        "last": then["last"] if then.get("count") else first.get("last"),
        "min": pick(min, first.get("min"), then.get("min")),
        "max": pick(max, first.get("max"), then.get("max")),
        "count": (first.get("count") or 0) + (then.get("count") or 0),
    }


def _is_metric_index(value: Any) -> bool:
    """Whether ``info.metrics`` is the observer's ``[{name, id}]`` list."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, dict) and set(v) == {"name", "id"} for v in value)
    )


def _display_url(url: Optional[str]) -> str:
    """The server as the user wrote it, without a password."""
    url = url or "mongodb://localhost:27017"
    if "://" not in url:
        url = "mongodb://" + url
    return re.sub(r"://([^:/@]*):[^@/]*@", r"://\1:***@", url).rstrip("/")
