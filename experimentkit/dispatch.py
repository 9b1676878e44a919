"""The one seam between a run and its observers: order, failure isolation, retry, fallback journal.

Sacred lets a failing ``started_event`` kill the run and silently drops an observer after its first
error. Here an observer that raises is reported once per outage, its undelivered events are kept in
order and retried (at every heartbeat and, for a bounded time, at the end).  From the first failure
on, the buffered events are also appended to a JSON-lines journal (with markers for what retries
delivered), so that even a SIGKILLed run leaves them for ``experimentkit sync``; the journal is
removed when the observer recovers and finalized at the end of the run if it does not.  An event
that was delivered is never delivered again: only events that raised stay buffered, and backends
store an event all or nothing.
"""

from __future__ import annotations

import datetime as _dt
import inspect
import logging
import os
import re
import threading
import time
from collections.abc import Iterable
from typing import Any, Callable, Optional

from .errors import ObserverError, PermanentObserverError
from .journal import (
    JOURNAL_FORMAT,
    _compact,
    _Journal,
    _keep_artifact_file,
    decode_value,
    encode_value,
    process_identity,
    read_journal,
    write_journal,
    writer_alive,
)
from .observers.base import RunObserver
from .redact import one_line, redact_text

__all__ = [
    "Dispatcher",
    "is_permanent",
    "encode_value",
    "decode_value",
    "write_journal",
    "read_journal",
    "JOURNAL_FORMAT",
    "process_identity",
    "writer_alive",
]


# ---- permanent or transient ----------------------------------------------------------------------
# An event that failed for a reason that will not go away (bad argument, invalid data, a name the
# backend cannot store, a file that is not there) is dropped with a warning: retrying it would hold
# back every later event of that observer for ever.  Everything else (connection refused or reset,
# timeouts, disk full, a database that is locked or restarting) is transient: buffered, journaled,
# retried.  This is the one place that decides.
_PERMANENT_TYPES = (
    PermanentObserverError,
    TypeError,
    ValueError,
    LookupError,
    AttributeError,
    FileNotFoundError,
    IsADirectoryError,
    NotADirectoryError,
    FileExistsError,
)
# driver errors that describe the data, not the connection (matched by class name: importing
# SQLAlchemy or pymongo here would slow down ``import experimentkit``)
_PERMANENT_NAMES = frozenset(
    {
        "DataError",  # SQLAlchemy / DB-API: a value the column cannot hold
        "InvalidDocument",
        "DocumentTooLarge",
        "InvalidStringData",
        "InvalidName",  # bson / pymongo
    }
)


def is_permanent(exc: BaseException) -> bool:
    """Whether an observer's failure on an event will happen again on every retry.

    ``PermanentObserverError`` (raised by an observer on purpose), ``TypeError``, ``ValueError``,
    ``LookupError``, ``AttributeError``, ``FileNotFoundError``, ``IsADirectoryError``,
    ``NotADirectoryError``, ``FileExistsError`` and the drivers' data errors (``DataError``, bson's
    ``InvalidDocument`` ...) are permanent; a driver error wrapping one (``orig``) too.  Everything
    else (``ConnectionError``, ``TimeoutError``, other ``OSError`` such as a full disk, a database's
    ``OperationalError``) is transient.
    """
    if isinstance(exc, (_Stuck, _Late)):
        return False
    if isinstance(exc, _PERMANENT_TYPES):
        return True
    if any(cls.__name__ in _PERMANENT_NAMES for cls in type(exc).__mro__):
        return True
    orig = getattr(exc, "orig", None)  # SQLAlchemy's StatementError around a driver's error
    return isinstance(orig, BaseException) and orig is not exc and is_permanent(orig)


# ---- the dispatcher ------------------------------------------------------------------------------
class _Stuck(ObserverError):
    """An observer call outlived its timeout and keeps running in the background."""


#: Once the end-of-run window is used up, each observer gets this much more in all (one short last
#: attempt: a healthy backend still takes the last events, a slow or dead one costs at most this).
LAST_ATTEMPT_SECONDS = 1.0


