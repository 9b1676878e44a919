"""``FastPostgresStore`` and ``FastMysqlStore``: queries, counts, key checks, runs (``get``) and
metric series (``metric``) read from PostgreSQL with psycopg2, from MariaDB/MySQL with PyMySQL.

Why: importing SQLAlchemy and setting up its PostgreSQL engine costs ~0.5-1 s, several times a
top-10 query on the server (~20-40 ms) or reading a 10^6-point series from its packed blocks
(~0.3 s).  ``open_store("postgresql://...")`` returns this store: it is the stdlib SQLite path
(``fast_sqlite``) over a read-only psycopg2 connection, with the query compiler's PostgreSQL
dialect (``compiler.POSTGRESQL``: ``jsonb`` functions, text ordered ``COLLATE "C"``, psycopg2
parameters), so it builds the same records and answers as ``SqlStore``.  ``open_store("mysql://
...")`` (or ``mariadb://``) returns ``FastMysqlStore``, the same over PyMySQL with the MySQL
dialect (``json_extract``/``json_type``, text compared as ``BINARY``, no ``NULLS LAST``).
Everything else, and any case this path does not take (a URL with parameters or another driver, no
driver installed, a database not at the current schema version, JSON the database refuses or
cannot read such as NaN, any driver error), goes to the full ``SqlStore``, made on first need.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Iterator
from typing import Any, Optional
from urllib.parse import unquote, urlsplit

from ...query.base import MAX_SQL_IN_VALUES
from .common import BLOCKS_ALONE_VERSION, SCHEMA_VERSION
from .compiler import MYSQL, POSTGRESQL, Dialect, QueryCompiler
from .fast_sqlite import FastSqliteStore, _Fallback

__all__ = ["FastPostgresStore", "FastMysqlStore", "postgres_params", "mysql_params"]


def postgres_params(url: str) -> Optional[dict]:
    """psycopg2 ``connect`` arguments of a plain ``postgresql://user:pass@host:port/db`` URL (or
    ``postgresql+psycopg2://``), None for anything else (URL parameters, other drivers)."""
    params = _server_params(url, ("postgresql", "postgres", "postgresql+psycopg2"))
    if params is not None:
        params["dbname"] = params.pop("database")
    return params


def mysql_params(url: str) -> Optional[dict]:
    """PyMySQL ``connect`` arguments of a plain ``mysql://user:pass@host:port/db`` URL (or
    ``mysql+pymysql://``, ``mariadb://``), None for anything else (URL parameters, other drivers)."""
    return _server_params(url, ("mysql", "mysql+pymysql", "mariadb", "mariadb+pymysql"))


def _server_params(url: str, schemes: tuple) -> Optional[dict]:
    parts = urlsplit(str(url))
    if parts.scheme.lower() not in schemes:
        return None
    if parts.query or parts.fragment or not parts.path.strip("/"):
        return None
    params: dict = {"database": unquote(parts.path.lstrip("/"))}
    for key, value in (
        ("host", parts.hostname),
        ("port", parts.port),
        ("user", parts.username),
        ("password", parts.password),
    ):
        if value is not None:
            params[key] = unquote(value) if isinstance(value, str) else value
    return params


class _Connection:
    """A DBAPI connection (psycopg2, PyMySQL) answering ``execute`` as ``sqlite3`` does: ``?``
    parameters in a sequence, or the compiler's named ones (already in the driver's ``%(name)s``
    style) in a dict."""

    def __init__(self, raw: Any):
        self.raw = raw

    def execute(self, sql: str, params: Any = ()) -> Any:
        cursor = self.raw.cursor()
        if sql == "BEGIN":  # both drivers open the transaction with the first statement
            return cursor
        cursor.execute(sql if isinstance(params, dict) else sql.replace("?", "%s"), params)
        return cursor

    def rollback(self) -> None:
        self.raw.rollback()


