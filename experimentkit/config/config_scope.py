"""Sacred's ``sacred.config.config_scope``.

The code lives in :mod:`experimentkit.config.scope` (``ConfigScope``) and
:mod:`experimentkit.config.source` (the function-body text helpers).
"""

from __future__ import annotations

from .scope import ConfigScope  # noqa: F401 - re-exported under Sacred's module path
from .source import (  # noqa: F401
    dedent_function_body,
    dedent_line,
    get_function_body,
    is_empty_or_comment,
)

__all__ = ["ConfigScope", "dedent_function_body", "dedent_line", "get_function_body", "is_empty_or_comment"]
