"""``Signature``: which parameters of a function a call leaves open, and how the config fills them.

Sacred code uses this class directly (``sacred.config.signature``); experimentkit's captured functions
check calls with the same rules (:mod:`experimentkit.captured`).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Optional

from ..errors import MissingConfigError, SignatureError

__all__ = ["Signature"]


class Signature:
    """The parameters of ``function`` by kind: named ones, those with defaults, ``*args`` and
    ``**kwargs``."""

    def __init__(self, function: Callable):
        self.name: str = function.__name__
        params = list(inspect.signature(function).parameters.values())
        named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        self.arguments: list[str] = [p.name for p in params if p.kind in named]
        self._positional: list[str] = [
            p.name for p in params if p.kind == inspect.Parameter.POSITIONAL_OR_KEYWORD
        ]
        self.kwargs: dict[str, Any] = {p.name: p.default for p in params if p.default is not p.empty}
        self.positional_args: list[str] = [n for n in self._positional if n not in self.kwargs]
        self.vararg_name: Optional[str] = next(
            (p.name for p in params if p.kind == inspect.Parameter.VAR_POSITIONAL), None
        )
        self.kw_wildcard_name: Optional[str] = next(
            (p.name for p in params if p.kind == inspect.Parameter.VAR_KEYWORD), None
        )

    def get_free_parameters(self, args: Sequence, kwargs: Mapping, bound: bool = False) -> list[str]:
        """Named parameters that neither ``args`` nor ``kwargs`` of a call fill."""
        names = self.arguments[1:] if bound else self.arguments
        positional = self._positional[1:] if bound else self._positional
        filled = set(positional[: len(args)]) | set(kwargs)
        return [n for n in names if n not in filled]

    def construct_arguments(
        self, args: Sequence, kwargs: Mapping, options: Mapping, bound: bool = False
    ) -> tuple[list, dict]:
        """``(args, kwargs)`` for a call, with the free parameters taken from ``options``.

        Raises ``SignatureError`` (a ``TypeError``) for arguments the function cannot take, and
        ``MissingConfigError`` when a parameter without default stays unfilled.
        """
        positional = self._positional[1:] if bound else self._positional
        names = self.arguments[1:] if bound else self.arguments
        if len(args) > len(positional) and self.vararg_name is None:
            raise SignatureError(f"{self.name} got unexpected argument(s): {list(args[len(positional) :])}")
        if self.kw_wildcard_name is None:
            unexpected = sorted(set(kwargs) - set(names))
            if unexpected:
                raise SignatureError(f"{self.name} got unexpected kwarg(s): {unexpected}")
        duplicates = sorted(set(positional[: len(args)]) & set(kwargs))
        if duplicates:
            raise SignatureError(f"{self.name} got multiple values for argument(s): {duplicates}")
        filled = dict(kwargs)
        for name in self.get_free_parameters(args, kwargs, bound):
            if name in options:
                filled[name] = options[name]
        open_names = set(self.get_free_parameters(args, filled, bound))
        missing = [n for n in names if n in open_names and n not in self.kwargs]
        if missing:
            raise MissingConfigError(f"{self.name} is missing value(s): {missing}")
        return list(args), filled

    def __str__(self) -> str:
        parts = [n if n not in self.kwargs else f"{n}={self.kwargs[n]!r}" for n in self._positional]
        if self.vararg_name:
            parts.append("*" + self.vararg_name)
        keyword_only = [n for n in self.arguments if n not in self._positional]
        parts += [n if n not in self.kwargs else f"{n}={self.kwargs[n]!r}" for n in keyword_only]
        if self.kw_wildcard_name:
            parts.append("**" + self.kw_wildcard_name)
        return f"{self.name}({', '.join(parts)})"

    def __repr__(self) -> str:
        return f"<Signature at {id(self):#x} for '{self.name}'>"
