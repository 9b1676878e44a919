"""The ``KEY OP VALUE`` expression language of ``--where`` and ``RunQuery.where``.

Values are Python-like literals (numbers, quoted strings, True/False/None, lists in ``[]`` or
``()``, dicts in ``{}``); a bare word such as ``COMPLETED`` or ``2024-05-01`` is a string, also
inside lists (``status in [COMPLETED, FAILED]``).  ``=`` is accepted for ``==``.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from ..errors import QueryError, suggest
from .base import OPERATORS, Filter

__all__ = ["parse_where", "parse_row_where", "parse_value", "format_value"]

_SYMBOLS = "<>=!"
_EXPR = re.compile(
    r"\s*(?P<key>[^\s<>=!]+)\s*(?:(?P<sym>[<>=!]+)|\s(?P<word>[A-Za-z_]+)(?=\s|$))"
    r"\s*(?P<value>.*?)\s*\Z",
    re.S,
)
_NUMBER = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\Z")
_INT = re.compile(r"[-+]?\d+\Z")
_KEYWORDS = {
    "True": True,
    "true": True,
    "False": False,
    "false": False,
    "None": None,
    "none": None,
    "null": None,
}
_BARE_FORBIDDEN = set("'\"[](){},")
_SWAPPED = {"=<": "<=", "=>": ">=", "=!": "!=", "<>": "!=", "===": "=="}


def parse_where(text: str) -> Filter:
    """Parse a run filter such as ``config.lr < 0.05`` or ``tags contains best``."""
    return _parse(text, row=False)


def parse_row_where(text: str) -> Filter:
    """Parse a filter on a per-sample table column (any column name is a valid key)."""
    return _parse(text, row=True)


#: An integer literal beyond 64 bits is read as a float (no database column holds it as an integer).
_INT64 = 1 << 63
#: Most characters of the user's text quoted back in an error message.
_SHOWN = 80


def _shown(text: str) -> str:
    """The text as quoted in messages: cut, so a huge literal is not printed back whole."""
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _parse(text: str, row: bool) -> Filter:
    if "\0" in text:
        raise QueryError(f"a query cannot contain NUL characters: {_shown(text)!r}")
    whole = text
    text = _shown(text)
    match = _EXPR.match(whole)
    if not match:
        raise QueryError(
            f"cannot read '{text}': expected KEY OP VALUE, as in 'config.lr < 0.05' "
            f"(operators: {' '.join(OPERATORS)})"
        )
    op = match["sym"] or match["word"]
    if op == "=":
        op = "=="
    if op not in OPERATORS:
        hint = f" (did you mean '{_SWAPPED[op]}'?)" if op in _SWAPPED else suggest(op, OPERATORS)
        raise QueryError(
            f"unknown operator '{_shown(op)}' in '{text}'{hint}; use one of: {' '.join(OPERATORS)}"
        )
    if not match["value"]:
        raise QueryError(f"'{text}' has no value after '{op}'")
    value = parse_value(match["value"])
    if op == "in" and not isinstance(value, list):
        raise QueryError(
            f"'in' needs a list, as in '{_shown(match['key'])} in [a, b]', not {_shown(match['value'])!r}"
        )
    return Filter(match["key"], op, value, row=row)


def parse_value(text: str) -> Any:
    """Parse one value of an expression (see the module docstring)."""
    text = text.strip()
    if not text:
        raise QueryError("missing value")
    if text[0] in "[(":
        closing = "]" if text[0] == "[" else ")"
        if text[-1] != closing:
            raise QueryError(f"unclosed list in value {_shown(text)!r}")
        inner = text[1:-1].strip()
        return [parse_value(item) for item in _split_items(inner, text)] if inner else []
    if text[0] == "{":
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise QueryError(f"cannot read the dict {_shown(text)!r}") from None
        if not isinstance(value, dict):
            raise QueryError(f"cannot read the dict {_shown(text)!r}")
        return value
    if text[0] in "'\"":
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise QueryError(f"unterminated or malformed string {_shown(text)}") from None
        if not isinstance(value, str):
            raise QueryError(f"cannot read the value {_shown(text)}: quote a string once, as in 'abc'")
        return value
    if text in _KEYWORDS:
        return _KEYWORDS[text]
    if _NUMBER.match(text):
        if _INT.match(text) and len(text) < 20:
            number = int(text)
            if -_INT64 <= number < _INT64:
                return number
        return float(text)  # beyond 64 bits: a float (inf when beyond a double)
    if _BARE_FORBIDDEN & set(text):
        raise QueryError(
            f"cannot read the value {_shown(text)!r}: quote strings that contain quotes, brackets or commas"
        )
    return text


def _split_items(inner: str, whole: str) -> list:
    """Split at top-level commas, respecting quotes and nested brackets."""
    items, depth, quote, start, escaped = [], 0, "", 0, False
    for i, char in enumerate(inner):
        if quote:  # a backslash escapes the next character, itself included ('a\\' ends at the quote)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char in "[({":
            depth += 1
        elif char in "])}":
            depth -= 1
            if depth < 0:
                raise QueryError(f"unbalanced brackets in value {_shown(whole)!r}")
        elif char == "," and depth == 0:
            items.append(inner[start:i])
            start = i + 1
    if quote or depth:
        raise QueryError(f"unbalanced quotes or brackets in value {_shown(whole)!r}")
    tail = inner[start:]
    if tail.strip():
        items.append(tail)
    if any(not item.strip() for item in items):
        raise QueryError(f"empty item in list {_shown(whole)!r}")
    return items


def format_value(value: Any) -> str:
    """The inverse of :func:`parse_value` for values it can produce (used to print filters back)."""
    if isinstance(value, list):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, str):
        bare = (
            value
            and value == value.strip()
            and value not in _KEYWORDS
            and not _NUMBER.match(value)
            and not (_BARE_FORBIDDEN & set(value))
            and value[0] not in _SYMBOLS
            and not set(value) & set(" \t\n\r\f\v")
            and value.isprintable()  # a control character (NUL above all) is written escaped
        )
        return value if bare else repr(value)
    return repr(value)
