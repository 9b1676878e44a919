"""Loading and saving config files (.json, .yaml/.yml, .pickle)."""

from __future__ import annotations

import json
import os
from typing import Any

from ..errors import ConfigFileError, ConfigFileNotFoundError, UsageError

__all__ = [
    "ConfigFileError",
    "ConfigFileNotFoundError",
    "CONFIG_FILE_EXTENSIONS",
    "load_config_file",
    "save_config_file",
    "is_config_file_name",
]

CONFIG_FILE_EXTENSIONS = (".json", ".yaml", ".yml", ".pickle")


def is_config_file_name(name: str) -> bool:
    """Whether ``name`` ends in a config file extension (used to tell files from named configs)."""
    return os.path.splitext(str(name))[1].lower() in CONFIG_FILE_EXTENSIONS


def _extension(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    if ext not in CONFIG_FILE_EXTENSIONS:
        raise ConfigFileError(
            f'Configuration file "{path}" has invalid or unsupported extension '
            f'"{ext}". Use .json, .yaml, .yml or .pickle'
        )
    return ext


def _yaml() -> Any:
    try:
        import yaml
    except ImportError:
        raise UsageError("Reading or writing .yaml config files needs PyYAML: pip install PyYAML") from None
    return yaml


def load_config_file(path: str | os.PathLike, *, decode_jsonpickle: bool = False) -> dict:
    """Read a config file into a dict.

    JSON is read as plain JSON.  ``decode_jsonpickle=True`` also turns jsonpickle tags (``{"py/set":
    ...}`` as written by Sacred) back into objects; it is off by default because decoding can build
    arbitrary objects from the file.  YAML uses ``safe_load``.  Pickle files run code when loaded:
    only load your own.
    """
    import pickle

    path = os.fspath(path)
    ext = _extension(path)
    if not os.path.isfile(path):
        raise ConfigFileNotFoundError(f"Config file not found: {path!r}")
    try:
        if ext == ".json":
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            if decode_jsonpickle:
                import jsonpickle

                data = jsonpickle.decode(json.dumps(data), keys=True)
        elif ext == ".pickle":
            with open(path, "rb") as f:
                data = pickle.load(f)
        else:
            yaml = _yaml()
            with open(path, encoding="utf-8") as f:
                data = yaml.safe_load(f)
    except (ValueError, pickle.UnpicklingError, EOFError) as e:
        raise ConfigFileError(f'Config file "{path}" could not be read: {e}') from e
    except UsageError:
        raise
    except Exception as e:  # e.g. yaml.YAMLError, which we cannot name without importing yaml
        raise ConfigFileError(f'Config file "{path}" could not be read: {e}') from e
    if data is None and ext in (".yaml", ".yml"):
        data = {}
    if not isinstance(data, dict):
        raise ConfigFileError(
            f'Config file "{path}" must contain a mapping of config values at '
            f"the top level, not {type(data).__name__}"
        )
    return data


def save_config_file(config: Any, path: str | os.PathLike) -> None:
    """Write ``config`` to ``path`` (format from the extension), atomically.

    JSON goes through ``serialize.flatten`` (sorted keys, indent 2) so numpy values and tuples are
    stored as plain JSON; YAML and pickle get plain dicts/lists (read-only views are unwrapped).
    """
    import pickle
    import tempfile

    from ..serialize import flatten, plain

    path = os.fspath(path)
    ext = _extension(path)
    if ext == ".json":
        payload = (json.dumps(flatten(config), sort_keys=True, indent=2) + "\n").encode("utf-8")
    elif ext == ".pickle":
        payload = pickle.dumps(plain(config))
    else:
        payload = _yaml().safe_dump(flatten(config), sort_keys=True).encode("utf-8")
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=ext, dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        # mkstemp creates 0600 files; keep the mode of the file we replace, else a usual 0644
        os.chmod(tmp, os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
