"""Sweep records: one JSON document per sweep, kept beside the runs in every backend.

A record holds ``id`` (an integer, allocated by the first store), ``command_line``, ``experiment``,
``command``, ``space`` (grid and random dimensions), ``tasks`` (every run's updates, so ``--resume``
needs no re-expansion), ``launcher``, ``jobs``, ``status`` (RUNNING, COMPLETED, FAILED,
INTERRUPTED), ``start_time``/``stop_time`` (ISO, UTC), ``counts`` (runs by status), ``total`` and,
for Optuna, ``objective``/``direction``.  Each backend stores it in its own module
(``backends/<tech>/sweeps.py``) behind the small :class:`SweepBook` interface; each run of the
sweep has ``meta.sweep = {"id": ..., "index": ...}``.
"""

from __future__ import annotations

import abc
import datetime as _dt
import os
from typing import Any, Optional

from ..errors import StoreError, suggest

__all__ = [
    "SweepBook",
    "books_for_options",
    "books_for_observers",
    "book_for_store",
    "open_book",
    "utc_iso",
    "unknown_sweep",
]


def utc_iso() -> str:
    """Now, as naive-UTC ISO text (the form stored in sweep records)."""
    return _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds")


class SweepBook(abc.ABC):
    """Where a backend keeps sweep records."""

    @abc.abstractmethod
    def create(self, record: dict, sweep_id: Optional[int] = None) -> int:
        """Store a new record; allocate the next integer id unless ``sweep_id`` is given."""

    @abc.abstractmethod
    def update(self, sweep_id: int, changes: dict) -> None:
        """Replace the given top-level fields of a record."""

    @abc.abstractmethod
    def records(self) -> list:
        """Every record, in id order."""

    def get(self, sweep_id: Any) -> dict:
        """One record; ``StoreError`` with a suggestion for an unknown id."""
        found = {str(r["id"]): r for r in self.records()}
        record = found.get(str(sweep_id).strip())
        if record is None:
            raise unknown_sweep(sweep_id, found, self)
        return record

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


def unknown_sweep(sweep_id: Any, known: Any, where: Any) -> StoreError:
    hint = suggest(str(sweep_id), [str(k) for k in known])
    listing = "" if hint else " (experimentkit sweeps lists them)"
    return StoreError(f"no sweep '{sweep_id}' in {where}{hint}{listing}")


def books_for_options(options: dict) -> list[SweepBook]:
    """Books for the stores named by ``-F``/``-s``/``-m`` on a command line (in that order)."""
    books: list[SweepBook] = []
    if options.get("--file_storage"):
        from ..backends.file.sweeps import FileSweepBook

        books.append(FileSweepBook(options["--file_storage"]))
    if options.get("--sql"):
        from ..backends.sql.sweeps import SqlSweepBook

        books.append(SqlSweepBook(options["--sql"]))
    if options.get("--mongo_db"):
        from ..backends.mongo.sweeps import MongoSweepBook
        from ..commandline.options import parse_mongo_db_arg

        kwargs = parse_mongo_db_arg(options["--mongo_db"])
        books.append(MongoSweepBook.from_url(kwargs.get("url"), kwargs.get("db_name", "sacred")))
    return books


def books_for_observers(observers: list) -> list[SweepBook]:
    """Books beside the stores of the experiment's observers: those that say where they keep
    sweep records (file, SQL, MongoDB); others have none."""
    books: list[SweepBook] = []
    for observer in observers:
        where = getattr(observer, "sweep_book", None)
        book = where() if callable(where) else None
        if book is not None:
            books.append(book)
    return books


def open_book(target: str) -> SweepBook:
    """The book of the store at a directory path or URL (as ``open_store``)."""
    from urllib.parse import unquote, urlsplit

    text = os.fspath(target)
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if not scheme or scheme == "file":
        path = unquote(urlsplit(text).path) if scheme else text
        if not os.path.isdir(path):
            raise StoreError(f"no run store at '{path}' (not a directory)")
        from ..backends.file.sweeps import FileSweepBook

        return FileSweepBook(path)
    if scheme in ("mongodb", "mongodb+srv"):
        from ..backends.mongo.sweeps import MongoSweepBook
        from ..query import _split_mongo_url

        url, db_name, prefix = _split_mongo_url(text)
        return MongoSweepBook.from_url(url, db_name, prefix)
    from ..backends.sql.sweeps import SqlSweepBook
    from ..query import _check_sqlite_file

    _check_sqlite_file(text, scheme)
    try:
        return SqlSweepBook(text, create=False)
    except ImportError:
        raise StoreError("reading an SQL store needs SQLAlchemy: pip install 'experimentkit[sql]'") from None
    except Exception as exc:  # a bad URL or driver: one line, the password hidden
        from ..backends.sql.observer import _safe_url

        raise StoreError(f"cannot open the SQL store {_safe_url(text)}: {type(exc).__name__}") from None


def book_for_store(store: Any) -> Optional[SweepBook]:
    """The book beside an open run store (file, SQL, MongoDB), sharing the store's connection
    (so it needs no closing of its own: do not call its ``close``); None for stores that keep no
    sweep records (memory, plugins).  Each store class says where its book is."""
    return store.sweep_book()
