"""Observers that fail on demand, and a dispatcher with a run opened on them, shared by the
dispatch, journal and sync tests."""

import datetime as dt
import itertools
import logging

from experimentkit.dispatch import Dispatcher
from experimentkit.observers.memory import InMemoryObserver

T0 = dt.datetime(2024, 1, 1)
STARTED = dict(ex_info={}, command="m", host_info={}, start_time=T0, config={}, meta_info={})

EVENTS = (
    "queued_event",
    "started_event",
    "heartbeat_event",
    "completed_event",
    "interrupted_event",
    "failed_event",
    "resource_event",
    "artifact_event",
    "log_metrics",
    "log_table",
)
_names = itertools.count()


class Flaky(InMemoryObserver):
    """An InMemoryObserver whose events raise ConnectionError ``failures[event]`` times, or always
    while ``down`` is set.  Raising happens before anything is recorded (all-or-nothing)."""

    def __init__(self, failures=None, down=False, priority=0, replayable=True):
        super().__init__(name=f"flaky-{next(_names)}", priority=priority)
        self.failures = dict(failures or {})
        self.down = down
        self.replayable = replayable
        self.attempts = []

    def _maybe_fail(self, event):
        self.attempts.append(event)
        if self.down:
            raise ConnectionError(f"backend unreachable ({event})")
        if self.failures.get(event, 0) > 0:
            self.failures[event] -= 1
            raise ConnectionError(f"transient failure in {event}")

    def replay_spec(self):
        return super().replay_spec() if self.replayable else None


def _wrap(event):
    def method(self, **kwargs):
        self._maybe_fail(event)
        return getattr(InMemoryObserver, event)(self, **kwargs)

    method.__name__ = event
    return method


for _event in EVENTS:
    setattr(Flaky, _event, _wrap(_event))


def opened_dispatcher(observer, fallback_dir, **kwargs) -> Dispatcher:
    """A dispatcher for one run (uid ``u``) on ``observer``, its journals in ``fallback_dir``, that
    retries at once (``retry_seconds=0``), with the run opened (``started_event``)."""
    disp = Dispatcher(
        [observer],
        logger=logging.getLogger("tests.dispatch"),
        run_uid="u",
        retry_seconds=0,
        fallback_dir=str(fallback_dir),
        **kwargs,
    )
    disp.open("started_event", **STARTED)
    return disp


def metric_batch(name, steps, stamp=T0):
    """``metrics_by_name`` for one metric: the given steps, each step's value as a float."""
    return {
        name: {
            "name": name,
            "steps": list(steps),
            "values": [float(s) for s in steps],
            "timestamps": [stamp] * len(steps),
        }
    }
