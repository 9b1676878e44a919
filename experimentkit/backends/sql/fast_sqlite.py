"""``FastSqliteStore``: an SQLite run store whose queries need only the standard library.

Why: importing SQLAlchemy and creating an engine costs about 0.3 s, several times the whole budget
of "top 10 runs from a fresh process".  ``open_store("sqlite:///...")`` returns this store.  Its
``query``/``count``/``get`` send, over a read-only ``sqlite3`` connection, the SQL that ``SqlStore``
generates for SQLite (mirrored here as text: the same ``WHERE`` conditions with JSON type checks,
the same ``ORDER BY`` with type ranks, missing-last and the natural-id tie-break, the same
``LIMIT``/``OFFSET`` and the same finishing in Python), and build records with the shared
``common.record_from_row``.  Keep the two translations in step: ``tests/test_sql_store_fast.py``
compares them on random queries.

Everything else (metric series, artifacts, per-sample rows, tags, notes, deletion) and every case
this path does not take goes to a full ``SqlStore`` made on first need (importing SQLAlchemy):

* the database is not at the current schema version (the full store upgrades it; this path never
  writes);
* the URL is not a plain file path (``:memory:``, URL query parameters, another driver);
* a JSON column the query reads is NULL in some row (Sacred-era rows: Python decides), or SQLite
  rejects stored JSON (NaN/Infinity: the full store evaluates JSON in Python);
* any other ``sqlite3`` error.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import operator
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, Optional

from ...query.base import (
    DEFAULT_DEAD_AFTER,
    TIME_KEYS,
    ColumnSeries,
    Filter,
    Key,
    MetricSeries,
    Order,
    Query,
    RunRecord,
    Store,
    utcnow,
)
from ...query.semantics import apply_in_python
from .common import (
    BLOCKS_SQL,
    EXPERIMENT_COLUMNS,
    HOST_COLUMNS,
    INT_TEXT,
    SCHEMA_VERSION,
    catalogue_name,
    chunks,
    keys_to_confirm,
    packed_series,
    plan_query,
    record_from_row,
)

__all__ = ["FastSqliteStore", "sqlite_file"]

_FIRST = operator.itemgetter(0)

_RUN_COLUMNS = (
    "run_id",
    "status",
    "command",
    "comment",
    "priority",
    "start_time",
    "stop_time",
    "heartbeat",
    "fail_trace",
    "config",
    "info",
    "meta",
    "host_info",
    "result",
    "result_json",
    "note",
    "experiment_id",
)
_JOINED_COLUMNS = (
    "experiment.name AS ex_name",
    "experiment.base_dir AS ex_base_dir",
    "experiment.mainfile AS ex_mainfile",
    "host.hostname AS h_hostname",
    "host.cpu AS h_cpu",
    "host.os AS h_os",
    "host.os_info AS h_os_info",
    "host.python_version AS h_python_version",
)
_FROM = (
    " FROM run LEFT OUTER JOIN experiment ON run.experiment_id = experiment.experiment_id"
    " LEFT OUTER JOIN host ON run.host_id = host.host_id"
)
_JSON_KINDS = (
    "CASE {} WHEN 'integer' THEN 'n' WHEN 'real' THEN 'n' WHEN 'true' THEN 'b'"
    " WHEN 'false' THEN 'b' WHEN 'text' THEN 's' WHEN 'null' THEN 'z'"
    " WHEN 'array' THEN 'o' WHEN 'object' THEN 'o' END"
)
_COMPARE = ("<", "<=", ">", ">=")
_FALSE = "0"


class _Fallback(Exception):
    """This query (or database) is one for the full ``SqlStore``."""


def sqlite_file(url: str) -> Optional[str]:
    """The database file of a plain ``sqlite:///path`` URL, or None when the URL is anything
    else (memory, URL parameters, another driver, percent-escapes SQLAlchemy would decode)."""
    scheme, sep, rest = str(url).partition("://")
    if not sep or scheme.lower() not in ("sqlite", "sqlite+pysqlite") or not rest.startswith("/"):
        return None
    path = rest[1:]
    if not path or path == ":memory:" or "?" in path or "%" in path:
        return None
    return path


def _time_text(value: _dt.datetime) -> str:
    """A datetime as SQLAlchemy stores it in SQLite (so that text comparison orders times)."""
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d} {value.hour:02d}:"
        f"{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}"
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _coalesce(expr: str) -> str:
    return f"coalesce({expr}, 0)"


# --------------------------------------------------------------------------------------------------
# translation (mirrors store.py's _Operand/_equal/_condition/_order_terms for the SQLite dialect)
# --------------------------------------------------------------------------------------------------
@dataclass
class _Operand:
    """SQL text for one key; the fields mean what they mean in ``store._Operand``."""

    present: str
    num: Optional[str] = None
    txt: Optional[str] = None
    time: Optional[str] = None
    boolean: Optional[str] = None
    rank: Optional[str] = None
    onum: Optional[str] = None
    other: Optional[str] = None
    suspect: Optional[str] = None
    fast_num: Optional[str] = None
    num_check: Optional[str] = None
    substring: bool = False
    is_id: bool = False


class _Translator:
    """Turns filters and orders into SQL text; values become named parameters in ``params``."""

    def __init__(self, dead_cutoff: _dt.datetime):
        self.params: dict = {}
        self.dead_cutoff = dead_cutoff

    def param(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = _time_text(value) if isinstance(value, _dt.datetime) else value
        return ":" + name

    # ---- key -> operand ---------------------------------------------------------------------------
    def operand(self, key: Key) -> Optional[_Operand]:
        root, path = key.root, key.path
        if root == "id":
            return _Operand(present="1", txt="run.run_id", is_id=True)
        if root == "status":
            return _Operand(present="1", txt=self.status_expr(), substring=True)
        if root == "command":
            return _Operand(present="run.command IS NOT NULL", txt="run.command", substring=True)
        if root in TIME_KEYS:
            return _Operand(present=f"run.{root} IS NOT NULL", time=f"run.{root}")
        if root == "notes":
            return _Operand(present="1", txt="coalesce(run.note, '')", substring=True)
        if root == "experiment" and len(path) == 1 and path[0] in EXPERIMENT_COLUMNS:
            column = f"experiment.{path[0]}"
            return _Operand(present=f"{column} IS NOT NULL", txt=column, substring=True)
        if root == "host" and len(path) == 1 and path[0] in HOST_COLUMNS:
            column = f"host.{path[0]}"
            return _Operand(present=f"{column} IS NOT NULL", txt=column, substring=True)
        if root == "host" and path and path[0] != "os":
            return self.json_operand("run.host_info", path, null_is_suspect=True)
        if root in ("config", "info", "meta") and path:
            return self.json_operand(
                f"run.{root}", path, null_is_suspect=root == "meta", tagged_is_suspect=root != "meta"
            )
        if root == "result":
            return self.json_operand(
                "run.result_json",
                path,
                tagged_is_suspect=True,
                numeric_fallback=None if path else "run.result",
            )
        if root == "metrics":
            value = self.metric_expr(path[0], key.aggregate)
            return _Operand(present=f"{value} IS NOT NULL", num=value, onum=value)
        return None

    def json_operand(
        self,
        column: str,
        path: Sequence[str],
        numeric_fallback: Optional[str] = None,
        null_is_suspect: bool = False,
        tagged_is_suspect: bool = False,
    ) -> Optional[_Operand]:
        if any(INT_TEXT.match(p) or '"' in p or "\\" in p for p in path):
            return None
        json_path = self.param("$" + "".join(f'."{p}"' for p in path))
        raw_type = f"json_type({column}, {json_path})"
        as_text = f"json_extract({column}, {json_path})"
        kind = _JSON_KINDS.format(raw_type)
        number = as_text
        if numeric_fallback is not None:  # Sacred-era rows: no JSON, only the numeric column
            kind = (
                f"CASE WHEN {column} IS NULL THEN CASE WHEN {numeric_fallback} IS NOT NULL"
                f" THEN 'n' END ELSE {kind} END"
            )
            number = f"CASE WHEN {column} IS NULL THEN {numeric_fallback} ELSE {number} END"
        boolean = f"CASE WHEN {kind} = 'b' THEN CASE WHEN {as_text} = 1 THEN 1 ELSE 0 END END"
        num = f"CASE WHEN {kind} = 'n' THEN {number} END"
        return _Operand(
            present=f"({kind} IS NOT NULL AND {kind} != 'z')",
            num=num,
            txt=f"CASE WHEN {kind} = 's' THEN {as_text} END",
            boolean=boolean,
            rank=f"CASE WHEN {kind} IN ('n', 'b') THEN 0 WHEN {kind} = 's' THEN 1"
            f" WHEN {kind} = 'o' THEN 3 END",
            onum=f"CASE WHEN {kind} = 'n' THEN {num} WHEN {kind} = 'b' THEN {boolean} END",
            other=f"{kind} = 'o'",
            suspect=_suspect(column, null_is_suspect, tagged_is_suspect),
            fast_num=number if numeric_fallback is None else None,
            num_check=f"{raw_type} IN ('integer', 'real')",
        )

    def status_expr(self) -> str:
        """The effective status (DEAD for a RUNNING run without a recent sign of life)."""
        alive = "coalesce(run.heartbeat, run.start_time)"
        status = "coalesce(run.status, 'RUNNING')"
        cutoff = self.param(self.dead_cutoff)
        return (
            f"CASE WHEN ({status} = 'RUNNING' AND ({alive} IS NULL OR {alive} < {cutoff}))"
            f" THEN 'DEAD' ELSE {status} END"
        )

    def metric_expr(self, name: str, aggregate: str) -> str:
        """One row of ``metric_summary`` per run, as ``SqlStore._metric_expr``."""
        column = {"last": "last_value", "min": "min_value", "max": "max_value"}.get(aggregate, "point_count")
        where = f"ms.run_id = run.run_id AND ms.name = {self.param(name)}"
        return f"(SELECT ms.{column} FROM metric_summary AS ms WHERE {where})"

    def tags_condition(self, flt: Filter) -> Optional[str]:
        wanted = [flt.value] if flt.op == "contains" else (flt.value if flt.op == "in" else None)
        if wanted is None:
            return None
        names = [w for w in wanted if isinstance(w, str)]
        if not names:
            return _FALSE
        listed = ", ".join(self.param(name) for name in names)
        return f"EXISTS (SELECT 1 FROM tag WHERE tag.run_id = run.run_id AND tag.tag IN ({listed}))"

    # ---- conditions -------------------------------------------------------------------------------
    def equal(self, op: _Operand, value: Any) -> Optional[str]:
        """True exactly when the key's value equals ``value`` (never NULL); None: Python decides."""
        if value is None:
            return f"NOT ({op.present})"
        if isinstance(value, bool):
            return _FALSE if op.boolean is None else _coalesce(f"({op.boolean}) = {self.param(int(value))}")
        if _is_number(value):
            if op.fast_num is not None:
                return _coalesce(f"({op.fast_num}) = {self.param(value)} AND {op.num_check}")
            return _FALSE if op.num is None else _coalesce(f"({op.num}) = {self.param(value)}")
        if isinstance(value, str):
            return _FALSE if op.txt is None else _coalesce(f"({op.txt}) = {self.param(value)}")
        if isinstance(value, _dt.datetime):
            return _FALSE if op.time is None else _coalesce(f"{op.time} = {self.param(value)}")
        return None

    def condition(self, op: _Operand, flt: Filter) -> Optional[str]:
        value = flt.value
        if flt.op == "==":
            return self.equal(op, value)
        if flt.op == "!=":
            eq = self.equal(op, value)
            return None if eq is None else f"NOT ({eq})"
        if flt.op == "in":
            if op.other is not None:  # a list value matches when any element does: Python
                return None
            parts = [self.equal(op, v) for v in value]
            if any(p is None for p in parts):
                return None
            return " OR ".join([_FALSE] + [f"({p})" for p in parts])
        if flt.op == "contains":
            if op.substring and isinstance(value, str):
                return _coalesce(f"instr({op.txt}, {self.param(value)}) > 0")
            return None if op.other is not None else _FALSE
        assert flt.op in _COMPARE, flt.op
        if value is None or isinstance(value, bool):
            return _FALSE
        if op.is_id:
            is_int = _is_int_text(op.txt)
            if INT_TEXT.match(value) and len(value) <= 18:
                return f"({is_int}) AND CAST({op.txt} AS BIGINT) {flt.op} {self.param(int(value))}"
            return f"NOT ({is_int}) AND {op.txt} {flt.op} {self.param(value)}"
        if _is_number(value):
            if op.fast_num is not None:
                return _coalesce(f"({op.fast_num}) {flt.op} {self.param(value)} AND {op.num_check}")
            return _FALSE if op.num is None else _coalesce(f"({op.num}) {flt.op} {self.param(value)}")
        if isinstance(value, str):
            return _FALSE if op.txt is None else _coalesce(f"({op.txt}) {flt.op} {self.param(value)}")
        if isinstance(value, _dt.datetime):
            return _FALSE if op.time is None else _coalesce(f"{op.time} {flt.op} {self.param(value)}")
        return _FALSE

    # ---- a whole query ----------------------------------------------------------------------------
    def plan(self, q: Query) -> tuple:
        """See ``common.plan_query``."""
        return plan_query(
            q,
            operand=self.operand,
            condition=self.condition,
            tags_condition=self.tags_condition,
            order_terms=_order_terms,
            id_terms=lambda: _id_terms("run.run_id"),
        )


