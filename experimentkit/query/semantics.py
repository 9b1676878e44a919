"""The reference semantics of filters and ordering, evaluated in Python.

Backends evaluate here whatever they could not push down, so one definition decides what a query
means (see the rules in :mod:`experimentkit.query.base`).
"""

from __future__ import annotations

import datetime as _dt
import json
import numbers
from collections.abc import Iterable, Sequence
from typing import Any, Optional

from .base import INT_TEXT, Filter, Key, Order, Query, RunRecord, id_sort_key

__all__ = ["resolve", "matches", "sort_key", "apply_in_python", "apply_rows_in_python", "id_sort_key"]


def resolve(record: RunRecord, key: Key) -> Any:
    """The value of ``key`` for ``record`` (``None`` when absent)."""
    root = key.root
    if root == "metrics":
        summary = record.metrics.get(key.path[0])
        return summary.get(key.aggregate) if summary else None
    if root == "resources":  # a list: the paths, or one field (md5, path, size) of each
        field = key.path[0] if key.path else "path"
        return [r.get(field) for r in record.resources if isinstance(r, dict)]
    base = getattr(record, root)
    return _dig(base, key.path)


def _dig(value: Any, path: Sequence[str]) -> Any:
    for part in path:
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and INT_TEXT.match(part) and 0 <= int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _equal(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if _is_number(a) and _is_number(b):
        return a == b
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) or _is_number(b):
        return False
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _ordered(a: Any, b: Any, is_id: bool) -> Optional[int]:
    """-1/0/1 comparing two values, or None when they cannot be ordered."""
    if a is None or b is None:
        return None
    if is_id:
        a, b = id_sort_key(a), id_sort_key(b)
        if a[0] != b[0]:
            return None
    elif not (
        (_is_number(a) and _is_number(b))
        or (isinstance(a, str) and isinstance(b, str))
        or (isinstance(a, _dt.datetime) and isinstance(b, _dt.datetime))
    ):
        return None
    return (a > b) - (a < b)


def _compare(op: str, actual: Any, wanted: Any, is_id: bool) -> bool:
    if op == "==":
        return _equal(actual, wanted)
    if op == "!=":
        return not _equal(actual, wanted)
    if op == "contains":
        if isinstance(actual, list):
            return any(_equal(item, wanted) for item in actual)
        return isinstance(actual, str) and isinstance(wanted, str) and wanted in actual
    if op == "in":
        candidates = actual if isinstance(actual, list) else [actual]
        return any(_equal(c, w) for c in candidates for w in wanted)
    order = _ordered(actual, wanted, is_id)
    if order is None:
        return False
    return {"<": order < 0, "<=": order <= 0, ">": order > 0, ">=": order >= 0}[op]


def matches(value: Any, flt: Filter) -> bool:
    """Whether an already-resolved value satisfies a filter.  ``resources`` keys hold one value
    per resource and match when any resource does (``!=``: when none is equal; ``contains``: a
    substring of any, so ``resources contains data.csv`` finds the file wherever it was)."""
    if flt.parsed_key.root == "resources" and isinstance(value, list):
        if flt.op == "!=":
            return not any(_equal(item, flt.value) for item in value)
        if flt.op == "contains":
            return any(
                isinstance(item, str) and isinstance(flt.value, str) and flt.value in item for item in value
            )
        return any(_compare(flt.op, item, flt.value, False) for item in value)
    return _compare(flt.op, value, flt.value, flt.parsed_key.root == "id")


def sort_key(value: Any, descending: bool = False, is_id: bool = False) -> tuple:
    """A key giving the documented order: missing last (both directions), numbers < strings <
    datetimes
    < anything else (as JSON text)."""
    if value is None:
        return (1,)
    inner: Any
    if is_id:
        rank, inner = 0, id_sort_key(value)
    elif _is_number(value) or isinstance(value, bool):
        rank, inner = 0, float(value)
    elif isinstance(value, str):
        rank, inner = 1, value
    elif isinstance(value, _dt.datetime):
        rank, inner = 2, value
    else:
        rank, inner = 3, json.dumps(value, sort_keys=True, default=str)
    return (0, _Reversed((rank, inner)) if descending else (rank, inner))


class _Reversed:
    """Inverts comparisons so one ``sorted`` call can mix ascending and descending keys."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def __lt__(self, other: _Reversed) -> bool:
        return other.value < self.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and other.value == self.value


def _sort(items: list, orders: Sequence[Order], value_of: Any, tiebreak: Any) -> list:
    def key(item: Any) -> tuple:
        parts = []
        for order in orders:
            parsed = order.parsed_key
            parts.append(sort_key(value_of(item, parsed), order.descending, parsed.root == "id"))
        return (*parts, tiebreak(item))

    return sorted(items, key=key)


def apply_in_python(
    records: Iterable[RunRecord],
    q: Query,
    *,
    filtered: Iterable[Filter] = (),
    ordered: bool = False,
    limited: bool = False,
) -> list:
    """Finish a query in Python.

    ``filtered``: the filters of ``q`` the backend already applied (they are skipped here);
    ``ordered``: the backend returned ``records`` in ``q.order`` (with the id tie-break);
    ``limited``: the backend also applied ``q.offset``/``q.limit`` (only valid when it applied every
    filter and the order).
    """
    done = list(filtered)
    remaining = [f for f in q.filters if f not in done]
    if limited and (remaining or not ordered):
        raise ValueError("a backend may only apply offset/limit after applying every filter and the order")
    result = [r for r in records if all(matches(resolve(r, f.parsed_key), f) for f in remaining)]
    if not ordered:
        result = _sort(result, q.order, resolve, lambda r: id_sort_key(r.id))
    if not limited:
        result = _window(result, q.offset, q.limit)
    return result


def apply_rows_in_python(
    rows: Iterable[dict],
    where: Sequence[Filter] = (),
    order: Sequence[Order] = (),
    limit: Optional[int] = None,
) -> list:
    """The reference for ``Store.rows``: filter, stable sort (logging order breaks ties), limit."""

    def value_of(row: dict, key: Key) -> Any:
        return row.get(key.path[0])

    indexed = [
        (i, row)
        for i, row in enumerate(rows)
        if all(matches(row.get(f.parsed_key.path[0]), f) for f in where)
    ]
    ordered = _sort(indexed, order, lambda item, key: value_of(item[1], key), lambda item: item[0])
    return _window([row for _, row in ordered], 0, limit)


def _window(items: list, offset: int, limit: Optional[int]) -> list:
    offset = max(int(offset or 0), 0)
    return items[offset:] if limit is None else items[offset : offset + max(int(limit), 0)]
