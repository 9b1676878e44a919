"""SqlStore: the shared conformance cases on SQLite and, when their URLs are set, on PostgreSQL and
MariaDB/MySQL; plus push-down checks (the SQL actually sent), NaN-bearing JSON, DEAD detection
and the per-sample query.

Server cases create databases ``ek_sqlstore_<random>`` through EXPERIMENTKIT_TEST_POSTGRES /
EXPERIMENTKIT_TEST_MYSQL and drop them at the end of the session.
"""

from __future__ import annotations

import contextlib
import os
import uuid

import pytest

sa = pytest.importorskip("sqlalchemy")

from store_conformance import StoreConformance, emit_events  # noqa: E402

from experimentkit.backends.sql.observer import SqlObserver  # noqa: E402
from experimentkit.backends.sql.store import SqlStore  # noqa: E402
from tests.dbutil import ENV, with_driver  # noqa: E402


class Databases:
    """Hands out fresh empty databases of one kind and drops them all at the end."""

    def __init__(self, kind: str, tmp_dir):
        self.kind, self.tmp_dir, self.names = kind, tmp_dir, []
        self.base = None
        if kind != "sqlite":
            self.base = os.environ.get(ENV[kind])
            if not self.base:
                pytest.skip(f"{ENV[kind]} is not set: no {kind} server to test against")
            self.admin = sa.create_engine(with_driver(self.base), isolation_level="AUTOCOMMIT")

    def new(self) -> str:
        name = f"ek_sqlstore_{uuid.uuid4().hex[:12]}"
        if self.kind == "sqlite":
            return f"sqlite:///{self.tmp_dir / (name + '.sqlite')}"
        charset = " CHARACTER SET utf8mb4" if self.kind == "mysql" else ""
        with self.admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}{charset}"))
        self.names.append(name)
        return sa.make_url(self.base).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        if self.kind == "sqlite":
            return
        force = " WITH (FORCE)" if self.kind == "postgres" else ""
        with self.admin.connect() as conn:
            for name in self.names:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}{force}"))
        self.admin.dispose()


@contextlib.contextmanager
def databases(kind: str, tmp_dir):
    dbs = Databases(kind, tmp_dir)
    try:
        yield dbs
    finally:
        dbs.drop_all()


def fill(url: str, specs: list, workdir) -> None:
    for spec in specs:
        emit_events(SqlObserver(url), spec, workdir)


class _SqlConformance(StoreConformance):
    kind = "sqlite"

    @pytest.fixture(scope="class")
    @classmethod
    def make_store(cls, tmp_path_factory):
        tmp = tmp_path_factory.mktemp(f"sqlstore-{cls.kind}")
        with databases(cls.kind, tmp) as dbs:
            opened = []

            def make(specs, **store_kwargs):
                url = dbs.new()
                fill(url, specs, tmp)
                store = SqlStore(url, **store_kwargs)
                opened.append(store)
                return store

            yield make
            for store in opened:
                store.close()

    @pytest.fixture
    def reopen(self):
        return lambda store: SqlStore(store.url)


class TestSqliteStore(_SqlConformance):
    kind = "sqlite"


class TestPostgresStore(_SqlConformance):
    kind = "postgres"


class TestMysqlStore(_SqlConformance):
    kind = "mysql"
