"""The read side: ``open_store(path_or_url)`` and the query model (see ``query/base.py`` for the
contract).

Which store a target opens:

* a directory path (or ``file://``): ``experimentkit.backends.file.store:FileStore(path)``;
* ``sqlite:///x.db``: ``experimentkit.backends.sql.fast_sqlite:FastSqliteStore(url)`` (queries
  through the stdlib ``sqlite3``, everything else through a ``SqlStore`` made on first need);
* ``postgresql://`` (``+psycopg2``): ``experimentkit.backends.sql.fast_server:FastPostgresStore``,
  ``mysql://``, ``mariadb://`` (``+pymysql``): ``...fast_server:FastMysqlStore`` (the same over the
  DBAPI driver alone); other SQL URLs: ``experimentkit.backends.sql.store:SqlStore(url)``;
* ``mongodb://host/DB?prefix=P`` or ``mongodb+srv://``:
  ``experimentkit.backends.mongo.store:MongoStore(url, db_name=DB or "sacred", prefix=P or "")``
  (``url`` without the database and the ``prefix`` parameter);
* ``memory+json:///path/runs.json``: ``InMemoryStore.from_json(path)`` (a fixture store for tests);
* any other ``scheme://``: the entry point named ``scheme`` in the group ``experimentkit.stores``,
  called as ``factory(url, **kwargs)``; it must return a ``Store``.

Keyword arguments (``dead_after``, ``clock``) are passed to the store.  Backends are imported only
here, when used.
"""

from __future__ import annotations

import importlib
import os
import re
from pathlib import Path
from typing import Any, Callable, Union
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from ..errors import StoreError
from .base import (
    DEFAULT_DEAD_AFTER,
    Filter,
    Key,
    MetricSeries,
    Order,
    Query,
    RunQuery,
    RunRecord,
    Store,
    parse_key,
    parse_order,
)
from .expr import parse_row_where, parse_where
from .semantics import apply_in_python, apply_rows_in_python

__all__ = [
    "open_store",
    "Store",
    "RunRecord",
    "MetricSeries",
    "Filter",
    "Order",
    "Query",
    "RunQuery",
    "Key",
    "parse_where",
    "parse_row_where",
    "parse_order",
    "parse_key",
    "apply_in_python",
    "apply_rows_in_python",
    "DEFAULT_DEAD_AFTER",
    "ENTRY_POINT_GROUP",
]

ENTRY_POINT_GROUP = "experimentkit.stores"
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*)://")
_SQL_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mariadb", "oracle", "mssql")


def open_store(target: Union[str, os.PathLike], **kwargs: Any) -> Store:
    """Open the run store at a directory path or URL (see the module docstring)."""
    text = os.fspath(target)
    match = _SCHEME.match(text)
    if not match:
        return _open_directory(text, kwargs)
    scheme = match.group(1).lower()
    if scheme == "file":
        return _open_directory(unquote(urlsplit(text).path), kwargs)
    if scheme == "memory+json":
        from .memory import InMemoryStore

        return InMemoryStore.from_json(unquote(urlsplit(text).path), **kwargs)
    if scheme.split("+")[0] in _SQL_SCHEMES:
        _check_sqlite_file(text, scheme)
        if scheme in ("sqlite", "sqlite+pysqlite"):  # queries without importing SQLAlchemy
            return _load("experimentkit.backends.sql.fast_sqlite:FastSqliteStore", "sql", text)(
                text, **kwargs
            )
        if scheme in ("postgresql", "postgres", "postgresql+psycopg2"):  # without it too
            return _load("experimentkit.backends.sql.fast_server:FastPostgresStore", "sql", text)(
                text, **kwargs
            )
        if scheme in ("mysql", "mysql+pymysql", "mariadb", "mariadb+pymysql"):
            return _load("experimentkit.backends.sql.fast_server:FastMysqlStore", "sql", text)(text, **kwargs)
        return _load("experimentkit.backends.sql.store:SqlStore", "sql", text)(text, **kwargs)
    if scheme in ("mongodb", "mongodb+srv"):
        url, db_name, prefix = _split_mongo_url(text)
        factory = _load("experimentkit.backends.mongo.store:MongoStore", "mongo", text)
        return factory(url, db_name=db_name, prefix=prefix, **kwargs)
    return _plugin_store(scheme, text, kwargs)


def _open_directory(path: str, kwargs: dict) -> Store:
    if not Path(path).is_dir():
        raise StoreError(
            f"no run store at '{path}' (not a directory); give one with "
            f"-S PATH_OR_URL or the EXPERIMENTKIT_STORE environment variable"
        )
    return _load("experimentkit.backends.file.store:FileStore", "file", path)(path, **kwargs)


def _check_sqlite_file(url: str, scheme: str) -> None:
    """Refuse to open a missing SQLite file (SQLAlchemy would silently create an empty database)."""
    if not scheme.startswith("sqlite"):
        return
    path = url.split("://", 1)[1]
    path = path[1:] if path.startswith("/") else path
    path = path.split("?", 1)[0]
    if path and path != ":memory:" and not Path(path).is_file():
        raise StoreError(f"no SQLite run store at '{path}' (file not found)")
    if path and path != ":memory:":
        try:
            with open(path, "rb") as fh:
                head = fh.read(16)
        except OSError as exc:
            raise StoreError(f"cannot read the SQLite run store '{path}' ({exc.strerror})") from None
        if not head:  # reading must not turn an empty file into a database
            raise StoreError(f"no SQLite run store at '{path}' (the file is empty)")
        if head != b"SQLite format 3\x00":
            raise StoreError(f"'{path}' is not an SQLite database (wrong file, or damaged)")


def _split_mongo_url(url: str) -> tuple:
    """``mongodb://h/db?prefix=p&opt=1`` → (``mongodb://h/?opt=1``, ``db``, ``p``)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = next((v for k, v in query if k == "prefix"), "")
    rest = urlencode([(k, v) for k, v in query if k != "prefix"])
    db_name = unquote(parts.path.lstrip("/")) or "sacred"
    return urlunsplit((parts.scheme, parts.netloc, "/", rest, "")), db_name, prefix


def _load(spec: str, extra: str, target: str) -> Callable:
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        missing = getattr(exc, "name", None) or str(exc)
        if missing and (missing == module_name or module_name.startswith(missing + ".")):
            raise StoreError(
                f"cannot open '{target}': this installation has no {extra} store ({module_name} is missing)"
            ) from None
        raise StoreError(
            f"cannot open '{target}': the {extra} store needs '{missing}' "
            f"(pip install 'experimentkit[{extra}]')"
        ) from None
    return getattr(module, attr)


def _plugin_store(scheme: str, target: str, kwargs: dict) -> Store:
    from importlib.metadata import entry_points

    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == scheme]
    if not found:
        raise StoreError(
            f"unknown store scheme '{scheme}://' in '{target}'; use a directory, "
            f"sqlite:///, postgresql://, mysql+pymysql://, mongodb:// or a plugin "
            f"registered in the '{ENTRY_POINT_GROUP}' entry-point group"
        )
    try:
        factory = found[0].load()
    except Exception as exc:
        raise StoreError(
            f"the store plugin '{found[0].value}' for '{scheme}://' failed to load: {exc}"
        ) from None
    store = factory(target, **kwargs)
    if not isinstance(store, Store):
        raise StoreError(
            f"the store plugin '{found[0].value}' for '{scheme}://' returned "
            f"{type(store).__name__}, not an experimentkit Store"
        )
    return store
