"""Sacred's ``sacred.config.captured_function``.  The code lives in :mod:`experimentkit.captured`."""

from __future__ import annotations

from ..captured import CapturedFunction  # noqa: F401 - re-exported under Sacred's module path
from ..captured import capture as create_captured_function  # noqa: F401

__all__ = ["create_captured_function", "CapturedFunction"]
