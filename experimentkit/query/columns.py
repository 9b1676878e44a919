"""Metric columns from their stored JSON text, built by numpy in C without a Python object per point.

A metric of 10^6 points read through ``json.loads`` makes 3 x 10^6 Python objects and, for the
timestamps, 10^6 ``datetime`` parses: most of the time of reading a run back.  Stores hand
:class:`~experimentkit.query.base.ColumnSeries` the columns as *JSON item text* (the bytes between
the brackets of a JSON list: ``1,2,3``, ``"2024-01-01T00:00:00",...``); the functions here turn such
text into numpy arrays directly, and answer None whenever the text is anything else than the plain
form they parse (then the caller decodes the JSON, which is always right).
"""

from __future__ import annotations

import json
import warnings
from typing import Any, Optional

__all__ = ["json_list", "int_column", "float_column", "time_column"]

_INT_CHARS = b"0123456789,-"
_DECIMAL_CHARS = b"0123456789,-."
#: A decimal of at most this many digits is its digits as an integer divided by a power of ten,
#: both exact in a double, so one IEEE division rounds it correctly (what ``float()`` gives).
_EXACT_DIGITS = 15
_TIME_LENGTHS = (19, 26)  # "YYYY-MM-DDTHH:MM:SS", and with ".ffffff"


def json_list(items: bytes) -> list:
    """The Python list whose JSON item text is ``items``."""
    return json.loads(b"[" + items + b"]") if items else []


def _count(items: bytes) -> int:
    return items.count(b",") + 1 if items else 0


def int_column(np: Any, items: bytes) -> Optional[Any]:
    """``int64`` array of a column of plain integers, else None."""
    if not items:
        return np.empty(0, dtype=np.int64)
    if items.translate(None, _INT_CHARS):
        return None
    try:
        out = np.fromstring(items, dtype=np.int64, sep=",")
    except ValueError:
        return None
    if len(out) != _count(items) or (len(out) and np.abs(out).max() >= 10**18):
        return None  # a 19-digit number may not fit: Python's ints decide
    return out


def float_column(np: Any, items: bytes) -> Optional[Any]:
    """``float64`` array of a column of JSON numbers (NaN/Infinity as Python writes them), else
    None (``null``, strings, booleans ... take the JSON path)."""
    if not items:
        return np.empty(0, dtype=float)
    if b'"' in items:
        return None
    if not items.translate(None, _DECIMAL_CHARS):
        out = _short_decimals(np, items)
        if out is not None:
            return out
    try:
        out = np.fromstring(items, dtype=float, sep=",")
    except ValueError:
        return None
    return out if len(out) == _count(items) else None


def _short_decimals(np: Any, items: bytes) -> Optional[Any]:
    """Numbers written as ``-?digits.digits`` with at most ``_EXACT_DIGITS`` digits (what ``repr``
    gives for most logged floats), parsed as integers and scaled: several times quicker than
    parsing each as a float.  None when some item does not have that form."""
    buf = np.frombuffer(items, dtype=np.uint8)
    commas = np.flatnonzero(buf == ord(","))
    dots = np.flatnonzero(buf == ord("."))
    if len(dots) != len(commas) + 1:
        return None  # not one dot per item (integers among them: the general parser)
    starts = np.concatenate(([0], commas + 1))
    ends = np.concatenate((commas, [len(buf)]))
    negative = buf[np.minimum(starts, len(buf) - 1)] == ord("-")
    # each dot inside its own item, with a digit on both sides ("-.5", "5." are not JSON)
    if not ((dots > starts + negative) & (dots < ends - 1)).all():
        return None
    scale = ends - dots - 1
    if (ends - starts - negative - 1 > _EXACT_DIGITS).any():
        return None
    try:
        whole = np.fromstring(items.replace(b".", b""), dtype=np.int64, sep=",")
    except ValueError:
        return None
    if len(whole) != len(starts):
        return None
    out = np.abs(whole) / (10.0 ** np.arange(_EXACT_DIGITS + 1))[scale]
    out[negative] *= -1  # also -0.0
    return out


def time_column(np: Any, items: bytes) -> Optional[Any]:
    """``datetime64[us]`` array of a column of quoted naive ISO times (``T`` or a space between
    date and time, with or without 6 digits of microseconds), else None (time zones, other forms:
    the caller parses them one by one).

    Times of one width are cut by a reshape and parsed by numpy; the few without a fraction
    (``isoformat`` leaves out ``.000000``) get it back first, so the column has one width."""
    if not items:
        return np.empty(0, dtype="datetime64[us]")
    count = _count(items)
    texts = _fixed_width(np, items, count)
    if texts is None:
        buf = np.frombuffer(items, dtype=np.uint8)
        quotes = np.flatnonzero(buf == ord('"'))
        if len(quotes) != 2 * count:
            return None
        ends = quotes[1::2]
        lengths = ends - quotes[0::2] - 1
        if not ((lengths == _TIME_LENGTHS[0]) | (lengths == _TIME_LENGTHS[1])).all():
            return None
        parts: list = []
        start = 0
        for end in ends[lengths == _TIME_LENGTHS[0]].tolist():
            parts += (items[start:end], b".000000")
            start = end
        texts = _fixed_width(np, b"".join(parts) + items[start:], count)
        if texts is None:
            return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a time zone is a warning in numpy: the slow path
            return texts.astype("datetime64[us]")
    except (ValueError, Warning):
        return None


def _fixed_width(np: Any, items: bytes, count: int) -> Optional[Any]:
    """The quoted times of ``items`` as a fixed-width ``S`` array when they all have one width
    and the date and time separators in place, else None."""
    width, extra = divmod(len(items) + 1, count)
    if extra or width - 3 not in _TIME_LENGTHS:
        return None
    rows = np.frombuffer(items + b",", dtype=np.uint8).reshape(count, width)
    marks = [(0, '"'), (-2, '"'), (-1, ","), (5, "-"), (8, "-"), (14, ":"), (17, ":")]
    if not all((rows[:, at] == ord(mark)).all() for at, mark in marks):
        return None
    if not ((rows[:, 11] == ord("T")) | (rows[:, 11] == ord(" "))).all():
        return None
    # numpy parses the digits (and refuses anything else in them)
    return np.ascontiguousarray(rows[:, 1:-2]).view(f"S{width - 3}").ravel()
