"""The TinyDB layout shared by :mod:`.observer` (write) and :mod:`.reader` (read), as Sacred's
``TinyDbObserver`` writes it::

    <root>/metadata.json     TinyDB database; table "runs" holds one document per run
    <root>/hashfs/ab/cd/ef/<rest of md5>   file contents (sources, resources, artifacts), by md5

Values TinyDB's JSON cannot hold are tagged strings, as tinydb-serialization writes them:
``"{TinyDate}2024-01-02T03:04:05.000006"``, ``"{TinyFile}\\"<md5>\\""`` (a stored file),
``"{TinyArray}[1, 2]"`` (a numpy array).  The database file is replaced atomically on every write.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
from typing import Any, Optional

from ...serialize import flatten

__all__ = ["DB_FILE", "FILES_DIR", "DATE_TAG", "FILE_TAG", "ARRAY_TAG", "encode", "decode",
           "file_tag", "open_db", "open_files", "AtomicJSONStorage"]

DB_FILE = "metadata.json"
FILES_DIR = "hashfs"
DATE_TAG, FILE_TAG, ARRAY_TAG = "{TinyDate}", "{TinyFile}", "{TinyArray}"
_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"


def file_tag(file_id: str) -> str:
    """The stored form of a reference to the file ``file_id`` in HashFS."""
    return FILE_TAG + json.dumps(file_id)


def encode(value: Any) -> Any:
    """``value`` as TinyDB stores it: datetimes and numpy arrays tagged, the rest JSON-safe."""
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, _dt.datetime):
        return DATE_TAG + value.strftime(_DATE_FORMAT)
    if type(value).__module__ == "numpy" and type(value).__name__ == "ndarray":
        return ARRAY_TAG + json.dumps(flatten(value))
    return flatten(value)


def decode(value: Any, open_file: Any = None) -> Any:
    """Undo :func:`encode`; file tags become ``open_file(md5)`` (or stay the md5 string)."""
    if isinstance(value, dict):
        return {k: decode(v, open_file) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v, open_file) for v in value]
    if isinstance(value, str):
        if value.startswith(DATE_TAG):
            return _dt.datetime.strptime(value[len(DATE_TAG):], _DATE_FORMAT)
        if value.startswith(FILE_TAG):
            file_id = json.loads(value[len(FILE_TAG):])
            return open_file(file_id) if open_file else file_id
        if value.startswith(ARRAY_TAG):
            items = json.loads(value[len(ARRAY_TAG):])
            try:
                import numpy
            except ImportError:
                return items
            return numpy.array(items)
    return value


class AtomicJSONStorage:
    """TinyDB storage that replaces the JSON file atomically (temp file + ``os.replace``)."""

    def __init__(self, path: str, create_dirs: bool = False, **kwargs: Any):
        self.path = path
        if create_dirs:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)

    def read(self) -> Optional[dict]:
        try:
            with open(self.path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            return None
        return json.loads(text) if text.strip() else None

    def write(self, data: dict) -> None:
        folder = os.path.dirname(os.path.abspath(self.path))
        fd, tmp = tempfile.mkstemp(prefix=".metadata-", suffix=".json", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with __import__("contextlib").suppress(OSError):
                os.unlink(tmp)
            raise

    def close(self) -> None:
        """Nothing stays open between writes."""


def open_db(root: str) -> Any:
    """The TinyDB database of the store at ``root``."""
    from tinydb import TinyDB

    return TinyDB(os.path.join(root, DB_FILE), storage=AtomicJSONStorage)


def open_files(root: str) -> Any:
    """The HashFS that holds the store's file contents (md5-addressed, as Sacred)."""
    from hashfs import HashFS

    return HashFS(os.path.join(root, FILES_DIR), depth=3, width=2, algorithm="md5")
