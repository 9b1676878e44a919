"""Sacred's ``sacred.observers.slack``.  The code lives in :mod:`experimentkit.notify.slack`."""

from __future__ import annotations

from ..notify.slack import DEFAULT_SLACK_PRIORITY, SlackObserver  # noqa: F401

__all__ = ["SlackObserver", "DEFAULT_SLACK_PRIORITY"]
