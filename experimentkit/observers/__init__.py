"""Observers record runs.  Each backend is imported only when its class is first used."""

from __future__ import annotations

from typing import Any

from ..lazy import lazy_attribute
from .base import RunObserver

__all__ = [
    "RunObserver",
    "InMemoryObserver",
    "FileStorageObserver",
    "SqlObserver",
    "MongoObserver",
    "QueuedMongoObserver",
    "QueueObserver",
    "S3Observer",
    "GoogleCloudStorageObserver",
    "TinyDbObserver",
    "TinyDbReader",
    "SlackObserver",
    "TelegramObserver",
]

_LAZY = {
    "InMemoryObserver": "experimentkit.observers.memory",
    "QueueObserver": "experimentkit.observers.queue",
    "FileStorageObserver": "experimentkit.backends.file.observer",
    "SqlObserver": "experimentkit.backends.sql.observer",
    "MongoObserver": "experimentkit.backends.mongo.observer",
    "QueuedMongoObserver": "experimentkit.backends.mongo.observer",
    "S3Observer": "experimentkit.backends.s3.observer",
    "GoogleCloudStorageObserver": "experimentkit.backends.gcs.observer",
    "TinyDbObserver": "experimentkit.backends.tinydb.observer",
    "TinyDbReader": "experimentkit.backends.tinydb.reader",
    "SlackObserver": "experimentkit.notify.slack",
    "TelegramObserver": "experimentkit.notify.telegram",
}

# Sacred's observer modules (faces), importable as attributes: ``experimentkit.observers.mongo``.
_SUBMODULES = frozenset(
    {
        "base",
        "file_storage",
        "gcs_observer",
        "memory",
        "mongo",
        "queue",
        "s3_observer",
        "slack",
        "sql",
        "sql_bases",
        "telegram_obs",
        "tinydb_hashfs",
    }
)


def __getattr__(name: str) -> Any:
    return lazy_attribute(globals(), _LAZY, name, _SUBMODULES)
