"""Helpers for testing code that uses experimentkit: run it and look at every event it emitted.

Example::

    from experimentkit.testing import capture_events

    def test_training_logs_loss():
        run, observer = capture_events(ex, config_updates={"epochs": 2})
        assert run.status == "COMPLETED"
        assert observer.run.metrics["loss"]["steps"] == [0, 1]
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Callable, Optional

from .observers.memory import InMemoryObserver
from .run import Run

__all__ = ["capture_events", "make_run", "InMemoryObserver"]


def capture_events(ex: Any, *, raise_errors: bool = True, **run_kwargs: Any) -> tuple:
    """Run ``ex.run(**run_kwargs)`` with an extra :class:`InMemoryObserver`: ``(run, observer)``.

    With ``raise_errors=False`` a failing run does not raise, so its ``failed_event`` can be
    inspected (``run`` is then ``ex.current_run``).
    """
    observer = InMemoryObserver()
    ex.observers.append(observer)
    try:
        run = ex.run(**run_kwargs)
    except Exception:
        if raise_errors:
            raise
        run = getattr(ex, "current_run", None)
    finally:
        ex.observers.remove(observer)
    return run, observer


def make_run(
    main_function: Callable,
    config: Optional[dict] = None,
    observers: Iterable[Any] = (),
    *,
    logger: Optional[logging.Logger] = None,
    **attributes: Any,
) -> Run:
    """A :class:`Run` of a plain function without an Experiment; ``attributes`` set e.g. debug."""
    logger = logger or logging.getLogger("experimentkit.testing")
    run = Run(
        config=dict(config or {}),
        config_modifications=None,
        main_function=main_function,
        observers=list(observers),
        root_logger=logger,
        run_logger=logger,
        experiment_info={
            "name": getattr(main_function, "__name__", "test"),
            "base_dir": "",
            "sources": [],
            "dependencies": [],
            "repositories": [],
            "mainfile": None,
        },
        host_info={},
        pre_run_hooks=[],
        post_run_hooks=[],
    )
    for key, value in attributes.items():
        if not hasattr(run, key):
            raise AttributeError(f"Run has no attribute {key!r}")
        setattr(run, key, value)
    return run
