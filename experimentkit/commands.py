"""Sacred's ``sacred.commands``: the built-in commands of every experiment.

The code lives in :mod:`experimentkit.commandline.commands` (the commands) and
:mod:`experimentkit.commandline.printing` (their output; Sacred's private ``_format_*`` and
``_iterate_marked`` helpers are re-exported for code that uses them).  Not to be confused with
:mod:`experimentkit.cli`, the ``experimentkit`` query command.
"""

from __future__ import annotations

from .commandline.commands import (  # noqa: F401 - re-exported under Sacred's module path
    help_for_command,
    print_config,
    print_dependencies,
    print_named_configs,
    save_config,
)
from .commandline.printing import (  # noqa: F401 - Sacred's names, some private in Sacred
    COLOR_ADDED,
    COLOR_DIRTY,
    COLOR_DOC,
    COLOR_MODIFIED,
    COLOR_TYPECHANGED,
    ENDC,
    ConfigEntry,
    PathEntry,
)
from .commandline.printing import format_config as _format_config  # noqa: F401
from .commandline.printing import format_entry as _format_entry  # noqa: F401
from .commandline.printing import format_named_config as _format_named_config  # noqa: F401
from .commandline.printing import format_named_configs_colored as _format_named_configs  # noqa: F401
from .commandline.printing import iterate_marked as _iterate_marked  # noqa: F401

__all__ = [
    "print_config",
    "print_dependencies",
    "save_config",
    "print_named_configs",
    "help_for_command",
    "ConfigEntry",
    "PathEntry",
    "COLOR_ADDED",
    "COLOR_DIRTY",
    "COLOR_DOC",
    "COLOR_MODIFIED",
    "COLOR_TYPECHANGED",
    "ENDC",
]
