"""Turning config values, results and info into JSON-compatible data, the same way for every
observer.

``flatten`` never fails: values it does not know become ``str(value)``.  NaN and infinities stay
floats, so JSON writers must allow them (``json.dumps(..., allow_nan=True)``, the default); they are
written as ``NaN``/``Infinity``, which Python's ``json`` reads back but strict JSON parsers reject.

Results and ``info`` are stored as Sacred stores them (``sacred_flatten``): plain JSON stays as it is,
and numpy arrays and scalars, tuples, sets, dates, masked arrays and other objects are written in
jsonpickle's tagged form (``{"py/tuple": [...]}``, ``{"py/object": "numpy.ndarray", ...}``), so
Sacred's ``serializer.restore``, incense and Omniboard read them back as Sacred wrote them.  The read
side never restores that form: ``safe_restore`` turns the known tags into plain values (arrays and
tuples as lists, numpy numbers as numbers, dates as ISO strings) and leaves every other tag as data,
without importing or instantiating anything.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

__all__ = ["flatten", "dumps", "plain", "restore", "sacred_flatten", "safe_restore"]


def _numpy_value(obj: Any) -> Any:
    if hasattr(obj, "tolist"):  # ndarray and numpy scalars; tolist() gives Python objects
        return flatten(obj.tolist())
    return str(obj)


def _key(key: Any) -> str:
    return key if isinstance(key, str) else str(flatten(key))


def _sort_key(value: Any) -> tuple:
    return (
        (type(value).__name__, value)
        if isinstance(value, (int, float, str))
        else (type(value).__name__, json.dumps(value, sort_keys=True))
    )


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
    """``obj`` with dict/list subclasses (read-only views, summaries) replaced by plain dicts/lists."""
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


def _is_plain_json(obj: Any) -> bool:
    kind = type(obj)
    if obj is None or kind in (str, int, bool):
        return True
    if kind is float:
        return True
    if kind is dict:
        return all(type(k) is str and not k.startswith("py/") and _is_plain_json(v) for k, v in obj.items())
    if kind is list:
        return all(_is_plain_json(v) for v in obj)
    return False


_REGISTERED: set = set()


def _register_handlers() -> None:
    """jsonpickle's numpy/pandas handlers, registered (as Sacred does) once those libraries are in use."""
    import sys

    for name in ("numpy", "pandas"):
        if name in sys.modules and name not in _REGISTERED:
            try:
                if name == "numpy":
                    import jsonpickle.ext.numpy as ext
                else:
                    import jsonpickle.ext.pandas as ext
                ext.register_handlers()
            except Exception:  # an ext that cannot load leaves jsonpickle's generic encoding
                pass
            _REGISTERED.add(name)


def sacred_flatten(obj: Any) -> Any:
    """``obj`` in the JSON form Sacred 0.8 stores (jsonpickle with ``keys=True``), for results and info.

    Plain JSON values are returned unchanged without importing jsonpickle; a value jsonpickle cannot
    encode falls back to ``flatten``.
    """
    obj = plain(obj)
    if _is_plain_json(obj):
        return obj
    import jsonpickle

    _register_handlers()
    try:
        return json.loads(jsonpickle.encode(obj, keys=True))
    except Exception:
        return flatten(obj)


_NUMPY_SCALAR_KINDS = ("numpy.int", "numpy.uint", "numpy.float", "numpy.bool", "numpy.complex", "numpy.str")


def _restore_datetime(node: dict) -> Any:
    """An ISO string for jsonpickle's ``datetime`` form, built from its bytes without unpickling."""
    import base64

    kind = node["py/object"]
    reduce: Any = node.get("__reduce__")  # a malformed node fails inside the try
    try:
        state = reduce[1][0]
        if isinstance(state, dict):
            state = state.get("py/b64")
        raw = base64.b64decode(state)
        cls = {"datetime.datetime": _dt.datetime, "datetime.date": _dt.date, "datetime.time": _dt.time}[kind]
        return cls(raw).isoformat()  # the constructors accept their own pickled state bytes
    except Exception:
        return node


