"""Observers shared by runs that are active at the same time in one process.

An observer object records one run at a time (it keeps that run's id, cursors and counts), but
``ex.observers`` is shared by every run of the experiment.  When a run starts while another active
run of the process already uses one of its observers (runs in threads, asyncio tasks, Optuna with
``n_jobs``), it gets its own copy of that observer, writing to the same store.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

__all__ = ["claim_observers", "release_observers"]

_lock = threading.Lock()
_in_use: dict = {}  # id(observer) -> number of active runs using it


def _fresh(observer: Any) -> Any:
    kind = type(observer).__name__
    if kind == "FileStorageObserver":
        from ..sync import build_observer

        return build_observer(observer.replay_spec())
    if kind == "SqlObserver":
        fresh = type(observer)(observer.url, echo=observer.echo, priority=observer.priority)
        if observer._engine is not None:  # share the connection pool
            fresh._engine, fresh._owns_engine = observer._engine, False
        return fresh
    return copy.copy(observer)


def claim_observers(observers: list) -> list:
    """The observers a starting run should use: the same objects when free, else fresh copies."""
    claimed = []
    with _lock:
        for observer in observers:
            if _in_use.get(id(observer)):
                observer = _fresh(observer)
            _in_use[id(observer)] = _in_use.get(id(observer), 0) + 1
            claimed.append(observer)
    return claimed


def release_observers(observers: list) -> None:
    """Mark the run's observers free again."""
    with _lock:
        for observer in observers:
            left = _in_use.get(id(observer), 0) - 1
            if left > 0:
                _in_use[id(observer)] = left
            else:
                _in_use.pop(id(observer), None)
