"""The commands every experiment has (registered by ``Experiment`` as unobserved commands, in this
order).

They are ordinary captured functions: their parameters (``_run``, ``_config``, ``_log``,
``config_filename``) are filled from the run, so they work from the command line and from
``ex.run()``.
"""

from __future__ import annotations

import pydoc
import re
import sys
from typing import Any

from .printing import format_config, format_dependencies, format_named_configs, to_plain, use_color

__all__ = ["print_config", "print_dependencies", "save_config", "print_named_configs", "help_for_command"]


def print_config(_run: Any) -> None:
    """Print the updated configuration and exit.

    Entries changed by the updates are marked (coloured on a terminal): blue = modified, green =
    added, red = type changed; dim text is the entry's documentation comment.
    """
    print(format_config(_run.config, _run.config_modifications, use_color(sys.stdout)))


def print_dependencies(_run: Any) -> None:
    """Print the detected source-files and dependencies."""
    print(format_dependencies(_run.experiment_info, use_color(sys.stdout)))


def save_config(_config: Any, _log: Any, config_filename: str = "config.json") -> None:
    """Store the updated configuration in a file.

    The file is ``config.json`` unless ``with config_filename=NAME`` says otherwise; the extension
    (.json, .yaml/.yml, .pickle) picks the format.
    """
    from ..config.files import save_config_file

    config = to_plain(_config)
    config.pop("config_filename", None)
    _log.info('Saving config to "%s"', config_filename)
    save_config_file(config, config_filename)


def print_named_configs(_run: Any) -> None:
    """Print the available named configs and exit."""
    ingredient = _run.main_function.ingredient  # this command's own experiment
    print(format_named_configs(ingredient.gather_named_configs(), use_color(sys.stdout)))


def help_for_command(command: Any) -> str:
    """Signature and docstring of a command, as ``help COMMAND`` prints it."""
    function = getattr(command, "__wrapped__", command)
    text = pydoc.text.document(function)
    return re.sub(".\b", "", text)  # pydoc's bold uses backspaces
