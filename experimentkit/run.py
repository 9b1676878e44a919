"""``Run``: one execution of a command, with Sacred 0.8's attributes, lifecycle and log lines.

Differences from Sacred, on purpose:

* Observers never fail a run; their errors go through :class:`~experimentkit.dispatch.Dispatcher`.
* ``log_scalar`` only appends to a deque (well under a microsecond); numpy values and CPU tensors
  are read at the call, accelerator tensors are copied on their device (no sync) and read at the
  heartbeat, so a value changed in place later is stored as it was at the call.
* Metrics, table rows, ``info`` and the captured output are always flushed before the terminal
  event and before ``run()`` returns, also with ``beat_interval <= 0`` (which disables only the
  periodic beats).
* SIGTERM ends the run as INTERRUPTED (with a stop time and everything logged so far) instead of
  killing it.
* ``fail_trace`` leaves out experimentkit's own frames.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as _dt
import itertools
import operator
import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from time import monotonic as _monotonic
from typing import Any, Callable, Optional

from .context import activate, running_runs
from .dispatch import Dispatcher
from .errors import ObserverUnreachableError, SacredInterrupt, UsageError
from .observers.base import td_format
from .settings import SETTINGS
from .tracebacks import format_filtered_traceback

try:  # the C module under ``signal``, whose import turns every signal into an enum member (~4.5 M
    # instructions, 7% of a trivial run's start); handlers come back as ints, which restore alike
    import _signal as signal
except ImportError:  # not CPython
    import signal  # type: ignore[no-redef]

__all__ = ["Run", "new_uid"]

_EPOCH = _dt.datetime(1970, 1, 1)
#: Most points per ``log_metrics`` call: a beat with more sends several calls, so that no observer
#: call grows with the backlog (an SQL transaction, a file append, an HTTP request stay bounded).
METRIC_CHUNK = 50_000
#: Points waiting in the queue beyond which the heartbeat thread sends them at once instead of at
#: the next beat, so that a fast logging loop streams to storage as it goes.  (Sending while the
#: loop runs shares the interpreter with it, so a smaller size slows a short burst of logging.)
EARLY_FLUSH = 1_000_000
#: Points waiting beyond which ``log_scalar`` waits for the heartbeat thread to catch up (memory
#: stays bounded whatever a run logs; ~150 bytes a queued point).
METRIC_BUDGET = 2 * EARLY_FLUSH
_POLL = 0.05  # seconds: the longest wait for room before looking at the queue again
_SCALARS = (int, float, str, bool, type(None))
_NUMBERS = frozenset({int, float})
_NAME = operator.itemgetter(0)
_COLUMNS = (operator.itemgetter(1), operator.itemgetter(2), operator.itemgetter(3))


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)


if sys.version_info < (3, 12):
    _utc_datetime = _dt.datetime.utcfromtimestamp  # the fastest way; deprecated from 3.12 on
else:

    def _utc_datetime(stamp: float) -> _dt.datetime:
        return _EPOCH + _dt.timedelta(seconds=stamp)


def _epoch_seconds(stamp: Any) -> float:
    """A point's time as epoch seconds: numbers as they are, datetimes (naive = UTC) converted."""
    if isinstance(stamp, _dt.datetime):
        if stamp.tzinfo is None:
            return (stamp - _EPOCH).total_seconds()
        return stamp.timestamp()
    if isinstance(stamp, (int, float)) and not isinstance(stamp, bool):
        return float(stamp)
    raise TypeError(
        f"log_scalar: timestamp must be seconds since the epoch or a datetime, not {type(stamp).__name__}"
    )


def _plain_list(values: list) -> list:
    if set(map(type, values)) <= _NUMBERS:  # the usual case, checked at C speed
        return values
    return [v if type(v) in _NUMBERS else _plain(v) for v in values]


def _plain(value: Any) -> Any:
    """numpy/torch scalars → Python numbers (``.item()``); everything else unchanged."""
    if type(value) in _NUMBERS:
        return value
    item = getattr(value, "item", None)
    return item() if callable(item) else value


class _MetricQueue(collections.deque):
    """Logged points not yet sent, as ``(name, step, value, time)`` tuples."""

    __slots__ = ()

    def get_last_metrics(self) -> list:
        """Take the points logged so far as ``ScalarMetricLogEntry`` list (Sacred's MetricsLogger call)."""
        from .metrics import ScalarMetricLogEntry

        entries = []
        for _ in range(len(self)):
            name, step, value, stamp = self.popleft()
            entries.append(ScalarMetricLogEntry(name, step, _utc_datetime(stamp), _plain(value)))
        return entries


