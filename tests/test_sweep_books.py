"""Every store that keeps runs also keeps their sweeps: the book an observer writes sweep records
to is the one the store opened on the same place reads them from (the dashboard's sweeps page and
``sweep-show`` rely on it), whatever class ``open_store`` picks for the URL."""

from __future__ import annotations

import mongomock
import pytest
from dbutil import server_database

from experimentkit import Experiment
from experimentkit.backends.mongo.store import MongoStore
from experimentkit.observers import FileStorageObserver, MongoObserver, SqlObserver
from experimentkit.query import open_store
from experimentkit.sweep.records import book_for_store, books_for_observers


def sweep_twice(observer) -> None:
    ex = Experiment("books", interactive=True)
    ex.observers.append(observer)

    @ex.config
    def cfg():
        x = 1

    @ex.main
    def main(x):
        return x

    ex.sweep({"x": [1, 2]}, launcher="threads")  # threads: a mongomock client is per process


def check(observer, open_the_store) -> None:
    (written,) = books_for_observers([observer])
    sweep_twice(observer)
    with open_the_store() as store:
        book = book_for_store(store)
        assert book is not None, f"{type(store).__name__} has no sweep book"
        (record,) = book.records()
    assert record["id"] == 1 and record["status"] == "COMPLETED" and record["total"] == 2
    assert written.records() == [record]


def test_file_store(tmp_path):
    check(FileStorageObserver(str(tmp_path)), lambda: open_store(str(tmp_path)))


@pytest.mark.parametrize("kind", ["sqlite", "postgres", "mysql"])
def test_sql_stores(kind, tmp_path):
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'runs.db'}"
        check(SqlObserver(url), lambda: open_store(url))
        return
    with server_database(kind, "ek_books") as url:
        check(SqlObserver(url), lambda: open_store(url))


def test_mongo_store():
    client = mongomock.MongoClient()
    check(
        MongoObserver(client=client, collection_prefix="exp"),
        lambda: MongoStore(client=client, prefix="exp"),
    )


def test_observers_that_keep_no_sweeps_have_no_book():
    class Plain:
        pass

    assert books_for_observers([Plain()]) == []
