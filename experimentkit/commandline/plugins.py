"""Observer plugins: installed packages that add an observer and its command-line flag.

A package declares an entry point in the group ``experimentkit.observers``; the entry point loads
either a ``CLIOption`` (``@cli_option``) or any object with ``short_flag``, ``long_flag``, ``arg``
(``None`` for a plain flag), ``arg_description`` and ``apply(args, run)`` (which appends the
observer to ``run.observers``).  Plugins are checked when loaded; a broken one raises an
``ObserverError`` that names the entry point and its module, instead of a confusing traceback in
every script.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import os
import sys
from typing import Any, Optional

from ..errors import ObserverError
from ..user_cache import cache_folder, cache_path, read_cached, write_cached
from .options import CLIOption

__all__ = [
    "ENTRY_POINT_GROUP",
    "PluginOption",
    "as_option",
    "load_plugin",
    "observer_plugin_options",
    "clear_plugin_cache",
]

ENTRY_POINT_GROUP = "experimentkit.observers"

_REQUIRED = ("short_flag", "long_flag", "arg", "apply")


class PluginOption(CLIOption):
    """A :class:`CLIOption` wrapped around a duck-typed option object (plugin or legacy class)."""

    def __init__(
        self,
        source: Any,
        short_flag: str,
        long_flag: str,
        arg: Optional[str],
        arg_description: Optional[str],
        description: str,
        origin: str,
    ):
        super().__init__(source.apply, short_flag, long_flag, is_flag=arg is None)
        self.arg = arg
        self.arg_description = arg_description if arg is not None else None
        self.source = source
        self.origin = origin
        self._description = description

    def get_name(self) -> str:
        """Sorted among the built-ins as if its function were named after its long flag."""
        return self.long_flag[2:].replace("-", "_") + "_option"

    def get_description(self) -> str:
        """The object's ``description``, its class docstring, or its ``apply`` docstring."""
        return self._description


def as_option(obj: Any, origin: str) -> CLIOption:
    """Return ``obj`` as a :class:`CLIOption`, or raise ``ValueError`` saying what is missing or
    malformed."""
    if isinstance(obj, CLIOption):
        return obj
    if not hasattr(obj, "short_flag") and callable(getattr(obj, "get_flags", None)):
        short_flag, long_flag = obj.get_flags()  # Sacred's legacy CommandLineOption classes
    else:
        missing = [name for name in _REQUIRED if not hasattr(obj, name)]
        if missing:
            raise ValueError(
                f"{origin} is not a command-line option: it lacks "
                f"{', '.join(missing)} (needs {', '.join(_REQUIRED)} and "
                f"arg_description)"
            )
        short_flag, long_flag = obj.short_flag, obj.long_flag
    if not callable(getattr(obj, "apply", None)):
        raise ValueError(f"{origin} has no callable apply(args, run)")
    arg = getattr(obj, "arg", None)
    if arg is not None and not (isinstance(arg, str) and arg.strip() and " " not in arg):
        raise ValueError(f"{origin}: arg must be None (a flag) or one word such as 'FILE', not {arg!r}")
    arg_description = getattr(obj, "arg_description", None) or ""
    try:
        return PluginOption(obj, short_flag, long_flag, arg, arg_description, _description_of(obj), origin)
    except ValueError as exc:
        raise ValueError(f"{origin}: {exc}") from None


def _description_of(obj: Any) -> str:
    description = getattr(obj, "description", None)
    if isinstance(description, str) and description.strip():
        return inspect.cleandoc(description)
    own_class = inspect.isclass(obj) or type(obj).__module__ not in ("builtins", "types")
    if own_class and inspect.getdoc(obj):
        return inspect.getdoc(obj) or ""
    return inspect.getdoc(obj.apply) or ""


