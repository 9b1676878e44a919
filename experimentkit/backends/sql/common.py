"""The SQLAlchemy-free pieces of the SQL read side, shared by ``SqlStore`` and the stdlib SQLite
path (``fast_sqlite``) so that both build the very same records from the same stored rows.

Importing this module costs nothing beyond the standard library: the fast path must not load
SQLAlchemy.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Callable, Optional

from ...query.base import CATALOGUED_ROOTS, Key, MetricSeries, Query, RunRecord, Store, _present

if TYPE_CHECKING:
    from .compiler import Dialect

__all__ = [
    "SCHEMA_VERSION",
    "HOST_COLUMNS",
    "EXPERIMENT_COLUMNS",
    "loads",
    "chunks",
    "record_from_row",
    "experiment_infos",
    "catalogue_name",
    "keys_to_confirm",
    "BLOCKS_SQL",
    "STALE_MARK",
    "WRITER_SETTING",
    "BLOCKS_ALONE_VERSION",
    "PackedSeries",
    "packed_series",
]

SCHEMA_VERSION = 9
"""The layout version this code reads and writes; ``schema_version.version`` holds the stored one."""

BLOCKS_ALONE_VERSION = 9
"""From this version on, a PostgreSQL database's triggers keep the blocks of a series honest (see
``migrations._metric_triggers``): its readers trust well-formed blocks without counting the rows."""

WRITER_SETTING = "experimentkit.writer"
"""The transaction-local PostgreSQL setting (``'on'``) by which the observer tells the triggers that
its statement writes the blocks of its rows itself."""

STALE_MARK = 0
"""The ``point_count`` of the block the PostgreSQL triggers leave in a series changed by hand: no
block of the observer holds no point, and a series with one is read from its rows."""

HOST_COLUMNS = ("hostname", "cpu", "python_version")
EXPERIMENT_COLUMNS = ("name", "base_dir", "mainfile")
_CHUNK = 500  # ids per IN (...) list


def loads(text: Optional[str], default: Any) -> Any:
    """JSON text as stored (NaN and Infinity allowed); ``default`` when there is none."""
    if text is None or text == "":
        return default
    return json.loads(text)


def chunks(items: Sequence[Any]) -> Iterable[list]:
    """``items`` in lists short enough for one ``IN (...)``."""
    items = list(items)
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def record_from_row(
    store: Store,
    row: Mapping[str, Any],
    experiment: dict,
    metrics: dict,
    tags: list,
    artifacts: list,
    resources: Sequence[Any] = (),
) -> RunRecord:
    """A ``RunRecord`` from one row of the run/experiment/host join (times already datetimes).

    ``row`` has the run columns plus ``ex_*`` and ``h_*`` (the experiment and host columns).  A
    column whose JSON cannot be read, or a metric whose stored values are not numbers, is named in
    ``record.damaged`` and left out; the rest of the run is read as usual (nothing is changed).
    """
    damaged: list = []

    def column(name: str, default: Any) -> Any:
        try:
            return loads(row[name], default)
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno} column {exc.colno}: {exc.msg}"
            damaged.append(f"run {row['run_id']}: column {name}: {where}")
            return default

    if row["host_info"]:
        host = column("host_info", {})
    else:  # Sacred kept only these columns
        host = {k: row[f"h_{k}"] for k in HOST_COLUMNS if row[f"h_{k}"] is not None}
        if row["h_os"] is not None:
            host["os"] = [row["h_os"], row["h_os_info"]]
    meta = column("meta", None)
    if meta is None:
        meta = {k: row[k] for k in ("command", "comment", "priority") if row[k] is not None}
    result = column("result_json", None) if row["result_json"] is not None else row["result"]
    trace = row["fail_trace"]
    config, info = column("config", {}), column("info", {})
    for name, value in (("config", config), ("info", info), ("host_info", host), ("meta", meta)):
        if not isinstance(value, dict):
            damaged.append(
                f"run {row['run_id']}: column {name}: a JSON {type(value).__name__}, not an object"
            )
    return store.new_record(
        id=row["run_id"],
        status=row["status"],
        command=row["command"],
        experiment=experiment,
        config=config if isinstance(config, dict) else {},
        info=info if isinstance(info, dict) else {},
        host=host if isinstance(host, dict) else {},
        meta=meta if isinstance(meta, dict) else {},
        start_time=row["start_time"],
        stop_time=row["stop_time"],
        heartbeat=row["heartbeat"],
        result=result,
        fail_trace=trace.splitlines(keepends=True) if trace else None,
        tags=tags,
        notes=row["note"] or "",
        artifacts=artifacts,
        metrics=_readable_metrics(metrics, damaged),
        resources=[{"path": path, "md5": md5} for path, md5 in resources],
        damaged=damaged,
    )


def experiment_infos(
    cache: dict,
    rows: Sequence[Any],
    dialect: Dialect,
    execute: Callable[[str, dict], Iterable[Sequence[Any]]],
) -> dict:
    """{experiment_id: ex_info-like dict} of the experiments of ``rows`` (run rows with the
    ``ex_*`` columns), read once per store: ``cache`` keeps them, experiment rows never change.
    ``execute(sql, params)`` runs SQL text with named parameters in ``dialect``'s style."""
    missing = {
        r["experiment_id"] for r in rows if r["experiment_id"] is not None and r["experiment_id"] not in cache
    }
    for row in rows:
        if row["experiment_id"] in missing:
            cache[row["experiment_id"]] = {
                "name": row["ex_name"],
                "base_dir": row["ex_base_dir"],
                "mainfile": row["ex_mainfile"],
                "sources": [],
                "dependencies": [],
                "repositories": [],
            }
    for chunk in chunks(sorted(missing)):
        params = {f"e{i}": exp_id for i, exp_id in enumerate(chunk)}
        listed = ", ".join(dialect.placeholder(name) for name in params)
        for exp_id, filename, md5 in execute(
            "SELECT es.experiment_id, source.filename, source.md5sum FROM experiments_sources AS es"
            " JOIN source ON source.source_id = es.source_id"
            f" WHERE es.experiment_id IN ({listed}) ORDER BY source.filename",
            params,
        ):
            cache[exp_id]["sources"].append([filename, md5])
        for exp_id, name, version in execute(
            "SELECT ed.experiment_id, dependency.name, dependency.version FROM experiments_dependencies AS ed"
            " JOIN dependency ON dependency.dependency_id = ed.dependency_id"
            f" WHERE ed.experiment_id IN ({listed}) ORDER BY dependency.name",
            params,
        ):
            cache[exp_id]["dependencies"].append(f"{name}=={version}" if version else name)
        for exp_id, url, commit, dirty in execute(
            f"SELECT er.experiment_id, repository.url, repository.{dialect.quote('commit')}, repository.dirty"
            " FROM experiments_repositories AS er"
            " JOIN repository ON repository.repository_id = er.repository_id"
            f" WHERE er.experiment_id IN ({listed})",
            params,
        ):
            cache[exp_id]["repositories"].append(
                {"url": url, "commit": commit, "dirty": None if dirty is None else bool(dirty)}
            )
    wanted = {row["experiment_id"] for row in rows}
    return {exp_id: json.loads(json.dumps(info)) for exp_id, info in cache.items() if exp_id in wanted}


