"""Seeds: the root seed of a run, one seed stream per captured function, and the global generators.

The streams are derived exactly as Sacred 0.8.7 derives them, so a run given ``seed=N`` draws the same
``_seed`` and ``_rnd`` values under experimentkit as under Sacred: a generator made from the root seed
hands each ingredient its seed; each ingredient's generator then hands one seed to each of its
captured functions in registration order (the experiment's four built-in commands first), and every
call of a function taking ``_seed``/``_rnd`` draws the next seed from its own generator.  The
generators are numpy's ``default_rng`` when numpy is installed (``RandomState`` with the legacy
setting), else ``random.Random``, as in Sacred.  They are only built when a function first asks for
randomness, so runs that never use ``_seed``/``_rnd`` never import numpy for it.

numpy and torch are seeded only if the run's code imports them: an import hook seeds them on first import,
so a run that never touches numpy never pays for importing it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import random
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any, Callable, Optional

__all__ = [
    "generate_seed",
    "get_seed",
    "derive_seed",
    "SeedStream",
    "create_rnd",
    "seed_globals",
    "set_global_seed",
    "function_streams",
]

SEED_LIMIT = 10**9  # seeds are drawn from [1, SEED_LIMIT], as in Sacred


def generate_seed() -> int:
    """A fresh root seed for a run that was not given one."""
    return random.SystemRandom().randint(1, SEED_LIMIT)


def get_seed(rnd: Any = None) -> int:
    """The next seed drawn from ``rnd`` (numpy Generator, RandomState or ``random.Random``).

    The calls match Sacred's: ``integers(1, 10**9)`` on a Generator, ``randint(1, 10**9)`` otherwise;
    without a generator the global ``random`` module draws.
    """
    if rnd is None:
        return random.randint(1, SEED_LIMIT)
    integers = getattr(rnd, "integers", None)
    if integers is not None:
        return int(integers(1, SEED_LIMIT, dtype=int))
    return int(rnd.randint(1, SEED_LIMIT))


def derive_seed(root_seed: int, name: str) -> int:
    """A seed for ``name`` that depends only on ``root_seed`` and ``name``.

    Used where Sacred would draw from the unseeded global ``random`` module (an ingredient whose path
    is not below its parent's and that the experiment does not list itself), so that our runs stay
    reproducible there too.
    """
    digest = hashlib.sha256(f"{root_seed}/{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % SEED_LIMIT + 1


def create_rnd(seed: int, legacy_numpy: bool = False) -> Any:
    """A random generator for ``_rnd``: numpy's Generator when numpy is installed, else ``random.Random``."""
    try:
        import numpy as np
    except ImportError:
        return random.Random(seed)
    if legacy_numpy:
        return np.random.RandomState(seed % 2**32)
    return np.random.default_rng(seed)


class SeedStream:
    """The per-function generator that hands out a new ``_seed`` on every call."""

    def __init__(self, rnd: Any):
        self.rnd = rnd

    def next_seed(self) -> int:
        """The next seed of this stream."""
        return get_seed(self.rnd)


def _is_below(base: str, path: str) -> bool:
    return not base or path.startswith(base + ".")


def _own_seed(config: dict, path: str) -> Optional[int]:
    sub: Any = config
    for part in path.split(".") if path else ():
        sub = sub.get(part) if isinstance(sub, dict) else None
    seed = sub.get("seed") if isinstance(sub, dict) else None
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


def ingredient_seeds(scaffolds: Sequence[Any], config: dict, legacy_numpy: bool = False) -> dict:
    """``{id(ingredient): seed}`` for every ingredient (``scaffolds``: deepest first, experiment last).

    The experiment's seed is the root seed; an ingredient uses a ``seed`` entry of its own config, else
    draws from the generator of the first parent (walking down from the experiment, last-listed child
    first) under whose path it sits.
    """
    root_seed = config["seed"]
    seeds: dict = {}

    def set_up(ingredient: Any, parent_rnd: Any) -> None:
        if id(ingredient) in seeds:
            return
        seed = _own_seed(config, ingredient.config_path)
        if seed is None:
            seed = (
                get_seed(parent_rnd)
                if parent_rnd is not None
                else derive_seed(root_seed, ingredient.config_path)
            )
        seeds[id(ingredient)] = seed
        rnd = create_rnd(seed, legacy_numpy)
        children = list({child.config_path: child for child in ingredient.ingredients}.values())
        for child in reversed(children):
            if _is_below(ingredient.config_path, child.config_path):
                set_up(child, rnd)

    for ingredient in reversed(list(scaffolds)):
        set_up(ingredient, None)
    return seeds


def function_streams(scaffolds: Sequence[Any], config: dict, legacy_numpy: bool = False) -> dict:
    """``{id(captured_function): SeedStream}`` for every captured function of every ingredient."""
    seeds = ingredient_seeds(scaffolds, config, legacy_numpy)
    streams: dict = {}
    for ingredient in scaffolds:
        rnd = create_rnd(seeds[id(ingredient)], legacy_numpy)
        for function in ingredient.captured_functions:
            streams[id(function)] = SeedStream(create_rnd(get_seed(rnd), legacy_numpy))
    return streams


def _seed_module(name: str, module: Any, seed: int) -> None:
    if name == "numpy":
        module.random.seed(seed % 2**32)
    elif name == "torch":
        module.manual_seed(seed)
        cuda = getattr(module, "cuda", None)
        if cuda is not None and cuda.is_available():
            cuda.manual_seed_all(seed)
    elif name == "tensorflow":
        module.random.set_seed(seed)


_SEEDED_MODULES = ("numpy", "torch", "tensorflow")


class _SeedingLoader:
    """Wraps a module's real loader and seeds the module right after it has been executed.

    The import protocol is duck-typed: subclassing ``importlib.abc.Loader`` would import
    ``importlib.abc`` (and ``importlib.resources``, ~10 ms) at every run's start."""

    def __init__(self, loader: Any, after: Callable[[Any], None]):
        self._loader = loader
        self._after = after

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        # Put the real loader back first so the module and its submodules see the usual one.
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        self._after(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _SeedOnImport:
    """Seeds numpy/torch/tensorflow when the run's code imports them for the first time (a
    duck-typed meta path finder, as ``_SeedingLoader``)."""

    def __init__(self, seed: int):
        self.seed = seed
        # names being looked up by this finder: another finder that also asks the whole meta path
        # (LogFileWriter's) would otherwise call back into this one for ever
        self._asking = threading.local()

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Optional[Any]:
        asking = self._asking.__dict__.setdefault("names", set())
        if fullname not in _SEEDED_MODULES or fullname in asking:
            return None
        asking.add(fullname)
        try:
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec: Any = finder.find_spec(fullname, path, target)  # its loader gets wrapped
                if spec is not None:
                    if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                        spec.loader = _SeedingLoader(
                            spec.loader, functools.partial(_seed_module, fullname, seed=self.seed)
                        )
                    return spec
        finally:
            asking.discard(fullname)
        return None


def set_global_seed(seed: int) -> None:
    """Seed ``random`` and whichever of numpy, torch and tensorflow are already imported."""
    random.seed(seed)
    for name in _SEEDED_MODULES:
        module = sys.modules.get(name)
        if module is not None:
            _seed_module(name, module, seed)


@contextlib.contextmanager
def seed_globals(seed: int) -> Iterator[None]:
    """Seed the global generators for the duration of a run, including libraries imported during it."""
    set_global_seed(seed)
    hook = _SeedOnImport(seed)
    sys.meta_path.insert(0, hook)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(hook)
