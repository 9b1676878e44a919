"""``SqlObserver``: writes runs into an SQL database (SQLite, PostgreSQL, MariaDB/MySQL).

Drop-in for Sacred's ``SqlObserver(url, echo=False, priority=40)`` with the same tables, plus what
Sacred leaves out (metrics, artifact content types and metadata, log tables, QUEUED runs; see
docs/storage-sql.md).

Every event is one transaction, so a retried event is never half-stored twice.  Errors (a server
that is down, a dropped connection) propagate: the run's dispatcher buffers the event and retries
it; the engine uses ``pool_pre_ping`` so it reconnects once the server is back.  SQLAlchemy is
imported on first use.

A failed call is *in doubt*: the server may have committed it before the connection died.  The
appending events are therefore made idempotent (see ``_in_doubt``): the call after a failure, or
the first after ``attach``, compares what it is about to append with what is stored and skips the
leading part that is already there; the output append is conditional on the stored length.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import mimetypes
import os
import random
import sys
import threading
import time
import warnings
import weakref
from typing import Any, Callable, Optional

from ...dependencies import get_digest
from ...errors import ObserverError, PermanentObserverError
from ...observers.base import RunObserver, copy_resource

__all__ = ["SqlObserver", "DEFAULT_SQL_PRIORITY"]

DEFAULT_SQL_PRIORITY = 40
_CONNECT_TIMEOUT = 5  # seconds; a missing server must fail fast, not hang the run
_ATTEMPTS = 8  # for write conflicts between concurrent runs (unique keys, deadlocks)


class SqlObserver(RunObserver):
    """Stores each run as a row of ``run`` plus rows in the tables around it.

    Run ids: an ``_id`` passed in (``-i``, or from a higher-priority observer) is stored as
    ``run.run_id`` and returned unchanged; otherwise the database's auto-increment key allocates an
    integer id, safe under concurrency, returned as an ``int`` (Sacred returned ``"0"`` for the
    first run, ints later).
    """

    def __init__(self, url: Any, echo: bool = False, priority: int = DEFAULT_SQL_PRIORITY):
        self.url = url
        self.echo = echo
        self.priority = priority
        self.run_id: Optional[str] = None  # the stored run.run_id of the current run
        self._engine: Any = None
        self._owns_engine = True
        self._using_engine = False  # registered as a user of the shared engine (see join)
        self._schema_ready = False
        if "sqlalchemy" in sys.modules:  # (-s has loaded it to check the URL; else it waits)
            # load the driver now rather than inside started_event, which the dispatcher times
            try:
                self._engine = _shared_engine(url, echo)
            except Exception:  # noqa: BLE001 - the first event reports it, through the dispatcher
                self._engine = None
        self._out_len = 0  # characters of captured_out already stored
        # What this observer believes is stored: points per metric name and rows per table name.
        # A name missing from ``_counts`` has 0 when ``_complete`` (a run this observer created),
        # else an unknown count (a run found by uid or attached).
        self._counts: dict = {"metric": {}, "table": {}}
        self._complete = {"metric": True, "table": True}
        self._journaled_tables: Optional[tuple] = None  # (rows per table, complete), for sync
        # True after a call that raised (its transaction may have committed) and after attach():
        # the next appending call reads what is stored first.  Normal calls never pay for that.
        self._in_doubt = False
        # Catalogue rows (``schema.run_key``) this observer has written or seen stored, and the
        # info text of the last heartbeat: only new keys cost a statement.
        self._catalogued: set = set()
        self._info_text: Optional[str] = None

    @classmethod
    def create(cls, url: Any, echo: bool = False, priority: int = DEFAULT_SQL_PRIORITY) -> SqlObserver:
        """Sacred's deprecated spelling of the constructor."""
        warnings.warn(
            "SqlObserver.create(...) is deprecated. Please use SqlObserver(...) instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        return cls(url, echo, priority)

    @classmethod
    def create_from(
        cls, engine: Any, session: Any = None, priority: int = DEFAULT_SQL_PRIORITY
    ) -> SqlObserver:
        """Use an existing SQLAlchemy engine (``session``: for Sacred compatibility, unused)."""
        observer = cls(engine.url.render_as_string(hide_password=False), priority=priority)
        observer._engine = engine
        observer._owns_engine = False
        return observer

    @classmethod
    def for_replay(cls, url: str, table_rows: dict, all_tables: bool) -> SqlObserver:
        """The observer ``experimentkit sync`` rebuilds (see ``replay_spec``).

        It knows how many rows each log table had when the run journaled its events, so a
        journaled ``log_table`` that the server committed although the run saw an error is not
        stored again: unlike metric points, rows carry no timestamp that tells equal rows apart.
        """
        observer = cls(url)
        observer._journaled_tables = (dict(table_rows), bool(all_tables))
        return observer

    def __repr__(self) -> str:
        return f"SqlObserver({_safe_url(self.url)!r})"

    def __eq__(self, other: object) -> bool:
        """Two observers are equal when they write to the same database (as in Sacred)."""
        return isinstance(other, SqlObserver) and str(self.url) == str(other.url)

    def __hash__(self) -> int:
        return hash(("SqlObserver", str(self.url)))

    # ---- engine and transactions -----------------------------------------------------------------
    @property
    def engine(self) -> Any:
        """The SQLAlchemy engine, one per URL in the process (see ``_shared_engine``); the schema is
        created or upgraded on first use, once per engine."""
        if self._engine is None:
            self._engine = _shared_engine(self.url, self.echo)
        if self._owns_engine and not self._using_engine:
            with _ENGINES_LOCK:
                _engine_users(self._engine)[id(self)] = self
            self._using_engine = True
        if not self._schema_ready:
            _ensure_schema(self._engine)
            self._schema_ready = True
        return self._engine

    def _transaction(self, work: Callable[[Any], Any]) -> Any:
        """Run ``work(conn)`` in one transaction, retrying it when concurrent writers collide."""
        import sqlalchemy as sa

        engine = self.engine
        for attempt in range(_ATTEMPTS):
            try:
                with engine.begin() as conn:
                    result = work(conn)
            except sa.exc.DBAPIError as exc:
                self._in_doubt = True  # the commit may have reached the server
                if _is_missing_table(exc) and attempt + 1 < _ATTEMPTS:
                    # the store was dropped and made again since this process checked its schema
                    _SCHEMA_CURRENT.discard(engine)
                    self._schema_ready = False
                    engine = self.engine
                    continue
                if attempt + 1 == _ATTEMPTS or not _is_write_conflict(exc):
                    raise
                time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
                continue
            except BaseException:
                self._in_doubt = True
                raise
            self._in_doubt = False
            return result
        raise AssertionError("unreachable")

    def _believed(self, kind: str, name: str) -> Optional[int]:
        """How many points/rows of ``name`` this observer knows are stored (None: unknown)."""
        return self._counts[kind].get(name, 0 if self._complete[kind] else None)

    def _grow(self, kind: str, name: str, count: int) -> None:
        believed = self._believed(kind, name)
        if believed is not None:
            self._counts[kind][name] = believed + count

    def _reset_counts(self, complete: bool) -> None:
        self._counts = {"metric": {}, "table": {}}
        self._complete = {"metric": complete, "table": complete}

    def _require_run(self) -> str:
        if self.run_id is None:
            raise ObserverError("SqlObserver has no run: started_event (or attach) must come first")
        return self.run_id

    # ---- opening events --------------------------------------------------------------------------
    def sweep_book(self) -> Any:
        """Sweep records beside the runs (a ``sweep`` table in the same database)."""
        from .sweeps import SqlSweepBook

        return SqlSweepBook(self.url)

    def queued_event(self, ex_info, command, host_info, queue_time, config, meta_info, _id):
        """Store a QUEUED run; returns its id."""
        return self._open(
            "QUEUED", ex_info, command, host_info, config, meta_info, _id, {"queue_time": queue_time}
        )

    def started_event(self, ex_info, command, host_info, start_time, config, meta_info, _id):
        """Store a RUNNING run (or find the one with this ``meta_info["uid"]``); returns its id."""
        return self._open(
            "RUNNING",
            ex_info,
            command,
            host_info,
            config,
            meta_info,
            _id,
            {
                "start_time": start_time,
                "heartbeat": start_time,
                "queue_time": (meta_info or {}).get("queue_time"),
            },
        )

    def _open(self, status, ex_info, command, host_info, config, meta_info, _id, times) -> Any:
        from . import schema as s
        from .catalogue import add_keys

        meta_info = meta_info or {}
        values = {
            "uid": meta_info.get("uid"),
            "command": _clip(s.run, "command", command),
            "priority": meta_info.get("priority"),
            "comment": meta_info.get("comment"),
            "captured_out": "",
            "config": _to_json(config),
            "info": "{}",
            "status": status,
            "meta": _to_json(meta_info),
            "host_info": _to_json(host_info),
            **times,
        }
        keys = _new_keys(self._catalogued, ("config", values["config"]), ("meta", values["meta"]))

        def work(conn):
            found = _create_run(conn, ex_info, host_info, values, _id, meta_info.get("tags"))
            add_keys(conn, keys)
            return found

        run_id, out_len, created = self._transaction(work)
        self._catalogued |= keys
        self.run_id, self._out_len = run_id, out_len
        self._reset_counts(complete=created)
        return _id if _id is not None and str(_id) == run_id else _public_id(run_id)

    # ---- progress --------------------------------------------------------------------------------
    def heartbeat_event(self, info, captured_out, beat_time, result):
        """Update heartbeat time, info and result; append only the output not stored yet.

        The append is conditional on the stored output having the length this observer believes
        it has; when it has not (an earlier heartbeat committed although it raised), the part after
        the stored output is appended instead, so no character is stored twice.
        """
        import sqlalchemy as sa

        from .catalogue import add_keys
        from .schema import run

        run_id = self._require_run()
        captured_out = captured_out or ""
        values = {"heartbeat": beat_time, "info": _sacred_json(info), **_result_values(result)}
        text = sa.func.coalesce(run.c.captured_out, "")
        this_run = run.update().where(run.c.run_id == run_id)
        keys: set = set()
        if values["info"] != self._info_text:
            keys = _new_keys(self._catalogued, ("info", values["info"]))

        def work(conn):
            add_keys(conn, keys)
            believed = self._out_len
            new = captured_out[believed:]
            if not new:
                conn.execute(this_run.values(**values))
                return believed
            stmt = this_run.where(_char_length(conn, text) == believed)
            if conn.execute(stmt.values(captured_out=text + new, **values)).rowcount == 1:
                return len(captured_out)
            stored = _stored_out_len(conn, run_id)  # resynchronise the cursor
            rest = captured_out[stored:]
            extra = {"captured_out": text + rest} if rest else {}
            conn.execute(this_run.values(**values, **extra))
            return max(stored, len(captured_out))

        self._out_len = self._transaction(work)
        self._catalogued |= keys
        self._info_text = values["info"]

    def log_metrics(self, metrics_by_name, info):
        """Append the new points in one transaction, as tuples straight to the driver (``COPY`` on
        PostgreSQL, ``executemany`` elsewhere; see ``bulk.py``): cost flat in history.

        In doubt, the leading points of each name that are stored already are left out.
        """
        from .bulk import insert_metric_rows, metric_columns
        from .catalogue import add_keys, update_summary
        from .schema import KEY_LENGTH

        run_id = self._require_run()
        points = {
            name: metric_columns(list(group["steps"]), list(group["values"]), list(group["timestamps"]))
            for name, group in metrics_by_name.items()
            if len(group["steps"])
        }
        if not points:
            return
        keys = {("metrics", name) for name in points if len(name) <= KEY_LENGTH} - self._catalogued

        def work(conn):
            add_keys(conn, keys)
            for name, (steps, values, stamps) in points.items():
                skip = 0
                if self._in_doubt:
                    batch = list(zip(steps, values, stamps))
                    skip = self._stored_metric_prefix(conn, run_id, name, batch)
                if skip < len(steps):
                    insert_metric_rows(conn, run_id, name, steps[skip:], values[skip:], stamps[skip:])
                    update_summary(conn, run_id, name, values[skip:])

        self._transaction(work)
        self._catalogued |= keys
        for name, (steps, _, _) in points.items():
            self._grow("metric", name, len(steps))

    def _stored_metric_prefix(self, conn: Any, run_id: str, name: str, batch: list) -> int:
        """How many leading points of ``batch`` are stored already (a retry of a committed call)."""
        import sqlalchemy as sa

        from .schema import metric

        m = metric.c
        scope = (m.run_id == run_id, m.name == name)
        believed = self._believed("metric", name)
        if believed is not None:
            stored = conn.execute(sa.select(sa.func.count()).select_from(metric).where(*scope)).scalar()
            return min(max(stored - believed, 0), len(batch))
        # Attached: no count to compare with, so match the stored tail against the batch (points
        # carry microsecond timestamps, so equal neighbours are not taken for one another).
        tail = conn.execute(
            sa.select(m.step, m.value, m.timestamp)
            .where(*scope)
            .order_by(m.metric_id.desc())
            .limit(len(batch))
        ).all()
        return _overlap([tuple(row) for row in reversed(tail)], batch, _same_point)

    def log_table(self, name: str, rows: list) -> None:
        """Append ``rows`` to the run's table ``name`` (a JSON object per row, numbered from 0).

        In doubt, the leading rows that are stored already are left out.
        """
        import sqlalchemy as sa

        from .schema import table_row

        run_id = self._require_run()
        datas = [_to_json(row) for row in rows]
        if not datas:
            return
        tr = table_row.c
        scope = (tr.run_id == run_id, tr.name == name)

        def work(conn):
            last = conn.execute(sa.select(sa.func.max(tr.row_index)).where(*scope)).scalar()
            stored = 0 if last is None else last + 1
            skip = 0
            believed = self._believed("table", name) if self._in_doubt else None
            if believed is not None and stored > believed:
                # Rows appeared since this observer last heard back: the head of this batch if
                # they equal it.  (Without a count, e.g. attached with no journal, nothing is
                # skipped: equal rows cannot be told apart, and a duplicate beats a loss.)
                tail = conn.execute(
                    sa.select(tr.data)
                    .where(*scope)
                    .order_by(tr.row_index.desc())
                    .limit(min(stored - believed, len(datas)))
                ).all()
                skip = _overlap([row[0] for row in reversed(tail)], datas, str.__eq__)
            fresh = datas[skip:]
            if fresh:
                conn.execute(
                    table_row.insert(),
                    [
                        {"run_id": run_id, "name": name, "row_index": stored + i, "data": data}
                        for i, data in enumerate(fresh)
                    ],
                )
            return stored + len(fresh)

        self._counts["table"][name] = self._transaction(work)

    def resource_event(self, filename, copy=None):
        """Store the file (deduplicated by name and md5) and link it to the run; a large file
        (or ``copy=False``) is linked by name and md5 only, its content left NULL."""
        import sqlalchemy as sa

        from .schema import resource, runs_resources

        run_id = self._require_run()
        if copy_resource(filename, copy):
            with open(filename, "rb") as fh:
                content = fh.read()
            md5 = hashlib.md5(content).hexdigest()
        else:
            content = None
            md5 = get_digest(filename)
        name = _clip(resource, "filename", filename)

        def work(conn):
            resource_id = _get_or_create(
                conn, resource, {"filename": name, "md5sum": md5}, {"content": content}
            )
            link = runs_resources.c
            linked = conn.execute(
                sa.select(link.resource_id).where(link.run_id == run_id, link.resource_id == resource_id)
            ).first()
            if linked is None:
                conn.execute(runs_resources.insert().values(run_id=run_id, resource_id=resource_id))

        self._transaction(work)

    def artifact_event(self, name, filename, metadata=None, content_type=None):
        """Store the file's bytes as artifact ``name``, replacing an earlier one of that name."""
        from .schema import artifact

        run_id = self._require_run()
        with open(filename, "rb") as fh:
            content = fh.read()
        stored_name = _clip(artifact, "filename", name)
        values = {
            "run_id": run_id,
            "filename": stored_name,
            "content": content,
            "content_type": content_type or mimetypes.guess_type(name)[0],
            "metadata": None if metadata is None else _to_json(metadata),
            "md5sum": hashlib.md5(content).hexdigest(),
        }
        a = artifact.c

        def work(conn):
            conn.execute(artifact.delete().where(a.run_id == run_id, a.filename == stored_name))
            conn.execute(artifact.insert().values(**values))

        self._transaction(work)

    # ---- closing events --------------------------------------------------------------------------
    def completed_event(self, stop_time, result):
        """Mark the run COMPLETED with its result."""
        self._close({"stop_time": stop_time, "status": "COMPLETED", **_result_values(result)})

    def interrupted_event(self, interrupt_time, status):
        """Mark the run with ``status`` (INTERRUPTED, TIMEOUT, ...)."""
        self._close({"stop_time": interrupt_time, "status": status})

    def failed_event(self, fail_time, fail_trace):
        """Mark the run FAILED; the trace lines are stored as one text.  As Sacred, lines are joined
        by a line break, but one is not doubled after a line that ends with it (as the lines of
        ``traceback.format_exception`` do; Sacred doubles it)."""
        lines = list(fail_trace or [])
        trace = "".join(
            line if line.endswith("\n") or i == len(lines) - 1 else line + "\n"
            for i, line in enumerate(lines)
        )
        self._close({"stop_time": fail_time, "status": "FAILED", "fail_trace": trace})

    def _close(self, values: dict) -> None:
        from .schema import run

        run_id = self._require_run()
        self._transaction(
            lambda conn: conn.execute(run.update().where(run.c.run_id == run_id).values(**values))
        )

    def join(self):
        """Release the pooled connections of the shared engine once no other observer of the
        process is using it (events reconnect).  Disposing it under a concurrent run would give
        every later checkout a fresh pool while the old connections are still out: 50 runs of a
        process could open hundreds of connections."""
        if self._engine is None or not self._owns_engine:
            return
        with _ENGINES_LOCK:
            users = _engine_users(self._engine)
            users.pop(id(self), None)
            idle = not users
        self._using_engine = False
        if idle:
            self._engine.dispose()

    # ---- replay ----------------------------------------------------------------------------------
    def replay_spec(self) -> dict:
        """Rebuild this observer from the URL as given (with a password only if the URL had one).

        Once log tables were written, the spec also carries their row counts as this observer
        last confirmed them (see ``for_replay``).
        """
        url = self.url
        if not isinstance(url, str):
            url = url.render_as_string(hide_password=False)
        if not self._counts["table"]:
            return {"factory": "experimentkit.backends.sql.observer:SqlObserver", "kwargs": {"url": url}}
        return {
            "factory": "experimentkit.backends.sql.observer:SqlObserver.for_replay",
            "kwargs": {
                "url": url,
                "table_rows": dict(self._counts["table"]),
                "all_tables": self._complete["table"],
            },
        }

    def attach(self, _id: Any) -> None:
        """Continue the stored run ``_id``: later events update it, output goes after its end."""
        found = self._transaction(lambda conn: _find_run(conn, "run_id", str(_id)))
        if found is None:
            raise ObserverError(f"SqlObserver cannot attach: no run with id {_id!r} in {_safe_url(self.url)}")
        self.run_id, self._out_len = found
        # The first replayed event may have been committed by the process that journaled it.
        self._reset_counts(complete=False)
        if self._journaled_tables is not None:
            self._counts["table"], self._complete["table"] = self._journaled_tables
            self._counts["table"] = dict(self._counts["table"])
        self._in_doubt = True


# ---- helpers (module level so that transactions are plain functions of a connection) -------------
# Runs of one process that write to one URL (threads, sweeps, notebooks, runs one after another)
# share an engine: the driver is loaded, the dialect set up and the schema checked once per process,
# not once per run.  ``join`` still closes the idle connections after each run.
_ENGINES: dict = {}  # (URL text, echo) -> engine
_ENGINES_LOCK = threading.Lock()
_SCHEMA_CURRENT: weakref.WeakSet = weakref.WeakSet()  # engines whose schema this process made current
_SCHEMA_LOCKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_ENGINE_USERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # engine -> observers using it


def _shared_engine(url: Any, echo: bool) -> Any:
    """The process's engine for ``url`` (created on first use)."""
    text = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    with _ENGINES_LOCK:
        engine = _ENGINES.get((text, bool(echo)))
        if engine is None:
            engine = _ENGINES[(text, bool(echo))] = _create_engine(url, echo)
            _SCHEMA_LOCKS[engine] = threading.Lock()
        return engine


def _engine_users(engine: Any) -> weakref.WeakValueDictionary:
    """The observers currently using ``engine``, by identity (observers of one URL compare equal),
    forgotten when they are collected."""
    return _ENGINE_USERS.setdefault(engine, weakref.WeakValueDictionary())


def _ensure_schema(engine: Any) -> None:
    """Create or upgrade the schema once per engine: concurrent runs of the process wait for the
    one that checks, instead of each checking (and, on a fresh store, queueing for the lock)."""
    if engine in _SCHEMA_CURRENT:
        return
    with _ENGINES_LOCK:
        lock = _SCHEMA_LOCKS.setdefault(engine, threading.Lock())
    with lock:
        if engine not in _SCHEMA_CURRENT:
            from .migrations import upgrade

            upgrade(engine)
            _SCHEMA_CURRENT.add(engine)


def _forget_engines_in_child() -> None:
    """A forked child must not use the parent's pooled connections."""
    for engine in list(_ENGINES.values()):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_engines_in_child)


