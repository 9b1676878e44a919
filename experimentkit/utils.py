"""Sacred's ``sacred.utils``: the error classes, the output filter, dotted-path helpers and traceback
formatting.

The code lives in :mod:`experimentkit.errors`, :mod:`experimentkit.output`,
:mod:`experimentkit.config.paths`, :mod:`experimentkit.tracebacks` and :mod:`experimentkit.installed`.
"""

from __future__ import annotations

import os
from typing import Union

from .commandline.options import convert_camel_case_to_snake_case, get_inheritors  # noqa: F401
from .config.paths import (  # noqa: F401 - re-exported for Sacred users
    PATHCHANGE,
    convert_to_nested_dict,
    get_by_dotted_path,
    is_prefix,
    iter_prefixes,
    iterate_flattened,
    iterate_flattened_separately,
    join_paths,
    recursive_update,
    rel_path,
    set_by_dotted_path,
)
from .errors import (  # noqa: F401 - re-exported for Sacred users
    CircularDependencyError,
    ConfigAddedError,
    ConfigError,
    InvalidConfigError,
    MissingConfigError,
    NamedConfigNotFoundError,
    ObserverError,
    SacredError,
    SacredInterrupt,
    SignatureError,
    TimeoutInterrupt,
)
from .installed import (  # noqa: F401
    get_package_version,
    module_exists,
    module_is_in_cache,
    modules_exist,
    parse_version,
)
from .output import apply_backspaces_and_linefeeds  # noqa: F401
from .tracebacks import format_filtered_stacktrace, format_sacred_error  # noqa: F401

PathType = Union[str, bytes, os.PathLike]
"""What functions taking a file name accept (Sacred's alias)."""

__all__ = [
    "SacredError",
    "ConfigError",
    "InvalidConfigError",
    "ConfigAddedError",
    "MissingConfigError",
    "NamedConfigNotFoundError",
    "CircularDependencyError",
    "SignatureError",
    "ObserverError",
    "SacredInterrupt",
    "TimeoutInterrupt",
    "apply_backspaces_and_linefeeds",
    "recursive_update",
    "get_by_dotted_path",
    "set_by_dotted_path",
    "join_paths",
    "iterate_flattened",
    "iterate_flattened_separately",
    "iter_prefixes",
    "is_prefix",
    "rel_path",
    "convert_to_nested_dict",
    "PATHCHANGE",
    "PathType",
    "format_filtered_stacktrace",
    "format_sacred_error",
    "module_exists",
    "modules_exist",
    "module_is_in_cache",
    "get_package_version",
    "parse_version",
    "get_inheritors",
    "convert_camel_case_to_snake_case",
]
