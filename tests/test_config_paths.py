"""Dotted-path helpers, key validation and the storability check."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experimentkit.config import (
    check_storable,
    convert_to_nested_dict,
    get_by_dotted_path,
    iter_prefixes,
    iterate_flattened,
    join_paths,
    recursive_update,
    set_by_dotted_path,
    validate_keys,
)
from experimentkit.errors import UnstorableConfigError, UsageError
from experimentkit.settings import Settings


def test_join_paths():
    assert join_paths("", "a") == "a"
    assert join_paths("a", "b", "c") == "a.b.c"
    assert join_paths("a.", "", ".b") == "a.b"


def test_get_and_set():
    d = {"a": {"b": {"c": 1}}, "x": 5}
    assert get_by_dotted_path(d, "a.b.c") == 1
    assert get_by_dotted_path(d, "a.z", default="no") == "no"
    assert get_by_dotted_path(d, "x.y") is None
    assert get_by_dotted_path(d, "") is d
    set_by_dotted_path(d, "a.b.d", 2)
    set_by_dotted_path(d, "x.y", 3)  # non-dict replaced
    set_by_dotted_path(d, "new.deep.key", 4)
    assert d == {"a": {"b": {"c": 1, "d": 2}}, "x": {"y": 3}, "new": {"deep": {"key": 4}}}


def test_iterate_flattened_sorted_with_empty_dict_leaf():
    d = {"b": {"z": 1, "a": {}}, "a": 2, "c": {"d": {"e": [1]}}}
    assert list(iterate_flattened(d)) == [("a", 2), ("b.a", {}), ("b.z", 1), ("c.d.e", [1])]


def test_iter_prefixes():
    assert list(iter_prefixes("a.b.c")) == ["a", "a.b", "a.b.c"]
    assert list(iter_prefixes("a")) == ["a"]


def test_recursive_update_and_nesting():
    d = {"a": {"b": 1, "c": 2}, "x": 1}
    assert recursive_update(d, {"a": {"b": 5, "n": {"m": 1}}, "x": {"y": 1}}) is d
    assert d == {"a": {"b": 5, "c": 2, "n": {"m": 1}}, "x": {"y": 1}}
    assert convert_to_nested_dict({"a.b": 1, "a.c": 2, "d": 3}) == {"a": {"b": 1, "c": 2}, "d": 3}


_names = st.from_regex(r"[a-z]{1,4}", fullmatch=True)
_nested = st.recursive(
    st.integers(), lambda c: st.dictionaries(_names, c, min_size=1, max_size=3), max_leaves=10
)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(_names, _nested, max_size=4))
def test_flatten_then_nest_round_trips(d):
    assert convert_to_nested_dict(dict(iterate_flattened(d))) == d


@pytest.mark.parametrize(
    "config, message",
    [
        ({"a.b": 1}, 'Invalid key "a.b". Config-keys cannot contain "." or start with "$"'),
        ({"$x": 1}, 'Invalid key "$x". Config-keys cannot contain "." or start with "$"'),
        ({"ok": {"py/object": 1}}, 'Invalid key "py/object". Config-keys cannot be one of the'),
        ({"json://x": 1}, 'Invalid key "json://x"'),
        ({"a=b": 1}, 'Invalid key "a=b". Config-keys cannot contain "="'),
        ({"l": [{"a.b": 1}]}, 'Invalid key "a.b"'),
    ],
)
def test_validate_keys_rejects(config, message):
    with pytest.raises(KeyError) as info:
        validate_keys(config)
    assert str(info.value).startswith(message)
    assert isinstance(info.value, UsageError)


def test_validate_keys_settings_switches():
    loose = Settings(
        {
            "CONFIG": {
                "ENFORCE_KEYS_MONGO_COMPATIBLE": False,
                "ENFORCE_KEYS_JSONPICKLE_COMPATIBLE": False,
                "ENFORCE_STRING_KEYS": True,
                "ENFORCE_VALID_PYTHON_IDENTIFIER_KEYS": False,
                "ENFORCE_KEYS_NO_EQUALS": False,
            }
        }
    )
    validate_keys({"a.b": 1, "$x": {"py/set": 2}, "a=b": 0}, loose)
    with pytest.raises(KeyError, match="have to be strings"):
        validate_keys({1: 2}, loose)
    strict = Settings(
        {
            "ENFORCE_KEYS_MONGO_COMPATIBLE": True,
            "ENFORCE_KEYS_JSONPICKLE_COMPATIBLE": True,
            "ENFORCE_STRING_KEYS": False,
            "ENFORCE_VALID_PYTHON_IDENTIFIER_KEYS": True,
            "ENFORCE_KEYS_NO_EQUALS": True,
        }
    )
    with pytest.raises(KeyError, match="not a valid python identifier"):
        validate_keys({"a b": 1}, strict)
    validate_keys({"ab": 1}, strict)


def test_check_storable_accepts_json_and_sets():
    check_storable({"a": 1, "b": [1.5, None, True, "x", (1, 2)], "c": {"d": {1, 2}}, 3: "int key"})


def test_check_storable_numpy():
    np = pytest.importorskip("numpy")
    check_storable({"a": np.float32(1), "b": np.arange(3), "c": np.array(["x"]), "d": np.bool_(1)})
    with pytest.raises(UnstorableConfigError, match="'o'"):
        check_storable({"o": np.array([object()])})


@pytest.mark.parametrize(
    "config, where, type_name",
    [
        ({"model": {"net": object()}}, "model.net", "object"),
        ({"f": print}, "f", "builtin_function_or_method"),
        ({"l": [1, {"c": complex(1, 2)}]}, "l.1.c", "complex"),
        ({"k": {(1, 2): 3}}, "k.(1, 2)", "tuple"),
    ],
)
def test_check_storable_names_key_type_and_fix(config, where, type_name):
    with pytest.raises(UnstorableConfigError) as info:
        check_storable(config)
    message = str(info.value)
    assert f"'{where}'" in message and type_name in message
    fix = "store a string/number instead, or build the object inside a captured function"
    assert fix in message or "use string keys" in message
