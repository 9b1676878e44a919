"""Small answers kept between processes, so that a run's start does not find them again.

They live in the user's cache folder: ``EXPERIMENTKIT_CACHE_DIR``, else
``$XDG_CACHE_HOME/experimentkit`` or ``~/.cache/experimentkit``; an empty ``EXPERIMENTKIT_CACHE_DIR``
turns caching off.  Each answer is one JSON file whose name carries a digest of everything the
answer depends on, so a changed environment reads another file (never a stale answer); the newest
files of a kind are kept, the older ones deleted.  A folder that cannot be written only means the
answer is found again next time.
"""

from __future__ import annotations

import json
import os
from typing import Any, Optional

__all__ = ["cache_folder", "cache_path", "read_cached", "write_cached"]

#: Files kept per kind (one per state of the environment that was seen).
KEEP = 16


def cache_folder() -> Optional[str]:
    """The cache folder, or None when caching is off."""
    folder = os.environ.get("EXPERIMENTKIT_CACHE_DIR")
    if folder is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        folder = os.path.join(base, "experimentkit")
    return folder or None


def cache_path(kind: str, digest: str) -> Optional[str]:
    """``<cache folder>/<kind>-<digest>.json``, None when caching is off."""
    folder = cache_folder()
    return None if folder is None else os.path.join(folder, f"{kind}-{digest}.json")


def read_cached(path: str) -> Any:
    """The JSON value kept at ``path``; None when there is none or it cannot be read."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def write_cached(path: str, value: Any) -> None:
    """Keep ``value`` at ``path`` (written whole, then renamed) and delete all but the newest
    ``KEEP`` files of its kind."""
    folder, name = os.path.split(path)
    kind = name.rsplit("-", 1)[0] + "-"
    try:
        os.makedirs(folder, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(value, f)
        os.replace(tmp, path)
        old = sorted(
            (e.stat().st_mtime, e.path)
            for e in os.scandir(folder)
            if e.name.startswith(kind) and e.name.endswith(".json")
        )
        for _, stale in old[:-KEEP]:
            os.unlink(stale)
    except OSError:
        pass  # a read-only home: found again next time