def _ndarray(node: dict) -> Any:
    """The numpy array of jsonpickle's ndarray form (text, binary or view), or None if not plain data."""
    import ast
    import base64
    import zlib

    import numpy as np

    values = node.get("values")
    dtype_text = node.get("dtype")
    if not isinstance(dtype_text, str):
        return None
    dtype = np.dtype(ast.literal_eval(dtype_text) if dtype_text.startswith(("{", "[")) else dtype_text)
    if dtype.fields is not None or dtype.kind in "V":
        return None  # structured records: left as data
    base = node.get("base")
    if isinstance(base, dict):
        base_array = _ndarray(base)
        if base_array is None:
            return None
        view = np.ndarray(
            shape=tuple(node.get("shape") or ()),
            dtype=dtype.newbyteorder("<") if node.get("byteorder") == "<" else dtype,
            buffer=base_array.tobytes(order="A"),
            offset=int(node.get("offset", 0)),
            strides=tuple(node["strides"]) if node.get("strides") else None,
        )
        return view.copy()
    if isinstance(values, list):
        return np.array(values, dtype=object if dtype.kind == "O" else None)
    if isinstance(values, (int, float)):
        return np.array([values])
    if not isinstance(values, str):
        return None
    raw = base64.b64decode(values)
    try:
        raw = zlib.decompress(raw)
    except zlib.error:
        pass  # stored uncompressed
    shape = tuple(node.get("shape") or ())
    if dtype.kind == "O":  # jsonpickle keeps object arrays as JSON text
        return np.array(json.loads(raw.decode()), dtype=object).reshape(shape)
    if node.get("byteorder") in ("<", ">"):
        dtype = dtype.newbyteorder(node["byteorder"])
    return np.ndarray(buffer=raw, dtype=dtype, shape=shape, order=node.get("order", "C")).copy()


def _restore_ndarray(node: dict) -> Any:
    """A (nested) list for jsonpickle's ndarray/masked-array form; the node itself if it is not one."""
    values = node.get("values")
    if isinstance(values, list):
        return safe_restore(values)  # text form (views and masked arrays carry their values as text)
    try:
        array = _ndarray(node)
    except Exception:  # malformed or unknown: shown as the data it is
        return {k: safe_restore(v) for k, v in node.items()}
    if array is None:
        return {k: safe_restore(v) for k, v in node.items()}
    return safe_restore(array.tolist())


def _restore_key(key: str) -> str:
    if key.startswith("json://"):
        try:
            value = json.loads(key[len("json://") :])
        except ValueError:
            return key
        return key[len("json://") :] if isinstance(value, (dict, list)) else str(value)
    return key


def safe_restore(obj: Any) -> Any:
    """Plain values for the jsonpickle forms Sacred stores, never instantiating a class (read side).

    ``py/tuple``, ``py/set``, numpy arrays (also masked ones: masked entries are ``None``) and numpy
    scalars become lists and numbers, dates become ISO strings; any other tagged value is returned as
    the data it is.
    """
    kind = type(obj)
    if kind is list:
        restored = [safe_restore(v) for v in obj]
        return obj if all(a is b for a, b in zip(restored, obj)) else restored
    if kind is not dict:
        return obj
    if len(obj) == 1:
        if "py/tuple" in obj and isinstance(obj["py/tuple"], list):
            return [safe_restore(v) for v in obj["py/tuple"]]
        if "py/set" in obj and isinstance(obj["py/set"], list):
            return [safe_restore(v) for v in obj["py/set"]]
    kind = obj.get("py/object")
    if isinstance(kind, str):
        if kind in ("numpy.ndarray", "numpy.ma.MaskedArray", "numpy.ma.core.MaskedArray"):
            return _restore_ndarray(obj)
        if kind.startswith(_NUMPY_SCALAR_KINDS) and "value" in obj and len(obj) <= 3:
            return obj["value"]
        if kind in ("datetime.datetime", "datetime.date", "datetime.time"):
            return _restore_datetime(obj)
    changed = False
    out = {}
    for key, value in obj.items():
        new_key = _restore_key(key) if key.startswith("json://") else key
        new_value = safe_restore(value)
        changed = changed or new_key is not key or new_value is not value
        out[new_key] = new_value
    return out if changed else obj  # untouched data is returned as it is, without a copy
