"""Sacred's ``sacred.observers.s3_observer``.  The code lives in :mod:`experimentkit.backends.s3`."""

from __future__ import annotations

from ..backends.s3.observer import DEFAULT_S3_PRIORITY, S3Observer, s3_join  # noqa: F401
from ..commandline.options import s3_option  # noqa: F401

__all__ = ["S3Observer", "DEFAULT_S3_PRIORITY", "s3_join", "s3_option"]
