"""Sacred's ``sacred.config.config_summary``.  The code lives in :mod:`experimentkit.config.summary`."""

from __future__ import annotations

from .summary import ConfigSummary  # noqa: F401 - re-exported under Sacred's module path

__all__ = ["ConfigSummary"]
