"""Loading and saving config files (.json, .yaml/.yml, .pickle)."""

from __future__ import annotations

import json
import os
from typing import Any, Callable, NamedTuple

from ..errors import ConfigFileError, ConfigFileNotFoundError, UsageError

__all__ = [
    "ConfigFileError",
    "ConfigFileNotFoundError",
    "CONFIG_FILE_EXTENSIONS",
    "load_config_file",
    "save_config_file",
    "is_config_file_name",
    "FileHandler",
    "HANDLER_BY_EXT",
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


class FileHandler(NamedTuple):
    """How one config file format is read and written: ``load(file)``, ``dump(value, file)`` and the
    file mode suffix (``"b"`` for binary formats)."""

    load: Callable[[Any], Any]
    dump: Callable[[Any, Any], None]
    mode: str


def _load_yaml(f: Any) -> Any:
    return _yaml().safe_load(f)


def _dump_yaml(value: Any, f: Any) -> None:
    from ..serialize import flatten

    _yaml().safe_dump(flatten(value), f, sort_keys=True)


def _dump_json(value: Any, f: Any) -> None:
    from ..serialize import flatten

    json.dump(flatten(value), f, sort_keys=True, indent=2)


def _load_pickle(f: Any) -> Any:
    import pickle

    return pickle.load(f)


def _dump_pickle(value: Any, f: Any) -> None:
    import pickle

    from ..serialize import plain

    pickle.dump(plain(value), f)


_YAML = FileHandler(_load_yaml, _dump_yaml, "")

#: the reader and writer of each config file extension (Sacred's ``HANDLER_BY_EXT``)
HANDLER_BY_EXT = {
    ".json": FileHandler(json.load, _dump_json, ""),
    ".pickle": FileHandler(_load_pickle, _dump_pickle, "b"),
    ".yaml": _YAML,
    ".yml": _YAML,
}


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
    handler = HANDLER_BY_EXT[ext]
    try:
        if handler.mode == "b":
            with open(path, "rb") as f:
                data = handler.load(f)
        else:
            with open(path, encoding="utf-8") as f:
                data = handler.load(f)
        if decode_jsonpickle and ext == ".json":
            import jsonpickle

            data = jsonpickle.decode(json.dumps(data), keys=True)
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
    import io
    import tempfile

    path = os.fspath(path)
    ext = _extension(path)
    handler = HANDLER_BY_EXT[ext]
    if handler.mode == "b":
        binary = io.BytesIO()
        handler.dump(config, binary)
        payload = binary.getvalue()
    else:
        text = io.StringIO()
        handler.dump(config, text)
        payload = (text.getvalue().rstrip("\n") + "\n").encode("utf-8")
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
