"""Hyperparameters from frameworks (Namespaces, dataclasses, tensors, enums) as plain JSON values."""

from __future__ import annotations

import dataclasses
import enum
import math
from typing import Any

__all__ = ["plain_params"]

_MAX_DEPTH = 8


def plain_params(params: Any, depth: int = 0) -> Any:
    """``params`` with dicts/lists kept, numbers/strings/bools/None as they are, numpy/torch scalars
    as numbers, enums as their value, and anything else as its ``str``, so every backend can store it."""
    if params is None or isinstance(params, (bool, int, str)):
        return params
    if isinstance(params, float):
        return params if math.isfinite(params) else str(params)
    if depth >= _MAX_DEPTH:
        return str(params)
    if isinstance(params, enum.Enum):
        return plain_params(params.value, depth + 1)
    if dataclasses.is_dataclass(params) and not isinstance(params, type):
        params = {f.name: getattr(params, f.name) for f in dataclasses.fields(params)}
    elif hasattr(params, "__dict__") and type(params).__name__ == "Namespace":
        params = vars(params)
    if isinstance(params, dict):
        return {
            str(key).replace(".", "_").lstrip("$"): plain_params(value, depth + 1)
            for key, value in params.items()
        }
    if isinstance(params, (list, tuple, set, frozenset)):
        return [plain_params(value, depth + 1) for value in params]
    item = getattr(params, "item", None)
    if callable(item) and getattr(params, "ndim", None) == 0:
        return plain_params(item(), depth + 1)
    return str(params)
