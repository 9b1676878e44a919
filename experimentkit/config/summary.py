"""``ConfigSummary``: a config plus what the updates did to it (for print_config, warnings and
checks).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Optional

from .paths import iter_prefixes, join_paths

__all__ = ["ConfigSummary"]


class ConfigSummary(dict):
    """The config produced by a scope (a plain dict) and its bookkeeping.

    * ``added``: dotted keys set by the updates (``fixed``) that no scope defines. * ``modified``:
    dotted keys whose scope value the updates replaced by a different value, plus every parent of an
    added/modified/typechanged key (so ``print_config`` can colour the enclosing dicts). *
    ``typechanged``: ``{dotted_key: (scope_type, update_type)}``. * ``ignored_fallbacks``: keys a
    scope tried to assign although they name an ingredient. * ``docs``: ``{dotted_key: comment}``
    gathered from the scope's source.
    """

    def __init__(
        self,
        values: Optional[Mapping] = None,
        *,
        added: Iterable[str] = (),
        modified: Iterable[str] = (),
        typechanged: Optional[Mapping[str, tuple]] = None,
        ignored_fallbacks: Iterable[str] = (),
        docs: Optional[Mapping[str, str]] = None,
    ):
        super().__init__(values or {})
        self.added: set[str] = set(added)
        self.modified: set[str] = set(modified)
        self.typechanged: dict[str, tuple[type, type]] = dict(typechanged or {})
        self.ignored_fallbacks: set[str] = set(ignored_fallbacks)
        self.docs: dict[str, str] = dict(docs or {})
        self.ensure_coherence()

    def update_from(self, other: ConfigSummary, path: str = "") -> None:
        """Merge the summary of another scope evaluated *for the same config* (keys prefixed by
        ``path``).

        A key counts as added only if no scope defines it, so ``added`` is intersected: start from a
        summary whose ``added`` holds every updated key and call this once per scope.  Docs already
        known are kept (the first scope documenting a key wins).
        """
        self.added &= {join_paths(path, k) for k in other.added}
        self._merge_changes(other, path)
        for key, doc in other.docs.items():
            if not self.docs.get(join_paths(path, key)):
                self.docs[join_paths(path, key)] = doc
        self.ensure_coherence()

    def update_add(self, other: ConfigSummary, path: str = "") -> None:
        """Merge the summary of a *different* config (e.g. an ingredient's) that lives under
        ``path``.
        """
        self.added |= {join_paths(path, k) for k in other.added}
        self._merge_changes(other, path)
        self.docs.update({join_paths(path, k): v for k, v in other.docs.items()})
        self.ensure_coherence()

    def _merge_changes(self, other: ConfigSummary, path: str) -> None:
        self.modified |= {join_paths(path, k) for k in other.modified}
        self.typechanged.update({join_paths(path, k): v for k, v in other.typechanged.items()})
        self.ignored_fallbacks |= {join_paths(path, k) for k in other.ignored_fallbacks}

    def ensure_coherence(self) -> None:
        """Mark the parents of changed keys as modified and keep the three sets disjoint."""
        changed = set(self.added) | set(self.modified) | set(self.typechanged)
        for key in changed:
            prefixes = list(iter_prefixes(key))
            self.modified.update(prefixes[:-1])
        self.added -= set(self.typechanged)
        self.modified -= set(self.typechanged)
        self.modified -= self.added

    def __repr__(self) -> str:
        return (
            f"ConfigSummary({dict.__repr__(self)}, added={sorted(self.added)}, "
            f"modified={sorted(self.modified)}, typechanged={self.typechanged})"
        )

    def __reduce__(self) -> Any:  # pickles keep the bookkeeping
        return (
            _rebuild,
            (dict(self), self.added, self.modified, self.typechanged, self.ignored_fallbacks, self.docs),
        )


def _rebuild(
    values: dict, added: set, modified: set, typechanged: dict, ignored: set, docs: dict
) -> ConfigSummary:
    return ConfigSummary(
        values, added=added, modified=modified, typechanged=typechanged, ignored_fallbacks=ignored, docs=docs
    )
