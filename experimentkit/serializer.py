"""Sacred's ``sacred.serializer``: ``flatten`` values for storage and ``restore`` them.

The code lives in :mod:`experimentkit.serialize`; ``json`` is jsonpickle, as in Sacred.
"""

from __future__ import annotations

import jsonpickle as json  # noqa: F401 - Sacred exposes jsonpickle under this name

from .serialize import flatten, restore  # noqa: F401 - re-exported under Sacred's module path

__all__ = ["flatten", "restore", "json"]
