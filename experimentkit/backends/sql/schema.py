"""The SQL layout shared by the SQL observer (write side) and the SQL store (read side).

Sacred 0.8's tables and column names are kept so that tools written for Sacred's ``SqlObserver``
still find their data; too-small columns are widened, and the tables Sacred lacks (metrics, log
tables, tags, schema version) are added.  See docs/storage-sql.md for the differences.

Portability notes (SQLite, PostgreSQL, MariaDB/MySQL):
* MySQL's ``TEXT``/``BLOB`` hold only 64 KB and its ``DATETIME`` drops microseconds, so long
  text, binary content and times use MySQL variants (``LONGTEXT``, ``LONGBLOB``, ``DATETIME(6)``).
* Every uniqueness rule is a named index, so a fresh database and an upgraded Sacred database end up
  with the same index names (see ``migrations.py``).
* Indexed strings stay short enough for MySQL's 3072-byte key limit in utf8mb4.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from .common import SCHEMA_VERSION  # defined without SQLAlchemy, for the stdlib SQLite read path

__all__ = [
    "SCHEMA_VERSION",
    "metadata",
    "experiment",
    "host",
    "source",
    "dependency",
    "repository",
    "resource",
    "run",
    "artifact",
    "experiments_sources",
    "experiments_repositories",
    "experiments_dependencies",
    "runs_resources",
    "metric",
    "table_row",
    "tag",
    "schema_version",
    "run_key",
    "metric_summary",
    "metric_block",
    "KEY_LENGTH",
    "RUN_STATUSES",
    "column_length",
]


RUN_STATUSES = ("QUEUED", "RUNNING", "COMPLETED", "INTERRUPTED", "TIMEOUT", "FAILED", "DEAD")
"""Values written to ``run.status`` (a plain VARCHAR, so new statuses need no migration)."""

_MY = ("mysql", "mariadb")
LongText = sa.Text().with_variant(mysql.LONGTEXT(), *_MY)
LongBlob = sa.LargeBinary().with_variant(mysql.LONGBLOB(), *_MY)
Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *_MY)
# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

RUN_ID = sa.String(64)
# Any: spread into sa.Table(**kw), whose named keywords are bools and lists, not str.
_TABLE_ARGS: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}

metadata = sa.MetaData()

experiment = sa.Table(
    "experiment",
    metadata,
    sa.Column("experiment_id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(255)),
    sa.Column("md5sum", sa.String(32)),  # md5 of the canonical JSON of ex_info
    sa.Column("base_dir", sa.String(1024)),
    sa.Column("mainfile", sa.String(1024)),
    sa.Index("ux_experiment_name_md5sum", "name", "md5sum", unique=True),
    **_TABLE_ARGS,
)

host = sa.Table(
    "host",
    metadata,
    sa.Column("host_id", sa.Integer, primary_key=True),
    sa.Column("cpu", sa.String(255)),
    sa.Column("hostname", sa.String(255)),
    sa.Column("os", sa.String(64)),
    sa.Column("os_info", sa.String(255)),
    sa.Column("python_version", sa.String(64)),
    sa.Column("md5sum", sa.String(32)),  # md5 of the five columns above: the dedup key
    sa.Index("ux_host_md5sum", "md5sum", unique=True),
    **_TABLE_ARGS,
)

source = sa.Table(
    "source",
    metadata,
    sa.Column("source_id", sa.Integer, primary_key=True),
    sa.Column("filename", sa.String(512)),
    sa.Column("md5sum", sa.String(32)),
    sa.Column("content", LongText),
    sa.Index("ux_source_filename_md5sum", "filename", "md5sum", unique=True),
    **_TABLE_ARGS,
)

dependency = sa.Table(
    "dependency",
    metadata,
    sa.Column("dependency_id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(255)),
    sa.Column("version", sa.String(128)),
    sa.Index("ux_dependency_name_version", "name", "version", unique=True),
    **_TABLE_ARGS,
)

repository = sa.Table(
    "repository",
    metadata,
    sa.Column("repository_id", sa.Integer, primary_key=True),
    sa.Column("url", sa.String(2048)),
    sa.Column("commit", sa.String(64)),
    sa.Column("dirty", sa.Boolean),
    sa.Column("md5sum", sa.String(32)),  # md5 of (url, commit, dirty): the dedup key
    sa.Index("ux_repository_md5sum", "md5sum", unique=True),
    **_TABLE_ARGS,
)

resource = sa.Table(
    "resource",
    metadata,
    sa.Column("resource_id", sa.Integer, primary_key=True),
    sa.Column("filename", sa.String(512)),
    sa.Column("md5sum", sa.String(32)),
    sa.Column("content", LongBlob),
    sa.Index("ux_resource_filename_md5sum", "filename", "md5sum", unique=True),
    **_TABLE_ARGS,
)

run = sa.Table(
    "run",
    metadata,
    # Surrogate key allocated by the database (safe under concurrency); AUTOINCREMENT on SQLite so
    # ids are never reused after a delete.
    sa.Column("id", sa.Integer, primary_key=True),
    # The public run id (Sacred's): str(id) unless the caller chose one (``-i``, another observer).
    sa.Column("run_id", RUN_ID),
    sa.Column("uid", sa.String(32)),  # meta_info["uid"]: makes a replayed started_event idempotent
    sa.Column("command", sa.String(255)),
    sa.Column("start_time", Timestamp),
    sa.Column("heartbeat", Timestamp),
    sa.Column("stop_time", Timestamp),
    sa.Column("queue_time", Timestamp),
    sa.Column("priority", sa.Float),
    sa.Column("comment", LongText),
    sa.Column("fail_trace", LongText),
    sa.Column("captured_out", LongText),
    sa.Column("config", LongText),  # JSON
    sa.Column("info", LongText),  # JSON
    sa.Column("status", sa.String(16)),
    sa.Column("host_id", sa.Integer, sa.ForeignKey("host.host_id")),
    sa.Column("experiment_id", sa.Integer, sa.ForeignKey("experiment.experiment_id")),
    # Sacred's numeric column: NULL unless the result is a finite number.
    sa.Column("result", sa.Double),
    sa.Column("result_json", LongText),  # any result, JSON
    sa.Column("meta", LongText),  # meta_info, JSON
    sa.Column("host_info", LongText),  # the full host_info (with ENV), JSON
    sa.Column("note", LongText),  # free text edited from the read side
    sa.Index("ux_run_run_id", "run_id", unique=True),
    sa.Index("ux_run_uid", "uid", unique=True),
    sa.Index("ix_run_status", "status"),
    sa.Index("ix_run_experiment_id", "experiment_id"),
    sqlite_autoincrement=True,
    **_TABLE_ARGS,
)

artifact = sa.Table(
    "artifact",
    metadata,
    sa.Column("artifact_id", sa.Integer, primary_key=True),
    sa.Column("filename", sa.String(512)),  # the artifact's name (Sacred's column name)
    sa.Column("content", LongBlob),
    sa.Column("run_id", RUN_ID, sa.ForeignKey("run.run_id")),
    sa.Column("content_type", sa.String(255)),
    sa.Column("metadata", LongText),  # JSON
    sa.Column("md5sum", sa.String(32)),
    sa.Index("ix_artifact_run_id", "run_id"),
    **_TABLE_ARGS,
)


def _association(name: str, left: tuple, right: tuple) -> sa.Table:
    """A many-to-many table with Sacred's column names and a composite primary key."""
    return sa.Table(
        name,
        metadata,
        sa.Column(left[0], left[1], sa.ForeignKey(left[2]), primary_key=True),
        sa.Column(right[0], right[1], sa.ForeignKey(right[2]), primary_key=True),
        **_TABLE_ARGS,
    )


