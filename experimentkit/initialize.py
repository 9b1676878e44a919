"""From an experiment plus updates to a ready ``Run``, in small steps.

resolve_config: updates → named configs → config scopes and hooks (ingredients deepest first) → seed →
checks for suspicious changes.  build_run: the resolved config plus recorded facts → a ``Run`` whose
captured functions read their bindings from it.  Nothing here writes state onto captured functions.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional, Union

from .errors import ConfigAddedError, ConfigError, NamedConfigNotFoundError, UsageError, suggest
from .redact import strip_password

__all__ = ["ResolvedConfig", "resolve_config", "create_run"]

CONFIG_FILE_EXTENSIONS = (".json", ".yaml", ".yml", ".pickle")
SEED_DOC = "the random seed for this experiment"


@dataclass
class ResolvedConfig:
    """The final config of a run before it starts, and how the updates changed it."""

    config: dict
    modifications: Any  # a ConfigSummary: added, modified, typechanged, docs (dotted keys)
    config_updates: dict
    named_configs: list


def _scaffolds(experiment: Any) -> list:
    """Every ingredient once, deepest first (by its deepest use), the experiment last."""
    seen: dict = {}
    for ingredient, depth in experiment.traverse_ingredients():
        old = seen.get(id(ingredient))
        order = old[1] if old else len(seen)
        seen[id(ingredient)] = (max(depth, old[0]) if old else depth, order, ingredient)
    ordered = sorted(seen.values(), key=lambda t: (-t[0], t[1]))
    return [ing for _, _, ing in ordered]


def _descendants(ingredient: Any) -> list:
    """Every ingredient below ``ingredient`` once, in preorder."""
    found: dict = {}
    for child, depth in ingredient.traverse_ingredients():
        if depth and id(child) not in found:
            found[id(child)] = child
    return list(found.values())


def relative_path(base: str, path: str) -> str:
    """``path`` seen from the ingredient at ``base``: ``paths`` for ``dataset.paths`` under ``dataset``."""
    if base and path.startswith(base + "."):
        return path[len(base) + 1 :]
    return path


def _named_config_table(experiment: Any) -> dict:
    table: dict = {}
    for ingredient, _ in experiment.traverse_ingredients():
        for name, conf in ingredient.named_configs.items():
            full = name if ingredient is experiment else f"{ingredient.config_path}.{name}"
            table[full] = (ingredient.config_path, conf)
    return table


def _lookup_named_config(name: str, table: dict) -> tuple:
    from .config import ConfigDict, load_config_file

    if name in table:
        return table[name]
    if name.lower().endswith(CONFIG_FILE_EXTENSIONS) or os.path.isfile(name):
        return "", ConfigDict(load_config_file(name))
    raise NamedConfigNotFoundError(
        f'Named config not found: "{name}"{suggest(name, table)}. Available config values are: {tuple(table)}'
    )


def _strip_paths(tree: Any, own_path: str, other_paths: Sequence[str]) -> dict:
    """The part of ``tree`` at ``own_path`` that does not belong to a deeper ingredient."""
    from .config import get_by_dotted_path

    sub = get_by_dotted_path(tree, own_path, {})
    if not isinstance(sub, dict):
        return {}
    sub = copy.deepcopy(sub)
    for other in other_paths:
        if other == own_path or (own_path and not other.startswith(own_path + ".")):
            continue
        rel = other[len(own_path) + 1 :] if own_path else other
        parts = rel.split(".")
        parent = get_by_dotted_path(sub, ".".join(parts[:-1]), None) if len(parts) > 1 else sub
        if isinstance(parent, dict):
            parent.pop(parts[-1], None)
    return sub


def _leaves(tree: dict, prefix: str) -> set:
    from .config import iterate_flattened, join_paths

    return {join_paths(prefix, k) for k, _ in iterate_flattened(tree)}


def resolve_config(
    experiment: Any,
    command_name: Optional[str] = None,
    config_updates: Optional[dict] = None,
    named_configs: Sequence[str] = (),
    force: bool = False,
    logger: Optional[logging.Logger] = None,
    root_logger: Optional[logging.Logger] = None,
    warn: bool = True,
) -> ResolvedConfig:
    """Compute the final config of a run without running it (also used to skip duplicate runs).

    ``logger`` is the run's logger (config hooks, ``_log`` in scopes); warnings about added or
    retyped entries come from ``root_logger`` or, for an ingredient's entries, its child named by the
    ingredient's path, as Sacred's; ``warn=False`` keeps them silent (errors are still raised).
    """
    from .config import (
        ConfigSummary,
        check_storable,
        convert_to_nested_dict,
        get_by_dotted_path,
        join_paths,
        recursive_update,
        set_by_dotted_path,
        validate_keys,
    )
    from .settings import SETTINGS

    logger = logger or logging.getLogger(experiment.path)
    updates = convert_to_nested_dict(copy.deepcopy(config_updates or {}))
    scaffolds = _scaffolds(experiment)
    paths = [s.config_path for s in scaffolds]

    # Named configs: evaluated first, with the explicit updates fixed; later ones win over earlier ones.
    table = _named_config_table(experiment)
    named_values: dict = {}
    mods = ConfigSummary()
    for name in named_configs:
        owner, conf = _lookup_named_config(name, table)
        result = conf(
            fixed=get_by_dotted_path(updates, owner, {}) or {},
            preset=copy.deepcopy(get_by_dotted_path(named_values, owner, {}) or {}),
            fallback={},
        )
        values = dict(result)
        if owner:
            current = get_by_dotted_path(named_values, owner, None)
            if not isinstance(current, dict):
                set_by_dotted_path(named_values, owner, {})
                current = get_by_dotted_path(named_values, owner)
            recursive_update(current, values)
        else:
            recursive_update(named_values, values)
        mods.docs.update({join_paths(owner, k): v for k, v in getattr(result, "docs", {}).items()})
    fixed_all = recursive_update(copy.deepcopy(named_values), updates)

    # Config scopes and hooks, ingredients deepest first.
    config: dict = {}
    defined: set = set()
    for scaffold in scaffolds:
        path = scaffold.config_path
        fixed = _strip_paths(fixed_all, path, paths)
        fallback: dict = {"_log": logger}
        for child in _descendants(scaffold):
            value = get_by_dotted_path(config, child.config_path, None)
            if value is not None:
                # As in Sacred: a sub-ingredient is readable by its path relative to this one.
                set_by_dotted_path(fallback, relative_path(path, child.config_path), copy.deepcopy(value))
        local: dict = {}
        for scope in scaffold.configurations:
            summary = scope(fixed=fixed, preset=copy.deepcopy(local), fallback=fallback)
            recursive_update(local, dict(summary))
            defined |= {join_paths(path, k) for k in getattr(summary, "modified", ())}
            defined |= {join_paths(path, k) for k in getattr(summary, "typechanged", ())}
            # every entry the scope produced itself, also where it equals the update (opt=None, lr=0.1)
            defined |= _leaves(dict(summary), path) - {join_paths(path, k) for k in summary.added}
            mods.typechanged.update(
                {join_paths(path, k): v for k, v in getattr(summary, "typechanged", {}).items()}
            )
            mods.docs.update({join_paths(path, k): v for k, v in getattr(summary, "docs", {}).items()})
        recursive_update(local, copy.deepcopy(fixed))
        for hook in scaffold.config_hooks:
            whole = copy.deepcopy(config)
            _place(whole, path, copy.deepcopy(local))
            produced = hook(config=whole, command_name=command_name, logger=logger) or {}
            recursive_update(local, produced)
            defined |= _leaves(produced, path)
            recursive_update(local, copy.deepcopy(fixed))
        _place(config, path, local)

    # The root seed: given, defined by a scope, or generated now and recorded.
    from .seeding import generate_seed

    seed = config.get("seed")
    if seed is None:
        seed = generate_seed()
    config["seed"] = seed
    from .config import ConfigScope

    root_scopes = list(experiment.configurations) + [
        table[name][1] for name in named_configs if name in table and not table[name][0]
    ]
    if any(isinstance(scope, ConfigScope) for scope in root_scopes):
        mods.docs["seed"] = SEED_DOC  # as Sacred: documented by the experiment's config scopes

    explicit = _leaves(fixed_all, "")
    mods.added = {k for k in explicit if k not in defined and k != "seed"}
    # as in Sacred, a given seed counts as modified once any config function or dict exists (in
    # the experiment or an ingredient); in a config-less experiment it is not marked
    seed_defined = any(scaffold.configurations for scaffold in scaffolds) or bool(root_scopes)
    mods.modified = {k for k in explicit if k in defined or (k == "seed" and seed_defined)}
    if not force:  # as Sacred: --force skips these checks and their warnings
        root_logger = root_logger or logging.getLogger()
        _check_suspicious(scaffolds, config, mods, root_logger, warn, _leaves(updates, ""))
    mods.ensure_coherence()  # as in Sacred, dicts enclosing a changed entry count as modified
    validate_keys(config, SETTINGS)
    check_storable(config)
    return ResolvedConfig(
        config=config, modifications=mods, config_updates=updates, named_configs=list(named_configs)
    )


def _place(config: dict, path: str, local: dict) -> None:
    from .config import get_by_dotted_path, recursive_update, set_by_dotted_path

    if not path:
        recursive_update(config, local)
        return
    current = get_by_dotted_path(config, path, None)
    if isinstance(current, dict):
        recursive_update(current, local)
    else:
        set_by_dotted_path(config, path, local)


def _captured_args(scaffolds: list) -> set:
    from .captured import SPECIAL_ARGS
    from .config import join_paths

    names = set()
    for scaffold in scaffolds:
        for function in scaffold.captured_functions:
            for arg in function.arg_names:
                if arg not in SPECIAL_ARGS:
                    names.add(join_paths(function.path, arg))
    return names


def _owner(key: str, paths: Sequence[str]) -> str:
    """The path of the ingredient a dotted config key belongs to ("" for the experiment)."""
    owners = [p for p in paths if p and key.startswith(p + ".")]
    return max(owners, key=len) if owners else ""


def _check_suspicious(
    scaffolds: list,
    config: dict,
    mods: Any,
    root_logger: logging.Logger,
    warn: bool,
    updated: Union[set, frozenset] = frozenset(),
) -> None:
    """Refuse added entries no captured function reads and suspicious type changes; warn about the
    rest.  As Sacred, ingredient by ingredient (deepest first), each from its own logger and with
    keys relative to it: ``WARNING - dataset - Added new config entry: "extra"``."""
    from .config import get_by_dotted_path, iter_prefixes

    paths = [scaffold.config_path for scaffold in scaffolds]
    used = _captured_args(scaffolds)
    for path in paths:
        log = root_logger.getChild(path) if path else root_logger
        for key in sorted(k for k in mods.added if _owner(k, paths) == path):
            is_doc = key.rsplit(".", 1)[-1] == "__doc__"  # a named config's docstring: only warned about
            if not is_doc and not any(prefix in used for prefix in iter_prefixes(key)):
                known = sorted((_leaves(config, "") - mods.added) | used)
                # Sacred's first sentence and its "Conflicting configuration values" lines
                raise ConfigAddedError(
                    f'Added new config entry that is not used anywhere: "{key}"{suggest(key, known)}; '
                    f"check the spelling, or use --force (force=True) to add it anyway",
                    conflicting_configs=(key,),
                    config=config,
                )
            if warn:
                log.warning('Added new config entry: "%s"', relative_path(path, key))
        for key, (old, new) in sorted(mods.typechanged.items()):
            if _owner(key, paths) != path or {old, new} <= {int, float, bool}:
                continue  # numbers of another kind are fine (print_config still shows them in red)
            old_name, new_name = getattr(old, "__name__", old), getattr(new, "__name__", new)
            if key in updated and new is not type(None):
                value = get_by_dotted_path(config, key)
                raise ConfigError(
                    f'Config update {key}={value!r} changes the type of "{key}" from {old_name} to '
                    f"{new_name}{_type_hint(key, value, old)}; give a {old_name}, or pass -f/--force "
                    f"(force=True) to change the type anyway"
                )
            if warn:
                log.warning(
                    'Changed type of config entry "%s" from %s to %s',
                    relative_path(path, key),
                    old_name,
                    new_name,
                )


def _type_hint(key: str, value: Any, old: type) -> str:
    """A suggestion for the commonest typo: a trailing comma (``lr=0.1,``) makes a list."""
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], old):
        return f" (a trailing comma makes a list: did you mean {key}={value[0]!r}?)"
    return ""


class RunBindings:
    """What captured functions read from the active run: config views and seed streams."""

    def __init__(self, config: dict, read_only: bool, scaffolds: Sequence = (), legacy_numpy: bool = False):
        self.config = config
        self.read_only = read_only
        self.scaffolds = list(scaffolds)
        self.legacy_numpy = legacy_numpy
        self._views: dict = {}
        self._streams: Optional[dict] = None

    def config_view(self, function: Any) -> Any:
        """The (read-only) sub-config a captured function sees."""
        key = (function.path, id(function.ingredient))
        view = self._views.get(key)
        if view is None:
            view = self._views[key] = self._build_view(function)
        return view

    def _build_view(self, function: Any) -> Any:
        from .config import get_by_dotted_path, make_read_only, set_by_dotted_path

        ingredient = function.ingredient
        own_path = getattr(ingredient, "config_path", "") or ""
        sub = get_by_dotted_path(self.config, own_path, {})
        if not isinstance(sub, dict):
            sub = {}
        if own_path:
            # An ingredient's functions also see its sub-ingredients, by their relative paths.
            sub = dict(sub)
            for child in _descendants(ingredient):
                value = get_by_dotted_path(self.config, child.config_path, None)
                if isinstance(value, dict):
                    set_by_dotted_path(sub, relative_path(own_path, child.config_path), value)
        if function.prefix:
            sub = get_by_dotted_path(sub, function.prefix, {})
            if not isinstance(sub, dict):
                sub = {}
        if self.read_only:
            return make_read_only(sub, function.path)
        return copy.deepcopy(sub)

    def seed_stream(self, function: Any) -> Any:
        """The seed stream of ``function`` in this run (derived from the root seed as Sacred does)."""
        from .seeding import SeedStream, create_rnd, derive_seed, function_streams

        if self._streams is None:
            self._streams = function_streams(self.scaffolds, self.config, self.legacy_numpy)
        stream = self._streams.get(id(function))
        if stream is None:  # a function captured outside this experiment's ingredients
            seed = derive_seed(self.config["seed"], function.stream_name)
            stream = self._streams[id(function)] = SeedStream(create_rnd(seed, self.legacy_numpy))
        return stream


def default_logger() -> logging.Logger:
    """The root logger, given Sacred's console format if nobody configured logging."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s - %(name)s - %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
    return root


