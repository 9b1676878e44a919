"""Many processes, one run: metric points logged by worker processes (DDP ranks, ``Pool`` workers,
``torch.multiprocessing.spawn``) reach the run of the process that owns it.

``run.handle()`` returns a :class:`RunHandle`, a small picklable object: pass it to the workers
(as an argument, through a ``Pool`` initializer, or with ``experimentkit.integrations.torch
.share_run`` under ``torch.distributed``).  A worker's ``handle.log_scalar`` appends one JSON line
to its own file in the run's spool directory (one write and flush per call: a worker that is
killed loses nothing it logged).  A tensor on an accelerator is the exception: reading it would make
the training loop wait for the device, so its copy (queued on the device at the call) is read and
written by a thread of the worker within ``DEFERRED_SECONDS``, and at the worker's exit or
``close()``; a worker killed in that window loses those points.  The owning run reads the new
complete lines of every spool file at each heartbeat and at its final flush, and stores them as
ordinary metric points.  Files, not a queue or a pipe, because they work the same for ``fork``,
``spawn``, pools and processes started by a launcher, need no thread in the worker (but for
accelerator tensors), and cannot block a worker when the owner is busy.

Which ranks count (``ranks=``): ``"all"`` stores a point logged by rank ``r`` as ``<name>.rank<r>``;
``"zero"`` keeps rank 0's points under their own name and drops the others in the worker.  The rank
is the ``rank=`` argument, else ``torch.distributed``'s rank when it is initialised, else the
``RANK`` environment variable (set by ``torchrun``); a worker without a rank (a ``Pool`` worker)
logs under the plain name.  Points written after the run's final flush are not stored; join the
workers before the main function returns.  The spool lives on the local disk
(``tempfile.gettempdir()``, or ``spool_dir=``): ranks on other machines need a shared directory.
"""

from __future__ import annotations

import atexit
import glob
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
import weakref
from typing import Any, Callable, Optional

from .run import _plain, _snapshot

__all__ = ["RunHandle", "Spool", "current_rank", "DEFERRED_SECONDS"]

#: How long a worker keeps the copy of an accelerator tensor before reading and writing it.
DEFERRED_SECONDS = 0.5

_RANK_MODES = ("all", "zero")
_OWNED: dict = {}  # spool directory -> the Run owning it, in the owner process only


def current_rank() -> Optional[int]:
    """This process's rank: ``torch.distributed``'s when initialised, else ``$RANK``, else None."""
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        return int(dist.get_rank())
    rank = os.environ.get("RANK")
    return int(rank) if rank is not None and rank.strip().lstrip("-").isdigit() else None


_deferring: weakref.WeakSet = weakref.WeakSet()  # handles of this process holding deferred points
_exit_hooks_pid: Optional[int] = None


def _write_at_exit(handle: RunHandle) -> None:
    """Have ``handle``'s deferred points written when this process ends: ``atexit``, and the
    finalizers of multiprocessing, whose children end with ``os._exit`` (registered once a process)."""
    global _exit_hooks_pid
    _deferring.add(handle)
    if _exit_hooks_pid == os.getpid():
        return
    _exit_hooks_pid = os.getpid()
    atexit.register(_write_all_deferred)
    process_util = sys.modules.get("multiprocessing.util")
    if process_util is not None:
        process_util.Finalize(None, _write_all_deferred, exitpriority=10)


def _write_all_deferred() -> None:
    for handle in list(_deferring):
        handle._write_deferred()


