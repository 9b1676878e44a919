"""``parse_value`` and ``parse_with_args`` on their own: the defaults (lenient), what strict parsing
changes, and the words the messages name (found missing by mutation testing)."""

from __future__ import annotations

import pytest

from experimentkit.config import parse_value, parse_with_args
from experimentkit.errors import UsageError


def test_defaults_are_lenient_bare_words_stay_strings():
    assert parse_value("resnet") == "resnet"
    assert parse_with_args(["model=resnet", "small"]) == ({"model": "resnet"}, ["small"])


def test_strict_parsing_reaches_every_update_of_a_with_clause():
    with pytest.raises(UsageError, match=r"^Malformed value in update 'model=resnet': not a Python literal"):
        parse_with_args(["lr=0.1", "model=resnet"], strict=True)
    assert parse_with_args(["lr=0.1", "model='resnet'"], strict=True) == ({"lr": 0.1, "model": "resnet"}, [])


def test_an_empty_value_is_an_empty_string_also_when_strict():
    assert parse_with_args(["name="], strict=True) == ({"name": ""}, [])
    assert parse_value("  ", strict=True) == ""


def test_a_malformed_literal_names_its_first_character_and_the_update():
    with pytest.raises(
        UsageError, match=r"^Malformed value in update 'layers=\[64, 32': a value starting with '\[' "
    ):
        parse_with_args(["layers=[64, 32"])
    # called on a value alone, the message shows it as the right-hand side of an update
    with pytest.raises(
        UsageError, match=r"^Malformed value in update '=\{1: 2': a value starting with '\{' "
    ):
        parse_value("{1: 2")
