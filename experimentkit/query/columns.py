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
import sys
import warnings
from typing import Any, Optional

__all__ = ["json_list", "int_column", "float_column", "time_column"]

_INT_CHARS = b"0123456789,-"
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
    None (``null``, strings, booleans ... take the JSON path).

    Each number is read as its digits (an integer) and a power of ten, and divided in C: exactly
    ``float()``'s result, as the notes on ``_EXACT_POWER`` and ``_LONG_POWER`` explain.  Numbers in
    exponent form, NaN and Infinity are read one by one when they are few; otherwise, and where the
    division cannot be made exact, numpy's own parser reads the column."""
    if not items:
        return np.empty(0, dtype=float)
    if b'"' in items:
        return None
    out = _decimals(np, items)
    if out is not None:
        return out
    try:
        out = np.fromstring(items, dtype=float, sep=",")
    except ValueError:
        return None
    return out if len(out) == _count(items) else None


#: Powers of ten exact in a double (5**22 < 2**53): an integer below 2**53 divided by one of them
#: is rounded once, so the quotient is the correctly rounded value of the decimal.
_EXACT_POWER = 22
_SAFE_INTEGER = 2**53
#: With an 80-bit ``long double`` (64-bit significand) the integers of up to 18 digits and the
#: powers up to 10**27 are exact, and a quotient rounded to 64 bits rounds to the same double as
#: the exact one unless it lies exactly halfway between two doubles: its 11 extra bits are then
#: 10000000000, and such numbers (about one in 2,000) are read by ``float()``.
_LONG_POWER = 27
_MAX_WHOLE = 10**18
_HALFWAY = 0x400
_PLAIN = bytes(range(48, 58)) + b",-."  # digits, comma, minus, dot


def _long_double_ok(np: Any) -> bool:
    """Whether numpy's ``longdouble`` is the x87 80-bit format stored in 16 bytes, little-endian
    (Linux and macOS on x86-64), whose significand ``_decimals`` reads from the low 8 bytes."""
    info = np.finfo(np.longdouble)
    if not (info.nmant == 63 and np.dtype(np.longdouble).itemsize == 16 and sys.byteorder == "little"):
        return False
    # and its arithmetic rounds to 64 bits (native code can lower the x87 precision to 53)
    big = np.longdouble(2**62)
    return bool((big + np.longdouble(1)) - big == 1)


def _decimals(np: Any, items: bytes) -> Optional[Any]:
    """The numbers of ``items`` (see ``float_column``), or None when numpy's parser should read
    them (many exponents, more than 18 digits, no exact division on this machine)."""
    buf = np.frombuffer(items, dtype=np.uint8)
    commas = np.flatnonzero(buf == ord(","))
    count = len(commas) + 1
    starts = np.concatenate(([0], commas + 1))
    ends = np.concatenate((commas, [len(buf)]))
    if (ends <= starts).any():
        return None  # an empty item
    singles: dict = {}
    if items.translate(None, _PLAIN):  # exponents, NaN, Infinity, or not numbers at all
        shifted = buf - np.uint8(ord(","))  # the plain bytes become 0, 1, 2 and 4 .. 13
        odd = np.unique(np.searchsorted(commas, np.flatnonzero((shifted > 13) | (shifted == 3))))
        if len(odd) > count // 16:
            return None
        editable = bytearray(items)
        for index in odd.tolist():
            start, end = int(starts[index]), int(ends[index])
            try:
                value = json.loads(items[start:end])
            except ValueError:
                return None
            if type(value) not in (int, float) or end - start < 3:
                return None  # true, false: the JSON path decides
            try:
                singles[index] = float(value)
            except OverflowError:
                return None
            editable[start:end] = b"0." + b"0" * (end - start - 2)  # a stand-in of one width
        items = bytes(editable)
        buf = np.frombuffer(items, dtype=np.uint8)
    dots = np.flatnonzero(buf == ord("."))
    if len(dots) == count:
        owner = np.arange(count)  # one dot per item if each lies inside its own (checked below)
    else:
        owner = np.searchsorted(commas, dots)
        if (np.diff(owner) == 0).any():
            return None  # two dots in one item
    negative = buf[starts] == ord("-")
    if np.count_nonzero(negative) != items.count(b"-"):
        return None  # a minus that does not start its item
    # each dot inside its item with a digit on both sides ("-.5", "5." are not JSON)
    if not ((dots > starts[owner] + negative[owner]) & (dots < ends[owner] - 1)).all():
        return None
    if (ends - starts == negative).any():
        return None  # a lone minus
    scale = np.zeros(count, dtype=np.intp)
    scale[owner] = ends[owner] - dots - 1
    try:
        whole = np.fromstring(items.replace(b".", b"") if len(dots) else items, dtype=np.int64, sep=",")
    except ValueError:
        return None
    if len(whole) != count:
        return None
    whole = np.abs(whole)
    if len(whole) and (whole.max() >= _MAX_WHOLE or scale.max() > _LONG_POWER):
        return None  # a clamped (too long) integer, or a power a long double cannot hold exactly
    hard = (whole > _SAFE_INTEGER) | (scale > _EXACT_POWER)
    out = whole / _powers(np, float)[np.minimum(scale, _EXACT_POWER)]
    if hard.any():
        if not _long_double_ok(np):
            return None
        picked = np.flatnonzero(hard)
        quotient = whole[picked].astype(np.longdouble) / _powers(np, np.longdouble)[scale[picked]]
        out[picked] = quotient.astype(float)
        significand = quotient.view(np.uint64)[0::2]
        for index in picked[(significand & 0x7FF) == _HALFWAY].tolist():
            out[index] = float(items[starts[index] : ends[index]])
    np.negative(out, out=out, where=negative)  # also -0.0
    for index, value in singles.items():
        out[index] = value
    return out


