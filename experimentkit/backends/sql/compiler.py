"""The query compiler of the SQL layout: filters and orders of a :class:`Query` as SQL text and
parameters, in the SQLite, PostgreSQL and MySQL/MariaDB dialects.

Why one compiler: the semantics of :mod:`experimentkit.query.semantics` (JSON type checks, type
ranks, missing-last, the natural-id tie-break, text ordered by code point) are subtle, and every
copy of their translation drifts.  ``SqlStore`` (through SQLAlchemy's connection), the stdlib SQLite
path (``fast_sqlite``), the psycopg2 and PyMySQL paths (``fast_server``) and the file store's SQLite
index (``backends/file/index.py``) send what this module compiles; a dialect differs only in the
building blocks (how JSON is read, how text is collated, what "false" is, the parameter style), a
:class:`Layout` only in where the tables keep each key (the SQL stores' tables, the index's).

Importing this module costs nothing beyond the standard library: the fast paths must not load
SQLAlchemy.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Collection, Sequence
from typing import Any, NamedTuple, Optional

from ...query.base import INT_TEXT, MAX_SQL_IN_VALUES, TIME_KEYS, Filter, Key, Query
from .common import EXPERIMENT_COLUMNS, HOST_COLUMNS

__all__ = [
    "Dialect",
    "SQLITE",
    "POSTGRESQL",
    "MYSQL",
    "JsonRoot",
    "Layout",
    "SQL_LAYOUT",
    "Operand",
    "QueryCompiler",
    "select_runs",
    "where",
    "sqlite_time",
]

_COMPARE = ("<", "<=", ">", ">=")
_JSONPICKLE = "'\"py/'"  # SQL text of the mark of Sacred's jsonpickle forms
_INT64 = 2**63
#: The aggregate types of a typed metric table (NaN is a number without a value; "null": None).
_METRIC_KINDS = (
    ("integer", "n"),
    ("real", "n"),
    ("nan", "n"),
    ("true", "b"),
    ("false", "b"),
    ("text", "s"),
    ("other", "o"),
)

_RUN_COLUMNS = (
    "run_id",
    "status",
    "command",
    "comment",
    "priority",
    "start_time",
    "stop_time",
    "heartbeat",
    "fail_trace",
    "config",
    "info",
    "meta",
    "host_info",
    "result",
    "result_json",
    "note",
    "experiment_id",
)
_JOINED_COLUMNS = (
    "experiment.name AS ex_name",
    "experiment.base_dir AS ex_base_dir",
    "experiment.mainfile AS ex_mainfile",
    "host.hostname AS h_hostname",
    "host.cpu AS h_cpu",
    "host.os AS h_os",
    "host.os_info AS h_os_info",
    "host.python_version AS h_python_version",
)
FROM_RUNS = (
    " FROM run LEFT OUTER JOIN experiment ON run.experiment_id = experiment.experiment_id"
    " LEFT OUTER JOIN host ON run.host_id = host.host_id"
)
"""The run/experiment/host join every run query reads (``common.record_from_row``'s row)."""


def select_runs(extra: Sequence[str] = ()) -> str:
    """``SELECT`` of the columns ``record_from_row`` reads, plus ``extra`` ones, from the join."""
    columns = [f"run.{c}" for c in _RUN_COLUMNS] + list(_JOINED_COLUMNS) + list(extra)
    return "SELECT " + ", ".join(columns) + FROM_RUNS


def where(conditions: Sequence[str]) -> str:
    """`` WHERE`` joining ``conditions`` with AND ("" when there are none)."""
    return " WHERE " + " AND ".join(f"({c})" for c in conditions) if conditions else ""


def sqlite_time(value: _dt.datetime) -> str:
    """A datetime as SQLAlchemy stores it in SQLite (so that text comparison orders times)."""
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d} {value.hour:02d}:"
        f"{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}"
    )


