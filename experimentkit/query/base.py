"""The read-side contract: run records, the query model, and the ``Store`` every backend implements.

Backends (``experimentkit/backends/<tech>/store.py``) subclass :class:`Store`.  The semantics every
backend must reproduce are those of :func:`experimentkit.query.semantics.apply_in_python` (and of
:class:`experimentkit.query.memory.InMemoryStore`, which is nothing but that function over a list);
the shared cases in ``tests/store_conformance.py`` check them.  Summary of the rules:

Keys (:func:`parse_key`)
    ``id``, ``status``, ``experiment`` (the name; ``experiment.<field>`` for the other ex_info
    fields), ``command``, ``start_time``, ``stop_time``, ``heartbeat``, ``host`` / ``host.<field>``,
    ``config.<dotted>``, ``info.<dotted>``, ``meta.<dotted>``, ``result`` / ``result.<dotted>``,
    ``tags``, ``notes``, ``resources`` / ``resources.md5|path`` (one value per resource: a filter
    matches when any resource does; ``contains`` is a substring of any), ``sweep``
    (= ``meta.sweep.id``; ``sweep.index``), and
    ``metrics.<name>`` (the last value) /
    ``metrics.<name>.last|min|max|count``.  Metric names may contain dots; only one trailing
    ``.last/.min/.max/.count`` is read as the aggregate (address a metric literally named ``x.min``
    as ``metrics.x.min.last``).
Values
    A key that is absent (no such config entry, metric never logged, no stop_time yet) has the value
    ``None``.  ``id`` is always a ``str``; time keys are naive-UTC ``datetime`` (filter values given
    as ISO strings are converted when the ``Filter`` is built).
Operators
    ``== != < <= > >= contains in``.  ``==``/``in`` compare numbers numerically (``1 == 1.0``), but
    a bool only equals a bool and a number never equals a string.  ``!=`` is the negation of ``==``
    (so a missing value is ``!= 5`` and ``== None``).  Ordering operators are false when either side
    is ``None`` or the types are not comparable (number vs string).  ``contains``: element of a
    list, substring of a string, else false.  ``in``: the filter value is a list; true when the
    value (or, for a list value such as ``tags``, any of its elements) equals one of its items.
    ``id`` compares as text, except that ordering operators between two integer-looking ids compare
    them as integers.
Status
    ``status`` is the *effective* status: ``DEAD`` for a run whose stored status is RUNNING and
    whose last heartbeat (or start time, when it never beat) is older than ``Store.dead_after``; the
    stored value is kept in ``RunRecord.raw_status``.  Filters on ``status`` use the effective
    status.
Ordering
    Missing values sort last in both directions; numbers < strings < datetimes < anything else (as
    JSON text); ids sort naturally (integer-looking ids numerically, before other ids); ties are
    broken by id ascending.  Without an order, runs come in id order.
"""

from __future__ import annotations

import abc
import dataclasses
import datetime as _dt
import difflib
import os
import re
import shutil
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO, Callable, Optional, Union

from ..errors import QueryError, StoreError, suggest, suggest_known

__all__ = [
    "RunRecord",
    "MetricSeries",
    "ColumnSeries",
    "Key",
    "Filter",
    "Order",
    "Query",
    "RunQuery",
    "Store",
    "parse_key",
    "parse_order",
    "KEY_ROOTS",
    "OPERATORS",
    "AGGREGATES",
    "TIME_KEYS",
    "DEFAULT_DEAD_AFTER",
    "utcnow",
    "STATUSES",
    "CATALOGUED_ROOTS",
    "GOALS_INFO_KEY",
    "infer_goal",
    "dotted_keys",
    "check_count",
    "resource_entries",
    "id_sort_key",
    "INT_TEXT",
    "HINT_IDS",
]

#: Every operator a filter may use.
OPERATORS = ("==", "!=", "<", "<=", ">", ">=", "contains", "in")
#: An ``in`` list longer than this is decided in Python, not translated to SQL (a database limits
#: the parameters and the depth of one expression).
MAX_SQL_IN_VALUES = 200
#: The aggregates a ``metrics.<name>.<agg>`` key may name.
AGGREGATES = ("last", "min", "max", "count")
#: Top-level keys whose value is a naive-UTC datetime.
TIME_KEYS = ("start_time", "stop_time", "heartbeat")
_SCALAR_ROOTS = ("id", "status", "command", "tags", "notes") + TIME_KEYS
_NESTED_ROOTS = ("experiment", "host", "config", "info", "meta", "result", "metrics", "resources")
#: Every valid first component of a key.
KEY_ROOTS = _SCALAR_ROOTS + _NESTED_ROOTS
#: A RUNNING run whose heartbeat is older than this (seconds) is reported as DEAD.
DEFAULT_DEAD_AFTER = 120.0
#: Every status a run can have (DEAD is computed on read); status words are matched without case.
STATUSES = ("QUEUED", "RUNNING", "COMPLETED", "FAILED", "INTERRUPTED", "TIMEOUT", "DEAD")
#: Roots whose keys must exist in some run of the store to be used in a query.
CATALOGUED_ROOTS = ("config", "info", "meta", "metrics")
#: Where a run records metric directions: ``info["metric_goals"] = {"min": [...], "max": [...]}``
#: (lists of metric names, so that no dotted name becomes a MongoDB field name).
GOALS_INFO_KEY = "metric_goals"
#: Words in a metric name that imply lower is better / higher is better.
_LOWER_WORDS = (
    "loss",
    "losses",
    "error",
    "errors",
    "err",
    "mse",
    "mae",
    "rmse",
    "msle",
    "mape",
    "smape",
    "nll",
    "perplexity",
    "ppl",
    "cer",
    "wer",
    "ter",
    "fid",
    "regret",
    "cost",
    "latency",
    "distance",
    "dist",
    "risk",
    "brier",
    "logloss",
    "xent",
    "ce",
)
_HIGHER_WORDS = (
    "acc",
    "accuracy",
    "precision",
    "prec",
    "recall",
    "f1",
    "fscore",
    "auc",
    "auroc",
    "auprc",
    "ap",
    "map",
    "iou",
    "miou",
    "dice",
    "bleu",
    "rouge",
    "meteor",
    "reward",
    "rewards",
    "return",
    "returns",
    "score",
    "r2",
    "psnr",
    "ssim",
    "top1",
    "top5",
    "hit",
    "hits",
    "ndcg",
    "mrr",
    "success",
)


