"""Read-only views of a config, handed to captured functions so they cannot change it by accident."""

from __future__ import annotations

from typing import Any, NoReturn

from ..errors import ReadOnlyConfigError

__all__ = ["ReadOnlyDict", "ReadOnlyList", "make_read_only"]


def _refuse(path: str, key: Any = None) -> NoReturn:
    target = path if key is None else (f"{path}.{key}" if path else str(key))
    what = f"cannot change '{target}'" if target else "cannot change it"
    raise ReadOnlyConfigError(
        f"The configuration is read-only in a captured function! {what[0].upper()}{what[1:]}. "
        f"Copy it first (copy.deepcopy) if you need a modified version.",
        filter_traceback="always",
    )


class ReadOnlyDict(dict):
    """A dict that refuses every change; ``copy``/``deepcopy``/pickle give plain dicts."""

    __slots__ = ("_path",)

    def __init__(self, *args: Any, path: str = "", **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._path = path

    def __setitem__(self, key: Any, value: Any) -> NoReturn:
        _refuse(self._path, key)

    def __delitem__(self, key: Any) -> NoReturn:
        _refuse(self._path, key)

    def pop(self, key: Any, *default: Any) -> NoReturn:
        """Refused."""
        _refuse(self._path, key)

    def setdefault(self, key: Any, default: Any = None) -> NoReturn:
        """Refused."""
        _refuse(self._path, key)

    def popitem(self) -> NoReturn:
        """Refused."""
        _refuse(self._path)

    def clear(self) -> NoReturn:
        """Refused."""
        _refuse(self._path)

    def update(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Refused; names the first key the update would have changed."""
        keys = list(dict(*args, **kwargs))
        _refuse(self._path, keys[0] if keys else None)

    def __ior__(self, other: Any) -> NoReturn:  # type: ignore[misc]  # refused: never returns
        self.update(other)

    def __copy__(self) -> dict:
        return dict(self)

    def __deepcopy__(self, memo: dict) -> dict:
        import copy

        return {copy.deepcopy(k, memo): copy.deepcopy(v, memo) for k, v in self.items()}

    def __reduce__(self) -> Any:
        return dict, (dict(self),)


class ReadOnlyList(list):
    """A list that refuses every change; ``copy``/``deepcopy``/pickle give plain lists."""

    __slots__ = ("_path",)

    def __init__(self, *args: Any, path: str = ""):
        super().__init__(*args)
        self._path = path

    def __setitem__(self, index: Any, value: Any) -> NoReturn:
        _refuse(self._path, index if isinstance(index, int) else None)

    def __delitem__(self, index: Any) -> NoReturn:
        _refuse(self._path, index if isinstance(index, int) else None)

    def _refuse_all(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse(self._path)

    append = extend = insert = pop = remove = reverse = sort = clear = _refuse_all
    __iadd__ = __imul__ = _refuse_all

    def __copy__(self) -> list:
        return list(self)

    def __deepcopy__(self, memo: dict) -> list:
        import copy

        return [copy.deepcopy(v, memo) for v in self]

    def __reduce__(self) -> Any:
        return list, (list(self),)


def make_read_only(obj: Any, path: str = "") -> Any:
    """A read-only copy of ``obj``: dicts and lists, also nested and inside tuples, become read-
    only.

    ``path`` is the dotted key of ``obj`` in the whole config, so errors name the full key
    (``'optimizer.lr'``).  Other values are returned unchanged.
    """
    if isinstance(obj, dict):
        return ReadOnlyDict(
            {k: make_read_only(v, f"{path}.{k}" if path else str(k)) for k, v in obj.items()}, path=path
        )
    if isinstance(obj, list):
        return ReadOnlyList(
            (make_read_only(v, f"{path}.{i}" if path else str(i)) for i, v in enumerate(obj)), path=path
        )
    if isinstance(obj, tuple):
        return (
            type(obj)(*(make_read_only(v, path) for v in obj))
            if hasattr(obj, "_fields")
            else tuple(make_read_only(v, path) for v in obj)
        )
    return obj
