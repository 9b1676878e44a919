"""Sacred's ``sacred.serializer``: ``flatten`` values for storage and ``restore`` them.

The code lives in :mod:`experimentkit.serialize` (``flatten`` is its ``sacred_flatten``: the jsonpickle
form Sacred stores); ``json`` is jsonpickle, as in Sacred.
"""

from __future__ import annotations

import jsonpickle as json  # noqa: F401 - Sacred exposes jsonpickle under this name

from .serialize import restore  # noqa: F401 - re-exported under Sacred's module path
from .serialize import sacred_flatten as flatten  # noqa: F401 - Sacred's jsonpickle form

__all__ = ["flatten", "restore", "json"]