def _is_int_text(expr: str) -> str:
    """SQL true when ``expr`` looks like an integer (``-?[0-9]+``, 18 digits at most)."""
    digits = f"CASE WHEN {expr} LIKE '-%' THEN substr({expr}, 2) ELSE {expr} END"
    return f"({digits}) != '' AND ({digits}) NOT GLOB '*[^0-9]*' AND length({expr}) <= 18"


def _order_terms(op: _Operand, descending: bool) -> list:
    """ORDER BY terms giving the reference order: missing last, then by rank, then by value."""
    if op.is_id:
        return _id_terms(op.txt, descending)
    direction = " DESC" if descending else " ASC"
    exprs = [op.rank] if op.rank is not None else []
    exprs += [e for e in (op.onum if op.onum is not None else op.num, op.txt, op.time) if e is not None]
    # The first term is NULL exactly when the value is missing (JSON null has no rank).
    terms = [f"{e}{direction}" for e in exprs]
    return [terms[0] + " NULLS LAST"] + terms[1:]


def _id_terms(run_id: str, descending: bool = False) -> list:
    """Natural id order: integer-looking ids numerically, before the others (as text)."""
    is_int = _is_int_text(run_id)
    direction = " DESC" if descending else " ASC"
    return [
        f"CASE WHEN {is_int} THEN 0 ELSE 1 END{direction}",
        f"CASE WHEN {is_int} THEN CAST({run_id} AS BIGINT) END{direction}",
        f"{run_id}{direction}",
    ]


