"""The configuration layer: config scopes and dicts, files, read-only views, keys, summaries,
updates.

Importing this package is cheap: numpy, PyYAML and jsonpickle are only imported when a value or a
file needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..lazy import lazy_attribute
from .dicts import ConfigDict, chain_evaluate_config_scopes, evaluate_scopes
from .dogmatic import DogmaticDict
from .paths import (
    convert_to_nested_dict,
    get_by_dotted_path,
    iter_prefixes,
    iterate_flattened,
    join_paths,
    recursive_update,
    set_by_dotted_path,
)
from .scope import ConfigScope, recursive_fill_in
from .summary import ConfigSummary
from .validate import JSONPICKLE_TAGS, InvalidKeyError, check_storable, validate_keys
from .values import normalize, type_changed

if TYPE_CHECKING:
    from .files import (
        CONFIG_FILE_EXTENSIONS,
        ConfigFileError,
        ConfigFileNotFoundError,
        is_config_file_name,
        load_config_file,
        save_config_file,
    )
    from .readonly import ReadOnlyDict, ReadOnlyList, make_read_only
    from .updates import parse_update, parse_value, parse_with_args

# Config files, read-only views and ``with`` updates are imported on first use (``__getattr__``):
# a run without them does not pay for their modules (~2 M instructions of its start).
_LAZY = {
    **dict.fromkeys(
        (
            "CONFIG_FILE_EXTENSIONS",
            "ConfigFileError",
            "ConfigFileNotFoundError",
            "is_config_file_name",
            "load_config_file",
            "save_config_file",
        ),
        ".files",
    ),
    **dict.fromkeys(("ReadOnlyDict", "ReadOnlyList", "make_read_only"), ".readonly"),
    **dict.fromkeys(("parse_update", "parse_value", "parse_with_args"), ".updates"),
}


def __getattr__(name: str) -> Any:
    return lazy_attribute(globals(), _LAZY, name)


__all__ = [
    "ConfigScope",
    "ConfigDict",
    "ConfigSummary",
    "evaluate_scopes",
    "chain_evaluate_config_scopes",
    "DogmaticDict",
    "load_config_file",
    "save_config_file",
    "is_config_file_name",
    "CONFIG_FILE_EXTENSIONS",
    "ConfigFileError",
    "ConfigFileNotFoundError",
    "make_read_only",
    "ReadOnlyDict",
    "ReadOnlyList",
    "join_paths",
    "get_by_dotted_path",
    "set_by_dotted_path",
    "iterate_flattened",
    "iter_prefixes",
    "recursive_update",
    "recursive_fill_in",
    "convert_to_nested_dict",
    "validate_keys",
    "check_storable",
    "InvalidKeyError",
    "JSONPICKLE_TAGS",
    "parse_update",
    "parse_value",
    "parse_with_args",
    "normalize",
    "type_changed",
]
