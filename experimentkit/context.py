"""The run that is active right now, read by captured functions.

Run state is not written onto function objects: an active run holds a binding (config view, logger, random
stream) for each captured function, and a captured function looks its binding up here.  A plain module
global (not a ContextVar) so threads the user starts inside ``main`` see the run too.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Optional

_active: list = []


def current_run() -> Optional[Any]:
    """The innermost active run, or None outside any run."""
    return _active[-1] if _active else None


@contextlib.contextmanager
def activate(run: Any) -> Iterator[Any]:
    """Make ``run`` the active run for the duration of the block."""
    _active.append(run)
    try:
        yield run
    finally:
        _active.remove(run)
