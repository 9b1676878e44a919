"""Parsing of `with` updates (KEY=VALUE) and named config words."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experimentkit.config import parse_update, parse_with_args
from experimentkit.errors import UsageError


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a=5", ("a", 5)),
        ("f=23.5", ("f", 23.5)),
        ("f=1e-3", ("f", 0.001)),
        ("n=None", ("n", None)),
        ("t=True", ("t", True)),
        ("b=False", ("b", False)),
        ("hello='world'", ("hello", "world")),
        ('hello="world"', ("hello", "world")),
        ("hello=world", ("hello", "world")),
        ("msg=hello world", ("msg", "hello world")),
        ("n=none", ("n", "none")),
        ("p=/data/x", ("p", "/data/x")),
        ("model=resnet", ("model", "resnet")),
        ("e=", ("e", "")),
        ("  spaced . key  =  7 ", None),
        ("x = 7 ", ("x", 7)),
        ("t=(1,2)", ("t", [1, 2])),
        ("t=((1, 2), [3, (4,)])", ("t", [[1, 2], [3, [4]]])),
        ('d={"a":1}', ("d", {"a": 1})),
        ("d={'a': (1, 2)}", ("d", {"a": [1, 2]})),
        ("s={1,2}", ("s", {1, 2})),
        ("neg=-3", ("neg", -3)),
        ("eq=a=b", ("eq", "a=b")),
        ("a.b.c=1", ("a.b.c", 1)),
        ("with-dash=1", ("with-dash", 1)),
    ],
)
def test_parse_update_table(text, expected):
    if expected is None:
        with pytest.raises(UsageError, match="Malformed update"):
            parse_update(text)
    else:
        assert parse_update(text) == expected


@pytest.mark.parametrize("text", ["=3", " =3", "a..b=1", ".a=1", "a.=1", "a b=1", "[x]=1", "noequals"])
def test_malformed_keys(text):
    with pytest.raises(UsageError, match=r"Malformed update '.*': expected KEY=VALUE, e.g. lr=0.1"):
        parse_update(text)


def test_malformed_message_exact():
    with pytest.raises(UsageError) as info:
        parse_update("=3")
    assert str(info.value).startswith("Malformed update '=3': expected KEY=VALUE, e.g. lr=0.1")


@pytest.mark.parametrize(
    "text", ["a=[1,", "d={'x':", "s='abc", 's="abc', "t=(1,", "lst=[a,b]", "x=[1,2", "d={a: 1}"]
)
def test_unbalanced_or_invalid_literals_are_errors(text):
    with pytest.raises(UsageError) as info:
        parse_update(text)
    message = str(info.value)
    assert f"'{text}'" in message
    assert "single quotes" in message  # says how to quote it for the shell


def test_strict_parsing_rejects_bare_words():
    assert parse_update("model=resnet") == ("model", "resnet")
    with pytest.raises(UsageError, match="strict"):
        parse_update("model=resnet", strict=True)
    assert parse_update("model='resnet'", strict=True) == ("model", "resnet")


def test_parse_with_args_nests_and_collects_named_configs():
    updates, named = parse_with_args(
        ["fast", "a.b=1", "a.c='x'", "", "dataset.big", "lr=0.1", "upd.json", "conf.yaml", "a.b=2"]
    )
    assert updates == {"a": {"b": 2, "c": "x"}, "lr": 0.1}
    assert named == ["fast", "dataset.big", "upd.json", "conf.yaml"]


def test_parse_with_args_later_updates_win():
    assert parse_with_args(["a=1", "a.b=2"])[0] == {"a": {"b": 2}}
    assert parse_with_args(["a.b=2", "a=1"])[0] == {"a": 1}


def test_parse_with_args_propagates_errors():
    with pytest.raises(UsageError, match="a=\\[1,"):
        parse_with_args(["ok=1", "a=[1,"])


_keys = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FFF), max_size=8)
_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
_literals = st.recursive(
    _leaves,
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(_keys, children, max_size=4)
    ),
    max_leaves=20,
)


def _lists(value):
    if isinstance(value, (list, tuple)):
        return [_lists(v) for v in value]
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    return value


def _same(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


@settings(max_examples=300, deadline=None)
@given(_literals)
def test_repr_round_trip(value):
    key, parsed = parse_update("x=" + repr(value))
    assert key == "x"
    assert _same(parsed, _lists(value))


@settings(max_examples=200, deadline=None)
@given(
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}(\.[A-Za-z_][A-Za-z0-9_]{0,8}){0,3}", fullmatch=True),
    st.integers(),
)
def test_dotted_keys_nest(key, number):
    updates, named = parse_with_args([f"{key}={number}"])
    node = updates
    for part in key.split(".")[:-1]:
        node = node[part]
    assert node[key.split(".")[-1]] == number and named == []


@settings(max_examples=200, deadline=None)
@given(
    st.text(
        alphabet=st.characters(whitelist_categories=("L", "N"), max_codepoint=0x7F), min_size=1, max_size=12
    )
)
def test_bare_words_are_strings_or_literals(word):
    _, value = parse_update("k=" + word)
    if word in ("True", "False", "None") or word[0].isdigit():
        assert not isinstance(value, str) or value == word
    else:
        assert value == word