# --------------------------------------------------------------------------------------------------
# dialects
# --------------------------------------------------------------------------------------------------
class Dialect(NamedTuple):
    """The building blocks in which the SQL databases differ.

    ``json_kinds``: the database's JSON type names mapped to the compiler's kinds (``n`` number,
    ``b`` bool, ``s`` string, ``z`` null, ``o`` list or object); ``json_true``: what the extracted
    text of a JSON ``true`` equals; ``number_types``: the JSON type names of numbers.
    """

    name: str
    false: str
    true: str
    json_kinds: tuple
    json_true: str
    number_types: tuple

    @property
    def mysql(self) -> bool:
        return self.name == "mysql"

    def placeholder(self, name: str) -> str:
        return ":" + name if self.name == "sqlite" else f"%({name})s"

    def quote(self, name: str) -> str:
        """An identifier that is a reserved word (``commit``)."""
        return f"`{name}`" if self.mysql else f'"{name}"'

    def text(self, expr: str) -> str:
        """``expr`` compared and ordered by code point, as Python compares strings."""
        if self.mysql:
            return f"CAST({expr} AS BINARY)"
        return f'({expr}) COLLATE "C"' if self.name == "postgresql" else f"({expr})"

    def position(self, expr: str, value: str) -> str:
        """Where ``value`` starts in ``expr`` (0: nowhere)."""
        return f"strpos({expr}, {value})" if self.name == "postgresql" else f"instr({expr}, {value})"

    def contains(self, expr: str, value: str) -> str:
        """``value`` is a substring of ``expr``, compared by code point."""
        if self.mysql:
            return f"{self.position(self.text(expr), self.text(value))} > 0"
        return f"{self.position(expr, value)} > 0"

    def bigint(self, expr: str) -> str:
        return f"CAST({expr} AS {'SIGNED' if self.mysql else 'BIGINT'})"

    def is_int_text(self, expr: str) -> str:
        """SQL true when ``expr`` looks like an integer (``-?[0-9]+``, 18 digits at most)."""
        if self.name != "sqlite":
            match = "REGEXP" if self.mysql else "~"
            return f"{expr} {match} '^-?[0-9]+$' AND length({expr}) <= 18"
        digits = f"CASE WHEN {expr} LIKE '-%' THEN substr({expr}, 2) ELSE {expr} END"
        return f"({digits}) != '' AND ({digits}) NOT GLOB '*[^0-9]*' AND length({expr}) <= 18"

    def json_parts(self, column: str, path: Sequence[str], param: Any) -> tuple:
        """(raw type, value as SQL text, value as a number) of ``path`` in the JSON ``column``."""
        if self.name == "postgresql":
            doc = f"CAST({column} AS JSONB)"
            if path:
                labels = ", ".join(param(p) for p in path)
                node = f"jsonb_extract_path({doc}, {labels})"
                text = f"jsonb_extract_path_text({doc}, {labels})"
            else:
                node, text = doc, f"({doc} #>> '{{}}')"
            return f"jsonb_typeof({node})", text, f"CAST({text} AS FLOAT)"
        json_path = param("$" + "".join(f'."{p}"' for p in path))
        if self.mysql:
            node = f"json_extract({column}, {json_path})"
            return f"json_type({node})", f"json_unquote({node})", f"(json_unquote({node}) + 0e0)"
        text = f"json_extract({column}, {json_path})"
        return f"json_type({column}, {json_path})", text, text

    def elements(self, column: str, path: Sequence[str], param: Any) -> Optional[tuple]:
        """How SQL reads the elements of a list at ``path`` in the JSON ``column``: (the table
        of its elements, true when the value is a list, an element's raw type, its value as text,
        as a number), or None when Python matches list elements (MySQL/MariaDB)."""
        if self.name == "postgresql":
            doc = f"CAST({column} AS JSONB)"
            node = f"jsonb_extract_path({doc}, {', '.join(param(p) for p in path)})" if path else doc
            is_list = f"jsonb_typeof({node}) = 'array'"
            # a value that is no list gives no elements (jsonb_array_elements would raise)
            source = (
                f"jsonb_array_elements(CASE WHEN {is_list} THEN {node} ELSE CAST('[]' AS JSONB) END) AS je"
            )
            text = "(je.value #>> '{}')"
            return (
                source,
                f"coalesce({is_list}, false)",
                "jsonb_typeof(je.value)",
                text,
                f"CAST({text} AS FLOAT)",
            )
        if self.name != "sqlite":
            return None
        json_path = param("$" + "".join(f'."{p}"' for p in path))
        is_list = f"coalesce(json_type({column}, {json_path}) = 'array', 0)"
        return f"json_each({column}, {json_path}) AS je", is_list, "je.type", "je.value", "je.value"

    def unparsable(self, column: str) -> str:
        """Rows whose JSON text may hold NaN/Infinity, which Python's ``json`` writes and reads
        but SQL JSON functions do not."""
        return " OR ".join(f"{self.position(column, repr(word))} > 0" for word in ("NaN", "Infinity"))

    def json_suspect(self, column: str) -> Optional[str]:
        """``unparsable`` rows on MariaDB/MySQL, which read JSON they cannot parse as NULL
        (silently): such rows are kept from its JSON functions and sent to Python.  SQLite and
        PostgreSQL raise instead (the stores then ask Python)."""
        return self.unparsable(column) if self.mysql else None

    def param_value(self, value: Any) -> Any:
        """A value as the driver must be given it (SQLite keeps times as SQLAlchemy's text)."""
        if self.name == "sqlite" and isinstance(value, _dt.datetime):
            return sqlite_time(value)
        return value

    def window(self, limit: Optional[int], offset: int) -> str:
        """``LIMIT``/``OFFSET`` (no limit: all rows)."""
        if limit is None:
            limit = {"sqlite": -1, "mysql": 18446744073709551615}.get(self.name)
        return f" LIMIT {'ALL' if limit is None else limit} OFFSET {offset}"

    def missing_last(self, present: str, terms: list) -> list:
        """ORDER BY ``terms`` with the rows whose value is missing last (the first term is NULL
        exactly for those; MySQL has no ``NULLS LAST``: a flag sorts first)."""
        if self.mysql:
            return [f"CASE WHEN {present} THEN 0 ELSE 1 END ASC", *terms]
        return [terms[0] + " NULLS LAST", *terms[1:]]


