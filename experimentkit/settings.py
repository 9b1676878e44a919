"""``SETTINGS``: Sacred's global settings object, kept for compatibility.

Code inside experimentkit reads settings where a run is built and passes them down; nothing deep inside reads
this global on its own.  Keys are fixed: a misspelt key raises ``SettingError`` with a suggestion.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from .errors import SettingError, suggest

__all__ = ["SETTINGS", "SettingError", "Settings"]


class Settings:
    """A dict-like object with attribute access whose set of keys cannot change."""

    __slots__ = ("_values",)  # no instance __dict__: pytest's monkeypatch restores keys correctly

    def __init__(self, values: dict):
        object.__setattr__(
            self, "_values", {k: Settings(v) if isinstance(v, dict) else v for k, v in values.items()}
        )

    def _check(self, key: str) -> None:
        if key not in self._values:
            raise SettingError(
                f"Unknown setting: {key}{suggest(key, self._values)}. "
                f"Possible keys are: {sorted(self._values)}"
            )

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__") or key == "_values":  # _values: not yet set while copying
            raise AttributeError(key)
        self._check(key)
        return self._values[key]

    def __setattr__(self, key: str, value: Any) -> None:
        self._check(key)
        if isinstance(self._values[key], Settings):
            raise SettingError(
                f"Cannot replace the settings group {key}; set its keys one by one "
                f"(SETTINGS.{key}.KEY = value)"
            )
        self._values[key] = value

    __getitem__ = __getattr__
    __setitem__ = __setattr__

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def keys(self):  # noqa: D102 - dict protocol
        return self._values.keys()

    def items(self):  # noqa: D102 - dict protocol
        return self._values.items()

    def get(self, key: str, default: Any = None) -> Any:
        """Like ``dict.get``."""
        return self._values.get(key, default)

    def __reduce__(self) -> tuple:  # copy, deepcopy and pickle rebuild from the plain values
        return Settings, (self.to_dict(),)

    def to_dict(self) -> dict:
        """A plain nested dict copy."""
        return {k: v.to_dict() if isinstance(v, Settings) else v for k, v in self._values.items()}

    def __repr__(self) -> str:
        return f"Settings({self.to_dict()!r})"


SETTINGS = Settings(
    {
        "CONFIG": {
            "ENFORCE_KEYS_MONGO_COMPATIBLE": True,
            "ENFORCE_KEYS_JSONPICKLE_COMPATIBLE": True,
            "ENFORCE_VALID_PYTHON_IDENTIFIER_KEYS": False,
            "ENFORCE_STRING_KEYS": False,
            "ENFORCE_KEYS_NO_EQUALS": True,
            "READ_ONLY_CONFIG": True,
            "IGNORED_COMMENTS": ["^pylint:", "^noinspection"],
            "NUMPY_RANDOM_LEGACY_API": False,
        },
        "HOST_INFO": {
            "INCLUDE_GPU_INFO": True,
            "INCLUDE_CPU_INFO": True,
            "CAPTURED_ENV": [],
        },
        "COMMAND_LINE": {
            "STRICT_PARSING": False,
            "SHOW_DISABLED_OPTIONS": True,
        },
        "CAPTURE_MODE": "sys" if os.name == "nt" else "fd",
        "DISCOVER_DEPENDENCIES": "imported",
        "DISCOVER_SOURCES": "imported",
        "DEFAULT_BEAT_INTERVAL": 10.0,
        "FALLBACK_DIR": os.environ.get(
            "EXPERIMENTKIT_FALLBACK_DIR", os.path.join(os.path.expanduser("~"), ".experimentkit", "fallback")
        ),
        "OBSERVER_RETRY_SECONDS": 30.0,
        "OBSERVER_CALL_TIMEOUT": 60.0,
        "STRICT_OBSERVERS": False,
        # add_resource copies files up to this many bytes; larger ones are recorded by path and md5
        # only (None: always copy).  add_resource(path, copy=True/False) decides per file.
        "RESOURCE_COPY_LIMIT": 16 * 1024 * 1024,
        "SYSTEM_METRICS": False,  # sample system.* metrics in every run (as --system-metrics)
        "SYSTEM_METRICS_INTERVAL": 10.0,
        # mirror every run's metrics live into this TensorBoard logdir (as --tensorboard DIR)
        "TENSORBOARD_LOGDIR": os.environ.get("EXPERIMENTKIT_TENSORBOARD_LOGDIR") or None,
    }
)
