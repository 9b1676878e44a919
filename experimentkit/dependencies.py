"""What a run's code is: its local source files (with md5 and git state) and the packages it
imports.

Found when an experiment is defined and stored with every run, so a result can be traced to the
exact code.
Package versions come from ``importlib.metadata``; git facts from plumbing calls of the git
executable, only inside a git work tree.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import Any, Callable, Optional

from .errors import (
    EnforceCleanError,
    GitUnavailableError,
    InvalidVersionError,
    SettingError,
    SourceNotFoundError,
)

__all__ = [
    "DEPENDENCY_STRATEGIES",
    "SOURCE_STRATEGIES",
    "EnforceCleanError",
    "GitUnavailableError",
    "InvalidVersionError",
    "PackageDependency",
    "Source",
    "SourceNotFoundError",
    "dependencies_json",
    "distribution_names",
    "enforce_clean",
    "forget_distributions",
    "gather_sources_and_dependencies",
    "get_digest",
    "get_git_info",
    "is_local_source",
    "is_valid_version",
    "prepare_discovery",
    "repositories_json",
    "sources_json",
]

SOURCE_STRATEGIES = ("none", "imported", "sys", "dir")
DEPENDENCY_STRATEGIES = ("none", "imported", "sys", "pkg")

_MB = 1024 * 1024
GitInfo = tuple[str, Optional[str], bool]


# -------------------------------------------------------------------------------------------- files


def get_digest(path: str) -> str:
    """MD5 hex digest of a file, read in 1 MB chunks (the digest Sacred stores for sources)."""
    import hashlib

    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_MB), b""):
            digest.update(block)
    return digest.hexdigest()


def _source_file(path: str) -> str:
    """Prefer ``x.py`` over its compiled ``x.pyc`` when both exist."""
    if path.endswith(".pyc") and os.path.exists(path[:-1]):
        return path[:-1]
    return path


# ---------------------------------------------------------------------------------------------- git


def get_git_info(path: str) -> Optional[GitInfo]:
    """``(url, commit, dirty)`` of the git repository containing ``path`` (a file or directory),
    else None.

    ``url`` is the first remote's url (``origin`` preferred), or ``"git:/" + working dir`` without
    remotes; ``commit`` is None in a repository without commits; ``dirty``: tracked files differ
    from HEAD (staged or not; untracked files do not count).  Read with four plumbing calls of
    the git executable, run at the same time (~10 ms), instead of importing GitPython (~0.5 s).
    """
    directory = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    if not _inside_git_work_tree(directory):
        return None  # no subprocess at all outside any repository
    top, remotes, head, status = _git_all(
        directory,
        ("rev-parse", "--show-toplevel"),
        ("config", "--get-regexp", r"^remote\..*\.url$"),
        ("rev-parse", "--verify", "--quiet", "HEAD^{commit}"),
        ("status", "--porcelain", "--untracked-files=no"),
    )
    if top is None:
        return None  # e.g. inside .git, or not a work tree after all
    top = top.strip()
    urls = []
    for line in (remotes or "").splitlines():
        key, _, url = line.partition(" ")
        urls.append((key[len("remote.") : -len(".url")] != "origin", url))
    url = min(urls, key=lambda item: item[0])[1] if urls else "git:/" + os.path.realpath(top)
    commit = head.strip() if head else None
    return url, commit, bool(status and status.strip())


def _git_all(directory: str, *commands: tuple[str, ...]) -> list[Optional[str]]:
    """Outputs of ``git -C directory cmd...`` for each command, None where git says no (exit
    status != 0).  The commands run at the same time: a run start waits for the slowest, not the
    sum."""
    import subprocess

    env = dict(os.environ, LC_ALL="C")
    try:
        started = [
            subprocess.Popen(
                ["git", "-C", directory, *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                errors="replace",
                env=env,
            )
            for args in commands
        ]
    except OSError as e:
        raise GitUnavailableError(
            f"Cannot run the git executable ({e}); install git, or disable git info with "
            f"Experiment(..., save_git_info=False)"
        ) from e
    outputs: list[Optional[str]] = []
    for process in started:
        out, _ = process.communicate()
        outputs.append(out if process.returncode == 0 else None)
    return outputs


def _inside_git_work_tree(directory: str) -> bool:
    """Whether ``directory`` or a parent holds ``.git`` (a directory, or a file for worktrees)."""
    current = os.path.abspath(directory)
    while True:
        if os.path.exists(os.path.join(current, ".git")):
            return True
        parent = os.path.dirname(current)
        if parent == current:
            return bool(os.environ.get("GIT_DIR"))
        current = parent


class _GitLookup:
    """Looks up git info once per directory: a repository with many sources costs one ``git
    diff``."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._by_dir: dict[str, Optional[GitInfo]] = {}

    def __call__(self, filename: str) -> Optional[GitInfo]:
        if not self.enabled:
            return None
        directory = os.path.dirname(filename)
        if directory not in self._by_dir:
            self._by_dir[directory] = get_git_info(directory)
        return self._by_dir[directory]


