"""The TinyDB layout shared by :mod:`.observer` (write) and :mod:`.reader` (read), as Sacred's
``TinyDbObserver`` writes it::

    <root>/metadata.json     TinyDB database; table "runs" holds one document per run
    <root>/hashfs/ab/cd/ef/<rest of md5>   file contents (sources, resources, artifacts), by md5

Values TinyDB's JSON cannot hold are tagged strings, as tinydb-serialization writes them:
``"{TinyDate}2024-01-02T03:04:05.000006"``, ``"{TinyFile}\\"<md5>\\""`` (a stored file),
``"{TinyArray}[1, 2]"`` (a numpy array), ``"{TinyDataFrame}<json>"`` / ``"{TinySeries}<json>"``
(pandas, in ``to_json`` form, as Sacred's serializers).  The storage tags values on write and untags
them on read, so documents read back hold datetimes, arrays, pandas objects and :class:`StoredFile`
objects; the database file is replaced atomically on every write.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import re
import tempfile
from typing import Any, Optional

from ...serialize import flatten

__all__ = [
    "DB_FILE",
    "FILES_DIR",
    "DATE_TAG",
    "FILE_TAG",
    "ARRAY_TAG",
    "encode",
    "decode",
    "file_tag",
    "open_db",
    "open_files",
    "StoredFile",
    "TaggedJSONStorage",
    "DataFrameSerializer",
    "SeriesSerializer",
]

DB_FILE = "metadata.json"
FILES_DIR = "hashfs"
DATE_TAG, FILE_TAG, ARRAY_TAG = "{TinyDate}", "{TinyFile}", "{TinyArray}"
_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"
_FILE_ID = re.compile(r"[0-9a-f]{32}")


def file_tag(file_id: str) -> str:
    """The stored form of a reference to the file ``file_id`` in HashFS."""
    return FILE_TAG + json.dumps(file_id)


class StoredFile:
    """A file in the store's HashFS, opened (read-only) only when read; what a ``{TinyFile}`` reference
    reads back as (Sacred gives an open file handle instead, one per reference on every read)."""

    def __init__(self, fs: Any, file_id: str):
        if not _FILE_ID.fullmatch(str(file_id)):
            raise ValueError(f"not a stored file id: {file_id!r}")
        self.fs = fs
        self.hash = self.id = file_id
        self._handle: Any = None

    @property
    def name(self) -> str:
        """The file's path inside the store."""
        return self.fs.realpath(self.hash)

    def read(self, size: int = -1) -> bytes:
        """Read from the stored file (opened on first use)."""
        if self._handle is None:
            self._handle = self.fs.open(self.hash)
        return self._handle.read(size)

    def close(self) -> None:
        """Close the handle if one was opened."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> StoredFile:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StoredFile) and other.hash == self.hash

    def __hash__(self) -> int:
        return hash(self.hash)

    def __repr__(self) -> str:
        return f"StoredFile({self.hash!r})"


class DataFrameSerializer:
    """A pandas ``DataFrame`` as the text after its tag (``to_json``), and back (Sacred's name)."""

    TAG = "{TinyDataFrame}"
    CLASS_NAME = "DataFrame"

    def encode(self, obj: Any) -> str:
        return obj.to_json()

    def decode(self, text: str) -> Any:
        import io

        import pandas

        return pandas.read_json(io.StringIO(text))


class SeriesSerializer(DataFrameSerializer):
    """A pandas ``Series`` as the text after its tag, and back (Sacred's name)."""

    TAG = "{TinySeries}"
    CLASS_NAME = "Series"

    def decode(self, text: str) -> Any:
        import io

        import pandas

        return pandas.read_json(io.StringIO(text), typ="series")


_PANDAS = (DataFrameSerializer(), SeriesSerializer())


def encode(value: Any) -> Any:
    """``value`` as TinyDB stores it: datetimes, numpy arrays and stored files tagged, the rest
    JSON-safe."""
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, _dt.datetime):
        return DATE_TAG + value.strftime(_DATE_FORMAT)
    if isinstance(value, StoredFile):
        return file_tag(value.hash)
    if type(value).__module__ == "numpy" and type(value).__name__ == "ndarray":
        return ARRAY_TAG + json.dumps(flatten(value))
    if type(value).__module__.startswith("pandas"):
        for serializer in _PANDAS:
            if type(value).__name__ == serializer.CLASS_NAME:
                return serializer.TAG + serializer.encode(value)
    return flatten(value)


def decode(value: Any, fs: Any = None) -> Any:
    """Undo :func:`encode`; file tags become :class:`StoredFile` (or stay the md5 without ``fs``)."""
    if isinstance(value, dict):
        return {k: decode(v, fs) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v, fs) for v in value]
    if isinstance(value, str):
        if value.startswith(DATE_TAG):
            return _dt.datetime.strptime(value[len(DATE_TAG) :], _DATE_FORMAT)
        if value.startswith(FILE_TAG):
            file_id = json.loads(value[len(FILE_TAG) :])
            return StoredFile(fs, file_id) if fs is not None else file_id
        if value.startswith(ARRAY_TAG):
            items = json.loads(value[len(ARRAY_TAG) :])
            try:
                import numpy
            except ImportError:
                return items
            return numpy.array(items)
        for serializer in _PANDAS:
            if value.startswith(serializer.TAG):
                return serializer.decode(value[len(serializer.TAG) :])
    return value


class TaggedJSONStorage:
    """TinyDB storage: tags values on write, untags on read, and replaces the JSON file atomically
    (temp file + ``os.replace``)."""

    def __init__(self, path: str, fs: Any = None, **kwargs: Any):
        self.path = path
        self.fs = fs

    def read(self) -> Optional[dict]:
        try:
            with open(self.path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            return None
        return decode(json.loads(text), self.fs) if text.strip() else None

    def write(self, data: dict) -> None:
        folder = os.path.dirname(os.path.abspath(self.path))
        fd, tmp = tempfile.mkstemp(prefix=".metadata-", suffix=".json", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(encode(data), f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def close(self) -> None:
        """Nothing stays open between writes."""


def open_files(root: str) -> Any:
    """The HashFS that holds the store's file contents (md5-addressed, as Sacred)."""
    from hashfs import HashFS

    return HashFS(os.path.join(root, FILES_DIR), depth=3, width=2, algorithm="md5")


def open_db(root: str, fs: Any = None) -> Any:
    """The TinyDB database of the store at ``root`` (file references resolve in ``fs``)."""
    from tinydb import TinyDB

    return TinyDB(
        os.path.join(root, DB_FILE), storage=TaggedJSONStorage, fs=fs if fs is not None else open_files(root)
    )
