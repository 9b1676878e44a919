"""Config key validation (Sacred's rules, driven by ``SETTINGS.CONFIG``) and the storability check."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidKeyError, UnstorableConfigError
from .paths import join_paths
from .values import is_numpy

__all__ = [
    "InvalidKeyError",
    "JSONPICKLE_TAGS",
    "validate_keys",
    "check_storable",
    "assert_is_valid_key",
    "normalize_or_die",
]

#: Keys that jsonpickle gives a meaning; configs using them would be decoded into objects when read.
JSONPICKLE_TAGS = frozenset(
    {
        "py/bytes",
        "py/function",
        "py/id",
        "py/initargs",
        "py/iterator",
        "py/mod",
        "py/newargs",
        "py/newargsex",
        "py/newobj",
        "py/object",
        "py/property",
        "py/reduce",
        "py/ref",
        "py/repr",
        "py/seq",
        "py/set",
        "py/state",
        "py/tuple",
        "py/type",
    }
)

_JSON_SCALARS = (str, int, float, bool, type(None))


def _settings(settings: Any) -> Any:
    if settings is None:
        from ..settings import SETTINGS

        settings = SETTINGS
    return settings.CONFIG if "CONFIG" in settings else settings


def _check_key(key: Any, where: str, cfg: Any) -> None:
    suffix = f" (in '{where}')" if where else ""
    if cfg.ENFORCE_KEYS_MONGO_COMPATIBLE and isinstance(key, str) and ("." in key or key.startswith("$")):
        raise InvalidKeyError(
            f'Invalid key "{key}". Config-keys cannot contain "." or start with "$"{suffix}'
        )
    if (
        cfg.ENFORCE_KEYS_JSONPICKLE_COMPATIBLE
        and isinstance(key, str)
        and (key in JSONPICKLE_TAGS or key.startswith("json://"))
    ):
        raise InvalidKeyError(
            f'Invalid key "{key}". Config-keys cannot be one of the reserved '
            f"jsonpickle tags: {sorted(JSONPICKLE_TAGS)}{suffix}"
        )
    if cfg.ENFORCE_STRING_KEYS and not isinstance(key, str):
        raise InvalidKeyError(
            f'Invalid key "{key}". Config-keys have to be strings, but was {type(key)}{suffix}'
        )
    if cfg.ENFORCE_VALID_PYTHON_IDENTIFIER_KEYS and not (isinstance(key, str) and key.isidentifier()):
        raise InvalidKeyError(f'Key "{key}" is not a valid python identifier{suffix}')
    if cfg.ENFORCE_KEYS_NO_EQUALS and isinstance(key, str) and "=" in key:
        raise InvalidKeyError(f'Invalid key "{key}". Config-keys cannot contain "="{suffix}')


def assert_is_valid_key(key: Any, settings: Any = None) -> None:
    """Raise ``InvalidKeyError`` (a ``KeyError``) if the single key ``key`` breaks a rule."""
    _check_key(key, "", _settings(settings))


def validate_keys(config: Any, settings: Any = None, path: str = "") -> None:
    """Raise ``InvalidKeyError`` (a ``KeyError``) for the first key, at any depth, that breaks a
    rule.

    ``settings`` is ``SETTINGS`` or ``SETTINGS.CONFIG`` (the global one when omitted); passing it in
    lets two experiments in one process use different rules.
    """
    cfg = _settings(settings)
    if isinstance(config, dict):
        for key, value in config.items():
            _check_key(key, path, cfg)
            validate_keys(value, cfg, join_paths(path, str(key)))
    elif isinstance(config, (list, tuple)):
        for value in config:
            validate_keys(value, cfg, path)


def normalize_or_die(value: Any, settings: Any = None) -> Any:
    """``value`` with its keys checked (``InvalidKeyError``) and numpy scalars and tuples made plain
    (Sacred's ``normalize_or_die``)."""
    from .values import normalize

    validate_keys(value, settings)
    return normalize(value)


def _storable_numpy(value: Any) -> bool:
    dtype = getattr(value, "dtype", None)
    return dtype is not None and dtype.kind in "biufUS"


def check_storable(config: Any, path: str = "") -> None:
    """Raise ``UnstorableConfigError`` naming the first value that observers cannot store
    faithfully.

    Storable: JSON values (str, int, float, bool, None, lists/tuples, dicts with
    str/number/bool/None keys), sets of those (stored as sorted lists), and numpy scalars and arrays
    of numbers, bools or strings.
    """
    if isinstance(config, _JSON_SCALARS):
        return
    if is_numpy(config) and _storable_numpy(config):
        return
    if isinstance(config, dict):
        for key, value in config.items():
            where = join_paths(path, str(key))
            if not isinstance(key, _JSON_SCALARS):
                raise UnstorableConfigError(
                    f"Config entry '{where}' has a key of type {_type_name(key)}, which cannot "
                    f"be stored; use string keys instead"
                )
            check_storable(value, where)
        return
    if isinstance(config, (list, tuple, set, frozenset)):
        for i, value in enumerate(config):
            check_storable(value, join_paths(path, str(i)) if path else str(i))
        return
    where = path or "<config>"
    raise UnstorableConfigError(
        f"Config entry '{where}' has type {_type_name(config)}, which cannot be stored; store a "
        f"string/number instead, or build the object inside a captured function"
    )


def _type_name(value: Any) -> str:
    cls = type(value)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"
