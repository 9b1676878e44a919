"""Fresh databases on the PostgreSQL / MariaDB test servers: one per use, dropped afterwards."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

ENV = {"postgres": "EXPERIMENTKIT_TEST_POSTGRES", "mysql": "EXPERIMENTKIT_TEST_MYSQL"}
_DRIVERS = {"postgresql": "+psycopg2", "mysql": "+pymysql", "mariadb": "+pymysql"}


def with_driver(url):
    """The URL with an installed driver named (SQLAlchemy 2.1 defaults postgresql:// to psycopg 3)."""
    sa = pytest.importorskip("sqlalchemy")
    u = sa.make_url(url)
    if "+" not in u.drivername and u.drivername in _DRIVERS:
        u = u.set(drivername=u.drivername + _DRIVERS[u.drivername])
    return u


@contextlib.contextmanager
def server_database(kind: str, prefix: str) -> Iterator[str]:
    """Yield the URL (in the env var's own form) of a new empty database; skip when no server is set."""
    sa = pytest.importorskip("sqlalchemy")
    base = os.environ.get(ENV[kind])
    if not base:
        pytest.skip(f"{ENV[kind]} is not set: no {kind} server to test against")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(with_driver(base), isolation_level="AUTOCOMMIT")
    charset = " CHARACTER SET utf8mb4" if kind == "mysql" else ""
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}{charset}"))
    try:
        yield sa.make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        force = " WITH (FORCE)" if kind == "postgres" else ""
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}{force}"))
        admin.dispose()


def sql_url_fixtures(prefix: str) -> tuple:
    """``(_servers, url)`` fixtures for a test module: ``url`` is parametrised over a fresh SQLite
    file, then a PostgreSQL and a MariaDB database made once per module (skipped without a server).
    Bind both names in the module: ``_servers, url = sql_url_fixtures("ek_x")``."""

    @pytest.fixture(scope="module")
    def _servers():
        with contextlib.ExitStack() as stack:
            made: dict = {}

            def get(kind):
                if kind not in made:
                    made[kind] = stack.enter_context(server_database(kind, prefix))
                return made[kind]

            yield get

    @pytest.fixture(params=["sqlite", "postgres", "mysql"])
    def url(request, tmp_path, _servers):
        if request.param == "sqlite":
            return f"sqlite:///{tmp_path / 'runs.sqlite'}"
        return _servers(request.param)

    return _servers, url


def fresh_sql_url_fixture(prefix: str) -> Any:
    """A ``url`` fixture parametrised over an empty database of each kind made for each test (a
    SQLite file, a PostgreSQL and a MariaDB database; skipped without a server), for tests whose
    runs must not meet another test's.  Bind it in the module: ``url = fresh_sql_url_fixture("ek_x")``."""

    @pytest.fixture(params=["sqlite", "postgres", "mysql"])
    def url(request, tmp_path):
        if request.param == "sqlite":
            yield f"sqlite:///{tmp_path / 'runs.sqlite'}"
            return
        with server_database(request.param, prefix) as made:
            yield made

    return url
