"""Parsing ``with`` updates from the command line: ``KEY=VALUE`` assignments and named config names."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from typing import Any

from ..errors import UsageError
from .paths import set_by_dotted_path

__all__ = ["parse_update", "parse_with_args", "parse_value"]

_KEY_PART = re.compile(r"^[\w\-]+$")
_OPENERS = ("[", "{", "(", "'", '"')
_EXAMPLE = "e.g. lr=0.1"


def _literal(value: Any) -> Any:
    """Tuples become lists (at any depth) so that updates equal what a stored config holds."""
    if isinstance(value, (list, tuple)):
        return [_literal(v) for v in value]
    if isinstance(value, dict):
        return {k: _literal(v) for k, v in value.items()}
    return value


def parse_value(text: str, update: str = "", *, strict: bool = False) -> Any:
    """The Python value of an update's right-hand side.

    Python literals (numbers, ``True``/``False``/``None``, quoted strings, lists, tuples, dicts,
    sets) are evaluated; any other bare word stays a string (``resnet``, ``/data/x``, ``none``,
    empty).  A value that starts like a list/dict/tuple/string but is not a valid literal is an
    error rather than a surprising string.  ``strict=True``
    (``SETTINGS.COMMAND_LINE.STRICT_PARSING``) makes every non-literal an error.
    """
    text = text.strip()
    if text == "":
        return ""
    try:
        return _literal(ast.literal_eval(text))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    update = update or f"={text}"
    if text.startswith(_OPENERS):
        raise UsageError(
            f"Malformed value in update '{update}': a value starting with {text[0]!r} must be a "
            f"complete Python literal (check brackets, commas and quotes, and quote strings inside "
            f"lists). Put the whole update in single quotes so the shell passes it unchanged, e.g. "
            f"'layers=[64, 32]' or 'name=\"my run\"'"
        )
    if strict:
        raise UsageError(
            f"Malformed value in update '{update}': not a Python literal and strict parsing is on "
            f"(SETTINGS.COMMAND_LINE.STRICT_PARSING); quote strings, e.g. 'model=\"resnet\"'"
        )
    return text


def _check_key(key: str, update: str) -> None:
    parts = key.split(".")
    if not key or not all(_KEY_PART.match(p) for p in parts):
        raise UsageError(
            f"Malformed update '{update}': expected KEY=VALUE, {_EXAMPLE} "
            f"(KEY is a name or a dotted path such as optimizer.lr)"
        )


def parse_update(text: str, *, strict: bool = False) -> tuple[str, Any]:
    """Split ``"a.b=VALUE"`` at the first ``=`` into ``("a.b", value)`` (see ``parse_value``)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep:
        raise UsageError(f"Malformed update '{text}': expected KEY=VALUE, {_EXAMPLE}")
    _check_key(key, text)
    return key, parse_value(raw, text, strict=strict)


def parse_with_args(words: Iterable[str], *, strict: bool = False) -> tuple[dict, list[str]]:
    """Turn the words after ``with`` into ``(nested_updates, named_configs)``.

    Words with ``=`` are updates (dotted keys become nested dicts; later updates win).  Other words
    are named configs, in order; config file names (``.json``, ``.yaml``, ``.yml``, ``.pickle``) are
    returned the same way, for the caller to load.
    """
    updates: dict = {}
    named: list[str] = []
    for word in words:
        if word is None or not str(word).strip():
            continue
        word = str(word)
        if "=" in word:
            key, value = parse_update(word, strict=strict)
            set_by_dotted_path(updates, key, value)
        else:
            named.append(word.strip())
    return updates, named
