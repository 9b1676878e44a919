"""Sacred's ``sacred.config.config_dict``.  The code lives in :mod:`experimentkit.config.dicts`."""

from __future__ import annotations

from .dicts import ConfigDict  # noqa: F401 - re-exported under Sacred's module path

__all__ = ["ConfigDict"]
