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
            f"variable of the module that created it ({module_name})"
        )
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
        raise pickle.UnpicklingError(
            f"cannot find the experiment {name!r}: its module {module_name} has no file"
        )
    private = _LOADED_PREFIX + str(abs(hash(os.path.abspath(path))))
    module = sys.modules.get(private)
    if module is None:
        directory = os.path.dirname(os.path.abspath(path))
        if directory not in sys.path:
            sys.path.insert(0, directory)  # the script's own imports (from dataset import ...)
        spec = importlib.util.spec_from_file_location(private, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path!r} as a Python module")
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
