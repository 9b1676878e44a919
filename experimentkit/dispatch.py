"""The one seam between a run and its observers: order, failure isolation, retry, fallback journal.

Sacred lets a failing ``started_event`` kill the run and silently drops an observer after its first
error. Here an observer that raises is reported once per outage, its undelivered events are kept in
order and retried (at every heartbeat and, for a bounded time, at the end), and whatever still could
not be delivered is written to a JSON-lines journal that ``experimentkit sync`` replays later.  An
event that was delivered is never delivered again: only events that raised stay buffered, and
backends store an event all or nothing.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import logging
import math
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable
from typing import Any, Callable, Optional

from .errors import ObserverError

__all__ = [
    "Dispatcher",
    "encode_value",
    "decode_value",
    "write_journal",
    "read_journal",
    "JOURNAL_FORMAT",
]

JOURNAL_FORMAT = "experimentkit-journal"
_TAGS = ("$datetime", "$date", "$tuple", "$bytes", "$float", "$dict", "$repr")


# ---- JSON with type tags (journals are read back without pickle) ---------------------------------
def encode_value(value: Any) -> Any:
    """Event arguments as JSON data; datetimes, tuples, bytes and odd floats keep a type tag."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else {"$float": repr(float(value))}
    if isinstance(value, _dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, _dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: encode_value(v) for k, v in value.items()}
        return {"$dict": [[encode_value(k), encode_value(v)] for k, v in value.items()]}
    if isinstance(value, list):
        return [encode_value(v) for v in value]
    if isinstance(value, tuple):
        return {"$tuple": [encode_value(v) for v in value]}
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if hasattr(value, "dtype") and hasattr(value, "tolist"):  # numpy scalars and arrays
        return encode_value(value.tolist())
    return {"$repr": repr(value)}


def decode_value(data: Any) -> Any:
    """Inverse of :func:`encode_value` (a ``$repr`` comes back as its string)."""
    if isinstance(data, list):
        return [decode_value(v) for v in data]
    if not isinstance(data, dict):
        return data
    if len(data) == 1:
        ((tag, payload),) = data.items()
        if tag == "$datetime":
            return _dt.datetime.fromisoformat(payload)
        if tag == "$date":
            return _dt.date.fromisoformat(payload)
        if tag == "$tuple":
            return tuple(decode_value(v) for v in payload)
        if tag == "$bytes":
            return base64.b64decode(payload)
        if tag == "$float":
            return float(payload)
        if tag == "$dict":
            return {decode_value(k): decode_value(v) for k, v in payload}
        if tag == "$repr":
            return payload
    return {k: decode_value(v) for k, v in data.items()}


