"""Sacred's ``sacred.observers.sql_bases``: SQLAlchemy ORM classes over the SQL store's tables.

The code lives in :mod:`experimentkit.backends.sql.orm` (the tables in
:mod:`experimentkit.backends.sql.schema`).
"""

from __future__ import annotations

from ..backends.sql.orm import (  # noqa: F401 - re-exported under Sacred's module path
    Artifact,
    Base,
    Dependency,
    Experiment,
    Host,
    Repository,
    Resource,
    Run,
    Source,
)

__all__ = ["Base", "Host", "Experiment", "Run", "Source", "Resource", "Repository", "Dependency", "Artifact"]
