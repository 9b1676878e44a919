"""A file observer with a run started, shared by the tests of its metric writing (flush, disk full,
column reads, the writer's edge cases)."""

from __future__ import annotations

import datetime as dt
import os

from experimentkit.backends.file.observer import FileStorageObserver

T0 = dt.datetime(2024, 5, 1, 12, 0, 0)


def started_file_observer(basedir: str | os.PathLike, start_time: dt.datetime = T0) -> FileStorageObserver:
    """A ``FileStorageObserver`` on ``basedir`` with a run of a source-less experiment started
    (run ``1`` in an empty ``basedir``)."""
    obs = FileStorageObserver(basedir)
    obs.started_event(
        ex_info={"name": "e", "base_dir": "", "sources": []},
        command="main",
        host_info={},
        start_time=start_time,
        config={},
        meta_info={},
        _id=None,
    )
    return obs


def series(steps, values, stamps) -> dict:
    """One metric's columns as ``log_metrics`` takes them."""
    return {"steps": steps, "values": values, "timestamps": stamps}