def create_run(
    experiment: Any,
    command_name: str,
    config_updates: Optional[dict] = None,
    named_configs: Sequence[str] = (),
    force: bool = False,
    options: Optional[dict] = None,
    info: Optional[dict] = None,
    meta_info: Optional[dict] = None,
) -> Any:
    """Resolve the config and build a ``Run`` of ``command_name``, not yet started."""
    from .host_info import get_host_info
    from .run import Run, new_uid
    from .settings import SETTINGS

    commands = dict(experiment.gather_commands())
    if command_name not in commands:
        raise UsageError(
            f'Command "{command_name}" not found{suggest(command_name, commands)}. '
            f"Available commands are: {', '.join(commands)}"
        )
    main_function = commands[command_name]
    root_logger = experiment.logger or default_logger()
    run_logger = root_logger.getChild(experiment.path)
    level = (options or {}).get("--loglevel")
    if level:  # before the config is resolved, so that -l ERROR silences its warnings too
        from .commandline.options import parse_loglevel

        root_logger.setLevel(parse_loglevel(level))
    resolved = resolve_config(
        experiment, command_name, config_updates, named_configs, force, run_logger, root_logger
    )
    scaffolds = _scaffolds(experiment)
    run = Run(
        config=resolved.config,
        config_modifications=resolved.modifications,
        main_function=main_function,
        observers=list(experiment.observers),
        root_logger=root_logger,
        run_logger=run_logger,
        experiment_info=experiment.get_experiment_info(),
        host_info=get_host_info(experiment.additional_host_info, SETTINGS),
        pre_run_hooks=[h for s in scaffolds for h in s.pre_run_hooks],
        post_run_hooks=[h for s in scaffolds for h in s.post_run_hooks],
        captured_out_filter=experiment.captured_out_filter,
    )
    bindings = RunBindings(
        resolved.config, SETTINGS.CONFIG.READ_ONLY_CONFIG, scaffolds, SETTINGS.CONFIG.NUMPY_RANDOM_LEGACY_API
    )
    run.config_view = bindings.config_view
    run.seed_stream = bindings.seed_stream
    run.numpy_legacy_api = SETTINGS.CONFIG.NUMPY_RANDOM_LEGACY_API
    run.force = force
    run.info = dict(info or {})
    for metric, goal in getattr(experiment, "metric_goals", {}).items():
        run.set_metric_goal(metric, goal)
    run.meta_info = {
        "command": command_name,
        # a -s/-m URL is stored without its password (run.json, SQL rows, Mongo documents)
        "options": {key: strip_password(value) for key, value in (options or {}).items()},
        "named_configs": list(named_configs),
    }
    if config_updates is not None:  # as Sacred: a plain ex.run() records no config_updates key
        run.meta_info["config_updates"] = resolved.config_updates
    run.meta_info["uid"] = new_uid()
    run.meta_info.update(meta_info or {})
    rerun_of = os.environ.get("EXPERIMENTKIT_RERUN_OF")
    if rerun_of:
        run.meta_info["rerun_of"] = rerun_of
    if getattr(main_function, "unobserved", False):
        run.unobserved = True
    return run
