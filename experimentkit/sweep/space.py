"""A sweep's search space and its expansion into tasks (one task = one run's updates).

A space has grid axes (every combination, in order) and random dimensions (``choice``, ``uniform``,
``loguniform``, ``int``), sampled ``samples`` times for every grid point with a seeded generator, so
the same space and seed always give the same tasks.  The expanded tasks are stored in the sweep
record; ``--resume`` reads them back instead of expanding again.
"""

from __future__ import annotations

import copy
import itertools
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from ..errors import UsageError
from .grammar import Axis, parse_axis_value

__all__ = ["Task", "Space", "RANDOM_KINDS", "space_from_mapping", "load_sweep_file", "space_from_words"]

RANDOM_KINDS = ("choice", "uniform", "loguniform", "int")


@dataclass
class Task:
    """One run of a sweep: its position, the swept values (flat, dotted keys) and the named
    configs."""

    index: int
    values: dict  # {"lr": 0.1, "named_config": "big"}: what varies, for tables and plots
    updates: dict  # nested config updates (fixed ones included)
    named_configs: list

    def to_json(self) -> dict:
        return {
            "index": self.index,
            "values": self.values,
            "updates": self.updates,
            "named_configs": self.named_configs,
        }

    @classmethod
    def from_json(cls, data: Mapping) -> Task:
        return cls(
            int(data["index"]),
            dict(data.get("values") or {}),
            dict(data.get("updates") or {}),
            list(data.get("named_configs") or []),
        )


@dataclass
class Space:
    """Ordered items (fixed words or grid :class:`Axis`), random dimensions, and the sample
    count."""

    items: list = field(default_factory=list)  # str (a fixed `with` word) | Axis
    random: dict = field(default_factory=dict)  # key -> (kind, args)
    samples: Optional[int] = None
    seed: int = 0

    @property
    def axes(self) -> list:
        return [item for item in self.items if isinstance(item, Axis)]

    def describe(self) -> dict:
        """JSON-ready description stored in the sweep record."""
        return {
            "grid": {axis.name: list(axis.values) for axis in self.axes},
            "random": {key: {kind: list(args)} for key, (kind, args) in self.random.items()},
            "samples": self.samples,
            "fixed": [i for i in self.items if isinstance(i, str)],
        }

    def swept_keys(self) -> list:
        """Config keys that vary (named-config axes excluded)."""
        return [a.key for a in self.axes if a.key is not None] + list(self.random)

    def expand(self) -> list:
        """Every task, grid order first, then samples."""
        from ..config import parse_with_args
        from ..config.paths import set_by_dotted_path

        if self.random and not self.samples:
            raise UsageError(
                "random dimensions need a number of samples: --samples N (or 'samples: N' in the sweep file)"
            )
        if self.samples is not None and self.samples < 1:
            raise UsageError(f"--samples must be a positive number, not {self.samples}")
        from ..settings import SETTINGS

        strict = bool(SETTINGS.COMMAND_LINE.STRICT_PARSING)
        rng = random.Random(self.seed)
        tasks: list[Any] = []
        grid = [axis.values for axis in self.axes]
        for combination in itertools.product(*grid):
            for _ in range(self.samples or 1) if self.random else range(1):
                picks = iter(combination)
                values: dict = {}
                updates: dict = {}
                named: list = []
                for item in self.items:
                    if isinstance(item, Axis):
                        value = next(picks)
                        values[_column(item, values)] = value
                        if item.key is None:
                            named.append(value)
                        else:
                            set_by_dotted_path(updates, item.key, copy.deepcopy(value))
                    elif isinstance(item, _FixedUpdate):
                        set_by_dotted_path(updates, item.key, copy.deepcopy(item.value))
                    else:
                        word_updates, word_named = parse_with_args([item], strict=strict)
                        _merge(updates, word_updates)
                        named.extend(word_named)
                for key, (kind, args) in self.random.items():
                    value = _sample(rng, kind, args)
                    values[key] = value
                    set_by_dotted_path(updates, key, value)
                tasks.append(Task(len(tasks), values, updates, named))
        return tasks


def _column(axis: Axis, taken: dict) -> str:
    name = axis.name
    number = 2
    while name in taken:
        name = f"{axis.name}{number}"
        number += 1
    return name


def _merge(target: dict, source: Mapping) -> None:
    for key, value in source.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def _sample(rng: random.Random, kind: str, args: tuple) -> Any:
    if kind == "choice":
        return copy.deepcopy(rng.choice(list(args)))
    low, high = args
    if kind == "uniform":
        return rng.uniform(low, high)
    if kind == "loguniform":
        return math.exp(rng.uniform(math.log(low), math.log(high)))
    return rng.randint(int(low), int(high))


