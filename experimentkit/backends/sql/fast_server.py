"""``FastPostgresStore``: queries, counts, key checks, runs (``get``) and metric series
(``metric``) read from PostgreSQL with psycopg2 alone.

Why: importing SQLAlchemy and setting up its PostgreSQL engine costs ~0.5-1 s, several times a
top-10 query on the server (~20-40 ms) or reading a 10^6-point series from its packed blocks
(~0.3 s).  ``open_store("postgresql://...")`` returns this store: it is the stdlib SQLite path
(``fast_sqlite``) over a read-only psycopg2 connection, with the query compiler's PostgreSQL
dialect (``compiler.POSTGRESQL``: ``jsonb`` functions, text ordered ``COLLATE "C"``, psycopg2
parameters), so it builds the same records and answers as ``SqlStore``.  Everything else, and any
case this path does not take (a URL with parameters or another driver, no psycopg2, a database not
at the current schema version, JSON PostgreSQL refuses such as NaN, any driver error), goes to the
full ``SqlStore``, made on first need.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Optional
from urllib.parse import unquote, urlsplit

from ...query.base import MAX_SQL_IN_VALUES
from .common import SCHEMA_VERSION
from .compiler import POSTGRESQL, Dialect, QueryCompiler
from .fast_sqlite import FastSqliteStore, _Fallback

__all__ = ["FastPostgresStore", "postgres_params"]


def postgres_params(url: str) -> Optional[dict]:
    """psycopg2 ``connect`` arguments of a plain ``postgresql://user:pass@host:port/db`` URL (or
    ``postgresql+psycopg2://``), None for anything else (URL parameters, other drivers)."""
    parts = urlsplit(str(url))
    if parts.scheme.lower() not in ("postgresql", "postgres", "postgresql+psycopg2"):
        return None
    if parts.query or parts.fragment or not parts.path.strip("/"):
        return None
    params: dict = {"dbname": unquote(parts.path.lstrip("/"))}
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
    """A psycopg2 connection answering ``execute`` as ``sqlite3`` does: ``?`` parameters in a
    sequence, or the compiler's named ones (already in psycopg2's style) in a dict."""

    def __init__(self, raw: Any):
        self.raw = raw

    def execute(self, sql: str, params: Any = ()) -> Any:
        cursor = self.raw.cursor()
        if sql == "BEGIN":  # psycopg2 opens the transaction with the first statement
            return cursor
        cursor.execute(sql if isinstance(params, dict) else sql.replace("?", "%s"), params)
        return cursor

    def rollback(self) -> None:
        self.raw.rollback()


class FastPostgresStore(FastSqliteStore):
    """The runs of a PostgreSQL database written by ``SqlObserver``, read without SQLAlchemy
    (see the module docstring).  Same results as ``SqlStore(url)``."""

    dialect: Dialect = POSTGRESQL

    def __init__(self, url: str, **kwargs: Any):
        super().__init__(url, **kwargs)
        self._params = postgres_params(url)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[Any]:  # type: ignore[override]
        """A read-only connection to a database at the current layout, else ``_Fallback``."""
        if self._params is None:
            raise _Fallback
        try:
            import psycopg2
        except ImportError:
            raise _Fallback from None
        raw = psycopg2.connect(**self._params)
        try:
            raw.set_session(readonly=True)
            conn = _Connection(raw)
            if conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] != SCHEMA_VERSION:
                raise _Fallback
            yield conn
        finally:
            raw.close()

    def _errors(self) -> tuple:
        try:
            import psycopg2
        except ImportError:
            return ()
        return (psycopg2.Error,)

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
