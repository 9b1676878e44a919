"""Sweep records in MongoDB: the collection ``<prefix>sweeps``, one document per sweep (``_id`` an
integer, allocated as the highest plus one, retried on a duplicate key).

The record itself is kept as JSON text in ``record`` (swept keys are dotted, which MongoDB field
names must not be), with ``status`` and ``start_time`` beside it for queries.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any, Optional

from ...errors import StoreError
from ...sweep.records import SweepBook

__all__ = ["MongoSweepBook"]


@contextlib.contextmanager
def _errors(where: str) -> Iterator[None]:
    """MongoDB errors as one-line ``StoreError``s."""
    from pymongo.errors import DuplicateKeyError, PyMongoError

    try:
        yield
    except DuplicateKeyError:
        raise
    except PyMongoError as exc:
        detail = str(exc).strip().splitlines()
        raise StoreError(f"{where}: {type(exc).__name__}: {detail[0] if detail else ''}") from None


class MongoSweepBook(SweepBook):
    """Sweep records beside the runs collection."""

    def __init__(self, database: Any, prefix: str = "", where: str = ""):
        self.collection = database[f"{prefix}sweeps"]
        self._where = where or f"MongoDB database '{database.name}'"

    @classmethod
    def from_url(cls, url: Optional[str], db_name: str = "sacred", prefix: str = "") -> MongoSweepBook:
        import pymongo

        client: Any = pymongo.MongoClient(url, serverSelectionTimeoutMS=3000)
        return cls(client[db_name], prefix)

    def __str__(self) -> str:
        return self._where

    def create(self, record: dict, sweep_id: Optional[int] = None) -> int:
        from pymongo.errors import DuplicateKeyError

        while True:
            if sweep_id is None:
                with _errors(str(self)):
                    last = list(self.collection.find({}, {"_id": 1}).sort("_id", -1).limit(1))
                candidate = int(last[0]["_id"]) + 1 if last else 1
            else:
                candidate = int(sweep_id)
            try:
                with _errors(str(self)):
                    self.collection.insert_one(
                        {
                            "_id": candidate,
                            "status": record.get("status"),
                            "start_time": record.get("start_time"),
                            "record": json.dumps(dict(record, id=candidate), default=str),
                        }
                    )
                return candidate
            except DuplicateKeyError:
                if sweep_id is not None:
                    raise

    def update(self, sweep_id: int, changes: dict) -> None:
        with _errors(str(self)):
            doc = self.collection.find_one({"_id": int(sweep_id)})
            record = dict(json.loads(doc["record"]), **changes)
            self.collection.update_one(
                {"_id": int(sweep_id)},
                {"$set": {"status": record.get("status"), "record": json.dumps(record, default=str)}},
            )

    def records(self) -> list:
        with _errors(str(self)):
            return [json.loads(doc["record"]) for doc in self.collection.find().sort("_id", 1)]