class _ServerStore(FastSqliteStore):
    """The stdlib SQLite path over a server's DBAPI driver: the subclasses name the driver, the
    connection arguments and the compiler's dialect."""

    driver = ""
    POOL_SIZE = 4
    """Idle connections kept between calls (more are open only while that many calls run)."""

    def __init__(self, url: str, **kwargs: Any):
        super().__init__(url, **kwargs)
        self._params = self.connect_params(url)
        # Connections kept open between calls, at most POOL_SIZE of them: a server connection costs
        # a round trip and a backend process, more than a top-10 query, but one per thread would
        # pile up idle in a dashboard's thread pool.  A call takes an idle one (or opens one) and
        # gives it back; beyond POOL_SIZE idle ones it is closed.  Each use ends its transaction,
        # so the next one sees runs written since.
        self._idle: list = []
        self._opened: list = []
        self._lock = threading.Lock()

    @staticmethod
    def connect_params(url: str) -> Optional[dict]:
        """The driver's ``connect`` arguments, None for a URL this path does not take."""
        raise NotImplementedError

    def _driver(self) -> Any:
        try:
            return importlib.import_module(self.driver)
        except ImportError:
            return None

    def _open(self, driver: Any, params: dict) -> Any:
        """A new read-only connection of the driver."""
        return driver.connect(**params)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[Any]:  # type: ignore[override]
        """A read-only connection to a database at the current layout, else ``_Fallback``."""
        driver, params = self._driver(), self._params
        if params is None or driver is None:
            raise _Fallback
        with self._lock:
            raw = self._idle.pop() if self._idle else None
        if raw is None:
            raw = self._open(driver, params)
            with self._lock:
                self._opened.append(raw)
        try:
            conn = _Connection(raw)
            if conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] != SCHEMA_VERSION:
                raise _Fallback
            yield conn
            raw.rollback()
        except BaseException:
            self._close(raw)  # it may be broken: the next call opens another
            raise
        with self._lock:
            kept = raw in self._opened and len(self._idle) < self.POOL_SIZE  # not closed meanwhile
            if kept:
                self._idle.append(raw)
        if not kept:
            self._close(raw)

    def _close(self, raw: Any) -> None:
        with self._lock:
            if raw in self._opened:
                self._opened.remove(raw)
        with contextlib.suppress(Exception):
            raw.close()

    def close(self) -> None:
        """Close the connections this store opened (in every thread), and the full store."""
        with self._lock:
            opened = list(self._opened)
            self._idle.clear()
        for raw in opened:
            self._close(raw)
        super().close()

    def _errors(self) -> tuple:
        driver = self._driver()
        return () if driver is None else (driver.Error,)

    def _best_runs(self, conn: Any, tr: QueryCompiler, name: str, better: str, bound: Any) -> Optional[str]:
        """The ids themselves, not a subquery: PostgreSQL would hash-join the subquery and still
        evaluate the JSON filters of every run.  None (the plain query) when they are too many."""
        found = conn.execute(
            f"SELECT run_id FROM metric_summary WHERE name = ? AND last_value {better} ?", (name, bound)
        ).fetchall()
        if len(found) > MAX_SQL_IN_VALUES:
            return None
        ids = ", ".join(tr.param(run_id) for (run_id,) in found)
        return f"run.run_id IN ({ids})" if ids else self.dialect.false


class FastPostgresStore(_ServerStore):
    """The runs of a PostgreSQL database written by ``SqlObserver``, read with psycopg2 (see the
    module docstring).  Same results as ``SqlStore(url)``."""

    dialect: Dialect = POSTGRESQL
    driver = "psycopg2"
    # ``_connect`` serves only the current version, whose triggers keep the blocks honest
    blocks_alone = SCHEMA_VERSION >= BLOCKS_ALONE_VERSION
    connect_params = staticmethod(postgres_params)

    def _open(self, driver: Any, params: dict) -> Any:
        raw = driver.connect(**params)
        raw.set_session(readonly=True)
        return raw


class FastMysqlStore(_ServerStore):
    """The runs of a MariaDB/MySQL database written by ``SqlObserver``, read with PyMySQL (see
    the module docstring).  Same results as ``SqlStore(url)``."""

    dialect: Dialect = MYSQL
    driver = "pymysql"
    connect_params = staticmethod(mysql_params)

    def _open(self, driver: Any, params: dict) -> Any:
        raw = driver.connect(**params, charset="utf8mb4")
        try:
            raw.cursor().execute("SET SESSION TRANSACTION READ ONLY")
        except driver.Error:
            raw.close()
            raise
        return raw
