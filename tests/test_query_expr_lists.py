"""``--where`` lists with quotes and brackets inside, and row filters (gaps found by mutation testing)."""

from __future__ import annotations

import pytest

from experimentkit.errors import QueryError
from experimentkit.query import Filter, parse_row_where, parse_where
from experimentkit.query.expr import format_value, parse_value


def test_an_escaped_quote_inside_a_quoted_list_item_does_not_end_it():
    assert parse_value(r"""['it\'s', "say \"hi\"", plain]""") == ["it's", 'say "hi"', "plain"]
    assert parse_where(r"""notes in ['a, b\'s', c]""") == Filter("notes", "in", ["a, b's", "c"])


@pytest.mark.parametrize("text", ["['abc, d]", "[[1, 2]", "[(1, 2]"])
def test_an_unclosed_quote_or_bracket_inside_a_list_is_named_as_such(text):
    with pytest.raises(QueryError, match=r"^unbalanced quotes or brackets in value "):
        parse_value(text)


def test_row_filters_are_marked_as_row_filters():
    assert parse_row_where("label == 3") == Filter("label", "==", 3, row=True)
    assert parse_row_where("any_column_name >= 0.5").row is True
    assert parse_where("config.lr < 0.1").row is False


@pytest.mark.parametrize("text", ["\x00", "a\x00b", "tab\there", "\x1b[1m", "nbsp\xa0"])
def test_strings_with_control_characters_are_printed_quoted_and_parse_back(text):
    # found by hypothesis: a bare NUL was printed as is and then refused by the parser
    assert format_value(text) == repr(text)
    assert parse_where(f"notes == {format_value(text)}") == Filter("notes", "==", text)
