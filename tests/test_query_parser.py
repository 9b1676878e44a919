"""The --where expression language: round trips (hypothesis), literals, and one-line errors."""

from __future__ import annotations

import datetime as _dt

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from experimentkit.errors import QueryError
from experimentkit.query import Filter, parse_key, parse_order, parse_where
from experimentkit.query.expr import format_value, parse_value

_ident = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
_keys = st.one_of(
    st.builds(lambda parts: "config." + ".".join(parts), st.lists(_ident, min_size=1, max_size=3)),
    st.builds(lambda parts: "metrics." + ".".join(parts), st.lists(_ident, min_size=1, max_size=3)),
    st.sampled_from(
        ["status", "experiment", "command", "result", "notes", "host.hostname", "meta.comment", "info.a.b"]
    ),
)
_scalars = st.one_of(
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=12),
)
_values = st.one_of(_scalars, st.lists(_scalars, max_size=4))
_ops = st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "contains"])


@settings(max_examples=150, deadline=None)
@given(_keys, _ops, _values)
@example("status", "==", ["<\\"])  # a quoted item ending in a backslash: its quote still closes it
def test_formatted_filters_parse_back(key: str, op: str, value: object) -> None:
    parsed = parse_where(f"{key} {op} {format_value(value)}")
    assert parsed == Filter(key, op, value)


@settings(max_examples=60, deadline=None)
@given(_keys, st.lists(_scalars, max_size=4))
def test_in_lists_parse_back(key: str, items: list) -> None:
    assert parse_where(f"{key} in {format_value(items)}").value == items


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=40))
def test_arbitrary_text_raises_only_query_errors(text: str) -> None:
    try:
        result = parse_where(text)
    except QueryError as exc:
        assert "\n" not in str(exc).strip() or "\n" in text
    else:
        assert isinstance(result, Filter)


@pytest.mark.parametrize(
    "text, key, op, value",
    [
        ("config.lr < 0.05", "config.lr", "<", 0.05),
        ("config.lr<0.05", "config.lr", "<", 0.05),
        ("status == COMPLETED", "status", "==", "COMPLETED"),
        ("status = COMPLETED", "status", "==", "COMPLETED"),
        ("metrics.val.accuracy >= 0.9", "metrics.val.accuracy", ">=", 0.9),
        ("tags contains best", "tags", "contains", "best"),
        ("status in [COMPLETED, FAILED]", "status", "in", ["COMPLETED", "FAILED"]),
        ("config.opt.name == 'sgd'", "config.opt.name", "==", "sgd"),
        ("config.n == 1e-3", "config.n", "==", 0.001),
        ("config.flag == true", "config.flag", "==", True),
        ("config.x == None", "config.x", "==", None),
        ("config.d == {'a': 1}", "config.d", "==", {"a": 1}),
        ("config.s == 'a, b'", "config.s", "==", "a, b"),
        ("notes contains two words", "notes", "contains", "two words"),
        ("config.batch in (16, 32)", "config.batch", "in", [16, 32]),
        ("config.s == '=a'", "config.s", "==", "=a"),
        ("config.x < -5", "config.x", "<", -5),
    ],
)
def test_examples(text: str, key: str, op: str, value: object) -> None:
    assert parse_where(text) == Filter(key, op, value)


def test_time_values_become_datetimes() -> None:
    assert parse_where("start_time >= 2024-05-01").value == _dt.datetime(2024, 5, 1)
    assert parse_where("stop_time < 2024-05-01T12:30").value == _dt.datetime(2024, 5, 1, 12, 30)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("confg.lr < 0.05", "did you mean 'config'?"),
        ("metric.loss < 1", "did you mean 'metrics'?"),
        ("config.lr =< 0.05", "did you mean '<='?"),
        ("tags contain best", "did you mean 'contains'?"),
        ("config.lr", "expected KEY OP VALUE"),
        ("config.lr <", "no value"),
        ("status in COMPLETED", "'in' needs a list"),
        ("config.x == [1, 2", "unclosed list"),
        ("config.x == 'abc", "string"),
        ("start_time > yesterday", "needs a time"),
        ("status.x == 1", "has no fields"),
        ("metrics < 1", "needs a metric name"),
        ("lr < 0.1", "(a config value is 'config.lr')"),
    ],
)
def test_errors_are_one_line_with_hints(text: str, fragment: str) -> None:
    with pytest.raises(QueryError) as info:
        parse_where(text)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_metric_keys_keep_dots_and_read_one_aggregate() -> None:
    assert parse_key("metrics.val.accuracy").path == ("val.accuracy",)
    assert parse_key("metrics.val.accuracy").aggregate == "last"
    assert parse_key("metrics.val.accuracy.max").aggregate == "max"
    assert parse_key("metrics.x.min.last").path == ("x.min",)
    assert parse_key("experiment").text == "experiment.name"


def test_order_parsing() -> None:
    order = parse_order("-metrics.loss")
    assert order.descending and order.key == "metrics.loss"
    assert not parse_order("+config.lr").descending
    with pytest.raises(QueryError, match="did you mean 'config'"):
        parse_order("-confi.lr")


def test_bare_words_with_brackets_are_rejected() -> None:
    with pytest.raises(QueryError, match="quote"):
        parse_value("a]b")


def test_a_nul_character_is_a_one_line_error() -> None:
    with pytest.raises(QueryError, match=r"^a query cannot contain NUL characters: 'status == \\x00'$"):
        parse_where("status == \x00")