SQLITE = Dialect(
    name="sqlite",
    false="0",
    true="1",
    json_kinds=(
        ("integer", "n"),
        ("real", "n"),
        ("true", "b"),
        ("false", "b"),
        ("text", "s"),
        ("null", "z"),
        ("array", "o"),
        ("object", "o"),
    ),
    json_true="1",
    number_types=("integer", "real"),
)
POSTGRESQL = Dialect(
    name="postgresql",
    false="false",
    true="true",
    json_kinds=(
        ("number", "n"),
        ("boolean", "b"),
        ("string", "s"),
        ("null", "z"),
        ("array", "o"),
        ("object", "o"),
    ),
    json_true="'true'",
    number_types=("number",),
)
MYSQL = Dialect(
    name="mysql",
    false="false",
    true="true",
    json_kinds=(
        ("INTEGER", "n"),
        ("UNSIGNED INTEGER", "n"),
        ("DOUBLE", "n"),
        ("DECIMAL", "n"),
        ("BOOLEAN", "b"),
        ("STRING", "s"),
        ("NULL", "z"),
        ("ARRAY", "o"),
        ("OBJECT", "o"),
    ),
    json_true="'true'",
    number_types=("INTEGER", "UNSIGNED INTEGER", "DOUBLE", "DECIMAL"),
)


# --------------------------------------------------------------------------------------------------
# layouts: where the tables keep each key of a run
# --------------------------------------------------------------------------------------------------
class JsonRoot(NamedTuple):
    """A key root kept as JSON text in one column.

    ``whole``: the root alone (no path) is the whole document; ``numeric_fallback``: a column
    holding the value for rows without JSON (Sacred-era results); ``null_is_suspect``: a NULL
    column means "ask Python" (Sacred-era rows rebuilt from other columns); ``tagged_is_suspect``:
    values in Sacred's jsonpickle forms may be stored (only Python restores them).
    """

    column: str
    whole: bool = False
    numeric_fallback: Optional[str] = None
    null_is_suspect: bool = False
    tagged_is_suspect: bool = False


class Layout(NamedTuple):
    """Where a run's keys are kept: the tables the compiler writes SQL against.

    Two layouts share the compiler: the SQL stores' tables (:data:`SQL_LAYOUT`) and the file
    store's SQLite index (``backends.file.index``).  ``run_id``/``status``/``heartbeat``/
    ``start_time`` are columns of the run row; ``id_number`` a column holding the integer of an
    integer-looking id (NULL otherwise; None: derived from the text); ``text``/``times`` map a
    root to a text/time expression; ``columns`` a root to (table, columns) of fixed columns
    (``experiment.name``); ``json`` a root to its :class:`JsonRoot`; ``python_paths`` are
    (root, first part) pairs only Python reads.  Metrics come from one ``metric_summary`` row of
    floats per run and name (``typed_metrics`` False), or from a ``metric_table`` joined once per
    name whose aggregates carry their JSON type (``<agg>_t``: integer, real, true, false, nan,
    text, other, null) beside the value.  Tags are rows of a ``tag`` table, or (``tags_json``)
    a JSON list in a column.
    """

    run_id: str
    status: str
    heartbeat: str
    start_time: str
    text: tuple
    times: tuple
    json: tuple
    columns: tuple = ()
    python_paths: tuple = ()
    id_number: Optional[str] = None
    typed_metrics: bool = False
    metric_table: str = "metric_summary"
    tags_json: Optional[str] = None

    def json_root(self, root: str) -> Optional[JsonRoot]:
        return dict(self.json).get(root)


