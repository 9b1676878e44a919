"""The run that is active right now, read by captured functions.

Run state is not written onto function objects: an active run holds a binding (config view, logger,
random stream) for each captured function, and a captured function looks its binding up here.

Several runs may be active in one process (runs in threads, asyncio tasks, Optuna with
``n_jobs``).  Each run is active in the ``contextvars`` context that started it, so code running in
that context (and in asyncio tasks and ``contextvars.copy_context()`` runs created from it) sees its
own run.  A plain ``threading.Thread`` the user starts inside ``main`` begins with an empty context;
there the innermost run of the whole process is returned, as before (which is the right one unless
several runs are active at once - then start the thread under ``contextvars.copy_context().run``).
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Callable, Iterator
from typing import Any, Optional

__all__ = ["current_run", "activate", "active_runs", "own_run", "running_runs"]

_stack: contextvars.ContextVar = contextvars.ContextVar("experimentkit_active_runs", default=())
_active: list = []  # every active run of the process, in activation order
_running: list = []  # runs between the start and the end of their output capture
_running_lock = threading.Lock()


def current_run() -> Optional[Any]:
    """The innermost run active in this context, else the innermost of the process, else None."""
    stack = _stack.get()
    if stack:
        return stack[-1]
    return _active[-1] if _active else None


def own_run() -> Optional[Any]:
    """The innermost run active in this very context (None in a thread no run started)."""
    stack = _stack.get()
    return stack[-1] if stack else None


def active_runs() -> list:
    """Every run active in the process right now, oldest first."""
    return list(_active)


@contextlib.contextmanager
def running_runs(run: Any, on_start: Optional[Callable[[list], None]] = None) -> Iterator[list]:
    """Register ``run`` as running for the block; yields the other runs already running (checked
    and registered at once, so two runs starting together each see the other).  ``on_start`` is
    called with them under the same lock, so a decision it records (the capture mode) is visible
    to every run that starts after it."""
    with _running_lock:
        others = list(_running)
        if on_start is not None:
            on_start(others)
        _running.append(run)
    try:
        yield others
    finally:
        with _running_lock:
            _running.remove(run)


@contextlib.contextmanager
def activate(run: Any) -> Iterator[Any]:
    """Make ``run`` the active run of this context (and of the process) for the block."""
    token = _stack.set(_stack.get() + (run,))
    _active.append(run)
    try:
        yield run
    finally:
        _active.remove(run)
        try:
            _stack.reset(token)
        except ValueError:  # left in another context (a generator closed elsewhere)
            _stack.set(tuple(r for r in _stack.get() if r is not run))
