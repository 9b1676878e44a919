"""Record where TensorBoard writers write: ``LogFileWriter(ex)`` (Sacred's ``stflow.LogFileWriter``).

Inside its scope (a ``with`` block, or a function it decorates) every TensorBoard event writer that is
created has its log directory appended to ``_run.info["tensorflow"]["logdirs"]`` (Sacred's key, which
Omniboard shows).  Writers recognised:

* ``tensorflow.summary.FileWriter`` / ``tensorflow.compat.v1.summary.FileWriter`` (TF1 API),
* ``tensorflow.summary.create_file_writer`` (TF2 API),
* ``torch.utils.tensorboard.SummaryWriter`` and ``tensorboardX.SummaryWriter`` (with their default
  ``runs/<date>_<host>`` directory when no directory is given).

Nothing is imported to do this: writers of modules already imported are patched when the scope is
entered, and modules imported inside the scope are patched as they load.  Patches are removed when
the last active scope exits.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.abc
import sys
import threading
from typing import Any, Callable, Optional

__all__ = ["LogFileWriter"]

# module -> (attribute path of a class or function on it, name of its logdir parameter)
_TARGETS: dict = {
    "tensorboardX": [("SummaryWriter", "logdir")],
    "torch.utils.tensorboard": [("SummaryWriter", "log_dir")],
    "tensorflow": [
        ("summary.FileWriter", "logdir"),
        ("summary.create_file_writer", "logdir"),
        ("compat.v1.summary.FileWriter", "logdir"),
    ],
}

_lock = threading.RLock()
_active: list = []  # the LogFileWriters whose scope is open
_patched: dict = {}  # (owner object id, attribute) -> (owner, attribute, original)
_hook: Optional[_ImportHook] = None


def _logdir_of(result: Any, instance: Any, args: tuple, kwargs: dict, param: str) -> Any:
    """The directory a new writer writes to: its own answer if it has one, else the argument."""
    for obj in (instance, result):
        method = getattr(obj, "get_logdir", None)
        if callable(method):
            with contextlib.suppress(Exception):
                found = method()
                if found is not None:
                    return str(found)
        for attr in ("log_dir", "logdir"):
            value = getattr(obj, attr, None)
            if isinstance(value, str):
                return value
    value = kwargs.get(param, args[0] if args else None)
    if value is not None and hasattr(value, "numpy"):  # a TF string tensor
        with contextlib.suppress(Exception):
            value = value.numpy().decode()
    return None if value is None else str(value)


def _record(logdir: Any) -> None:
    if logdir is None:
        return
    with _lock:
        runs: list[Any] = []
        for recorder in _active:
            run = recorder.run
            if run is not None and all(run is not r for r in runs):
                runs.append(run)
    for run in runs:
        run.info.setdefault("tensorflow", {}).setdefault("logdirs", []).append(logdir)


def _wrap_class(cls: Any, param: str) -> Callable:
    original = cls.__init__

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        _record(_logdir_of(None, self, args, kwargs, param))

    return __init__


def _wrap_function(function: Callable, param: str) -> Callable:
    @functools.wraps(function)
    def create(*args: Any, **kwargs: Any) -> Any:
        result = function(*args, **kwargs)
        _record(_logdir_of(result, None, args, kwargs, param))
        return result

    return create


def _resolve(module: Any, path: str) -> tuple[Any, str, Any] | None:
    """``(owner, attribute name, value)`` for a dotted attribute path, or None if missing."""
    *owners, name = path.split(".")
    owner = module
    for part in owners:
        owner = getattr(owner, part, None)
        if owner is None:
            return None
    value = getattr(owner, name, None)
    return None if value is None else (owner, name, value)


def _patch_module(module_name: str) -> None:
    module = sys.modules.get(module_name)
    if module is None:
        return
    for path, param in _TARGETS[module_name]:
        try:
            found = _resolve(module, path)
        except Exception:  # a lazily loading framework attribute that fails: not a writer we know
            found = None
        if found is None:
            continue
        owner, name, value = found
        if isinstance(value, type):
            writer_class: Any = value  # its __init__ is replaced on the class itself
            key = (id(value), "__init__")
            if key not in _patched:
                _patched[key] = (value, "__init__", value.__dict__.get("__init__"))
                writer_class.__init__ = _wrap_class(value, param)
        elif callable(value):
            key = (id(owner), name)
            if key not in _patched:
                _patched[key] = (owner, name, value)
                setattr(owner, name, _wrap_function(value, param))


def _unpatch_all() -> None:
    for owner, name, original in _patched.values():
        if original is None:
            with contextlib.suppress(AttributeError):
                delattr(owner, name)
        else:
            setattr(owner, name, original)
    _patched.clear()


class _ImportHook(importlib.abc.MetaPathFinder):
    """Patches a target module right after it is imported inside an open scope."""

    def __init__(self) -> None:
        # names being looked up by this finder: another finder that also asks the whole meta path
        # (the run's seeding hook) would otherwise call back into this one for ever
        self._asking = threading.local()

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        asking = self._asking.__dict__.setdefault("names", set())
        if fullname not in _TARGETS or fullname in asking:
            return None
        asking.add(fullname)
        try:
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                        spec.loader = _PatchingLoader(spec.loader, fullname)
                    return spec
        finally:
            asking.discard(fullname)
        return None


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, loader: Any, name: str):
        self._loader = loader
        self._name = name

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._loader.exec_module(module)
        with _lock:
            if _active:
                _patch_module(self._name)


class LogFileWriter(contextlib.ContextDecorator):
    """Context manager and decorator: record the log directory of every TensorBoard writer created
    in its scope into the current run's ``info["tensorflow"]["logdirs"]``.

    ``experiment`` is the ``Experiment`` whose run is active when the scope is entered.
    """

    def __init__(self, experiment: Any):
        self.experiment = experiment
        self.run: Any = None
        self._runs: list = []

    def __enter__(self) -> LogFileWriter:
        global _hook
        run = getattr(self.experiment, "current_run", None)
        if run is None:
            raise RuntimeError(
                "LogFileWriter needs a running experiment: use it inside the main "
                "function or a captured function of a run"
            )
        with _lock:
            self._runs.append(self.run)
            self.run = run
            _active.append(self)
            for name in _TARGETS:
                _patch_module(name)
            if _hook is None:
                _hook = _ImportHook()
                sys.meta_path.insert(0, _hook)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        global _hook
        with _lock:
            _active.remove(self)
            self.run = self._runs.pop()
            if not _active:
                _unpatch_all()
                if _hook is not None:
                    with contextlib.suppress(ValueError):
                        sys.meta_path.remove(_hook)
                    _hook = None