def _select(extra: Sequence[str] = ()) -> str:
    columns = [f"run.{c}" for c in _RUN_COLUMNS] + list(_JOINED_COLUMNS) + list(extra)
    return "SELECT " + ", ".join(columns) + _FROM


def _where(conditions: Sequence[str]) -> str:
    return " WHERE " + " AND ".join(f"({c})" for c in conditions) if conditions else ""


def _parse_time(value: Any) -> Optional[_dt.datetime]:
    """A stored time as SQLAlchemy reads it back from SQLite (a server's driver gives datetimes)."""
    if value is None or isinstance(value, _dt.datetime):
        return value
    if not isinstance(value, str):
        raise _Fallback
    return _dt.datetime.fromisoformat(value)


# --------------------------------------------------------------------------------------------------
# the store
# --------------------------------------------------------------------------------------------------
class FastSqliteStore(Store):
    """The runs of an SQLite file written by ``SqlObserver``, queried without SQLAlchemy.

    Same results as ``SqlStore(url)`` (see the module docstring for what goes to it).  ``stats``
    counts the ``query``/``count``/``get`` calls each path answered: ``{"fast": n, "full": m}``.
    """

    def __init__(
        self, url: str, *, dead_after: float = DEFAULT_DEAD_AFTER, clock: Callable[[], _dt.datetime] = utcnow
    ):
        super().__init__(dead_after=dead_after, clock=clock)
        self.url = url
        self.path = sqlite_file(url)
        self.stats = {"fast": 0, "full": 0}
        self._full: Any = None
        self._experiments: dict = {}  # experiment_id -> dict (rows are immutable once written)

    def __str__(self) -> str:
        return str(self.url)

    @property
    def full(self) -> Any:
        """The ``SqlStore`` behind this one (created, and SQLAlchemy imported, on first use)."""
        if self._full is None:
            from .store import SqlStore

            self._full = SqlStore(self.url, dead_after=self.dead_after, clock=self.clock)
        self._full.dead_after, self._full.clock = self.dead_after, self.clock
        return self._full

    @property
    def engine(self) -> Any:
        """The full store's SQLAlchemy engine (for callers that reach for it)."""
        return self.full.engine

    def close(self) -> None:
        if self._full is not None:
            self._full.close()

    def sweep_book(self) -> Any:
        return self.full.sweep_book()

    # ---- the stdlib path ----------------------------------------------------------------------
    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection to a database at the current layout, else ``_Fallback``."""
        if self.path is None:
            raise _Fallback
        uri = Path(self.path).absolute().as_uri() + "?mode=ro"
        conn = sqlite3.connect(uri, uri=True, timeout=30)
        try:
            version = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                raise _Fallback
            yield conn
        finally:
            conn.close()

    def _fast(self, work: Callable[[], Any], fallback: Callable[[Any], Any]) -> Any:
        try:
            answer = work()
        except (_Fallback, sqlite3.Error):
            self.stats["full"] += 1
            return fallback(self.full)
        self.stats["fast"] += 1
        return answer

    def query(self, q: Query) -> list:
        return self._fast(lambda: self._confirmed(q, self._query(q)), lambda full: full.query(q))

    def count(self, q: Query = Query()) -> int:  # noqa: B008 - the base class's signature
        def work() -> int:
            found = self._count(q)
            if found == 0:
                self._confirmed(q.replace(order=()), [])
            return found

        return self._fast(work, lambda full: full.count(q))

    def _confirmed(self, q: Query, answer: list) -> list:
        """``answer``, once the catalogued keys it shows no sign of are found in the runs; a stale
        catalogue row (runs deleted by hand) goes to the full store, which deletes it and refuses
        the query (see ``SqlStore.confirm_keys``)."""
        self.confirm_keys(keys_to_confirm(q, answer))
        return answer

    def confirm_keys(self, keys: Sequence[Key]) -> None:
        """Catalogued ``keys`` that no run has any more go to the full store, which deletes their
        catalogue rows and refuses them (``SqlStore.confirm_keys``); the look itself is stdlib SQL."""
        if not keys:
            return
        try:
            with self._connect() as conn:
                stale = [
                    key
                    for key in keys
                    if conn.execute(
                        "SELECT 1 FROM run_key WHERE root = ? AND name = ?", (key.root, catalogue_name(key))
                    ).fetchone()
                    and not _has_key(conn, key, "run", "metric")
                ]
        except (_Fallback, sqlite3.Error):
            stale = list(keys)  # the full store looks again
        if stale:
            self.full.confirm_keys(stale)

    def get(self, run_id: Any) -> RunRecord:
        return self._fast(lambda: self._get(run_id), lambda full: full.get(run_id))

    # ---- the key catalogue (not counted in ``stats``: it is not an answer) -----------------------
    def has_key(self, key: Key) -> bool:
        """One lookup in the catalogue ``run_key``; a key it lacks goes to the full store, which
        looks in the runs (and adds the key when found: this path never writes)."""
        name = catalogue_name(key)
        if name is None:
            return True
        try:
            with self._connect() as conn:
                found = conn.execute("SELECT 1 FROM run_key WHERE root = ? AND name = ?", (key.root, name))
                if found.fetchone() is not None:
                    return True
        except (_Fallback, sqlite3.Error):
            pass
        return self.full.has_key(key)

    def key_names(self, root: str) -> list:
        return self.full.key_names(root)

    def statuses(self) -> list:
        return self.full.statuses()

    def _query(self, q: Query) -> list:
        with self._connect() as conn:
            tr = _Translator(self.dead_cutoff())
            pushed, terms, others, suspects = tr.plan(q)
            conditions = [cond for _, cond in pushed]
            order = " ORDER BY " + ", ".join(terms) if terms is not None else ""
            exact = len(pushed) == len(q.filters) and terms is not None
            if exact and q.limit is not None and q.limit > 0:
                found = self._top_by_summary(conn, q, tr, conditions, suspects, order, others)
                if found is not None:
                    return found
            _refuse_suspects(conn, suspects, tr.params)
            where = _where(conditions)
            if exact and (q.limit is not None or q.offset):
                flags = [f"{o} AS _other{i}" for i, o in enumerate(others)]
                limit = -1 if q.limit is None else max(int(q.limit), 0)
                window = f" LIMIT {limit} OFFSET {max(int(q.offset or 0), 0)}"
                rows = _fetch(conn, _select(flags) + where + order + window, tr.params)
                if not any(row[f"_other{i}"] for row in rows for i in range(len(others))):
                    return apply_in_python(
                        self._records(conn, rows), q, filtered=q.filters, ordered=True, limited=True
                    )
            rows = _fetch(conn, _select() + where + order, tr.params)
            records = self._records(conn, rows)
        return apply_in_python(
            records, q, filtered=[f for f, _ in pushed], ordered=terms is not None and not others
        )

    def _top_by_summary(
        self,
        conn: sqlite3.Connection,
        q: Query,
        tr: _Translator,
        conditions: list,
        suspects: list,
        order: str,
        others: list,
    ) -> Optional[list]:
        """The first ``offset + limit`` runs of a query ordered first by a metric's last value,
        read from the best runs of that metric instead of from every run; None when this does
        not apply (the caller runs the plain query).

        The index of ``metric_summary`` on ``(name, last_value)`` gives the k-th best value v.
        Every run outside "value at least as good as v" sorts after every run inside (its value
        is worse, or missing), so when the query restricted to the inside already fills the
        window, its answer is the answer.  Otherwise k grows; once fewer than k runs have a value
        the plain query runs.  Suspect JSON matters only inside the restricted set."""
        if not q.order:
            return None
        first = q.order[0].parsed_key
        if first.root != "metrics" or first.aggregate != "last":
            return None
        descending = q.order[0].descending
        wanted = int(q.limit or 0) + max(int(q.offset or 0), 0)
        name = first.path[0]
        direction, better = ("DESC", ">=") if descending else ("ASC", "<=")
        flags = [f"{o} AS _other{i}" for i, o in enumerate(others)]
        window = f" LIMIT {int(q.limit or 0)} OFFSET {max(int(q.offset or 0), 0)}"
        k = max(4 * wanted, 64)
        while True:
            bound = conn.execute(
                "SELECT last_value FROM metric_summary WHERE name = ? AND last_value IS NOT NULL"
                f" ORDER BY last_value {direction} LIMIT 1 OFFSET ?",
                (name, k - 1),
            ).fetchone()
            if bound is None:
                return None
            params = dict(tr.params, _wname=name, _wbound=bound[0])
            inside = (
                "run.run_id IN (SELECT run_id FROM metric_summary"
                f" WHERE name = :_wname AND last_value {better} :_wbound)"
            )
            if suspects:
                unique = " OR ".join(dict.fromkeys(suspects))
                if conn.execute(
                    f"SELECT 1 FROM run WHERE {inside} AND ({unique}) LIMIT 1", params
                ).fetchone():
                    raise _Fallback
            rows = _fetch(conn, _select(flags) + _where([*conditions, inside]) + order + window, params)
            if len(rows) == int(q.limit or 0):
                if any(row[f"_other{i}"] for row in rows for i in range(len(others))):
                    return None
                return apply_in_python(
                    self._records(conn, rows), q, filtered=q.filters, ordered=True, limited=True
                )
            k *= 8

    def _count(self, q: Query) -> int:
        with self._connect() as conn:
            tr = _Translator(self.dead_cutoff())
            pushed, _, _, suspects = tr.plan(q.replace(order=()))
            _refuse_suspects(conn, suspects, tr.params)
            if len(pushed) == len(q.filters):
                sql = "SELECT count(*)" + _FROM + _where([cond for _, cond in pushed])
                return int(conn.execute(sql, tr.params).fetchone()[0])
        return len(self._query(q.replace(limit=None, offset=0, order=())))

    def _get(self, run_id: Any) -> RunRecord:
        with self._connect() as conn:
            rows = _fetch(conn, _select() + " WHERE run.run_id = :id", {"id": str(run_id)})
            records = self._records(conn, rows)
        if not records:
            raise self.unknown_run(run_id)
        return records[0]

    # ---- building records (as SqlStore._records) -------------------------------------------------
    def _records(self, conn: sqlite3.Connection, rows: list) -> list:
        ids = [row["run_id"] for row in rows]
        metrics: dict = {}
        tags: dict = {}
        artifacts: dict = {}
        resources: dict = {}
        for chunk in chunks(ids):
            marks = ", ".join("?" * len(chunk))
            for run_id, name, n, lo, hi, value in conn.execute(
                "SELECT run_id, name, point_count, min_value, max_value, last_value"
                f" FROM metric_summary WHERE run_id IN ({marks})",
                chunk,
            ):
                metrics.setdefault(run_id, {})[name] = {"last": value, "min": lo, "max": hi, "count": int(n)}
            for run_id, name in conn.execute(
                f"SELECT run_id, tag FROM tag WHERE run_id IN ({marks}) ORDER BY run_id,"
                " CASE WHEN seq IS NULL THEN 0 ELSE 1 END, seq, tag",
                chunk,
            ):
                tags.setdefault(run_id, []).append(name)
            for run_id, name in conn.execute(
                f"SELECT run_id, filename FROM artifact WHERE run_id IN ({marks}) ORDER BY artifact_id", chunk
            ):
                names = artifacts.setdefault(run_id, [])
                if name not in names:
                    names.append(name)
            for run_id, path, md5 in conn.execute(
                "SELECT l.run_id, r.filename, r.md5sum FROM runs_resources AS l JOIN resource"
                f" AS r ON r.resource_id = l.resource_id WHERE l.run_id IN ({marks})"
                " ORDER BY l.run_id, r.resource_id",
                chunk,
            ):
                resources.setdefault(run_id, []).append((path, md5))
        experiments = self._experiment_infos(conn, rows)
        return [
            record_from_row(
                self,
                row,
                experiments.get(row["experiment_id"], {}),
                metrics.get(row["run_id"], {}),
                tags.get(row["run_id"], []),
                artifacts.get(row["run_id"], []),
                resources.get(row["run_id"], ()),
            )
            for row in rows
        ]

    def _experiment_infos(self, conn: sqlite3.Connection, rows: list) -> dict:
        """{experiment_id: ex_info-like dict}, cached: experiment rows never change."""
        missing = {
            row["experiment_id"]
            for row in rows
            if row["experiment_id"] is not None and row["experiment_id"] not in self._experiments
        }
        for row in rows:
            if row["experiment_id"] in missing:
                self._experiments[row["experiment_id"]] = {
                    "name": row["ex_name"],
                    "base_dir": row["ex_base_dir"],
                    "mainfile": row["ex_mainfile"],
                    "sources": [],
                    "dependencies": [],
                    "repositories": [],
                }
        if missing:
            wanted = sorted(missing)
            marks = ", ".join("?" * len(wanted))
            for exp_id, filename, md5 in conn.execute(
                "SELECT es.experiment_id, source.filename, source.md5sum"
                " FROM experiments_sources AS es"
                " JOIN source ON source.source_id = es.source_id"
                f" WHERE es.experiment_id IN ({marks}) ORDER BY source.filename",
                wanted,
            ):
                self._experiments[exp_id]["sources"].append([filename, md5])
            for exp_id, name, version in conn.execute(
                "SELECT ed.experiment_id, dependency.name, dependency.version"
                " FROM experiments_dependencies AS ed"
                " JOIN dependency ON dependency.dependency_id = ed.dependency_id"
                f" WHERE ed.experiment_id IN ({marks}) ORDER BY dependency.name",
                wanted,
            ):
                self._experiments[exp_id]["dependencies"].append(f"{name}=={version}" if version else name)
            for exp_id, url, commit, dirty in conn.execute(
                'SELECT er.experiment_id, repository.url, repository."commit",'
                " repository.dirty FROM experiments_repositories AS er"
                " JOIN repository ON repository.repository_id = er.repository_id"
                f" WHERE er.experiment_id IN ({marks})",
                wanted,
            ):
                self._experiments[exp_id]["repositories"].append(
                    {"url": url, "commit": commit, "dirty": None if dirty is None else bool(dirty)}
                )
        wanted_ids = {row["experiment_id"] for row in rows}
        return {
            exp_id: json.loads(json.dumps(info))
            for exp_id, info in self._experiments.items()
            if exp_id in wanted_ids
        }

    # ---- everything else: the full store ---------------------------------------------------------
    def metric_names(self, run_id: Any) -> list:
        return self.full.metric_names(run_id)

    def metric(self, run_id: Any, name: str) -> MetricSeries:
        """The points from their packed blocks when these hold all of them (``common.packed_series``),
        else as columns: values fetched as one column, steps and times as one JSON text
        each (built by SQLite, parsed by numpy in ``to_numpy``), in one read transaction.  A run or
        metric that is not there goes to the full store, which names the alternatives."""
        return self._fast(lambda: self._metric(run_id, name), lambda full: full.metric(run_id, name))

    def _metric(self, run_id: Any, name: str) -> MetricSeries:
        points = "FROM metric WHERE run_id = ? AND name = ? ORDER BY metric_id"
        args = (str(run_id), name)
        with self._connect() as conn:
            conn.execute("BEGIN")  # the statements see the same points, even while a run writes
            count = conn.execute("SELECT count(*) FROM metric WHERE run_id = ? AND name = ?", args)
            blocks = conn.execute(BLOCKS_SQL.format("?"), args).fetchall()
            packed = packed_series(name, count.fetchone()[0], blocks)
            if packed is not None:
                conn.rollback()
                return packed
            values = conn.execute(f"SELECT value {points}", args).fetchall()
            if not values:
                raise _Fallback
            steps, stamps = conn.execute(
                "SELECT json_group_array(step), json_group_array(timestamp)"
                f" FROM (SELECT step, timestamp {points})",
                args,
            ).fetchone()
            conn.rollback()
        return ColumnSeries(name, steps[1:-1].encode(), list(map(_FIRST, values)), stamps[1:-1].encode())

    def captured_out(self, run_id: Any) -> str:
        return self.full.captured_out(run_id)

    def artifact(self, run_id: Any, name: str) -> BinaryIO:
        return self.full.artifact(run_id, name)

    def artifact_metadata(self, run_id: Any) -> dict:
        return self.full.artifact_metadata(run_id)

    def source(self, run_id: Any, relpath: str) -> bytes:
        return self.full.source(run_id, relpath)

    def tables(self, run_id: Any) -> list:
        return self.full.tables(run_id)

    def rows(
        self,
        run_id: Any,
        table: str,
        where: Sequence[Filter] = (),
        order: Sequence[Order] = (),
        limit: Optional[int] = None,
    ) -> list:
        return self.full.rows(run_id, table, where=where, order=order, limit=limit)

    def add_tags(self, run_id: Any, tags: Iterable[str]) -> list:
        return self.full.add_tags(run_id, tags)

    def remove_tags(self, run_id: Any, tags: Iterable[str]) -> list:
        return self.full.remove_tags(run_id, tags)

    def set_note(self, run_id: Any, text: str) -> None:
        self.full.set_note(run_id, text)

    def delete(self, run_ids: Iterable[Any]) -> list:
        return self.full.delete(run_ids)


def _has_key(conn: sqlite3.Connection, key: Key, runs: str, metrics: str) -> bool:
    """Whether some row of the ``runs`` table has ``key`` (its JSON columns ``config``/``info``/
    ``meta``) or some row of ``metrics`` names the metric: one query that stops at the first row
    found.  Shared with the file store's index, whose tables have the same columns."""
    root = key.root
    if root == "metrics":
        found = conn.execute(f"SELECT 1 FROM {metrics} WHERE name = ? LIMIT 1", (key.path[0],))
        return found.fetchone() is not None
    if root not in ("config", "info", "meta"):
        return True
    if (
        root == "meta"
        and key.path[0] in ("command", "comment", "priority")
        and conn.execute(f"SELECT 1 FROM {runs} WHERE meta IS NULL LIMIT 1").fetchone() is not None
    ):
        return True  # Sacred-era rows keep these in columns
    if any(INT_TEXT.match(p) or '"' in p or "\\" in p for p in key.path):
        return True  # a list index or an odd label: let the query decide
    path = "$" + "".join(f'."{p}"' for p in key.path)
    found = conn.execute(f"SELECT 1 FROM {runs} WHERE json_type({root}, ?) IS NOT NULL LIMIT 1", (path,))
    return found.fetchone() is not None


def _suspect(column: str, null: bool, tagged: bool) -> Optional[str]:
    """Rows only Python may read: a NULL column (Sacred-era rows), or values in Sacred's jsonpickle form
    (``{"py/object": "numpy.float64", "value": 0.9}``), which only ``safe_restore`` turns into numbers."""
    checks = ([f"{column} IS NULL"] if null else []) + ([f"instr({column}, '\"py/') > 0"] if tagged else [])
    return " OR ".join(checks) or None


def _refuse_suspects(conn: sqlite3.Connection, suspects: list, params: dict) -> None:
    """``_Fallback`` when a row holds JSON only Python may read for a key of the query."""
    if suspects:
        unique = " OR ".join(dict.fromkeys(suspects))
        if conn.execute(f"SELECT 1 FROM run WHERE {unique} LIMIT 1", params).fetchone():
            raise _Fallback


def _fetch(conn: sqlite3.Connection, sql: str, params: dict) -> list:
    """Rows as dicts, times parsed as SQLAlchemy does."""
    cursor = conn.execute(sql, params)
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, values)) for values in cursor.fetchall()]
    for row in rows:
        for column in TIME_KEYS:
            row[column] = _parse_time(row[column])
    return rows
