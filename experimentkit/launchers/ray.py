"""The ``ray`` launcher: each run is a Ray task (``pip install 'experimentkit[ray]'``).

``ray.init(address=...)`` uses ``--launcher-arg address=...``, else ``RAY_ADDRESS``, else starts a
local Ray.  Options: ``address``, ``num_cpus`` and ``num_gpus`` (per run), ``runtime_env``.  The
experiment reaches the workers by reference (see :mod:`experimentkit.pickling`), so its file must
be readable there (same machine, shared file system, or ``runtime_env={"working_dir": ...}``).
Ctrl-C cancels the running tasks (their runs are recorded as INTERRUPTED).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from typing import Any, Callable

from . import Job, Launcher, interrupted_outcome, require

__all__ = ["RayLauncher"]


def _run_job(call: Callable[[], dict]) -> dict:
    return call()


class RayLauncher(Launcher):
    """Ray tasks (``--jobs N`` at once)."""

    name = "ray"
    option_names = ("address", "num_cpus", "num_gpus", "runtime_env")

    def check(self) -> None:
        require("ray", "ray", "ray")

    def _init(self) -> Any:
        import ray

        if not ray.is_initialized():
            address = self.options.get("address") or os.environ.get("RAY_ADDRESS") or None
            kwargs: dict = {
                "address": address,
                "ignore_reinit_error": True,
                "include_dashboard": False,
                "log_to_driver": True,
            }
            if self.options.get("runtime_env"):
                kwargs["runtime_env"] = self.options["runtime_env"]
            if address is None:
                kwargs["num_cpus"] = max(self.jobs, 1)
            ray.init(**kwargs)
        return ray

    def launch(self, jobs: Iterable[Job], report: Callable[[dict], None], stop: threading.Event) -> None:
        ray = self._init()
        # no silent retries: a retried run would be a second record of the same task
        resources = {"num_cpus": float(self.options.get("num_cpus", 1)), "max_retries": 0}
        if self.options.get("num_gpus"):
            resources["num_gpus"] = float(self.options["num_gpus"])
        remote = ray.remote(**resources)(_run_job)
        running: dict = {}
        pending = iter(jobs)
        try:
            while True:
                while not stop.is_set() and len(running) < self.jobs:
                    job = next(pending, None)
                    if job is None:
                        break
                    running[remote.remote(job.call)] = job
                if not running:
                    return
                ready, _ = ray.wait(list(running), num_returns=1)
                for ref in ready:
                    report(self._result(ray, ref, running.pop(ref)))
        except KeyboardInterrupt:
            for ref in running:
                ray.cancel(ref)
            for ref, job in running.items():
                report(self._result(ray, ref, job, interrupted=True))
            raise

    @staticmethod
    def _result(ray: Any, ref: Any, job: Job, interrupted: bool = False) -> dict:
        try:
            return ray.get(ref)
        except Exception as exc:
            status = "INTERRUPTED" if interrupted else "FAILED"
            text = str(exc).strip().splitlines()
            return interrupted_outcome(job, status, f"{type(exc).__name__}: {text[0] if text else ''}")
