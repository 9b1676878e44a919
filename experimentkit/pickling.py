"""How an ``Experiment`` travels to worker processes (multiprocessing, joblib's loky, Ray,
submitit): by reference, never by value.

An experiment pickles as "the object named X in module M (file F)".  The receiving process uses the
module if it is already imported (a spawned ``multiprocessing`` child has the script as
``__mp_main__``), else imports it, else - for a script run as ``__main__`` or a module not on
``sys.path`` - loads the file under a private module name, so ``@ex.automain`` does not start a
run there.  The file must be readable where the worker runs (same machine or shared file system).
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import pickle
import sys
from typing import Any, Optional

__all__ = ["reduce_experiment", "load_experiment"]

_LOADED_PREFIX = "_experimentkit_loaded_"


def _global_name(obj: Any, module_name: Optional[str]) -> Optional[str]:
    module = sys.modules.get(module_name or "")
    if module is None:
        return None
    for name, value in vars(module).items():
        if value is obj:
            return name
    return None


def reduce_experiment(ex: Any) -> tuple:
    """``__reduce__`` of an experiment: a call to :func:`load_experiment`."""
    module_name = getattr(ex, "_module_name", None)
    name = _global_name(ex, module_name)
    if name is None:
        raise pickle.PicklingError(
            f"experiment {ex.path!r} can only be sent to another process when it is a module-level "
            f"variable of the module that created it ({module_name})")
    return load_experiment, (module_name, name, getattr(ex, "_module_file", None))


def load_experiment(module_name: str, name: str, path: Optional[str]) -> Any:
    """Find (or import) the experiment ``name`` of ``module_name``; see the module docstring."""
    candidates = [module_name]
    if module_name == "__main__":
        candidates.append("__mp_main__")
    for candidate in candidates:
        module = sys.modules.get(candidate)
        if module is not None and _same_file(module, path) and hasattr(module, name):
            return getattr(module, name)
    if module_name != "__main__":
        try:
            return getattr(importlib.import_module(module_name), name)
        except ImportError:
            if not path:
                raise
    if not path:
        raise pickle.UnpicklingError(f"cannot find the experiment {name!r}: its module "
                                     f"{module_name} has no file")
    private = _LOADED_PREFIX + str(abs(hash(os.path.abspath(path))))
    module = sys.modules.get(private)
    if module is None:
        directory = os.path.dirname(os.path.abspath(path))
        if directory not in sys.path:
            sys.path.insert(0, directory)  # the script's own imports (from dataset import ...)
        spec = importlib.util.spec_from_file_location(private, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[private] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(private, None)
            raise
    return getattr(module, name)


def _same_file(module: Any, path: Optional[str]) -> bool:
    own = getattr(module, "__file__", None)
    if not path or not own:
        return True
    try:
        return os.path.samefile(own, path)
    except OSError:
        return False


# ---- runs -------------------------------------------------------------------------------------------
class RunInbox:
    """A directory where worker processes append metric points for a run (one JSON-lines file per
    process); the run's heartbeat reads what is new.  Whole lines are appended, so a reader never
    sees half a point."""

    def __init__(self) -> None:
        import tempfile

        self.directory = tempfile.mkdtemp(prefix="experimentkit-run-inbox-")
        self._offsets: dict = {}

    def drain(self) -> list:
        """New ``(name, step, value, timestamp)`` points since the last call."""
        import json

        points = []
        try:
            names = sorted(os.listdir(self.directory))
        except FileNotFoundError:
            return points
        for name in names:
            path = os.path.join(self.directory, name)
            with open(path, "rb") as f:
                f.seek(self._offsets.get(name, 0))
                data = f.read()
            complete = data[:data.rfind(b"\n") + 1]
            self._offsets[name] = self._offsets.get(name, 0) + len(complete)
            for line in complete.splitlines():
                point = json.loads(line)
                points.append((point["name"], point["step"], point["value"], point["time"]))
        return points

    def close(self) -> None:
        import shutil

        shutil.rmtree(self.directory, ignore_errors=True)


class RemoteRun:
    """What a run becomes in another process: its id, uid, config and ``log_scalar``.

    Points logged here reach the run's record through its inbox (same machine or shared file
    system) at the run's next heartbeat; points logged after the run ended are lost.  Everything
    else a run does (artifacts, resources, info) belongs in the process that owns the run.
    """

    def __init__(self, run_id: Any, uid: str, config: dict, inbox: str):
        self._id = run_id
        self.uid = uid
        self.config = config
        self._inbox = inbox
        self._next_step: dict = {}

    def log_scalar(self, metric_name: str, value: Any, step: Any = None) -> None:
        """Append a point (steps count per name from 0 in this process unless given)."""
        import json
        import threading
        import time

        if step is None:
            step = self._next_step.get(metric_name, 0)
        self._next_step[metric_name] = step + 1
        item = getattr(value, "item", None)
        value = item() if callable(item) else value
        path = os.path.join(self._inbox, f"{os.getpid()}-{threading.get_ident()}.jsonl")
        line = json.dumps({"name": metric_name, "step": step, "value": value,
                           "time": time.time()}) + "\n"
        with open(path, "a", encoding="utf-8") as f:
            f.write(line)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"a run handle in a worker process has only _id, uid, config and "
                             f"log_scalar; '{name}' belongs in the process that owns the run")


def reduce_run(run: Any) -> tuple:
    """``__reduce__`` of a ``Run``: a :class:`RemoteRun` writing into the run's inbox."""
    from .commandline.printing import to_plain

    if run._inbox is None:
        run._inbox = RunInbox()
    return RemoteRun, (run._id, run.meta_info.get("uid"), to_plain(run.config),
                       run._inbox.directory)
