"""The ``local`` launcher: every run in its own child process, at most ``jobs`` at a time.

A child that crashes, is killed or calls ``os._exit`` ends only itself: the sweep records its run
as FAILED with the exit code and goes on.  Children are forked where the platform allows it (the
experiment, defined anywhere, is simply inherited); elsewhere they are spawned and the job is
pickled.  Ctrl-C (or SIGTERM) in the sweep process is passed on to the running children, so their
runs are recorded as INTERRUPTED, and nothing new starts.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Iterable
from multiprocessing.connection import wait
from typing import Any, Callable

from . import Job, Launcher, interrupted_outcome

__all__ = ["LocalLauncher"]


def _child(job: Job, sender: Any) -> None:
    try:
        outcome = job.call()
    except BaseException as exc:  # the job reports run failures itself; this is a last resort
        outcome = interrupted_outcome(job, "FAILED", f"{type(exc).__name__}: {exc}")
    try:
        sender.send(outcome)
    except Exception as exc:  # an unpicklable result: report the outcome without it
        sender.send(
            dict(
                outcome,
                result=None,
                error=outcome.get("error") or f"result not sendable: {type(exc).__name__}",
            )
        )
    sender.close()


def _context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


class LocalLauncher(Launcher):
    """Separate local processes (``--jobs N`` at once)."""

    name = "local"

    def launch(self, jobs: Iterable[Job], report: Callable[[dict], None], stop: threading.Event) -> None:
        context = _context()
        running: dict = {}  # sentinel -> (job, process, receiver)
        pending = iter(jobs)
        exhausted = False
        try:
            while True:
                while not exhausted and not stop.is_set() and len(running) < self.jobs:
                    job = next(pending, None)
                    if job is None:
                        exhausted = True
                        break
                    receiver, sender = context.Pipe(duplex=False)
                    process = context.Process(
                        target=_child,
                        args=(job, sender),
                        daemon=False,
                        name=f"experimentkit-sweep-{job.index}",
                    )
                    process.start()
                    sender.close()
                    running[process.sentinel] = (job, process, receiver)
                if not running:
                    return
                for sentinel in wait(list(running)):
                    report(self._finish(*running.pop(sentinel)))
        except KeyboardInterrupt:
            for _job, process, _receiver in running.values():
                if process.is_alive():
                    try:
                        os.kill(process.pid, signal.SIGINT)
                    except OSError:
                        pass
            for job, process, receiver in running.values():
                report(self._finish(job, process, receiver, interrupted=True))
            raise

    @staticmethod
    def _finish(job: Job, process: Any, receiver: Any, interrupted: bool = False) -> dict:
        outcome = None
        while True:
            try:
                process.join()
                break
            except KeyboardInterrupt:  # a second Ctrl-C while children wind down
                continue
        try:
            if receiver.poll():
                outcome = receiver.recv()
        except (EOFError, OSError):
            outcome = None
        receiver.close()
        if outcome is None:
            code = process.exitcode
            if interrupted:
                return interrupted_outcome(job, "INTERRUPTED", "stopped by Ctrl-C")
            signal_name = ""
            if code is not None and code < 0:
                try:
                    signal_name = f" ({signal.Signals(-code).name})"
                except ValueError:
                    pass
            return interrupted_outcome(
                job, "FAILED", f"the run's process ended with exit code {code}{signal_name} without reporting"
            )
        return outcome
