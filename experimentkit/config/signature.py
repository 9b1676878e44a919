"""Sacred's ``sacred.config.signature``.  The code lives in :mod:`experimentkit.config.signatures`."""

from __future__ import annotations

from .signatures import Signature  # noqa: F401 - re-exported under Sacred's module path

__all__ = ["Signature"]