SQL_LAYOUT = Layout(
    run_id="run.run_id",
    status="run.status",
    heartbeat="run.heartbeat",
    start_time="run.start_time",
    text=(("command", "run.command"), ("notes", "coalesce(run.note, '')")),
    times=tuple((key, f"run.{key}") for key in TIME_KEYS),
    json=(
        ("host", JsonRoot("run.host_info", null_is_suspect=True)),
        ("config", JsonRoot("run.config", tagged_is_suspect=True)),
        ("info", JsonRoot("run.info", tagged_is_suspect=True)),
        ("meta", JsonRoot("run.meta", null_is_suspect=True)),
        (
            "result",
            JsonRoot("run.result_json", whole=True, numeric_fallback="run.result", tagged_is_suspect=True),
        ),
    ),
    columns=(("experiment", ("experiment", EXPERIMENT_COLUMNS)), ("host", ("host", HOST_COLUMNS))),
    python_paths=(("host", "os"),),
)
"""The SQL stores' tables (``schema.py``): the run joined with its experiment and host."""


# --------------------------------------------------------------------------------------------------
# operands: a key's value as SQL text, one expression per type
# --------------------------------------------------------------------------------------------------
class Operand:
    """The SQL view of one key, as SQL text.

    ``present``: the value is not None.  ``num``/``txt``/``time``/``boolean`` are the value when it
    is a number (bools excluded) / string / datetime / bool (1 or 0), else NULL (None: never of that
    type).  ``rank`` is the sort rank (0 numbers and bools, 1 strings, 3 lists and objects; None
    when the operand has a single type) and ``onum`` the number used to sort rank 0.  ``other``
    flags lists and objects (which only Python can sort).  ``suspect`` is true for rows whose JSON
    SQL must not parse (or, for a JSON column Sacred did not write, has no value to read);
    ``fast_num`` (SQLite) is the raw extracted value, a number only when ``num_check`` holds:
    comparing it first parses the JSON once for the rows the comparison rejects.  ``substring``
    allows ``contains`` as a substring test; ``exists``: the key is there, even with a JSON null
    (JSON operands only, ``is_json``).  ``elements`` (a list's elements are matched in SQL by
    ``contains`` and ``in``): (the table of its elements, true when the value is a list, the
    operand of one element).
    """

    # a plain class, not a dataclass: the file store imports this module for every query process
    __slots__ = (
        "present",
        "num",
        "txt",
        "time",
        "boolean",
        "rank",
        "onum",
        "other",
        "suspect",
        "is_json",
        "fast_num",
        "num_check",
        "substring",
        "is_id",
        "exists",
        "elements",
    )

    def __init__(
        self,
        present: Any,
        num: Any = None,
        txt: Any = None,
        time: Any = None,
        boolean: Any = None,
        rank: Any = None,
        onum: Any = None,
        other: Any = None,
        substring: bool = False,
        is_id: bool = False,
    ):
        self.present, self.num, self.txt, self.time, self.boolean = present, num, txt, time, boolean
        self.rank, self.onum, self.other, self.substring, self.is_id = rank, onum, other, substring, is_id
        self.suspect: Any = None
        self.is_json = False
        self.fast_num: Any = None
        self.num_check: Any = None
        self.exists: Any = None
        self.elements: Optional[tuple] = None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fits(value: Any) -> bool:
    """Whether SQL takes the number as a parameter as it is (SQLite binds 64-bit integers)."""
    return not isinstance(value, int) or -_INT64 <= value < _INT64


