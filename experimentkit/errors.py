"""Every error experimentkit raises on purpose, in one place.

The Sacred names (``SacredError``, ``ConfigAddedError`` ...) are the base of the hierarchy so that code
written for Sacred catches ours.  Usage errors (``UsageError`` and its subclasses) carry a one-line message
that says what was wrong and how to fix it; command lines print that line and exit with status 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any, Optional

__all__ = [
    "SacredError",
    "ConfigError",
    "InvalidConfigError",
    "ConfigAddedError",
    "MissingConfigError",
    "NamedConfigNotFoundError",
    "CircularDependencyError",
    "SignatureError",
    "ObserverError",
    "PermanentObserverError",
    "ObserverUnreachableError",
    "SacredInterrupt",
    "TimeoutInterrupt",
    "ExperimentKitError",
    "UsageError",
    "ReadOnlyConfigError",
    "UnstorableConfigError",
    "StoreError",
    "QueryError",
    "SettingError",
    "suggest",
    "InvalidKeyError",
    "ConfigFileError",
    "ConfigFileNotFoundError",
    "UnknownCaptureModeError",
    "IgnoreHostInfo",
    "SourceNotFoundError",
    "InvalidVersionError",
    "GitUnavailableError",
    "EnforceCleanError",
    "TrialPruned",
]


def suggest(word: str, candidates: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest candidate, or ``""`` when none is close."""
    matches = difflib.get_close_matches(str(word), [str(c) for c in candidates], n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""


def suggest_known(word: str, candidates: Iterable[str], plural: str, shown: int = 8) -> str:
    """Like :func:`suggest`, but when no name is close say which names exist (or that there are
    none): a run's metrics, artifacts or tables are few, and "no such name" alone leaves the user
    guessing."""
    names = sorted({str(c) for c in candidates})
    hint = suggest(word, names)
    if hint:
        return hint
    if not names:
        return f" (it has no {plural})"
    listed = ", ".join(names[:shown])
    more = f", ... {len(names)} in all" if len(names) > shown else ""
    return f" (it has: {listed}{more})"


class SacredError(Exception):
    """Base of every error experimentkit raises deliberately (named as in Sacred)."""

    def __init__(
        self,
        *args: Any,
        print_traceback: bool = True,
        filter_traceback: str = "default",
        print_usage: bool = False,
    ):
        if len(args) > 1 and isinstance(args[1], bool):  # Sacred's positional form:
            args, extra = args[:1], args[1:]  # (message, print_traceback, filter_traceback, print_usage)
            print_traceback = extra[0]
            filter_traceback = extra[1] if len(extra) > 1 else filter_traceback
            print_usage = extra[2] if len(extra) > 2 else print_usage
        super().__init__(*args)
        if filter_traceback not in ("always", "default", "never"):
            raise ValueError(
                f"filter_traceback must be one of 'always', 'default', 'never', not {filter_traceback!r}"
            )
        self.print_traceback = print_traceback
        self.filter_traceback = filter_traceback
        self.print_usage = print_usage


ExperimentKitError = SacredError


class UsageError(SacredError):
    """A mistake by the user (bad key, bad value, bad option): shown as one line, exit status 2."""

    exit_code = 2

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("print_traceback", False)
        super().__init__(*args, **kwargs)


class ConfigError(UsageError):
    """A problem with configuration values; lists the conflicting entries."""

    def __init__(
        self,
        message: str,
        conflicting_configs: Sequence[str] = (),
        config: Optional[dict] = None,
        **kwargs: Any,
    ):
        super().__init__(message, **kwargs)
        self.message = message
        if isinstance(conflicting_configs, str):
            conflicting_configs = (conflicting_configs,)
        self.conflicting_configs = tuple(conflicting_configs)
        self.config = config

    def __str__(self) -> str:
        if not self.conflicting_configs:
            return self.message
        lines = [self.message, "Conflicting configuration values:"]
        for key in self.conflicting_configs:
            lines.append(f"  {key}={_lookup(self.config, key)!r}" if self.config is not None else f"  {key}")
        return "\n".join(lines)


def _lookup(config: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        try:
            config = config[part]
        except (KeyError, TypeError, IndexError):
            return None
    return config


class InvalidConfigError(ConfigError):
    """Raised by user code when config values are inconsistent with each other."""


class ConfigAddedError(ConfigError):
    """An update names a key that no config entry and no captured function knows (usually a typo)."""


class MissingConfigError(SacredError, TypeError):
    """A captured function was called without a value for one of its parameters."""

    exit_code = 2

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("print_traceback", False)
        kwargs.setdefault("print_usage", True)
        super().__init__(*args, **kwargs)


class NamedConfigNotFoundError(UsageError, KeyError):
    """``with NAME`` or ``named_configs=[NAME]`` names no known named config."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class CircularDependencyError(SacredError):
    """Ingredients include each other in a cycle."""


class SignatureError(SacredError, TypeError):
    """A captured function was called with arguments that do not fit its signature."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("filter_traceback", "always")
        super().__init__(*args, **kwargs)


class ObserverError(SacredError):
    """An observer could not store an event (never fails the run)."""


class PermanentObserverError(ObserverError):
    """An observer can never store this event (bad argument, invalid data, a name its backend cannot
    hold): raise it from an observer so the dispatcher drops the event with a warning instead of
    retrying it and holding back every later event (see ``dispatch.is_permanent``)."""


class ObserverUnreachableError(UsageError, ObserverError):
    """With ``--strict-observers``: an observer could not open the run, so it is not started."""


class ReadOnlyConfigError(SacredError, TypeError):
    """User code tried to change a configuration value inside a captured function."""


class UnstorableConfigError(UsageError):
    """A config value cannot be stored (not JSON-compatible, not a numpy scalar or array)."""


class StoreError(UsageError):
    """A run store cannot be opened or does not contain what was asked for."""


class QueryError(UsageError):
    """A query expression or key is malformed or unknown."""


class SettingError(UsageError, KeyError):
    """An unknown key in ``SETTINGS`` or an attempt to replace a settings group."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class SacredInterrupt(Exception):
    """Raise (a subclass of) this inside a run to stop it with the status ``STATUS``."""

    STATUS = "INTERRUPTED"


class TimeoutInterrupt(SacredInterrupt):
    """Stops a run with the status TIMEOUT."""

    STATUS = "TIMEOUT"


class _PlainMessage(Exception):
    """For errors that are also a ``KeyError`` or ``OSError``: show the message as written (those
    bases would quote it or reformat it)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class InvalidKeyError(_PlainMessage, UsageError, KeyError):
    """A config key breaks a rule in ``SETTINGS.CONFIG`` (a ``KeyError``, as in Sacred)."""


class ConfigFileError(UsageError, ValueError):
    """A config file has an unsupported extension or unreadable content (a ``ValueError``, as in
    Sacred)."""


class ConfigFileNotFoundError(_PlainMessage, UsageError, FileNotFoundError):
    """A config file does not exist (an ``OSError``, as in Sacred)."""


class UnknownCaptureModeError(_PlainMessage, UsageError, KeyError):
    """``--capture`` / ``capture_output`` got a mode other than fd, sys or no."""


class IgnoreHostInfo(Exception):
    """Raise inside a host-info gatherer to leave its key out (the fact is not available)."""


class SourceNotFoundError(UsageError, ValueError):
    """``add_source_file`` (or the main file) names a file that does not exist."""


class InvalidVersionError(UsageError, ValueError):
    """``add_package_dependency`` got a version string that is not PEP 440."""


class GitUnavailableError(UsageError, ValueError):
    """Git info was requested but the git executable is missing."""


class EnforceCleanError(UsageError, RuntimeError):
    """``--enforce_clean`` found no repository, or one with uncommitted changes."""


class TrialPruned(SacredInterrupt):
    """Raised inside a run when Optuna's pruner stops its trial; the run's status is PRUNED."""

    STATUS = "PRUNED"
