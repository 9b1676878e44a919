"""A fast logging loop streams to the observers while it runs, in bounded calls, with bounded memory."""

from __future__ import annotations

import logging
import os
import threading

import pytest

from experimentkit import run as run_module
from experimentkit.context import current_run
from experimentkit.observers.base import RunObserver
from experimentkit.testing import make_run


class _Counting(RunObserver):
    """Records the size of each log_metrics call; can tell the main function that one arrived."""

    def __init__(self):
        self.calls: list = []
        self.points = 0
        self.got_metrics = threading.Event()

    def started_event(self, **kwargs):
        return 1

    def log_metrics(self, metrics_by_name, info):
        size = sum(len(series["values"]) for series in metrics_by_name.values())
        if size:
            self.calls.append(size)
            self.points += size
            self.got_metrics.set()


@pytest.fixture
def small_limits(monkeypatch):
    monkeypatch.setattr(run_module, "METRIC_CHUNK", 100)
    monkeypatch.setattr(run_module, "EARLY_FLUSH", 300)
    monkeypatch.setattr(run_module, "METRIC_BUDGET", 600)


def _run(main, observer, beat_interval=3600.0):
    return make_run(
        main,
        {},
        [observer],
        logger=logging.getLogger("test_stream"),
        capture_mode="no",
        beat_interval=beat_interval,
        observer_retry_seconds=0,
    )


def test_points_past_the_early_flush_size_are_sent_before_the_next_beat(small_limits):
    observer = _Counting()
    seen_during_main = {}

    def main():
        _run = current_run()
        for i in range(1000):
            _run.log_scalar("loss", i)
            _run.log_scalar("acc", -i)
        # The beat is an hour away: only the early flush can deliver these.
        seen_during_main["arrived"] = observer.got_metrics.wait(60)

    run = _run(main, observer)
    run()
    assert seen_during_main["arrived"] is True
    assert run.status == "COMPLETED"
    assert observer.points == 2000
    assert max(observer.calls) <= 100


def test_the_queue_never_holds_more_than_the_budget(small_limits):
    observer = _Counting()
    high_water = []

    def main():
        _run = current_run()
        queue = _run._metrics
        for i in range(20_000):
            _run.log_scalar("loss", i)
            high_water.append(len(queue))

    run = _run(main, observer)
    run()
    assert max(high_water) <= 600
    assert observer.points == 20_000
    assert max(observer.calls) <= 100


def test_without_a_heartbeat_thread_the_final_flush_is_chunked_and_nothing_waits(small_limits):
    observer = _Counting()

    def main():
        _run = current_run()
        for i in range(2_050):  # no thread drains during main: log_scalar must not block
            _run.log_scalar("loss", i)

    run = _run(main, observer, beat_interval=0)
    run()
    assert observer.points == 2_050
    assert observer.calls == [100] * 20 + [50]


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="reads Linux's per-thread counters")
def test_the_heartbeat_thread_sleeps_between_beats_instead_of_polling():
    """A thread that wakes up to look at the queue takes the GIL from the training loop each time
    (measured in benchmarks/bench_training_loop.py); between beats it should not wake at all."""
    beats: list = []
    beat = threading.Condition()

    class _Beats(_Counting):
        def heartbeat_event(self, info, captured_out, beat_time, result):
            with beat:
                beats.append(beat_time)
                beat.notify_all()

    def wake_ups() -> int:
        (heartbeat,) = [t for t in threading.enumerate() if t.name == "experimentkit-heartbeat"]
        with open(f"/proc/self/task/{heartbeat.native_id}/status", encoding="ascii") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return int(fields["voluntary_ctxt_switches"])

    counted = {}

    def main():
        current_run().log_scalar("loss", 1.0)
        with beat:
            beat.wait_for(lambda: len(beats) >= 1)
            counted["first"] = wake_ups()
            beat.wait_for(lambda: len(beats) >= 3)
            counted["third"] = wake_ups()

    _run(main, _Beats(), beat_interval=1.0)()
    # two beats, each one wake-up plus the observer calls it waits for (about 12 in all);
    # polling every 50 ms added about 40
    assert counted["third"] - counted["first"] < 30
