"""Sacred's ``sacred.observers.file_storage``.  The code lives in :mod:`experimentkit.backends.file`."""

from __future__ import annotations

from ..backends.file.observer import (  # noqa: F401 - re-exported under Sacred's module path
    DEFAULT_FILE_STORAGE_PRIORITY,
    FileStorageObserver,
)
from ..commandline.options import file_storage_option  # noqa: F401

__all__ = ["FileStorageObserver", "DEFAULT_FILE_STORAGE_PRIORITY", "file_storage_option"]
