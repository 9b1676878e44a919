"""Launchers: where the runs of a sweep execute (one module per launcher).

A launcher is a small object (:class:`Launcher`) that takes jobs - picklable callables, each running
one recorded run and returning its outcome - and runs them, at most ``jobs`` at a time.  Launchers
are found by name in the entry-point group ``experimentkit.launchers`` (the built-ins ``local``,
``threads``, ``ray`` and ``slurm`` are also known without installed metadata), so a package can add
one (joblib, Dask, Kubernetes jobs) without touching experimentkit.  Nothing here schedules: a
launcher hands work to an existing engine (processes, Ray, submitit/SLURM).
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Callable, Optional

from ..errors import UsageError, suggest

__all__ = [
    "Launcher",
    "Job",
    "ENTRY_POINT_GROUP",
    "BUILTIN_LAUNCHERS",
    "get_launcher",
    "launcher_names",
    "interrupted_outcome",
]

ENTRY_POINT_GROUP = "experimentkit.launchers"
BUILTIN_LAUNCHERS = {
    "local": "experimentkit.launchers.local:LocalLauncher",
    "threads": "experimentkit.launchers.threads:ThreadLauncher",
    "ray": "experimentkit.launchers.ray:RayLauncher",
    "slurm": "experimentkit.launchers.slurm:SlurmLauncher",
}


@dataclass
class Job:
    """One run to execute: ``call()`` runs it where it is called and returns its outcome dict
    (``index``, ``status``, ``run_id``, ``result``, ``error``)."""

    index: int
    call: Callable[[], dict]


def interrupted_outcome(job: Job, status: str = "INTERRUPTED", error: str = "") -> dict:
    """The outcome of a job that ended without reporting (stopped, killed, lost): ``lost`` tells
    the sweep that the run may have a record it could not close."""
    return {
        "index": job.index,
        "status": status,
        "run_id": None,
        "result": None,
        "error": error,
        "lost": True,
    }


class Launcher(abc.ABC):
    """Runs jobs; subclasses implement :meth:`launch` and, if they need a package, :meth:`check`.

    ``options`` are the launcher's own settings (``--launcher-arg KEY=VALUE`` on the command line,
    keyword arguments from Python); unknown ones are a usage error raised by ``__init__``.
    """

    name = "?"
    #: option names this launcher accepts
    option_names: tuple = ()

    def __init__(self, jobs: int = 1, **options: Any):
        if int(jobs) < 1:
            raise UsageError(f"--jobs must be at least 1, not {jobs}")
        self.jobs = int(jobs)
        for key in options:
            if key not in self.option_names:
                accepted = ", ".join(self.option_names) or "none"
                raise UsageError(
                    f"launcher '{self.name}' has no option '{key}'"
                    f"{suggest(key, self.option_names)}; it accepts: {accepted}"
                )
        self.options = options

    def check(self) -> None:  # noqa: B027 - optional hook
        """Raise ``UsageError`` naming the fix when the launcher cannot work here (called before
        anything is recorded)."""

    @property
    def shares_process(self) -> bool:
        """Whether runs execute inside the sweep's own process (threads)."""
        return False

    @abc.abstractmethod
    def launch(self, jobs: Iterable[Job], report: Callable[[dict], None], stop: threading.Event) -> None:
        """Run ``jobs`` (at most ``self.jobs`` at once), calling ``report(outcome)`` in the calling
        thread as each ends.  Start nothing new once ``stop`` is set.  On ``KeyboardInterrupt``,
        interrupt the running jobs, report them, and re-raise."""


def _entry_points() -> dict:
    found = metadata.entry_points()
    selected = (
        found.select(group=ENTRY_POINT_GROUP)
        if hasattr(found, "select")
        else found.get(ENTRY_POINT_GROUP, ())
    )
    return {ep.name: ep for ep in selected}


def launcher_names() -> list:
    """Every launcher that can be asked for by name."""
    return sorted(set(BUILTIN_LAUNCHERS) | set(_entry_points()))


def get_launcher(name: str, jobs: int = 1, **options: Any) -> Launcher:
    """The launcher called ``name``, built and checked; ``UsageError`` for an unknown name or a
    missing package."""
    import importlib

    entry_points = _entry_points()
    try:
        if name in entry_points:
            factory = entry_points[name].load()
        elif name in BUILTIN_LAUNCHERS:
            module, _, attr = BUILTIN_LAUNCHERS[name].partition(":")
            factory = getattr(importlib.import_module(module), attr)
        else:
            names = launcher_names()
            raise UsageError(
                f"unknown launcher '{name}'{suggest(name, names)}; available: {', '.join(names)}"
            )
    except UsageError:
        raise
    except Exception as exc:
        raise UsageError(f"cannot load launcher '{name}': {type(exc).__name__}: {exc}") from None
    launcher = factory(jobs=jobs, **options)
    launcher.check()
    return launcher


def require(module: str, extra: str, launcher: str) -> Optional[Any]:
    """Import ``module`` or raise the one-line error that names the fix."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise UsageError(
            f"the {launcher} launcher needs {module}: pip install 'experimentkit[{extra}]'"
        ) from None