def _existing_file(filename: Any, method: str) -> str:
    """The absolute path of an existing regular file, or the error that names the caller's path."""
    given = os.fspath(filename)
    path = os.path.abspath(given)
    if not os.path.exists(path):
        raise FileNotFoundError(2, f"{method}: no such file: {given!r}", given)
    if os.path.isdir(path):
        raise IsADirectoryError(21, f"{method}: {given!r} is a directory, not a file", given)
    return path


def _snapshot(name: str, value: Any) -> Any:
    """The value of a tensor/array *now*, without waiting for an accelerator.

    Host values (numpy, CPU tensors) become Python numbers at once (cheap, and a later in-place
    change cannot leak in); a tensor on an accelerator is copied on its device (queued, no sync)
    and read at the heartbeat; other values (jax arrays are immutable) are kept as they are.
    """
    kind = type(value)
    convert = _SNAPSHOTS.get(kind)
    if convert is None:
        module = kind.__module__.partition(".")[0]
        convert = _SNAPSHOTS[kind] = (
            _torch_now if module == "torch" else kind.item if module == "numpy" else _as_is
        )
    try:
        return convert(value)
    except (ValueError, RuntimeError):
        shape = tuple(getattr(value, "shape", ()))
        raise ValueError(
            f"log_scalar({name!r}): expected one number, got a {kind.__name__} of shape {shape}"
        ) from None


def _torch_now(tensor: Any) -> Any:
    return tensor.item() if tensor.is_cpu else tensor.detach().clone()


def _as_is(value: Any) -> Any:
    return value


_SNAPSHOTS: dict = {}  # type -> how _snapshot reads its values (found once per type)