def enforce_clean(repositories: Iterable[dict]) -> None:
    """Raise :class:`EnforceCleanError` unless there is a repository and none has uncommitted
    changes."""
    repositories = list(repositories)
    if not repositories:
        raise EnforceCleanError(
            "No version control detected. Cannot enforce a clean repository (--enforce_clean). "
            "Make sure your sources are in a git repository and the git executable is installed."
        )
    for repo in repositories:
        if repo.get("dirty"):
            raise EnforceCleanError(
                f'EnforceClean: Uncommited changes in the "{repo.get("url")}" repository.'
            )


# ------------------------------------------------------------------------------------------ sources


@functools.total_ordering
class Source:
    """A local source file of the experiment: real path, md5 and the git state of its repository."""

    def __init__(
        self,
        filename: str,
        digest: str,
        repo: Optional[str] = None,
        commit: Optional[str] = None,
        is_dirty: Optional[bool] = None,
    ):
        self.filename = os.path.realpath(filename)
        self.digest = digest
        self.repo = repo
        self.commit = commit
        self.is_dirty = is_dirty

    @staticmethod
    def create(filename: str, save_git_info: bool = True) -> Source:
        """Hash ``filename`` and look up its repository (when ``save_git_info``)."""
        return _make_source(filename, _GitLookup(save_git_info))

    def to_json(self, base_dir: Optional[str] = None) -> tuple[str, str]:
        """``(path relative to base_dir, md5)``; the absolute path when no base_dir is given."""
        if base_dir:
            return os.path.relpath(self.filename, os.path.realpath(base_dir)), self.digest
        return self.filename, self.digest

    def __hash__(self) -> int:
        return hash(self.filename)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Source):
            return self.filename == other.filename
        if isinstance(other, str):
            return self.filename == other
        return NotImplemented

    def __lt__(self, other: Source) -> bool:
        return self.filename < other.filename

    def __repr__(self) -> str:
        return f"<Source: {self.filename}>"


def _make_source(filename: str, git_lookup: _GitLookup) -> Source:
    if not filename or not os.path.isfile(filename):
        raise SourceNotFoundError(f'invalid filename or file not found "{filename}"')
    path = os.path.realpath(_source_file(os.path.abspath(filename)))
    info = git_lookup(path)
    repo, commit, dirty = info if info is not None else (None, None, None)
    return Source(path, get_digest(path), repo, commit, dirty)


# ----------------------------------------------------------------------------------------- packages

# PEP 440 in its permissive form (what pip accepts): v1.0, 1.0-beta.2, 1!2.0.post1.dev3+local.7
_PEP440 = r"""
    v?
    (?:[0-9]+!)?                                                 # epoch
    [0-9]+(?:\.[0-9]+)*                                          # release
    (?:[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview)[-_.]?[0-9]*)?   # pre-release
    (?:-[0-9]+|[-_.]?(?:post|rev|r)[-_.]?[0-9]*)?                # post-release
    (?:[-_.]?dev[-_.]?[0-9]*)?                                   # development release
    (?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?                          # local version
"""


def is_valid_version(version: str) -> bool:
    """True when ``version`` is a PEP 440 version string."""
    if not isinstance(version, str):
        return False
    return re.fullmatch(_PEP440, version.strip(), re.VERBOSE | re.IGNORECASE) is not None


