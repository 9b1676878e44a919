"""Captured functions: parameters filled from the active run's configuration.

A ``CapturedFunction`` keeps no run state of its own.  While a run is active (``experimentkit.context``) it
asks the run for its view of the config (its ingredient's sub-config, or the ``prefix`` subtree), its logger
and its seed stream.  Outside a run it behaves like the plain function (``config == {}``).
"""

from __future__ import annotations

import datetime
import functools
import importlib
import inspect
import logging
import time
from typing import Any, Callable, Optional

from .context import current_run
from .errors import MissingConfigError, SignatureError

__all__ = ["CapturedFunction", "capture"]

SPECIAL_ARGS = ("_config", "_run", "_log", "_seed", "_rnd")


class CapturedFunction:
    """A function whose missing arguments come from the configuration of the active run."""

    __name__: str  # copied from the function by functools.update_wrapper
    __qualname__: str

    def __init__(self, function: Callable, ingredient: Any = None, prefix: Optional[str] = None):
        functools.update_wrapper(self, function)
        self.__wrapped__ = function
        self.ingredient = ingredient
        self.prefix = prefix
        self.signature = inspect.signature(function)
        params = self.signature.parameters.values()
        self.arg_names = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        self._positional = [p.name for p in params if p.kind == p.POSITIONAL_OR_KEYWORD]
        self._has_varargs = any(p.kind == p.VAR_POSITIONAL for p in params)
        self._has_varkw = any(p.kind == p.VAR_KEYWORD for p in params)
        self._defaults = {p.name: p.default for p in params if p.default is not p.empty}
        self.uses_randomness = "_seed" in self.arg_names or "_rnd" in self.arg_names
        self.unobserved = False
        #: run, config, logger or rnd set on the function itself (Sacred code and tests set them);
        #: they win over what the active run provides
        self._given: dict[str, Any] = {}

    # -- identity ---------------------------------------------------------------------------------
    @property
    def path(self) -> str:
        """The dotted config path this function reads: ingredient path plus prefix."""
        parts = [getattr(self.ingredient, "config_path", "") or "", self.prefix or ""]
        return ".".join(p for p in parts if p)

    @property
    def stream_name(self) -> str:
        """Stable name of this function's seed stream."""
        owner = getattr(self.ingredient, "config_path", "") or ""
        return f"{owner}/{self.__qualname__}"

    # -- state read from the active run -----------------------------------------------------------
    @property
    def run(self) -> Any:
        """The active run, or None."""
        return self._given["run"] if "run" in self._given else current_run()

    @run.setter
    def run(self, value: Any) -> None:
        self._given["run"] = value

    @property
    def config(self) -> Any:
        """This function's read-only view of the active run's config (``{}`` outside a run)."""
        if "config" in self._given:
            return self._given["config"]
        run = current_run()
        return run.config_view(self) if run is not None else {}

    @config.setter
    def config(self, value: Any) -> None:
        self._given["config"] = value

    @property
    def logger(self) -> Any:
        """The logger passed as ``_log``."""
        if "logger" in self._given:
            return self._given["logger"]
        run = current_run()
        root = getattr(run, "root_logger", None) or logging.getLogger()
        owner = getattr(self.ingredient, "config_path", "") or ""
        # as Sacred: an ingredient's functions log below the ingredient's path ("dataset.load")
        return root.getChild(f"{owner}.{self.__name__}" if owner else self.__name__)

    @logger.setter
    def logger(self, value: Any) -> None:
        self._given["logger"] = value

    @property
    def rnd(self) -> Any:
        """This function's random generator in the active run (its seeds are drawn from it)."""
        if "rnd" in self._given:
            return self._given["rnd"]
        run = current_run()
        return run.seed_stream(self).rnd if run is not None else None

    @rnd.setter
    def rnd(self, value: Any) -> None:
        self._given["rnd"] = value

    # -- calling ----------------------------------------------------------------------------------
    def _captured_function(self, *args: Any, **kwargs: Any) -> Any:
        """Call the function with its missing arguments filled in (``__call__``; the name is what an
        unfiltered traceback shows for this frame, as Sacred's ``captured_function`` does)."""
        run = self.run
        filled = self._fill(args, kwargs, self.config, run)
        if run is None and "logger" not in self._given:
            return self.__wrapped__(*args, **filled)
        logger = self.logger
        if not logger.isEnabledFor(logging.DEBUG):
            return self.__wrapped__(*args, **filled)
        # as Sacred: every call of a captured function is logged at DEBUG level
        logger.debug("Started")
        start = time.time()
        result = self.__wrapped__(*args, **filled)
        logger.debug("Finished after %s.", datetime.timedelta(seconds=round(time.time() - start)))
        return result

    __call__ = _captured_function

    def _fill(self, args: tuple, kwargs: dict, config: Any, run: Any) -> dict:
        name = self.__name__
        if len(args) > len(self._positional) and not self._has_varargs:
            raise SignatureError(f"{name} got unexpected argument(s): {list(args[len(self._positional) :])}")
        given = set(self._positional[: len(args)])
        duplicates = sorted(given & set(kwargs))
        if duplicates:
            raise SignatureError(f"{name} got multiple values for argument(s): {duplicates}")
        if not self._has_varkw:
            unexpected = sorted(set(kwargs) - set(self.arg_names))
            if unexpected:
                raise SignatureError(f"{name} got unexpected kwarg(s): {unexpected}")
        filled = dict(kwargs)
        seed = None
        if self.uses_randomness:
            # Draw on every call, even when ``_seed`` is passed explicitly, so the stream stays in step
            # with Sacred's (which draws whenever the function takes ``_seed`` or ``_rnd``).
            seed = self._draw_seed(run)
            if "_seed" in filled:
                seed = filled["_seed"]
            elif "_seed" in given:
                seed = args[self._positional.index("_seed")]
        missing = []
        for arg in self.arg_names:
            if arg in given or arg in filled:
                continue
            if arg in SPECIAL_ARGS:
                filled[arg] = self._special(arg, config, run, seed)
            elif arg in config:
                filled[arg] = config[arg]
            elif arg not in self._defaults:
                missing.append(arg)
        if missing:
            raise MissingConfigError(f"{name} is missing value(s): {missing}")
        return filled

    def _draw_seed(self, run: Any) -> int:
        if "rnd" in self._given:
            from .seeding import get_seed

            return get_seed(self._given["rnd"])
        stream = run.seed_stream(self) if run is not None else None
        if stream is None:
            from .seeding import generate_seed

            return generate_seed()
        return stream.next_seed()

    def _special(self, arg: str, config: Any, run: Any, seed: Any) -> Any:
        if arg == "_config":
            return config
        if arg == "_run":
            return run
        if arg == "_log":
            return self.logger
        if arg == "_seed":
            return seed
        from .seeding import create_rnd

        legacy = bool(getattr(run, "numpy_legacy_api", False))
        return create_rnd(seed, legacy_numpy=legacy)

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return self
        return functools.partial(self, instance)

    def __reduce__(self) -> Any:
        # Pickle by reference, like a plain module-level function (multiprocessing, DDP).
        return _resolve, (self.__module__, self.__qualname__)

    def __repr__(self) -> str:
        return f"<captured function {self.__qualname__}>"


def _resolve(module: str, qualname: str) -> Any:
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def capture(function: Callable, ingredient: Any = None, prefix: Optional[str] = None) -> CapturedFunction:
    """Wrap ``function`` as a captured function of ``ingredient`` (capturing twice is a no-op)."""
    if isinstance(function, CapturedFunction):
        if prefix is not None:
            function.prefix = prefix
        return function
    return CapturedFunction(function, ingredient=ingredient, prefix=prefix)
