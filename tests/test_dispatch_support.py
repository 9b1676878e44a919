"""Observers that fail on demand, shared by the dispatch and sync tests."""

import itertools

from experimentkit.observers.memory import InMemoryObserver

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
