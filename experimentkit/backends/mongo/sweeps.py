"""Sweep records in MongoDB: the collection ``<prefix>sweeps``, one document per sweep (``_id`` an
integer, allocated as the highest plus one, retried on a duplicate key).

The record itself is kept as JSON text in ``record`` (swept keys are dotted, which MongoDB field
names must not be), with ``status`` and ``start_time`` beside it for queries.
"""
from __future__ import annotations

import json
from typing import Any, Optional

from ...sweep.records import SweepBook

__all__ = ["MongoSweepBook"]


class MongoSweepBook(SweepBook):
    """Sweep records beside the runs collection."""

    def __init__(self, database: Any, prefix: str = "", where: str = ""):
        self.collection = database[f"{prefix}sweeps"]
        self._where = where or f"MongoDB database '{database.name}'"

    @classmethod
    def from_url(cls, url: Optional[str], db_name: str = "sacred", prefix: str = "") -> MongoSweepBook:
        import pymongo

        client = pymongo.MongoClient(url, serverSelectionTimeoutMS=3000)
        return cls(client[db_name], prefix)

    def __str__(self) -> str:
        return self._where

    def create(self, record: dict, sweep_id: Optional[int] = None) -> int:
        from pymongo.errors import DuplicateKeyError

        while True:
            if sweep_id is None:
                last = list(self.collection.find({}, {"_id": 1}).sort("_id", -1).limit(1))
                candidate = int(last[0]["_id"]) + 1 if last else 1
            else:
                candidate = int(sweep_id)
            try:
                self.collection.insert_one({
                    "_id": candidate, "status": record.get("status"),
                    "start_time": record.get("start_time"),
                    "record": json.dumps(dict(record, id=candidate), default=str)})
                return candidate
            except DuplicateKeyError:
                if sweep_id is not None:
                    raise

    def update(self, sweep_id: int, changes: dict) -> None:
        doc = self.collection.find_one({"_id": int(sweep_id)})
        record = dict(json.loads(doc["record"]), **changes)
        self.collection.update_one({"_id": int(sweep_id)}, {"$set": {
            "status": record.get("status"), "record": json.dumps(record, default=str)}})

    def records(self) -> list:
        return [json.loads(doc["record"]) for doc in self.collection.find().sort("_id", 1)]
