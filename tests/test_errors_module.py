"""Every public exception class lives in ``experimentkit.errors`` (other modules re-export it)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import experimentkit
from experimentkit import errors

# Modules that import optional frameworks at import time are skipped when those are missing.
_OPTIONAL = ("ImportError", "ModuleNotFoundError")


def _modules():
    for info in pkgutil.walk_packages(experimentkit.__path__, "experimentkit."):
        if info.name.endswith("__main__"):  # running it is its only effect
            continue
        try:
            yield importlib.import_module(info.name)
        except Exception as exc:  # an optional dependency of that module is not installed
            assert type(exc).__name__ in _OPTIONAL, f"{info.name}: {exc!r}"


def test_public_exceptions_are_defined_in_errors():
    strays = sorted(
        f"{module.__name__}.{name}"
        for module in _modules()
        for name, value in vars(module).items()
        if inspect.isclass(value)
        and issubclass(value, BaseException)
        and not name.startswith("_")
        and value.__module__ == module.__name__
        and module is not errors
    )
    assert strays == []


def test_moved_exceptions_keep_their_old_import_paths():
    from experimentkit.config.files import ConfigFileNotFoundError
    from experimentkit.dependencies import SourceNotFoundError
    from experimentkit.host_info import IgnoreHostInfo
    from experimentkit.output import UnknownCaptureModeError

    assert ConfigFileNotFoundError is errors.ConfigFileNotFoundError
    assert SourceNotFoundError is errors.SourceNotFoundError
    assert IgnoreHostInfo is errors.IgnoreHostInfo
    assert UnknownCaptureModeError is errors.UnknownCaptureModeError
    assert str(errors.UnknownCaptureModeError("bad mode 'x'")) == "bad mode 'x'"


def test_a_name_with_none_close_is_answered_with_the_names_that_exist():
    assert (
        errors.suggest_known("val.acc", ["val.accuracy", "loss"], "metrics")
        == " (did you mean 'val.accuracy'?)"
    )
    assert errors.suggest_known("nope", ["b.png", "a.png", "a.png"], "artifacts") == " (it has: a.png, b.png)"
    assert errors.suggest_known("nope", [], "tables") == " (it has no tables)"
    many = [f"table{i:02d}" for i in range(10)]
    assert errors.suggest_known("x", many, "tables") == (
        " (it has: table00, table01, table02, table03, table04, table05, table06, table07, ... 10 in all)"
    )
