"""The MongoDB layout shared by the observer (write side) and the store (read side).

It is Sacred 0.8's layout (so Omniboard, incense and Sacred's own readers keep working) plus a
few additive fields: ``captured_out_length``, ``captured_out_truncated``, ``captured_out_spill``
in the run document, and a ``tables`` collection.  docs/storage-mongo.md describes it in full.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "FORMAT",
    "RESERVED_COLLECTIONS",
    "DEFAULT_CAPTURED_OUT_BUDGET",
    "collection_names",
    "artifact_filename",
    "spill_filename",
    "bson_safe",
    "escape_key",
    "unescape_key",
    "OMNIBOARD_TAGS",
    "OMNIBOARD_NOTES",
    "open_gridfs",
    "field_path",
]

#: Written to ``format`` in every run document; Sacred 0.8.7 writes the same string.
FORMAT = "MongoObserver-0.7.0"

#: Collection names that would clash with GridFS or other tools sharing the database.
RESERVED_COLLECTIONS = frozenset(
    {
        "fs.files",
        "fs.chunks",
        "_properties",
        "system.indexes",
        "search_space",
        "search_spaces",
    }
)

#: Bytes of captured output kept inside a run document; the rest goes to GridFS.  MongoDB refuses
#: documents above 16 MiB, and config, info and the rest of the document need room too.
DEFAULT_CAPTURED_OUT_BUDGET = 12 * 1024 * 1024

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

#: Where tags and notes live in a run document: Omniboard's fields, so Omniboard shows and edits
#: the same annotations as ``experimentkit tag`` / ``note``.
OMNIBOARD_TAGS = "omniboard.tags"
OMNIBOARD_NOTES = "omniboard.notes"


def collection_names(collection: str = "runs", collection_prefix: str = "") -> dict:
    """The ``{"runs", "metrics", "tables"}`` collection names, derived as Sacred does.

    A non-default ``collection`` names only the runs collection (Sacred's older way); a prefix ``p``
    gives ``p_runs``, ``p_metrics`` and ``p_tables``.
    """
    if collection != "runs":
        if collection_prefix:
            raise ValueError("Cannot pass both collection and a collection prefix.")
        names = {"runs": collection, "metrics": "metrics", "tables": "tables"}
    else:
        prefix = f"{collection_prefix}_" if collection_prefix else ""
        names = {kind: f"{prefix}{kind}" for kind in ("runs", "metrics", "tables")}
    for name in names.values():
        if name in RESERVED_COLLECTIONS:
            raise KeyError(f'Collection name "{name}" is reserved. Please use a different one.')
    return names


def artifact_filename(runs_collection: str, run_id: Any, name: str) -> str:
    """GridFS filename of an artifact (Sacred's ``artifact://<runs>/<id>/<name>``)."""
    return f"artifact://{runs_collection}/{run_id}/{name}"


def spill_filename(runs_collection: str, run_id: Any, offset: int) -> str:
    """GridFS filename of spilled output starting at character ``offset`` of the run's output."""
    return f"captured_out://{runs_collection}/{run_id}/{offset}"


def escape_key(key: Any) -> str:
    """Make a key storable and queryable (as Sacred): ``.`` -> ``,``, a leading ``$`` -> ``@``."""
    key = str(key).replace(".", ",")
    return "@" + key[1:] if key.startswith("$") else key


def unescape_key(key: str) -> str:
    """Best-effort inverse of :func:`escape_key` (a key that really had a ``,`` is ambiguous)."""
    key = key.replace(",", ".")
    return "$" + key[1:] if key.startswith("@") else key


def bson_safe(obj: Any) -> Any:
    """Copy JSON-like data into a form BSON can store and MongoDB can query.

    Keys are escaped only when they need it, tuples become lists, and integers beyond 64 bits (which
    BSON cannot hold) become strings, the fallback Sacred applies.  Datetimes, ObjectIds and other
    BSON types pass through.
    """
    if isinstance(obj, dict):
        return {_safe_key(key): bson_safe(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [bson_safe(value) for value in obj]
    if isinstance(obj, int) and not isinstance(obj, bool) and not _INT64_MIN <= obj <= _INT64_MAX:
        return str(obj)
    return obj


def force_bson_encodeable(obj: Any) -> Any:
    """Sacred's ``force_bson_encodeable``: :func:`bson_safe` keys, and any value BSON cannot encode
    replaced by ``str(value)`` (numpy arrays pass through; the observer stores them as lists)."""
    import bson

    if isinstance(obj, dict):
        return {_safe_key(key): force_bson_encodeable(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)) and type(obj) in (list, tuple):
        return type(obj)(force_bson_encodeable(value) for value in obj)
    if type(obj).__module__ == "numpy" and type(obj).__name__ == "ndarray":
        return obj
    try:
        bson.encode({"value": obj})
    except (bson.errors.InvalidDocument, OverflowError):
        return str(obj)
    return obj


def _safe_key(key: Any) -> str:
    needs_escape = not isinstance(key, str) or "." in key or key.startswith("$")
    return escape_key(key) if needs_escape else key


def field_path(*parts: Any) -> str:
    """A dotted MongoDB field path to a stored key, each part escaped as :func:`bson_safe` does."""
    return ".".join(_safe_key(part) for part in parts)


def open_gridfs(database: Any) -> Any:
    """``gridfs.GridFS`` over ``database``, which may be a mongomock database (tests)."""
    import gridfs

    if type(database).__module__.startswith("mongomock"):
        import mongomock.gridfs

        mongomock.gridfs.enable_gridfs_integration()
    return gridfs.GridFS(database)
