"""The file observer does not leak a file descriptor per metrics flush or heartbeat."""

from __future__ import annotations

import os

import pytest

from experimentkit.context import current_run
from experimentkit.observers import FileStorageObserver
from experimentkit.testing import make_run

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_many_flushes_leave_descriptor_count_unchanged(tmp_path):
    observer = FileStorageObserver(str(tmp_path / "runs"))

    def main():
        run = current_run()
        for beat in range(200):
            run.log_scalar("loss", float(beat))
            run.log_table("preds", [{"i": beat}])
            run._beat()  # one metrics append, one table append and one heartbeat per iteration

    before = _open_fds()
    make_run(
        main, {}, [observer], capture_mode="no", beat_interval=0, fallback_dir=str(tmp_path / "fallback")
    )()
    assert _open_fds() - before <= 2, "file descriptors grew with the number of flushes"
    stored = (tmp_path / "runs" / "1" / "metrics.json").read_text()
    assert stored.count('"loss"') == 1 and "199.0" in stored
