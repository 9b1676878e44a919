"""Create the SQL layout, or bring an older one forward (``upgrade(engine)``).

Versions: 0 is Sacred 0.8's layout (a ``run`` table and no ``schema_version`` table); 1 the first
experimentkit layout; 2 adds ``tag.seq`` (the order tags were added in); 3 replaces the metric
index on ``(run_id, name)`` by one on ``(run_id, name, metric_id)``; 4 drops the foreign key of
``metric`` rows (see ``_metric_without_foreign_key``); 5 adds the key catalogue ``run_key`` and the
per-run ``metric_summary``, filled from the stored rows; 6 adds ``metric_block``, the packed copy
of newly written points; 7 gives MariaDB/MySQL text columns a binary collation (see
``_binary_collation``); 8 drops the index on ``metric.name``, which
``metric_summary``'s ``(name, last_value)`` index covers (see ``_no_metric_name_index``); 9
(``schema.SCHEMA_VERSION``) gives PostgreSQL's ``metric`` triggers that mark the packed blocks of a
series changed by anyone but the observer (see ``_metric_triggers``).  Each step in
``_STEPS`` moves a database from version N to N+1 and otherwise only ever adds or widens (an index
is dropped only once a wider one covers it), so data
written by older code keeps its meaning.  Concurrent callers (many runs starting against
one fresh database) are serialised with a database lock on PostgreSQL and MySQL,
and retried on SQLite.
"""

from __future__ import annotations

import time
from typing import Callable, Optional

import sqlalchemy as sa

from ...errors import StoreError
from . import schema as s
from .common import STALE_MARK, WRITER_SETTING

__all__ = ["upgrade", "stored_version", "host_key", "repository_key"]

_LOCK_NAME = "experimentkit_schema"
_PG_LOCK_KEY = 0x656B5F73716C  # any fixed 64-bit number; "ek_sql"


def host_key(cpu: object, hostname: object, os_name: object, os_info: object, python_version: object) -> str:
    """The dedup key of a ``host`` row (also computed for Sacred-era rows when upgrading)."""
    return _md5_of([cpu, hostname, os_name, os_info, python_version])


def repository_key(url: object, commit: object, dirty: object) -> str:
    """The dedup key of a ``repository`` row."""
    return _md5_of([url, commit, None if dirty is None else bool(dirty)])


def _md5_of(parts: list) -> str:
    import hashlib
    import json

    return hashlib.md5(json.dumps(parts, default=str).encode("utf-8")).hexdigest()


def stored_version(conn: sa.Connection) -> Optional[int]:
    """The database's layout version: None when it is empty, 0 for Sacred's layout."""
    names = set(sa.inspect(conn).get_table_names())
    if s.schema_version.name in names:
        version = conn.execute(sa.select(sa.func.max(s.schema_version.c.version))).scalar()
        return 0 if version is None else int(version)
    return 0 if s.run.name in names else None


def upgrade(engine: sa.Engine) -> int:
    """Create the tables or migrate them to ``SCHEMA_VERSION``; returns the version now stored.

    Cheap when the database is already current (one query, no catalog reflection), so observers
    call it on first use.
    """
    if _current_version(engine) == s.SCHEMA_VERSION:
        return s.SCHEMA_VERSION
    attempts = 5 if engine.dialect.name == "sqlite" else 1
    for attempt in range(attempts):
        try:
            return _upgrade_locked(engine)
        except sa.exc.OperationalError as exc:  # another process created the same table first
            if attempt + 1 == attempts or "already exists" not in str(exc):
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


def _current_version(engine: sa.Engine) -> Optional[int]:
    """The version stored in ``schema_version`` in one query; None when that cannot be read (no
    such table yet: the full check under the lock decides)."""
    try:
        with engine.connect() as conn:
            version = conn.execute(sa.select(sa.func.max(s.schema_version.c.version))).scalar()
    except sa.exc.DBAPIError:
        return None
    return None if version is None else int(version)


