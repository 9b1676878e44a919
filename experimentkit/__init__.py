"""experimentkit: reproducible, comparable, shareable experiments (a drop-in for Sacred 0.8).

Importing this package is cheap: the classes below are loaded on first use.
"""

from __future__ import annotations

from typing import Any

from .lazy import lazy_attribute

__version__ = "0.1.0"

__all__ = [
    "Experiment",
    "Ingredient",
    "SETTINGS",
    "cli_option",
    "host_info_gatherer",
    "__version__",
]

_LAZY = {
    "Experiment": "experimentkit.experiment",
    "Ingredient": "experimentkit.ingredient",
    "SETTINGS": "experimentkit.settings",
    "cli_option": "experimentkit.commandline.options",
    "host_info_gatherer": "experimentkit.host_info",
}


# Submodules reachable as attributes after a bare ``import experimentkit`` (as after ``import
# sacred``: ``sacred.observers.X``, ``sacred.run.Run``, ``sacred.utils.X``), each imported on first use.
_SUBMODULES = frozenset(
    {
        "arg_parser",
        "captured",
        "commandline",
        "commandline_options",
        "commands",
        "config",
        "dependencies",
        "errors",
        "experiment",
        "host_info",
        "ingredient",
        "initialize",
        "metrics",
        "metrics_logger",
        "observers",
        "optional",
        "randomness",
        "run",
        "seeding",
        "serialize",
        "serializer",
        "settings",
        "stflow",
        "utils",
    }
)


def __getattr__(name: str) -> Any:
    return lazy_attribute(globals(), _LAZY, name, _SUBMODULES)


def __dir__() -> list:
    return sorted(set(globals()) | set(__all__))
