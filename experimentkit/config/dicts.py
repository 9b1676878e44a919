"""``ConfigDict`` (a static config) and ``evaluate_scopes`` (several configs applied in order)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Optional

from ..errors import UsageError
from .dogmatic import DogmaticDict, dogmatize
from .paths import iterate_flattened, recursive_update
from .scope import _summarize
from .summary import ConfigSummary
from .validate import validate_keys
from .values import normalize

__all__ = ["ConfigDict", "evaluate_scopes"]


class ConfigDict:
    """A config given as a dict (``ex.add_config({...})`` or a config file); called like a
    ``ConfigScope``.
    """

    def __init__(self, d: Mapping, *, settings: Any = None):
        if not isinstance(d, Mapping):
            raise UsageError(f"a config dict must be a dict, not {type(d).__name__}")
        self._conf = normalize(dict(d))
        validate_keys(self._conf, settings)
        self.args: list[str] = []
        self.arg_spec = self.args
        self.docs: dict[str, str] = {}

    @property
    def conf(self) -> dict:
        """The normalised dict (a copy)."""
        return normalize(self._conf)

    def __repr__(self) -> str:
        return f"ConfigDict({self._conf!r})"

    def __call__(
        self,
        fixed: Optional[Mapping] = None,
        preset: Optional[Mapping] = None,
        fallback: Optional[Mapping] = None,
        *,
        settings: Any = None,
    ) -> ConfigSummary:
        """The dict with ``fixed`` values winning and ``preset`` entries filled in where missing."""
        fixed, preset, fallback = fixed or {}, preset or {}, fallback or {}
        scope_locals = DogmaticDict({k: dogmatize(v) for k, v in fixed.items()}, protected=fallback)
        for key, value in normalize(self._conf).items():
            scope_locals[key] = value
        return _summarize(scope_locals, preset, fallback, {}, settings, drop_modules=False)


def evaluate_scopes(
    scopes: Iterable[Any],
    fixed: Optional[Mapping] = None,
    preset: Optional[Mapping] = None,
    fallback: Optional[Mapping] = None,
    *,
    settings: Any = None,
) -> ConfigSummary:
    """Evaluate config scopes/dicts in order, each seeing the previous results as its presets.

    Returns the merged config with a combined summary: a key counts as *added* only when the updates
    set it and no scope defines it.  With no scopes the result is just ``fixed`` (everything added).
    """
    fixed = dict(fixed or {})
    config: dict = dict(preset or {})
    summary = ConfigSummary(added={k for k, _ in iterate_flattened(fixed)})
    evaluated = False
    for scope in scopes:
        result = scope(fixed=fixed, preset=config, fallback=fallback, settings=settings)
        config.update(result)
        summary.update_from(result)
        evaluated = True
    if not evaluated:
        recursive_update(config, normalize(fixed))
    return ConfigSummary(
        config,
        added=summary.added,
        modified=summary.modified,
        typechanged=summary.typechanged,
        ignored_fallbacks=summary.ignored_fallbacks,
        docs=summary.docs,
    )


def chain_evaluate_config_scopes(
    scopes: Iterable[Any],
    fixed: Optional[Mapping] = None,
    preset: Optional[Mapping] = None,
    fallback: Optional[Mapping] = None,
) -> tuple[dict, ConfigSummary]:
    """Sacred's form of :func:`evaluate_scopes`: the merged config as a plain dict, and its summary."""
    summary = evaluate_scopes(scopes, fixed=fixed, preset=preset, fallback=fallback)
    return dict(summary), summary
