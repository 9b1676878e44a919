# ruff: noqa  (Sacred's code, kept as Sacred wrote it)
# Ported from Sacred 0.8.7 (IDSIA/sacred, tag 0.8.7, tests/test_config/test_fallback_dict.py; MIT licence; IDSIA/sacred repository, the sdist ships no tests/test_config):
# Sacred's own test, with imports renamed from ``sacred`` to ``experimentkit``; lines changed for the port say
# ``# port:`` and why. Deliberate differences are xfail(strict=True) with the reason (docs/sacred-differences.md).
# coding=utf-8

import pytest
from experimentkit.config.custom_containers import fallback_dict


@pytest.fixture
def fbdict():
    return fallback_dict({"fall1": 7, "fall3": True})


def test_is_dictionary(fbdict):
    assert isinstance(fbdict, dict)


def test_getitem(fbdict):
    assert "foo" not in fbdict
    fbdict["foo"] = 23
    assert "foo" in fbdict
    assert fbdict["foo"] == 23


def test_fallback(fbdict):
    assert "fall1" in fbdict
    assert fbdict["fall1"] == 7
    fbdict["fall1"] = 8
    assert fbdict["fall1"] == 8


def test_get(fbdict):
    fbdict["a"] = "b"
    assert fbdict.get("a", 18) == "b"
    assert fbdict.get("fall1", 18) == 7
    assert fbdict.get("notexisting", 18) == 18
    assert fbdict.get("fall3", 18) is True
