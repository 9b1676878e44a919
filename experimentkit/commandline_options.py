"""Sacred's ``sacred.commandline_options``: command-line flags and the ``cli_option`` decorator.

The code lives in :mod:`experimentkit.commandline.options`.
"""

from __future__ import annotations

from .commandline.options import (  # noqa: F401 - re-exported under Sacred's module path
    CLIOption,
    CommandLineOption,
    beat_interval_option,
    capture_option,
    cli_option,
    comment_option,
    debug_option,
    enforce_clean_option,
    force_option,
    help_option,
    id_option,
    loglevel_option,
    name_option,
    pdb_option,
    print_config_option,
    priority_option,
    queue_option,
    unobserved_option,
)

__all__ = [
    "CLIOption",
    "CommandLineOption",
    "cli_option",
    "beat_interval_option",
    "capture_option",
    "comment_option",
    "debug_option",
    "enforce_clean_option",
    "force_option",
    "help_option",
    "id_option",
    "loglevel_option",
    "name_option",
    "pdb_option",
    "print_config_option",
    "priority_option",
    "queue_option",
    "unobserved_option",
]
