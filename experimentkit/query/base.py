"""The read-side contract: run records, the query model, and the ``Store`` every backend implements.

Backends (``experimentkit/backends/<tech>/store.py``) subclass :class:`Store`.  The semantics every
backend must reproduce are those of :func:`experimentkit.query.semantics.apply_in_python` (and of
:class:`experimentkit.query.memory.InMemoryStore`, which is nothing but that function over a list);
the shared cases in ``tests/store_conformance.py`` check them.  Summary of the rules:

Keys (:func:`parse_key`)
    ``id``, ``status``, ``experiment`` (the name; ``experiment.<field>`` for the other ex_info
    fields), ``command``, ``start_time``, ``stop_time``, ``heartbeat``, ``host`` / ``host.<field>``,
    ``config.<dotted>``, ``info.<dotted>``, ``meta.<dotted>``, ``result`` / ``result.<dotted>``,
    ``tags``, ``notes``, and ``metrics.<name>`` (the last value) /
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
import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO, Callable, Optional, Union

from ..errors import QueryError, StoreError, suggest

__all__ = [
    "RunRecord", "MetricSeries", "Key", "Filter", "Order", "Query", "RunQuery", "Store",
    "parse_key", "parse_order", "KEY_ROOTS", "OPERATORS", "AGGREGATES", "TIME_KEYS",
    "DEFAULT_DEAD_AFTER", "utcnow",
]

#: Every operator a filter may use.
OPERATORS = ("==", "!=", "<", "<=", ">", ">=", "contains", "in")
#: The aggregates a ``metrics.<name>.<agg>`` key may name.
AGGREGATES = ("last", "min", "max", "count")
#: Top-level keys whose value is a naive-UTC datetime.
TIME_KEYS = ("start_time", "stop_time", "heartbeat")
_SCALAR_ROOTS = ("id", "status", "command", "tags", "notes") + TIME_KEYS
_NESTED_ROOTS = ("experiment", "host", "config", "info", "meta", "result", "metrics")
#: Every valid first component of a key.
KEY_ROOTS = _SCALAR_ROOTS + _NESTED_ROOTS
#: A RUNNING run whose heartbeat is older than this (seconds) is reported as DEAD.
DEFAULT_DEAD_AFTER = 120.0


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

        return (np.asarray(self.steps), np.array(self.values, dtype=float),
                self._numpy_times(np))

    def _numpy_times(self, np: Any) -> Any:
        return np.array(self.timestamps, dtype="datetime64[us]")

    def to_frame(self) -> Any:
        """A pandas DataFrame with the columns ``step``, ``value``, ``timestamp`` (needs pandas)."""
        import pandas as pd

        return pd.DataFrame({"step": self.steps, "value": self.values,
                             "timestamp": pd.to_datetime(self.timestamps)})


class TextTimeSeries(MetricSeries):
    """A ``MetricSeries`` whose timestamps stay the stored naive ISO-8601 texts until they are asked
    for: ``to_numpy`` parses them in C, ``timestamps`` makes the datetimes on first use."""

    def __init__(self, name: str, steps: list, values: list, time_texts: list):
        self.name, self.steps, self.values = name, steps, values
        self._texts = time_texts
        self._times: Optional[list] = None

    @property  # type: ignore[override]
    def timestamps(self) -> list:
        if self._times is None:
            self._times = [_naive_utc(text) for text in self._texts]
        return self._times

    @timestamps.setter
    def timestamps(self, value: list) -> None:
        self._times = value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MetricSeries):
            return NotImplemented
        return ((self.name, self.steps, self.values, self.timestamps)
                == (other.name, other.steps, other.values, other.timestamps))

    __hash__ = None  # type: ignore[assignment]

    def _numpy_times(self, np: Any) -> Any:
        if self._times is None:
            import warnings

            try:  # naive ISO text, parsed in C; a time zone (a warning in numpy) takes the slow path
                with warnings.catch_warnings():
                    warnings.simplefilter("error")
                    return np.array(self._texts, dtype="datetime64[us]")
            except (ValueError, TypeError, Warning):
                pass
        return super()._numpy_times(np)


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
    never unpickle or jsonpickle-decode what they read.
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
    metrics: dict = field(default_factory=dict)  # {name: {"last", "min", "max", "count"}}
    store: Optional[Store] = field(default=None, repr=False, compare=False)

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
        for name in (self.metric_names() if names is None else names):
            frame = self.metric(name).to_frame()
            frame.insert(0, "metric", name)
            frames.append(frame)
        if not frames:
            return pd.DataFrame(columns=["metric", "step", "value", "timestamp"])
        return pd.concat(frames, ignore_index=True)

    def open_artifact(self, name: str) -> BinaryIO:
        return self._store().artifact(self.id, name)

    def copy_artifact(self, name: str, dest: Union[str, Path]) -> Path:
        return self._store().copy_artifact(self.id, name, dest)

    def tables(self) -> list:
        return self._store().tables(self.id)

    def rows(self, table: str, where: Union[str, Filter, Sequence] = (),
             sort: Union[str, Order, Sequence] = (), limit: Optional[int] = None) -> list:
        """Per-sample rows of ``table``; ``where``/``sort`` as strings (``"loss > 2"``, ``"-loss"``)
        or objects."""
        from .expr import parse_row_where

        filters = [parse_row_where(w) if isinstance(w, str) else w for w in _as_list(where)]
        orders = [parse_order(s, row=True) if isinstance(s, str) else s for s in _as_list(sort)]
        return self._store().rows(self.id, table, where=filters, order=orders, limit=limit)

    def to_dict(self) -> dict:
        """A JSON-ready summary: what ``experimentkit ls --format json`` prints for a run."""
        return {
            "id": self.id, "experiment": self.experiment.get("name"), "status": self.status,
            "raw_status": self.raw_status, "command": self.command,
            "start_time": _iso(self.start_time), "stop_time": _iso(self.stop_time),
            "heartbeat": _iso(self.heartbeat), "host": self.host.get("hostname"),
            "config": self.config, "result": self.result,
            "metrics": {name: summary.get("last") for name, summary in self.metrics.items()},
            "tags": list(self.tags), "notes": self.notes, "comment": self.meta.get("comment"),
        }


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
    if root not in KEY_ROOTS:
        raise QueryError(f"unknown key '{text}'{suggest(root, KEY_ROOTS)}; keys start with one of: "
                         + ", ".join(KEY_ROOTS))
    if not rest:
        if root == "metrics":
            raise QueryError("'metrics' needs a metric name, as in 'metrics.loss' or "
                             "'metrics.loss.min'")
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
            raise QueryError(f"unknown operator '{self.op}'{suggest(self.op, OPERATORS)}; "
                             f"use one of: {' '.join(OPERATORS)}")
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
            raise QueryError(f"'{key.text}' needs a time like 2024-05-01 or 2024-05-01T12:30, "
                             f"not {value!r}") from None
        return _coerce(key, parsed)
    if key.root == "id" and not isinstance(value, bool):
        return str(value)
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
        return RunQuery(self.store, self.query.replace(limit=n))

    def offset(self, n: int) -> RunQuery:
        return RunQuery(self.store, self.query.replace(offset=n))

    def all(self) -> list:
        return self.store.query(self.query)

    def first(self) -> Optional[RunRecord]:
        found = self.store.query(self.query.replace(limit=1))
        return found[0] if found else None

    def count(self) -> int:
        return self.store.count(self.query)

    def __iter__(self) -> Iterator[RunRecord]:
        return iter(self.all())


# --------------------------------------------------------------------------------------------------
# the store interface
# --------------------------------------------------------------------------------------------------
class Store(abc.ABC):
    """A readable (and annotatable) collection of runs.  Subclasses implement the abstract methods.

    ``dead_after`` (seconds) and ``clock`` (returns naive-UTC now) decide when a RUNNING run counts
    as DEAD; build records with :meth:`new_record` so that this is applied uniformly.  Every method
    that takes a ``run_id`` raises ``StoreError`` for an unknown id (message: ``no run 'X' in
    <store>``).
    """

    def __init__(self, *, dead_after: float = DEFAULT_DEAD_AFTER,
                 clock: Callable[[], _dt.datetime] = utcnow):
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

    @abc.abstractmethod
    def tables(self, run_id: Any) -> list:
        """Names of the per-sample tables (``_run.log_table``) of the run, sorted."""

    @abc.abstractmethod
    def rows(self, run_id: Any, table: str, where: Sequence[Filter] = (),
             order: Sequence[Order] = (), limit: Optional[int] = None) -> list:
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

    def best(self, metric: str, minimize: bool = False, where: Union[str, Filter, Sequence] = (),
             aggregate: str = "last") -> Optional[RunRecord]:
        """The run with the best ``aggregate`` of ``metric`` among runs matching ``where`` (None if
        none
        logged it).  ``metric`` is the bare name (``val.accuracy``) or a ``metrics.`` key."""
        key = metric if metric.startswith("metrics.") else f"metrics.{metric}.{aggregate}"
        parsed = parse_key(key)
        query = self.runs().where(*_as_list(where)).where(Filter(parsed.text, "!=", None))
        return query.order_by(Order(parsed.text, descending=not minimize)).first()

    def copy_artifact(self, run_id: Any, name: str, dest: Union[str, Path]) -> Path:
        """Copy an artifact out; ``dest`` may be a directory (the artifact keeps its name)."""
        dest = Path(dest)
        if dest.is_dir():
            dest = dest / Path(name).name
        with self.artifact(run_id, name) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out)
        return dest

    def dead_cutoff(self) -> _dt.datetime:
        """A RUNNING run whose last sign of life is before this time is DEAD (for push-down)."""
        return self.clock() - _dt.timedelta(seconds=self.dead_after)

    def effective_status(self, raw_status: str, heartbeat: Optional[_dt.datetime],
                         start_time: Optional[_dt.datetime]) -> str:
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
        status = self.effective_status(raw, fields.get("heartbeat"), fields.get("start_time"))
        return RunRecord(status=status, raw_status=raw, store=self, **fields)

    def unknown_run(self, run_id: Any, known: Iterable[Any] = ()) -> StoreError:
        """The error for an unknown run id (with a suggestion among ``known`` when given)."""
        hint = suggest(str(run_id), [str(k) for k in known])
        return StoreError(f"no run '{run_id}' in {self}{hint}")