def _readable_metrics(metrics: dict, damaged: list) -> dict:
    """The summaries with any value that is not a number left out (SQLite stores whatever it is
    given in a REAL column: text sorts above every number, so ``max`` and ``last`` would show it)."""
    readable = {}
    for name, summary in metrics.items():
        bad = [
            agg
            for agg in ("last", "min", "max")
            if summary.get(agg) is not None and not _number(summary[agg])
        ]
        if bad:
            damaged.append(f"metric {name!r}: stored values that are not numbers ({', '.join(bad)} left out)")
            summary = {**summary, **dict.fromkeys(bad)}
        readable[name] = summary
    return readable


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def catalogue_name(key: Key) -> Optional[str]:
    """The ``run_key.name`` of a key the catalogue covers (``opt.lr``, a metric's name), else None."""
    if key.root not in CATALOGUED_ROOTS or not key.path:
        return None
    return key.path[0] if key.root == "metrics" else ".".join(key.path)


def keys_to_confirm(q: Query, answer: Sequence[RunRecord]) -> list:
    """The catalogued keys of ``q`` that no run of its answer has.

    The catalogue only grows as runs are written, so it can name a key whose runs were deleted by
    hand (``DELETE FROM run``): ``check_query`` then accepts a query on a key no run has.  Such a
    query's answer shows it: every run it returns lacks the key (an order puts runs without the key
    last, so a top-k answer lacking it means no matching run has it).  These keys, and only these,
    are worth the look in the runs that tells a stale catalogue row from a key that is merely rare.
    """
    keys = [f.parsed_key for f in q.filters if not f.row] + [o.parsed_key for o in q.order if not o.row]
    return [
        key
        for key in dict.fromkeys(keys)
        if catalogue_name(key) is not None and not any(_present(record, key) for record in answer)
    ]


