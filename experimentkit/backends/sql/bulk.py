"""Bulk metric writes for ``SqlObserver``: rows as plain tuples straight to the DBAPI driver.

Building one dict per row and letting SQLAlchemy compile an ``insert()`` costs ~15-20 µs a row,
below what a training loop logs.  Here a batch's columns are checked at C speed (``set(map(type,
...))``, one ``sum`` for finiteness) and handed to the driver: ``COPY ... FROM STDIN`` on
psycopg2, ``LOAD DATA LOCAL INFILE`` of the same text from a temporary file with PyMySQL on
MySQL/MariaDB, else multi-row ``INSERT`` texts written whole (PyMySQL's ``executemany`` escaped
each value in Python), multi-row ``INSERT`` statements of bound parameters on SQLite,
``executemany`` of tuples elsewhere, in chunks of ``CHUNK`` rows so that no single buffer grows
with the batch.
Rows are exactly what the SQLAlchemy path stored (same text for SQLite times, NULL for values that
are not finite numbers and steps that are not integers).  Each chunk is also stored packed, as one
``metric_block`` row (see ``schema.metric_block``), for readers of long series; on PostgreSQL the
transaction tells the triggers on ``metric`` that these rows come with their block
(``common.WRITER_SETTING``), and that a chunk without one does not (its series is read from the rows).
"""

from __future__ import annotations

import bisect
import datetime as _dt
import io
import itertools
import math
import operator
import sys
import tempfile
import weakref
import zlib
from array import array
from typing import Any, Optional

from .common import WRITER_SETTING

__all__ = [
    "metric_columns",
    "insert_metric_rows",
    "packed_block",
    "time_columns",
    "sqlite_time_texts",
    "CHUNK",
]

CHUNK = 20_000  # rows per executemany / COPY buffer
_INSERT = "INSERT INTO metric (run_id, name, step, value, timestamp) VALUES ({0}, {0}, {0}, {0}, {0})"
_BLOCK = (
    "INSERT INTO metric_block (run_id, name, point_count, steps, vals, times)"
    " VALUES ({0}, {0}, {0}, {0}, {0}, {0})"
)
# SQLite: one statement appends ``_SQLITE_ROWS`` rows, the run id and name bound once (?1, ?2) and
# three values a row; 2 + 3 * 200 parameters stay within the 999 of SQLite before 3.32
_SQLITE_ROWS = 200
_SQLITE_MANY = "INSERT INTO metric (run_id, name, step, value, timestamp) VALUES " + ",".join(
    f"(?1, ?2, ?{3 + 3 * i}, ?{4 + 3 * i}, ?{5 + 3 * i})" for i in range(_SQLITE_ROWS)
)
_MYSQL_INSERT = "INSERT INTO metric (run_id, name, step, value, `timestamp`) VALUES "
_MYSQL_STATEMENT = 1_000_000  # bytes; far below max_allowed_packet's defaults (4-64 MB)
_LOAD_DATA = (
    "LOAD DATA LOCAL INFILE %s INTO TABLE metric CHARACTER SET utf8mb4"
    " FIELDS TERMINATED BY X'09' ESCAPED BY X'5C' LINES TERMINATED BY X'0A'"
    " (run_id, name, step, value, `timestamp`)"
)
# "not allowed": the server's local_infile is off (1148; 4166 MariaDB 10.5+, 3948 MySQL 8), or the
# client did not ask for the capability (2068)
_LOAD_DATA_REFUSED = frozenset({1148, 3948, 2068, 4166})
_NO_LOAD_DATA: weakref.WeakSet = weakref.WeakSet()  # DBAPI connections refused LOAD DATA LOCAL
_WRITER = f"SELECT set_config('{WRITER_SETTING}', %s, true)"  # psycopg2's marker: PostgreSQL only
_EPOCH = _dt.datetime(1970, 1, 1)
_ONE_US = _dt.timedelta(microseconds=1)
_COPY = 'COPY metric (run_id, name, step, value, "timestamp") FROM STDIN'
_NUMBERS = frozenset({int, float})
_MICROSECOND = operator.attrgetter("microsecond")
_TZINFO = operator.attrgetter("tzinfo")