class RunHandle:
    """A picklable way to log metric points into one run from any process."""

    def __init__(
        self,
        spool_dir: str,
        owner_pid: int,
        run_id: Any,
        ranks: str = "all",
        uid: Optional[str] = None,
        config: Optional[dict] = None,
    ):
        if ranks not in _RANK_MODES:
            raise ValueError(f"ranks must be one of {_RANK_MODES}, not {ranks!r}")
        self.spool_dir = spool_dir
        self.owner_pid = owner_pid
        self.run_id = run_id
        self.ranks = ranks
        self.uid = uid
        self.config = config if config is not None else {}
        self._file: Any = None
        self._steps: dict = {}
        self._lock = threading.Lock()  # steps, the file and the deferred points
        self._deferred: list = []  # points holding an accelerator tensor's copy, in call order
        self._in_flight = 0  # deferred points taken by a writer and not yet written
        self._write_order = threading.Lock()  # one writer of deferred points at a time
        self._writer: Optional[threading.Thread] = None
        self._stop = threading.Event()  # set by close(): the writer thread ends

    def __reduce__(self) -> tuple:
        """Only what names the run travels; the open spool file stays with its process."""
        return RunHandle, (self.spool_dir, self.owner_pid, self.run_id, self.ranks, self.uid, self.config)

    def __repr__(self) -> str:
        return f"RunHandle(run_id={self.run_id!r}, ranks={self.ranks!r})"

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(
            f"a run handle in a worker process has only _id, uid, config, "
            f"log_scalar and log_metrics; '{name}' belongs in the process that "
            f"owns the run"
        )

    @property
    def _id(self) -> Any:
        """The run's id under Sacred's attribute name (what ``_run._id`` gives in the owner)."""
        return self.run_id

    def log_scalar(
        self, name: str, value: Any, step: Optional[int] = None, rank: Optional[int] = None
    ) -> None:
        """Log one point; dropped on ranks other than 0 when the handle is rank-zero only."""
        if rank is None:
            rank = current_rank()
        if rank is not None:
            if self.ranks == "zero":
                if rank != 0:
                    return
            else:
                name = f"{name}.rank{rank}"
        run = _OWNED.get(self.spool_dir) if os.getpid() == self.owner_pid else None
        if run is not None:  # the owning process itself: straight into the run
            run.log_scalar(name, value, step)
            return
        on_device = False
        if type(value) not in (int, float):
            value = _snapshot(name, value)  # host values become numbers, device tensors a copy
            on_device = type(value).__module__.partition(".")[0] == "torch"
            if not on_device:
                value = _plain(value)
        with self._lock:
            if step is None:
                step = self._steps.get(name, 0)
            self._steps[name] = int(step) + 1
            point = [name, _plain(step), value, time.time()]
            if on_device or self._deferred or self._in_flight:  # keep the call order in the file
                self._deferred.append(point)
                self._start_writer()
            else:
                self._write(json.dumps(point) + "\n")

    def _write(self, text: str) -> None:
        """Append to this process's spool file and flush (``_lock`` held)."""
        if self._file is None:
            path = os.path.join(self.spool_dir, f"{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl")
            self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open
        self._file.write(text)
        self._file.flush()

    def _start_writer(self) -> None:
        """Start the thread that reads deferred points off the loop (``_lock`` held); it ends once
        nothing is left, and what is left at the process's exit is written then."""
        if self._writer is not None:
            return
        _write_at_exit(self)
        self._writer = threading.Thread(
            target=self._write_deferred_loop, name="experimentkit-spool", daemon=True
        )
        self._writer.start()

    def _write_deferred_loop(self) -> None:
        while not self._stop.wait(DEFERRED_SECONDS):
            self._write_deferred()
            with self._lock:
                if not self._deferred:
                    self._writer = None
                    return

    def _write_deferred(self) -> None:
        """Read the deferred copies (this may wait for the device, on this thread) and write them."""
        with self._write_order:
            with self._lock:
                points, self._deferred = self._deferred, []
                self._in_flight = len(points)
            if not points:
                return
            try:
                text = "".join(json.dumps([n, s, _plain(v), t]) + "\n" for n, s, v, t in points)
                with self._lock:
                    self._write(text)
            finally:
                with self._lock:
                    self._in_flight = 0

    def log_metrics(self, metrics: dict, step: Optional[int] = None, rank: Optional[int] = None) -> None:
        """Log several points at one step."""
        for name, value in metrics.items():
            self.log_scalar(name, value, step, rank)

    def close(self) -> None:
        """Write what is deferred and close this process's spool file (points already written
        are kept)."""
        self._stop.set()
        self._write_deferred()
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


class Spool:
    """The owner's side: the spool directory, the handles, and reading new points at a beat."""

    def __init__(self, run: Any, spool_dir: Optional[str] = None):
        self.run = run
        self.dir = tempfile.mkdtemp(prefix="experimentkit-spool-", dir=spool_dir)
        self._offsets: dict = {}
        _OWNED[self.dir] = run

    def handle(self, ranks: str = "all") -> RunHandle:
        from .commandline.printing import to_plain

        run = self.run
        return RunHandle(
            self.dir, os.getpid(), run._id, ranks, uid=run.meta_info.get("uid"), config=to_plain(run.config)
        )

    def collect(self, append: Callable[[tuple], None]) -> int:
        """Pass every new complete point to ``append`` as ``(name, step, value, stamp)``."""
        count = 0
        for path in sorted(glob.glob(os.path.join(self.dir, "*.jsonl"))):
            offset = self._offsets.get(path, 0)
            try:
                with open(path, "rb") as f:
                    f.seek(offset)
                    data = f.read()
            except OSError:
                continue
            end = data.rfind(b"\n") + 1  # a line still being written waits for the next beat
            for line in data[:end].splitlines():
                try:
                    name, step, value, stamp = json.loads(line)
                except (ValueError, TypeError):
                    continue  # not ours; never let a bad line stop the others
                append((str(name), step, value, stamp))
                count += 1
            self._offsets[path] = offset + end
        return count

    def close(self) -> None:
        """Forget the directory and delete it (after the run's final flush)."""
        _OWNED.pop(self.dir, None)
        shutil.rmtree(self.dir, ignore_errors=True)
