"""Sweep records in an SQL database: the table ``sweep`` (id, status, start time, JSON record).

The table has its own ``MetaData`` and is created on first use (``CREATE TABLE IF NOT EXISTS``), so
databases written before sweeps existed need no migration.  SQLAlchemy is imported on first use.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any, Optional

from ...errors import StoreError
from ...sweep.records import SweepBook

__all__ = ["SqlSweepBook"]


def _table() -> Any:
    import sqlalchemy as sa
    from sqlalchemy.dialects import mysql

    metadata = sa.MetaData()
    return sa.Table(
        "sweep",
        metadata,
        sa.Column("sweep_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("status", sa.String(20)),
        sa.Column("start_time", sa.String(32)),
        sa.Column("record", sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
    )


@contextlib.contextmanager
def _errors(where: str) -> Iterator[None]:
    """Database errors as one-line ``StoreError``s (the URL shown without its password)."""
    import sqlalchemy as sa

    try:
        yield
    except sa.exc.SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        raise StoreError(
            f"{where}: {type(getattr(exc, 'orig', None) or exc).__name__}: {detail[0] if detail else ''}"
        ) from None


class SqlSweepBook(SweepBook):
    """Sweep records in the run database (SQLite, PostgreSQL, MySQL)."""

    def __init__(self, url: Any, engine: Any = None, create: bool = True):
        from .observer import _create_engine, _safe_url

        self.url = url
        self._where = _safe_url(url)
        self.engine = engine if engine is not None else _create_engine(url, False)
        self.table = _table()
        if create:  # the write side; readers never change the database
            with _errors(str(self)):
                self.table.metadata.create_all(self.engine, checkfirst=True)

    def __str__(self) -> str:
        return f"SQL store {self._where}"

    def create(self, record: dict, sweep_id: Optional[int] = None) -> int:
        values: dict = {
            "status": record.get("status"),
            "start_time": record.get("start_time"),
            "record": json.dumps(record, default=str),
        }
        if sweep_id is not None:
            values["sweep_id"] = int(sweep_id)
        with _errors(str(self)), self.engine.begin() as conn:
            result = conn.execute(self.table.insert().values(**values))
            new_id = int(sweep_id if sweep_id is not None else result.inserted_primary_key[0])
            full = dict(record, id=new_id)
            conn.execute(
                self.table.update()
                .where(self.table.c.sweep_id == new_id)
                .values(record=json.dumps(full, default=str))
            )
        return new_id

    def update(self, sweep_id: int, changes: dict) -> None:
        table = self.table
        with _errors(str(self)), self.engine.begin() as conn:
            row = conn.execute(table.select().where(table.c.sweep_id == int(sweep_id))).first()
            record = dict(json.loads(row.record), **changes)
            conn.execute(
                table.update()
                .where(table.c.sweep_id == int(sweep_id))
                .values(status=record.get("status"), record=json.dumps(record, default=str))
            )

    def records(self) -> list:
        import sqlalchemy as sa

        with _errors(str(self)):
            if not sa.inspect(self.engine).has_table("sweep"):
                return []
        with _errors(str(self)), self.engine.connect() as conn:
            rows = conn.execute(self.table.select().order_by(self.table.c.sweep_id)).all()
        return [json.loads(row.record) for row in rows]

    def close(self) -> None:
        self.engine.dispose()
