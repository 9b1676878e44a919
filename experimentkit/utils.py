"""Sacred-compatible home of the error classes and the output filter."""
from __future__ import annotations

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
from .output import apply_backspaces_and_linefeeds  # noqa: F401

__all__ = [
    "SacredError", "ConfigError", "InvalidConfigError", "ConfigAddedError", "MissingConfigError",
    "NamedConfigNotFoundError", "CircularDependencyError", "SignatureError", "ObserverError",
    "SacredInterrupt", "TimeoutInterrupt", "apply_backspaces_and_linefeeds",
]
