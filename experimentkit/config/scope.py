"""``ConfigScope``: turns the local variables of an ``@ex.config`` function into config entries."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Callable, Optional

from ..errors import ConfigError
from .dogmatic import DogmaticDict, dogmatize, undogmatize
from .source import FunctionSource, collect_docs, contains_return, read_function_source
from .summary import ConfigSummary
from .validate import validate_keys
from .values import is_module, normalize

__all__ = ["ConfigScope", "recursive_fill_in"]


def recursive_fill_in(config: dict, preset: Mapping) -> None:
    """Add the entries of ``preset`` that ``config`` lacks, descending into dicts both have."""
    for key, value in preset.items():
        if not dict.__contains__(config, key):
            dict.__setitem__(config, key, value)
        elif isinstance(config[key], dict) and isinstance(value, Mapping):
            recursive_fill_in(config[key], value)


class _ScopeGlobals(dict):
    """Globals for the body that also see its config entries.

    Comprehensions and lambdas in the body run as nested functions, which look names up in the
    globals, not in the body's locals; without this, ``sizes = [base * i for i in range(3)]`` raises
    NameError.
    """

    def __init__(self, base: Mapping, scope_locals: DogmaticDict):
        super().__init__(base)
        self._scope_locals = scope_locals

    def __getitem__(self, key: Any) -> Any:
        if key in self._scope_locals:
            return self._scope_locals[key]
        return dict.__getitem__(self, key)


class ConfigScope:
    """A config function; calling it returns the config as a ``ConfigSummary``.

    Normally the function body is executed with a special locals mapping, so every local variable
    becomes an entry (modules imported in the body are dropped).  When the source cannot be read
    (``exec``, lambdas) or the body contains ``return``, the function is *called* instead and must
    return a dict.  Parameters name earlier config values (``preset``) or ingredient configs /
    ``_log`` (``fallback``).
    """

    def __init__(self, func: Callable):
        import inspect

        signature = inspect.signature(func)
        bad = [
            p.name
            for p in signature.parameters.values()
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.KEYWORD_ONLY) or p.default is not p.empty
        ]
        if bad:
            raise ConfigError(
                f"config function '{func.__name__}' has unsupported parameter(s) {bad}: parameters "
                f"name earlier config values or ingredients, so *args, **kwargs, keyword-only "
                f"parameters and default values are not allowed"
            )
        self.func = func
        self.args: list[str] = list(signature.parameters)
        self.arg_spec = self.args
        self.__doc__ = func.__doc__
        self.__name__ = getattr(func, "__name__", "config")
        self._source: Optional[FunctionSource] = read_function_source(func)
        self._code = None
        if self._source is not None:
            has_return, has_yield = contains_return(self._source.node)
            if has_yield:
                raise ConfigError(
                    f"config function '{self.__name__}' contains yield/await; a "
                    f"config scope must assign its entries (or return a dict)"
                )
            if not has_return:
                self._code = self._source.compile_body()
        self._docs: Optional[dict[str, str]] = None

    def __repr__(self) -> str:
        return f"<ConfigScope {self.__name__}>"

    @property
    def docs(self) -> dict[str, str]:
        """``{name: comment}`` read from the source (empty without source)."""
        if self._docs is None:
            from ..settings import SETTINGS

            self._docs = (
                collect_docs(self._source, SETTINGS.CONFIG.IGNORED_COMMENTS)
                if self._source is not None
                else {}
            )
        return self._docs

    def __call__(
        self,
        fixed: Optional[Mapping] = None,
        preset: Optional[Mapping] = None,
        fallback: Optional[Mapping] = None,
        *,
        settings: Any = None,
    ) -> ConfigSummary:
        """Evaluate the scope: ``fixed`` values win, ``preset``/``fallback`` feed the parameters.

        Every preset value ends up in the result too (so evaluating scopes in a chain deep-merges
        them); fallback values are readable but never copied.
        """
        fixed, preset, fallback = fixed or {}, preset or {}, fallback or {}
        readable = {}
        available = set(preset) | set(fallback)
        for name in self.args:
            if name not in available:
                raise KeyError(f"'{name}' not in preset for ConfigScope. Available options are: {available}")
            if name not in preset:
                readable[name] = fallback[name]
        scope_locals = DogmaticDict(
            {k: dogmatize(v) for k, v in fixed.items()}, fallback=readable, protected=fallback
        )
        for name in self.args:
            if name in preset:
                scope_locals[name] = _copy(preset[name])
        if self._code is not None:
            exec(self._code, self._globals(scope_locals), scope_locals)
        else:
            for key, value in self._call_function(preset, fallback).items():
                scope_locals[key] = value
            if self.func.__doc__ is not None and not dict.__contains__(scope_locals, "__doc__"):
                scope_locals["__doc__"] = self.func.__doc__
        return _summarize(scope_locals, preset, fallback, self.docs, settings)

    def _globals(self, scope_locals: DogmaticDict) -> _ScopeGlobals:
        base = dict(self.func.__globals__)
        closure = self.func.__closure__ or ()
        for name, cell in zip(self.func.__code__.co_freevars, closure):
            try:
                base[name] = cell.cell_contents
            except ValueError:  # a cell not yet filled
                pass
        return _ScopeGlobals(base, scope_locals)

    def _call_function(self, preset: Mapping, fallback: Mapping) -> Mapping:
        kwargs = {name: preset[name] if name in preset else fallback[name] for name in self.args}
        result = self.func(**kwargs)
        if isinstance(result, Mapping):
            return result
        reason = (
            "has no readable source"
            if self._source is None
            else "uses 'return', so it is called instead of having its body read"
        )
        raise ConfigError(
            f"config function '{self.__name__}' {reason}; make it return a dict of "
            f"config values (it returned {type(result).__name__})"
        )


def _copy(value: Any) -> Any:
    try:
        return copy.deepcopy(value)
    except Exception:  # uncopyable objects are shared rather than refused
        return value


def _summarize(
    scope_locals: DogmaticDict,
    preset: Mapping,
    fallback: Mapping,
    docs: Mapping,
    settings: Any,
    drop_modules: bool = True,
) -> ConfigSummary:
    """Turn the evaluated locals into the final ``ConfigSummary`` (shared by scopes and dicts).

    Modules a scope body imports are dropped; a dict's module values were given on purpose and stay
    (a run then refuses them by name, as values it cannot store).
    """
    added = scope_locals.reveal()
    if scope_locals.ignored_fallbacks:
        import logging

        log = fallback.get("_log")
        if not isinstance(log, logging.Logger):
            log = logging.getLogger("experimentkit.config")
        for key in dict.fromkeys(scope_locals.ignored_fallbacks):
            log.warning('Ignored attempt to set value of "%s", because it is an ingredient.', key)
    recursive_fill_in(scope_locals, preset)
    values = {
        key: normalize(undogmatize(value))
        for key, value in dict.items(scope_locals)
        if not (drop_modules and is_module(value))
    }
    validate_keys(values, settings)
    return ConfigSummary(
        values,
        added=added,
        modified=scope_locals.modified,
        typechanged=scope_locals.typechanged,
        ignored_fallbacks=scope_locals.ignored_fallbacks,
        docs=docs,
    )