def utcnow() -> _dt.datetime:
    """The current time as a naive UTC datetime (the form every stored time has)."""
    return _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)


# --------------------------------------------------------------------------------------------------
# records
# --------------------------------------------------------------------------------------------------
@dataclass
class MetricSeries:
    """All points of one metric of one run, in logging order (lists, so no numpy is needed to read
    it)."""

    name: str
    steps: list = field(default_factory=list)
    values: list = field(default_factory=list)
    timestamps: list = field(default_factory=list)  # naive-UTC datetimes

    def __len__(self) -> int:
        return len(self.values)

    def to_numpy(self) -> tuple:
        """``(steps, values, timestamps)`` as numpy arrays (timestamps as ``datetime64[us]``, None as
        NaN / NaT), built by numpy from the columns (no Python loop over the points)."""
        import numpy as np

        return (np.asarray(self.steps), np.array(self.values, dtype=float), self._numpy_times(np))

    def _numpy_times(self, np: Any) -> Any:
        return np.array(self.timestamps, dtype="datetime64[us]")

    def to_frame(self) -> Any:
        """A pandas DataFrame with the columns ``step``, ``value``, ``timestamp`` (needs pandas)."""
        import pandas as pd

        return pd.DataFrame(
            {"step": self.steps, "value": self.values, "timestamp": pd.to_datetime(self.timestamps)}
        )