@functools.total_ordering
class PackageDependency:
    """An installed package the experiment uses, stored as ``"name==version"``."""

    def __init__(self, name: str, version: Optional[str]):
        self.name = name
        self.version = version

    @classmethod
    def create(cls, name: str, version: str) -> PackageDependency:
        """A dependency declared by the user; the version must be PEP 440."""
        if not is_valid_version(version):
            raise InvalidVersionError(f'Invalid Version: "{version}"')
        return cls(name, version)

    def to_json(self) -> str:
        return f"{self.name}=={self.version or '<unknown>'}"

    def __hash__(self) -> int:
        return hash(self.name)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PackageDependency):
            return self.name == other.name
        return NotImplemented

    def __lt__(self, other: PackageDependency) -> bool:
        return self.name.lower() < other.name.lower()

    def __repr__(self) -> str:
        return f"<PackageDependency: {self.name}={self.version}>"


# First path component of RECORD lines naming a package directory or a top-level module file.
_RECORD_TOP_LEVEL = r"^([A-Za-z_][A-Za-z0-9_]*)(?:/|(?:\.[^/,\n]*)?\.(?:py|so|pyd),)"


def _dists_in(root: Optional[str]) -> list:
    """Installed distributions whose files live in directory ``root`` (all of them when None)."""
    from importlib import metadata

    dists = list(metadata.distributions())
    if root is None:
        return dists
    real_dirs: dict[str, str] = {}
    for dist in dists:
        where = str(dist.locate_file(""))
        if where not in real_dirs:
            real_dirs[where] = os.path.realpath(where)
    return [dist for dist in dists if real_dirs[str(dist.locate_file(""))] == root]


@functools.cache
def _top_level_index(root: Optional[str], from_records: bool) -> dict[str, list]:
    """Import name → distributions in ``root`` providing it, from ``top_level.txt`` or from RECORD.

    ``importlib.metadata.packages_distributions()`` builds the same map but turns every RECORD line
    into a path object (240 ms for 150 packages here); the small ``top_level.txt`` files answer most
    names, and a regex over the raw RECORD text finds the rest.  Built once per directory and
    process, and only for import names that are not distribution names themselves (yaml, sklearn).
    """
    index: dict[str, list] = {}
    for dist in _dists_in(root):
        listed = dist.read_text("top_level.txt")
        if from_records and listed is None:
            names = set(re.findall(_RECORD_TOP_LEVEL, dist.read_text("RECORD") or "", re.M))
        elif not from_records and listed is not None:
            names = set(listed.split())
        else:
            continue
        for name in names:
            if name.isidentifier() and not name.startswith("__"):
                index.setdefault(name, []).append(dist)
    return index


def _install_root(module: Optional[ModuleType]) -> Optional[str]:
    """The directory holding a top-level module or package (its sys.path entry), if any."""
    filename = _module_file(module) if module is not None else None
    return None if filename is None else _root_of(filename)


@functools.cache
def _root_of(filename: str) -> str:
    """``_install_root`` of a module file, once per process (a loaded module's file stays put)."""
    root = os.path.dirname(os.path.realpath(filename))
    if os.path.basename(filename).split(".", 1)[0] == "__init__":
        root = os.path.dirname(root)
    return root


def _normalized(name: str) -> str:
    """A distribution name as ``*.dist-info`` directory names spell it (PEP 503, with ``_``): runs
    of ``-``, ``_`` and ``.`` become one ``_`` (string methods: ~200 names per run start)."""
    key = name.lower().replace("-", "_").replace(".", "_")
    while "__" in key:
        key = key.replace("__", "_")
    return key


@functools.cache
def distribution_names(entry: str) -> Optional[tuple[str, ...]]:
    """The sorted ``*.dist-info``/``*.egg-info`` names in one sys.path entry (None when it cannot
    be listed: a zip, a missing directory), listed once per process for the dependency versions and
    the plugin cache key alike (``clear_plugin_cache`` forgets them)."""
    try:
        names = os.listdir(entry or ".")
    except OSError:
        return None
    return tuple(sorted(name for name in names if name.endswith((".dist-info", ".egg-info"))))


