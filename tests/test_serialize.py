"""experimentkit.serialize: flatten / dumps."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import OrderedDict
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experimentkit.config import make_read_only
from experimentkit.serialize import dumps, flatten, plain

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(_json)
def test_json_values_unchanged_and_round_trip(value):
    assert flatten(value) == value
    assert json.loads(dumps(value)) == value


_pythonish = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
    | st.datetimes()
    | st.dates(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(st.text() | st.integers(), children, max_size=4)
        | st.frozensets(st.integers(), max_size=4)
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(_pythonish)
def test_flatten_is_json_compatible_and_idempotent(value):
    flat = flatten(value)
    assert json.loads(json.dumps(flat)) == flat
    assert flatten(flat) == flat


def test_conversions():
    when = dt.datetime(2024, 1, 2, 3, 4, 5, 6)
    value = {
        1: (1, 2),
        "s": {3, 1, 2},
        "when": when,
        "day": when.date(),
        "p": Path("/x"),
        "od": OrderedDict(b=1),
        "obj": object.__new__(type("Thing", (), {"__str__": lambda self: "thing"})),
        "mixed": {1, "a"},
        "bytes": b"ab",
        2.5: 1,
    }
    flat = flatten(value)
    assert flat == {
        "1": [1, 2],
        "s": [1, 2, 3],
        "when": "2024-01-02T03:04:05.000006",
        "day": "2024-01-02",
        "p": "/x",
        "od": {"b": 1},
        "obj": "thing",
        "mixed": [1, "a"],
        "bytes": "b'ab'",
        "2.5": 1,
    }


def test_nan_and_infinity_kept_as_floats():
    flat = flatten({"nan": float("nan"), "inf": float("inf"), "ninf": -math.inf})
    assert math.isnan(flat["nan"]) and flat["inf"] == math.inf and flat["ninf"] == -math.inf
    text = dumps(flat)
    assert "NaN" in text and "Infinity" in text
    back = json.loads(text)
    assert math.isnan(back["nan"]) and back["inf"] == math.inf


def test_dumps_sorted_and_indented():
    assert dumps({"b": 1, "a": [1]}) == '{\n  "a": [\n    1\n  ],\n  "b": 1\n}'


def test_subclasses_become_plain():
    class MyInt(int):
        pass

    class MyStr(str):
        pass

    flat = flatten({"i": MyInt(3), "s": MyStr("x"), "ro": make_read_only({"a": [1]})})
    assert type(flat["i"]) is int and type(flat["s"]) is str
    assert type(flat["ro"]) is dict and type(flat["ro"]["a"]) is list
    assert plain(make_read_only({"a": [1, (2,)]})) == {"a": [1, (2,)]}
    assert type(plain(make_read_only({"a": [1]}))["a"]) is list


def test_numpy_values():
    np = pytest.importorskip("numpy")
    flat = flatten(
        {
            "f32": np.float32(0.5),
            "i8": np.int8(-3),
            "b": np.bool_(True),
            "arr": np.arange(6).reshape(2, 3),
            "farr": np.array([0.5, np.nan]),
            "dt": np.datetime64("2024-01-02T03:04:05"),
            "c": np.complex128(1 + 2j),
        }
    )
    assert flat["f32"] == 0.5 and type(flat["f32"]) is float
    assert flat["i8"] == -3 and type(flat["i8"]) is int
    assert flat["b"] is True
    assert flat["arr"] == [[0, 1, 2], [3, 4, 5]]
    assert flat["farr"][0] == 0.5 and math.isnan(flat["farr"][1])
    assert flat["dt"] == "2024-01-02T03:04:05"
    assert flat["c"] == "(1+2j)"
    json.loads(dumps(flat))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(allow_nan=False, width=32), max_size=10))
def test_numpy_arrays_round_trip(values):
    np = pytest.importorskip("numpy")
    arr = np.array(values, dtype=np.float32)
    assert json.loads(dumps(arr)) == [float(v) for v in arr]
