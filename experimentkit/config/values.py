"""Small value helpers shared by scopes, dicts and summaries (numpy-aware without importing numpy)."""

from __future__ import annotations

import types
from typing import Any

__all__ = ["normalize", "is_numpy", "simplified_type", "type_changed", "values_differ", "is_module"]

_PLAIN = (int, float, dict, list, str, type(None))  # exact types that are their own simplified type


def is_numpy(value: Any) -> bool:
    """True for numpy scalars and arrays, decided by the type's module so numpy is never imported
    here.
    """
    return type(value).__module__ == "numpy"


def normalize(value: Any) -> Any:
    """Return a copy with tuples turned into lists and numpy scalars into Python scalars.

    Stored configs come back from JSON as lists and plain numbers; normalising up front makes the
    in-process config equal to what observers store.  Dict and list subclasses become plain
    dicts/lists.
    """
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [normalize(v) for v in value]
    if is_numpy(value) and getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        return value.item()
    return value


def simplified_type(value: Any) -> type:
    """The type used to detect type changes: numpy numbers count as their Python kind, tuples as
    lists.
    """
    if isinstance(value, bool) or (is_numpy(value) and type(value).__name__.startswith("bool")):
        return bool
    if type(value) in _PLAIN:
        return type(value)
    import numbers  # its ABCs cost ~2.8 M instructions to import: only for other number types

    if isinstance(value, numbers.Integral):
        return int
    if isinstance(value, numbers.Real):
        return float
    if isinstance(value, dict):
        return dict
    if isinstance(value, (list, tuple)):
        return list
    return type(value)


def type_changed(old: Any, new: Any) -> bool:
    """Whether replacing ``old`` by ``new`` changes the kind of value (a change from ``None`` never
    counts).

    As in Sacred, int <-> float *is* a type change here (print_config shows it); callers that warn
    about type changes skip the int/float pairs themselves.
    """
    return old is not None and simplified_type(old) is not simplified_type(new)


def values_differ(old: Any, new: Any) -> bool:
    """``old != new`` that also works for numpy arrays (different shapes or any element differing)."""
    if is_numpy(old) or is_numpy(new):
        import numpy

        try:
            a, b = numpy.asarray(old), numpy.asarray(new)
            return a.shape != b.shape or bool(numpy.any(a != b))
        except Exception:  # incomparable values are different values
            return True
    try:
        return bool(old != new)
    except Exception:  # e.g. containers holding numpy arrays
        return True


def is_module(value: Any) -> bool:
    """Modules imported inside a config scope are helpers, not config values."""
    return isinstance(value, types.ModuleType)
