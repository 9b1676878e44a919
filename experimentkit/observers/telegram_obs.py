"""Sacred's ``sacred.observers.telegram_obs``.  The code lives in :mod:`experimentkit.notify.telegram`."""

from __future__ import annotations

from ..notify.telegram import DEFAULT_TELEGRAM_PRIORITY, TelegramObserver  # noqa: F401

__all__ = ["TelegramObserver", "DEFAULT_TELEGRAM_PRIORITY"]