# ---- journal files -------------------------------------------------------------------------------
def write_journal(path: str, header: dict, events: Iterable[tuple]) -> None:
    """Write a journal atomically: a header line, then one ``{seq, event, kwargs}`` line each."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".jsonl")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(
                json.dumps(dict(header, format=JOURNAL_FORMAT, version=1), allow_nan=False) + "\n"
            )
            for seq, (event, kwargs) in enumerate(events):
                line = {"seq": seq, "event": event, "kwargs": encode_value(kwargs)}
                fh.write(json.dumps(line, allow_nan=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_journal(path: str) -> tuple:
    """``(header, [(event, kwargs), ...])`` of a journal written by :func:`write_journal`."""
    with open(path, encoding="utf-8") as fh:
        lines = [json.loads(line) for line in fh if line.strip()]
    if not lines or lines[0].get("format") != JOURNAL_FORMAT:
        raise ValueError(f"{path} is not an experimentkit fallback journal")
    return lines[0], [(line["event"], decode_value(line["kwargs"])) for line in lines[1:]]


# ---- the dispatcher ------------------------------------------------------------------------------
class _Stuck(ObserverError):
    """An observer call outlived its timeout and keeps running in the background."""


class _ObserverCall(threading.Thread):
    """One observer call on a daemon thread, so a backend that never answers cannot hang the process."""

    def __init__(self, method: Callable, kwargs: dict):
        super().__init__(name="experimentkit-observer-call", daemon=True)
        self._method = method
        self._kwargs = kwargs
        self.result: Any = None
        self.error: Optional[BaseException] = None

    def run(self) -> None:
        try:
            self.result = self._method(**self._kwargs)
        except BaseException as exc:  # noqa: B036 - handed to the dispatcher, which decides
            self.error = exc

_OPENING_EVENTS = ("started_event", "queued_event")


class _Slot:
    """One observer with its undelivered events (``pending``) and outage state."""

    def __init__(self, index: int, observer: Any):
        self.index = index
        self.observer = observer
        self.name = type(observer).__name__
        self.pending: list = []
        self.inflight: Optional[tuple] = None  # (call, event, kwargs) still running after its timeout
        self.opened = False
        self.assigned_id: Any = None
        self.last_error: Optional[BaseException] = None


class Dispatcher:
    """Sends a run's events to its observers (highest ``priority`` first); owns the failure policy.

    ``retry_seconds`` bounds the wait for failing observers at the end of the run; ``fallback_dir``
    is where journals of events that still could not be delivered go.
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
        self._progress = 0  # events delivered so far: a slow backend that still answers gets more time

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
            if interrupt is not None:
                raise interrupt
            return self.run_id

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
        if slot.pending:
            slot.pending.append((event, kwargs))
            slot.pending = _compact(slot.pending)
            return
        try:
            self._call(slot, event, kwargs)
        except _Stuck as exc:  # the call goes on in the background: it is in flight, not pending
            self._report_outage(slot, exc)
        except Exception as exc:
            slot.pending.append((event, kwargs))
            self._report_outage(slot, exc)
        except BaseException:
            slot.pending.append((event, kwargs))
            raise

    def _call(self, slot: _Slot, event: str, kwargs: dict) -> None:
        """Deliver one event, giving up waiting after ``call_timeout`` (a backend that stops answering
        must not hang the run); a call that is still running stays in flight and is settled later."""
        if self._settle(slot) is not None:
            raise ObserverError(f"still waiting for its earlier {slot.inflight[1]}")
        call = _ObserverCall(getattr(slot.observer, event), kwargs)
        call.start()
        try:
            call.join(self.call_timeout)
        except BaseException:
            slot.inflight = (call, event, kwargs)
            raise _Stuck("interrupted while waiting") from None
        if call.is_alive():
            slot.inflight = (call, event, kwargs)
            raise _Stuck(f"no answer to {event} within {self.call_timeout:g}s")
        if call.error is not None:
            raise call.error
        self._delivered(slot, event, kwargs, call.result)

    def _delivered(self, slot: _Slot, event: str, kwargs: dict, returned: Any) -> None:
        self._progress += 1
        if event in _OPENING_EVENTS:
            slot.opened = True
            slot.assigned_id = returned if returned is not None else kwargs.get("_id")

    def _settle(self, slot: _Slot) -> Optional[tuple]:
        """Account for a call that outlived its timeout; returns it if it is still running."""
        if slot.inflight is None:
            return None
        call, event, kwargs = slot.inflight
        if call.is_alive():
            return slot.inflight
        slot.inflight = None
        if call.error is None:
            self._delivered(slot, event, kwargs, call.result)
        else:
            slot.pending.insert(0, (event, kwargs))
            slot.last_error = call.error
        return None

    def _report_outage(self, slot: _Slot, exc: Exception) -> None:
        slot.last_error = exc
        self.logger.warning(
            "Observer '%s' failed (%s: %s); buffering its events and retrying",
            slot.name,
            type(exc).__name__,
            exc,
        )

    # -- retry -------------------------------------------------------------------------------------
    @property
    def failing(self) -> list:
        """The observers that have undelivered events."""
        return [slot for slot in self.slots if self._settle(slot) is not None or slot.pending]

    def retry(self) -> None:
        """Try once to deliver every failing observer's buffered events, oldest first."""
        with self._lock:
            for slot in self.failing:
                delivered = 0
                while slot.pending and slot.inflight is None:
                    event, kwargs = slot.pending[0]
                    try:
                        self._call(slot, event, kwargs)
                    except _Stuck as exc:
                        slot.pending.pop(0)  # now in flight
                        slot.last_error = exc
                        break
                    except Exception as exc:
                        slot.last_error = exc
                        break
                    slot.pending.pop(0)
                    delivered += 1
                if not slot.pending and slot.inflight is None:
                    self.logger.info(
                        "Observer '%s' recovered; delivered %d buffered events",
                        slot.name,
                        delivered,
                    )
                if slot.opened and self.run_id is None:
                    self.run_id = slot.assigned_id

    # -- end of run --------------------------------------------------------------------------------
    def finish(self) -> list:
        """Retry failing observers for ``retry_seconds``, journal what is left, join every observer.

        Returns the paths of the journals written.
        """
        self.retry()
        if self.failing and self.retry_seconds > 0:
            names = ", ".join(f"'{slot.name}'" for slot in self.failing)
            self.logger.warning(
                "Waiting up to %gs for observer %s to recover", self.retry_seconds, names
            )
            deadline = time.monotonic() + self.retry_seconds
            delay = 0.05
            while self.failing and (remaining := deadline - time.monotonic()) > 0:
                self._sleep(min(delay, remaining))
                delay = min(delay * 2, 2.0)
                progress = self._progress
                self.retry()
                if self._progress != progress:  # slow but alive (e.g. 50 runs creating one schema)
                    deadline = time.monotonic() + self.retry_seconds
        for slot in self.slots:
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
            leftovers = take() if callable(take) else []
            stuck = [] if self._settle(slot) is None else [slot.inflight[1:]]
            if stuck:
                self.logger.warning(
                    "Observer '%s' never answered %s; journaling it (the backend may already hold "
                    "part of it)", slot.name, stuck[0][0])
            events = stuck + slot.pending + list(leftovers)
            if events:
                self._journal(slot, events)
            slot.pending = []
        return self.journals

    def _journal(self, slot: _Slot, events: list) -> None:
        stem = f"{self.run_uid}-{slot.index}-{_slug(slot.name)}"
        path = os.path.join(self.fallback_dir, stem + ".jsonl")
        try:
            spec = slot.observer.replay_spec()
        except Exception:
            spec = None
        try:
            events = _keep_artifact_files(events, os.path.join(self.fallback_dir, stem + ".files"))
            header = {
                "run_uid": self.run_uid,
                "observer": slot.name,
                "replay_spec": spec,
                "opened": slot.opened,
                "assigned_id": encode_value(slot.assigned_id),
                "created": _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None).isoformat(),
                "last_error": f"{type(slot.last_error).__name__}: {slot.last_error}"
                if slot.last_error is not None
                else None,
            }
            write_journal(path, header, events)
        except Exception as exc:
            self.logger.error(
                "Observer '%s' lost %d events: could not write the fallback journal %s (%s: %s)",
                slot.name,
                len(events),
                path,
                type(exc).__name__,
                exc,
            )
            return
        self.journals.append(path)
        if spec is None:
            self.logger.warning(
                "Observer '%s' did not recover; its %d undelivered events are saved in %s. "
                "%s has no replay_spec(), so 'experimentkit sync' cannot replay them "
                "automatically.",
                slot.name,
                len(events),
                path,
                slot.name,
            )
        else:
            self.logger.warning(
                "Observer '%s' did not recover; its %d undelivered events are saved in %s. "
                "Run 'experimentkit sync' to deliver them once it is reachable again.",
                slot.name,
                len(events),
                path,
            )


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "observer"


