"""The ``slurm`` launcher: each run is a SLURM job submitted through submitit
(``pip install 'experimentkit[slurm]'``).

Options (``--launcher-arg KEY=VALUE``): ``partition``, ``time`` (minutes or ``HH:MM:SS``),
``gpus_per_node``, ``cpus_per_task``, ``mem_gb``, ``account``, ``qos``, ``constraint``, ``folder``
(submitit's log folder, default ``submitit/%j``) and ``cluster`` (``local`` runs the jobs as local
processes through submitit, as the tests do; default: SLURM, and a one-line error where ``srun``
is missing rather than a silent local run).  The experiment
reaches the job by reference (see :mod:`experimentkit.pickling`), so its file must be on a shared
file system.  Ctrl-C cancels the submitted jobs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any, Callable

from ..errors import UsageError
from . import Job, Launcher, interrupted_outcome, require

__all__ = ["SlurmLauncher"]

_POLL_SECONDS = 0.5  # submitit has no blocking wait for "any of these jobs"
#: After Ctrl-C, how long the sweep waits for cancelled jobs to record their end.
STOP_WAIT_SECONDS = 60.0


def _minutes(value: Any) -> int:
    text = str(value).strip()
    if ":" in text:
        parts = [int(p) for p in text.split(":")]
        while len(parts) < 3:
            parts.insert(0, 0)
        hours, minutes, seconds = parts[-3:]
        return max(1, hours * 60 + minutes + (1 if seconds else 0))
    try:
        return int(float(text))
    except ValueError:
        raise UsageError(f"slurm launcher: time must be minutes or HH:MM:SS, not {value!r}") from None


class SlurmLauncher(Launcher):
    """SLURM jobs via submitit (``--jobs N`` submitted at once)."""

    name = "slurm"
    option_names = (
        "partition",
        "time",
        "gpus_per_node",
        "cpus_per_task",
        "mem_gb",
        "account",
        "qos",
        "constraint",
        "folder",
        "cluster",
    )

    def check(self) -> None:
        import shutil

        require("submitit", "slurm", "slurm")
        if "time" in self.options:
            _minutes(self.options["time"])
        cluster = self.options.get("cluster")
        if cluster in (None, "slurm") and shutil.which("srun") is None:
            raise UsageError(
                "the slurm launcher found no SLURM here (srun is not on PATH): run "
                "the sweep on a SLURM login node, or add --launcher-arg cluster=local "
                "to run the jobs as local processes through submitit"
            )

    def executor(self) -> Any:
        import submitit

        options = dict(self.options)
        executor = submitit.AutoExecutor(
            folder=options.pop("folder", "submitit/%j"), cluster=options.pop("cluster", None) or "slurm"
        )
        parameters: dict = {}
        if "time" in options:
            parameters["timeout_min"] = _minutes(options.pop("time"))
        for key in ("gpus_per_node", "cpus_per_task", "mem_gb"):
            if key in options:
                parameters[key] = options.pop(key)
        for key, value in options.items():  # partition, account, qos, constraint
            parameters[f"slurm_{key}"] = value
        executor.update_parameters(**parameters)
        return executor

    def launch(self, jobs: Iterable[Job], report: Callable[[dict], None], stop: threading.Event) -> None:
        executor = self.executor()
        running: list = []
        pending = iter(jobs)
        try:
            while True:
                while not stop.is_set() and len(running) < self.jobs:
                    job = next(pending, None)
                    if job is None:
                        break
                    running.append((executor.submit(job.call), job))
                if not running:
                    return
                finished = [(s, j) for s, j in running if s.done()]
                if not finished:
                    time.sleep(_POLL_SECONDS)
                    continue
                for item in finished:
                    running.remove(item)
                    report(self._result(*item))
        except KeyboardInterrupt:
            for submitted, _ in running:
                try:
                    submitted.cancel(check=False)
                except Exception:
                    pass
            self._wind_down(running, report)
            raise

    @staticmethod
    def _wind_down(running: list, report: Callable[[dict], None]) -> None:
        """Wait (up to ``STOP_WAIT_SECONDS``) for the cancelled jobs to end, so that the outcome
        each run recorded (INTERRUPTED, with its run id) is reported, not a guess made while the
        run is still writing; a job still going after that is reported as cancelled."""
        deadline = time.monotonic() + STOP_WAIT_SECONDS
        left = list(running)
        while left and time.monotonic() < deadline:
            try:
                ended = [item for item in left if item[0].done()]
                if not ended:
                    time.sleep(_POLL_SECONDS)
            except KeyboardInterrupt:  # a second Ctrl-C: stop waiting
                break
            for submitted, job in ended:
                left.remove((submitted, job))
                outcome = SlurmLauncher._result(submitted, job)
                if outcome.get("status") == "FAILED" and outcome.get("lost"):
                    outcome = interrupted_outcome(job, "INTERRUPTED", "cancelled by Ctrl-C")
                report(outcome)
        for _submitted, job in left:
            report(interrupted_outcome(job, "INTERRUPTED", "cancelled by Ctrl-C"))

    @staticmethod
    def _result(submitted: Any, job: Job) -> dict:
        try:
            return submitted.result()
        except Exception as exc:
            text = str(exc).strip().splitlines()
            return interrupted_outcome(job, "FAILED", f"{type(exc).__name__}: {text[-1] if text else ''}")
