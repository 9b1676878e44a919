"""``FastSqliteStore``: an SQLite run store whose queries need only the standard library.

Why: importing SQLAlchemy and creating an engine costs about 0.3 s, several times the whole budget
of "top 10 runs from a fresh process".  ``open_store("sqlite:///...")`` returns this store.  Its
``query``/``count``/``get`` and key checks send, over a read-only ``sqlite3`` connection, the SQL
that :mod:`.compiler` makes of the query (the ``WHERE`` conditions with JSON type checks, the
``ORDER BY`` with type ranks, missing-last and the natural-id tie-break, ``LIMIT``/``OFFSET``) and
finish as ``SqlStore`` does, building records with the shared ``common.record_from_row``.
``tests/test_sql_store_fast.py`` compares the answers with ``SqlStore``'s on random queries.
``FastPostgresStore`` (``fast_server``) is this store over psycopg2 with the PostgreSQL dialect.

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
import operator
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Callable, Optional, Union

from ...query.base import (
    DEFAULT_DEAD_AFTER,
    HINT_IDS,
    TIME_KEYS,
    ColumnSeries,
    Filter,
    Key,
    MetricSeries,
    Order,
    Query,
    RunRecord,
    Store,
    dotted_keys,
    utcnow,
)
from ...query.semantics import apply_in_python
from .common import (
    BLOCKS_SQL,
    SCHEMA_VERSION,
    catalogue_name,
    chunks,
    experiment_infos,
    keys_to_confirm,
    loads,
    packed_series,
    record_from_row,
)
from .compiler import FROM_RUNS, SQLITE, Dialect, QueryCompiler, select_runs, where

__all__ = ["FastSqliteStore", "sqlite_file"]

# Which metrics exist: a summary row per run and metric (indexed by name), of a run still stored (a
# run deleted by hand leaves its summaries behind).
_METRIC_OF_A_RUN = "SELECT 1 FROM metric_summary AS ms JOIN run ON run.run_id = ms.run_id WHERE ms.name = ?"
_METRIC_NAMES = "SELECT DISTINCT ms.name FROM metric_summary AS ms JOIN run ON run.run_id = ms.run_id"

_FIRST = operator.itemgetter(0)


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

    dialect: Dialect = SQLITE
    """The SQL dialect the query compiler writes for this store's connections."""
    blocks_alone = False
    """Whether ``metric`` trusts well-formed blocks without counting the rows (PostgreSQL at the
    current version, whose triggers mark blocks changed by hand); else the count must agree."""

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

    def _errors(self) -> tuple:
        """The driver's error classes: any of them sends the call to the full store."""
        return (sqlite3.Error,)

    def _fast(self, work: Callable[[], Any], fallback: Callable[[Any], Any], counted: bool = True) -> Any:
        """``work()``, or ``fallback(full store)`` when this path cannot answer; ``counted``: the
        call is an answer counted in ``stats`` (key checks are not)."""
        try:
            answer = work()
        except (_Fallback, *self._errors()):
            if counted:
                self.stats["full"] += 1
            return fallback(self.full)
        if counted:
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
                    and not self._key_in_runs(conn, key)
                ]
        except (_Fallback, *self._errors()):
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
        except (_Fallback, *self._errors()):
            pass
        return self.full.has_key(key)

    def _key_in_runs(self, conn: Any, key: Key) -> bool:
        """Whether some run has ``key`` (its JSON columns ``config``/``info``/``meta``) or some
        point names the metric: one query that stops at the first row found."""
        root = key.root
        if root == "metrics":
            found = conn.execute(_METRIC_OF_A_RUN + " LIMIT 1", (key.path[0],))
            return found.fetchone() is not None
        if root not in ("config", "info", "meta"):
            return True
        if (
            root == "meta"
            and key.path[0] in ("command", "comment", "priority")
            and conn.execute("SELECT 1 FROM run WHERE meta IS NULL LIMIT 1").fetchone() is not None
        ):
            return True  # Sacred-era rows keep these in columns
        compiler = QueryCompiler(self.dialect, self.dead_cutoff())
        exists = compiler.key_exists(key)
        if exists is None:
            return True  # a list index or an odd label: let the query decide
        found = conn.execute(f"SELECT 1 FROM run WHERE {exists} LIMIT 1", compiler.params)
        return found.fetchone() is not None

    def key_names(self, root: str) -> list:
        return self._fast(lambda: self._key_names(root), lambda full: full.key_names(root), counted=False)

    def _key_names(self, root: str) -> list:
        with self._connect() as conn:
            if root == "metrics":
                names = conn.execute(_METRIC_NAMES).fetchall()
                return sorted(f"metrics.{name}" for (name,) in names)
            if root not in ("config", "info", "meta", "host_info"):
                raise _Fallback
            docs = conn.execute(f"SELECT {root} FROM run").fetchall()
        return sorted(dotted_keys((loads(d, {}) for (d,) in docs), root))

    def statuses(self) -> list:
        return self._fast(self._statuses, lambda full: full.statuses(), counted=False)

    def _statuses(self) -> list:
        with self._connect() as conn:
            found = conn.execute("SELECT DISTINCT status FROM run").fetchall()
        return sorted(str(status) for (status,) in found if status is not None)

    def _query(self, q: Query) -> list:
        with self._connect() as conn:
            tr = QueryCompiler(self.dialect, self.dead_cutoff())
            pushed, terms, others, suspects = tr.plan(q)
            conditions = [cond for _, cond in pushed]
            order = " ORDER BY " + ", ".join(terms) if terms is not None else ""
            exact = len(pushed) == len(q.filters) and terms is not None
            if exact and q.limit is not None and q.limit > 0:
                found = self._top_by_summary(conn, q, tr, conditions, suspects, order, others)
                if found is not None:
                    return found
            _refuse_suspects(conn, suspects, tr.params)
            cond = where(conditions)
            if exact and (q.limit is not None or q.offset):
                flags = [f"{o} AS _other{i}" for i, o in enumerate(others)]
                limit = None if q.limit is None else max(int(q.limit), 0)
                window = self.dialect.window(limit, max(int(q.offset or 0), 0))
                rows = _fetch(conn, select_runs(flags) + cond + order + window, tr.params)
                if not any(row[f"_other{i}"] for row in rows for i in range(len(others))):
                    return apply_in_python(
                        self._records(conn, rows), q, filtered=q.filters, ordered=True, limited=True
                    )
            rows = _fetch(conn, select_runs() + cond + order, tr.params)
            records = self._records(conn, rows)
        return apply_in_python(
            records, q, filtered=[f for f, _ in pushed], ordered=terms is not None and not others
        )

    def _top_by_summary(
        self,
        conn: Any,
        q: Query,
        tr: QueryCompiler,
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
        window = self.dialect.window(int(q.limit or 0), max(int(q.offset or 0), 0))
        k = max(4 * wanted, 64)
        while True:
            bound = conn.execute(
                "SELECT last_value FROM metric_summary WHERE name = ? AND last_value IS NOT NULL"
                f" ORDER BY last_value {direction} LIMIT 1 OFFSET ?",
                (name, k - 1),
            ).fetchone()
            if bound is None:
                return None
            inside = self._best_runs(conn, tr, name, better, bound[0])
            if inside is None:
                return None
            if suspects:
                unique = " OR ".join(dict.fromkeys(suspects))
                if conn.execute(
                    f"SELECT 1 FROM run WHERE {inside} AND ({unique}) LIMIT 1", tr.params
                ).fetchone():
                    raise _Fallback
            rows = _fetch(conn, select_runs(flags) + where([*conditions, inside]) + order + window, tr.params)
            if len(rows) == int(q.limit or 0):
                if any(row[f"_other{i}"] for row in rows for i in range(len(others))):
                    return None
                return apply_in_python(
                    self._records(conn, rows), q, filtered=q.filters, ordered=True, limited=True
                )
            k *= 8

    def _best_runs(self, conn: Any, tr: QueryCompiler, name: str, better: str, bound: Any) -> Optional[str]:
        """The condition "the run's last value of metric ``name`` is ``better`` than ``bound``":
        a subquery SQLite answers from the summary index."""
        return (
            "run.run_id IN (SELECT run_id FROM metric_summary"
            f" WHERE name = {tr.param(name)} AND last_value {better} {tr.param(bound)})"
        )

    def _count(self, q: Query) -> int:
        with self._connect() as conn:
            tr = QueryCompiler(self.dialect, self.dead_cutoff())
            pushed, _, _, suspects = tr.plan(q.replace(order=()))
            _refuse_suspects(conn, suspects, tr.params)
            if len(pushed) == len(q.filters):
                sql = "SELECT count(*)" + FROM_RUNS + where([cond for _, cond in pushed])
                return int(conn.execute(sql, tr.params).fetchone()[0])
        return len(self._query(q.replace(limit=None, offset=0, order=())))

    def _get(self, run_id: Any) -> RunRecord:
        with self._connect() as conn:
            rows = _fetch(conn, select_runs() + " WHERE run.run_id = ?", (str(run_id),))
            records = self._records(conn, rows)
            # an unknown id's error names the closest of the first HINT_IDS stored ids
            known = [] if records else conn.execute(f"SELECT run_id FROM run LIMIT {HINT_IDS}").fetchall()
        if not records:
            raise self.unknown_run(run_id, [k for (k,) in known], complete=len(known) < HINT_IDS)
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
        experiments = experiment_infos(self._experiments, rows, self.dialect, conn.execute)
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
        series = "FROM metric WHERE run_id = ? AND name = ?"
        points = f"{series} ORDER BY metric_id"
        args = (str(run_id), name)
        with self._connect() as conn:
            conn.execute("BEGIN")  # the statements see the same points, even while a run writes
            count = None
            if not self.blocks_alone:
                count = conn.execute(f"SELECT count(*) {series}", args).fetchone()[0]
            blocks = conn.execute(BLOCKS_SQL.format("?"), args).fetchall()
            packed = packed_series(name, count, blocks)
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


def _refuse_suspects(conn: sqlite3.Connection, suspects: list, params: dict) -> None:
    """``_Fallback`` when a row holds JSON only Python may read for a key of the query."""
    if suspects:
        unique = " OR ".join(dict.fromkeys(suspects))
        if conn.execute(f"SELECT 1 FROM run WHERE {unique} LIMIT 1", params).fetchone():
            raise _Fallback


def _fetch(conn: sqlite3.Connection, sql: str, params: Union[Sequence[Any], Mapping[str, Any]]) -> list:
    """Rows as dicts, times parsed as SQLAlchemy does."""
    cursor = conn.execute(sql, params)
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, values)) for values in cursor.fetchall()]
    for row in rows:
        for column in TIME_KEYS:
            row[column] = _parse_time(row[column])
    return rows
