"""Sacred's ``sacred.observers.tinydb_hashfs``.  The code lives in :mod:`experimentkit.backends.tinydb`."""

from __future__ import annotations

from ..backends.tinydb.observer import DEFAULT_TINYDB_PRIORITY, TinyDbObserver  # noqa: F401
from ..backends.tinydb.reader import TinyDbReader  # noqa: F401
from ..backends.tinydb.schema import DataFrameSerializer, SeriesSerializer  # noqa: F401
from ..commandline.options import tiny_db_option  # noqa: F401

__all__ = [
    "TinyDbObserver",
    "TinyDbReader",
    "tiny_db_option",
    "DEFAULT_TINYDB_PRIORITY",
    "DataFrameSerializer",
    "SeriesSerializer",
]
