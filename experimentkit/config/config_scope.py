"""Sacred's ``sacred.config.config_scope``.  The code lives in :mod:`experimentkit.config.scope`."""

from __future__ import annotations

from .scope import ConfigScope  # noqa: F401 - re-exported under Sacred's module path

__all__ = ["ConfigScope"]
