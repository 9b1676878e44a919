"""``FastPostgresStore``: one run (``get``) and its metric series (``metric``) read from PostgreSQL
with psycopg2 alone.

Why: importing SQLAlchemy and setting up its PostgreSQL engine costs ~0.5-1 s, more than reading a
10^6-point series from its packed blocks (~0.3 s).  ``open_store("postgresql://...")`` returns this
store: ``get`` and ``metric`` send the stdlib SQLite path's
plain SQL (``fast_sqlite``: no JSON functions in it, so it means the same on PostgreSQL) over a
read-only psycopg2 connection and build the same records.  Queries, counts and key checks (the
query SQL is SQLite's) and everything else go to the full ``SqlStore``, made on first need; so does any case
this path does not take (a URL with parameters or another driver, no psycopg2, a database not at
the current schema version, any driver error).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from typing import Any, Callable, Optional
from urllib.parse import unquote, urlsplit

from ...query.base import Key, Query
from .common import SCHEMA_VERSION
from .fast_sqlite import FastSqliteStore, _Fallback

__all__ = ["FastPostgresStore", "postgres_params"]

_NAMED = re.compile(r":([A-Za-z_]\w*)")


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
    """A psycopg2 connection answering ``execute`` as ``sqlite3`` does (``?`` and ``:name``
    parameters), so that the stdlib path's code runs on it unchanged."""

    def __init__(self, raw: Any):
        self.raw = raw

    def execute(self, sql: str, params: Any = ()) -> Any:
        cursor = self.raw.cursor()
        if sql == "BEGIN":  # psycopg2 opens the transaction with the first statement
            return cursor
        sql = _NAMED.sub(r"%(\1)s", sql) if isinstance(params, dict) else sql.replace("?", "%s")
        cursor.execute(sql, params)
        return cursor

    def rollback(self) -> None:
        self.raw.rollback()


class FastPostgresStore(FastSqliteStore):
    """The runs of a PostgreSQL database written by ``SqlObserver``; ``get`` and ``metric`` without
    SQLAlchemy (see the module docstring).  Same results as ``SqlStore(url)``."""

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

    def _fast(self, work: Callable[[], Any], fallback: Callable[[Any], Any]) -> Any:
        try:
            import psycopg2
        except ImportError:
            return fallback(self.full)
        try:
            answer = work()
        except (_Fallback, psycopg2.Error):
            self.stats["full"] += 1
            return fallback(self.full)
        self.stats["fast"] += 1
        return answer

    # the query translation is SQLite's: queries, counts and key checks are the full store's
    def query(self, q: Query) -> list:
        return self.full.query(q)

    def count(self, q: Query = Query()) -> int:  # noqa: B008 - the base class's signature
        return self.full.count(q)

    def has_key(self, key: Key) -> bool:
        return self.full.has_key(key)

    def confirm_keys(self, keys: Sequence[Key]) -> None:
        if keys:
            self.full.confirm_keys(keys)
