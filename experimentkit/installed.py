"""Which optional packages are installed, answered without importing them until asked.

Sacred's ``sacred.optional`` imports numpy, pandas and PyYAML when it is imported; here ``has_numpy``,
``np``, ``has_pandas``, ``pandas``, ``has_yaml``, ``yaml`` are computed on first access (module
``__getattr__`` of ``experimentkit.optional``), and the other ``has_*`` flags only look for the
package on ``sys.path``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any

__all__ = [
    "optional_import",
    "module_exists",
    "modules_exist",
    "parse_version",
    "get_package_version",
    "module_is_in_cache",
    "get_tensorflow",
    "lazy_optional_attribute",
]


def optional_import(*package_names: str) -> tuple:
    """``(True, first_module)`` if every package imports, else ``(False, None)``."""
    try:
        modules = [importlib.import_module(name) for name in package_names]
    except ImportError:
        return False, None
    return True, modules[0]


def module_exists(modname: str) -> bool:
    """True if ``modname`` can be imported (found on ``sys.path``), without importing it."""
    try:
        return importlib.util.find_spec(modname) is not None
    except (ImportError, ValueError):
        return False


def modules_exist(*modnames: str) -> bool:
    """True if every one of ``modnames`` can be imported."""
    return all(module_exists(name) for name in modnames)


def module_is_in_cache(modname: str) -> bool:
    """True if ``modname`` is already imported."""
    return modname in sys.modules


def parse_version(version: str) -> Any:
    """``version`` as a comparable ``packaging`` version (Sacred's helper; needs the ``packaging``
    distribution, which experimentkit itself does not require)."""
    from packaging.version import parse

    return parse(version)


def get_package_version(name: str) -> Any:
    """The installed version of distribution ``name``, comparable (``packaging``'s ``Version``)."""
    from importlib.metadata import version

    return parse_version(version(name))


def get_tensorflow() -> Any:
    """TensorFlow's v1 API (``tensorflow.compat.v1``), as Sacred's ``stflow`` uses it."""
    import tensorflow.compat.v1 as tf

    return tf


_IMPORTED = {"np": ("has_numpy", "numpy"), "pandas": ("has_pandas", "pandas"), "yaml": ("has_yaml", "yaml")}
_FOUND = {
    "has_sqlalchemy": ("sqlalchemy",),
    "has_mako": ("mako",),
    "has_tinydb": ("tinydb", "hashfs"),
    "has_tensorflow": ("tensorflow",),
    "has_boto3": ("boto3",),
    "has_torch": ("torch",),
}


def lazy_optional_attribute(name: str) -> Any:
    """The value of ``experimentkit.optional.<name>``; raises ``AttributeError`` for unknown names."""
    for module_attr, (flag, package) in _IMPORTED.items():
        if name in (module_attr, flag):
            found, module = optional_import(package)
            return found if name == flag else module
    if name in _FOUND:
        return modules_exist(*_FOUND[name])
    raise AttributeError(f"module 'experimentkit.optional' has no attribute {name!r}")
