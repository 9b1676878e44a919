"""``RunObserver``: the interface every observer implements (Sacred's event names and keyword arguments).

The run calls each event with keyword arguments only, in descending ``priority`` order.  Observers that
want their undelivered events replayed after an outage (``experimentkit sync``) implement
``replay_spec`` and ``attach``; see docs/observers.md.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any, Optional

__all__ = ["RunObserver", "td_format", "copy_resource"]


def copy_resource(filename: str, copy: Optional[bool] = None) -> bool:
    """Whether an observer keeps a copy of the resource ``filename`` or only its digest.

    ``copy`` is what ``add_resource(..., copy=)`` asked; None means "copy unless the file is larger
    than ``SETTINGS.RESOURCE_COPY_LIMIT`` bytes" (None there: always copy), so a 100 MB data set
    is recorded by path, size and md5 rather than stored once more in every backend."""
    if copy is not None:
        return bool(copy)
    from ..settings import SETTINGS

    limit = SETTINGS.RESOURCE_COPY_LIMIT
    try:
        return limit is None or os.path.getsize(filename) <= limit
    except OSError:
        return True  # let the copy report the problem


class RunObserver:
    """Does nothing for every event; subclass it and override what you need."""

    priority = 0

    def queued_event(
        self,
        ex_info: dict,
        command: str,
        host_info: dict,
        queue_time: datetime,
        config: dict,
        meta_info: dict,
        _id: Any,
    ) -> Any:
        """A run was queued (``--queue``) instead of started.  Return its id."""
        return None

    def started_event(
        self,
        ex_info: dict,
        command: str,
        host_info: dict,
        start_time: datetime,
        config: dict,
        meta_info: dict,
        _id: Any,
    ) -> Any:
        """A run started.  Return the id the observer gave it (or the ``_id`` passed in)."""
        return None

    def heartbeat_event(self, info: dict, captured_out: str, beat_time: datetime, result: Any) -> None:
        """Periodic update; ``captured_out`` is the output so far (observers append only the new part)."""

    def completed_event(self, stop_time: datetime, result: Any) -> None:
        """The main function returned ``result``."""

    def interrupted_event(self, interrupt_time: datetime, status: str) -> None:
        """The run was stopped (Ctrl-C, SIGTERM, a ``SacredInterrupt``); ``status`` says how."""

    def failed_event(self, fail_time: datetime, fail_trace: list) -> None:
        """The main function raised; ``fail_trace`` is a list of lines."""

    def resource_event(self, filename: str, copy: Optional[bool] = None) -> None:
        """The run opened the input file ``filename`` (an absolute path).  ``copy`` (an
        experimentkit extension, only passed to observers that accept it): keep a copy of the
        content (True) or only its md5 (False); None: decide with :func:`copy_resource`."""

    def artifact_event(
        self, name: str, filename: str, metadata: Optional[dict] = None, content_type: Optional[str] = None
    ) -> None:
        """The run produced the file ``filename``, to be stored as ``name``."""

    def log_metrics(self, metrics_by_name: dict, info: dict) -> None:
        """New metric points since the last call: ``{name: {"steps", "values", "timestamps"}}``."""

    def log_table(self, name: str, rows: list) -> None:
        """New per-sample rows (a list of flat dicts) for the table ``name`` (experimentkit extension)."""

    def join(self) -> None:
        """Called once at the very end; wait for background work to finish."""

    # ---- optional replay support -------------------------------------------------------------
    def replay_spec(self) -> Optional[dict]:
        """``{"factory": "module:callable", "kwargs": {...}}`` that rebuilds this observer, or None."""
        return None

    def attach(self, _id: Any) -> None:
        """Point this (freshly built) observer at the existing run ``_id`` so replayed events extend it."""
        raise NotImplementedError(f"{type(self).__name__} cannot resume an existing run")


def td_format(td: Any) -> str:
    """Format a timedelta as ``H:MM:SS`` (whole seconds), as in the console log lines."""
    seconds = int(td.total_seconds())
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