@functools.cache
def _dist_info_dirs(entry: str) -> dict[str, str]:
    """Normalized distribution name → its ``*.dist-info``/``*.egg-info`` directory name in one
    sys.path directory (first one listed wins, as in ``importlib.metadata``)."""
    found: dict[str, str] = {}
    for name in distribution_names(entry) or ():
        found.setdefault(_normalized(name.rsplit(".", 1)[0].split("-", 1)[0]), name)
    return found


def forget_distributions() -> None:
    """Forget what was listed and read of the installed distributions (after installing or
    removing one in a running process)."""
    distribution_names.cache_clear()
    _dist_info_dirs.cache_clear()
    _installed_versions.cache_clear()
    _root_of.cache_clear()
    _is_local_module.cache_clear()


def _dist_info_version(name: str) -> Optional[tuple[str, str]]:
    """(Name, Version) from the first ``*.dist-info/METADATA`` for distribution ``name`` on
    sys.path, read directly: importing ``importlib.metadata`` (and ``email``) costs ~20 ms of every
    run's start.  None whenever the answer might differ from ``importlib.metadata.distribution``
    (an egg-info, a finder with its own distributions, a zip entry, unreadable metadata)."""
    from importlib.machinery import PathFinder

    if any(f is not PathFinder and hasattr(f, "find_distributions") for f in sys.meta_path):
        return None
    key = _normalized(name)
    for entry in sys.path:
        if entry and not os.path.isdir(entry):
            if os.path.exists(entry):
                return None  # a zip or egg file: leave it to importlib.metadata
            continue
        found = _dist_info_dirs(entry).get(key)
        if found is None:
            continue
        if not found.endswith(".dist-info"):
            return None
        where = os.path.join(entry, found)
        fields: dict[str, str] = {}
        try:
            with open(os.path.join(where, "METADATA"), encoding="utf-8") as f:
                for line in f:
                    if not line.strip():
                        break
                    header, sep, value = line.partition(":")
                    if sep and header in ("Name", "Version"):
                        fields.setdefault(header, value.strip())
        except (OSError, UnicodeDecodeError):
            return None
        if not fields.get("Name") or not fields.get("Version"):
            return None
        return fields["Name"], fields["Version"]
    return None


@functools.cache
def _installed_versions(top_level: str, root: Optional[str]) -> tuple[tuple[str, str], ...]:
    """(distribution name, version) pairs providing import name ``top_level`` from ``root``."""
    direct = _dist_info_version(top_level)
    if direct is not None:
        return (direct,)
    from importlib import metadata

    try:
        dists = [metadata.distribution(top_level)]
    except (metadata.PackageNotFoundError, ValueError):
        dists = _top_level_index(root, False).get(top_level) or _top_level_index(root, True).get(
            top_level, []
        )
    found: dict[str, str] = {}
    for dist in dists:
        fields = dist.metadata  # parsed on every access: read it once
        name, version = fields["Name"], fields["Version"]
        if name and version:
            found.setdefault(name, version)
    return tuple(found.items())


def _dependencies_of(module_name: str, module: Optional[ModuleType]) -> list[PackageDependency]:
    versions = _installed_versions(module_name, _install_root(module))
    if versions:
        return [PackageDependency(name, version) for name, version in versions]
    version = getattr(module, "__version__", None)
    if isinstance(version, str) and version:  # on sys.path but not installed as a package
        return [PackageDependency(module_name, version)]
    return []


_STDLIB = frozenset(getattr(sys, "stdlib_module_names", ())) | frozenset(sys.builtin_module_names)


# --------------------------------------------------------------------------------- module discovery


def _module_parts(relative_path: str) -> list[str]:
    parts = relative_path.replace(os.sep, "/").split("/")
    if parts[-1].split(".", 1)[0] == "__init__":
        return parts[:-1]
    parts[-1] = parts[-1].split(".", 1)[0]  # x.py, x.pyc, x.cpython-311-x86_64-linux-gnu.so
    return parts


