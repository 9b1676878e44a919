"""Sacred's ``sacred.config.config_files``.  The code lives in :mod:`experimentkit.config.files`."""

from __future__ import annotations

from .files import (  # noqa: F401 - re-exported under Sacred's module path
    HANDLER_BY_EXT,
    FileHandler,
    load_config_file,
    save_config_file,
)

__all__ = ["HANDLER_BY_EXT", "FileHandler", "load_config_file", "save_config_file"]
