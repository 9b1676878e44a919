"""``SqlStore``: the read side of the SQL layout (SQLite, PostgreSQL, MariaDB/MySQL).

Queries are translated by the query compiler (:mod:`.compiler`, the one translation every SQL read
path sends, in the engine's dialect) to one SQL statement wherever the semantics of
:mod:`experimentkit.query.semantics` can be reproduced exactly: filters become ``WHERE``, orders
``ORDER BY`` (with the documented type ranks, missing-last and the natural-id tie-break), and limit
and offset ``LIMIT``/``OFFSET``.  The text goes to the driver through SQLAlchemy's
``exec_driver_sql`` (the compiler writes each driver's parameter style).  What cannot be translated
(list equality, ``contains`` on JSON values, keys such as ``experiment.sources``) is left to
``apply_in_python`` over the candidates.

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
from typing import Any, BinaryIO, Callable, Optional, Union

import sqlalchemy as sa

from ...errors import StoreError, suggest_known
from ...query.base import (
    DEFAULT_DEAD_AFTER,
    HINT_IDS,
    MAX_SQL_IN_VALUES,
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
from ...query.semantics import apply_in_python, apply_rows_in_python
from . import schema as s
from .catalogue import forget_runs
from .common import (
    BLOCKS_ALONE_VERSION,
    BLOCKS_SQL,
    WRITER_SETTING,
    catalogue_name,
    experiment_infos,
    keys_to_confirm,
    packed_series,
    record_from_row,
)
from .common import chunks as _chunks
from .common import loads as _loads
from .compiler import FROM_RUNS, MYSQL, POSTGRESQL, SQLITE, Dialect, QueryCompiler, select_runs
from .compiler import where as _where

__all__ = ["SqlStore"]

_DIALECTS = {"sqlite": SQLITE, "postgresql": POSTGRESQL, "mysql": MYSQL, "mariadb": MYSQL}


def _with_stored_run(stmt: Any) -> Any:
    """``stmt`` over ``metric_summary`` kept to runs still stored (a run deleted by hand leaves
    its summaries behind)."""
    return stmt.join_from(s.metric_summary, s.run, s.run.c.run_id == s.metric_summary.c.run_id)


def _parse_times(row: dict) -> dict:
    """``row`` with its run times as datetimes: text SQL gets SQLite's stored text back (SQLAlchemy's
    typed columns parsed it; the servers' drivers give datetimes)."""
    for column in TIME_KEYS:
        if isinstance(row[column], str):
            row[column] = _dt.datetime.fromisoformat(row[column])
    return row


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
        name = self.engine.dialect.name
        if name not in _DIALECTS:  # refused before the upgrade writes to a database it cannot read
            self.close()
            raise StoreError(f"{self._label}: the query compiler has no {name} dialect")
        self.dialect: Dialect = _DIALECTS[name]
        version = upgrade(self.engine)
        # PostgreSQL's triggers keep blocks honest from this version on: no count of the rows per read
        self._blocks_alone = name == "postgresql" and version >= BLOCKS_ALONE_VERSION
        self._experiments: dict = {}  # experiment_id -> dict (rows are immutable once written)

    def __str__(self) -> str:
        return self._label

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()

    def sweep_book(self) -> Any:
        from .sweeps import SqlSweepBook

        return SqlSweepBook(self.url, engine=self.engine, create=False)

    def _base_select(self) -> Any:
        """The run join for ``get`` (queries send ``compiler.select_runs``)."""
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

    # ---- queries: SQL text from the query compiler -------------------------------------------------
    def _compiler(self) -> QueryCompiler:
        return QueryCompiler(self.dialect, self.dead_cutoff())

    def _fetch(self, conn: Any, sql: str, params: dict) -> list:
        """Rows of the run join as dicts (the driver's parameter style is the compiler's)."""
        return [_parse_times(dict(row)) for row in conn.exec_driver_sql(sql, params).mappings()]

    def _has_suspect_json(self, conn: Any, suspects: list, params: dict, among: Optional[str] = None) -> bool:
        """Whether any run (of those ``among`` selects) has JSON the query's SQL cannot read (one
        scan, stops at the first)."""
        if not suspects:
            return False
        scope = _where(([among] if among else []) + [" OR ".join(dict.fromkeys(suspects))])
        return conn.exec_driver_sql(f"SELECT 1 FROM run{scope} LIMIT 1", params).first() is not None

    def query(self, q: Query) -> list:
        try:
            answer = self._query(q, json_in_sql=True)
        except sa.exc.DBAPIError:
            # SQLite and PostgreSQL refuse JSON holding NaN/Infinity: do the JSON part in Python.
            if self.dialect.mysql:
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
        tr = self._compiler()
        with self.engine.connect() as conn:
            pushed, terms, others, suspects = tr.plan(q)
            exact = len(pushed) == len(q.filters) and terms is not None
            if json_in_sql and exact and q.limit is not None and q.limit > 0:
                found = self._top_by_summary(conn, q, tr, pushed, terms, others, suspects)
                if found is not None:
                    return found
            if not json_in_sql or self._has_suspect_json(conn, suspects, tr.params):
                # NaN/Infinity in JSON: keep only the filters that parse no JSON, finish in Python.
                pushed, terms, others = self._without_json(tr, q), None, []
            cond = _where([c for _, c in pushed])
            order = "" if terms is None else " ORDER BY " + ", ".join(terms)
            exact = len(pushed) == len(q.filters) and terms is not None
            if exact and (q.limit is not None or q.offset):
                flags = [f"{o} AS _other{i}" for i, o in enumerate(others)]
                limit = None if q.limit is None else max(q.limit, 0)  # as apply_in_python
                window = self.dialect.window(limit, max(q.offset or 0, 0))
                rows = self._fetch(conn, select_runs(flags) + cond + order + window, tr.params)
                if not any(row[f"_other{i}"] for row in rows for i in range(len(others))):
                    records = self._records(conn, rows)
                    return apply_in_python(records, q, filtered=q.filters, ordered=True, limited=True)
            rows = self._fetch(conn, select_runs() + cond + order, tr.params)
            records = self._records(conn, rows)
        return apply_in_python(
            records, q, filtered=[f for f, _ in pushed], ordered=terms is not None and not others
        )

    def _top_by_summary(
        self,
        conn: Any,
        q: Query,
        tr: QueryCompiler,
        pushed: list,
        terms: list,
        others: list,
        suspects: list,
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
        flags = [f"{o} AS _other{i}" for i, o in enumerate(others)]
        order = " ORDER BY " + ", ".join(terms)
        window = self.dialect.window(int(q.limit or 0), max(int(q.offset or 0), 0))
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
            listed = ", ".join(tr.param(run_id) for run_id in ids)
            inside = f"run.run_id IN ({listed})" if ids else self.dialect.false
            if self._has_suspect_json(conn, suspects, tr.params, among=inside):
                return None
            conditions = _where([*[c for _, c in pushed], inside])
            rows = self._fetch(conn, select_runs(flags) + conditions + order + window, tr.params)
            if len(rows) == q.limit:
                if any(row[f"_other{i}"] for row in rows for i in range(len(others))):
                    return None
                records = self._records(conn, rows)
                return apply_in_python(records, q, filtered=q.filters, ordered=True, limited=True)
            k *= 8

    def _without_json(self, tr: QueryCompiler, q: Query) -> list:
        """The pushed filters of ``q`` that parse no JSON."""
        pushed = []
        for flt, cond in tr.plan(q.replace(order=()))[0]:
            op = None if flt.parsed_key.root == "tags" else tr.operand(flt.parsed_key)
            if op is None or not op.is_json:
                pushed.append((flt, cond))
        return pushed

    def count(self, q: Query = Query()) -> int:  # noqa: B008 - the base class's signature
        try:
            tr = self._compiler()
            with self.engine.connect() as conn:
                pushed, _, _, suspects = tr.plan(q.replace(order=()))
                if len(pushed) == len(q.filters) and not self._has_suspect_json(conn, suspects, tr.params):
                    sql = "SELECT count(*)" + FROM_RUNS + _where([c for _, c in pushed])
                    found = int(conn.exec_driver_sql(sql, tr.params).scalar())
                    if found == 0:
                        self.confirm_keys(keys_to_confirm(q.replace(order=()), []))
                    return found
        except sa.exc.DBAPIError:
            if self.dialect.mysql:
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
                if root == "metrics":  # a summary row per run and metric, indexed by name
                    m = s.metric_summary.c
                    stmt = _with_stored_run(sa.select(m.run_id).where(m.name == key.path[0])).limit(1)
                    return conn.execute(stmt).first() is not None
                column = s.run.c[root]
                if (
                    root == "meta"
                    and key.path[0] in ("command", "comment", "priority")
                    and conn.execute(sa.select(s.run.c.run_id).where(column.is_(None)).limit(1)).first()
                    is not None
                ):
                    return True  # Sacred-era rows keep these in columns
                tr = self._compiler()
                exists = tr.key_exists(key)
                if exists is None:
                    return True  # a list index or an odd label: let the query decide
                found = conn.exec_driver_sql(f"SELECT 1 FROM run WHERE {exists} LIMIT 1", tr.params)
                return found.first() is not None
        except sa.exc.DBAPIError:  # JSON SQL cannot parse (NaN): ask Python
            return super().has_key(key)

    def key_names(self, root: str) -> list:
        with self.engine.connect() as conn:
            if root == "metrics":
                stmt = _with_stored_run(sa.select(s.metric_summary.c.name).distinct())
                names = conn.execute(stmt).scalars()
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
        return self.unknown_run(run_id, known, complete=len(known) < HINT_IDS)

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
        experiments = experiment_infos(self._experiments, rows, self.dialect, conn.exec_driver_sql)
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
        and the blocks (or the rows) describe the same points.  On PostgreSQL the triggers vouch for
        the blocks (``migrations._metric_triggers``): no count, which read every row."""
        with self.engine.connect() as conn:
            text = self._require(conn, run_id)
            mark = "?" if conn.dialect.paramstyle in ("qmark", "numeric") else "%s"
            cursor = conn.connection.dbapi_connection.cursor()
            try:
                count = None
                if not self._blocks_alone:
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
                hint = suggest_known(name, list(names.scalars()), "metrics")
                raise StoreError(f"run {run_id} has no metric '{name}'{hint}")
        steps, values, stamps = (list(column) for column in zip(*points))
        timestamps: Union[list, bytes] = stamps
        if any(isinstance(stamp, str) for stamp in stamps):  # SQLite keeps ISO text: decoded on first use
            timestamps = json.dumps(stamps)[1:-1].encode("utf-8")
        return ColumnSeries(name, steps, values, timestamps)

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
                hint = suggest_known(name, list(names), "artifacts")
                raise StoreError(f"run {run_id} has no artifact '{name}'{hint}")
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
        hint = suggest_known(relpath, names, "source files")
        raise StoreError(f"run {run_id} has no source file '{relpath}'{hint}")

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
                hint = suggest_known(table, list(names.scalars()), "tables")
                raise StoreError(f"run {run_id} has no table '{table}'{hint}")
            tr = self._compiler()
            scope_sql = [f"table_row.run_id = {tr.param(text)}", f"table_row.name = {tr.param(table)}"]
            unparsable = _where([*scope_sql, self.dialect.unparsable("table_row.data")])
            suspect = conn.exec_driver_sql(f"SELECT 1 FROM table_row{unparsable} LIMIT 1", tr.params).first()
            translated = None if suspect is not None else self._row_sql(tr, where, order)
            columns, cond = "SELECT table_row.data, table_row.row_index", _where(scope_sql)
            if translated is not None:
                conds, terms, others = translated
                cond = _where([*scope_sql, *conds])
                order_by = " ORDER BY " + ", ".join([*terms, "table_row.row_index ASC"])
                if limit is None:
                    found = conn.exec_driver_sql(f"{columns} FROM table_row{cond}{order_by}", tr.params)
                    return [_loads(r[0], {}) for r in found]
                flags = "".join(f", {o} AS _other{i}" for i, o in enumerate(others))
                window = self.dialect.window(max(limit, 0), 0)
                sql = f"{columns}{flags} FROM table_row{cond}{order_by}{window}"
                rows = conn.exec_driver_sql(sql, tr.params).mappings().all()
                if not any(r[f"_other{i}"] for r in rows for i in range(len(others))):
                    return [_loads(r["data"], {}) for r in rows]
            sql = f"{columns} FROM table_row{cond} ORDER BY table_row.row_index"
            data = [_loads(r[0], {}) for r in conn.exec_driver_sql(sql, tr.params)]
        return apply_rows_in_python(data, where, order, limit)

    def _row_sql(
        self, tr: QueryCompiler, where: Sequence[Filter], order: Sequence[Order]
    ) -> Optional[tuple[list[str], list[str], list[str]]]:
        """``where`` as SQL conditions, ``order`` as ORDER BY terms and the list/object flags of
        its keys, on the JSON rows ``table_row.data``; None when some filter or order can only be
        decided in Python."""
        conds = []
        for flt in where:
            if flt.op == "in" and len(flt.value) > MAX_SQL_IN_VALUES:
                return None  # Python decides it
            op = tr.json_operand("table_row.data", flt.parsed_key.path)
            cond = None if op is None else tr.condition(op, flt)
            if cond is None:
                return None
            conds.append(cond)
        terms: list[str] = []
        others = []
        for o in order:
            op = tr.json_operand("table_row.data", o.parsed_key.path)
            if op is None:
                return None
            terms += tr.order_terms(op, o.descending)
            others.append(op.other)
        return conds, terms, others

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
            if conn.dialect.name == "postgresql":  # the blocks go too: nothing for the triggers to do
                conn.execute(sa.select(sa.func.set_config(WRITER_SETTING, "on", True)))
            for chunk in _chunks(ids):
                for table in (s.metric, s.metric_block, s.table_row, s.tag, s.artifact, s.runs_resources):
                    conn.execute(table.delete().where(table.c.run_id.in_(chunk)))
                conn.execute(s.run.delete().where(s.run.c.run_id.in_(chunk)))
            forget_runs(conn, ids)
        return ids