def _create_engine(url: Any, echo: bool) -> Any:
    import sqlalchemy as sa

    url = _with_installed_driver(sa.make_url(url))
    backend = url.get_backend_name()
    connect_args: dict = {}
    if backend == "sqlite":
        connect_args["timeout"] = 30  # wait for other writers instead of failing with "locked"
    elif backend in ("postgresql", "mysql", "mariadb") and "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = _CONNECT_TIMEOUT
    if (
        backend in ("mysql", "mariadb")
        and url.get_driver_name() == "pymysql"
        and "local_infile" not in url.query
    ):
        connect_args["local_infile"] = True  # for bulk.py's LOAD DATA, allowed only while it runs
    engine = sa.create_engine(url, echo=echo, pool_pre_ping=True, connect_args=connect_args)
    if backend == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_wal)
    if connect_args.get("local_infile"):
        sa.event.listen(engine, "connect", _no_local_files)
    return engine


def _no_local_files(dbapi_connection: Any, _record: Any) -> None:
    """PyMySQL sends any file the server asks for while ``local_infile`` is on: the connection
    asks the server for the capability, and ``bulk._load_data`` turns it on for its statement."""
    dbapi_connection._local_infile = False


def _sqlite_wal(dbapi_connection: Any, _record: Any) -> None:
    """Write-ahead log: a writer does not block readers, and a commit is one sequential append
    (``synchronous=NORMAL`` keeps every committed event through a crash of the process)."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _with_installed_driver(url: Any) -> Any:
    """``postgresql://`` and ``mysql://`` name no driver: pick an installed one."""
    if "+" in url.drivername:
        return url
    choices = {
        "postgresql": [("psycopg", "psycopg"), ("psycopg2", "psycopg2")],
        "mysql": [("MySQLdb", "mysqldb"), ("pymysql", "pymysql")],
        "mariadb": [("MySQLdb", "mysqldb"), ("pymysql", "pymysql")],
    }.get(url.drivername, [])
    for module, driver in choices:
        if importlib.util.find_spec(module) is not None:
            return url.set(drivername=f"{url.drivername}+{driver}")
    return url


