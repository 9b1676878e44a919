"""The write side of the key catalogue and the metric summaries (schema version 5).

``run_key`` lists every key some run has written (see ``schema.run_key``) and ``metric_summary``
holds each run's last/min/max/count per metric (see ``schema.metric_summary``).  The observer
keeps both current as it writes; the store reads them (``SqlStore.has_key``, metric filters and
orders) and clears or trims them when it deletes runs; the migration to version 5 fills them
from the rows already stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Optional

import sqlalchemy as sa

from ...query.base import dotted_keys
from . import schema as s

__all__ = ["catalogue_rows", "add_keys", "update_summary", "fill_from_stored", "forget_runs"]

_IN_CHUNK = 500


def catalogue_rows(root: str, document: Any) -> set:
    """``(root, path)`` for every dotted path of ``document`` that fits the catalogue."""
    cut = len(root) + 1
    return {(root, name[cut:]) for name in dotted_keys([document], root) if len(name) - cut <= s.KEY_LENGTH}


def add_keys(conn: sa.Connection, rows: Iterable[tuple]) -> None:
    """Add the ``(root, name)`` rows the catalogue lacks, inside ``conn``'s transaction.

    The rows already there are read first, so a run whose keys are all known (the usual case)
    writes nothing and takes no lock; the rest are inserted in a fixed order with
    insert-if-absent, so concurrent runs adding the same key neither fail nor deadlock."""
    wanted = sorted(set(rows))
    if not wanted:
        return
    k = s.run_key.c
    have: set = set()
    for root in sorted({root for root, _ in wanted}):
        names = [name for r, name in wanted if r == root]
        for lo in range(0, len(names), _IN_CHUNK):
            chunk = names[lo : lo + _IN_CHUNK]
            found = conn.execute(sa.select(k.name).where(k.root == root, k.name.in_(chunk)))
            have.update((root, name) for name in found.scalars())
    missing = [{"root": root, "name": name} for root, name in wanted if (root, name) not in have]
    if missing:
        conn.execute(_insert_if_absent(conn.dialect.name, s.run_key), missing)


def _insert_if_absent(dialect: str, table: sa.Table) -> Any:
    """An INSERT that skips rows whose primary key is taken (SQLite, PostgreSQL, MySQL)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table).on_conflict_do_nothing()
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table).on_conflict_do_nothing()
    return table.insert().prefix_with("IGNORE")


def update_summary(conn: sa.Connection, run_id: str, name: str, values: list) -> None:
    """Fold appended points (``values`` as stored: finite floats or None, in order) into the
    run's summary of ``name``, inside the transaction that appends them."""
    if not values:
        return
    finite = [v for v in values if v is not None]
    lo: Optional[float] = min(finite) if finite else None
    hi: Optional[float] = max(finite) if finite else None
    m = s.metric_summary.c
    changes: dict = {"last_value": values[-1], "point_count": m.point_count + len(values)}
    if lo is not None:
        changes["min_value"] = sa.case(
            (sa.or_(m.min_value.is_(None), m.min_value > lo), lo), else_=m.min_value
        )
        changes["max_value"] = sa.case(
            (sa.or_(m.max_value.is_(None), m.max_value < hi), hi), else_=m.max_value
        )
    stmt = s.metric_summary.update().where(m.run_id == run_id, m.name == name).values(**changes)
    if conn.execute(stmt).rowcount == 0:
        conn.execute(
            s.metric_summary.insert().values(
                run_id=run_id,
                name=name,
                last_value=values[-1],
                min_value=lo,
                max_value=hi,
                point_count=len(values),
            )
        )


def fill_from_stored(conn: sa.Connection) -> None:
    """Summaries of the stored metric rows and the catalogue of the stored runs' keys (the
    migration to version 5; runs are read in pages, so memory stays bounded)."""
    m = s.metric
    groups = (
        sa.select(
            m.c.run_id,
            m.c.name,
            sa.func.min(m.c.value).label("lo"),
            sa.func.max(m.c.value).label("hi"),
            sa.func.count().label("n"),
            sa.func.max(m.c.metric_id).label("last_id"),
        )
        .group_by(m.c.run_id, m.c.name)
        .subquery()
    )
    conn.execute(s.metric_summary.delete())  # recomputed from the points, which are the truth
    last = m.alias("last")
    rows = sa.select(
        groups.c.run_id, groups.c.name, last.c.value, groups.c.lo, groups.c.hi, groups.c.n
    ).join_from(groups, last, last.c.metric_id == groups.c.last_id)
    conn.execute(
        s.metric_summary.insert().from_select(
            ["run_id", "name", "last_value", "min_value", "max_value", "point_count"], rows
        )
    )
    names = conn.execute(sa.select(s.metric_summary.c.name).distinct()).scalars()
    add_keys(conn, {("metrics", name) for name in names if len(name) <= s.KEY_LENGTH})
    r = s.run.c
    after = None
    while True:
        page = sa.select(r.id, r.config, r.info, r.meta).order_by(r.id).limit(1000)
        if after is not None:
            page = page.where(r.id > after)
        found = conn.execute(page).all()
        if not found:
            return
        keys: set = set()
        for row in found:
            for root, text in (("config", row.config), ("info", row.info), ("meta", row.meta)):
                keys |= catalogue_rows(root, _json_or_none(text))
        add_keys(conn, keys)
        after = found[-1].id


def _json_or_none(text: Optional[str]) -> Any:
    import json

    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def forget_runs(conn: sa.Connection, run_ids: list) -> None:
    """Drop deleted runs' summaries and empty the catalogue (it may name keys only those runs
    had; it fills again as keys are found and written)."""
    for lo in range(0, len(run_ids), _IN_CHUNK):
        chunk = run_ids[lo : lo + _IN_CHUNK]
        conn.execute(s.metric_summary.delete().where(s.metric_summary.c.run_id.in_(chunk)))
    conn.execute(s.run_key.delete())
