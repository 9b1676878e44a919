"""Sacred's ``sacred.observers.mongo``.  The code lives in :mod:`experimentkit.backends.mongo`."""

from __future__ import annotations

from ..backends.mongo.observer import (  # noqa: F401 - re-exported under Sacred's module path
    DEFAULT_MONGO_PRIORITY,
    MongoObserver,
    QueuedMongoObserver,
)
from ..backends.mongo.schema import escape_key as force_valid_bson_key  # noqa: F401
from ..backends.mongo.schema import force_bson_encodeable  # noqa: F401
from ..commandline.options import mongo_db_option, parse_mongo_db_arg  # noqa: F401

__all__ = [
    "MongoObserver",
    "QueuedMongoObserver",
    "DEFAULT_MONGO_PRIORITY",
    "force_bson_encodeable",
    "force_valid_bson_key",
    "mongo_db_option",
    "parse_mongo_db_arg",
]
