"""The SQL query planner on SQLite, found missing by mutation testing: which filters and sort keys go
into the SQL sent (push-down is the promise, so the statements are compared), and answers that match
the in-memory store whether a part is pushed or left to Python."""

from __future__ import annotations

import pytest

sa = pytest.importorskip("sqlalchemy")

from store_conformance import emit_events  # noqa: E402
from test_sql_store_pushdown import _ids, _spec  # noqa: E402

from experimentkit.backends.sql.observer import SqlObserver  # noqa: E402
from experimentkit.backends.sql.store import SqlStore  # noqa: E402
from experimentkit.query.base import MAX_SQL_IN_VALUES  # noqa: E402
from experimentkit.query.memory import InMemoryStore  # noqa: E402

SPECS = [
    _spec(str(i), lr, [0.1 * i]) for i, lr in [(1, 0.01), (2, 0.1), (3, 0.02), (4, 0.03), (5, 0.2), (6, 0.01)]
]


@pytest.fixture
def store(tmp_path):
    url = f"sqlite:///{tmp_path / 'runs.sqlite'}"
    for spec in SPECS:
        emit_events(SqlObserver(url), spec, tmp_path)
    opened = SqlStore(url)
    opened.add_tags("2", ["best"])
    opened.add_tags("4", ["best"])
    yield opened
    opened.close()


def main_sql(store, *wheres, order=(), limit=3):
    """The one statement that selects runs for the query, and the ids it answers."""
    statements: list = []

    def listen(conn, cursor, statement, params, context, many):
        statements.append(statement)

    sa.event.listen(store.engine, "before_cursor_execute", listen)
    query = store.runs()
    for expr in wheres:
        query = query.where(expr)
    if order:
        query = query.order_by(*order)
    found = _ids(query.limit(limit).all())
    sa.event.remove(store.engine, "before_cursor_execute", listen)
    [main] = [st for st in statements if st.startswith("SELECT run.run_id")]
    return main, found


def ids_in(n):
    return "id in [" + ", ".join(str(i) for i in range(1, n + 1)) + "]"


def unlimited(sql):
    return sql.split(" LIMIT ")[0]


def test_an_in_list_up_to_the_limit_is_sent_as_parameters(store):
    sql, found = main_sql(store, ids_in(MAX_SQL_IN_VALUES))
    assert "LIMIT" in sql and sql.count(":p") >= MAX_SQL_IN_VALUES and found == ["1", "2", "3"]


def test_a_longer_in_list_is_left_to_python_and_later_filters_are_still_sent(store):
    alone, _ = main_sql(store, "config.lr < 0.025")
    sql, found = main_sql(store, ids_in(MAX_SQL_IN_VALUES + 1), "config.lr < 0.025")
    # the long list adds nothing to the SQL (Python decides it, so SQL cannot limit); the filter
    # after it is still sent
    assert "LIMIT" not in sql and sql == unlimited(alone)
    reference = InMemoryStore(SPECS).runs().where(ids_in(MAX_SQL_IN_VALUES + 1)).where("config.lr < 0.025")
    assert found == _ids(reference.limit(3).all()) == ["1", "3", "6"]


def test_a_tag_filter_is_sent_and_filters_after_it_too(store):
    unfiltered, _ = main_sql(store)
    tagged, found = main_sql(store, "tags contains best")
    # answered by SQL alone (limited there), with a condition the unfiltered query lacks
    assert "LIMIT" in tagged and unlimited(tagged) != unlimited(unfiltered) and sorted(found) == ["2", "4"]
    both, found = main_sql(store, "tags contains best", "config.lr < 0.05")
    assert "LIMIT" in both and both != tagged and found == ["4"]


def test_a_filter_on_a_key_sql_cannot_read_is_answered_by_python(store):
    unfiltered, _ = main_sql(store, limit=10)
    sql, found = main_sql(store, "resources == []", limit=10)
    assert unlimited(sql) == unlimited(unfiltered)
    assert found == _ids(InMemoryStore(SPECS).runs().where("resources == []").limit(10).all())


def test_every_sort_key_is_sent_in_order(store):
    sql, found = main_sql(store, order=("config.lr", "-config.seed"), limit=4)
    reference = InMemoryStore(SPECS).runs().order_by("config.lr", "-config.seed").limit(4).all()
    assert found == _ids(reference) == ["6", "1", "3", "4"]
    assert "ORDER BY" in sql.upper() and sql.upper().index("LIMIT") > sql.upper().index("ORDER BY")


def test_a_sort_key_sql_cannot_read_sorts_in_python(store):
    sql, found = main_sql(store, order=("resources", "-config.seed"), limit=2)
    reference = InMemoryStore(SPECS).runs().order_by("resources", "-config.seed").limit(2).all()
    assert found == _ids(reference)
