"""Containers that keep *fixed* values (config updates) while a config scope or dict assigns around
them.

A scope's body runs with a ``DogmaticDict`` as its locals.  Fixed keys are readable from the start
and keep their value whatever the body assigns; the container records which assignments it overrode
(``modified``), which changed the value's type (``typechanged``) and which tried to overwrite an
ingredient (``ignored_fallbacks``).  ``reveal()`` then adds the fixed keys nobody assigned and
reports them as added.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any, Optional, SupportsIndex

from .paths import join_paths
from .values import type_changed, values_differ

__all__ = ["DogmaticDict", "FixedList", "dogmatize", "undogmatize", "fallback_dict"]


class FixedList(list):
    """A fixed list value: in-place changes made by the scope body are ignored, like reassignments."""

    def _ignore(self, *args: Any, **kwargs: Any) -> None:
        return None

    append = extend = insert = remove = reverse = sort = clear = _ignore
    __setitem__ = __delitem__ = _ignore

    def pop(self, *args: Any) -> Any:
        """Refused (as in Sacred): the popped value would not exist in the final config."""
        raise TypeError("Cannot pop from a fixed config list")

    def revelation(self) -> set[str]:
        """Reveal the fixed entries of the dicts inside this list (nothing is added to the list)."""
        for item in self:
            if isinstance(item, (DogmaticDict, FixedList)):
                item.revelation()
        return set()

    def __iadd__(self, other: Iterable[Any]) -> FixedList:  # type: ignore[override,misc]
        return self  # a fixed list keeps its entries: += adds nothing

    def __imul__(self, other: SupportsIndex) -> FixedList:
        return self


def dogmatize(value: Any) -> Any:
    """Deep-copy a fixed value into dogmatic containers (the caller's updates are never mutated)."""
    if isinstance(value, Mapping):
        return DogmaticDict({k: dogmatize(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return FixedList(dogmatize(v) for v in value)
    return copy.deepcopy(value)


def undogmatize(value: Any) -> Any:
    """Turn dogmatic containers back into plain dicts and lists."""
    if isinstance(value, dict):
        return {k: undogmatize(v) for k, v in dict.items(value)}
    if isinstance(value, FixedList):
        return [undogmatize(v) for v in value]
    if isinstance(value, list):
        return [undogmatize(v) for v in value]
    return value


class DogmaticDict(dict):
    """A dict whose ``fixed`` entries win over every assignment (see the module docstring)."""

    def __init__(
        self,
        fixed: Optional[Mapping] = None,
        fallback: Optional[Mapping] = None,
        protected: Iterable[str] = (),
    ):
        super().__init__()
        self.fixed: dict = dict(fixed or {})
        #: names whose assignment is ignored (all ingredient paths, even those not readable here)
        self.protected: set = set(protected)
        #: values readable by name but never part of the result (ingredient configs, ``_log``)
        self.fallback = fallback or {}
        self.modified: set[str] = set()
        self.typechanged: dict[str, tuple[type, type]] = {}
        self.ignored_fallbacks: list[str] = []

    @property
    def fallback(self) -> Mapping:
        """Values readable by name but never part of the result; a fixed dict under the same name
        reads its missing entries from here."""
        return self._fallback

    @fallback.setter
    def fallback(self, values: Mapping) -> None:
        self._fallback = values
        for key in set(self.fixed) & set(values):
            fixed, given = self.fixed[key], values[key]
            if isinstance(fixed, Mapping) and isinstance(given, Mapping):
                if not isinstance(fixed, DogmaticDict):
                    fixed = self.fixed[key] = DogmaticDict(fixed)
                fixed.fallback = given

    def __getitem__(self, key: Any) -> Any:
        # as in Sacred: a fixed value exists once the body assigns its key (or reveal() adds it)
        if dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        if key in self.fixed and key in self.fallback:
            return self.fixed[key]
        return self.fallback[key]

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or key in self.fallback

    def get(self, key: Any, default: Any = None) -> Any:
        """Like ``dict.get``, seeing fixed and fallback values too."""
        try:
            return self[key]
        except KeyError:
            return default

    def __setitem__(self, key: Any, value: Any) -> None:
        if key not in self.fixed:
            if key in self.protected:
                self.ignored_fallbacks.append(key)
                return
            dict.__setitem__(self, key, value)
            return
        fixed = self.fixed[key]
        dict.__setitem__(self, key, fixed)
        if isinstance(fixed, DogmaticDict) and isinstance(value, Mapping):
            for sub_key, sub_value in value.items():
                fixed[sub_key] = sub_value
            self.typechanged.update({join_paths(str(key), k): v for k, v in fixed.typechanged.items()})
            self.modified |= {join_paths(str(key), k) for k in fixed.modified}
            value = undogmatize(dict(value))
            if values_differ(value, {k: undogmatize(v) for k, v in dict.items(fixed)}):
                self.modified.add(str(key))
            return
        if type_changed(value, fixed):
            # report plain types: the fixed value's container is an internal detail
            self.typechanged[str(key)] = (type(value), type(undogmatize(fixed)))
        if values_differ(value, undogmatize(fixed)):
            self.modified.add(str(key))

    def __delitem__(self, key: Any) -> None:
        if key not in self.fixed:  # a fixed entry stays, like an overridden assignment
            dict.__delitem__(self, key)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        """Like ``dict.setdefault``, honouring fixed values."""
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Like ``dict.update``, honouring fixed values."""
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def reveal(self) -> set[str]:
        """Insert fixed entries that were never assigned; return their dotted keys (the *added*
        keys).
        """
        added: set[str] = set()
        for key, fixed in self.fixed.items():
            if not dict.__contains__(self, key):
                dict.__setitem__(self, key, fixed)
                added.add(str(key))
            value = dict.__getitem__(self, key)
            if isinstance(value, DogmaticDict):
                added |= {join_paths(str(key), k) for k in value.reveal()}
            elif isinstance(value, FixedList):
                value.revelation()
        return added

    revelation = reveal  # Sacred's name


def fallback_dict(fallback: Mapping, **kwargs: Any) -> dict:
    """A plain dict of ``fallback`` overridden by ``kwargs`` (Sacred's helper of that name)."""
    return {**fallback, **kwargs}
