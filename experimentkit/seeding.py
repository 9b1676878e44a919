"""Seeds: the root seed of a run, one seed stream per captured function, and the global generators.

Each captured function's stream is derived from the root seed and the function's identity (ingredient path
and qualified name), not from registration order, so adding a command does not shift every other seed.
numpy and torch are seeded only if the run's code imports them: an import hook seeds them on first import,
so a run that never touches numpy never pays for importing it.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.abc
import random
import sys
from collections.abc import Iterator
from typing import Any, Callable, Optional

__all__ = ["generate_seed", "get_seed", "derive_seed", "SeedStream", "create_rnd", "seed_globals",
           "set_global_seed"]

SEED_LIMIT = 10**9  # seeds are drawn from [1, SEED_LIMIT], as in Sacred


def generate_seed() -> int:
    """A fresh root seed for a run that was not given one."""
    return random.SystemRandom().randint(1, SEED_LIMIT)


def get_seed(rnd: Any = None) -> int:
    """A seed drawn from ``rnd`` (``random.Random`` or numpy ``RandomState``), or a fresh one (Sacred's
    ``randomness.get_seed``)."""
    if rnd is None:
        return generate_seed()
    return int(rnd.randint(1, SEED_LIMIT))


def derive_seed(root_seed: int, name: str) -> int:
    """A seed for ``name`` that depends only on ``root_seed`` and ``name``."""
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
    """The per-function stream that hands out a new ``_seed`` on every call."""

    def __init__(self, seed: int):
        self.seed = seed
        self._random = random.Random(seed)

    def next_seed(self) -> int:
        """The next seed of this stream."""
        return self._random.randint(1, SEED_LIMIT)


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


class _SeedingLoader(importlib.abc.Loader):
    """Wraps a module's real loader and seeds the module right after it has been executed."""

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


class _SeedOnImport(importlib.abc.MetaPathFinder):
    """Seeds numpy/torch/tensorflow when the run's code imports them for the first time."""

    def __init__(self, seed: int):
        self.seed = seed

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Optional[Any]:
        if fullname not in _SEEDED_MODULES:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _SeedingLoader(
                        spec.loader, functools.partial(_seed_module, fullname, seed=self.seed))
                return spec
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
