"""``SqlStore``: the read side of the SQL layout (SQLite, PostgreSQL, MariaDB/MySQL).

Queries are translated to one SQL statement wherever the semantics of
:mod:`experimentkit.query.semantics` can be reproduced exactly: filters become ``WHERE``, orders
``ORDER BY`` (with the documented type ranks, missing-last and the natural-id tie-break), and limit
and offset ``LIMIT``/``OFFSET``.  What cannot be translated (list equality, ``contains`` on JSON
values, keys such as ``experiment.sources``) is left to ``apply_in_python`` over the candidates.

Two cases fall back to Python at run time, so answers never depend on what SQL could see:

* JSON written with ``NaN``/``Infinity`` (Python's ``json`` accepts them, SQL JSON functions do
  not): rows whose JSON text may hold them are never parsed in SQL; when such rows exist, the JSON
  filters and orders of that query are evaluated in Python.
* ordering by a JSON key whose value is a list or object (sorted as JSON text in Python): when the
  limited window holds such a value, the query is repeated without the limit and sorted in Python.

A metric's ``last`` value is the last point logged (highest ``metric_id``), as in the reference.
SQLAlchemy is imported when this module is, i.e. only when an SQL store is opened.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any, BinaryIO, Callable, Optional

import sqlalchemy as sa

from ...errors import StoreError, suggest
from ...query.base import (
    DEFAULT_DEAD_AFTER,
    MAX_SQL_IN_VALUES,
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
from ...query.semantics import apply_in_python, apply_rows_in_python
from . import schema as s
from .catalogue import forget_runs
from .common import (
    BLOCKS_SQL,
    HINT_IDS,
    catalogue_name,
    keys_to_confirm,
    packed_series,
    plan_query,
    record_from_row,
)
from .common import EXPERIMENT_COLUMNS as _EXPERIMENT_COLUMNS
from .common import HOST_COLUMNS as _HOST_COLUMNS
from .common import INT_TEXT as _INT_TEXT
from .common import chunks as _chunks
from .common import loads as _loads
from .compiler import Operand as _Operand

__all__ = ["SqlStore"]

_SUSPECT_WORDS = ("NaN", "Infinity")  # JSON Python writes but SQL JSON functions reject


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# --------------------------------------------------------------------------------------------------
# operands: a key's value as SQL expressions, one per type
# --------------------------------------------------------------------------------------------------
class _Sql:
    """Dialect-specific SQL building blocks."""

    def __init__(self, dialect: str):
        self.dialect = dialect
        self.mysql = dialect in ("mysql", "mariadb")
        self.pg = dialect == "postgresql"

    # ---- text compared by code point (as Python does) --------------------------------------------
    def text(self, expr: Any) -> Any:
        if self.mysql:
            from sqlalchemy.dialects import mysql

            return sa.cast(expr, mysql.BINARY())
        if self.pg:
            return expr.collate("C")
        return expr

    def text_value(self, value: str) -> Any:
        return self.text(sa.literal(value, sa.String))

    def contains_text(self, expr: Any, value: str) -> Any:
        if self.pg:
            return sa.func.strpos(expr, value) > 0
        return sa.func.instr(self.text(expr), self.text_value(value)) > 0

    # ---- JSON -----------------------------------------------------------------------------------
    def suspect(self, column: Any) -> Any:
        """True where the JSON text may hold NaN/Infinity, which SQL JSON functions reject."""
        if self.pg:
            return sa.or_(*[sa.func.strpos(column, word) > 0 for word in _SUSPECT_WORDS])
        return sa.or_(*[sa.func.instr(column, word) > 0 for word in _SUSPECT_WORDS])

    def json_operand(
        self,
        column: Any,
        path: Sequence[str],
        numeric_fallback: Any = None,
        null_is_suspect: bool = False,
        tagged_is_suspect: bool = False,
    ) -> Optional[_Operand]:
        """The value at ``path`` in the JSON text ``column`` (None when the path is not
        expressible: a part that may be a list index or needs escaping).  ``null_is_suspect``:
        a NULL column means "ask Python" (Sacred-era rows rebuilt from other columns)."""
        if any(_INT_TEXT.match(p) or '"' in p or "\\" in p for p in path):
            return None
        # MariaDB reads JSON it cannot parse as NULL (silently): such rows are kept from its JSON
        # functions and sent to Python.  SQLite and PostgreSQL raise instead (see ``query``).
        checks = [self.suspect(column)] if self.mysql else []
        if null_is_suspect:
            checks.append(column.is_(None))
        if tagged_is_suspect:  # Sacred's jsonpickle forms: only safe_restore reads them as numbers
            position = sa.func.strpos if self.pg else sa.func.instr
            checks.append(position(column, '"py/') > 0)
        suspect = sa.or_(*checks) if checks else None
        if self.pg:
            from sqlalchemy.dialects import postgresql

            doc = sa.cast(column, postgresql.JSONB)
            node = sa.func.jsonb_extract_path(doc, *path) if path else doc
            raw_type = sa.func.jsonb_typeof(node)
            kinds = {"number": "n", "boolean": "b", "string": "s", "null": "z", "array": "o", "object": "o"}
            as_text = (
                sa.func.jsonb_extract_path_text(doc, *path)
                if path
                else node.op("#>>")(sa.literal_column("'{}'"))
            )
            number = sa.cast(as_text, sa.Float)
        elif self.mysql:
            json_path = "$" + "".join(f'."{p}"' for p in path)
            node = sa.func.json_extract(column, json_path)
            raw_type = sa.func.json_type(node)
            kinds = {
                "INTEGER": "n",
                "UNSIGNED INTEGER": "n",
                "DOUBLE": "n",
                "DECIMAL": "n",
                "BOOLEAN": "b",
                "STRING": "s",
                "NULL": "z",
                "ARRAY": "o",
                "OBJECT": "o",
            }
            as_text = sa.func.json_unquote(node)
            number = sa.type_coerce(as_text, sa.Float) + sa.literal_column("0e0")
        else:
            json_path = "$" + "".join(f'."{p}"' for p in path)
            raw_type = sa.func.json_type(column, json_path)
            kinds = {
                "integer": "n",
                "real": "n",
                "true": "b",
                "false": "b",
                "text": "s",
                "null": "z",
                "array": "o",
                "object": "o",
            }
            as_text = sa.func.json_extract(column, json_path)
            number = as_text
        kind = sa.case(kinds, value=raw_type)
        if self.mysql:
            kind = sa.case((sa.not_(self.suspect(column)), kind))
        if numeric_fallback is not None:  # Sacred-era rows: no JSON, only the numeric column
            kind = sa.case((column.is_(None), sa.case((numeric_fallback.is_not(None), "n"))), else_=kind)
            number = sa.case((column.is_(None), numeric_fallback), else_=number)
        is_true = as_text == (1 if self.dialect == "sqlite" else "true")
        boolean = sa.case((kind == "b", sa.case((is_true, 1), else_=0)))
        num = sa.case((kind == "n", sa.type_coerce(number, sa.Float)))
        return _Operand(
            present=sa.and_(kind.is_not(None), kind != "z"),
            num=num,
            txt=sa.case((kind == "s", sa.type_coerce(as_text, sa.String))),
            boolean=boolean,
            rank=sa.case((kind.in_(["n", "b"]), 0), (kind == "s", 1), (kind == "o", 3)),
            onum=sa.case((kind == "n", num), (kind == "b", boolean)),
            other=kind == "o",
            suspect=suspect,
            is_json=True,
            fast_num=number if self.dialect == "sqlite" and numeric_fallback is None else None,
            num_check=raw_type.in_(["integer", "real"]),
            exists=raw_type.is_not(None),
        )

    def is_int_text(self, expr: Any) -> Any:
        """SQL true when ``expr`` looks like an integer (``-?[0-9]+``, 18 digits at most)."""
        short = sa.func.length(expr) <= 18
        if self.pg:
            return sa.and_(expr.op("~")("^-?[0-9]+$"), short)
        if self.mysql:
            return sa.and_(expr.op("REGEXP")("^-?[0-9]+$"), short)
        digits = sa.case((expr.like("-%"), sa.func.substr(expr, 2)), else_=expr)
        return sa.and_(digits != "", digits.op("NOT GLOB")("*[^0-9]*"), short)


# --------------------------------------------------------------------------------------------------
# translating filters and orders
# --------------------------------------------------------------------------------------------------
def _equal(sql: _Sql, op: _Operand, value: Any) -> Any:
    """SQL that is true exactly when the key's value equals ``value`` (never NULL); None when it
    cannot be said in SQL.  Text is compared by code point (MySQL: the value as ``BINARY``, so that
    JSON text, whose collation ignores trailing spaces, is exact too; column indexes stay usable)."""
    if value is None:
        return sa.not_(op.present)
    if isinstance(value, bool):
        return sa.false() if op.boolean is None else sa.func.coalesce(op.boolean == int(value), False)
    if _is_number(value):
        if op.fast_num is not None:
            return sa.func.coalesce(sa.and_(op.fast_num == value, op.num_check), False)
        return sa.false() if op.num is None else sa.func.coalesce(op.num == value, False)
    if isinstance(value, str):
        wanted = sql.text_value(value) if sql.mysql else value
        return sa.false() if op.txt is None else sa.func.coalesce(op.txt == wanted, False)
    if isinstance(value, _dt.datetime):
        return sa.false() if op.time is None else sa.func.coalesce(op.time == value, False)
    return None


_COMPARE: dict = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _condition(sql: _Sql, op: _Operand, flt: Filter) -> Any:
    """The SQL condition of a filter on ``op``, or None when only Python can decide it."""
    value = flt.value
    if flt.op == "==":
        return _equal(sql, op, value)
    if flt.op == "!=":
        eq = _equal(sql, op, value)
        return None if eq is None else sa.not_(eq)
    if flt.op == "in":
        if op.other is not None:  # a list value matches when any element does: Python
            return None
        parts = [_equal(sql, op, v) for v in value]
        return None if any(p is None for p in parts) else sa.or_(sa.false(), *parts)
    if flt.op == "contains":
        if op.substring and isinstance(value, str):
            return sa.func.coalesce(sql.contains_text(op.txt, value), False)
        return None if op.other is not None else sa.false()
    compare = _COMPARE[flt.op]
    if value is None or isinstance(value, bool):
        return sa.false()
    if op.is_id:
        if _INT_TEXT.match(value) and len(value) <= 18:
            return sa.and_(sql.is_int_text(op.txt), compare(sa.cast(op.txt, sa.BigInteger), int(value)))
        return sa.and_(sa.not_(sql.is_int_text(op.txt)), compare(sql.text(op.txt), sql.text_value(value)))
    if _is_number(value):
        if op.fast_num is not None:
            return sa.func.coalesce(sa.and_(compare(op.fast_num, value), op.num_check), False)
        return sa.false() if op.num is None else sa.func.coalesce(compare(op.num, value), False)
    if isinstance(value, str):
        if op.txt is None:
            return sa.false()
        return sa.func.coalesce(compare(sql.text(op.txt), sql.text_value(value)), False)
    if isinstance(value, _dt.datetime):
        return sa.false() if op.time is None else sa.func.coalesce(compare(op.time, value), False)
    return sa.false()


def _order_terms(sql: _Sql, op: _Operand, descending: bool) -> list:
    """ORDER BY terms giving the reference order: missing last, then by rank, then by value."""

    def direction(expr: Any) -> Any:
        return expr.desc() if descending else expr.asc()

    if op.is_id:
        return _id_terms(sql, op.txt, descending)
    terms = []
    if op.rank is not None:
        terms.append(direction(op.rank))
    for expr in (op.onum if op.onum is not None else op.num, op.txt, op.time):
        if expr is not None:
            terms.append(direction(sql.text(expr) if expr is op.txt else expr))
    if sql.mysql:  # no NULLS LAST: sort on a "missing" flag first
        return [sa.case((op.present, 0), else_=1).asc()] + terms
    # The first term is NULL exactly when the value is missing (JSON null has no rank).
    return [terms[0].nulls_last()] + terms[1:]


def _id_terms(sql: _Sql, run_id: Any, descending: bool = False) -> list:
    """Natural id order: integer-looking ids numerically, before the others (as text)."""
    is_int = sql.is_int_text(run_id)
    rank = sa.case((is_int, 0), else_=1)
    number = sa.case((is_int, sa.cast(run_id, sa.BigInteger)))
    terms = [rank, number, sql.text(run_id)]
    return [t.desc() if descending else t.asc() for t in terms]


# --------------------------------------------------------------------------------------------------
# the store
# --------------------------------------------------------------------------------------------------
class SqlStore(Store):
    """Runs in an SQL database written by ``SqlObserver`` (or by Sacred's, once upgraded).

    Opening upgrades an older layout (see ``migrations.upgrade``), so the first open of a Sacred
    database writes to it.
    """

    def __init__(
        self,
        url: Any,
        *,
        dead_after: float = DEFAULT_DEAD_AFTER,
        clock: Callable[[], _dt.datetime] = utcnow,
        engine: Any = None,
    ):
        super().__init__(dead_after=dead_after, clock=clock)
        from .migrations import upgrade
        from .observer import _create_engine, _safe_url

        self.url = url
        self._label = _safe_url(url)
        self._owns_engine = engine is None
        self.engine = engine if engine is not None else _create_engine(url, False)
        upgrade(self.engine)
        self._sql = _Sql(self.engine.dialect.name)
        self._experiments: dict = {}  # experiment_id -> dict (rows are immutable once written)

    def __str__(self) -> str:
        return self._label

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()

    def sweep_book(self) -> Any:
        from .sweeps import SqlSweepBook

        return SqlSweepBook(self.url, engine=self.engine, create=False)

    # ---- key -> SQL ----------------------------------------------------------------------------
    def _operand(self, key: Key) -> Optional[_Operand]:
        """The SQL view of a run key, or None when only Python can evaluate it."""
        run, sql = s.run.c, self._sql
        root, path = key.root, key.path
        if root == "id":
            return _Operand(present=sa.true(), txt=run.run_id, is_id=True)
        if root == "status":
            return _Operand(present=sa.true(), txt=self._status_expr(), substring=True)
        if root == "command":
            return _Operand(present=run.command.is_not(None), txt=run.command, substring=True)
        if root in ("start_time", "stop_time", "heartbeat"):
            return _Operand(present=run[root].is_not(None), time=run[root])
        if root == "notes":
            text = sa.func.coalesce(run.note, "")
            return _Operand(present=sa.true(), txt=text, substring=True)
        if root == "experiment" and len(path) == 1 and path[0] in _EXPERIMENT_COLUMNS:
            column = s.experiment.c[path[0]]
            return _Operand(present=column.is_not(None), txt=column, substring=True)
        if root == "host" and len(path) == 1 and path[0] in _HOST_COLUMNS:
            column = s.host.c[path[0]]
            return _Operand(present=column.is_not(None), txt=column, substring=True)
        if root == "host" and path and path[0] != "os":
            return sql.json_operand(run.host_info, path, null_is_suspect=True)
        if root in ("config", "info", "meta") and path:
            return sql.json_operand(
                run[root], path, null_is_suspect=root == "meta", tagged_is_suspect=root != "meta"
            )
        if root == "result":
            return sql.json_operand(
                run.result_json, path, tagged_is_suspect=True, numeric_fallback=None if path else run.result
            )
        if root == "metrics":
            value = self._metric_expr(path[0], key.aggregate)
            return _Operand(present=value.is_not(None), num=value, onum=value)
        return None

    def _status_expr(self) -> Any:
        """The effective status (DEAD for a RUNNING run without a recent sign of life)."""
        run = s.run.c
        alive = sa.func.coalesce(run.heartbeat, run.start_time)
        status = sa.func.coalesce(run.status, "RUNNING")
        dead = sa.and_(
            status == "RUNNING", sa.or_(alive.is_(None), alive < sa.literal(self.dead_cutoff(), s.Timestamp))
        )
        return sa.case((dead, "DEAD"), else_=status)

    def _metric_expr(self, name: str, aggregate: str) -> Any:
        """The run's ``aggregate`` of metric ``name``: one row of ``metric_summary`` (kept by the
        observer as points arrive), not a pass over the points."""
        m = s.metric_summary.alias("ms")
        column = {"last": m.c.last_value, "min": m.c.min_value, "max": m.c.max_value}.get(aggregate)
        value = m.c.point_count if column is None else column
        return sa.select(value).where(m.c.run_id == s.run.c.run_id, m.c.name == name).scalar_subquery()

    def _tags_condition(self, flt: Filter) -> Any:
        wanted = [flt.value] if flt.op == "contains" else (flt.value if flt.op == "in" else None)
        if wanted is None:
            return None
        names = [w for w in wanted if isinstance(w, str)]
        if not names:
            return sa.false()
        t = s.tag.c
        return sa.exists().where(t.run_id == s.run.c.run_id, t.tag.in_(names))

    # ---- queries --------------------------------------------------------------------------------
    def _base_select(self) -> Any:
        r, e, h = s.run.c, s.experiment.c, s.host.c
        columns = [c for c in s.run.c if c.name != "captured_out"]
        return sa.select(
            *columns,
            e.name.label("ex_name"),
            e.base_dir.label("ex_base_dir"),
            e.mainfile.label("ex_mainfile"),
            h.hostname.label("h_hostname"),
            h.cpu.label("h_cpu"),
            h.os.label("h_os"),
            h.os_info.label("h_os_info"),
            h.python_version.label("h_python_version"),
        ).select_from(
            s.run.outerjoin(s.experiment, r.experiment_id == e.experiment_id).outerjoin(
                s.host, r.host_id == h.host_id
            )
        )

    def _plan(self, q: Query) -> tuple:
        """See ``common.plan_query``."""
        return plan_query(
            q,
            operand=self._operand,
            condition=lambda op, flt: _condition(self._sql, op, flt),
            tags_condition=self._tags_condition,
            order_terms=lambda op, desc: _order_terms(self._sql, op, desc),
            id_terms=lambda: _id_terms(self._sql, s.run.c.run_id),
        )

    def _has_suspect_json(self, conn: Any, suspects: list) -> bool:
        """Whether any run has JSON the query's SQL cannot read (one scan, stops at the first)."""
        if not suspects:
            return False
        unique = list({str(c.compile(dialect=self.engine.dialect)): c for c in suspects}.values())
        found = conn.execute(sa.select(sa.literal(1)).select_from(s.run).where(sa.or_(*unique)).limit(1))
        return found.first() is not None

    def query(self, q: Query) -> list:
        try:
            answer = self._query(q, json_in_sql=True)
        except sa.exc.DBAPIError:
            # SQLite and PostgreSQL refuse JSON holding NaN/Infinity: do the JSON part in Python.
            if self._sql.mysql:
                raise
            answer = self._query(q, json_in_sql=False)
        self.confirm_keys(keys_to_confirm(q, answer))
        return answer

    def confirm_keys(self, keys: Sequence[Key]) -> None:
        """Check in the runs the catalogued ``keys`` an answer gave no sign of (``common.
        keys_to_confirm``); a catalogue row whose key no run has any more is deleted, and the
        query is refused as it would have been with the catalogue right."""
        for key in keys:
            name = catalogue_name(key)
            k = s.run_key.c
            with self.engine.connect() as conn:
                listed = conn.execute(sa.select(k.root).where(k.root == key.root, k.name == name)).first()
            if listed is None or self._key_in_runs(key):
                continue
            try:
                with self.engine.begin() as conn:
                    conn.execute(s.run_key.delete().where(k.root == key.root, k.name == name))
            except sa.exc.DBAPIError:
                pass  # a store that may not write: the runs were checked, the answer stands
            if self.count() > 0:
                raise self.unknown_key(key)

    def _query(self, q: Query, json_in_sql: bool) -> list:
        with self.engine.connect() as conn:
            pushed, terms, others, suspects = self._plan(q)
            exact = len(pushed) == len(q.filters) and terms is not None
            if json_in_sql and exact and q.limit is not None and q.limit > 0:
                found = self._top_by_summary(conn, q, pushed, terms, others, suspects)
                if found is not None:
                    return found
            if not json_in_sql or self._has_suspect_json(conn, suspects):
                # NaN/Infinity in JSON: keep only the filters that parse no JSON, finish in Python.
                pushed, terms, others = self._without_json(q), None, []
            stmt = self._base_select().where(*[cond for _, cond in pushed])
            exact = len(pushed) == len(q.filters) and terms is not None
            if terms is not None:
                stmt = stmt.order_by(*terms)
            if exact and (q.limit is not None or q.offset):
                limited = stmt.add_columns(*[o.label(f"_other{i}") for i, o in enumerate(others)])
                limit = None if q.limit is None else max(q.limit, 0)  # as apply_in_python
                limited = limited.limit(limit).offset(q.offset or None)
                rows = conn.execute(limited).mappings().all()
                if not any(row[f"_other{i}"] for row in rows for i in range(len(others))):
                    records = self._records(conn, rows)
                    return apply_in_python(records, q, filtered=q.filters, ordered=True, limited=True)
            rows = conn.execute(stmt).mappings().all()
            records = self._records(conn, rows)
        return apply_in_python(
            records, q, filtered=[f for f, _ in pushed], ordered=terms is not None and not others
        )

    def _top_by_summary(
        self, conn: Any, q: Query, pushed: list, terms: list, others: list, suspects: list
    ) -> Optional[list]:
        """The first ``offset + limit`` runs of a query ordered first by a metric's last value,
        read from that metric's best runs (index on ``metric_summary(name, last_value)``), not
        from every run; None when this does not apply.  See ``FastSqliteStore._top_by_summary``
        for why the answer is the same."""
        if not q.order:
            return None
        first = q.order[0].parsed_key
        if first.root != "metrics" or first.aggregate != "last":
            return None
        ms = s.metric_summary.c
        value = ms.last_value
        descending = q.order[0].descending
        wanted = int(q.limit or 0) + max(int(q.offset or 0), 0)
        k = max(4 * wanted, 64)
        while True:
            ranked = sa.select(value).where(ms.name == first.path[0], value.is_not(None))
            ranked = ranked.order_by(value.desc() if descending else value.asc()).limit(1).offset(k - 1)
            bound = conn.execute(ranked).first()
            if bound is None:
                return None
            better = value >= bound[0] if descending else value <= bound[0]
            # the ids themselves, not a subquery: PostgreSQL would hash-join the subquery and still
            # evaluate the JSON filters of every run
            ids = conn.execute(sa.select(ms.run_id).where(ms.name == first.path[0], better)).scalars().all()
            if len(ids) > MAX_SQL_IN_VALUES:
                return None
            inside = s.run.c.run_id.in_(ids)
            if suspects:
                probe = sa.select(sa.literal(1)).select_from(s.run).where(inside, sa.or_(*suspects)).limit(1)
                if conn.execute(probe).first() is not None:
                    return None
            stmt = self._base_select().where(*[cond for _, cond in pushed], inside).order_by(*terms)
            stmt = stmt.add_columns(*[o.label(f"_other{i}") for i, o in enumerate(others)])
            rows = conn.execute(stmt.limit(q.limit).offset(q.offset or None)).mappings().all()
            if len(rows) == q.limit:
                if any(row[f"_other{i}"] for row in rows for i in range(len(others))):
                    return None
                records = self._records(conn, rows)
                return apply_in_python(records, q, filtered=q.filters, ordered=True, limited=True)
            k *= 8

    def _without_json(self, q: Query) -> list:
        pushed = []
        for flt, cond in self._plan(q.replace(order=()))[0]:
            op = None if flt.parsed_key.root == "tags" else self._operand(flt.parsed_key)
            if op is None or not op.is_json:
                pushed.append((flt, cond))
        return pushed

    def count(self, q: Query = Query()) -> int:  # noqa: B008 - the base class's signature
        try:
            with self.engine.connect() as conn:
                pushed, _, _, suspects = self._plan(q.replace(order=()))
                if len(pushed) == len(q.filters) and not self._has_suspect_json(conn, suspects):
                    inner = self._base_select().where(*[cond for _, cond in pushed]).subquery()
                    stmt = sa.select(sa.func.count()).select_from(inner)
                    found = int(conn.execute(stmt).scalar())
                    if found == 0:
                        self.confirm_keys(keys_to_confirm(q.replace(order=()), []))
                    return found
        except sa.exc.DBAPIError:
            if self._sql.mysql:
                raise
        return len(self.query(q.replace(limit=None, offset=0, order=())))

    # ---- the key catalogue ------------------------------------------------------------------------
    def has_key(self, key: Key) -> bool:
        """One lookup in ``run_key``; a key it lacks (runs written by Sacred or by hand, or a
        catalogue emptied by ``delete``) is looked up in the runs and, when found, added."""
        root, name = key.root, catalogue_name(key)
        if name is None:
            return True
        k = s.run_key.c
        with self.engine.connect() as conn:
            if conn.execute(sa.select(k.root).where(k.root == root, k.name == name)).first() is not None:
                return True
        found = self._key_in_runs(key)
        if found and len(name) <= s.KEY_LENGTH:
            self._remember_key(root, name)
        return found

    def _remember_key(self, root: str, name: str) -> None:
        """Add a key found in the runs to the catalogue; a store that may not write skips it."""
        from .catalogue import add_keys

        try:
            with self.engine.begin() as conn:
                add_keys(conn, [(root, name)])
        except sa.exc.DBAPIError:
            pass

    def _key_in_runs(self, key: Key) -> bool:
        """Whether some run has ``key``: a query that stops at the first run found (a key with a
        JSON null counts, as in the reference)."""
        root = key.root
        try:
            with self.engine.connect() as conn:
                if root == "metrics":
                    m = s.metric.c
                    stmt = sa.select(m.run_id).where(m.name == key.path[0]).limit(1)
                    return conn.execute(stmt).first() is not None
                column = s.run.c[root]
                if (
                    root == "meta"
                    and key.path[0] in ("command", "comment", "priority")
                    and conn.execute(sa.select(s.run.c.run_id).where(column.is_(None)).limit(1)).first()
                    is not None
                ):
                    return True  # Sacred-era rows keep these in columns
                op = self._sql.json_operand(column, key.path)
                if op is None:
                    return True  # a list index or an odd label: let the query decide
                stmt = sa.select(s.run.c.run_id).where(op.exists).limit(1)
                return conn.execute(stmt).first() is not None
        except sa.exc.DBAPIError:  # JSON SQL cannot parse (NaN): ask Python
            return super().has_key(key)

    def key_names(self, root: str) -> list:
        with self.engine.connect() as conn:
            if root == "metrics":
                names = conn.execute(sa.select(s.metric.c.name).distinct()).scalars()
                return sorted(f"metrics.{name}" for name in names)
            docs = conn.execute(sa.select(s.run.c[root])).scalars()
            return sorted(dotted_keys((_loads(d, {}) for d in docs), root))

    def statuses(self) -> list:
        with self.engine.connect() as conn:
            return sorted(
                str(v) for v in conn.execute(sa.select(s.run.c.status).distinct()).scalars() if v is not None
            )

    def get(self, run_id: Any) -> RunRecord:
        with self.engine.connect() as conn:
            rows = conn.execute(self._base_select().where(s.run.c.run_id == str(run_id)))
            records = self._records(conn, rows.mappings().all())
            if not records:
                raise self._unknown(conn, run_id)
        return records[0]

    def _unknown(self, conn: Any, run_id: Any) -> StoreError:
        """The unknown-run error, naming the closest of the first ``HINT_IDS`` stored ids."""
        known = conn.execute(sa.select(s.run.c.run_id).limit(HINT_IDS)).scalars().all()
        return self.unknown_run(run_id, known)

    # ---- building records -----------------------------------------------------------------------
    def _records(self, conn: Any, rows: Sequence[Any]) -> list:
        ids = [row["run_id"] for row in rows]
        metrics = self._metric_summaries(conn, ids)
        tags = self._tags_of(conn, ids)
        artifacts: dict = {}
        a = s.artifact.c
        for chunk in _chunks(ids):
            for run_id, name in conn.execute(
                sa.select(a.run_id, a.filename).where(a.run_id.in_(chunk)).order_by(a.artifact_id)
            ):
                names = artifacts.setdefault(run_id, [])
                if name not in names:
                    names.append(name)
        resources: dict = {}
        link, res = s.runs_resources.c, s.resource.c
        for chunk in _chunks(ids):
            for run_id, path, md5 in conn.execute(
                sa.select(link.run_id, res.filename, res.md5sum)
                .join_from(s.runs_resources, s.resource)
                .where(link.run_id.in_(chunk))
                .order_by(link.run_id, res.resource_id)
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

    def _metric_summaries(self, conn: Any, ids: list) -> dict:
        """{run_id: {name: {last, min, max, count}}} from ``metric_summary``, a chunk of ids at a
        time."""
        m = s.metric_summary.c
        found: dict = {}
        for chunk in _chunks(ids):
            stmt = sa.select(m.run_id, m.name, m.point_count, m.min_value, m.max_value, m.last_value)
            for run_id, name, n, lo, hi, value in conn.execute(stmt.where(m.run_id.in_(chunk))):
                found.setdefault(run_id, {})[name] = {"last": value, "min": lo, "max": hi, "count": int(n)}
        return found

    def _tags_of(self, conn: Any, ids: list) -> dict:
        t = s.tag.c
        found: dict = {}
        for chunk in _chunks(ids):
            stmt = (
                sa.select(t.run_id, t.tag)
                .where(t.run_id.in_(chunk))
                .order_by(t.run_id, sa.case((t.seq.is_(None), 0), else_=1), t.seq, t.tag)
            )
            for run_id, name in conn.execute(stmt):
                found.setdefault(run_id, []).append(name)
        return found

    def _experiment_infos(self, conn: Any, rows: Sequence[Any]) -> dict:
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
            for exp_id, filename, md5 in conn.execute(
                sa.select(s.experiments_sources.c.experiment_id, s.source.c.filename, s.source.c.md5sum)
                .join_from(s.experiments_sources, s.source)
                .where(s.experiments_sources.c.experiment_id.in_(missing))
                .order_by(s.source.c.filename)
            ):
                self._experiments[exp_id]["sources"].append([filename, md5])
            for exp_id, name, version in conn.execute(
                sa.select(
                    s.experiments_dependencies.c.experiment_id, s.dependency.c.name, s.dependency.c.version
                )
                .join_from(s.experiments_dependencies, s.dependency)
                .where(s.experiments_dependencies.c.experiment_id.in_(missing))
                .order_by(s.dependency.c.name)
            ):
                self._experiments[exp_id]["dependencies"].append(f"{name}=={version}" if version else name)
            for exp_id, url, commit, dirty in conn.execute(
                sa.select(
                    s.experiments_repositories.c.experiment_id,
                    s.repository.c.url,
                    s.repository.c.commit,
                    s.repository.c.dirty,
                )
                .join_from(s.experiments_repositories, s.repository)
                .where(s.experiments_repositories.c.experiment_id.in_(missing))
            ):
                self._experiments[exp_id]["repositories"].append(
                    {"url": url, "commit": commit, "dirty": None if dirty is None else bool(dirty)}
                )
        return {
            exp_id: json.loads(json.dumps(info))
            for exp_id, info in self._experiments.items()
            if exp_id in {row["experiment_id"] for row in rows}
        }

    # ---- one run's details ----------------------------------------------------------------------
    def _require(self, conn: Any, run_id: Any) -> str:
        text = str(run_id)
        found = conn.execute(sa.select(s.run.c.run_id).where(s.run.c.run_id == text)).first()
        if found is None:
            raise self._unknown(conn, run_id)
        return text

    def metric_names(self, run_id: Any) -> list:
        with self.engine.connect() as conn:
            text = self._require(conn, run_id)
            m = s.metric.c
            return list(
                conn.execute(sa.select(m.name).where(m.run_id == text).distinct().order_by(m.name)).scalars()
            )

    def metric(self, run_id: Any, name: str) -> MetricSeries:
        """The points from their packed blocks when these hold all of them (``common.packed_series``),
        else through the driver's own cursor (plain tuples: no SQLAlchemy row per point); times the
        driver gives as text stay text until used (``ColumnSeries``).  One transaction: the count
        and the blocks (or the rows) describe the same points."""
        with self.engine.connect() as conn:
            text = self._require(conn, run_id)
            mark = "?" if conn.dialect.paramstyle in ("qmark", "numeric") else "%s"
            cursor = conn.connection.dbapi_connection.cursor()
            try:
                cursor.execute(
                    f"SELECT count(*) FROM metric WHERE run_id = {mark} AND name = {mark}", (text, name)
                )
                count = cursor.fetchone()[0]
                cursor.execute(BLOCKS_SQL.format(mark), (text, name))
                packed = packed_series(name, count, cursor.fetchall())
                if packed is not None:
                    return packed
                cursor.execute(
                    "SELECT step, value, timestamp FROM metric"
                    f" WHERE run_id = {mark} AND name = {mark} ORDER BY metric_id",
                    (text, name),
                )
                points = cursor.fetchall()
            finally:
                cursor.close()
            if not points:
                m = s.metric.c
                names = conn.execute(sa.select(m.name).where(m.run_id == text).distinct())
                raise StoreError(f"run {run_id} has no metric '{name}'{suggest(name, list(names.scalars()))}")
        steps, values, stamps = (list(column) for column in zip(*points))
        if any(isinstance(stamp, str) for stamp in stamps):  # SQLite keeps ISO text
            stamps = json.dumps(stamps)[1:-1].encode("utf-8")
        return ColumnSeries(name, steps, values, stamps)

    def captured_out(self, run_id: Any) -> str:
        with self.engine.connect() as conn:
            text = self._require(conn, run_id)
            out = conn.execute(sa.select(s.run.c.captured_out).where(s.run.c.run_id == text))
            return out.scalar() or ""

    def artifact(self, run_id: Any, name: str) -> BinaryIO:
        with self.engine.connect() as conn:
            text = self._require(conn, run_id)
            a = s.artifact.c
            row = conn.execute(
                sa.select(a.content)
                .where(a.run_id == text, a.filename == name)
                .order_by(a.artifact_id.desc())
                .limit(1)
            ).first()
            if row is None:
                names = conn.execute(sa.select(a.filename).where(a.run_id == text)).scalars()
                raise StoreError(f"run {run_id} has no artifact '{name}'{suggest(name, list(names))}")
        return io.BytesIO(bytes(row[0] or b""))

    def source(self, run_id: Any, relpath: str) -> bytes:
        """The source file's content from the ``source`` table (through the run's experiment)."""
        src, link = s.source.c, s.experiments_sources.c
        with self.engine.connect() as conn:
            text = self._require(conn, run_id)
            exp_id = conn.execute(sa.select(s.run.c.experiment_id).where(s.run.c.run_id == text)).scalar()
            found = conn.execute(
                sa.select(src.filename, src.content)
                .join_from(s.experiments_sources, s.source)
                .where(link.experiment_id == exp_id)
                .order_by(src.filename)
            ).all()
        for filename, content in found:
            if filename == relpath:
                if content is None:
                    raise StoreError(f"{self} keeps no content for source file '{relpath}' of run {run_id}")
                return content.encode("utf-8") if isinstance(content, str) else bytes(content)
        names = [filename for filename, _ in found]
        raise StoreError(f"run {run_id} has no source file '{relpath}'{suggest(relpath, names)}")

    def artifact_metadata(self, run_id: Any) -> dict:
        with self.engine.connect() as conn:
            text = self._require(conn, run_id)
            a = s.artifact.c
            found = conn.execute(
                sa.select(a.filename, a.content_type, a.metadata)
                .where(a.run_id == text)
                .order_by(a.artifact_id)
            ).all()
        return {
            name: {"content_type": content_type, "metadata": _loads(metadata, None)}
            for name, content_type, metadata in found
        }

    def tables(self, run_id: Any) -> list:
        with self.engine.connect() as conn:
            text = self._require(conn, run_id)
            t = s.table_row.c
            return list(
                conn.execute(sa.select(t.name).where(t.run_id == text).distinct().order_by(t.name)).scalars()
            )

    def rows(
        self,
        run_id: Any,
        table: str,
        where: Sequence[Filter] = (),
        order: Sequence[Order] = (),
        limit: Optional[int] = None,
    ) -> list:
        t = s.table_row.c
        with self.engine.connect() as conn:
            text = self._require(conn, run_id)
            scope = (t.run_id == text, t.name == table)
            if conn.execute(sa.select(t.row_index).where(*scope).limit(1)).first() is None:
                names = conn.execute(sa.select(t.name).where(t.run_id == text).distinct())
                raise StoreError(
                    f"run {run_id} has no table '{table}'{suggest(table, list(names.scalars()))}"
                )
            suspect = (
                conn.execute(sa.select(t.row_index).where(*scope, self._sql.suspect(t.data)).limit(1)).first()
                is not None
            )
            conds, terms = [], []
            if not suspect:
                for flt in where:
                    op = self._sql.json_operand(t.data, flt.parsed_key.path)
                    if flt.op == "in" and len(flt.value) > MAX_SQL_IN_VALUES:
                        op = None  # Python decides it
                    conds.append(None if op is None else _condition(self._sql, op, flt))
                for o in order:
                    op = self._sql.json_operand(t.data, o.parsed_key.path)
                    terms.append(None if op is None else (op, o.descending))
            exact = (
                not suspect and all(c is not None for c in conds) and all(term is not None for term in terms)
            )
            stmt = sa.select(t.data, t.row_index).where(*scope)
            if exact:
                stmt = stmt.where(*conds)
                others = [op.other for op, _ in terms]
                for op, descending in terms:
                    stmt = stmt.order_by(*_order_terms(self._sql, op, descending))
                stmt = stmt.order_by(t.row_index)
                if limit is not None:
                    stmt = stmt.add_columns(*[o.label(f"_other{i}") for i, o in enumerate(others)]).limit(
                        max(limit, 0)
                    )
                    found = conn.execute(stmt).mappings().all()
                    if not any(r[f"_other{i}"] for r in found for i in range(len(others))):
                        return [_loads(r["data"], {}) for r in found]
                    stmt = sa.select(t.data, t.row_index).where(*scope, *conds)
                else:
                    return [_loads(r[0], {}) for r in conn.execute(stmt)]
            data = [_loads(r[0], {}) for r in conn.execute(stmt.order_by(t.row_index))]
        return apply_rows_in_python(data, where, order, limit)

    # ---- annotating -----------------------------------------------------------------------------
    def add_tags(self, run_id: Any, tags: Iterable[str]) -> list:
        t = s.tag.c
        with self.engine.begin() as conn:
            text = self._require(conn, run_id)
            have = set(conn.execute(sa.select(t.tag).where(t.run_id == text)).scalars())
            seq = conn.execute(sa.select(sa.func.max(t.seq)).where(t.run_id == text)).scalar()
            seq = 0 if seq is None else seq + 1
            for name in dict.fromkeys(str(tag) for tag in tags):
                if name not in have:
                    conn.execute(s.tag.insert().values(run_id=text, tag=name, seq=seq))
                    seq += 1
            return self._tags_of(conn, [text]).get(text, [])

    def remove_tags(self, run_id: Any, tags: Iterable[str]) -> list:
        t = s.tag.c
        with self.engine.begin() as conn:
            text = self._require(conn, run_id)
            drop = [str(tag) for tag in tags]
            if drop:
                conn.execute(s.tag.delete().where(t.run_id == text, t.tag.in_(drop)))
            return self._tags_of(conn, [text]).get(text, [])

    def set_note(self, run_id: Any, text: str) -> None:
        with self.engine.begin() as conn:
            stored = self._require(conn, run_id)
            conn.execute(s.run.update().where(s.run.c.run_id == stored).values(note=text))

    def delete(self, run_ids: Iterable[Any]) -> list:
        """Delete runs and all their rows in one transaction (shared experiment/host rows stay)."""
        with self.engine.begin() as conn:
            ids = [self._require(conn, run_id) for run_id in run_ids]
            for chunk in _chunks(ids):
                for table in (s.metric, s.metric_block, s.table_row, s.tag, s.artifact, s.runs_resources):
                    conn.execute(table.delete().where(table.c.run_id.in_(chunk)))
                conn.execute(s.run.delete().where(s.run.c.run_id.in_(chunk)))
            forget_runs(conn, ids)
        return ids
