"""The ``threads`` launcher: runs in threads of the sweep's own process.

For runs that mostly wait (I/O, GPUs driven by other processes) or release the GIL.  Each run sees
its own active run (``contextvars``) and logs into its own record; each run captures what its own
thread prints through ``sys.stdout``/``sys.stderr`` (C-level output is not captured), which its
``meta.output_capture`` says.  Ctrl-C starts nothing new, but runs already running finish (a
thread cannot be interrupted).  A hard crash (``os._exit``, a segfault) takes every run down: use
``local`` for isolation.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Iterable
from typing import Callable

from . import Job, Launcher

__all__ = ["ThreadLauncher"]


class ThreadLauncher(Launcher):
    """Threads of this process (``--jobs N`` at once)."""

    name = "threads"

    @property
    def shares_process(self) -> bool:
        return True

    def launch(self, jobs: Iterable[Job], report: Callable[[dict], None], stop: threading.Event) -> None:
        pending = iter(jobs)
        with concurrent.futures.ThreadPoolExecutor(self.jobs, "experimentkit-sweep") as pool:
            running: dict = {}
            try:
                while True:
                    while not stop.is_set() and len(running) < self.jobs:
                        job = next(pending, None)
                        if job is None:
                            break
                        running[pool.submit(job.call)] = job
                    if not running:
                        return
                    done, _ = concurrent.futures.wait(running, return_when="FIRST_COMPLETED")
                    for future in done:
                        running.pop(future)
                        report(future.result())
            except KeyboardInterrupt:
                # a thread cannot be interrupted: the running runs finish and are reported
                for future in concurrent.futures.as_completed(list(running)):
                    report(future.result())
                raise
