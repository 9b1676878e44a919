"""Sacred's ``sacred.observers.gcs_observer``.  The code lives in :mod:`experimentkit.backends.gcs`."""

from __future__ import annotations

from ..backends.gcs.observer import (  # noqa: F401 - re-exported under Sacred's module path
    DEFAULT_GCS_PRIORITY,
    GoogleCloudStorageObserver,
    gcs_join,
)
from ..commandline.options import gcs_option  # noqa: F401

__all__ = ["GoogleCloudStorageObserver", "DEFAULT_GCS_PRIORITY", "gcs_join", "gcs_option"]