def metric_columns(steps: list, values: list, stamps: list) -> tuple:
    """``(steps, values, stamps)`` as stored: int-or-None steps, finite-float-or-None values,
    naive-UTC datetimes (tz-aware ones converted)."""
    if not set(map(type, steps)) <= {int}:
        steps = [_int_or_none(s) for s in steps]
    if not (set(map(type, values)) <= _NUMBERS and _all_finite(values)):
        values = [_finite(v) for v in values]
    if set(map(type, stamps)) != {_dt.datetime} or set(map(_TZINFO, stamps)) != {None}:
        stamps = [_naive_utc(s) for s in stamps]
    return steps, values, stamps


def insert_metric_rows(conn: Any, run_id: str, name: str, steps: list, values: list, stamps: list) -> None:
    """Append the points (columns from ``metric_columns``) to ``metric``, and each chunk packed to
    ``metric_block``, inside ``conn``'s transaction (a SQLAlchemy ``Connection``)."""
    dialect = conn.dialect.name
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    cursor = conn.connection.dbapi_connection.cursor()
    copy = dialect == "postgresql" and hasattr(cursor, "copy_expert")
    marked: Optional[bool] = None  # what the triggers were told of this transaction's statements
    try:
        for lo in range(0, len(steps), CHUNK):
            hi = lo + CHUNK
            s, v, t = steps[lo:hi], values[lo:hi], stamps[lo:hi]
            texts, micros = time_columns(t, texts=copy or dialect != "postgresql")
            block = packed_block(s, v, micros)
            if dialect == "postgresql" and marked is not (block is not None):
                marked = block is not None
                cursor.execute(_WRITER, ("on" if marked else "off",))
            if copy:
                cursor.copy_expert(_COPY, io.StringIO(_copy_text(run_id, name, s, v, texts)))
            elif dialect == "sqlite":
                _sqlite_rows(cursor, run_id, name, s, v, texts)
            elif dialect in ("mysql", "mariadb") and hasattr(cursor, "mogrify"):
                # a chunk with a block has 64-bit steps and times, all given: LOAD DATA can take it
                if not (block is not None and _load_data(cursor, run_id, name, s, v, t, texts)):
                    for statement in _mysql_inserts(cursor, run_id, name, s, v, texts):
                        cursor.execute(statement)
            else:
                cursor.executemany(
                    _INSERT.format(marker),
                    list(zip(itertools.repeat(run_id), itertools.repeat(name), s, v, t)),
                )
            if block is not None:
                cursor.execute(_BLOCK.format(marker), (run_id, name, len(s), *block))
    finally:
        cursor.close()


def packed_block(steps: list, values: list, micros: Optional[list]) -> Optional[tuple]:
    """``(steps, vals, times)`` of one chunk (stored steps and values, times from
    ``time_columns``) as little-endian int64 (zlib-compressed) / float64 / int64 microseconds
    (zlib-compressed) bytes; None when a step or a time is
    NULL or a step does not fit in 64 bits (that chunk is kept only as rows, and readers of its
    metric use the rows).  Each column is converted by one C-level pass; a NULL shows up as the
    TypeError of that pass."""
    if micros is None:
        return None
    try:
        packed = [array("q", steps), array("q", micros)]
    except (TypeError, OverflowError):
        return None
    try:
        packed.insert(1, array("d", values))
    except TypeError:  # NULL values: NaN in the block
        packed.insert(1, array("d", [math.nan if x is None else x for x in values]))
    if sys.byteorder == "big":
        for column in packed:
            column.byteswap()
    steps_bytes, values_bytes, times_bytes = (column.tobytes() for column in packed)
    # steps and times are regular (zlib's fastest level takes them to ~1/5 at ~50 ns a point);
    # values rarely are, and stay as they are
    return zlib.compress(steps_bytes, 1), values_bytes, zlib.compress(times_bytes, 1)


