"""Sacred's ``sacred.config.utils``: key checks, normalisation and evaluating config scopes.

The code lives in :mod:`experimentkit.config.validate`, :mod:`~experimentkit.config.values`,
:mod:`~experimentkit.config.scope`, :mod:`~experimentkit.config.dicts` and
:mod:`~experimentkit.config.dogmatic`.
"""

from __future__ import annotations

from .dicts import chain_evaluate_config_scopes  # noqa: F401
from .dogmatic import dogmatize, undogmatize  # noqa: F401
from .scope import recursive_fill_in  # noqa: F401
from .validate import assert_is_valid_key, normalize_or_die  # noqa: F401
from .values import normalize as normalize_numpy  # noqa: F401

__all__ = [
    "assert_is_valid_key",
    "normalize_numpy",
    "normalize_or_die",
    "recursive_fill_in",
    "chain_evaluate_config_scopes",
    "dogmatize",
    "undogmatize",
]