def is_local_source(filename: str, modname: str, base_dir: str) -> bool:
    """True when module ``modname`` was loaded from ``filename`` inside ``base_dir`` at the
    matching path.

    ``pkg.mod`` must be ``base_dir/pkg/mod.py`` (or ``.../mod/__init__.py``).  When base_dir lies
    inside the
    package (the script is run from within it), the module path only has to end like the file path.
    """
    path = os.path.realpath(filename)
    base = os.path.realpath(base_dir)
    if os.path.commonpath([path, base]) != base or path == base:
        return False
    path_parts = _module_parts(os.path.relpath(path, base))
    mod_parts = modname.split(".")
    if path_parts == mod_parts:
        return True
    if len(path_parts) > len(mod_parts):
        return False
    absolute_parts = _module_parts(path.lstrip(os.sep))
    return absolute_parts[-len(mod_parts) :] == mod_parts


@functools.cache
def _is_local_module(filename: str, modname: str, base_dir: str) -> bool:
    """``is_local_source``, answered once per process: its two ``realpath`` calls (an ``lstat`` per
    path component) were most of a run's source discovery, and a loaded module's file stays put."""
    return is_local_source(filename, modname, base_dir)


def _modules_in_globals(globs: dict) -> Iterator[tuple[str, ModuleType]]:
    """Modules referred to by the globals (modules, or objects defined in one), with all parent
    packages."""
    seen: set[str] = set()
    for value in list(globs.values()):
        dotted: Any
        if isinstance(value, ModuleType):
            dotted = value.__name__
        else:
            try:
                dotted = getattr(value, "__module__", None)
            except Exception:  # proxies may raise anything from attribute access
                continue
        if not isinstance(dotted, str) or not dotted:
            continue
        parts = dotted.split(".")
        for i in range(1, len(parts) + 1):
            name = ".".join(parts[:i])
            if name in seen:
                continue
            seen.add(name)
            module = sys.modules.get(name)
            if module is not None:
                yield name, module


def _all_modules(globs: dict) -> Iterator[tuple[str, ModuleType]]:
    for name, module in list(sys.modules.items()):
        if module is not None:
            yield name, module


def _module_file(module: ModuleType) -> Optional[str]:
    filename = getattr(module, "__file__", None)
    return os.path.abspath(filename) if isinstance(filename, str) and filename else None


def _local_module_files(modules: Iterable[tuple[str, ModuleType]], base_dir: str) -> list[str]:
    """The files of the modules that are local sources below ``base_dir``."""
    found = []
    for name, module in modules:
        filename = _module_file(module)
        if filename and _is_local_module(filename, name, base_dir) and os.path.isfile(filename):
            found.append(filename)
    return found


def _python_files(base_dir: str) -> Iterator[str]:
    """Every ``.py`` file below base_dir, skipping hidden directories (.git, .venv) and caches."""
    for directory, subdirs, files in os.walk(base_dir):
        subdirs[:] = [d for d in subdirs if not d.startswith(".") and d != "__pycache__"]
        for name in files:
            if name.endswith(".py"):
                yield os.path.join(directory, name)


def _dependencies_from_modules(
    modules: Iterable[tuple[str, ModuleType]], base_dir: str
) -> set[PackageDependency]:
    dependencies: set[PackageDependency] = set()
    for name, module in modules:
        if "." in name or name.startswith("_") or name in _STDLIB:
            continue
        filename = _module_file(module)
        if filename and _is_local_module(filename, name, base_dir):
            continue
        dependencies.update(_dependencies_of(name, module))
    return dependencies


def _all_installed() -> set[PackageDependency]:
    from importlib import metadata

    found: dict[str, PackageDependency] = {}
    for dist in metadata.distributions():  # the first one on sys.path wins, as for imports
        fields = dist.metadata
        name, version = fields["Name"], fields["Version"]
        if name and version:
            key = re.sub(r"[-_.]+", "-", name).lower()
            found.setdefault(key, PackageDependency(name, version))
    return set(found.values())


def _check_strategy(setting: str, value: str, options: tuple[str, ...]) -> None:
    if value not in options:
        raise SettingError(f"Unknown {setting} strategy {value!r}. Available options are {sorted(options)}")


_MODULE_ITERATORS: dict[str, Callable[[dict], Iterable[tuple[str, ModuleType]]]] = {
    "imported": _modules_in_globals,
    "sys": _all_modules,
}


