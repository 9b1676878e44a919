"""Sacred's ``sacred.arg_parser``: parsing ``with`` updates and the usage text.

The code lives in :mod:`experimentkit.commandline.parser` (usage, docopt) and
:mod:`experimentkit.config.updates` (``with`` updates).
"""

from __future__ import annotations

from .commandline.parser import (  # noqa: F401 - re-exported under Sacred's module path
    format_usage,
    get_config_updates,
    parse_args,
    printable_usage,
)
from .config.updates import parse_value as _convert_value  # noqa: F401 - Sacred's private name

__all__ = ["get_config_updates", "format_usage", "parse_args", "printable_usage"]