def _keep_artifact_files(events: list, files_dir: str) -> list:
    """Copy artifact files next to the journal: often temporary, they may be gone by sync."""
    kept = []
    for seq, (event, kwargs) in enumerate(events):
        filename = kwargs.get("filename") if event == "artifact_event" else None
        if filename and os.path.isfile(filename):
            os.makedirs(files_dir, exist_ok=True)
            copy = os.path.join(files_dir, f"{seq}-{os.path.basename(filename)}")
            shutil.copyfile(filename, copy)
            kwargs = dict(kwargs, filename=copy)
        kept.append((event, kwargs))
    return kept


def _compact(pending: list) -> list:
    """Shrink an outage buffer: keep the newest heartbeat, merge adjacent metric/table batches."""
    last_beat = max(
        (i for i, (event, _) in enumerate(pending) if event == "heartbeat_event"), default=-1
    )
    out: list = []
    for i, (event, kwargs) in enumerate(pending):
        if event == "heartbeat_event" and i != last_beat:
            continue
        prev = out[-1] if out else None
        if prev and event == "log_metrics" and prev[0] == "log_metrics":
            out[-1] = (
                event,
                {
                    "metrics_by_name": _merge_metrics(
                        prev[1]["metrics_by_name"], kwargs["metrics_by_name"]
                    ),
                    "info": kwargs["info"],
                },
            )
        elif (
            prev
            and event == "log_table"
            and prev[0] == "log_table"
            and prev[1]["name"] == kwargs["name"]
        ):
            out[-1] = (
                event,
                {"name": kwargs["name"], "rows": list(prev[1]["rows"]) + list(kwargs["rows"])},
            )
        else:
            out.append((event, kwargs))
    return out


def _merge_metrics(first: dict, second: dict) -> dict:
    """New dicts (observers may keep the ones they were given)."""
    merged = {
        name: {key: (list(val) if isinstance(val, list) else val) for key, val in group.items()}
        for name, group in first.items()
    }
    for name, group in second.items():
        target = merged.setdefault(
            name, {"name": name, "steps": [], "values": [], "timestamps": []}
        )
        for key in ("steps", "values", "timestamps"):
            target[key].extend(group[key])
    return merged
