"""Names of a package imported on first use (PEP 562 ``__getattr__``): importing the package stays
cheap, and a run pays only for the modules it uses."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["lazy_attribute"]


def lazy_attribute(namespace: dict, lazy: dict, name: str, submodules: frozenset = frozenset()) -> Any:
    """``name`` for the module whose globals are ``namespace``: taken from the module ``lazy[name]``
    (absolute, or relative to the package) and kept in ``namespace``, or the submodule ``name``;
    ``AttributeError`` for any other name."""
    package = namespace["__name__"]
    module = lazy.get(name)
    if module is None:
        if name in submodules:
            return importlib.import_module(f"{package}.{name}")  # the import sets the attribute
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, package), name)
    namespace[name] = value
    return value
