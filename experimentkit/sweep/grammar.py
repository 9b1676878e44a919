"""The sweep grammar of the words after ``with`` (used only with ``--multirun``/``-M``).

The rule (docs/sweeps.md): a word is swept when its value, or a bare word (a named config), contains
a comma at the *top level* - not inside quotes, brackets ``[]``, braces ``{}`` or parentheses
``()``.  So ``lr=0.1,0.01`` is two runs, while ``'layers=[1,2]'``, ``'t=(1,2)'`` and
``'name="a,b"'`` stay one value each.  The functions ``range(...)``, ``logspace(...)``,
``linspace(...)`` and ``choice(...)`` spell an axis explicitly.  Every item of an axis is parsed
exactly like a single update value (``experimentkit.config.updates.parse_value``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Optional

from ..errors import UsageError

__all__ = ["Axis", "split_top_level", "parse_axis_value", "parse_sweep_words", "AXIS_FUNCTIONS"]

_CLOSERS = {"[": "]", "{": "}", "(": ")"}
_FUNCTION = re.compile(r"^\s*(range|logspace|linspace|choice)\s*\((.*)\)\s*$", re.DOTALL)
_FUNCTION_START = re.compile(r"^\s*(range|logspace|linspace|choice)\s*\(")
AXIS_FUNCTIONS = ("range", "logspace", "linspace", "choice")


@dataclass(frozen=True)
class Axis:
    """One swept dimension: a config key (``None`` for named configs) and its values in order."""

    key: Optional[str]
    values: tuple

    @property
    def name(self) -> str:
        return self.key if self.key is not None else "named_config"


def split_top_level(text: str) -> list:
    """Split ``text`` at commas that are outside quotes and brackets (unbalanced text: one item).

    Returns ``[text]`` when there is no top-level comma.
    """
    items, depth, quote, start, i = [], [], None, 0, 0
    while i < len(text):
        char = text[i]
        if quote:
            if char == "\\":
                i += 2
                continue
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char in _CLOSERS:
            depth.append(_CLOSERS[char])
        elif depth and char == depth[-1]:
            depth.pop()
        elif char == "," and not depth:
            items.append(text[start:i])
            start = i + 1
        i += 1
    if quote or depth:  # unbalanced: not a sweep; parse_value reports it as one value
        return [text]
    items.append(text[start:])
    return items


def _strict() -> bool:
    """``SETTINGS.COMMAND_LINE.STRICT_PARSING``: every swept item must be a Python literal."""
    from ..settings import SETTINGS

    return bool(SETTINGS.COMMAND_LINE.STRICT_PARSING)


def _number(text: str, where: str) -> float:
    from ..config.updates import parse_value

    try:
        value = parse_value(text)
    except UsageError:
        value = None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"{where}: {text.strip()!r} is not a number")
    return value


def _function_axis(name: str, body: str, where: str) -> list:
    from ..config.updates import parse_value

    args = [a for a in split_top_level(body)] if body.strip() else []
    if name == "choice":
        if not args or any(not a.strip() for a in args):
            raise UsageError(f"{where}: choice() needs values separated by commas, e.g. choice(1,2)")
        return [parse_value(a, where, strict=_strict()) for a in args]
    numbers = [_number(a, where) for a in args]
    if name == "range":
        if not 1 <= len(numbers) <= 3:
            raise UsageError(
                f"{where}: range() takes 1 to 3 numbers: range(stop), "
                f"range(start,stop) or range(start,stop,step)"
            )
        start, stop, step = (
            (0, numbers[0], 1)
            if len(numbers) == 1
            else (numbers[0], numbers[1], numbers[2] if len(numbers) == 3 else 1)
        )
        if step == 0:
            raise UsageError(f"{where}: range() step must not be zero")
        count = max(0, math.ceil((stop - start) / step))
        values = [start + k * step for k in range(count)]
        if all(isinstance(n, int) for n in (start, stop, step)):
            return [int(v) for v in values]
        return [round(v, 12) for v in values]
    if len(numbers) != 3 or numbers[2] != int(numbers[2]) or numbers[2] < 1:
        raise UsageError(
            f"{where}: {name}() takes start, stop and a positive whole count, e.g. {name}(-4,-1,4)"
        )
    low, high, count = numbers[0], numbers[1], int(numbers[2])
    points = [low + (high - low) * k / (count - 1) for k in range(count)] if count > 1 else [low]
    if name == "logspace":
        return [float(f"{10**p:.12g}") for p in points]
    return [float(f"{p:.12g}") for p in points]


def parse_axis_value(text: str, where: str = "") -> Optional[list]:
    """The values of a swept right-hand side, or ``None`` when ``text`` is a single value.

    Raises ``UsageError`` for an empty item (``lr=0.1,``), an unparsable or empty range, or a
    malformed item.
    """
    from ..config.updates import parse_value

    where = where or f"sweep '{text}'"
    match = _FUNCTION.match(text)
    if match is None and _FUNCTION_START.match(text):
        raise UsageError(
            f"{where}: cannot parse {text.strip()!r}; write e.g. range(1,5), "
            f"logspace(-4,-1,4), linspace(0,1,5) or choice(a,b)"
        )
    if match:
        values = _function_axis(match.group(1), match.group(2), where)
    else:
        items = split_top_level(text)
        if len(items) == 1:
            return None
        if any(not item.strip() for item in items):
            raise UsageError(f"{where}: empty value between commas (write lr=0.1,0.01)")
        values = [parse_value(item, where, strict=_strict()) for item in items]
    if not values:
        raise UsageError(f"{where}: the axis has no values")
    return values


def parse_sweep_words(words: list) -> list:
    """The words after ``with`` with every swept word replaced by its :class:`Axis`.

    Unswept words stay strings for the normal update parser; the order is kept so that later words
    still win over earlier ones, as in a single run.
    """
    items: list = []
    for word in words:
        word = str(word)
        if "=" in word:
            key, _, raw = word.partition("=")
            values = parse_axis_value(raw, f"sweep '{word}'")
            if values is None:
                items.append(word)
                continue
            from ..config.updates import parse_update

            parse_update(word)  # the same key check (and message) as a single update
            items.append(Axis(key.strip(), tuple(values)))
        else:
            names = split_top_level(word)
            if len(names) == 1:
                items.append(word)
                continue
            if any(not name.strip() for name in names):
                raise UsageError(f"sweep '{word}': empty named config between commas (write big,small)")
            items.append(Axis(None, tuple(name.strip() for name in names)))
    keys = [a.key for a in items if isinstance(a, Axis) and a.key is not None]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise UsageError(f"'{duplicates[0]}' is swept twice; give all its values in one word")
    return items
