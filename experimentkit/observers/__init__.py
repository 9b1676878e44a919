"""Observers record runs.  Each backend is imported only when its class is first used."""
from __future__ import annotations

import importlib
from typing import Any

from .base import RunObserver

__all__ = [
    "RunObserver", "InMemoryObserver", "FileStorageObserver", "SqlObserver", "MongoObserver",
    "QueuedMongoObserver", "QueueObserver",
]

_LAZY = {
    "InMemoryObserver": "experimentkit.observers.memory",
    "QueueObserver": "experimentkit.observers.queue",
    "FileStorageObserver": "experimentkit.backends.file.observer",
    "SqlObserver": "experimentkit.backends.sql.observer",
    "MongoObserver": "experimentkit.backends.mongo.observer",
    "QueuedMongoObserver": "experimentkit.backends.mongo.observer",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'experimentkit.observers' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
