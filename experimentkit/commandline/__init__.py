"""The command line of an experiment script: ``python train.py [COMMAND] [with UPDATE...]
[OPTIONS]``.

``options`` defines the flags (and ``cli_option``), ``plugins`` finds observer plugins' flags,
``parser`` builds the usage text and parses with docopt, ``commands`` holds the built-in commands,
``printing`` their output, and ``main`` ties it together in ``run_commandline``.  Modules load only
when used.
"""

from __future__ import annotations

__all__ = ["run_commandline", "cli_option", "CLIOption"]


def __getattr__(name: str):
    if name == "run_commandline":
        from .main import run_commandline

        return run_commandline
    if name in ("cli_option", "CLIOption"):
        from . import options

        return getattr(options, name)
    raise AttributeError(f"module 'experimentkit.commandline' has no attribute {name!r}")