def _upgrade_locked(engine: sa.Engine) -> int:
    dialect = engine.dialect.name
    with engine.connect() as conn:
        if dialect == "postgresql":
            with conn.begin():  # DDL is transactional here: all steps or none
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
                return _apply(conn)
        if dialect in ("mysql", "mariadb"):
            got = conn.execute(sa.text("SELECT GET_LOCK(:n, 60)"), {"n": _LOCK_NAME}).scalar()
            if got != 1:
                raise StoreError("timed out waiting for another process to upgrade the SQL schema")
            try:
                version = _apply(conn)
                conn.commit()
                return version
            finally:
                conn.execute(sa.text("SELECT RELEASE_LOCK(:n)"), {"n": _LOCK_NAME})
        if dialect == "sqlite":
            # one writer at a time creates the schema; the others wait here (busy timeout) and
            # then find it made, instead of racing to CREATE TABLE and retrying
            conn.exec_driver_sql("BEGIN EXCLUSIVE")
        version = _apply(conn)
        conn.commit()
        return version


def _apply(conn: sa.Connection) -> int:
    version = stored_version(conn)
    if version is None:
        _create_tables(conn)
        _metric_triggers(conn)
        conn.execute(s.schema_version.insert().values(version=s.SCHEMA_VERSION))
        return s.SCHEMA_VERSION
    if version > s.SCHEMA_VERSION:
        raise StoreError(
            f"the SQL database has schema version {version}, newer than this "
            f"experimentkit understands ({s.SCHEMA_VERSION}); upgrade experimentkit"
        )
    while version < s.SCHEMA_VERSION:
        _STEPS[version](conn)
        version += 1
        _write_version(conn, version)
    return version


def _write_version(conn: sa.Connection, version: int) -> None:
    s.schema_version.create(conn, checkfirst=True)
    conn.execute(s.schema_version.delete())
    conn.execute(s.schema_version.insert().values(version=version))


# ---- step 0 -> 1: Sacred 0.8's layout -> experimentkit's -----------------------------------------
# Columns whose Sacred type is too small (VARCHAR(16..64), MySQL's 64 KB TEXT/BLOB, FLOAT, the
# status ENUM without QUEUED).  run.run_id is left alone: other tables' foreign keys point at it.
_WIDENED = {
    "run": ("command", "status", "result", "comment", "fail_trace", "captured_out", "config", "info"),
    "experiment": ("name", "base_dir"),
    "host": ("cpu", "hostname", "os", "os_info", "python_version"),
    "source": ("filename", "content"),
    "dependency": ("name", "version"),
    "repository": ("commit",),
    "resource": ("filename", "content"),
    "artifact": ("filename", "content"),
}


