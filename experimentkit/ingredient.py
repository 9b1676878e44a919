"""``Ingredient``: a reusable part of an experiment with its own config, captured functions and commands.

Decorators are sugar: each one builds a small public object (a config scope, a captured function) and
registers it in a plain list or dict on the ingredient, which can also be filled without decorators.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import Any, Callable, Optional

from .captured import CapturedFunction, capture
from .errors import CircularDependencyError

__all__ = ["Ingredient"]

_CONFIG_FILE_EXTENSIONS = (".json", ".yaml", ".yml", ".pickle")


class Ingredient:
    """A named, configurable part of an experiment (a dataset, a model ...)."""

    def __init__(
        self,
        path: str,
        ingredients: Sequence[Ingredient] = (),
        interactive: bool = False,
        _caller_globals: Optional[dict] = None,
        base_dir: Optional[str] = None,
        save_git_info: bool = True,
    ):
        self.path = path
        self.config_path = path
        self.ingredients = list(ingredients)
        self.configurations: list = []
        self.named_configs: dict = {}
        self.config_hooks: list = []
        self.captured_functions: list = []
        self.pre_run_hooks: list = []
        self.post_run_hooks: list = []
        self.commands: OrderedDict[str, CapturedFunction] = OrderedDict()
        self.logger = None
        self.save_git_info = save_git_info
        self._sources: set = set()  # added with add_source_file (plus discovered ones once read)
        self._dependencies: set = set()
        self._discovered = False
        globs = _caller_globals if _caller_globals is not None else _caller_globals_of_user()
        self._globals = globs
        self.doc = globs.get("__doc__")
        mainfile = globs.get("__file__")
        if mainfile is None and not interactive:
            raise RuntimeError(
                "Defining an experiment in interactive mode! If you still want to run "
                "this experiment, pass interactive=True."
            )
        self.mainfile = os.path.abspath(mainfile) if mainfile else None
        if base_dir is None:
            base_dir = os.path.dirname(self.mainfile) if self.mainfile else os.getcwd()
        self.base_dir = os.path.abspath(base_dir)
        from .dependencies import prepare_discovery
        from .settings import SETTINGS

        prepare_discovery(globs, self.base_dir, SETTINGS)

    # -- configuration ----------------------------------------------------------------------------
    def config(self, function: Callable) -> Any:
        """Decorator: the function body's local variables become config entries."""
        from .config import ConfigScope

        scope = ConfigScope(function)
        self.configurations.append(scope)
        return scope

    def named_config(self, function: Callable) -> Any:
        """Decorator: a config scope applied only when its name is requested (``with NAME``)."""
        from .config import ConfigScope

        scope = ConfigScope(function)
        self._add_named(function.__name__, scope)
        return scope

    def _add_named(self, name: str, conf: Any) -> None:
        if name in self.named_configs:
            raise KeyError(f'Configuration name "{name}" already in use!')
        self.named_configs[name] = conf

    def config_hook(self, function: Callable) -> Callable:
        """Decorator: ``f(config, command_name, logger) -> dict`` adjusts the config after the scopes."""
        params = list(inspect.signature(function).parameters)
        if params != ["config", "command_name", "logger"]:
            raise ValueError("Wrong signature for config_hook. Expected: (config, command_name, logger)")
        self.config_hooks.append(function)
        return function

    def add_config(self, cfg_or_file: Any = None, **kw_conf: Any) -> None:
        """Add a config dict, a config file (.json/.yaml/.yml/.pickle) or keyword values."""
        self.configurations.append(self._create_config_dict(cfg_or_file, kw_conf))

    def add_named_config(self, name: str, cfg_or_file: Any = None, **kw_conf: Any) -> None:
        """Add a named config from a dict, a file or keyword values."""
        self._add_named(name, self._create_config_dict(cfg_or_file, kw_conf))

    @staticmethod
    def _create_config_dict(cfg_or_file: Any, kw_conf: dict) -> Any:
        from .config import ConfigDict, load_config_file

        if cfg_or_file is not None and kw_conf:
            raise ValueError("cannot combine keyword config with positional argument")
        if cfg_or_file is None:
            if not kw_conf:
                raise ValueError("attempted to add empty config")
            return ConfigDict(kw_conf)
        if isinstance(cfg_or_file, dict):
            return ConfigDict(cfg_or_file)
        if isinstance(cfg_or_file, (str, os.PathLike)):
            return ConfigDict(load_config_file(os.fspath(cfg_or_file)))
        raise TypeError(
            f"Invalid argument type {type(cfg_or_file).__name__}: "
            "expected a dict or the path of a config file"
        )

    # -- captured functions -----------------------------------------------------------------------
    def capture(self, function: Optional[Callable] = None, prefix: Optional[str] = None) -> Any:
        """Decorator: fill the function's missing arguments from this ingredient's config."""
        if function is None:
            return lambda f: self.capture(f, prefix=prefix)
        if isinstance(function, CapturedFunction) and function in self.captured_functions:
            if prefix is not None:
                function.prefix = prefix
            return function
        captured = capture(function, ingredient=self, prefix=prefix)
        self.captured_functions.append(captured)
        return captured

    def pre_run_hook(self, func: Optional[Callable] = None, prefix: Optional[str] = None) -> Any:
        """Decorator: a captured function run just before the main function."""
        if func is None:
            return lambda f: self.pre_run_hook(f, prefix=prefix)
        captured = self.capture(func, prefix=prefix)
        self.pre_run_hooks.append(captured)
        return captured

    def post_run_hook(self, func: Optional[Callable] = None, prefix: Optional[str] = None) -> Any:
        """Decorator: a captured function run just after the main function returns."""
        if func is None:
            return lambda f: self.post_run_hook(f, prefix=prefix)
        captured = self.capture(func, prefix=prefix)
        self.post_run_hooks.append(captured)
        return captured

    def command(
        self, function: Optional[Callable] = None, prefix: Optional[str] = None, unobserved: bool = False
    ) -> Any:
        """Decorator: a captured function that can be run from the command line by its name."""
        if function is None:
            return lambda f: self.command(f, prefix=prefix, unobserved=unobserved)
        captured = self.capture(function, prefix=prefix)
        captured.unobserved = unobserved
        self.commands[captured.__name__] = captured
        return captured

    # -- sources and dependencies -----------------------------------------------------------------
    def add_source_file(self, filename: str) -> None:
        """Record ``filename`` as a source file of this experiment (stored with its md5)."""
        from .dependencies import Source

        self._sources.add(Source.create(filename, self.save_git_info))

    def add_package_dependency(self, package_name: str, version: str) -> None:
        """Record a package dependency that discovery would miss."""
        from .dependencies import PackageDependency

        self._dependencies.add(PackageDependency.create(package_name, version))

    def _discover(self) -> None:
        """Add the sources and dependencies found from the defining module (done on first read, not at
        definition time, so defining an experiment stays cheap)."""
        if self._discovered:
            return
        from .dependencies import gather_sources_and_dependencies
        from .settings import SETTINGS

        _, found_sources, found_deps = gather_sources_and_dependencies(
            self._globals, self.base_dir, self.save_git_info, SETTINGS
        )
        self._sources |= found_sources
        self._dependencies |= found_deps
        self._discovered = True

    @property
    def sources(self) -> set:
        """The ``Source`` files of this ingredient: discovered from its module, plus added ones."""
        self._discover()
        return self._sources

    @property
    def dependencies(self) -> set:
        """The ``PackageDependency`` set of this ingredient: discovered, plus added ones."""
        self._discover()
        return self._dependencies

    # -- traversal --------------------------------------------------------------------------------
    def traverse_ingredients(self) -> Iterator[tuple]:
        """Yield ``(ingredient, depth)`` in preorder; a cycle raises ``CircularDependencyError``."""
        yield from self._traverse((), 0)

    def _traverse(self, chain: tuple, depth: int) -> Iterator[tuple]:
        chain = chain + (self,)
        yield self, depth
        for ingredient in self.ingredients:
            if ingredient in chain:
                names = "->".join(i.path for i in chain + (ingredient,))
                raise CircularDependencyError(f"Circular dependency detected:{names}")
            yield from ingredient._traverse(chain, depth + 1)

    def gather_commands(self) -> Iterator[tuple]:
        """Yield ``(dotted_name, captured_function)`` for every command in the ingredient tree."""
        for ingredient, _ in self.traverse_ingredients():
            for name, cmd in ingredient.commands.items():
                yield self.post_process_name(f"{ingredient.path}.{name}", ingredient), cmd

    def gather_named_configs(self) -> Iterator[tuple]:
        """Yield ``(dotted_name, named_config)`` for every named config in the ingredient tree."""
        for ingredient, _ in self.traverse_ingredients():
            for name, conf in ingredient.named_configs.items():
                yield self.post_process_name(f"{ingredient.path}.{name}", ingredient), conf

    def post_process_name(self, name: str, ingredient: Ingredient) -> str:
        """Hook for subclasses to rename gathered commands and named configs."""
        return name

    def get_experiment_info(self) -> dict:
        """Name, base dir, sources, dependencies, repositories and main file of this experiment."""
        from .dependencies import gather_sources_and_dependencies
        from .settings import SETTINGS

        sources: set = set()
        dependencies: set = set()
        for ingredient, _ in self.traverse_ingredients():
            _, found_sources, found_deps = gather_sources_and_dependencies(
                ingredient._globals, ingredient.base_dir, ingredient.save_git_info, SETTINGS
            )
            sources |= found_sources | ingredient._sources
            dependencies |= found_deps | ingredient._dependencies
        repositories = sorted(
            {(s.repo, s.commit, s.is_dirty) for s in sources if getattr(s, "repo", None)},
            key=lambda r: (str(r[0]), str(r[1])),
        )
        mainfile = None
        if self.mainfile:
            mainfile = os.path.relpath(self.mainfile, self.base_dir)
        return {
            "name": self.path,
            "base_dir": self.base_dir,
            "sources": sorted(list(s.to_json(self.base_dir)) for s in sources),
            "dependencies": sorted((d.to_json() for d in dependencies), key=str.lower),
            "repositories": [{"url": u, "commit": c, "dirty": d} for u, c, d in repositories],
            "mainfile": mainfile,
        }


def _caller_globals_of_user() -> dict:
    """The globals of the first frame outside experimentkit (the user's module)."""
    frame: Optional[FrameType] = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").startswith("experimentkit"):
        frame = frame.f_back
    return frame.f_globals if frame is not None else {}