class QueryCompiler:
    """Turns filters and orders into SQL text of one dialect over one layout; values become
    parameters in ``params`` (named, in the dialect's parameter style).  One compiler per query:
    the statements that answer it share ``params`` and ``joins``.  ``python_roots``: roots
    whose stored copy is incomplete (only Python reads them)."""

    def __init__(
        self,
        dialect: Dialect,
        dead_cutoff: _dt.datetime,
        layout: Layout = SQL_LAYOUT,
        python_roots: Collection[str] = (),
    ):
        self.dialect = dialect
        self.layout = layout
        self.params: dict = {}
        self.dead_cutoff = dead_cutoff
        self.python_roots = frozenset(python_roots)
        self.joins: list = []  # LEFT JOINs the conditions and terms read (``join_sql``)
        self._metric_aliases: dict = {}

    def param(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = self.dialect.param_value(value)
        return self.dialect.placeholder(name)

    def join_sql(self) -> str:
        """The joins to write after the run table (typed metrics are joined once per name)."""
        return "".join(self.joins)

    def _coalesce(self, expr: str) -> str:
        return f"coalesce({expr}, {self.dialect.false})"

    # ---- key -> operand ---------------------------------------------------------------------------
    def operand(self, key: Key) -> Optional[Operand]:
        """The SQL view of a run key, or None when only Python can evaluate it."""
        root, path, true, lay = key.root, key.path, self.dialect.true, self.layout
        if root in self.python_roots or (path and (root, path[0]) in lay.python_paths):
            return None
        if root == "id":
            return Operand(present=true, txt=lay.run_id, is_id=True, substring=True)
        if root == "status":
            return Operand(present=true, txt=self.status_expr(), substring=True)
        text = dict(lay.text).get(root)
        if text is not None:
            return Operand(present=f"{text} IS NOT NULL", txt=text, substring=True)
        time = dict(lay.times).get(root)
        if time is not None:
            return Operand(present=f"{time} IS NOT NULL", time=time)
        table, names = dict(lay.columns).get(root, ("", ()))
        if len(path) == 1 and path[0] in names:
            column = f"{table}.{path[0]}"
            return Operand(present=f"{column} IS NOT NULL", txt=column, substring=True)
        json_root = lay.json_root(root)
        if json_root is not None and (path or json_root.whole):
            return self.json_operand(
                json_root.column,
                path,
                numeric_fallback=json_root.numeric_fallback,
                null_is_suspect=json_root.null_is_suspect,
                tagged_is_suspect=json_root.tagged_is_suspect,
            )
        if root == "tags" and lay.tags_json is not None:
            return self.json_operand(lay.tags_json, ())
        if root == "metrics":
            if lay.typed_metrics:
                return self.typed_metric(path[0], key.aggregate)
            value = self.metric_expr(path[0], key.aggregate)
            return Operand(present=f"{value} IS NOT NULL", num=value, onum=value)
        return None

    def typed(self, raw_type: str, kinds: Sequence[tuple], as_text: str, number: str) -> Operand:
        """The operand of a value of several types: ``raw_type`` names its type, ``kinds`` maps
        those names to the compiler's kinds (see :class:`Dialect`), ``as_text``/``number`` are
        the value as text / as a number."""
        kind = "CASE {} {} END".format(raw_type, " ".join(f"WHEN '{t}' THEN '{k}'" for t, k in kinds))
        return self._typed(kind, as_text, number)

    def _typed(self, kind: str, as_text: str, number: str) -> Operand:
        d = self.dialect
        boolean = f"CASE WHEN {kind} = 'b' THEN CASE WHEN {as_text} = {d.json_true} THEN 1 ELSE 0 END END"
        num = f"CASE WHEN {kind} = 'n' THEN {number} END"
        return Operand(
            present=f"({kind} IS NOT NULL AND {kind} != 'z')",
            num=num,
            txt=f"CASE WHEN {kind} = 's' THEN {as_text} END",
            boolean=boolean,
            rank=f"CASE WHEN {kind} IN ('n', 'b') THEN 0 WHEN {kind} = 's' THEN 1"
            f" WHEN {kind} = 'o' THEN 3 END",
            onum=f"CASE WHEN {kind} = 'n' THEN {num} WHEN {kind} = 'b' THEN {boolean} END",
            other=f"{kind} = 'o'",
            substring=True,
        )

    def json_operand(
        self,
        column: str,
        path: Sequence[str],
        numeric_fallback: Optional[str] = None,
        null_is_suspect: bool = False,
        tagged_is_suspect: bool = False,
    ) -> Optional[Operand]:
        """The value at ``path`` in the JSON text ``column`` (None when the path is not
        expressible: a part that may be a list index or needs escaping).  ``null_is_suspect``:
        a NULL column means "ask Python" (Sacred-era rows rebuilt from other columns)."""
        if any(INT_TEXT.match(p) or '"' in p or "\\" in p for p in path):
            return None
        d = self.dialect
        raw_type, as_text, number = d.json_parts(column, path, self.param)
        kind = "CASE {} {} END".format(raw_type, " ".join(f"WHEN '{t}' THEN '{k}'" for t, k in d.json_kinds))
        unreadable = d.json_suspect(column)
        if unreadable is not None:
            kind = f"CASE WHEN NOT ({unreadable}) THEN {kind} END"
        if numeric_fallback is not None:  # Sacred-era rows: no JSON, only the numeric column
            kind = (
                f"CASE WHEN {column} IS NULL THEN CASE WHEN {numeric_fallback} IS NOT NULL"
                f" THEN 'n' END ELSE {kind} END"
            )
            number = f"CASE WHEN {column} IS NULL THEN {numeric_fallback} ELSE {number} END"
        op = self._typed(kind, as_text, number)
        types = ", ".join(f"'{t}'" for t in d.number_types)
        op.suspect = self.suspect(column, null_is_suspect, tagged_is_suspect, unreadable)
        op.is_json = True
        op.fast_num = number if d.name == "sqlite" and numeric_fallback is None else None
        op.num_check = f"{raw_type} IN ({types})"
        op.exists = f"{raw_type} IS NOT NULL"
        elements = d.elements(column, path, self.param)
        if elements is not None:
            source, is_list, element_type, element_text, element_number = elements
            item = self.typed(element_type, d.json_kinds, element_text, element_number)
            if d.name == "sqlite":
                item.fast_num, item.num_check = element_number, f"{element_type} IN ({types})"
            op.elements = (source, is_list, item)
        return op

    def typed_metric(self, name: str, aggregate: Optional[str]) -> Operand:
        """The run's ``aggregate`` of metric ``name`` from a typed metric table (see
        :class:`Layout`), joined once per name."""
        alias = self._metric_aliases.get(name)
        if alias is None:
            alias = self._metric_aliases[name] = f"m{len(self._metric_aliases)}"
            self.joins.append(
                f" LEFT JOIN {self.layout.metric_table} AS {alias} ON {alias}.run_id = {self.layout.run_id}"
                f" AND {alias}.name = {self.param(name)}"
            )
        if aggregate not in ("last", "min", "max"):
            count = f"{alias}.count"
            return Operand(present=f"{count} IS NOT NULL", num=count, onum=count)
        raw_type, value = f"{alias}.{aggregate}_t", f"{alias}.{aggregate}"
        op = self.typed(raw_type, _METRIC_KINDS, value, value)
        op.fast_num, op.num_check = value, f"{raw_type} IN ('integer', 'real')"
        return op

    def suspect(self, column: str, null: bool, tagged: bool, unreadable: Optional[str]) -> Optional[str]:
        """Rows only Python may read: JSON the database cannot read (``unreadable``), a NULL
        column (Sacred-era rows), or values in Sacred's jsonpickle form (``{"py/object":
        "numpy.float64", "value": 0.9}``), which only ``safe_restore`` turns into numbers."""
        tag = f"{self.dialect.position(column, _JSONPICKLE)} > 0"
        checks = [unreadable] if unreadable else []
        checks += ([f"{column} IS NULL"] if null else []) + ([tag] if tagged else [])
        return " OR ".join(checks) or None

    def status_expr(self) -> str:
        """The effective status (DEAD for a RUNNING run without a recent sign of life)."""
        lay = self.layout
        alive = f"coalesce({lay.heartbeat}, {lay.start_time})"
        status = f"coalesce({lay.status}, 'RUNNING')"
        cutoff = self.param(self.dead_cutoff)
        return (
            f"CASE WHEN ({status} = 'RUNNING' AND ({alive} IS NULL OR {alive} < {cutoff}))"
            f" THEN 'DEAD' ELSE {status} END"
        )

    def metric_expr(self, name: str, aggregate: Optional[str]) -> str:
        """The run's ``aggregate`` of metric ``name``: one row of ``metric_summary`` (kept by the
        observer as points arrive), not a pass over the points."""
        column = {"last": "last_value", "min": "min_value", "max": "max_value"}.get(
            aggregate or "count", "point_count"
        )
        cond = f"ms.run_id = {self.layout.run_id} AND ms.name = {self.param(name)}"
        return f"(SELECT ms.{column} FROM {self.layout.metric_table} AS ms WHERE {cond})"

    def tags_condition(self, flt: Filter) -> Optional[str]:
        wanted = [flt.value] if flt.op == "contains" else (flt.value if flt.op == "in" else None)
        if wanted is None:
            return None
        names = [w for w in wanted if isinstance(w, str)]
        if not names:
            return self.dialect.false
        listed = ", ".join(self.param(name) for name in names)
        return f"EXISTS (SELECT 1 FROM tag WHERE tag.run_id = {self.layout.run_id} AND tag.tag IN ({listed}))"

    # ---- conditions -------------------------------------------------------------------------------
    def equal(self, op: Operand, value: Any) -> Optional[str]:
        """True exactly when the key's value equals ``value`` (never NULL); None: Python decides."""
        false = self.dialect.false
        if value is None:
            return f"NOT ({op.present})"
        if isinstance(value, bool):
            if op.boolean is None:
                return false
            return self._coalesce(f"({op.boolean}) = {self.param(int(value))}")
        if _is_number(value):
            if isinstance(value, float) and math.isnan(value):
                return false  # NaN equals nothing
            if not _fits(value):
                return None
            if op.fast_num is not None:
                return self._coalesce(f"({op.fast_num}) = {self.param(value)} AND {op.num_check}")
            return false if op.num is None else self._coalesce(f"({op.num}) = {self.param(value)}")
        if isinstance(value, str):
            # MySQL: the value as BINARY, so that JSON text (a collation ignoring trailing spaces)
            # compares exactly too; a column's index stays usable
            wanted = self.dialect.text(self.param(value)) if self.dialect.mysql else self.param(value)
            return false if op.txt is None else self._coalesce(f"({op.txt}) = {wanted}")
        if isinstance(value, _dt.datetime):
            return false if op.time is None else self._coalesce(f"{op.time} = {self.param(value)}")
        return None

    def condition(self, op: Operand, flt: Filter) -> Optional[str]:
        """The SQL condition of a filter on ``op``, or None when only Python can decide it."""
        value, d = flt.value, self.dialect
        if flt.op == "==":
            return self.equal(op, value)
        if flt.op == "!=":
            eq = self.equal(op, value)
            return None if eq is None else f"NOT ({eq})"
        if flt.op == "in":
            if op.other is not None and op.elements is None:  # a list matches when an element does
                return None
            parts = [self.equal(op, v) for v in value]
            if any(p is None for p in parts):
                return None
            scalar = " OR ".join([d.false] + [f"({p})" for p in parts])
            if op.elements is None or not value:
                return scalar
            inner = [self.equal(op.elements[2], v) for v in value]
            if any(p is None for p in inner):
                return None
            return f"({scalar}) OR {self._any_element(op, ' OR '.join(f'({p})' for p in inner))}"
        if flt.op == "contains":
            found = []
            if op.substring and isinstance(value, str) and op.txt is not None:
                found.append(self._coalesce(d.contains(op.txt, self.param(value))))
            if op.elements is not None:
                match = self.equal(op.elements[2], value)
                if match is None:
                    return None
                found.append(self._any_element(op, match))
            elif op.other is not None:
                return None
            return " OR ".join(f"({f})" for f in found) if found else d.false
        assert flt.op in _COMPARE, flt.op
        if op.is_id and not isinstance(value, str):
            return None  # the reference compares the value's text with the ids (``id > True``)
        if value is None or isinstance(value, bool):
            return d.false
        if op.is_id and op.txt is not None:
            is_int, number, fits = self._id_number(op.txt)
            if INT_TEXT.match(value) and fits(value):
                return f"({is_int}) AND {number} {flt.op} {self.param(int(value))}"
            if INT_TEXT.match(value) and self.layout.id_number is not None:
                return None
            return f"NOT ({is_int}) AND {d.text(op.txt)} {flt.op} {d.text(self.param(value))}"
        if _is_number(value):
            if not _fits(value) or (isinstance(value, float) and math.isnan(value)):
                return None  # Python decides (what SQL binds and compares differs)
            if op.fast_num is not None:
                return self._coalesce(f"({op.fast_num}) {flt.op} {self.param(value)} AND {op.num_check}")
            return d.false if op.num is None else self._coalesce(f"({op.num}) {flt.op} {self.param(value)}")
        if isinstance(value, str):
            if op.txt is None:
                return d.false
            return self._coalesce(f"{d.text(op.txt)} {flt.op} {d.text(self.param(value))}")
        if isinstance(value, _dt.datetime):
            return d.false if op.time is None else self._coalesce(f"{op.time} {flt.op} {self.param(value)}")
        return d.false

    def _any_element(self, op: Operand, condition: str) -> str:
        """True when ``op`` is a list with an element meeting ``condition`` (never NULL)."""
        assert op.elements is not None
        source, is_list, _ = op.elements
        return f"{is_list} AND EXISTS (SELECT 1 FROM {source} WHERE {condition})"

    def _id_number(self, run_id: str) -> tuple:
        """(true when the id looks like an integer, that integer, which integer texts it holds)."""
        if self.layout.id_number is not None and run_id == self.layout.run_id:
            column = self.layout.id_number
            return f"{column} IS NOT NULL", column, lambda text: -_INT64 <= int(text) < _INT64
        is_int = self.dialect.is_int_text(run_id)
        return (
            is_int,
            f"CASE WHEN {is_int} THEN {self.dialect.bigint(run_id)} END",
            lambda text: len(text) <= 18,
        )

    # ---- orders -----------------------------------------------------------------------------------
    def order_terms(self, op: Operand, descending: bool) -> list:
        """ORDER BY terms giving the reference order: missing last, then by rank, then by value."""
        if op.is_id and op.txt is not None:
            return self.id_terms(op.txt, descending)
        direction = " DESC" if descending else " ASC"
        exprs = [op.rank] if op.rank is not None else []
        for expr in (op.onum if op.onum is not None else op.num, op.txt, op.time):
            if expr is not None:
                exprs.append(self.dialect.text(expr) if expr is op.txt else expr)
        # The first term is NULL exactly when the value is missing (JSON null has no rank).
        return self.dialect.missing_last(op.present, [f"{e}{direction}" for e in exprs])

    def id_terms(self, run_id: Optional[str] = None, descending: bool = False) -> list:
        """Natural id order: integer-looking ids numerically, before the others (as text)."""
        run_id = run_id or self.layout.run_id
        is_int, number, _ = self._id_number(run_id)
        direction = " DESC" if descending else " ASC"
        if self.layout.id_number is not None and run_id == self.layout.run_id:
            first = f"{number} IS NULL{direction}"
        else:
            first = f"CASE WHEN {is_int} THEN 0 ELSE 1 END{direction}"
        return [first, f"{number}{direction}", f"{self.dialect.text(run_id)}{direction}"]

    # ---- a whole query ----------------------------------------------------------------------------
    def plan(self, q: Query) -> tuple:
        """Split a query into what SQL answers and what Python must finish.

        Returns (pushed (filter, condition) pairs, ORDER BY terms or None when an order key cannot
        be translated, list/object flags of the order keys, conditions marking rows whose JSON only
        Python may read).  A filter left out is decided by Python over the candidates.
        """
        pushed, suspects = [], []
        for flt in q.filters:
            if flt.op == "in" and len(flt.value) > MAX_SQL_IN_VALUES:
                continue  # Python decides it
            key = flt.parsed_key
            if key.root == "tags" and self.layout.tags_json is None:
                cond = self.tags_condition(flt)
                if cond is not None:
                    pushed.append((flt, cond))
                continue
            op = self.operand(key)
            cond = None if op is None else self.condition(op, flt)
            if op is not None and cond is not None:
                pushed.append((flt, cond))
                if op.suspect is not None:
                    suspects.append(op.suspect)
        terms: list = []
        others: list = []
        for order in q.order:
            op = self.operand(order.parsed_key)
            if op is None:
                return pushed, None, others, suspects
            terms += self.order_terms(op, order.descending)
            if op.suspect is not None:
                suspects.append(op.suspect)
            if op.other is not None:
                others.append(op.other)
        return pushed, terms + self.id_terms(), others, suspects

    def key_exists(self, key: Key) -> Optional[str]:
        """A condition on ``run`` true where the run has the JSON ``key`` (a JSON null counts, as
        in the reference), or None when the path is not expressible (a list index, an odd label)."""
        json_root = self.layout.json_root(key.root)
        op = None if json_root is None else self.json_operand(json_root.column, key.path)
        return None if op is None else op.exists
