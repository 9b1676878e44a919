"""The configuration layer: config scopes and dicts, files, read-only views, keys, summaries,
updates.

Importing this package is cheap: numpy, PyYAML and jsonpickle are only imported when a value or a
file needs them.
"""

from __future__ import annotations

from .dicts import ConfigDict, chain_evaluate_config_scopes, evaluate_scopes
from .dogmatic import DogmaticDict
from .files import (
    CONFIG_FILE_EXTENSIONS,
    ConfigFileError,
    ConfigFileNotFoundError,
    is_config_file_name,
    load_config_file,
    save_config_file,
)
from .paths import (
    convert_to_nested_dict,
    get_by_dotted_path,
    iter_prefixes,
    iterate_flattened,
    join_paths,
    recursive_update,
    set_by_dotted_path,
)
from .readonly import ReadOnlyDict, ReadOnlyList, make_read_only
from .scope import ConfigScope, recursive_fill_in
from .summary import ConfigSummary
from .updates import parse_update, parse_value, parse_with_args
from .validate import JSONPICKLE_TAGS, InvalidKeyError, check_storable, validate_keys
from .values import normalize, type_changed

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
