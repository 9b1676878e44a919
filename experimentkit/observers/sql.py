"""Sacred's ``sacred.observers.sql``.  The code lives in :mod:`experimentkit.backends.sql`."""

from __future__ import annotations

from ..backends.sql.observer import DEFAULT_SQL_PRIORITY, SqlObserver  # noqa: F401
from ..commandline.options import sql_option  # noqa: F401

__all__ = ["SqlObserver", "DEFAULT_SQL_PRIORITY", "sql_option"]
