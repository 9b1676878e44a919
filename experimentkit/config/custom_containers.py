"""Sacred's ``sacred.config.custom_containers``: the dicts and lists config scopes and captured
functions see.

The code lives in :mod:`experimentkit.config.dogmatic` (fixed values while a scope runs),
:mod:`~experimentkit.config.readonly` (read-only views) and :mod:`~experimentkit.config.values`.
"""

from __future__ import annotations

from .dogmatic import DogmaticDict, FixedList, fallback_dict  # noqa: F401
from .readonly import ReadOnlyDict, ReadOnlyList, make_read_only  # noqa: F401
from .values import simplified_type, type_changed  # noqa: F401
from .values import values_differ as is_different  # noqa: F401

DogmaticList = FixedList

__all__ = [
    "DogmaticDict",
    "DogmaticList",
    "fallback_dict",
    "ReadOnlyDict",
    "ReadOnlyList",
    "make_read_only",
    "type_changed",
    "is_different",
    "simplified_type",
]