class _Late(ObserverError):
    """The end-of-run window and the observer's last attempt are used up."""


#: Keyword arguments experimentkit adds to Sacred's events; observers that do not take them (any
#: observer written for Sacred) get the event without them.
_EXTENSION_KWARGS = ("copy",)


def _fit(method: Callable, kwargs: dict) -> dict:
    extra = [k for k in _EXTENSION_KWARGS if k in kwargs]
    if not extra:
        return kwargs
    try:
        params = inspect.signature(method).parameters
    except (TypeError, ValueError):
        return kwargs
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return kwargs
    return {k: v for k, v in kwargs.items() if k not in extra or k in params}


def _for_observer(observer: Any, event: str, kwargs: dict) -> dict:
    """An observer that does not derive from our ``RunObserver`` (a duck-typed Sacred observer, a
    mock in Sacred's tests) gets ``meta_info`` exactly as Sacred gives it: without the run ``uid``,
    which only our observers store (the journal keeps it, for ``experimentkit sync``)."""
    meta = kwargs.get("meta_info")
    if event not in _OPENING_EVENTS or not isinstance(meta, dict) or "uid" not in meta:
        return kwargs
    if isinstance(observer, RunObserver):
        return kwargs
    return dict(kwargs, meta_info={k: v for k, v in meta.items() if k != "uid"})


class _ObserverCall(threading.Thread):
    """One observer call on a daemon thread, so a backend that never answers cannot hang the process."""

    def __init__(self, method: Callable, kwargs: dict):
        super().__init__(name="experimentkit-observer-call", daemon=True)
        self._method = method
        self._kwargs = kwargs
        self.result: Any = None
        self.error: Optional[BaseException] = None
        #: set when the method returned or raised; not ``is_alive()``, which Python 3.11 reports
        #: wrongly after a KeyboardInterrupt in ``join()``
        self.done = threading.Event()
        self._gate = threading.Lock()
        self._state = "new"  # then "running", or "cancelled" if the caller gave up before it ran

    def run(self) -> None:
        with self._gate:
            if self._state == "cancelled":
                return
            self._state = "running"
        try:
            self.result = self._method(**self._kwargs)
        except BaseException as exc:  # noqa: B036 - handed to the dispatcher, which decides
            self.error = exc
        finally:
            self.done.set()

    def cancel(self) -> bool:
        """Make sure the method never runs if it has not begun; False if it has (it is in flight)."""
        with self._gate:
            if self._state == "new":
                self._state = "cancelled"
            return self._state == "cancelled"


_OPENING_EVENTS = ("started_event", "queued_event")


class _Slot:
    """One observer with its undelivered events and outage state.

    ``pending`` holds ``(event, kwargs, seq)``: ``seq`` is the highest journal line the entry stands
    for (entries are merged), None if it could not be journaled.
    """

    def __init__(self, index: int, observer: Any):
        self.index = index
        self.observer = observer
        self.name = type(observer).__name__
        self.pending: list = []
        self.inflight: Optional[tuple] = None  # (call, entry) still running after its timeout
        self.opened = False
        self.assigned_id: Any = None
        self.last_error: Optional[BaseException] = None
        self.journal: Optional[_Journal] = None
        self.journal_failed = False  # then the journal is written whole at the end
        self.disabled: Optional[str] = None  # why it gets no more events (its run could not open)
        self.dropped = 0  # events dropped as undeliverable
        self.grace = LAST_ATTEMPT_SECONDS  # time left for calls after the end-of-run window