experiments_sources = _association(
    "experiments_sources",
    ("experiment_id", sa.Integer, "experiment.experiment_id"),
    ("source_id", sa.Integer, "source.source_id"),
)
experiments_repositories = _association(
    "experiments_repositories",
    ("experiment_id", sa.Integer, "experiment.experiment_id"),
    ("repository_id", sa.Integer, "repository.repository_id"),
)
experiments_dependencies = _association(
    "experiments_dependencies",
    ("experiment_id", sa.Integer, "experiment.experiment_id"),
    ("dependency_id", sa.Integer, "dependency.dependency_id"),
)
runs_resources = _association(
    "runs_resources", ("run_id", RUN_ID, "run.run_id"), ("resource_id", sa.Integer, "resource.resource_id")
)

metric = sa.Table(
    "metric",
    metadata,
    sa.Column("metric_id", BigId, primary_key=True),
    # No foreign key from version 4 on: checked per row, it cost more than the rest of a bulk load.
    sa.Column("run_id", RUN_ID, nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("step", sa.BigInteger),
    sa.Column("value", sa.Double),  # NULL when the logged value is not a finite number
    sa.Column("timestamp", Timestamp),
    # Version 3 (was (run_id, name)): also serves "the last point of each series" (max metric_id
    # per run and name) from the index alone, and the count of a series' points the observer
    # reads after an in-doubt commit.
    sa.Index("ix_metric_run_id_name_metric_id", "run_id", "name", "metric_id"),
    # Version 8 dropped the index on ``name`` alone: which metrics exist is read from
    # ``metric_summary`` (indexed by name), and each point paid for the extra B-tree insert.
    **_TABLE_ARGS,
)

table_row = sa.Table(
    "table_row",
    metadata,
    sa.Column("table_row_id", BigId, primary_key=True),
    sa.Column("run_id", RUN_ID, sa.ForeignKey("run.run_id"), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("row_index", sa.Integer, nullable=False),
    sa.Column("data", LongText, nullable=False),  # the row as a JSON object
    sa.Index("ux_table_row_run_id_name_row_index", "run_id", "name", "row_index", unique=True),
    **_TABLE_ARGS,
)

tag = sa.Table(
    "tag",
    metadata,
    sa.Column("run_id", RUN_ID, sa.ForeignKey("run.run_id"), primary_key=True),
    sa.Column("tag", sa.String(255), primary_key=True),
    # Order of addition from the read side (version 2); NULL for tags the observer wrote, which
    # come first, by name.
    sa.Column("seq", sa.Integer),
    sa.Index("ix_tag_tag", "tag"),
    **_TABLE_ARGS,
)

#: The longest catalogued key (the part after its root); longer keys are looked up in the runs.
KEY_LENGTH = 255
# Compared byte for byte (MySQL's default collation would take ``LR`` for ``lr``).
_KeyText = sa.String(KEY_LENGTH).with_variant(mysql.VARCHAR(KEY_LENGTH, collation="utf8mb4_bin"), *_MY)

# Version 5: the key catalogue.  Every config/info/meta key path (``opt.lr``, inner ones too) and
# metric name some run has written, one row per distinct key, added by the observer when it first
# writes the key.  Lets a query check its keys with one index lookup instead of a scan of the runs.
# A key missing here is looked up in the runs before it is called unknown (runs written by Sacred
# or by hand), so the catalogue only ever saves work.
run_key = sa.Table(
    "run_key",
    metadata,
    sa.Column("root", sa.String(16), primary_key=True),  # config, info, meta or metrics
    sa.Column("name", _KeyText, primary_key=True),
    **_TABLE_ARGS,
)

# Version 5: one row per run and metric, updated in the transaction that appends the points, so
# that filtering and sorting on ``metrics.<name>.last/min/max/count`` reads one row per run instead
# of the run's points.  ``last_value`` is the value of the last point (highest ``metric_id``; NULL
# when it is not a finite number), ``min_value``/``max_value`` skip NULLs.
metric_summary = sa.Table(
    "metric_summary",
    metadata,
    sa.Column("run_id", RUN_ID, primary_key=True),
    sa.Column("name", _KeyText, primary_key=True),
    sa.Column("last_value", sa.Double),
    sa.Column("min_value", sa.Double),
    sa.Column("max_value", sa.Double),
    sa.Column("point_count", sa.BigInteger, nullable=False),
    sa.Index("ix_metric_summary_name_last_value", "name", "last_value"),
    **_TABLE_ARGS,
)

# Version 6: each batch of points ``SqlObserver`` appends to a metric (up to ``bulk.CHUNK`` of them)
# also as three packed little-endian columns: int64 steps (zlib), float64 values (NaN where
# ``metric.value`` is NULL), int64 microseconds since 1970, naive UTC (zlib).  Reading a long series
# back is then a few rows and ``numpy.frombuffer`` instead of a row (and a ``datetime``) per point.
# The ``metric`` rows stay the truth: a reader uses the blocks of a (run, metric) only while their
# point counts add up to its rows (rows added or deleted some other way, or a batch with NULL steps
# or times, which has no block, send it back to the rows).  On PostgreSQL from version 9, triggers on
# ``metric`` leave a block of no points in a series whose rows anyone but the observer changed (a
# batch without a block included), and its readers trust well-formed blocks without the count.
metric_block = sa.Table(
    "metric_block",
    metadata,
    sa.Column("block_id", BigId, primary_key=True),
    sa.Column("run_id", RUN_ID, nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("point_count", sa.Integer, nullable=False),
    sa.Column("steps", LongBlob, nullable=False),
    sa.Column("vals", LongBlob, nullable=False),
    sa.Column("times", LongBlob, nullable=False),
    sa.Index("ix_metric_block_run_id_name_block_id", "run_id", "name", "block_id"),
    **_TABLE_ARGS,
)

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, nullable=False),
    **_TABLE_ARGS,
)


def column_length(table: sa.Table, name: str) -> int | None:
    """The declared length of a string column (None when unbounded), for clipping values to fit."""
    return getattr(table.c[name].type, "length", None)