_POWERS: dict = {}


def _powers(np: Any, dtype: Any) -> Any:
    """10**0 .. 10**27 in ``dtype``, each exact while it fits the significand (built by
    multiplying by ten, which is exact for those)."""
    key = np.dtype(dtype).name
    if key not in _POWERS:
        powers = np.ones(_LONG_POWER + 1, dtype=dtype)
        for k in range(1, _LONG_POWER + 1):
            powers[k] = powers[k - 1] * dtype(10)
        _POWERS[key] = powers
    return _POWERS[key]


def time_column(np: Any, items: bytes) -> Optional[Any]:
    """``datetime64[us]`` array of a column of quoted naive ISO times (``T`` or a space between
    date and time, with or without 6 digits of microseconds), else None (time zones, other forms:
    the caller parses them one by one).

    Times of one width are read in place as fixed-width strings and parsed by numpy; the few
    without a fraction (``isoformat`` leaves out ``.000000``) get it back first, so the column has
    one width."""
    if not items:
        return np.empty(0, dtype="datetime64[us]")
    count = _count(items)
    texts = _fixed_width(np, items, count)
    if texts is None:
        # the items' lengths from their commas (quotes and the rest are checked once widened)
        commas = np.flatnonzero(np.frombuffer(items, dtype=np.uint8) == ord(","))
        ends = np.append(commas, len(items))
        lengths = np.diff(ends, prepend=-1) - 3  # the text between the quotes
        if not ((lengths == _TIME_LENGTHS[0]) | (lengths == _TIME_LENGTHS[1])).all():
            return None
        parts: list = []
        start = 0
        for end in (ends[lengths == _TIME_LENGTHS[0]] - 1).tolist():  # before the closing quote
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
    """The quoted times of ``items`` as an ``S`` array looking into ``items`` (no copy) when they
    all have one width and the date and time separators in place, else None."""
    width, extra = divmod(len(items) + 1, count)
    if extra or width - 3 not in _TIME_LENGTHS:
        return None
    buf = np.frombuffer(items, dtype=np.uint8)
    # row i is the i-th item with its comma (the last item has none: its row is one byte short)
    rows = np.lib.stride_tricks.as_strided(buf, shape=(count, width - 1), strides=(width, 1))
    if not (buf[width - 1 :: width] == ord(",")).all():
        return None
    marks = [(0, '"'), (-1, '"'), (5, "-"), (8, "-"), (14, ":"), (17, ":")]
    if not all((rows[:, at] == ord(mark)).all() for at, mark in marks):
        return None
    if not ((rows[:, 11] == ord("T")) | (rows[:, 11] == ord(" "))).all():
        return None
    # numpy parses the digits (and refuses anything else in them)
    return np.ndarray((count,), dtype=f"S{width - 3}", buffer=items, offset=1, strides=(width,))
