"""Sacred's ``sacred.optional``: which optional packages are installed.

The code lives in :mod:`experimentkit.installed`.  ``has_numpy``/``np``, ``has_pandas``/``pandas`` and
``has_yaml``/``yaml`` import their package only when first read (Sacred imports them eagerly).
"""

from __future__ import annotations

from .installed import (  # noqa: F401 - re-exported under Sacred's module path
    get_tensorflow,
    module_exists,
    module_is_in_cache,
    modules_exist,
    optional_import,
)
from .installed import lazy_optional_attribute as __getattr__  # noqa: F401

# the has_* flags and np/pandas/yaml are answered by __getattr__ on first access
__all__ = [  # noqa: F822
    "optional_import",
    "module_exists",
    "modules_exist",
    "module_is_in_cache",
    "get_tensorflow",
    "has_numpy",
    "np",
    "has_pandas",
    "pandas",
    "has_yaml",
    "yaml",
    "has_sqlalchemy",
    "has_mako",
    "has_tinydb",
    "has_tensorflow",
]
