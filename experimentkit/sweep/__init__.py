"""Sweeps: many recorded runs from one command, linked by one sweep record.

``grammar`` (the ``with`` words of ``--multirun``), ``space`` (grid and random spaces, tasks),
``records`` (the sweep record and its per-backend books), ``runner`` (checks, launching, counts,
resume), ``worker`` (what a launcher executes), ``commandline`` (the sweep flags of a script),
``api`` (``Experiment.sweep``), ``optuna`` (``Experiment.optimize``), ``plots`` (sweep plots).
Launchers live in :mod:`experimentkit.launchers`.  Modules load only when used.
"""

from __future__ import annotations

__all__ = ["sweep", "SweepResult", "SweepOutcome"]


def __getattr__(name: str):
    if name == "sweep":
        from .api import sweep

        return sweep
    if name in ("SweepResult", "SweepOutcome"):
        from . import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'experimentkit.sweep' has no attribute {name!r}")