def _random_dimension(key: str, spec: Mapping) -> tuple:
    if len(spec) != 1:
        raise UsageError(
            f"sweep '{key}': a random dimension is one of {', '.join(RANDOM_KINDS)} "
            f"with its arguments, e.g. {{loguniform: [1e-4, 1e-1]}}"
        )
    ((kind, args),) = spec.items()
    if kind not in RANDOM_KINDS:
        from ..errors import suggest

        raise UsageError(
            f"sweep '{key}': unknown distribution {kind!r}{suggest(kind, RANDOM_KINDS)}"
            f"; use one of {', '.join(RANDOM_KINDS)}"
        )
    args = tuple(args) if isinstance(args, (list, tuple)) else (args,)
    if kind == "choice":
        if not args:
            raise UsageError(f"sweep '{key}': choice needs at least one value")
        return kind, args
    if len(args) != 2 or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args):
        raise UsageError(f"sweep '{key}': {kind} needs [low, high] numbers, not {list(args)}")
    low, high = args
    if low > high:
        raise UsageError(f"sweep '{key}': {kind} needs low <= high, not [{low}, {high}]")
    if kind == "loguniform" and low <= 0:
        raise UsageError(f"sweep '{key}': loguniform needs positive bounds, not [{low}, {high}]")
    return kind, args


def _looks_random(kind: Any) -> bool:
    import difflib

    return bool(difflib.get_close_matches(str(kind), RANDOM_KINDS, n=1, cutoff=0.75))


def space_from_mapping(
    space: Mapping, named_configs: Any = None, samples: Optional[int] = None, seed: int = 0
) -> Space:
    """A space from Python: ``{"lr": [0.1, 0.01], "n": "range(3)", "p": {"uniform": [0, 1]}}``.

    A list is a grid axis (a list *value* must be nested: ``[[1, 2]]``), a string uses the
    command-line grammar, a one-key mapping is a random dimension, anything else is fixed.
    """
    items: list = []
    randoms: dict = {}
    for key, spec in dict(space or {}).items():
        key = str(key)
        swept = parse_axis_value(spec, f"sweep '{key}={spec}'") if isinstance(spec, str) else None
        if isinstance(spec, (list, tuple)):
            if not spec:
                raise UsageError(f"sweep '{key}': the axis has no values")
            items.append(Axis(key, tuple(spec)))
        elif swept is not None:
            items.append(Axis(key, tuple(swept)))
        elif isinstance(spec, Mapping) and len(spec) == 1 and next(iter(spec)) in RANDOM_KINDS:
            randoms[key] = _random_dimension(key, spec)
        elif isinstance(spec, Mapping) and len(spec) == 1 and _looks_random(next(iter(spec))):
            randoms[key] = _random_dimension(key, spec)  # a misspelt kind: the error suggests
        elif isinstance(spec, Mapping) and "values" in spec:  # {"values": [...]} as in W&B
            items.append(Axis(key, tuple(spec["values"])))
        else:
            items.append(_FixedUpdate(key, spec))
    if named_configs:
        names = [named_configs] if isinstance(named_configs, str) else list(named_configs)
        items.append(Axis(None, tuple(names)))
    return Space(items, randoms, samples, seed)


class _FixedUpdate(str):
    """A fixed ``key=value`` from Python, kept as the value itself (no text round trip)."""

    key: str
    value: Any

    def __new__(cls, key: str, value: Any) -> _FixedUpdate:
        self = super().__new__(cls, f"{key}={value!r}")
        self.key, self.value = key, value
        return self


def space_from_words(words: list, samples: Optional[int] = None, seed: int = 0) -> Space:
    """A space from the words after ``with`` (see :mod:`experimentkit.sweep.grammar`)."""
    from .grammar import parse_sweep_words

    return Space(parse_sweep_words(words), {}, samples, seed)


def load_sweep_file(path: str, space: Space) -> Space:
    """Add the axes of a YAML/JSON sweep file to ``space`` (see docs/sweeps.md for the format)."""
    from ..config.files import load_config_file

    try:
        data = load_config_file(path)
    except FileNotFoundError:
        raise UsageError(f"--sweep-file: no such file '{path}'") from None
    except UsageError:
        raise
    except Exception as exc:
        raise UsageError(f"--sweep-file '{path}': {type(exc).__name__}: {exc}") from None
    if not isinstance(data, Mapping):
        raise UsageError(f"--sweep-file '{path}' must hold a mapping with 'grid' and/or 'random'")
    allowed = ("grid", "random", "named_configs", "samples", "seed", "fixed")
    for key in data:
        if key not in allowed:
            from ..errors import suggest

            raise UsageError(
                f"--sweep-file '{path}': unknown section {key!r}"
                f"{suggest(str(key), allowed)}; sections are {', '.join(allowed)}"
            )
    from_file = space_from_mapping(dict(data.get("fixed") or {}))
    grid = space_from_mapping(
        {
            k: (v if isinstance(v, (list, tuple, str)) else [v])
            for k, v in dict(data.get("grid") or {}).items()
        },
        data.get("named_configs"),
    )
    items = list(space.items) + from_file.items + grid.items
    randoms = dict(space.random)
    for key, spec in dict(data.get("random") or {}).items():
        if not isinstance(spec, Mapping):
            raise UsageError(f"--sweep-file '{path}': random '{key}' must look like {{uniform: [0, 1]}}")
        randoms[str(key)] = _random_dimension(str(key), spec)
    samples = space.samples if space.samples is not None else data.get("samples")
    seed = int(data.get("seed", space.seed) or 0)
    return Space(items, randoms, samples, seed)
