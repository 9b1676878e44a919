"""SQL backend (SQLite, PostgreSQL, MariaDB/MySQL through SQLAlchemy 2 Core).

``observer`` writes runs, ``schema`` is the table layout shared with the read side, ``migrations``
creates or upgrades it.  Nothing here imports SQLAlchemy until a name below is used.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["SqlObserver", "upgrade"]

_LAZY = {
    "SqlObserver": "experimentkit.backends.sql.observer",
    "upgrade": "experimentkit.backends.sql.migrations",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'experimentkit.backends.sql' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
