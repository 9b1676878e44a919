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
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any, Callable, Optional

from .context import activate
from .dispatch import Dispatcher
from .errors import SacredInterrupt
from .observers.base import td_format
from .settings import SETTINGS
from .tracebacks import format_filtered_traceback

__all__ = ["Run"]

_EPOCH = _dt.datetime(1970, 1, 1)
_SCALARS = (int, float, str, bool, type(None))
_NUMBERS = frozenset({int, float})


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)


if sys.version_info < (3, 12):
    _utc_datetime = _dt.datetime.utcfromtimestamp  # the fastest way; deprecated from 3.12 on
else:

    def _utc_datetime(stamp: float) -> _dt.datetime:
        return _EPOCH + _dt.timedelta(seconds=stamp)


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
            _torch_now if module == "torch" else kind.item if module == "numpy" else _as_is)
    try:
        return convert(value)
    except (ValueError, RuntimeError):
        shape = tuple(getattr(value, "shape", ()))
        raise ValueError(f"log_scalar({name!r}): expected one number, got a "
                         f"{kind.__name__} of shape {shape}") from None


def _torch_now(tensor: Any) -> Any:
    return tensor.item() if tensor.is_cpu else tensor.detach().clone()


def _as_is(value: Any) -> Any:
    return value


_SNAPSHOTS: dict = {}  # type -> how _snapshot reads its values (found once per type)


