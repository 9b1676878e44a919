"""Observer calls that take too long: the run never hangs, and slow-but-alive backends lose nothing."""

import threading
import time

from experimentkit.context import current_run
from experimentkit.observers.memory import InMemoryObserver
from experimentkit.testing import make_run


class Slow(InMemoryObserver):
    """Answers ``started_event`` only after ``delay`` seconds (a busy database)."""

    def __init__(self, delay, **kwargs):
        super().__init__(**kwargs)
        self.delay = delay

    def started_event(self, **kwargs):
        time.sleep(self.delay)
        return super().started_event(**kwargs)


class Frozen(InMemoryObserver):
    """Never answers ``heartbeat_event`` (a server that stops replying without closing the socket)
    until ``release`` is set.  Its state is the instance's: a second run of the test in the same
    process (mutmut runs the tests more than once in one interpreter) starts frozen again."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.release = threading.Event()
        self.calls: list = []

    def heartbeat_event(self, **kwargs):
        self.calls.append(threading.current_thread())
        self.release.wait(30)


def points_main():
    run = current_run()
    for i in range(20):
        run.log_scalar("x", i)
    return "done"


def test_slow_started_event_is_waited_for_and_nothing_is_journaled(tmp_path):
    slow = Slow(1.3)  # longer than the call timeout (1 s here): the call goes on in the background
    run = make_run(
        points_main,
        observers=[slow],
        beat_interval=0,
        fallback_dir=str(tmp_path / "fb"),
        observer_retry_seconds=1.0,
    )
    run()
    assert run.status == "COMPLETED" and run.fallback_journals == []
    assert slow.run.status == "COMPLETED"
    assert slow.run.metrics["x"]["values"] == list(range(20))


def test_frozen_backend_does_not_hang_the_run_and_is_journaled(tmp_path):
    frozen = Frozen()
    healthy = InMemoryObserver()
    run = make_run(
        points_main,
        observers=[frozen, healthy],
        beat_interval=0,
        fallback_dir=str(tmp_path / "fb"),
        observer_retry_seconds=0.5,
    )
    try:
        run()
        # the run returned while the frozen call was still waiting: it did not wait for it
        assert [call.is_alive() for call in frozen.calls] == [True]
    finally:
        frozen.release.set()
    assert run.status == "COMPLETED" and healthy.run.status == "COMPLETED"
    assert len(run.fallback_journals) == 1
