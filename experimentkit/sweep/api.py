"""``Experiment.sweep``: a sweep from Python, recorded like one from the command line."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, Optional

from .runner import SweepResult, run_sweep, tasks_from_record
from .space import space_from_mapping

__all__ = ["sweep"]


def sweep(
    ex: Any,
    space: Optional[Mapping] = None,
    *,
    named_configs: Any = None,
    command: Optional[str] = None,
    launcher: Any = "local",
    jobs: int = 1,
    samples: Optional[int] = None,
    seed: int = 0,
    options: Optional[dict] = None,
    fail_fast: bool = False,
    resume: Optional[int] = None,
    progress: bool = False,
    **launcher_options: Any,
) -> SweepResult:
    """Run every point of ``space`` with ``ex``'s observers; return the :class:`SweepResult`.

    ``space`` maps config keys to a list (a grid axis), a grammar string (``"range(3)"``), a
    random dimension (``{"loguniform": [1e-4, 1e-1]}``, needs ``samples``) or a fixed value.
    ``named_configs`` is an axis of named configs.  ``resume=SWEEP_ID`` runs only that sweep's tasks
    without a COMPLETED run.
    """
    from .records import books_for_observers

    books = books_for_observers(ex.observers)
    built = space_from_mapping(space or {}, named_configs, samples, seed)
    record = None
    if resume is not None:
        if not books:
            from ..errors import UsageError

            raise UsageError("resume reads the sweep record: add a file, SQL or MongoDB observer")
        record = books[0].get(resume)
        tasks = tasks_from_record(record)
    else:
        tasks = built.expand()
    return run_sweep(
        ex,
        tasks,
        command=command,
        options=dict(options or {}),
        space=built,
        launcher=launcher,
        jobs=jobs,
        launcher_options=launcher_options,
        fail_fast=fail_fast,
        command_line=list(sys.argv),
        books=books,
        resume=record,
        progress=progress,
    )