class Dispatcher:
    """Sends a run's events to its observers (highest ``priority`` first); owns the failure policy.

    ``retry_seconds`` bounds the wait for failing observers at the end of the run; ``fallback_dir``
    is where journals of events not yet delivered go.  Nothing is written while observers are
    healthy: a journal is created when an observer first fails, every event buffered for it is
    appended at once, deliveries are marked, and the file is removed when the observer recovers.
    """

    def __init__(
        self,
        observers: Iterable[Any],
        *,
        logger: logging.Logger,
        run_uid: str,
        retry_seconds: float,
        fallback_dir: str,
        given_id: Any = None,
        sleep: Callable[[float], None] = time.sleep,
        call_timeout: Optional[float] = None,
        on_drop: Optional[Callable[[str], None]] = None,
        strict: bool = False,
    ):
        ordered = sorted(observers, key=lambda o: -getattr(o, "priority", 0))
        self.slots = [_Slot(i, obs) for i, obs in enumerate(ordered)]
        self.logger = logger
        self.run_uid = run_uid
        self.retry_seconds = retry_seconds
        self.fallback_dir = fallback_dir
        self.run_id = given_id
        self.journals: list = []
        self._sleep = sleep
        self._lock = threading.RLock()
        if call_timeout is None:
            from .settings import SETTINGS

            call_timeout = min(float(SETTINGS.OBSERVER_CALL_TIMEOUT), max(retry_seconds, 1.0))
        self.call_timeout = call_timeout
        self._on_drop = on_drop
        #: called with each warning before it is logged, so the run can keep it out of the
        #: captured output (it is about the observers, not the user's program)
        self.hide_from_output: Optional[Callable[[str], None]] = None
        self.strict = strict  # a run that an observer cannot open will not go on: no journal talk
        self._deadline: Optional[float] = None  # monotonic end of the end-of-run window

    # -- events ------------------------------------------------------------------------------------
    def open(self, event: str, **kwargs: Any) -> Any:
        """Send ``started_event``/``queued_event``; the first id returned goes to the others."""
        with self._lock:
            interrupt = None
            for slot in self.slots:
                call = dict(kwargs, _id=self.run_id)
                try:
                    self._send(slot, event, call)
                except BaseException as exc:  # noqa: B036 - finish the others, then re-raise
                    interrupt = exc
                if slot.opened and self.run_id is None:
                    self.run_id = slot.assigned_id
                elif not slot.opened and not slot.disabled and not self.strict and interrupt is None:
                    self._report_unreachable(slot)
            if interrupt is not None:
                raise interrupt
            return self.run_id

    def unopened(self) -> list:
        """The observers whose run could not be opened (backend unreachable or refusing), each as
        ``'Name' (where) (why)``."""
        return [
            f"'{slot.name}' ({_target(slot.observer)}) "
            f"({one_line(slot.last_error) if slot.last_error else 'no answer'})"
            for slot in self.slots
            if not slot.opened
        ]

    def abandon_unopened(self) -> None:
        """Forget the observers that could not open the run, journal included (the run will not go
        on: ``--strict-observers``)."""
        with self._lock:
            for slot in self.slots:
                if not slot.opened:
                    slot.pending = []
                    slot.disabled = "abandoned"
                    if slot.journal is not None:
                        self._drop_journal(slot)

    def start_end_window(self) -> None:
        """The main function returned: from now on the run has ``retry_seconds`` in all to deliver
        what is left (every call waits at most what remains) before the rest is journaled."""
        self._deadline = time.monotonic() + max(self.retry_seconds, 0.0)

    def emit(self, event: str, **kwargs: Any) -> None:
        """Send one event to every observer, isolating failures."""
        with self._lock:
            interrupt = None
            for slot in self.slots:
                try:
                    self._send(slot, event, kwargs)
                except BaseException as exc:  # noqa: B036 - finish the others, then re-raise
                    interrupt = exc
            if interrupt is not None:
                raise interrupt

    def _send(self, slot: _Slot, event: str, kwargs: dict) -> None:
        self._settle(slot)  # a late answer may have been a refusal to open the run
        if slot.disabled:
            slot.dropped += 1
            return
        if slot.pending:
            self._buffer(slot, event, kwargs)
            return
        entry = (event, kwargs, None)
        try:
            self._call(slot, entry)
        except _Stuck as exc:  # in flight, not pending; journaled, as it may never be answered
            assert slot.inflight is not None  # set by _call with the _Stuck
            slot.inflight = (slot.inflight[0], self._journaled(slot, event, kwargs))
            self._report_outage(slot, exc)
        except Exception as exc:
            if is_permanent(exc):
                self._drop(slot, (event, kwargs, None), exc)
                return
            self._buffer(slot, event, kwargs)
            self._report_outage(slot, exc)
        except BaseException:  # Ctrl-C: keep the event (in flight or buffered), then stop
            if slot.inflight is not None and slot.inflight[1] is entry:
                slot.inflight = (slot.inflight[0], self._journaled(slot, event, kwargs))
            else:
                self._buffer(slot, event, kwargs)
            raise

    def _buffer(self, slot: _Slot, event: str, kwargs: dict) -> None:
        slot.pending.append(self._journaled(slot, event, kwargs))
        slot.pending = _compact(slot.pending)

    def _journaled(self, slot: _Slot, event: str, kwargs: dict) -> tuple:
        """Put an event the observer did not take on disk: a SIGKILL must not lose it."""
        if slot.journal_failed:
            return (event, kwargs, None)
        try:
            if slot.journal is None:
                slot.journal = _Journal(self._journal_path(slot), self._header(slot))
            seq, kwargs = slot.journal.append(event, kwargs)
        except Exception as exc:
            self._journal_broke(slot, exc)
            return (event, kwargs, None)
        return (event, kwargs, seq)

    def _mark(self, slot: _Slot, **fields: Any) -> None:
        if slot.journal is None or slot.journal_failed:
            return
        spec = _replay_spec(slot.observer)
        if spec != slot.journal.replay_spec:  # e.g. SQL table row counts confirmed since
            fields["replay_spec"] = slot.journal.replay_spec = spec
        try:
            slot.journal.write(fields)
        except Exception as exc:
            self._journal_broke(slot, exc)

    def _journal_broke(self, slot: _Slot, exc: Exception) -> None:
        slot.journal_failed = True
        self._say(
            logging.ERROR,
            "Observer '%s': cannot keep its fallback journal in %s up to date (%s: %s); its "
            "buffered events are kept in memory only until the end of the run",
            slot.name,
            self.fallback_dir,
            type(exc).__name__,
            exc,
        )

    def _call(self, slot: _Slot, entry: tuple) -> None:
        """Deliver one event, giving up waiting after ``call_timeout`` (a backend that stops answering
        must not hang the run); a call that is still running stays in flight and is settled later."""
        busy = self._settle(slot)
        if busy is not None:
            raise ObserverError(f"still waiting for its earlier {busy[1][0]}")
        event, kwargs, _ = entry
        timeout = self.call_timeout
        late = False
        if self._deadline is not None:
            remaining = self._deadline - time.monotonic()
            late = remaining <= 0
            if late and slot.grace <= 0:
                raise _Late(f"the end-of-run window ({self.retry_seconds:g}s) is used up")
            timeout = min(timeout, slot.grace if late else remaining)
        method = getattr(slot.observer, event)
        call = _ObserverCall(method, _fit(method, _for_observer(slot.observer, event, kwargs)))
        began = time.monotonic()
        try:
            call.start()
            call.done.wait(timeout)
        except BaseException:  # Ctrl-C: the run stops; a call that has begun is in flight
            if not call.cancel():
                slot.inflight = (call, entry)
            raise
        finally:
            if late:
                slot.grace -= time.monotonic() - began
        if not call.done.is_set():
            slot.inflight = (call, entry)
            raise _Stuck(f"no answer to {event} within {timeout:g}s")
        if call.error is not None:
            raise call.error
        self._delivered(slot, entry, call.result)

    def _delivered(self, slot: _Slot, entry: tuple, returned: Any) -> None:
        event, kwargs, seq = entry
        marker: dict = {}
        if event in _OPENING_EVENTS:
            slot.opened = True
            slot.assigned_id = returned if returned is not None else kwargs.get("_id")
            marker = {"opened": True, "assigned_id": encode_value(slot.assigned_id)}
        if seq is not None:
            self._mark(slot, delivered_through=seq, **marker)

    def _settle(self, slot: _Slot) -> Optional[tuple]:
        """Account for a call that outlived its timeout; returns it if it is still running."""
        if slot.inflight is None:
            return None
        call, entry = slot.inflight
        if not call.done.is_set():
            return slot.inflight
        slot.inflight = None
        if call.error is None:
            self._delivered(slot, entry, call.result)
        elif is_permanent(call.error):
            self._drop(slot, entry, call.error)
        else:
            slot.pending.insert(0, entry)
            slot.last_error = call.error
        return None

    def _say(self, level: int, fmt: str, *args: Any) -> None:
        """Log one line about an observer; it goes to the log, not into the captured output."""
        message = fmt % args if args else fmt
        hide = self.hide_from_output
        if hide is not None:
            try:
                hide(message)
            except Exception:  # noqa: S110 - hiding is cosmetic
                pass
        self.logger.log(level, message)

    def _drop(self, slot: _Slot, entry: tuple, exc: BaseException) -> None:
        """An event that can never be stored: warn in one line, note it in the run's record (its
        ``info``), and let the events after it through.  A run that could not even be opened gets
        no more events from this observer."""
        event, kwargs, seq = entry
        slot.dropped += 1
        what = event
        if event == "artifact_event":
            what = f"artifact {kwargs.get('name')!r}"
        elif event == "resource_event":
            what = f"resource {kwargs.get('filename')!r}"
        elif event == "log_table":
            what = f"log_table {kwargs.get('name')!r}"
        if event in _OPENING_EVENTS:
            slot.disabled = one_line(exc)
            slot.last_error = exc if isinstance(exc, Exception) else slot.last_error
            slot.pending = []  # for a run it does not have
            nxt = "it cannot record this run and gets no more events"
        else:
            nxt = "that event is dropped; later events go on"
        self._say(
            logging.WARNING,
            "Observer '%s' cannot store %s in %s (%s); %s",
            slot.name,
            what,
            _target(slot.observer),
            one_line(exc),
            nxt,
        )
        if seq is not None:  # journaled earlier: sync must not try it again
            self._mark(slot, delivered_through=seq)
        if self._on_drop is not None:
            try:
                self._on_drop(f"{slot.name}: {what} dropped ({one_line(exc)})")
            except Exception:  # noqa: S110 - a note must never take the run down
                pass

    def _report_outage(self, slot: _Slot, exc: Exception) -> None:
        if isinstance(exc, _Late):
            self._say(
                logging.WARNING,
                "Observer '%s' is too slow for the end-of-run window (%gs): its "
                "last events go to the fallback journal",
                slot.name,
                self.retry_seconds,
            )
            return
        slot.last_error = exc
        if not slot.opened and self._deadline is None:
            return  # said by _report_unreachable, with the journal's path
        self._say(
            logging.WARNING,
            "Observer '%s' failed (%s) writing to %s; buffering its events and retrying",
            slot.name,
            one_line(exc),
            _target(slot.observer),
        )

    def _report_unreachable(self, slot: _Slot) -> None:
        where = (
            f"recording its events in {slot.journal.path}"
            if slot.journal is not None
            else "keeping its events in memory"
        )
        if slot.inflight is not None:  # slow rather than refusing: it may still answer
            self._say(
                logging.WARNING,
                "Observer '%s' has not answered %s within %gs (%s); the run goes on, %s until it does",
                slot.name,
                slot.inflight[1][0],
                self.call_timeout,
                _target(slot.observer),
                where,
            )
            return
        self._say(
            logging.WARNING,
            "Observer '%s' failed (%s): cannot reach %s; the run goes on, %s; run "
            "'experimentkit sync' once it is reachable",
            slot.name,
            one_line(slot.last_error) if slot.last_error else "no answer",
            _target(slot.observer),
            where,
        )

    # -- retry -------------------------------------------------------------------------------------
    @property
    def failing(self) -> list:
        """The observers that have undelivered events."""
        with self._lock:  # settling may append a marker to a journal
            return [slot for slot in self.slots if self._settle(slot) is not None or slot.pending]

    @property
    def failed_observers(self) -> list:
        """The observers that raised on some event of this run (the event was dropped, or is
        buffered and journaled), in priority order."""
        with self._lock:
            return [
                slot.observer
                for slot in self.slots
                if slot.dropped or slot.last_error is not None or slot.disabled or slot.pending
            ]

    def retry(self) -> None:
        """Try once to deliver every failing observer's buffered events, oldest first."""
        with self._lock:
            for slot in self.failing:
                delivered = 0
                while slot.pending and slot.inflight is None:
                    try:
                        self._call(slot, slot.pending[0])
                    except _Stuck as exc:
                        slot.pending.pop(0)  # now in flight
                        slot.last_error = exc
                        break
                    except Exception as exc:
                        if is_permanent(exc):
                            self._drop(slot, slot.pending.pop(0), exc)
                            continue
                        if not isinstance(exc, _Late):
                            slot.last_error = exc
                        break
                    except BaseException:  # noqa: B036 - Ctrl-C: re-raised; a begun call is in flight
                        if slot.inflight is not None:
                            slot.pending.pop(0)
                        raise
                    slot.pending.pop(0)
                    delivered += 1
                if not slot.pending and slot.inflight is None:
                    self._say(
                        logging.INFO,
                        "Observer '%s' recovered; delivered %d buffered events",
                        slot.name,
                        delivered,
                    )
            for slot in self.slots:
                # also an opening answered late: settling it took the observer off ``failing``
                if slot.opened and self.run_id is None:
                    self.run_id = slot.assigned_id
                if slot.journal is not None and not slot.pending and slot.inflight is None:
                    self._drop_journal(slot)

    def _drop_journal(self, slot: _Slot) -> None:
        journal = slot.journal
        assert journal is not None  # callers check
        try:
            journal.discard()
        except OSError as exc:  # a journal whose events are all marked delivered is harmless
            self.logger.warning("Could not remove the fallback journal %s (%s)", journal.path, exc)
        slot.journal = None

    # -- end of run --------------------------------------------------------------------------------
    def finish(self) -> list:
        """Retry failing observers for ``retry_seconds``, finalize the journals of those that are still
        failing (remove the others'), join every observer.

        Returns the paths of the journals left for ``experimentkit sync``.
        """
        if self._deadline is None:
            self.start_end_window()
        deadline = self._deadline
        assert deadline is not None
        self.retry()  # for a backend that never answered, this is its one last attempt
        waiting = [slot for slot in self.failing if self._worth_waiting(slot)]
        if waiting and deadline - time.monotonic() > 0:
            names = ", ".join(f"'{slot.name}'" for slot in waiting)
            self.logger.warning(
                "Waiting up to %.3gs for observer %s to recover",
                deadline - time.monotonic(),
                names,
            )
            delay = 0.05
            while (
                any(self._worth_waiting(slot) for slot in self.failing)
                and (remaining := deadline - time.monotonic()) > 0
            ):
                self._sleep(min(delay, remaining))
                delay = min(delay * 2, 2.0)
                self.retry()
        with self._lock:
            for slot in self.slots:
                self._finish_slot(slot)
        return self.journals

    @staticmethod
    def _worth_waiting(slot: _Slot) -> bool:
        """A backend that took the run, or is still working on opening it (slow, not refusing);
        one that refused to open it gets no end-of-run window."""
        return slot.opened or slot.inflight is not None

    def _finish_slot(self, slot: _Slot) -> None:
        try:
            slot.observer.join()
        except Exception as exc:
            self.logger.warning(
                "Observer '%s' failed while finishing (%s: %s)",
                slot.name,
                type(exc).__name__,
                exc,
            )
        take = getattr(slot.observer, "take_undelivered", None)
        undelivered = take() if callable(take) else None
        # only a real list counts (an observer answering every attribute, e.g. a mock, has no queue)
        leftovers = undelivered if isinstance(undelivered, (list, tuple)) else []
        busy = self._settle(slot)
        stuck = [] if busy is None else [busy[1]]
        if stuck:
            self.logger.warning(
                "Observer '%s' never answered %s; journaling it (the backend may already hold part of it)",
                slot.name,
                stuck[0][0],
            )
        entries = stuck + slot.pending + [self._journaled(slot, e, k) for e, k in leftovers]
        slot.pending = []
        if entries:
            self._finalize(slot, entries)
        elif slot.journal is not None:
            self._drop_journal(slot)

    def _finalize(self, slot: _Slot, entries: list) -> None:
        """Mark the journal finalized (or, if it could not be kept up to date, write it whole)."""
        path = self._journal_path(slot)
        last_error = (
            f"{type(slot.last_error).__name__}: {slot.last_error}" if slot.last_error is not None else None
        )
        try:
            if slot.journal is not None and not slot.journal_failed:
                self._mark(slot, finalized=True, last_error=last_error)
                if not slot.journal_failed:
                    slot.journal.close(sync=True)
            if slot.journal is None or slot.journal_failed:
                if slot.journal is not None:
                    slot.journal.close()
                files_dir = path[: -len(".jsonl")] + ".files"
                events = [
                    (e, _keep_artifact_file(e, k, files_dir, f"end{i}"))
                    for i, (e, k, _) in enumerate(entries)
                ]
                write_journal(path, dict(self._header(slot), last_error=last_error), events)
        except Exception as exc:
            self.logger.error(
                "Observer '%s' lost %d events: could not write the fallback journal %s (%s: %s)",
                slot.name,
                len(entries),
                path,
                type(exc).__name__,
                exc,
            )
            return
        finally:
            slot.journal = None
        self.journals.append(path)
        if _replay_spec(slot.observer) is None:
            self.logger.warning(
                "Observer '%s' did not recover; its %d undelivered events are saved in %s. "
                "%s has no replay_spec(), so 'experimentkit sync' cannot replay them "
                "automatically.",
                slot.name,
                len(entries),
                path,
                slot.name,
            )
        else:
            self.logger.warning(
                "Observer '%s' did not recover; its %d undelivered events are saved in %s. "
                "Run 'experimentkit sync' to deliver them once it is reachable again.",
                slot.name,
                len(entries),
                path,
            )

    def _journal_path(self, slot: _Slot) -> str:
        stem = f"{self.run_uid}-{slot.index}-{_slug(slot.name)}"
        return os.path.join(self.fallback_dir, stem + ".jsonl")

    def _header(self, slot: _Slot) -> dict:
        """What sync needs to rebuild the observer, and who writes the journal (sync leaves the
        journal of a run that is still going alone)."""
        import socket  # only when an observer fails: its import is ~3 ms of every run's start

        return {
            "run_uid": self.run_uid,
            "observer": slot.name,
            "replay_spec": _replay_spec(slot.observer),
            "opened": slot.opened,
            "assigned_id": encode_value(slot.assigned_id),
            "created": _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None).isoformat(),
            "pid": os.getpid(),
            "pid_started": process_identity(),
            "hostname": socket.gethostname(),
        }


def _target(observer: Any) -> str:
    """Where an observer writes, for messages: its URL (password hidden) or directory."""
    spec = _replay_spec(observer) or {}
    given = spec.get("kwargs")
    kwargs: dict = given if isinstance(given, dict) else {}
    for key in ("url", "basedir"):
        if isinstance(kwargs.get(key), str):
            return redact_text(kwargs[key])
    return redact_text(repr(observer))[:120]


def _replay_spec(observer: Any) -> Optional[dict]:
    try:
        return observer.replay_spec()
    except Exception:
        return None


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "observer"
