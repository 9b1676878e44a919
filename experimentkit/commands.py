"""Sacred's ``sacred.commands``: the built-in commands of every experiment.

The code lives in :mod:`experimentkit.commandline.commands` (the commands) and
:mod:`experimentkit.commandline.printing` (their output).  Not to be confused with
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

__all__ = ["print_config", "print_dependencies", "save_config", "print_named_configs", "help_for_command"]