def _safe_url(url: Any) -> str:
    try:
        import sqlalchemy as sa

        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable url>"


def _is_write_conflict(exc: Any) -> bool:
    """A unique-key race or deadlock between concurrent runs: retrying the transaction solves it."""
    import sqlalchemy as sa

    if isinstance(exc, sa.exc.IntegrityError):
        return True
    orig = getattr(exc, "orig", None)
    if getattr(orig, "pgcode", None) in ("40001", "40P01"):
        return True
    args: Any = getattr(orig, "args", ())
    return bool(args) and args[0] == 1213  # MySQL: deadlock found


def _is_missing_table(exc: Any) -> bool:
    """The statement names a table the database does not have (PostgreSQL, SQLite, MySQL)."""
    orig = getattr(exc, "orig", None)
    if getattr(orig, "pgcode", None) == "42P01":
        return True
    args = getattr(orig, "args", ())
    if args and args[0] == 1146:  # MySQL: table doesn't exist
        return True
    return "no such table" in str(orig)


def _new_keys(known: set, *documents: tuple) -> set:
    """The catalogue rows of ``(root, JSON text as stored)`` documents not in ``known``."""
    from .catalogue import catalogue_rows

    rows: set = set()
    for root, text in documents:
        try:
            rows |= catalogue_rows(root, json.loads(text))
        except ValueError:  # not JSON Python reads back: the store looks such keys up in the runs
            continue
    return rows - known


