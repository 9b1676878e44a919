"""Sacred's ``sacred.stflow``: ``LogFileWriter``.

The code lives in :mod:`experimentkit.integrations.tensorboard_logdirs` (it also records the writers
of ``torch.utils.tensorboard`` and ``tensorboardX``).
"""

from __future__ import annotations

from .integrations.tensorboard_logdirs import LogFileWriter  # noqa: F401

__all__ = ["LogFileWriter"]
