"""``QueueObserver``: hands a slow observer's events to a background thread (Sacred's API).

Unlike Sacred's, the worker is a daemon thread, retries are bounded and ``join()`` has a timeout, so
a backend that is down can never hang the process.  Events that could not be delivered are not
dropped: the dispatcher collects them with :meth:`QueueObserver.take_undelivered` and journals them
for ``experimentkit sync``.
"""

from __future__ import annotations

import collections
import inspect
import logging
import threading
import time
from typing import Any, Optional

from .base import RunObserver

__all__ = ["QueueObserver"]

_log = logging.getLogger("experimentkit.observers.queue")


class QueueObserver(RunObserver):
    """Runs ``covered``'s events (except ``started_event``/``queued_event``) on a background thread.

    Queued events are delivered every ``interval`` seconds (at once after a terminal event).  A
    failing event is retried every ``retry_interval`` seconds, at most ``max_retries`` times per
    round; ``join()`` waits up to ``join_timeout`` seconds (default: enough for one round of
    retries).
    """

    def __init__(
        self,
        covered: Any,
        interval: float = 20,
        retry_interval: float = 10,
        max_retries: int = 3,
        join_timeout: Optional[float] = None,
    ) -> None:
        self.covered = covered
        self.interval = interval
        self.retry_interval = retry_interval
        self.max_retries = max_retries
        self.join_timeout = retry_interval * (max_retries + 1) + 5 if join_timeout is None else join_timeout
        self._queue: collections.deque = collections.deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._abandoned = False
        self._in_flight = False
        self._worker: Optional[threading.Thread] = None

    def __getattr__(self, name: str) -> Any:
        """Anything else is the covered observer's (``queued.runs``, ``queued.fs``, as in Sacred)."""
        if name == "covered" or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.covered, name)

    def __eq__(self, other: object) -> bool:
        """Equal to an observer equal to the covered one (as in Sacred)."""
        if isinstance(other, QueueObserver):
            return self.covered == other.covered
        return self.covered == other

    def __hash__(self) -> int:
        return hash(("QueueObserver", id(self.covered)))

    @property
    def priority(self) -> int:  # type: ignore[override]
        """The covered observer's priority."""
        return getattr(self.covered, "priority", 0)

    # ---- synchronous events ----------------------------------------------------------------------
    def queued_event(self, *args: Any, **kwargs: Any) -> Any:
        """Delivered at once: the run needs the id."""
        return self.covered.queued_event(**_as_kwargs("queued_event", args, kwargs))

    def started_event(self, *args: Any, **kwargs: Any) -> Any:
        """Delivered at once (the run needs the id); starts the worker."""
        _id = self.covered.started_event(**_as_kwargs("started_event", args, kwargs))
        self._new_run()
        self._start_worker()
        return _id

    def _new_run(self) -> None:
        """Make the observer usable again after the previous run's ``join()`` (Sacred users append
        one observer to an experiment and run it several times)."""
        with self._lock:
            if self._worker is not None and not self._worker.is_alive():
                self._worker = None
                self._stopping.clear()
                self._wake.clear()
                self._abandoned = False

    # ---- queued events (positional arguments, as Sacred's observers take them, become keywords) --
    def _put(self, event: str, kwargs: dict, urgent: bool = False) -> None:
        self._start_worker()
        with self._lock:
            self._queue.append((event, kwargs))
        if urgent:
            self._wake.set()

    def heartbeat_event(self, *args: Any, **kwargs: Any) -> None:  # noqa: D102
        self._put("heartbeat_event", _as_kwargs("heartbeat_event", args, kwargs))

    def log_metrics(self, *args: Any, **kwargs: Any) -> None:  # noqa: D102
        self._put("log_metrics", _as_kwargs("log_metrics", args, kwargs))

    def log_table(self, *args: Any, **kwargs: Any) -> None:  # noqa: D102
        self._put("log_table", _as_kwargs("log_table", args, kwargs))

    def resource_event(self, *args: Any, **kwargs: Any) -> None:  # noqa: D102
        self._put("resource_event", _as_kwargs("resource_event", args, kwargs))

    def artifact_event(self, *args: Any, **kwargs: Any) -> None:  # noqa: D102
        self._put("artifact_event", _as_kwargs("artifact_event", args, kwargs))

    def completed_event(self, *args: Any, **kwargs: Any) -> None:  # noqa: D102
        self._put("completed_event", _as_kwargs("completed_event", args, kwargs), urgent=True)

    def interrupted_event(self, *args: Any, **kwargs: Any) -> None:  # noqa: D102
        self._put("interrupted_event", _as_kwargs("interrupted_event", args, kwargs), urgent=True)

    def failed_event(self, *args: Any, **kwargs: Any) -> None:  # noqa: D102
        self._put("failed_event", _as_kwargs("failed_event", args, kwargs), urgent=True)

    # ---- worker ----------------------------------------------------------------------------------
    def _start_worker(self) -> None:
        with self._lock:
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._work, name="experimentkit-queue-observer", daemon=True
                )
                self._worker.start()

    def _work(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            stopping = self._stopping.is_set()
            self._deliver_all()
            if stopping:
                return

    def _deliver_all(self) -> None:
        """One round: deliver queued events in order; give up after ``max_retries`` retries."""
        failures = 0
        while True:
            with self._lock:
                if not self._queue or self._abandoned:
                    return
                event, kwargs = self._queue.popleft()
                self._in_flight = True
            try:
                getattr(self.covered, event)(**kwargs)
            except Exception as exc:
                with self._lock:
                    self._queue.appendleft((event, kwargs))
                    self._in_flight = False
                failures += 1
                if failures > self.max_retries:
                    return
                _log.warning(
                    "%s failed in %s (%s: %s); retry %d of %d in %gs",
                    type(self.covered).__name__,
                    event,
                    type(exc).__name__,
                    exc,
                    failures,
                    self.max_retries,
                    self.retry_interval,
                )
                time.sleep(self.retry_interval)
            else:
                with self._lock:
                    self._in_flight = False

    # ---- end -------------------------------------------------------------------------------------
    def join(self, timeout: Optional[float] = None) -> None:
        """Deliver what is queued, waiting at most ``timeout`` (default ``join_timeout``) s."""
        if self._worker is None:
            return
        self._stopping.set()
        self._wake.set()
        self._worker.join(self.join_timeout if timeout is None else timeout)
        with self._lock:
            self._abandoned = True

    def take_undelivered(self) -> list:
        """Events the covered observer never accepted, in order (the dispatcher journals them)."""
        with self._lock:
            events, self._queue = list(self._queue), collections.deque()
            if self._in_flight:
                _log.warning(
                    "%s: one event was still being delivered when the wait ended; whether it "
                    "was stored is unknown",
                    type(self.covered).__name__,
                )
            return events

    # ---- replay ----------------------------------------------------------------------------------
    def replay_spec(self) -> Optional[dict]:
        """The covered observer's (journals are replayed into it directly)."""
        return self.covered.replay_spec()

    def attach(self, _id: Any) -> None:
        """Attach the covered observer."""
        self.covered.attach(_id)


def _as_kwargs(event: str, args: tuple, kwargs: dict) -> dict:
    """The event's arguments as keywords, named as in :class:`RunObserver`'s signature."""
    if not args:
        return kwargs
    bound = inspect.signature(getattr(RunObserver, event)).bind(None, *args, **kwargs)
    bound.apply_defaults()
    return {name: value for name, value in bound.arguments.items() if name != "self"}