def _to_json(obj: Any) -> str:
    from ...serialize import flatten

    return json.dumps(flatten(obj))


def _clip(table: Any, column: str, value: Any) -> Any:
    """Cut a string to its column's length (MySQL in strict mode rejects longer values)."""
    from .schema import column_length

    length = column_length(table, column)
    if isinstance(value, str) and length is not None and len(value) > length:
        return value[:length]
    return value


def _finite(value: Any) -> Optional[float]:
    """A float for SQL, or None for what is not a finite number (MySQL cannot store NaN or inf)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and not isinstance(value, bool) else None


def _sacred_json(obj: Any) -> str:
    """Results and info as JSON text in the jsonpickle form Sacred stores (numpy, tuples, dates ...)."""
    from ...serialize import sacred_flatten

    return json.dumps(sacred_flatten(obj))


def _result_values(result: Any) -> dict:
    return {"result": _finite(result), "result_json": _sacred_json(result)}


def _public_id(run_id: str) -> Any:
    """An id made of digits goes back to its integer form."""
    return int(run_id) if run_id.isdigit() and str(int(run_id)) == run_id else run_id


def _char_length(conn: Any, text: Any) -> Any:
    """Length in characters, as Python's ``len`` counts (MySQL's LENGTH() would count bytes)."""
    import sqlalchemy as sa

    return sa.func.length(text) if conn.dialect.name == "sqlite" else sa.func.char_length(text)


def _find_run(conn: Any, column: str, value: str) -> Optional[tuple]:
    """``(run_id, stored output length)`` of the run with ``column == value``, or None."""
    import sqlalchemy as sa

    from .schema import run

    row = conn.execute(
        sa.select(run.c.run_id, sa.func.coalesce(_char_length(conn, run.c.captured_out), 0)).where(
            run.c[column] == value
        )
    ).first()
    return None if row is None else (row[0], int(row[1]))


def _stored_out_len(conn: Any, run_id: str) -> int:
    found = _find_run(conn, "run_id", run_id)
    return 0 if found is None else found[1]


def _overlap(tail: list, batch: list, same: Callable[[Any, Any], bool]) -> int:
    """The largest n such that the last n items of ``tail`` are the first n of ``batch``."""
    for n in range(min(len(tail), len(batch)), 0, -1):
        if all(same(a, b) for a, b in zip(tail[len(tail) - n :], batch)):
            return n
    return 0


def _same_point(stored: tuple, given: tuple) -> bool:
    """A stored ``(step, value, timestamp)`` equals a logged one (values compared as floats)."""
    (s_step, s_value, s_stamp), (step, value, stamp) = stored, given
    if s_step != step or s_stamp != stamp or (s_value is None) != (value is None):
        return False
    return value is None or math.isclose(s_value, value, rel_tol=1e-12, abs_tol=0.0)


def _get_or_create(conn: Any, table: Any, key: dict, extra: Optional[dict] = None) -> int:
    """The primary key of the row matching ``key``, inserting it (with ``extra``) when missing.

    A concurrent insert of the same row fails on the table's unique index; the event is retried.
    """
    import sqlalchemy as sa

    pk = list(table.primary_key.columns)[0]
    cond = [table.c[k].is_(None) if v is None else table.c[k] == v for k, v in key.items()]
    found = conn.execute(sa.select(pk).where(*cond).order_by(pk).limit(1)).scalar()
    if found is not None:
        return found
    return conn.execute(table.insert().values(**key, **(extra or {}))).inserted_primary_key[0]


def _create_run(conn: Any, ex_info: dict, host_info: dict, values: dict, _id: Any, tags: Any) -> tuple:
    """Insert the run (or find the one with this uid); returns ``(run_id, output length, created)``."""
    import sqlalchemy as sa

    from . import schema as s

    if values["uid"]:
        found = _find_run(conn, "uid", values["uid"])
        if found is not None:
            return (*found, False)
    if _id is not None:
        taken = conn.execute(sa.select(s.run.c.id).where(s.run.c.run_id == str(_id))).first()
        if taken is not None:
            raise PermanentObserverError(f"a run with id {_id!r} already exists in this SQL database")
    values = dict(
        values,
        experiment_id=_experiment_id(conn, ex_info or {}),
        host_id=_host_id(conn, host_info or {}),
        run_id=None if _id is None else str(_id),
    )
    pk = conn.execute(s.run.insert().values(**values)).inserted_primary_key[0]
    if _id is None:
        # The public id is str(pk) unless a run was stored under that id by hand (``-i``): then take
        # the next key.  The placeholder row is replaced inside this same transaction.
        while conn.execute(sa.select(s.run.c.id).where(s.run.c.run_id == str(pk))).first():
            conn.execute(s.run.delete().where(s.run.c.id == pk))
            pk = conn.execute(s.run.insert().values(**values)).inserted_primary_key[0]
        conn.execute(s.run.update().where(s.run.c.id == pk).values(run_id=str(pk)))
    run_id = str(pk) if _id is None else str(_id)
    for tag in sorted(set(tags or ())):
        conn.execute(s.tag.insert().values(run_id=run_id, tag=_clip(s.tag, "tag", str(tag))))
    return run_id, 0, True


def _experiment_id(conn: Any, ex_info: dict) -> int:
    """Get or create the experiment; a new one gets its sources, dependencies and repositories."""
    import sqlalchemy as sa

    from . import schema as s

    canonical = json.dumps(json.loads(_to_json(ex_info)), sort_keys=True)
    key = {
        "name": _clip(s.experiment, "name", ex_info.get("name")),
        "md5sum": hashlib.md5(canonical.encode("utf-8")).hexdigest(),
    }
    e = s.experiment.c
    found = conn.execute(
        sa.select(e.experiment_id)
        .where(e.name == key["name"], e.md5sum == key["md5sum"])
        .order_by(e.experiment_id)
        .limit(1)
    ).scalar()
    if found is not None:
        return found
    exp_id = conn.execute(
        s.experiment.insert().values(
            **key,
            base_dir=_clip(s.experiment, "base_dir", ex_info.get("base_dir")),
            mainfile=_clip(s.experiment, "mainfile", ex_info.get("mainfile")),
        )
    ).inserted_primary_key[0]
    base_dir = ex_info.get("base_dir") or ""
    links = []
    for relpath, md5 in sorted((str(p), str(m)) for p, m in ex_info.get("sources") or ()):
        key = {"filename": _clip(s.source, "filename", relpath), "md5sum": md5}
        source_id = _get_or_create(
            conn, s.source, key, {"content": _read_text(os.path.join(base_dir, relpath))}
        )
        links.append((s.experiments_sources, {"source_id": source_id}))
    for dep in sorted(set(ex_info.get("dependencies") or ())):
        name, _, version = str(dep).partition("==")
        key = {"name": _clip(s.dependency, "name", name), "version": _clip(s.dependency, "version", version)}
        dep_id = _get_or_create(conn, s.dependency, key)
        links.append((s.experiments_dependencies, {"dependency_id": dep_id}))
    from .migrations import repository_key

    for repo in ex_info.get("repositories") or ():
        url, commit, dirty = repo.get("url"), repo.get("commit"), repo.get("dirty")
        repo_id = _get_or_create(
            conn,
            s.repository,
            {"md5sum": repository_key(url, commit, dirty)},
            {
                "url": _clip(s.repository, "url", url),
                "commit": _clip(s.repository, "commit", commit),
                "dirty": None if dirty is None else bool(dirty),
            },
        )
        links.append((s.experiments_repositories, {"repository_id": repo_id}))
    seen = set()
    for table, row in links:
        marker = (table.name, tuple(row.values()))
        if marker not in seen:
            seen.add(marker)
            conn.execute(table.insert().values(experiment_id=exp_id, **row))
    return exp_id


def _host_id(conn: Any, host_info: dict) -> int:
    from . import schema as s
    from .migrations import host_key

    os_parts = list(host_info.get("os") or [None, None]) + [None, None]
    cols = {
        "cpu": host_info.get("cpu"),
        "hostname": host_info.get("hostname"),
        "os": os_parts[0],
        "os_info": os_parts[1],
        "python_version": host_info.get("python_version"),
    }
    cols = {k: _clip(s.host, k, None if v is None else str(v)) for k, v in cols.items()}
    return _get_or_create(conn, s.host, {"md5sum": host_key(*cols.values())}, cols)


def _read_text(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None