def load_plugin(entry_point: Any) -> CLIOption:
    """Import one entry point and check that it describes an option; errors name the plugin."""
    origin = f"observer plugin {entry_point.name!r} ({entry_point.value})"
    try:
        obj = entry_point.load()
    except Exception as exc:
        raise ObserverError(
            f"Cannot load {origin} from the entry-point group "
            f"{ENTRY_POINT_GROUP!r}: {type(exc).__name__}: {exc}",
            print_traceback=False,
        ) from exc
    try:
        option = as_option(obj, origin)
    except ValueError as exc:
        raise ObserverError(f"Invalid {exc}", print_traceback=False) from None
    option.origin = origin
    return option


class _CachedEntryPoint:
    """An entry point read back from the cache: the ``name``, ``value`` and ``load()`` that
    ``load_plugin`` uses, without importing ``importlib.metadata``."""

    def __init__(self, name: str, value: str):
        self.name = name
        self.value = value

    def load(self) -> Any:
        """Import ``module:attr.path`` (extras in brackets ignored), as ``EntryPoint.load`` does."""
        import importlib

        module, _, attrs = self.value.split("[", 1)[0].partition(":")
        obj = importlib.import_module(module.strip())
        for attr in filter(None, attrs.strip().split(".")):
            obj = getattr(obj, attr)
        return obj


def _entry_points() -> list:
    """The group's entry points; remembered on disk per state of the installed distributions.

    ``importlib.metadata`` reads every distribution's metadata (0.15-0.45 s with ~150 installed);
    the cache is keyed by the path entries and the mtime of each ``entry_points.txt`` found by one
    listing per path entry (``dependencies.distribution_names``, shared with the dependency
    versions; ~1.3 ms), so installing, removing or editing a plugin is noticed.
    ``importlib.metadata`` itself (and the ``email`` package under it, ~20 ms) is imported only
    when the cache is stale.
    """
    cache = _cache_file()
    listed = None if cache is None else read_cached(cache)
    if isinstance(listed, list):
        try:
            return [_CachedEntryPoint(str(name), str(value)) for name, value in listed]
        except (TypeError, ValueError):
            pass
    from importlib import metadata

    found = metadata.entry_points()
    if hasattr(found, "select"):
        eps = list(found.select(group=ENTRY_POINT_GROUP))
    else:
        eps = list(found.get(ENTRY_POINT_GROUP, ()))  # Python 3.9
    if cache is not None:
        write_cached(cache, [[ep.name, ep.value] for ep in eps])
    return eps


def _cache_file() -> Optional[str]:
    """``<cache folder>/plugins-<signature>.json`` (``user_cache``), None when caching is off or the
    signature cannot be taken."""
    if cache_folder() is None:
        return None
    from ..dependencies import distribution_names  # listed once per process, shared

    digest = hashlib.sha1(ENTRY_POINT_GROUP.encode())
    for entry in sys.path:
        where = entry or "."
        names = distribution_names(entry)
        if names is None:  # a zip, or missing: its path stands for it
            digest.update(b"\0" + os.fsencode(where))
            continue
        if not names:  # a directory without distributions (a script's own) does not change the key
            continue
        stamps = []
        for name in names:
            try:
                stamps.append(os.stat(f"{where}/{name}/entry_points.txt").st_mtime_ns)
            except OSError:
                stamps.append(-1)
        digest.update(os.fsencode("\0".join(("", where, *names, repr(stamps)))))
    return cache_path("plugins", digest.hexdigest())


@functools.cache
def observer_plugin_options() -> tuple:
    """Options of every installed observer plugin, loaded once per process (sorted by entry-point
    name)."""
    # a distribution found twice on sys.path lists its entry points twice
    unique = {(ep.name, ep.value): ep for ep in _entry_points()}
    return tuple(load_plugin(ep) for _, ep in sorted(unique.items()))


def clear_plugin_cache() -> None:
    """Forget the loaded plugins (after installing one in a running process, or in tests)."""
    from ..dependencies import forget_distributions

    observer_plugin_options.cache_clear()
    forget_distributions()