def new_uid() -> str:
    """A random version-4 UUID as 32 hex digits, as ``uuid.uuid4().hex`` makes it, without
    importing ``uuid`` at every run's start (~1.7 M instructions)."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 4122 variant
    return raw.hex()


class Run:
    """Represents and manages a single run of an experiment (Sacred's ``Run``)."""

    # set by ``initialize.create_run``: what captured functions read their config and seeds from
    config_view: Callable[[Any], Any]
    seed_stream: Callable[[Any], Any]
    numpy_legacy_api: bool

    def __init__(
        self,
        config: dict,
        config_modifications: Any,
        main_function: Callable,
        observers: Sequence[Any],
        root_logger: Any,
        run_logger: Any,
        experiment_info: dict,
        host_info: dict,
        pre_run_hooks: Sequence[Callable],
        post_run_hooks: Sequence[Callable],
        captured_out_filter: Optional[Callable[[str], str]] = None,
    ):
        self._id: Any = None
        self.config = config
        self.config_modifications = config_modifications
        self.experiment_info = experiment_info
        self.host_info = host_info
        self.info: dict = {}
        self.meta_info: dict = {}
        self.result: Any = None
        self.status: Optional[str] = None
        self.start_time: Optional[_dt.datetime] = None
        self.stop_time: Optional[_dt.datetime] = None
        self.captured_out = ""
        self.captured_out_filter = captured_out_filter
        self.fail_trace: Optional[list] = None
        self.beat_interval: float = SETTINGS.DEFAULT_BEAT_INTERVAL
        self.capture_mode: Optional[str] = None
        self.debug = False
        self.pdb = False
        self.unobserved = False
        self.force = False
        self.queue_only = False
        self.observers = list(observers)
        self.main_function = main_function
        self.pre_run_hooks = list(pre_run_hooks)
        self.post_run_hooks = list(post_run_hooks)
        self.root_logger = root_logger
        self.run_logger = run_logger
        # experimentkit additions: where undelivered observer events go, how long to retry them
        self.observer_retry_seconds: float = SETTINGS.OBSERVER_RETRY_SECONDS
        self.fallback_dir: str = SETTINGS.FALLBACK_DIR
        self.fallback_journals: list = []
        # fail before main when an observer cannot open the run (``--strict-observers``)
        self.strict_observers: bool = bool(SETTINGS.STRICT_OBSERVERS)

        self._metrics: _MetricQueue = _MetricQueue()
        self._room = threading.Condition()  # log_scalar waits on it while the queue is over budget
        self._streaming = False  # a heartbeat thread drains the queue (back-pressure allowed)
        self._next_step: dict = {}
        self._media_steps: dict = {}
        self._spool: Any = None  # workers.Spool, once handle() was called
        self._tables: collections.deque = collections.deque()
        self._started = False
        self.main_entered = False
        self._opened = False
        self._output: Any = None
        self._dispatcher: Optional[Dispatcher] = None
        self._beat_stop = threading.Event()
        self._wake = threading.Event()  # wakes the heartbeat thread (stop, or a full queue)
        self._beat_thread: Optional[threading.Thread] = None
        self._sigterm_armed = False
        self._capture: Optional[str] = None  # the capture mode in effect

    # ---- logging from user code ------------------------------------------------------------------
    def log_scalar(
        self,
        metric_name: str,
        value: Any,
        step: Any = None,
        timestamp: Any = None,
        goal: Optional[str] = None,
    ) -> None:
        """Record a metric point; steps count per name from 0 (or from the last explicit step).

        ``timestamp`` (seconds since the epoch, or a ``datetime``; naive means UTC) replaces the
        time of the call, for points imported or replayed from another record.  ``goal`` ("min" or
        "max") records which direction is better (see ``set_metric_goal``).
        """
        if goal is not None:
            self.set_metric_goal(metric_name, goal)
        if step is None:
            step = self._next_step.get(metric_name, 0)
        self._next_step[metric_name] = step + 1
        if type(value) not in _NUMBERS:
            value = _snapshot(metric_name, value)
        self._metrics.append(
            (metric_name, step, value, time.time() if timestamp is None else _epoch_seconds(timestamp))
        )
        if len(self._metrics) > EARLY_FLUSH and self._streaming:
            self._queue_full()

    def set_metric_goal(self, metric_name: str, goal: str) -> None:
        """Record that lower ("min") or higher ("max") values of the metric are better, so that
        ``experimentkit best`` and the plots need no ``--min``.  Kept in
        ``info["metric_goals"] = {"min": [names], "max": [names]}`` (stored by every observer)."""
        goal = check_goal(goal)
        goals = self.info.setdefault("metric_goals", {})
        for other in ("min", "max"):
            names = goals.get(other, [])
            if other == goal and metric_name not in names:
                goals[other] = [*names, metric_name]
            elif other != goal and metric_name in names:
                goals[other] = [n for n in names if n != metric_name]

    def _queue_full(self) -> None:
        """Past ``EARLY_FLUSH`` points, wake the heartbeat thread to send them now; past the budget,
        also wait for it.  (The thread sleeps until the next beat otherwise: a thread that woke up
        to poll would take the GIL from the training loop many times a second.)"""
        if len(self._metrics) > METRIC_BUDGET:
            self._wait_for_room()
        elif not self._wake.is_set():
            self._wake.set()

    def _wait_for_room(self) -> None:
        """Back-pressure: block until the heartbeat thread has sent the queue below half the
        budget (the thread notifies after each chunk; the timeout guards against a lost wake-up)."""
        self._wake.set()
        with self._room:
            while len(self._metrics) > METRIC_BUDGET // 2 and self._streaming:
                self._room.wait(_POLL)

    def log_metrics(self, metrics: Any, step: Any = None) -> None:
        """Record several metric points at once (``{"loss": 0.1, "acc": 0.9}``), all at ``step``."""
        log_scalar = self.log_scalar
        for metric_name, value in metrics.items():
            log_scalar(metric_name, value, step)

    def log_table(self, name: str, rows: Any) -> None:
        """Append rows (flat dicts, or a pandas DataFrame) to the per-sample table ``name``."""
        if type(rows).__module__.partition(".")[0] == "pandas" and hasattr(rows, "to_dict"):
            rows = rows.to_dict(orient="records")
        clean = []
        for number, row in enumerate(rows):
            if not isinstance(row, dict):
                raise TypeError(
                    f"log_table({name!r}): row {number} is a {type(row).__name__}; rows must be flat dicts"
                )
            clean.append({str(key): self._cell(name, number, key, value) for key, value in row.items()})
        if clean:
            self._tables.append((name, clean))

    @staticmethod
    def _cell(table: str, number: int, key: Any, value: Any) -> Any:
        value = _plain(value)
        if not isinstance(value, _SCALARS):
            raise TypeError(
                f"log_table({table!r}): row {number}, column {key!r} holds a "
                f"{type(value).__name__}; cells must be numbers, strings, booleans or None"
            )
        return value

    def add_artifact(
        self,
        filename: Any,
        name: Optional[str] = None,
        metadata: Optional[dict] = None,
        content_type: Optional[str] = None,
    ) -> None:
        """Store the file ``filename`` with the run, as ``name`` (default: its basename).

        ``name`` may contain ``/`` (``checkpoints/epoch=0.ckpt``): backends keep the folders, inside
        the run.  A missing file raises ``FileNotFoundError`` here, in the caller's code, before any
        observer sees the event (a directory: ``IsADirectoryError``).
        """
        filename = _existing_file(filename, "add_artifact")
        name = os.path.basename(filename) if name is None else name
        self._emit(
            "artifact_event",
            name=name,
            filename=filename,
            metadata=metadata,
            content_type=content_type,
        )

    def handle(self, ranks: str = "all", spool_dir: Optional[str] = None) -> Any:
        """A picklable handle for worker processes to log into this run (see ``workers.py``).

        ``ranks="all"`` stores rank r's points as ``<name>.rank<r>``; ``"zero"`` keeps rank 0's.
        """
        from .workers import Spool

        if self._spool is None:
            self._spool = Spool(self, spool_dir)
        return self._spool.handle(ranks)

    # ---- rich values: one artifact per call, with {"media", "name", "step", ...} metadata ---------
    def log_image(self, name: str, image: Any, step: Optional[int] = None) -> None:
        """Store an image (array HW/HWC/CHW, tensor, PIL image or figure) as a PNG at ``step``."""
        self._log_media("image", name, image, step)

    def log_figure(self, name: str, figure: Any, step: Optional[int] = None) -> None:
        """Store a matplotlib figure as a PNG at ``step``."""
        self._log_media("figure", name, figure, step)

    def log_text(self, name: str, text: str, step: Optional[int] = None) -> None:
        """Store a text (a generated sample, a report) at ``step``."""
        self._log_media("text", name, text, step)

    def log_dict(self, name: str, obj: Any, step: Optional[int] = None) -> None:
        """Store a JSON-able dict or list (a confusion matrix, a parameter summary) at ``step``."""
        self._log_media("dict", name, obj, step)

    def _log_media(self, kind: str, name: str, value: Any, step: Optional[int]) -> None:
        import tempfile

        from . import media

        if step is None:
            step = self._media_steps.get(name, 0)
        self._media_steps[name] = int(step) + 1
        artifact = media.artifact_name(kind, name, step)
        handle, path = tempfile.mkstemp(prefix="experimentkit-", suffix="-" + artifact)
        os.close(handle)
        try:
            extra = media.encode(kind, value, path)
            metadata = {"media": kind, "name": name, "step": int(step), **extra}
            self.add_artifact(path, artifact, metadata, media.KINDS[kind][1])
        finally:
            media.remove_quietly(path)

    def add_resource(self, filename: Any, copy: Optional[bool] = None) -> None:
        """Record that the run read the file ``filename``: its path and md5, and a copy of it
        unless ``copy=False`` or (``copy=None``) it is larger than
        ``SETTINGS.RESOURCE_COPY_LIMIT``.  A missing file raises ``FileNotFoundError`` here."""
        kwargs: dict = {"filename": _existing_file(filename, "add_resource")}
        if copy is not None:
            kwargs["copy"] = bool(copy)
        self._emit("resource_event", **kwargs)

    def open_resource(self, filename: Any, mode: str = "r") -> Any:
        """Record ``filename`` as a resource and open it."""
        self.add_resource(filename)
        return open(filename, mode)

    def warn_if_unobserved(self) -> None:
        """Warn that nothing will be recorded, unless that is intended (debug or unobserved)."""
        if not self.observers and not self.debug and not self.unobserved:
            self.run_logger.warning("No observers have been added to this run")

    def _note_dropped(self, note: str) -> None:
        """Keep a dropped event in the run's record: ``info["dropped_events"]`` (stored by every
        observer with the next heartbeat)."""
        self.info.setdefault("dropped_events", []).append(note)

    @property
    def _live_dispatcher(self) -> Dispatcher:
        """The dispatcher of this run, which exists from the moment the run is started."""
        assert self._dispatcher is not None, "the run has not been started"
        return self._dispatcher

    @property
    def _failed_observers(self) -> list:
        """Sacred's name (its tests read it): the observers that raised on an event of this run.
        Unlike Sacred's, they still get the later events; what failed is journaled or dropped."""
        return [] if self._dispatcher is None else self._dispatcher.failed_observers

    def _emit(self, event: str, **kwargs: Any) -> None:
        if self._dispatcher is not None and self._opened:
            self._dispatcher.emit(event, **kwargs)

    # ---- lifecycle -------------------------------------------------------------------------------
    def __call__(self, *args: Any) -> Any:
        """Start the run: emit events around the main function and return its result."""
        if self._started:
            raise RuntimeError(f"A run can only be started once. (Last start was {self.start_time})")
        self._started = True
        self.observers = [] if self.unobserved else sorted(self.observers, key=lambda o: -o.priority)
        self.warn_if_unobserved()
        from .observers.sharing import claim_observers, release_observers

        self.observers = claim_observers(self.observers)  # copies of those another run is using
        try:
            return self._run_observed(args)
        finally:
            release_observers(self.observers)

    def _run_observed(self, args: tuple) -> Any:
        self.meta_info.setdefault("uid", new_uid())
        self._dispatcher = Dispatcher(
            self.observers,
            logger=self.run_logger,
            run_uid=self.meta_info["uid"],
            retry_seconds=self.observer_retry_seconds,
            fallback_dir=self.fallback_dir,
            given_id=self._id,
            on_drop=self._note_dropped,
            strict=self.strict_observers,
        )
        if self.capture_mode is None:
            self.capture_mode = "no" if not self.observers else SETTINGS.CAPTURE_MODE
        self.run_logger.debug('Using capture mode "%s"', self.capture_mode)
        if self.queue_only:
            self._queue()
            return None
        previous_handler = self._install_sigterm_handler()
        try:
            with self._seeded():
                return self._execute(args)
        finally:
            if previous_handler is not None:
                signal.signal(signal.SIGTERM, previous_handler)

    run = __call__

    def __reduce__(self) -> tuple:
        """A run sent to a worker process arrives as its :meth:`handle` (``_id``, ``uid``,
        ``config``, ``log_scalar``, ``log_metrics``), whose points reach this run's record."""
        return self.handle().__reduce__()

    def _command(self) -> str:
        name = getattr(self.main_function, "__name__", None) or self.meta_info.get("command", "main")
        prefix = getattr(self.main_function, "prefix", None)
        return f"{prefix}.{name}" if prefix else name

    def _queue(self) -> None:
        self.status = "QUEUED"
        queue_time = _utcnow()
        self.meta_info["queue_time"] = queue_time
        command = self._command()
        self.run_logger.info("Queuing-up command '%s'", command)
        try:
            self._id = self._live_dispatcher.open(
                "queued_event",
                ex_info=self.experiment_info,
                command=command,
                host_info=self.host_info,
                queue_time=queue_time,
                config=self.config,
                meta_info=self.meta_info,
            )
        finally:
            self.fallback_journals = self._live_dispatcher.finish()
        if self._id is None:
            self.run_logger.info("Queued")
        else:
            self.run_logger.info('Queued-up run with ID "%s"', self._id)

    @contextlib.contextmanager
    def _seeded(self) -> Iterator[None]:
        seed = self.config.get("seed") if hasattr(self.config, "get") else None
        if seed is None:
            yield
            return
        from .seeding import seed_globals

        with seed_globals(seed):
            yield

    def _execute(self, args: tuple) -> Any:
        with running_runs(self, self._choose_capture):
            return self._execute_captured(args)

    def _choose_capture(self, others: list) -> None:
        """Pick this run's capture mode, knowing the runs already running in this process (called
        under the lock that registers runs, so a run starting next sees the mode chosen here)."""
        mode = self.capture_mode or "no"  # set by _run_observed
        if mode != "no" and (others or mode == "thread"):
            # another run of this process is active (threads, asyncio tasks): fd and sys capture
            # would mix their output, so each run captures what its own context prints
            mode = "thread"
            self.meta_info["output_capture"] = (
                "thread: only what this run's thread or task "
                "printed through sys.stdout/stderr; other output "
                "of the process was shared"
            )
            for other in others:  # their fd/sys capture sees this run's output too: say so
                if other._capture in ("fd", "sys"):
                    other.info["output_shared"] = (
                        "this run's captured output may include what "
                        "other runs of its process printed meanwhile"
                    )
        self._capture = mode

    def _execute_captured(self, args: tuple) -> Any:
        from .output import capture_output

        dispatcher = self._live_dispatcher
        mode = self._capture or "no"
        try:
            try:
                with capture_output(mode, self.captured_out_filter) as output:
                    self._output = output
                    dispatcher.hide_from_output = output.hide  # observer warnings: log only
                    try:
                        self._start()
                        self._call_main(args)
                        self.status = "COMPLETED"
                        elapsed = self._stop()
                        if self.result is not None:
                            self.run_logger.info("Result: %s", self.result)
                        self.run_logger.info("Completed after %s", elapsed)
                    finally:
                        self._stop_heartbeat()
            finally:
                if self._opened:
                    self._beat()
        except (KeyboardInterrupt, SacredInterrupt) as exc:
            self.status = getattr(exc, "STATUS", "INTERRUPTED")
            elapsed = self._stop()
            self.run_logger.warning("Aborted after %s!", elapsed)
            if self._opened:
                dispatcher.emit("interrupted_event", interrupt_time=self.stop_time, status=self.status)
            raise
        except BaseException as exc:
            self.status = "FAILED"
            elapsed = self._stop()
            if not isinstance(exc, ObserverUnreachableError):  # said in one line by the caller
                self.run_logger.error("Failed after %s!", elapsed)
            self.fail_trace = format_filtered_traceback(exc)
            if self._opened:
                dispatcher.emit("failed_event", fail_time=self.stop_time, fail_trace=self.fail_trace)
            raise
        else:
            dispatcher.emit("completed_event", stop_time=self.stop_time, result=self.result)
            return self.result
        finally:
            self.fallback_journals = dispatcher.finish()
            if self._spool is not None:
                self._spool.close()

    def _start(self) -> None:
        self.status = "RUNNING"
        self.start_time = _utcnow()
        command = self._command()
        self.run_logger.info("Running command '%s'", command)
        self._opened = True
        self._id = self._live_dispatcher.open(
            "started_event",
            ex_info=self.experiment_info,
            command=command,
            host_info=self.host_info,
            start_time=self.start_time,
            config=self.config,
            meta_info=self.meta_info,
        )
        if self.strict_observers and self._live_dispatcher.unopened():
            unopened = "; ".join(self._live_dispatcher.unopened())
            self._live_dispatcher.abandon_unopened()
            raise ObserverUnreachableError(
                f"Observer {unopened} cannot record this run; with --strict-observers the run does not start"
            )
        if self._id is None:
            self.run_logger.info("Started")
        else:
            self.run_logger.info('Started run with ID "%s"', self._id)
        self.run_logger.debug("Starting Heartbeat")
        if self.beat_interval > 0:
            self._streaming = True
            self._beat_thread = threading.Thread(
                target=self._heartbeat_loop, name="experimentkit-heartbeat", daemon=True
            )
            self._beat_thread.start()

    def _call_main(self, args: tuple) -> None:
        self.main_entered = True  # from here on a failure is the run's, not a usage error
        self._sigterm_armed = True
        try:
            with activate(self):
                for hook in self.pre_run_hooks:
                    hook()
                self.result = self.main_function(*args)
                for hook in self.post_run_hooks:
                    hook()
        finally:
            self._sigterm_armed = False
            self._live_dispatcher.start_end_window()

    def _stop(self) -> str:
        self.stop_time = _utcnow()
        return td_format(self.stop_time - self.start_time) if self.start_time else "0:00:00"

    # ---- SIGTERM ---------------------------------------------------------------------------------
    def _install_sigterm_handler(self) -> Any:
        """SIGTERM → KeyboardInterrupt while main runs (main thread only); returns the old one."""
        if threading.current_thread() is not threading.main_thread():
            return None
        try:
            return signal.signal(signal.SIGTERM, self._on_sigterm)
        except (ValueError, OSError):
            return None

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        if self._sigterm_armed:
            self._sigterm_armed = False
            raise KeyboardInterrupt("SIGTERM")

    # ---- heartbeat -------------------------------------------------------------------------------
    def _heartbeat_loop(self) -> None:
        """Beat every ``beat_interval``; in between, send the metric queue as soon as it holds
        ``EARLY_FLUSH`` points (a fast loop streams to storage instead of piling up)."""
        next_beat = _monotonic() + self.beat_interval
        try:
            while True:
                self._wake.wait(max(0.0, next_beat - _monotonic()))
                self._wake.clear()
                if self._beat_stop.is_set():
                    break
                try:
                    if _monotonic() >= next_beat:
                        self._live_dispatcher.retry()
                        self._beat()
                        next_beat = _monotonic() + self.beat_interval
                    elif len(self._metrics) > EARLY_FLUSH:
                        self._send_metrics(whole=False)
                except Exception as exc:  # a heartbeat must never take the run down
                    self.run_logger.warning("Heartbeat failed (%s: %s)", type(exc).__name__, exc)
        finally:
            self._streaming = False
            with self._room:
                self._room.notify_all()

    def _stop_heartbeat(self) -> None:
        self.run_logger.debug("Stopping Heartbeat")
        self._beat_stop.set()
        self._wake.set()
        if self._beat_thread is not None:
            self._beat_thread.join()
        self._streaming = False

    def _send_metrics(self, whole: bool) -> None:
        """Emit ``log_metrics`` in calls of at most ``METRIC_CHUNK`` points: every point queued on
        entry (``whole``), else only full chunks (the rest waits for the beat)."""
        dispatcher = self._live_dispatcher
        pending = len(self._metrics)
        while pending >= (1 if whole else METRIC_CHUNK):
            count = min(pending, METRIC_CHUNK)
            dispatcher.emit("log_metrics", metrics_by_name=self._drain_metrics(count), info=self.info)
            pending -= count
            with self._room:
                self._room.notify_all()

    def _beat(self) -> None:
        """Send new metrics, new table rows and a heartbeat (the last call is the final flush)."""
        dispatcher = self._live_dispatcher
        # Tables are drained before metrics, so every point logged before a table row is in this
        # beat's metrics (or an earlier one) and reaches observers no later than that row.
        tables = self._drain_tables()
        if self._spool is not None:
            self._spool.collect(self._metrics.append)
        if self._metrics:
            self._send_metrics(whole=True)
        else:  # observers get log_metrics before every heartbeat, as in Sacred
            dispatcher.emit("log_metrics", metrics_by_name={}, info=self.info)
        for name, rows in tables:
            dispatcher.emit("log_table", name=name, rows=rows)
        if self._output is not None:
            self.captured_out = self._output.get()
        dispatcher.emit(
            "heartbeat_event",
            info=self.info,
            captured_out=self.captured_out,
            beat_time=_utcnow(),
            result=self.result,
        )

    def _drain_metrics(self, count: Optional[int] = None) -> dict:
        """The oldest ``count`` queued points (default: all queued on entry; points appended meanwhile
        wait for the next call): ``{name: {"name", "steps", "values", "timestamps"}}``.

        Conversions happen here, in bulk, to keep ``log_scalar`` cheap.
        """
        count = len(self._metrics) if count is None else count
        batch = list(itertools.starmap(self._metrics.popleft, itertools.repeat((), count)))
        if not batch:
            return {}
        grouped: dict = {}
        names = set(map(_NAME, batch))
        if len(names) == 1:  # one metric: its columns at C speed
            grouped[names.pop()] = tuple(list(map(get, batch)) for get in _COLUMNS)
        else:
            for name, step, value, stamp in batch:
                columns = grouped.get(name)
                if columns is None:
                    columns = grouped[name] = ([], [], [])
                columns[0].append(step)
                columns[1].append(value)
                columns[2].append(stamp)
        return {
            name: {
                "name": name,
                "steps": _plain_list(steps),
                "values": _plain_list(values),
                "timestamps": list(map(_utc_datetime, stamps)),
            }
            for name, (steps, values, stamps) in grouped.items()
        }

    def _drain_tables(self) -> list:
        queue = self._tables
        grouped: dict = {}
        for _ in range(len(queue)):
            name, rows = queue.popleft()
            grouped.setdefault(name, []).extend(rows)
        return list(grouped.items())


def check_goal(goal: Any) -> str:
    """ "min" or "max" (also "minimize"/"maximize"/"lower"/"higher", any case); anything else is a
    usage error."""
    text = str(goal).strip().lower()
    text = {"minimize": "min", "maximize": "max", "lower": "min", "higher": "max"}.get(text, text)
    if text not in ("min", "max"):
        raise UsageError(
            f"a metric goal is 'min' (lower is better) or 'max' (higher is better), not {goal!r}"
        )
    return text