class Run:
    """Represents and manages a single run of an experiment (Sacred's ``Run``)."""

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

        self._metrics: collections.deque = collections.deque()
        self._next_step: dict = {}
        self._media_steps: dict = {}
        self._spool: Any = None  # workers.Spool, once handle() was called
        self._tables: collections.deque = collections.deque()
        self._started = False
        self._opened = False
        self._output: Any = None
        self._dispatcher: Optional[Dispatcher] = None
        self._beat_stop = threading.Event()
        self._beat_thread: Optional[threading.Thread] = None
        self._sigterm_armed = False

    # ---- logging from user code ------------------------------------------------------------------
    def log_scalar(self, metric_name: str, value: Any, step: Any = None) -> None:
        """Record a metric point; steps count per name from 0 (or from the last explicit step)."""
        if step is None:
            step = self._next_step.get(metric_name, 0)
        self._next_step[metric_name] = step + 1
        if type(value) not in _NUMBERS:
            value = _snapshot(metric_name, value)
        self._metrics.append((metric_name, step, value, time.time()))

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
                    f"log_table({name!r}): row {number} is a {type(row).__name__}; "
                    f"rows must be flat dicts"
                )
            clean.append(
                {str(key): self._cell(name, number, key, value) for key, value in row.items()}
            )
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
        """Store the file ``filename`` with the run, as ``name`` (default: its basename)."""
        filename = os.path.abspath(os.fspath(filename))
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

    def add_resource(self, filename: Any) -> None:
        """Record that the run read the file ``filename``."""
        self._emit("resource_event", filename=os.path.abspath(os.fspath(filename)))

    def open_resource(self, filename: Any, mode: str = "r") -> Any:
        """Record ``filename`` as a resource and open it."""
        self.add_resource(filename)
        return open(filename, mode)

    def warn_if_unobserved(self) -> None:
        """Warn that nothing will be recorded, unless that is intended (debug or unobserved)."""
        if not self.observers and not self.debug and not self.unobserved:
            self.run_logger.warning("No observers have been added to this run")

    def _emit(self, event: str, **kwargs: Any) -> None:
        if self._dispatcher is not None and self._opened:
            self._dispatcher.emit(event, **kwargs)

    # ---- lifecycle -------------------------------------------------------------------------------
    def __call__(self, *args: Any) -> Any:
        """Start the run: emit events around the main function and return its result."""
        if self._started:
            raise RuntimeError(
                f"A run can only be started once. (Last start was {self.start_time})"
            )
        self._started = True
        self.observers = (
            [] if self.unobserved else sorted(self.observers, key=lambda o: -o.priority)
        )
        self.warn_if_unobserved()
        self.meta_info.setdefault("uid", uuid.uuid4().hex)
        self._dispatcher = Dispatcher(
            self.observers,
            logger=self.run_logger,
            run_uid=self.meta_info["uid"],
            retry_seconds=self.observer_retry_seconds,
            fallback_dir=self.fallback_dir,
            given_id=self._id,
        )
        if self.capture_mode is None:
            self.capture_mode = "no" if not self.observers else SETTINGS.CAPTURE_MODE
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

    def _command(self) -> str:
        name = getattr(self.main_function, "__name__", None) or self.meta_info.get(
            "command", "main"
        )
        prefix = getattr(self.main_function, "prefix", None)
        return f"{prefix}.{name}" if prefix else name

    def _queue(self) -> None:
        self.status = "QUEUED"
        queue_time = _utcnow()
        self.meta_info["queue_time"] = queue_time
        command = self._command()
        self.run_logger.info("Queuing-up command '%s'", command)
        try:
            self._id = self._dispatcher.open(
                "queued_event",
                ex_info=self.experiment_info,
                command=command,
                host_info=self.host_info,
                queue_time=queue_time,
                config=self.config,
                meta_info=self.meta_info,
            )
        finally:
            self.fallback_journals = self._dispatcher.finish()
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
        from .output import capture_output

        dispatcher = self._dispatcher
        try:
            try:
                with capture_output(self.capture_mode, self.captured_out_filter) as output:
                    self._output = output
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
                dispatcher.emit(
                    "interrupted_event", interrupt_time=self.stop_time, status=self.status
                )
            raise
        except BaseException as exc:
            self.status = "FAILED"
            elapsed = self._stop()
            self.run_logger.error("Failed after %s!", elapsed)
            self.fail_trace = format_filtered_traceback(exc)
            if self._opened:
                dispatcher.emit(
                    "failed_event", fail_time=self.stop_time, fail_trace=self.fail_trace
                )
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
        self._id = self._dispatcher.open(
            "started_event",
            ex_info=self.experiment_info,
            command=command,
            host_info=self.host_info,
            start_time=self.start_time,
            config=self.config,
            meta_info=self.meta_info,
        )
        if self._id is None:
            self.run_logger.info("Started")
        else:
            self.run_logger.info('Started run with ID "%s"', self._id)
        if self.beat_interval > 0:
            self._beat_thread = threading.Thread(
                target=self._heartbeat_loop, name="experimentkit-heartbeat", daemon=True
            )
            self._beat_thread.start()

    def _call_main(self, args: tuple) -> None:
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
        while not self._beat_stop.wait(self.beat_interval):
            try:
                self._dispatcher.retry()
                self._beat()
            except Exception as exc:  # a heartbeat must never take the run down
                self.run_logger.warning("Heartbeat failed (%s: %s)", type(exc).__name__, exc)

    def _stop_heartbeat(self) -> None:
        self._beat_stop.set()
        if self._beat_thread is not None:
            self._beat_thread.join()

    def _beat(self) -> None:
        """Send new metrics, new table rows and a heartbeat (the last call is the final flush)."""
        dispatcher = self._dispatcher
        if self._spool is not None:  # worker processes' points (run.handle())
            self._spool.collect(self._metrics.append)
        # Tables are drained before metrics, so every point logged before a table row is in this
        # beat's metrics (or an earlier one) and reaches observers no later than that row.
        tables = self._drain_tables()
        dispatcher.emit("log_metrics", metrics_by_name=self._drain_metrics(), info=self.info)
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

    def _drain_metrics(self) -> dict:
        """New points since the last call: ``{name: {"name", "steps", "values", "timestamps"}}``.

        The deque is drained up to the length seen on entry (points appended meanwhile wait for the
        next beat); conversions happen here, in bulk, to keep ``log_scalar`` cheap.
        """
        popleft = self._metrics.popleft
        grouped: dict = {}
        for _ in range(len(self._metrics)):
            name, step, value, stamp = popleft()
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
        queue, grouped = self._tables, {}
        for _ in range(len(queue)):
            name, rows = queue.popleft()
            grouped.setdefault(name, []).extend(rows)
        return list(grouped.items())
