"""Dotted-path helpers for nested config dicts (``"optimizer.lr"`` <-> ``{"optimizer": {"lr":
...}}``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = [
    "join_paths",
    "get_by_dotted_path",
    "set_by_dotted_path",
    "iterate_flattened",
    "iter_prefixes",
    "recursive_update",
    "convert_to_nested_dict",
    "iterate_flattened_separately",
    "PATHCHANGE",
    "is_prefix",
    "rel_path",
]

PATHCHANGE = object()
"""Yielded by :func:`iterate_flattened_separately` as the value of a key that opens a sub-dict."""


def join_paths(*parts: str) -> str:
    """Join path parts with ".", skipping empty parts (so ``join_paths("", "a") == "a"``)."""
    return ".".join(str(p).strip(".") for p in parts if p not in (None, "") and str(p).strip("."))


def get_by_dotted_path(d: Mapping, path: str, default: Any = None) -> Any:
    """The value at ``path`` in the nested mapping ``d``; ``default`` if any step is missing.

    The empty path returns ``d`` itself, which lets callers treat "the whole config" as a path.
    """
    if not path:
        return d
    current: Any = d
    for part in path.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        else:
            return default
    return current


def set_by_dotted_path(d: dict, path: str, value: Any) -> None:
    """Set ``d[a][b][c] = value`` for ``path == "a.b.c"``, creating intermediate dicts.

    An intermediate value that is not a dict is replaced by a dict: an update ``a.b=1`` on a config
    where ``a`` is a number means the user wants ``a`` to become a dict.
    """
    parts = path.split(".")
    current = d
    for part in parts[:-1]:
        nxt = current.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
            current[part] = nxt
        current = nxt
    current[parts[-1]] = value


def iterate_flattened(d: Mapping, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Yield ``(dotted_key, leaf)`` pairs in sorted key order; an empty dict is a leaf of its own."""
    for key in sorted(d, key=str):
        value = d[key]
        path = join_paths(prefix, key)
        if isinstance(value, Mapping) and value:
            yield from iterate_flattened(value, path)
        else:
            yield path, value


def iterate_flattened_separately(
    d: Mapping,
    manually_sorted_keys: Any = None,
) -> Iterator[tuple[str, Any]]:
    """Walk ``d`` as ``print_config`` shows it: keys in ``manually_sorted_keys`` first (in that order),
    then plain values, then sub-dicts (each sorted by key).

    Before the leaves of a non-empty sub-dict comes ``(its_path, PATHCHANGE)``, so a printer can write
    the sub-dict's header.
    """
    first = list(manually_sorted_keys or ())

    def order(item: tuple) -> tuple:
        key, value = item
        if key in first:
            return 0, first.index(key), ""
        return (2 if isinstance(value, dict) and value else 1), 0, key

    for key, value in sorted(d.items(), key=order):
        if isinstance(value, dict) and value:
            yield key, PATHCHANGE
            for sub_key, sub_value in iterate_flattened_separately(value, first):
                yield join_paths(key, sub_key), sub_value
        else:
            yield key, value


def is_prefix(pre_path: str, path: str) -> bool:
    """True if the dotted path ``pre_path`` is an ancestor of ``path`` (``""`` is everyone's; a path is
    not its own prefix, as in Sacred)."""
    pre = pre_path.strip(".")
    return not pre or path.strip(".").startswith(pre + ".")


def rel_path(base: str, path: str) -> str:
    """``path`` relative to ``base``, itself or an ancestor (``rel_path("a", "a.b.c") == "b.c"``)."""
    if base.strip(".") == path.strip("."):
        return ""
    if not is_prefix(base, path):
        raise ValueError(f"{base!r} is not a prefix of {path!r}")
    return path.strip(".")[len(base.strip(".")) :].strip(".")


def iter_prefixes(path: str) -> Iterator[str]:
    """``"a.b.c"`` -> ``"a"``, ``"a.b"``, ``"a.b.c"``."""
    parts = path.split(".")
    for i in range(1, len(parts) + 1):
        yield ".".join(parts[:i])


def recursive_update(d: dict, u: Mapping) -> dict:
    """Update ``d`` in place with ``u``, merging nested dicts instead of replacing them; returns
    ``d``.
    """
    for key, value in u.items():
        if isinstance(value, Mapping) and isinstance(d.get(key), dict):
            recursive_update(d[key], value)
        else:
            d[key] = value
    return d


def convert_to_nested_dict(dotted: Mapping[str, Any]) -> dict:
    """``{"a.b": 1, "a.c": 2}`` -> ``{"a": {"b": 1, "c": 2}}``; dotted keys inside nested dicts are
    expanded too (``{"a": {"b.c": 1}}`` -> ``{"a": {"b": {"c": 1}}}``)."""
    nested: dict = {}
    for path, value in iterate_flattened(dotted):
        set_by_dotted_path(nested, path, value)
    return nested
