"""Turning config values, results and info into JSON-compatible data, the same way for every
observer.

``flatten`` never fails: values it does not know become ``str(value)``.  NaN and infinities stay
floats, so JSON writers must allow them (``json.dumps(..., allow_nan=True)``, the default); they are
written as ``NaN``/``Infinity``, which Python's ``json`` reads back but strict JSON parsers reject.
"""
from __future__ import annotations

import datetime as _dt
import json
from typing import Any

__all__ = ["flatten", "dumps", "plain", "restore"]


def _numpy_value(obj: Any) -> Any:
    if hasattr(obj, "tolist"):  # ndarray and numpy scalars; tolist() gives Python objects
        return flatten(obj.tolist())
    return str(obj)


def _key(key: Any) -> str:
    return key if isinstance(key, str) else str(flatten(key))


def _sort_key(value: Any) -> tuple:
    return (type(value).__name__, value) if isinstance(value, (int, float, str)) \
        else (type(value).__name__, json.dumps(value, sort_keys=True))


def flatten(obj: Any) -> Any:
    """A JSON-compatible copy of ``obj`` (see the module docstring for the conversions)."""
    if obj is None or type(obj) in (str, int, float, bool):
        return obj
    if isinstance(obj, bool):
        return bool(obj)
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, str):
        return str(obj)
    if type(obj).__module__ == "numpy":
        return _numpy_value(obj)
    if isinstance(obj, dict):
        return {_key(k): flatten(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [flatten(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        items = [flatten(v) for v in obj]
        try:
            return sorted(items)
        except TypeError:  # mixed types: order by type name, then value
            return sorted(items, key=_sort_key)
    if isinstance(obj, (_dt.datetime, _dt.date, _dt.time)):
        return obj.isoformat()
    return str(obj)


def dumps(obj: Any) -> str:
    """``flatten(obj)`` as JSON text: sorted keys, indent 2, NaN/Infinity allowed."""
    return json.dumps(flatten(obj), sort_keys=True, indent=2, allow_nan=True)


def plain(obj: Any) -> Any:
    """``obj`` with dict/list subclasses (read-only views, summaries) replaced by plain dicts/lists.
    """
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [plain(v) for v in obj]
    if isinstance(obj, tuple) and not hasattr(obj, "_fields"):
        return tuple(plain(v) for v in obj)
    return obj


def restore(flat: Any) -> Any:
    """Rebuild the objects of a jsonpickle-form value (Sacred's ``serializer.restore``).

    This instantiates the classes the data names, so call it only on data you trust; the read side of
    the stores never does.
    """
    import jsonpickle

    try:
        import jsonpickle.ext.numpy as jsonpickle_numpy
    except ImportError:  # numpy not installed
        pass
    else:
        jsonpickle_numpy.register_handlers()
    return jsonpickle.decode(json.dumps(flat), keys=True)