class ColumnSeries(MetricSeries):
    """A ``MetricSeries`` whose columns may stay the stored JSON item text (``bytes``, see
    :mod:`experimentkit.query.columns`) until they are asked for: ``to_numpy`` builds the arrays
    from the text in C, and ``steps`` / ``values`` / ``timestamps`` decode it on first use (times
    into naive-UTC datetimes).  A column given as a list is used as it is."""

    def __init__(self, name: str, steps: Any, values: Any, timestamps: Any):
        self.name = name
        self._columns = {"steps": steps, "values": values, "timestamps": timestamps}

    def _column(self, key: str) -> list:
        column = self._columns[key]
        if isinstance(column, bytes):
            from .columns import json_list

            column = json_list(column)
            if key == "timestamps":
                column = [_naive_utc(text) for text in column]
            self._columns[key] = column
        return column

    def _set(self, key: str, value: list) -> None:
        self._columns[key] = value

    steps = property(lambda self: self._column("steps"), lambda self, v: self._set("steps", v))  # type: ignore[assignment]
    values = property(lambda self: self._column("values"), lambda self, v: self._set("values", v))  # type: ignore[assignment]
    timestamps = property(  # type: ignore[assignment]
        lambda self: self._column("timestamps"), lambda self, v: self._set("timestamps", v)
    )

    def __len__(self) -> int:
        values = self._columns["values"]
        if isinstance(values, bytes) and not any(c in values for c in (b'"', b"[", b"{")):
            return values.count(b",") + 1 if values else 0  # commas only separate numbers
        return len(self.values)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MetricSeries):
            return NotImplemented
        return (self.name, self.steps, self.values, self.timestamps) == (
            other.name,
            other.steps,
            other.values,
            other.timestamps,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ColumnSeries(name={self.name!r}, points={len(self)})"

    def to_numpy(self) -> tuple:
        import numpy as np

        fast = self.parsed_columns()
        return (
            fast["steps"] if fast["steps"] is not None else np.asarray(self.steps),
            fast["values"] if fast["values"] is not None else np.array(self.values, dtype=float),
            fast["timestamps"] if fast["timestamps"] is not None else self._numpy_times(np),
        )

    def parsed_columns(self) -> dict:
        """``{"steps", "values", "timestamps"}`` as numpy arrays (int64, float64 with JSON's
        numbers only, datetime64[us]) for the columns still held as text in the plain form numpy
        parses in C; None for the others (then the lists decide).

        A long time column is parsed in a second thread while this one reads the numbers: numpy
        lets go of the GIL while it converts the times, so two cores share the work."""
        import numpy as np

        from .columns import float_column, int_column, time_column

        times = self._columns["timestamps"]
        out: dict = {"timestamps": None}
        failed: list = []

        def parse_times() -> None:
            try:
                out["timestamps"] = time_column(np, times)
            except BaseException as exc:  # handed to the caller's thread below
                failed.append(exc)

        worker = None
        if isinstance(times, bytes) and len(times) >= _THREAD_BYTES:
            worker = threading.Thread(target=parse_times)
            worker.start()
        elif isinstance(times, bytes):
            parse_times()
        try:
            for key, parse in (("steps", int_column), ("values", float_column)):
                column = self._columns[key]
                out[key] = parse(np, column) if isinstance(column, bytes) else None
        finally:
            if worker is not None:
                worker.join()
        if failed:
            raise failed[0]
        return out


#: Time columns of at least this many bytes (about 10,000 times) are parsed in their own thread.
_THREAD_BYTES = 300_000


def _naive_utc(text: Any) -> Optional[_dt.datetime]:
    """Stored ISO text → naive-UTC datetime; what does not parse is None."""
    try:
        parsed = _dt.datetime.fromisoformat(str(text))
    except (TypeError, ValueError):
        return None
    return parsed.astimezone(_dt.timezone.utc).replace(tzinfo=None) if parsed.tzinfo else parsed


@dataclass
class RunRecord:
    """One stored run as the read side sees it.

    Everything cheap to return with a listing is a field; captured output, full metric series,
    artifacts and per-sample rows are loaded on demand through ``store`` (the methods below).
    ``config``, ``info``, ``meta``, ``host`` and ``result`` are plain JSON-decoded values: stores
    never unpickle or jsonpickle-decode what they read; the jsonpickle forms Sacred writes for numpy
    values, tuples, sets and dates are turned into lists, numbers and ISO strings
    (``serialize.safe_restore``), anything else tagged stays as data.
    """

    id: str
    # name, base_dir, sources, dependencies, repositories, mainfile
    experiment: dict = field(default_factory=dict)
    status: str = "RUNNING"  # effective status (DEAD computed), see raw_status
    raw_status: str = "RUNNING"  # the status as stored
    command: Optional[str] = None
    config: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    host: dict = field(default_factory=dict)
    # command, options, named_configs, config_updates, comment, uid, ...
    meta: dict = field(default_factory=dict)
    start_time: Optional[_dt.datetime] = None
    stop_time: Optional[_dt.datetime] = None
    heartbeat: Optional[_dt.datetime] = None
    result: Any = None
    fail_trace: Optional[list] = None
    tags: list = field(default_factory=list)
    notes: str = ""
    artifacts: list = field(default_factory=list)  # artifact names
    resources: list = field(default_factory=list)  # [{"path": ..., "md5": ... or None}, ...]
    metrics: dict = field(default_factory=dict)  # {name: {"last", "min", "max", "count"}}
    # what of the stored run cannot be read ("run.json: line 3 column 5: ..."); the rest was read
    damaged: list = field(default_factory=list)
    store: Optional[Store] = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        # runs stored by older versions kept the password of a -s/-m URL: never show it
        options = self.meta.get("options") if isinstance(self.meta, dict) else None
        if isinstance(options, dict) and any(isinstance(v, str) and "://" in v for v in options.values()):
            from ..redact import redact_text

            self.meta = dict(self.meta, options={k: redact_text(v) for k, v in options.items()})

    @property
    def experiment_name(self) -> Optional[str]:
        return self.experiment.get("name")

    @property
    def duration(self) -> Optional[_dt.timedelta]:
        """stop − start for finished runs, heartbeat − start for running ones."""
        end = self.stop_time or self.heartbeat
        return end - self.start_time if end and self.start_time else None

    def _store(self) -> Store:
        if self.store is None:
            raise StoreError(f"run {self.id} is not attached to a store")
        return self.store

    def captured_out(self) -> str:
        return self._store().captured_out(self.id)

    def metric(self, name: str) -> MetricSeries:
        return self._store().metric(self.id, name)

    def metric_names(self) -> list:
        return self._store().metric_names(self.id)

    def metrics_frame(self, names: Optional[Iterable[str]] = None) -> Any:
        """All (or the named) metrics as one long pandas DataFrame: metric, step, value,
        timestamp."""
        import pandas as pd

        frames = []
        for name in self.metric_names() if names is None else names:
            frame = self.metric(name).to_frame()
            frame.insert(0, "metric", name)
            frames.append(frame)
        if not frames:
            return pd.DataFrame(columns=["metric", "step", "value", "timestamp"])
        return pd.concat(frames, ignore_index=True)

    def open_artifact(self, name: str) -> BinaryIO:
        return self._store().artifact(self.id, name)

    def copy_artifact(self, name: str, dest: Union[str, Path]) -> Path:
        """Copy an artifact to ``dest`` (a file path, or an existing directory to keep the
        name)."""
        return self._store().copy_artifact(self.id, name, dest)

    def __repr__(self) -> str:
        metrics = ", ".join(f"{name}={_short(s.get('last'))}" for name, s in sorted(self.metrics.items())[:4])
        more = ", ..." if len(self.metrics) > 4 else ""
        return (
            f"<RunRecord {self.id} {self.experiment_name or ''} {self.status}"
            + (f" {metrics}{more}" if metrics else "")
            + ">"
        )

    def _repr_html_(self) -> str:
        """A small table for notebooks: identity, config, last metric values, tags."""
        from html import escape

        rows = [
            ("id", self.id),
            ("experiment", self.experiment_name),
            ("status", self.status),
            ("started", self.start_time),
            ("duration", self.duration),
            ("tags", ", ".join(self.tags)),
        ]
        rows += [(f"config.{k}", v) for k, v in sorted(_flat(self.config).items())]
        rows += [(f"metrics.{n}", s.get("last")) for n, s in sorted(self.metrics.items())]
        body = "".join(
            f"<tr><th style='text-align:left'>{escape(str(k))}</th>"
            f"<td style='text-align:left'>{escape(_short(v))}</td></tr>"
            for k, v in rows
            if v not in (None, "")
        )
        return f"<table class='experimentkit-run'>{body}</table>"

    def tables(self) -> list:
        return self._store().tables(self.id)

    def media(self, name: Optional[str] = None) -> list:
        """Logged images, figures, texts and dicts (``_run.log_image`` ...), sorted by name and step.

        Each item is ``{"name", "step", "kind", "artifact", "content_type", "metadata"}``; open
        the file with ``open_artifact(item["artifact"])``.  ``name`` keeps one value's steps; a
        name that was never logged raises ``StoreError`` with the closest names.
        """
        from ..media import parse_artifact_name, safe_name

        stored = self._store().artifact_metadata(self.id)
        items = []
        for artifact in self.artifacts:
            parsed = parse_artifact_name(artifact)
            if parsed is None:
                continue
            entry = stored.get(artifact) or {}
            given = entry.get("metadata")
            metadata: dict = given if isinstance(given, dict) else {}
            items.append(
                {
                    "name": metadata.get("name", parsed[0]),
                    "step": metadata.get("step", parsed[1]),
                    "kind": metadata.get("media"),
                    "artifact": artifact,
                    "content_type": entry.get("content_type"),
                    "metadata": metadata,
                }
            )
        if name is not None:
            known = sorted({item["name"] for item in items})
            items = [
                item
                for item in items
                if item["name"] == name or safe_name(str(item["name"])) == safe_name(name)
            ]
            if not items:
                raise StoreError(f"run {self.id} has no media '{name}'{suggest_known(name, known, 'media')}")
        return sorted(items, key=lambda item: (str(item["name"]), item["step"]))

    def rows(
        self,
        table: str,
        where: Union[str, Filter, Sequence] = (),
        sort: Union[str, Order, Sequence] = (),
        limit: Optional[int] = None,
    ) -> list:
        """Per-sample rows of ``table``; ``where``/``sort`` as strings (``"loss > 2"``, ``"-loss"``)
        or objects."""
        from .expr import parse_row_where

        filters = [parse_row_where(w) if isinstance(w, str) else w for w in _as_list(where)]
        orders = [parse_order(s, row=True) if isinstance(s, str) else s for s in _as_list(sort)]
        self._store().check_rows(self.id, table, filters, orders, limit)
        return self._store().rows(self.id, table, where=filters, order=orders, limit=limit)

    def to_dict(self) -> dict:
        """A JSON-ready summary: what ``experimentkit ls --format json`` prints for a run."""
        return {
            "id": self.id,
            "experiment": self.experiment.get("name"),
            "status": self.status,
            "raw_status": self.raw_status,
            "command": self.command,
            "start_time": _iso(self.start_time),
            "stop_time": _iso(self.stop_time),
            "heartbeat": _iso(self.heartbeat),
            "host": self.host.get("hostname"),
            "config": self.config,
            "result": self.result,
            "metrics": {name: summary.get("last") for name, summary in self.metrics.items()},
            "tags": list(self.tags),
            "notes": self.notes,
            "comment": self.meta.get("comment"),
            "resources": [dict(r) for r in self.resources],
            **({"damaged": list(self.damaged)} if self.damaged else {}),
        }


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def _flat(value: Any, prefix: str = "") -> dict:
    if isinstance(value, dict) and value:
        out: dict = {}
        for key, sub in value.items():
            out.update(_flat(sub, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: value} if prefix else {}


def _iso(value: Optional[_dt.datetime]) -> Optional[str]:
    return value.isoformat() if value is not None else None


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return [value] if isinstance(value, (str, Filter, Order)) else list(value)


# --------------------------------------------------------------------------------------------------
# keys
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Key:
    """A parsed key.  ``root`` is one of ``KEY_ROOTS``; ``path`` the dotted parts below it.

    For ``metrics`` keys ``path`` is ``(metric_name,)`` (the name keeps its dots) and ``aggregate``
    is one of ``AGGREGATES``.  ``experiment`` alone means ``experiment.name``.  For row keys
    (per-sample tables) ``root`` is ``"row"`` and ``path`` is ``(column,)``.
    """

    root: str
    path: tuple = ()
    aggregate: Optional[str] = None

    @property
    def text(self) -> str:
        """The canonical spelling (``metrics.loss`` becomes ``metrics.loss.last``)."""
        if self.root == "row":
            return self.path[0]
        parts = [self.root, *self.path] + ([self.aggregate] if self.aggregate else [])
        return ".".join(parts)


@lru_cache(maxsize=512)
def parse_key(text: str) -> Key:
    """Parse and validate a run key; unknown roots raise ``QueryError`` with a close-match
    suggestion."""
    text = str(text).strip()
    root, _, rest = text.partition(".")
    if root == "sweep":  # shorthand for the sweep a run belongs to: meta.sweep.id / .index
        if rest not in ("", "id", "index"):
            raise QueryError(f"unknown key '{text}'; use 'sweep' (its id) or 'sweep.index'")
        return Key("meta", ("sweep", rest or "id"))
    if root not in KEY_ROOTS:
        hint = suggest(root, KEY_ROOTS + ("sweep",))
        raise QueryError(
            f"unknown key '{text}'{hint}; keys start with one of: "
            + ", ".join(KEY_ROOTS + ("sweep",))
            + ("" if rest else f" (a config value is 'config.{text}')")
        )
    if not rest:
        if root == "metrics":
            raise QueryError("'metrics' needs a metric name, as in 'metrics.loss' or 'metrics.loss.min'")
        return Key("experiment", ("name",)) if root == "experiment" else Key(root)
    if root in _SCALAR_ROOTS:
        raise QueryError(f"'{root}' has no fields, so '{text}' is not a key")
    if any(not part for part in rest.split(".")):
        raise QueryError(f"empty component in key '{text}'")
    if root == "metrics":
        name, _, agg = rest.rpartition(".")
        if name and agg in AGGREGATES:
            return Key("metrics", (name,), agg)
        return Key("metrics", (rest,), "last")
    return Key(root, tuple(rest.split(".")))


# --------------------------------------------------------------------------------------------------
# query model
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Filter:
    """``key op value``.  Built filters are validated: the key parses, the operator is known,
    time-key
    values are datetimes, ``in`` takes a list.  ``row=True`` marks a filter on a per-sample table
    column."""

    key: str
    op: str
    value: Any
    row: bool = False

    def __post_init__(self) -> None:
        if self.op not in OPERATORS:
            raise QueryError(
                f"unknown operator '{self.op}'{suggest(self.op, OPERATORS)}; "
                f"use one of: {' '.join(OPERATORS)}"
            )
        parsed = self.parsed_key  # validates
        value = self.value
        if self.op == "in":
            if not isinstance(value, (list, tuple, set, frozenset)):
                raise QueryError(f"'in' needs a list, as in '{self.key} in [a, b]'")
            value = [_coerce(parsed, v) for v in value]
        else:
            value = _coerce(parsed, value)
        object.__setattr__(self, "value", value)

    @property
    def parsed_key(self) -> Key:
        return Key("row", (self.key,)) if self.row else parse_key(self.key)


def _coerce(key: Key, value: Any) -> Any:
    """Make filter values comparable with stored ones: times become datetimes, ids text."""
    if value is None:
        return None
    if key.root in TIME_KEYS:
        if isinstance(value, _dt.datetime):
            if value.tzinfo:
                return value.astimezone(_dt.timezone.utc).replace(tzinfo=None)
            return value
        if isinstance(value, _dt.date):
            return _dt.datetime(value.year, value.month, value.day)
        try:
            parsed = _dt.datetime.fromisoformat(str(value))
        except ValueError:
            raise QueryError(
                f"'{key.text}' needs a time like 2024-05-01 or 2024-05-01T12:30, not {value!r}"
            ) from None
        return _coerce(key, parsed)
    if key.root == "id" and not isinstance(value, bool):
        return str(value)
    if key.root == "status" and isinstance(value, str) and value.upper() in STATUSES:
        return value.upper()
    return value


@dataclass(frozen=True)
class Order:
    """Sort by ``key``; see the module docstring for how missing values and types sort."""

    key: str
    descending: bool = False
    row: bool = False

    def __post_init__(self) -> None:
        _ = self.parsed_key  # validates

    @property
    def parsed_key(self) -> Key:
        return Key("row", (self.key,)) if self.row else parse_key(self.key)


def check_count(what: str, n: Any) -> Optional[int]:
    """A limit or offset: None or a whole number of 0 or more (a negative one is a mistake, not
    "everything")."""
    if n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise QueryError(f"{what} must be a whole number of 0 or more, not {n!r}")
    return n


def infer_goal(metric: str) -> Optional[tuple]:
    """``("min"|"max", word)`` when a word of the metric's name implies a direction (``val.loss``:
    ``("min", "loss")``), else None.  The last implying word wins (``acc_error`` is an error)."""
    found = None
    for word in re.split(r"[^a-z0-9]+", metric.lower()):
        if word in _LOWER_WORDS:
            found = ("min", word)
        elif word in _HIGHER_WORDS:
            found = ("max", word)
    return found


def dotted_keys(documents: Iterable[Any], prefix: str) -> set:
    """Every dotted path (inner ones too) of the dicts in ``documents``, as ``prefix.path``."""
    names: set = set()

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                inner = f"{path}.{key}"
                names.add(inner)
                walk(sub, inner)

    for doc in documents:
        walk(doc, prefix)
    return names


_MD5 = re.compile(r"[0-9a-f]{32}\Z")
_STORED_MD5 = re.compile(r"_([0-9a-f]{32})(\.[^/\\]*)?\Z")


def resource_entries(raw: Any) -> list:
    """Stored resources as ``[{"path", "md5"}]`` (plus ``size``/``copied`` when recorded).

    Accepts what the observers write: ``[filename, md5]`` (SQL, MongoDB), ``[filename,
    stored_copy]`` (file storage, whose copy is named ``<stem>_<md5><ext>``) and dicts."""
    entries = []
    for item in raw or ():
        if isinstance(item, dict):
            entry = {"path": item.get("path") or item.get("filename"), "md5": item.get("md5")}
            entry.update({k: item[k] for k in ("size", "copied") if k in item})
        elif isinstance(item, (list, tuple)) and item:
            second = str(item[1]) if len(item) > 1 and item[1] is not None else ""
            found = _MD5.match(second) or _STORED_MD5.search(second)
            md5 = None if not found else (found.group(1) if found.re is _STORED_MD5 else found.group(0))
            entry = {"path": item[0], "md5": md5}
        else:
            continue
        entries.append(entry)
    return entries


def _present(record: RunRecord, key: Key) -> bool:
    """Whether the run has ``key`` at all (a None value counts: the key exists)."""
    if key.root == "metrics":
        return key.path[0] in record.metrics
    value: Any = getattr(record, key.root)
    for part in key.path:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return False
    return True


def _suggest_key(root: str, rest: str, names: Sequence[str]) -> str:
    """A suggestion among full key texts, judged on the part after the root (the shared
    ``config.`` would make every key look close)."""
    tails = {name[len(root) + 1 :]: name for name in names if name.startswith(root + ".")}
    close = difflib.get_close_matches(rest, list(tails), n=1, cutoff=0.6)
    return f" (did you mean '{tails[close[0]]}'?)" if close else ""


def parse_order(text: str, row: bool = False) -> Order:
    """``"-metrics.loss"`` → descending; ``"config.lr"`` / ``"+config.lr"`` → ascending."""
    text = text.strip()
    if text.startswith(("-", "+")):
        return Order(text[1:].strip(), descending=text[0] == "-", row=row)
    return Order(text, row=row)


@dataclass(frozen=True)
class Query:
    """Conjunction of ``filters``, then ``order`` (lexicographic), then ``offset`` and ``limit``."""

    filters: tuple = ()
    order: tuple = ()
    limit: Optional[int] = None
    offset: int = 0

    def replace(self, **changes: Any) -> Query:
        return dataclasses.replace(self, **changes)


class RunQuery:
    """Fluent, immutable builder over :class:`Query`; ``store.runs()`` returns one.

    ``store.runs().where("config.lr <
    0.05").where(status="COMPLETED").order_by("-metrics.val.accuracy") .limit(10).all()``
    """

    def __init__(self, store: Store, query: Query = Query()):
        self.store = store
        self.query = query

    def where(self, *conditions: Union[str, Filter], **equals: Any) -> RunQuery:
        """Add filters: expressions (``"config.lr < 0.05"``), ``Filter`` objects, or ``key=value``
        equality
        (use ``**{"config.lr": 0.1}`` for dotted keys)."""
        from .expr import parse_where

        new = [parse_where(c) if isinstance(c, str) else c for c in conditions]
        new += [Filter(k, "==", v) for k, v in equals.items()]
        return RunQuery(self.store, self.query.replace(filters=self.query.filters + tuple(new)))

    def order_by(self, *keys: Union[str, Order]) -> RunQuery:
        """Sort by keys (``"-key"`` descending); later calls add lower-priority keys."""
        new = tuple(parse_order(k) if isinstance(k, str) else k for k in keys)
        return RunQuery(self.store, self.query.replace(order=self.query.order + new))

    def limit(self, n: Optional[int]) -> RunQuery:
        return RunQuery(self.store, self.query.replace(limit=check_count("limit", n)))

    def offset(self, n: int) -> RunQuery:
        return RunQuery(self.store, self.query.replace(offset=check_count("offset", n) or 0))

    def all(self) -> list:
        """The matching runs; a key no run has or a status no run can have is a ``QueryError``."""
        self.store.check_query(self.query)
        return self.store.query(self.query)

    def first(self) -> Optional[RunRecord]:
        self.store.check_query(self.query)
        found = self.store.query(self.query.replace(limit=1))
        return found[0] if found else None

    def count(self) -> int:
        self.store.check_query(self.query)
        return self.store.count(self.query)

    def __iter__(self) -> Iterator[RunRecord]:
        return iter(self.all())

    def to_frame(self) -> Any:
        """The runs as a pandas DataFrame, one row each (as ``mlflow.search_runs`` returns):
        ``id``, ``experiment``, ``status``, ``start_time``, ``stop_time``, ``duration``, ``tags``,
        ``notes``, then ``config.<dotted>``, ``metrics.<name>`` (last value) and
        ``metrics.<name>.min/.max/.count``.  Needs pandas."""
        import pandas as pd

        rows = []
        for run in self.all():
            row = {
                "id": run.id,
                "experiment": run.experiment_name,
                "status": run.status,
                "start_time": run.start_time,
                "stop_time": run.stop_time,
                "duration": run.duration,
                "tags": list(run.tags),
                "notes": run.notes,
                "result": run.result,
            }
            row.update({f"config.{k}": v for k, v in _flat(run.config).items()})
            for name, summary in run.metrics.items():
                row[f"metrics.{name}"] = summary.get("last")
                for agg in ("min", "max", "count"):
                    row[f"metrics.{name}.{agg}"] = summary.get(agg)
            rows.append(row)
        columns = [
            "id",
            "experiment",
            "status",
            "start_time",
            "stop_time",
            "duration",
            "tags",
            "notes",
            "result",
        ]
        frame = pd.DataFrame(
            rows,
            columns=list(
                dict.fromkeys(
                    columns
                    + sorted(k for r in rows for k in r if k.startswith("config."))
                    + sorted(k for r in rows for k in r if k.startswith("metrics."))
                )
            ),
        )
        for column in ("start_time", "stop_time"):
            frame[column] = pd.to_datetime(frame[column])
        frame["duration"] = pd.to_timedelta(frame["duration"])
        return frame

    def metrics_frame(self, names: Optional[Iterable[str]] = None) -> Any:
        """Every point of the runs' metrics (or of ``names``) as one long DataFrame: ``run``,
        ``metric``, ``step``, ``value``, ``timestamp``.  Needs pandas."""
        import pandas as pd

        if names is not None:
            names = list(names)
            self._check_metric_names(names)
        frames = []
        for run in self.all():
            wanted = [n for n in names if n in run.metrics] if names is not None else None
            frame = run.metrics_frame(wanted)
            frame.insert(0, "run", run.id)
            frames.append(frame)
        if not frames:
            return pd.DataFrame(columns=["run", "metric", "step", "value", "timestamp"])
        return pd.concat(frames, ignore_index=True)

    def _check_metric_names(self, names: Sequence[str]) -> None:
        """A metric no run of the store logged is a mistake (a typo), not an empty frame."""
        for name in names:
            key = Key("metrics", (str(name),), "last")
            if not self.store.has_key(key) and self.store.count() > 0:
                raise self.store.unknown_key(key)


# --------------------------------------------------------------------------------------------------
# the store interface
# --------------------------------------------------------------------------------------------------
INT_TEXT = re.compile(r"-?\d+\Z")
"""An integer as text: a run id that sorts as a number, a key part that may be a list index."""
HINT_IDS = 10_000
"""Stored ids an unknown-run error looks through for the closest one (the error stays cheap)."""
#: How many ids an unknown-id error names when none is close to the one asked for.
_IDS_SHOWN = 8


def id_sort_key(run_id: Any) -> tuple:
    """Natural id order: integer-looking ids numerically, before any other ids (as text)."""
    text = str(run_id)
    return (0, int(text), "") if INT_TEXT.match(text) else (1, 0, text)


def _id_listing(ids: Sequence[str]) -> str:
    """ " (it has runs 1, 2, 4)" for an unknown-id error: the ids (in natural order), or the first and
    last ones of many, or that there are none."""
    if not ids:
        return " (it has no runs)"
    if len(ids) <= _IDS_SHOWN:
        return f" (it has runs {', '.join(ids)})"
    half = _IDS_SHOWN // 2
    return f" (it has runs {', '.join(ids[:half])}, ..., {', '.join(ids[-half:])}; {len(ids)} in all)"


class Store(abc.ABC):
    """A readable (and annotatable) collection of runs.  Subclasses implement the abstract methods.

    ``dead_after`` (seconds) and ``clock`` (returns naive-UTC now) decide when a RUNNING run counts
    as DEAD; build records with :meth:`new_record` so that this is applied uniformly.  Every method
    that takes a ``run_id`` raises ``StoreError`` for an unknown id (message: ``no run 'X' in
    <store>``).
    """

    def __init__(self, *, dead_after: float = DEFAULT_DEAD_AFTER, clock: Callable[[], _dt.datetime] = utcnow):
        self.dead_after = float(dead_after)
        self.clock = clock

    # ---- implemented by backends -----------------------------------------------------------------
    @abc.abstractmethod
    def query(self, q: Query) -> list:
        """Runs matching ``q`` as ``RunRecord``s, in order.  Push what you can down to the backend
        and
        finish with ``apply_in_python(candidates, q, filtered=..., ordered=..., limited=...)``."""

    @abc.abstractmethod
    def get(self, run_id: Any) -> RunRecord:
        """One run by id (``str(id)`` is accepted for integer ids)."""

    @abc.abstractmethod
    def metric_names(self, run_id: Any) -> list:
        """Names of the metrics the run logged, sorted."""

    @abc.abstractmethod
    def metric(self, run_id: Any, name: str) -> MetricSeries:
        """The whole series; ``StoreError`` (with a suggestion) for a name the run never logged."""

    @abc.abstractmethod
    def captured_out(self, run_id: Any) -> str:
        """The captured output ('' when none)."""

    @abc.abstractmethod
    def artifact(self, run_id: Any, name: str) -> BinaryIO:
        """The artifact opened for binary reading; ``StoreError`` for an unknown name."""

    def artifact_metadata(self, run_id: Any) -> dict:
        """``{artifact name: {"content_type", "metadata"}}`` as stored; ``{}`` where the backend
        keeps none (media are then listed from their artifact names alone)."""
        return {}

    def source_names(self, run_id: Any) -> list:
        """Paths (relative to the experiment's base_dir) of the run's source files, as recorded."""
        return [
            str(entry[0])
            for entry in self.get(run_id).experiment.get("sources") or []
            if isinstance(entry, (list, tuple)) and entry
        ]

    def source(self, run_id: Any, relpath: str) -> bytes:
        """The stored content of one source file of the run (``relpath`` as listed by
        :meth:`source_names`).  ``StoreError`` (with the closest names) for a file the run did not
        record, and when the store keeps no copy of it (a backend without stored sources, a file
        store written with ``copy_sources=False``); content is never read from outside the store.
        """
        names = self.source_names(run_id)
        if relpath not in names:
            hint = suggest_known(relpath, names, "source files")
            raise StoreError(f"run {run_id} has no source file '{relpath}'{hint}")
        raise StoreError(f"{self} keeps no copy of the source files")

    @abc.abstractmethod
    def tables(self, run_id: Any) -> list:
        """Names of the per-sample tables (``_run.log_table``) of the run, sorted."""

    @abc.abstractmethod
    def rows(
        self,
        run_id: Any,
        table: str,
        where: Sequence[Filter] = (),
        order: Sequence[Order] = (),
        limit: Optional[int] = None,
    ) -> list:
        """Rows (dicts) of a table, filtered/sorted/limited with the same operators and ordering
        rules as
        runs (filters and orders here have ``row=True``; a column a row lacks is ``None``).  Without
        an order, rows come in the order they were logged.  ``apply_rows_in_python`` is the
        reference."""

    @abc.abstractmethod
    def add_tags(self, run_id: Any, tags: Iterable[str]) -> list:
        """Add tags (kept once each, in first-added order); returns the run's tags."""

    @abc.abstractmethod
    def remove_tags(self, run_id: Any, tags: Iterable[str]) -> list:
        """Remove tags (absent ones are ignored); returns the run's tags."""

    @abc.abstractmethod
    def set_note(self, run_id: Any, text: str) -> None:
        """Replace the run's note ('' clears it)."""

    @abc.abstractmethod
    def delete(self, run_ids: Iterable[Any]) -> list:
        """Delete runs with everything they own (metrics, artifacts, rows, tags); returns the
        deleted ids.
        Unknown ids raise ``StoreError`` before anything is deleted."""

    def close(self) -> None:  # noqa: B027 - optional hook, most stores hold nothing open
        """Release connections and file handles."""

    def sweep_book(self) -> Any:
        """Where this store keeps sweep records (a ``sweep.records.SweepBook`` sharing the store's
        connection: do not close it), or None for stores that keep none (memory, plugins)."""
        return None

    # ---- shared behaviour ------------------------------------------------------------------------
    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def runs(self) -> RunQuery:
        """A fluent query over all runs."""
        return RunQuery(self)

    def count(self, q: Query = Query()) -> int:
        """How many runs match ``q`` (ignoring its limit and offset); override to count in the
        backend."""
        return len(self.query(q.replace(limit=None, offset=0)))

    def best(
        self,
        metric: str,
        minimize: Optional[bool] = None,
        where: Union[str, Filter, Sequence] = (),
        aggregate: str = "last",
    ) -> Optional[RunRecord]:
        """The run with the best ``aggregate`` of ``metric`` among runs matching ``where`` (None if
        none logged it).  ``metric`` is the bare name (``val.accuracy``) or a ``metrics.`` key.
        ``minimize=None`` takes the metric's direction from :meth:`metric_goal`."""
        key = metric if metric.startswith("metrics.") else f"metrics.{metric}.{aggregate}"
        parsed = parse_key(key)
        if minimize is None:
            minimize = self.metric_goal(parsed.path[0])[0] == "min"
        query = self.runs().where(*_as_list(where)).where(Filter(parsed.text, "!=", None))
        return query.order_by(Order(parsed.text, descending=not minimize)).first()

    # ---- what the store knows: keys, statuses, metric directions ----------------------------------
    def has_key(self, key: Key) -> bool:
        """Whether some run has ``key`` (a config/info/meta entry, or a metric for ``metrics``).
        Backends answer with an existence query that stops at the first run found; this default
        scans the records."""
        return any(_present(record, key) for record in self.query(Query()))

    def confirm_keys(self, keys: Sequence[Key]) -> None:  # noqa: B027 - optional hook
        """Check keys that an answer (a page of ``ls --columns``, a query) showed no sign of, for a
        store whose key knowledge can go stale; raise ``unknown_key`` for one no run has.  Stores whose
        ``has_key`` looks in the runs (or keeps exact counts) have nothing to check."""

    def absent_keys(self, keys: Sequence[Key], answer: Sequence[RunRecord]) -> list:
        """The ``keys`` under ``CATALOGUED_ROOTS`` that no run of ``answer`` has (see ``confirm_keys``)."""
        return [
            key
            for key in dict.fromkeys(keys)
            if key.root in CATALOGUED_ROOTS and key.path and not any(_present(r, key) for r in answer)
        ]

    def key_names(self, root: str) -> list:
        """Every key under ``root`` (one of ``CATALOGUED_ROOTS``) that some run has, sorted, as key
        text (``config.opt.lr``, ``metrics.val.loss``).  Used for suggestions, on the error path."""
        records = self.query(Query())
        if root == "metrics":
            return sorted({f"metrics.{name}" for r in records for name in r.metrics})
        return sorted(dotted_keys((getattr(r, root) for r in records), root))

    def statuses(self) -> list:
        """The stored statuses of the runs (a subclass of ``SacredInterrupt`` may add its own)."""
        return sorted({r.raw_status for r in self.query(Query())})

    def check_query(self, q: Query) -> None:
        """Refuse what would silently answer nothing: a key of ``CATALOGUED_ROOTS`` that no run has
        (a key that only some runs lack is fine) and a status no run can have.  A store without
        runs accepts everything (its empty answer is the truth)."""
        keys = [f.parsed_key for f in q.filters if not f.row]
        keys += [o.parsed_key for o in q.order if not o.row]
        for key in dict.fromkeys(keys):
            if key.root in CATALOGUED_ROOTS and key.path and not self.has_key(key):
                if self.count() == 0:
                    return
                raise self.unknown_key(key)
        for flt in q.filters:
            if flt.parsed_key.root != "status" or flt.op not in ("==", "!=", "in"):
                continue
            for value in flt.value if flt.op == "in" else [flt.value]:
                if isinstance(value, str) and value not in STATUSES:
                    stored = self.statuses()
                    if value not in stored:
                        known = list(dict.fromkeys([*STATUSES, *stored]))
                        raise QueryError(
                            f"'{value}' is not a status"
                            f"{suggest(value.upper(), known)}; statuses: "
                            f"{', '.join(known)}"
                        )

    def unknown_key(self, key: Key) -> QueryError:
        """The error for a key no run has, with the closest keys the store does have."""
        shown = f"metrics.{key.path[0]}" if key.root == "metrics" else key.text
        names = self.key_names(key.root)
        hint = _suggest_key(key.root, ".".join(key.path), names)
        if not hint and key.root != "metrics":
            hint = _suggest_key("metrics", ".".join(key.path), self.key_names("metrics"))
        listing = ""
        if not hint:
            some = ", ".join(names[:8]) + (f" ... ({len(names)} in all)" if len(names) > 8 else "")
            listing = (
                f"; {key.root} keys in the store: {some}" if names else f"; no run has any {key.root} keys"
            )
        return QueryError(f"no run in {self} has the key '{shown}'{hint}{listing}")

    def check_rows(
        self,
        run_id: Any,
        table: str,
        where: Sequence[Filter] = (),
        order: Sequence[Order] = (),
        limit: Optional[int] = None,
    ) -> None:
        """Refuse a row filter or sort on a column the table does not have, and a negative
        limit."""
        check_count("limit", limit)
        named = [f.key for f in where] + [o.key for o in order]
        if not named:
            return
        columns = list(dict.fromkeys(k for row in self.rows(run_id, table) for k in row))
        for name in named:
            if name not in columns:
                raise QueryError(
                    f"table '{table}' of run {run_id} has no column '{name}'"
                    f"{suggest(name, columns)}; columns: {', '.join(columns)}"
                )

    def metric_goal(self, metric: str) -> tuple:
        """``(goal, why)``: ``"min"`` or ``"max"`` for ``metric``, and where that came from.

        The direction the latest run that logged the metric recorded (``ex.metric_goal`` or
        ``log_scalar(..., goal=)``, kept in ``info["metric_goals"]``) wins; else a word of the name
        decides (loss, error, mse ... are lower-is-better; accuracy, f1, reward ... higher); else
        higher is better."""
        latest = self.query(
            Query(
                filters=(Filter(f"metrics.{metric}.count", ">", 0),),
                order=(Order("start_time", descending=True),),
                limit=1,
            )
        )
        goals = latest[0].info.get(GOALS_INFO_KEY) if latest and isinstance(latest[0].info, dict) else None
        for goal in ("min", "max"):
            if isinstance(goals, dict) and metric in (goals.get(goal) or ()):
                return goal, f"recorded by run {latest[0].id}"
        inferred = infer_goal(metric)
        if inferred:
            return inferred[0], f"from the name '{inferred[1]}'"
        return "max", "the default: nothing recorded and the name does not say"

    def goal_note(self, metric: str, minimize: Optional[bool] = None) -> tuple:
        """``(minimize, text)``: the direction to use (``minimize`` if given) and a line saying
        which one was used and why, as commands print it."""
        if minimize is not None:
            return minimize, (
                f"{metric}: {'lower' if minimize else 'higher'} is better "
                f"({'--min' if minimize else '--max'})"
            )
        goal, why = self.metric_goal(metric)
        flip = "--max" if goal == "min" else "--min"
        return goal == "min", (
            f"{metric}: {'lower' if goal == 'min' else 'higher'} is better ({why}; {flip} to override)"
        )

    def copy_artifact(self, run_id: Any, name: str, dest: Union[str, Path]) -> Path:
        """Copy an artifact out; ``dest`` may be an existing directory (the artifact keeps its
        name).  A missing target directory is a ``StoreError`` before anything is read; the file
        is written under a temporary name and renamed, so a failed copy leaves nothing half
        written."""
        wants_dir = str(dest).endswith(("/", os.sep))
        dest = Path(dest)
        if dest.is_dir() or wants_dir:
            dest = dest / Path(name).name
        if not dest.parent.is_dir():
            raise StoreError(
                f"cannot copy artifact '{name}' of run {run_id} to {dest}: the "
                f"directory {dest.parent} does not exist"
            )
        tmp = dest.with_name(f".{dest.name}.part")
        try:
            with self.artifact(run_id, name) as src, open(tmp, "wb") as out:
                shutil.copyfileobj(src, out)
            os.replace(tmp, dest)
        except OSError as exc:
            raise StoreError(
                f"cannot copy artifact '{name}' of run {run_id} to {dest}: {exc.strerror or exc}"
            ) from None
        finally:
            if tmp.exists():
                tmp.unlink()
        return dest

    def dead_cutoff(self) -> _dt.datetime:
        """A RUNNING run whose last sign of life is before this time is DEAD (for push-down)."""
        return self.clock() - _dt.timedelta(seconds=self.dead_after)

    def effective_status(
        self, raw_status: str, heartbeat: Optional[_dt.datetime], start_time: Optional[_dt.datetime]
    ) -> str:
        """``DEAD`` for a RUNNING run without a recent sign of life, else the stored status."""
        if raw_status != "RUNNING":
            return raw_status
        alive = heartbeat or start_time
        return "DEAD" if alive is None or alive < self.dead_cutoff() else raw_status

    def new_record(self, **fields: Any) -> RunRecord:
        """Build a ``RunRecord`` attached to this store; ``status`` is the stored status (the
        effective one
        is computed here) and ``id`` is turned into text."""
        raw = fields.pop("status", None) or "RUNNING"
        fields["id"] = str(fields["id"])
        # Sacred's jsonpickle forms (numpy arrays, tuples, dates ...) as plain values; nothing is
        # instantiated, unknown tagged objects stay the data they are.
        from ..serialize import safe_restore

        for name in ("config", "info", "result"):
            if name in fields:
                fields[name] = safe_restore(fields[name])
        status = self.effective_status(raw, fields.get("heartbeat"), fields.get("start_time"))
        return RunRecord(status=status, raw_status=raw, store=self, **fields)

    def unknown_run(
        self, run_id: Any, known: Optional[Iterable[Any]] = None, complete: bool = True
    ) -> StoreError:
        """The error for an unknown run id.  With the stored ids ``known`` it suggests one: first
        one differing only in case (the slip ids that compare by case invite), else the closest;
        when none is close and ``known`` is every stored id (``complete``), it names the ids there
        are, so that "no run '99'" is not a dead end."""
        if known is None:
            return StoreError(f"no run '{run_id}' in {self}")
        texts = sorted({str(k) for k in known}, key=id_sort_key)
        same = [text for text in texts if text.casefold() == str(run_id).casefold()]
        hint = f" (did you mean '{same[0]}'?)" if same else suggest(str(run_id), texts)
        if not hint and complete:
            hint = _id_listing(texts)
        return StoreError(f"no run '{run_id}' in {self}{hint}")