def _sacred_to_v1(conn: sa.Connection) -> None:
    inspector = sa.inspect(conn)
    existing = set(inspector.get_table_names())
    for table in s.metadata.sorted_tables:
        if table.name not in existing:
            continue
        have = {col["name"] for col in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in have:
                _add_column(conn, table, column)
    _widen(conn)
    s.metadata.create_all(conn)  # the tables Sacred lacks (metric, table_row, tag, schema_version)
    _fill_keys(conn)
    inspector = sa.inspect(conn)
    for table in s.metadata.sorted_tables:
        if table.name not in existing:
            continue
        present = {ix["name"] for ix in inspector.get_indexes(table.name)}
        for index in table.indexes:
            # Sacred declared run.run_id UNIQUE already.
            if index.name not in present and index.name != "ux_run_run_id":
                _create_index(conn, table, index)


def _add_column(conn: sa.Connection, table: sa.Table, column: sa.Column) -> None:
    prep = conn.dialect.identifier_preparer
    ddl = column.type.compile(dialect=conn.dialect)
    conn.execute(
        sa.text(f"ALTER TABLE {prep.format_table(table)} ADD COLUMN {prep.format_column(column)} {ddl}")
    )


def _widen(conn: sa.Connection) -> None:
    dialect = conn.dialect.name
    if dialect not in ("postgresql", "mysql", "mariadb"):
        return  # SQLite does not enforce declared lengths
    prep = conn.dialect.identifier_preparer
    for table_name, columns in _WIDENED.items():
        table = s.metadata.tables[table_name]
        for name in columns:
            column = table.c[name]
            ddl = column.type.compile(dialect=conn.dialect)
            target = f"{prep.format_table(table)}"
            col = prep.format_column(column)
            if dialect == "postgresql":
                sql = f"ALTER TABLE {target} ALTER COLUMN {col} TYPE {ddl} USING {col}::text::{ddl}"
                if isinstance(column.type, sa.LargeBinary) or name == "result":
                    sql = f"ALTER TABLE {target} ALTER COLUMN {col} TYPE {ddl}"
            else:
                sql = f"ALTER TABLE {target} MODIFY {col} {ddl}"
            conn.execute(sa.text(sql))
    if dialect == "postgresql":
        conn.execute(sa.text("DROP TYPE IF EXISTS status_enum"))  # Sacred's enum, now unused


def _fill_keys(conn: sa.Connection) -> None:
    """Compute the dedup keys of Sacred-era hosts and repositories, so new runs reuse those rows."""
    h, r = s.host, s.repository
    for row in conn.execute(sa.select(h).where(h.c.md5sum.is_(None))).mappings().all():
        key = host_key(row["cpu"], row["hostname"], row["os"], row["os_info"], row["python_version"])
        conn.execute(h.update().where(h.c.host_id == row["host_id"]).values(md5sum=key))
    for row in conn.execute(sa.select(r).where(r.c.md5sum.is_(None))).mappings().all():
        key = repository_key(row["url"], row["commit"], row["dirty"])
        conn.execute(r.update().where(r.c.repository_id == row["repository_id"]).values(md5sum=key))


def _create_index(conn: sa.Connection, table: sa.Table, index: sa.Index) -> None:
    """Create ``index`` on ``table``; a unique one over Sacred-era duplicates becomes a plain index
    instead."""
    cols = list(index.columns)
    unique = index.unique
    if unique:
        dup = (
            sa.select(*cols)
            .where(sa.and_(*[c.is_not(None) for c in cols]))
            .group_by(*cols)
            .having(sa.func.count() > 1)
            .limit(1)
        )
        unique = conn.execute(dup).first() is None
    prep = conn.dialect.identifier_preparer
    names = ", ".join(prep.format_column(c) for c in cols)
    conn.execute(
        sa.text(
            f"CREATE {'UNIQUE ' if unique else ''}INDEX {prep.format_index(index)} "
            f"ON {prep.format_table(table)} ({names})"
        )
    )


# ---- step 1 -> 2: tag.seq ------------------------------------------------------------------------
def _tag_order(conn: sa.Connection) -> None:
    """Add ``tag.seq``; step 0 -> 1 creates ``tag`` from the current layout, so it may exist."""
    have = {col["name"] for col in sa.inspect(conn).get_columns(s.tag.name)}
    if "seq" not in have:
        _add_column(conn, s.tag, s.tag.c.seq)


# ---- step 2 -> 3: metric index with metric_id ----------------------------------------------------
_OLD_METRIC_INDEX = "ix_metric_run_id_name"


def _metric_last_index(conn: sa.Connection) -> None:
    """Index ``metric(run_id, name, metric_id)`` and drop the ``(run_id, name)`` one it covers.

    The new index is created first: MySQL needs an index led by ``run_id`` for its foreign key.
    Step 0 -> 1 creates ``metric`` from the current layout, so the new index may exist already.
    """
    present = {ix["name"] for ix in sa.inspect(conn).get_indexes(s.metric.name)}
    for index in s.metric.indexes:
        if index.name not in present:
            _create_index(conn, s.metric, index)
    if _OLD_METRIC_INDEX in present:
        _drop_index(conn, s.metric, _OLD_METRIC_INDEX)


# ---- step 3 -> 4: no foreign key on metric rows --------------------------------------------------
def _metric_without_foreign_key(conn: sa.Connection) -> None:
    """Drop the foreign key ``metric.run_id -> run.run_id`` (PostgreSQL, MySQL).

    The server checked it row by row, ~9 µs of a bulk-loaded row's ~14 µs on PostgreSQL; the
    observer only appends points to the run it created or found, and deleting a run removes its
    points first.  SQLite does not enforce foreign keys (SQLAlchemy does not turn them on), so its
    declaration is left in place rather than rebuilding the table.
    """
    if conn.dialect.name == "sqlite":
        return
    prep = conn.dialect.identifier_preparer
    drop = "FOREIGN KEY" if conn.dialect.name in ("mysql", "mariadb") else "CONSTRAINT"
    for fk in sa.inspect(conn).get_foreign_keys(s.metric.name):
        name = fk.get("name")
        if name and fk["referred_table"] == s.run.name:
            conn.execute(sa.text(f"ALTER TABLE {prep.format_table(s.metric)} DROP {drop} {prep.quote(name)}"))


# ---- step 4 -> 5: key catalogue and metric summaries ---------------------------------------------
def _catalogue_and_summaries(conn: sa.Connection) -> None:
    """Create ``run_key`` and ``metric_summary`` and fill them from what is stored (step 0 -> 1
    creates them from the current layout, empty, so they may exist already)."""
    from .catalogue import fill_from_stored

    for table in (s.run_key, s.metric_summary):
        table.create(conn, checkfirst=True)
    fill_from_stored(conn)


# ---- step 5 -> 6: packed metric blocks --------------------------------------------------------------
def _metric_blocks(conn: sa.Connection) -> None:
    """Create ``metric_block``, empty: the metrics stored before it are read from their rows."""
    s.metric_block.create(conn, checkfirst=True)


# ---- step 6 -> 7: text compared by code point on MariaDB/MySQL ------------------------------------
def binary_collation(conn: sa.Connection, charset: str) -> str:
    """The collation of ``charset`` that compares by code point without padding: ``_nopad_bin``
    (MariaDB), else ``_0900_bin`` (MySQL 8), else ``_bin`` (which ignores trailing spaces)."""
    names = set(
        conn.execute(
            sa.text("SELECT COLLATION_NAME FROM information_schema.COLLATIONS WHERE CHARACTER_SET_NAME = :c"),
            {"c": charset},
        ).scalars()
    )
    for suffix in ("_nopad_bin", "_0900_bin"):
        if charset + suffix in names:
            return charset + suffix
    return charset + "_bin"


def _create_tables(conn: sa.Connection) -> None:
    """Create the layout's tables (those missing) with their current definition: on MariaDB/MySQL
    with the binary collation of step 6 -> 7 as the table default, so a new database needs no
    ``ALTER``."""
    if conn.dialect.name not in ("mysql", "mariadb"):
        s.metadata.create_all(conn)
        return
    collation = binary_collation(conn, "utf8mb4")
    existing = set(sa.inspect(conn).get_table_names())
    for table in s.metadata.sorted_tables:
        if table.name in existing:
            continue
        create = str(sa.schema.CreateTable(table).compile(dialect=conn.dialect)).rstrip()
        conn.execute(sa.DDL(f"{create} COLLATE={collation}"))
        for index in table.indexes:
            conn.execute(sa.schema.CreateIndex(index))


def _binary_collation(conn: sa.Connection) -> None:
    """MariaDB/MySQL: every text column of the layout (and each table's default) gets the binary
    collation of its character set (``binary_collation``), keeping its type and character set.

    Why: the servers' default collations (``utf8mb4_general_ci``) compare ignoring case, so run
    "abc" was found as "ABC", ``status == "completed"`` matched, and two runs or tags differing only
    in case could not both be stored (the unique indexes).  With the collation on the columns,
    ``=``, ``IN``, joins and unique indexes compare as PostgreSQL and SQLite do, and the indexes
    stay usable (a ``BINARY`` cast on the column would not).  The foreign keys on ``run.run_id``
    are dropped and made again around the change (the server refuses to change a referenced
    column's collation).  Each table is rebuilt: minutes for ~10^8 metric rows.
    """
    if conn.dialect.name not in ("mysql", "mariadb"):
        return
    prep = conn.dialect.identifier_preparer
    columns = conn.execute(
        sa.text(
            "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, CHARACTER_SET_NAME, COLLATION_NAME"
            " FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND COLLATION_NAME IS NOT NULL"
        )
    ).all()
    tables = conn.execute(
        sa.text(
            "SELECT t.TABLE_NAME, c.CHARACTER_SET_NAME, t.TABLE_COLLATION FROM information_schema.TABLES AS t"
            " JOIN information_schema.COLLATIONS AS c ON c.COLLATION_NAME = t.TABLE_COLLATION"
            " WHERE t.TABLE_SCHEMA = DATABASE()"
        )
    ).all()
    targets: dict = {}
    changes: dict = {}
    for table, column, column_type, nullable, charset, collation in columns:
        if table not in s.metadata.tables or column not in s.metadata.tables[table].c:
            continue  # not the layout's: left as it is
        target = targets.setdefault(charset, binary_collation(conn, charset))
        if collation != target:
            null = " NOT NULL" if nullable == "NO" else ""
            changes.setdefault(table, []).append(
                f"MODIFY {prep.quote(column)} {column_type} CHARACTER SET {charset} COLLATE {target}{null}"
            )
    for table, charset, collation in tables:
        if table in s.metadata.tables:
            target = targets.setdefault(charset, binary_collation(conn, charset))
            if collation != target:
                changes.setdefault(table, []).append(f"DEFAULT CHARACTER SET {charset} COLLATE {target}")
    inspector = sa.inspect(conn)
    keys = [
        (table, prep.quote(fk["name"]), fk)
        for table in changes
        for fk in inspector.get_foreign_keys(table)
        if fk["name"] and fk["referred_table"] == s.run.name
    ]
    for table, name, _ in keys:
        conn.execute(sa.DDL(f"ALTER TABLE {prep.quote(table)} DROP FOREIGN KEY {name}"))
    for table, clauses in changes.items():
        conn.execute(sa.DDL(f"ALTER TABLE {prep.quote(table)} {', '.join(clauses)}"))
    for table, name, fk in keys:
        local = ", ".join(prep.quote(c) for c in fk["constrained_columns"])
        remote = ", ".join(prep.quote(c) for c in fk["referred_columns"])
        rules = "".join(
            f" ON {event.upper()} {fk['options'][event]}"
            for event in ("ondelete", "onupdate")
            if fk.get("options", {}).get(event)
        )
        conn.execute(
            sa.DDL(
                f"ALTER TABLE {prep.quote(table)} ADD CONSTRAINT {name} FOREIGN KEY ({local})"
                f" REFERENCES {prep.quote(fk['referred_table'])} ({remote}){rules}"
            )
        )


# ---- step 7 -> 8: no index on metric.name alone ---------------------------------------------------
_METRIC_NAME_INDEX = "ix_metric_name"


def _no_metric_name_index(conn: sa.Connection) -> None:
    """Drop ``metric``'s index on ``name``: the read side asks which metrics exist of
    ``metric_summary`` (one row per run and metric, indexed by name), and every appended point paid
    for the extra B-tree insert (~30% of MariaDB's work a row, ~13% of SQLite's)."""
    if _METRIC_NAME_INDEX in {ix["name"] for ix in sa.inspect(conn).get_indexes(s.metric.name)}:
        _drop_index(conn, s.metric, _METRIC_NAME_INDEX)


def _drop_index(conn: sa.Connection, table: sa.Table, name: str) -> None:
    prep = conn.dialect.identifier_preparer
    on = f" ON {prep.format_table(table)}" if conn.dialect.name in ("mysql", "mariadb") else ""
    conn.execute(sa.text(f"DROP INDEX {prep.quote(name)}{on}"))


# ---- step 8 -> 9: PostgreSQL marks the blocks of series changed by hand -----------------------------
# One function for the four statement-level triggers on ``metric``.  The observer's own statements
# (rows with their blocks, in one transaction) set ``WRITER_SETTING`` for their transaction and are
# let through; any other INSERT, UPDATE or DELETE replaces the blocks of each series it touched by
# one block of no points (``common.STALE_MARK``) while the series has rows left, so that readers
# take the rows, also after the observer appends more blocks to it; a TRUNCATE removes every block.
# A DELETE that empties a series leaves no mark: blocks written later cover all its rows.
_TRIGGER_FUNCTION = f"""
CREATE OR REPLACE FUNCTION experimentkit_metric_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    runs text[];
    names text[];
BEGIN
    IF current_setting('{WRITER_SETTING}', true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM metric_block;
        RETURN NULL;
    ELSIF TG_OP = 'INSERT' THEN
        SELECT array_agg(run_id), array_agg(name) INTO runs, names
            FROM (SELECT DISTINCT run_id, name FROM experimentkit_new) AS t;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(run_id), array_agg(name) INTO runs, names
            FROM (SELECT DISTINCT run_id, name FROM experimentkit_old) AS t;
    ELSE
        SELECT array_agg(run_id), array_agg(name) INTO runs, names FROM (
            SELECT run_id, name FROM experimentkit_old UNION SELECT run_id, name FROM experimentkit_new
        ) AS t;
    END IF;
    DELETE FROM metric_block AS b USING unnest(runs, names) AS t(run_id, name)
        WHERE b.run_id = t.run_id AND b.name = t.name;
    INSERT INTO metric_block (run_id, name, point_count, steps, vals, times)
        SELECT t.run_id, t.name, {STALE_MARK}, '', '', '' FROM unnest(runs, names) AS t(run_id, name)
        WHERE EXISTS (SELECT 1 FROM metric AS m WHERE m.run_id = t.run_id AND m.name = t.name);
    RETURN NULL;
END
$$
"""
_TRIGGERS = {
    "experimentkit_metric_insert": "AFTER INSERT ON metric REFERENCING NEW TABLE AS experimentkit_new",
    "experimentkit_metric_update": (
        "AFTER UPDATE ON metric REFERENCING OLD TABLE AS experimentkit_old NEW TABLE AS experimentkit_new"
    ),
    "experimentkit_metric_delete": "AFTER DELETE ON metric REFERENCING OLD TABLE AS experimentkit_old",
    "experimentkit_metric_truncate": "AFTER TRUNCATE ON metric",
}


def _metric_triggers(conn: sa.Connection) -> None:
    """PostgreSQL: the triggers above, so that readers trust a series' blocks without counting its
    rows (a count read every row's visibility: half the read of a 10^6-point series).

    Other dialects are left as they are: MariaDB/MySQL have only row-level triggers, which would
    slow every appended row; their readers (and SQLite's) keep comparing the count.
    """
    if conn.dialect.name != "postgresql":
        return
    conn.execute(sa.text(_TRIGGER_FUNCTION))
    for name, when in _TRIGGERS.items():
        conn.execute(sa.text(f"DROP TRIGGER IF EXISTS {name} ON metric"))
        call = "FOR EACH STATEMENT EXECUTE FUNCTION experimentkit_metric_changed()"
        conn.execute(sa.text(f"CREATE TRIGGER {name} {when} {call}"))


def _blocks_checked(conn: sa.Connection) -> None:
    """The 8 -> 9 step: the triggers, and the series whose blocks no longer hold exactly their rows
    (changed by hand before the triggers existed, or with chunks that have no block) marked or, when
    they have no rows, cleared, as the triggers would have.  One pass over the rows."""
    if conn.dialect.name != "postgresql":
        return
    _metric_triggers(conn)
    conn.execute(
        sa.text(
            "CREATE TEMPORARY TABLE experimentkit_stale ON COMMIT DROP AS"
            " SELECT coalesce(r.run_id, b.run_id) AS run_id, coalesce(r.name, b.name) AS name,"
            " r.n IS NOT NULL AS has_rows"
            " FROM (SELECT run_id, name, count(*) AS n FROM metric GROUP BY run_id, name) AS r"
            " FULL JOIN (SELECT run_id, name, sum(point_count) AS n FROM metric_block"
            " GROUP BY run_id, name) AS b"
            " ON b.run_id = r.run_id AND b.name = r.name"
            " WHERE r.n IS DISTINCT FROM b.n"
        )
    )
    conn.execute(
        sa.text(
            "DELETE FROM metric_block AS b USING experimentkit_stale AS t"
            " WHERE b.run_id = t.run_id AND b.name = t.name"
        )
    )
    conn.execute(
        sa.text(
            "INSERT INTO metric_block (run_id, name, point_count, steps, vals, times)"
            f" SELECT run_id, name, {STALE_MARK}, '', '', '' FROM experimentkit_stale WHERE has_rows"
        )
    )
    conn.execute(sa.text("DROP TABLE experimentkit_stale"))


_STEPS: dict[int, Callable[[sa.Connection], None]] = {
    0: _sacred_to_v1,
    1: _tag_order,
    2: _metric_last_index,
    3: _metric_without_foreign_key,
    4: _catalogue_and_summaries,
    5: _metric_blocks,
    6: _binary_collation,
    7: _no_metric_name_index,
    8: _blocks_checked,
}