def time_columns(stamps: list, texts: bool = True) -> tuple:
    """``(texts, micros)`` of naive datetimes (or None): ``texts`` as SQLAlchemy stores them in
    SQLite (``YYYY-MM-DD HH:MM:SS.ffffff``, None when not asked for), ``micros`` the microseconds
    since 1970 (None when some time is NULL).

    Sorted stamps (what a run logs) are done a second at a time: the second's text and offset once,
    the microseconds of all its points in one ``%`` operation and one ``map`` (~0.1 µs a point,
    not ~0.6)."""
    if None in stamps:
        return [None if s is None else s.isoformat(" ", "microseconds") for s in stamps], None
    if not all(map(operator.le, stamps, itertools.islice(stamps, 1, None))):
        text = [s.isoformat(" ", "microseconds") for s in stamps] if texts else None
        return text, [(s - _EPOCH) // _ONE_US for s in stamps]
    micros = list(map(_MICROSECOND, stamps))
    parts: list = []
    since: list = []
    start, count = 0, len(stamps)
    while start < count:
        second = stamps[start]
        end = bisect.bisect_right(stamps, second.replace(microsecond=999_999), start)
        whole = second.replace(microsecond=0)
        if texts:
            parts.append(f"{whole.isoformat(' ')}.%06d\n" * (end - start) % tuple(micros[start:end]))
        since += map(
            operator.add, micros[start:end], itertools.repeat((whole - _EPOCH) // _ONE_US, end - start)
        )
        start = end
    return ("".join(parts).split("\n")[:-1] if texts else None), since


def sqlite_time_texts(stamps: list) -> list:
    """Naive datetimes (or None) as SQLAlchemy stores them in SQLite (see ``time_columns``)."""
    return time_columns(stamps)[0]


def _sqlite_rows(cursor: Any, run_id: str, name: str, steps: list, values: list, times: list) -> None:
    """Append rows to ``metric`` on SQLite, ``_SQLITE_ROWS`` to a statement (the rest one each).

    Why: each step of a statement opens the table's and the index's B-tree cursors and seeks to
    their ends, and sqlite3 binds each of its parameters with a Python call; a row per statement
    (``executemany`` of 5-tuples) cost ~1.5 µs of the writer's CPU a row, 200 rows a statement
    ~0.56 µs (``benchmarks/bench_sqlite_write_parts.py``, 10^6 points).
    The rows of a multi-row ``VALUES`` are inserted in their order, so ``metric_id`` still
    follows the points."""
    full = len(steps) - len(steps) % _SQLITE_ROWS
    if full:
        flat = list(itertools.chain.from_iterable(zip(steps[:full], values[:full], times[:full])))
        per = 3 * _SQLITE_ROWS
        cursor.executemany(
            _SQLITE_MANY, ([run_id, name, *flat[i : i + per]] for i in range(0, len(flat), per))
        )
    if full < len(steps):
        rest = zip(
            itertools.repeat(run_id), itertools.repeat(name), steps[full:], values[full:], times[full:]
        )
        cursor.executemany(_INSERT.format("?"), rest)


def _copy_text(run_id: str, name: str, steps: list, values: list, times: list) -> str:
    """Rows in PostgreSQL's COPY text format (tab-separated, ``\\N`` for NULL); ``times`` as
    ``time_columns`` gives them."""
    prefix = f"{_copy_escape(run_id)}\t{_copy_escape(name)}\t"
    if None in steps or None in values or None in times:
        return "".join(
            f"{prefix}{_null(s)}\t{_null(v)}\t{_null(t, str)}\n" for s, v, t in zip(steps, values, times)
        )
    return (
        (prefix.replace("%", "%%") + "%d\t%r\t%s\n")
        * len(steps)
        % tuple(itertools.chain.from_iterable(zip(steps, values, times)))
    )


def _mysql_inserts(cursor: Any, run_id: str, name: str, steps: list, values: list, times: list) -> list:
    """Multi-row ``INSERT ... VALUES`` statements of at most ~``_MYSQL_STATEMENT`` bytes, written
    whole at C speed: the driver's ``executemany`` escaped each value with Python calls (~15 µs a
    row in PyMySQL, more than the server's own work).  The two strings are escaped once, by the
    driver's ``mogrify``; steps and values are stored numbers (``%d``, ``repr``), times the texts of
    ``time_columns``, ``NULL`` for None."""
    prefix = "(" + ",".join(_mysql_literal(cursor, text) for text in (run_id, name)) + ","
    plain = None not in steps and None not in values and None not in times
    per = max(1, _MYSQL_STATEMENT // (len(prefix) + 80))  # a row's numbers and time: < 80 bytes
    statements = []
    for lo in range(0, len(steps), per):
        s, v, t = steps[lo : lo + per], values[lo : lo + per], times[lo : lo + per]
        if plain:
            rows = (
                (prefix.replace("%", "%%") + "%d,%r,'%s'),")
                * len(s)
                % tuple(itertools.chain.from_iterable(zip(s, v, t)))
            )
        else:
            rows = "".join(
                f"{prefix}{_null(a, str, 'NULL')},{_null(b, repr, 'NULL')},{_null(c, _quoted, 'NULL')}),"
                for a, b, c in zip(s, v, t)
            )
        statements.append(_MYSQL_INSERT + rows[:-1])
    return statements


def _load_data(
    cursor: Any, run_id: str, name: str, steps: list, values: list, stamps: list, times: list
) -> bool:
    """Append the rows with ``LOAD DATA LOCAL INFILE`` from a temporary file (PyMySQL reads only
    files); False, and nothing written, where it is not taken (another driver, a server or
    connection refusing it: remembered per connection) or the chunk is not plain (a step beyond
    64 bits, a time the column cannot hold).

    Why: the server parses a tab-separated row for ~1.5 µs less than a row of ``INSERT ... VALUES``
    text (~5 instead of ~6.5 µs of server CPU a row, InnoDB's index work being the rest), and the
    server, not the client, is what limits a MariaDB write.  With ``LOCAL`` the server turns a row
    it cannot store into a warning instead of an error, so only chunks known to be storable are
    sent this way: integer steps in 64 bits, finite values or NULL, times in DATETIME's years
    (``metric_columns`` made the values finite floats or None).
    The driver sends whatever file the server asks for while such a statement runs, so the
    connection allows it only during this statement (``_create_engine`` opens it with the
    capability and turns it off).
    """
    raw = cursor.connection
    if not hasattr(raw, "_local_infile") or raw in _NO_LOAD_DATA:
        return False
    if min(stamps).year < 1000:
        return False
    with tempfile.NamedTemporaryFile("wb", prefix="experimentkit-", suffix=".tsv") as data:
        data.write(_copy_text(run_id, name, steps, values, times).encode("utf-8"))  # COPY's format
        data.flush()
        raw._local_infile = True
        try:
            cursor.execute(_LOAD_DATA, (data.name,))
        except Exception as exc:  # refused: the same statement as INSERT texts, now and from now on
            if getattr(exc, "args", (None,))[0] not in _LOAD_DATA_REFUSED:
                raise
            _NO_LOAD_DATA.add(raw)
            return False
        finally:
            raw._local_infile = False
    return True


def _mysql_literal(cursor: Any, text: str) -> str:
    """``text`` as the driver's SQL string literal (``mogrify`` honours the server's SQL mode;
    PyMySQL answers text, mysqlclient bytes)."""
    literal = cursor.mogrify("%s", (text,))
    return literal.decode("utf-8") if isinstance(literal, bytes) else literal


def _quoted(text: str) -> str:
    return f"'{text}'"


def _naive_utc(stamp: Any) -> Optional[_dt.datetime]:
    if not isinstance(stamp, _dt.datetime):
        return None
    return stamp if stamp.tzinfo is None else stamp.astimezone(_dt.timezone.utc).replace(tzinfo=None)


def _null(value: Any, text: Any = repr, null: str = "\\N") -> str:
    return null if value is None else text(value)


def _copy_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _all_finite(values: list) -> bool:
    """One C-speed pass: a sum is finite only if every term is (overflow errs on the safe side)."""
    try:
        return math.isfinite(sum(values, 0.0))
    except OverflowError:
        return False


def _finite(value: Any) -> Optional[float]:
    """A float for SQL, or None for what is not a finite number (MySQL cannot store NaN or inf)."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _int_or_none(value: Any) -> Optional[int]:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