def gather_sources_and_dependencies(
    globs: dict,
    base_dir: Optional[str],
    save_git_info: bool,
    settings: Any = None,
) -> tuple[Optional[str], set[Source], set[PackageDependency]]:
    """Find the main file, the local sources and the package dependencies of the module with
    ``globs``.

    ``settings.DISCOVER_SOURCES`` / ``DISCOVER_DEPENDENCIES`` choose what is scanned: the modules
    the
    globals refer to (``imported``), all of ``sys.modules`` (``sys``), every ``.py`` below base_dir
    (``dir``), all installed distributions (``pkg``), or nothing (``none``).  numpy is always
    listed when
    it is imported, because it may drive the run's randomness.  Returns (real path of the main file
    or
    None, sources, dependencies); the main file is also one of the sources.
    """
    if settings is None:
        from .settings import SETTINGS as settings
    source_strategy = settings.DISCOVER_SOURCES
    dependency_strategy = settings.DISCOVER_DEPENDENCIES
    _check_strategy("DISCOVER_SOURCES", source_strategy, SOURCE_STRATEGIES)
    _check_strategy("DISCOVER_DEPENDENCIES", dependency_strategy, DEPENDENCY_STRATEGIES)

    git_lookup = _GitLookup(save_git_info)
    main_file = globs.get("__file__")
    main = _make_source(main_file, git_lookup) if main_file is not None else None
    if base_dir is None:
        base_dir = os.path.dirname(main.filename) if main is not None else os.getcwd()

    sources: set[Source] = set()
    if source_strategy in _MODULE_ITERATORS:
        modules = _MODULE_ITERATORS[source_strategy](globs)
        sources = {_make_source(path, git_lookup) for path in _local_module_files(modules, base_dir)}
    elif source_strategy == "dir":
        sources = {_make_source(path, git_lookup) for path in _python_files(base_dir)}
    if main is not None:
        sources.discard(main)
        sources.add(main)

    dependencies: set[PackageDependency] = set()
    if dependency_strategy in _MODULE_ITERATORS:
        dependencies = _dependencies_from_modules(_MODULE_ITERATORS[dependency_strategy](globs), base_dir)
    elif dependency_strategy == "pkg":
        dependencies = _all_installed()
    if "numpy" in sys.modules:
        dependencies.update(_dependencies_of("numpy", sys.modules["numpy"]))
    return (main.filename if main is not None else None), sources, dependencies


def prepare_discovery(globs: dict, base_dir: str, settings: Any) -> None:
    """Answer, when an experiment or ingredient is defined (where Sacred gathers its sources),
    which of the modules ``globs`` refers to are local sources and which installed packages (and
    versions) the others are.  The run's own ``gather_sources_and_dependencies`` reuses those
    answers and still hashes the sources, asks git and sees modules imported since; nothing is
    stored here, and a strategy that is not (yet) valid is left to the run to report."""
    source_strategy = settings.DISCOVER_SOURCES
    if source_strategy in _MODULE_ITERATORS:
        _local_module_files(_MODULE_ITERATORS[source_strategy](globs), base_dir)
    dependency_strategy = settings.DISCOVER_DEPENDENCIES
    if dependency_strategy in _MODULE_ITERATORS:
        _dependencies_from_modules(_MODULE_ITERATORS[dependency_strategy](globs), base_dir)
    if "numpy" in sys.modules:
        _dependencies_of("numpy", sys.modules["numpy"])


# ---------------------------------------------------------------------------- experiment_info parts


def sources_json(sources: Iterable[Source], base_dir: Optional[str]) -> list[tuple[str, str]]:
    """``experiment_info["sources"]``: ``(relative path, md5)`` sorted by path."""
    return [source.to_json(base_dir) for source in sorted(sources)]


def dependencies_json(dependencies: Iterable[PackageDependency]) -> list[str]:
    """``experiment_info["dependencies"]``: ``"name==version"`` sorted case-insensitively."""
    return [dependency.to_json() for dependency in sorted(dependencies)]


def repositories_json(sources: Iterable[Source]) -> list[dict]:
    """``experiment_info["repositories"]``: one ``{url, commit, dirty}`` per distinct repository
    state."""
    seen = {(s.repo, s.commit, s.is_dirty) for s in sources if s.repo is not None}
    return [
        {"url": url, "commit": commit, "dirty": dirty}
        for url, commit, dirty in sorted(seen, key=lambda r: (r[0], r[1] or "", bool(r[2])))
    ]
