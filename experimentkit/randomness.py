"""Sacred's ``sacred.randomness``.  The code lives in :mod:`experimentkit.seeding`."""

from __future__ import annotations

from .seeding import SEED_LIMIT, create_rnd, get_seed, set_global_seed  # noqa: F401

SEEDRANGE = (1, SEED_LIMIT)

__all__ = ["get_seed", "create_rnd", "set_global_seed", "SEEDRANGE"]