BLOCKS_SQL = (
    "SELECT point_count, steps, vals, times FROM metric_block"
    " WHERE run_id = {0} AND name = {0} ORDER BY block_id"
)
"""A series' packed blocks in writing order (``{0}``: the driver's parameter marker)."""


class PackedSeries(MetricSeries):
    """A series read from its ``metric_block`` rows: numpy arrays from the stored bytes (no Python
    object per point); the lists ``steps``/``values``/``timestamps`` are built on first use, as the
    rows would give them (``None`` for a NULL value, naive-UTC ``datetime`` times)."""

    def __init__(self, name: str, steps: Any, values: Any, times: Any):
        self.name = name
        self._arrays = {"steps": steps, "values": values, "timestamps": times}
        self._lists: dict = {}

    def _list(self, key: str) -> list:
        if key not in self._lists:
            items = self._arrays[key].tolist()  # datetime64[us] gives datetimes
            if key == "values":
                items = [None if v != v else v for v in items]  # NaN marks a NULL value
            self._lists[key] = items
        return self._lists[key]

    def _set(self, key: str, value: list) -> None:
        self._lists[key] = value

    steps = property(lambda self: self._list("steps"), lambda self, v: self._set("steps", v))  # type: ignore[assignment]
    values = property(lambda self: self._list("values"), lambda self, v: self._set("values", v))  # type: ignore[assignment]
    timestamps = property(  # type: ignore[assignment]
        lambda self: self._list("timestamps"), lambda self, v: self._set("timestamps", v)
    )

    def __len__(self) -> int:
        return len(self._arrays["values"])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MetricSeries):
            return NotImplemented
        mine = (self.name, self.steps, self.values, self.timestamps)
        return mine == (other.name, other.steps, other.values, other.timestamps)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PackedSeries(name={self.name!r}, points={len(self)})"

    def parsed_columns(self) -> dict:
        """The three columns as numpy arrays (what ``ColumnSeries.parsed_columns`` gives)."""
        return dict(self._arrays)

    def to_numpy(self) -> tuple:
        """``(steps, values, timestamps)``: int64, float64 (NaN for NULL), datetime64[us]."""
        a = self._arrays
        return a["steps"], a["values"], a["timestamps"]


def packed_series(
    name: str, row_count: Optional[int], blocks: Sequence[Sequence[Any]]
) -> Optional[PackedSeries]:
    """The series from its blocks ``(point_count, steps, vals, times)`` (in writing order), or None
    (read the rows: they are the truth) unless each block holds as many steps, values and times as
    its ``point_count`` says, no block is a ``STALE_MARK``, and, when ``row_count`` is given, the
    blocks hold exactly the ``row_count`` points of the ``metric`` rows (where no trigger tells of
    rows added or deleted other than by the observer)."""
    counts = [int(block[0]) for block in blocks]
    total = sum(counts)
    if not total or min(counts) <= STALE_MARK or (row_count is not None and total != row_count):
        return None
    import numpy as np

    parts: list = [[], [], []]
    for count, block in zip(counts, blocks):
        try:  # steps and times are zlib-compressed (see ``bulk.packed_block``)
            columns = (zlib.decompress(block[1]), block[2], zlib.decompress(block[3]))
        except zlib.error:  # a damaged block: the rows decide
            return None
        if any(len(column) != 8 * count for column in columns):
            return None
        for part, column in zip(parts, columns):
            part.append(column)
    steps, values, times = (
        np.frombuffer(bytearray().join(part), dtype=dtype).astype(dtype[1:], copy=False)
        for part, dtype in zip(parts, ("<i8", "<f8", "<i8"))
    )
    return PackedSeries(name, steps, values, times.view("datetime64[us]"))
