"""What a launcher executes for one task: an ordinary recorded run, plus its outcome.

``execute`` is a module-level function and the job is a ``functools.partial`` of it, so a job
pickles whenever the experiment does (for spawned processes, Ray and submitit).
"""

from __future__ import annotations

import functools
import json
from typing import Any, Optional

from ..errors import SacredInterrupt, UsageError

__all__ = ["execute", "make_job"]


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


def execute(
    ex: Any, command: Optional[str], task: dict, options: dict, sweep: dict, in_process: bool = False
) -> dict:
    """Run one task with ``ex`` here and now; never raises for a failed run.

    ``in_process``: other runs execute in this process at the same time (threads), so output is
    captured per thread (see ``experimentkit.output``).
    """
    outcome = {"index": task["index"], "status": None, "run_id": None, "result": None, "error": ""}
    run = None
    options = dict(options, UPDATE=_words(task))  # this run's own updates, not the sweep's
    try:
        run = ex.resolve(
            command,
            task["updates"],
            task["named_configs"],
            meta_info={"sweep": dict(sweep, index=task["index"])},
            options=options,
        )
        if in_process and run.capture_mode != "no":
            run.capture_mode = "thread"
        run()
        outcome["status"] = run.status
        outcome["result"] = _jsonable(run.result)
    except KeyboardInterrupt:
        outcome["status"] = "INTERRUPTED"
        outcome["error"] = "stopped by Ctrl-C"
    except SacredInterrupt as exc:
        outcome["status"] = exc.STATUS
        outcome["error"] = str(exc)
    except UsageError as exc:
        outcome["status"] = "FAILED"
        outcome["error"] = str(exc)
    except Exception as exc:
        outcome["status"] = "FAILED"
        outcome["error"] = f"{type(exc).__name__}: {exc}"
    if run is not None and run.status in ("FAILED", "INTERRUPTED", "TIMEOUT", "PRUNED"):
        outcome["status"] = run.status
    if run is not None and run._id is not None:
        outcome["run_id"] = str(run._id)
    return outcome


def _words(task: dict) -> list:
    """The run's own ``with`` words (``lr=0.1``, named configs), as if typed for a single run."""
    from ..config.paths import iterate_flattened

    updates = [f"{key}={value!r}" for key, value in iterate_flattened(task["updates"])]
    return list(task["named_configs"]) + updates


def make_job(
    ex: Any, command: Optional[str], task: dict, options: dict, sweep: dict, in_process: bool = False
) -> Any:
    """A :class:`~experimentkit.launchers.Job` running ``task``."""
    from ..launchers import Job

    return Job(task["index"], functools.partial(execute, ex, command, task, options, sweep, in_process))
