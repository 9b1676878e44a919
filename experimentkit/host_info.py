"""Facts about the machine a run executes on, stored with every run so results can be compared.

Gathering must be cheap (it happens at every run start) and must never fail a run: a gatherer that
raises
is skipped with a warning.  Users add their own facts with :func:`host_info_gatherer`.
"""

from __future__ import annotations

import functools
import os
import platform
import sys
import warnings
from collections.abc import Iterable
from typing import Any, Callable, Optional

from .errors import IgnoreHostInfo
from .user_cache import cache_folder, cache_path, read_cached, write_cached

__all__ = [
    "HostInfoGetter",
    "IgnoreHostInfo",
    "check_additional_host_info",
    "get_host_info",
    "host_info_gatherer",
    "host_info_gatherers",
    "host_info_getter",
    "parse_nvidia_smi_xml",
]

host_info_gatherers: dict = {}
"""Gatherers registered process-wide with the deprecated :func:`host_info_getter` (name -> function)."""

_NVIDIA_SMI_TIMEOUT = 5.0


class HostInfoGetter:
    """A named function whose return value is stored as ``host_info[name]``."""

    def __init__(self, getter_function: Callable[[], Any], name: str):
        self.getter_function = getter_function
        self.name = name

    def __call__(self) -> Any:
        return self.getter_function()

    def get_info(self) -> Any:
        """Run the gatherer."""
        return self.getter_function()

    def __repr__(self) -> str:
        return f"<HostInfoGetter {self.name}>"


def host_info_gatherer(name: str) -> Callable[[Callable[[], Any]], HostInfoGetter]:
    """Decorator: turn ``f()`` into a gatherer stored under ``name``; pass it as
    ``additional_host_info``."""

    def wrapper(function: Callable[[], Any]) -> HostInfoGetter:
        return HostInfoGetter(function, name)

    return wrapper


def host_info_getter(func: Optional[Callable[[], Any]] = None, name: Optional[str] = None) -> Any:
    """Deprecated: register ``func`` for every experiment in the process (use ``additional_host_info``).

    Works bare (``@host_info_getter``) and with a name (``@host_info_getter(name="x")``); returns the
    function unchanged.
    """
    if func is None:
        return lambda function: host_info_getter(function, name=name)
    warnings.warn(
        "The host_info_getter is deprecated. Please use the `additional_host_info` argument"
        " in the Experiment constructor.",
        DeprecationWarning,
        stacklevel=2,
    )
    host_info_gatherers[name or func.__name__] = func
    return func


# -------------------------------------------------------------------------------- default gatherers


def _cpu_from_proc() -> Optional[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    return value.strip()
    except OSError:
        pass
    return None


def _cpu_from_sysctl() -> Optional[str]:
    import subprocess

    try:
        result = subprocess.run(
            ["sysctl", "-n", "machdep.cpu.brand_string"],
            capture_output=True,
            text=True,
            timeout=2,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def _cpu(settings) -> Optional[str]:
    if not settings.HOST_INFO.INCLUDE_CPU_INFO:
        return None
    name = None
    if sys.platform.startswith("linux"):
        name = _cpu_from_proc()
    elif sys.platform == "darwin":
        name = _cpu_from_sysctl()
    return name or platform.processor() or platform.machine() or None


def _memory_total() -> Optional[int]:
    """Physical memory in bytes."""
    try:
        with open("/proc/meminfo", encoding="utf-8", errors="replace") as f:  # ascii: an import
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024  # the file says kB, meaning KiB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def parse_nvidia_smi_xml(xml: str) -> dict:
    """``nvidia-smi -q -x`` output → ``{"gpus": [{model, total_memory (MiB), persistence_mode}],
    "driver_version"}``."""
    from xml.etree import ElementTree

    info: dict = {"gpus": []}
    for child in ElementTree.fromstring(xml):
        if child.tag == "driver_version":
            info["driver_version"] = child.text
        elif child.tag == "gpu":
            total = child.findtext("fb_memory_usage/total", "")
            if not total or total == "Insufficient Permissions":  # MIG: memory is per instance
                total = child.findtext("mig_devices/mig_device/fb_memory_usage/total", "")
            try:
                memory: Optional[int] = int(total.split()[0])
            except (ValueError, IndexError):
                memory = None
            info["gpus"].append(
                {
                    "model": child.findtext("product_name"),
                    "total_memory": memory,
                    "persistence_mode": child.findtext("persistence_mode") == "Enabled",
                }
            )
    return info


def _gpus(settings) -> dict:
    if not settings.HOST_INFO.INCLUDE_GPU_INFO:
        raise IgnoreHostInfo()
    import shutil

    executable = shutil.which("nvidia-smi")
    if executable is None:
        raise IgnoreHostInfo()
    import subprocess

    try:
        result = subprocess.run(
            [executable, "-q", "-x"], capture_output=True, timeout=_NVIDIA_SMI_TIMEOUT, check=True
        )
    except (OSError, subprocess.SubprocessError) as e:
        raise IgnoreHostInfo() from e
    return parse_nvidia_smi_xml(result.stdout.decode("utf-8", "replace"))


def _uname_processor() -> Optional[str]:
    """What ``platform`` reads from ``uname -p`` (stripped, '' for a failure or ``unknown``), kept
    in the user's cache for this ``uname`` and kernel (``user_cache``; starting the process costs a
    run ~1.4 ms), else run through ``os.posix_spawnp``: ``platform`` imports ``subprocess`` for it
    (with ``signal``, ``locale`` and ``selectors``, ~14 M instructions, a fifth of a trivial run's
    start).  None where ``platform`` would not run ``uname -p`` or the process cannot be started
    this way."""
    processor = getattr(platform, "_Processor", None)
    if not hasattr(os, "posix_spawnp") or processor is None or hasattr(processor, f"get_{sys.platform}"):
        return None
    cache = _uname_cache_file()
    kept = None if cache is None else read_cached(cache)
    if isinstance(kept, str):
        return kept
    answer = _run_uname_p()
    if answer is None:  # not started (no uname, no process to spare): asked again next time
        return ""
    if cache is not None:
        write_cached(cache, answer)
    return answer


def _uname_cache_file() -> Optional[str]:
    """``uname-<digest>.json`` in the user's cache, the digest covering what ``uname -p`` could
    depend on: the kernel (``os.uname()``, the host's name included for a home shared by hosts),
    ``PATH`` and the ``uname`` found on it (path, inode, size, mtime); None when caching is off or
    there is no ``uname``."""
    if cache_folder() is None:
        return None
    import hashlib
    import shutil

    found = shutil.which("uname")
    if found is None:
        return None
    try:
        stat = os.stat(found)
    except OSError:
        return None
    parts = [*os.uname(), os.environ.get("PATH", ""), found, stat.st_ino, stat.st_size, stat.st_mtime_ns]
    return cache_path("uname", hashlib.sha1(repr(parts).encode()).hexdigest())


def _run_uname_p() -> Optional[str]:
    """``uname -p``'s answer as ``platform`` would read it, None when it could not be started."""
    read, write = os.pipe()
    try:
        pid = os.posix_spawnp(
            "uname",
            ["uname", "-p"],
            os.environ,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, write, 1),
                (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
            ],
        )
    except OSError:  # no uname (platform answers "" then too)
        os.close(read)
        return None
    finally:
        os.close(write)
    with open(read, "rb") as pipe:
        output = pipe.read()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        return ""
    text = output.decode("utf8").replace("\r\n", "\n").replace("\r", "\n").strip()
    return "" if text == "unknown" else text


def _platform() -> str:
    """``platform.platform()``, the value Sacred stores, with ``uname -p`` answered by
    ``_uname_processor`` (the cached ``processor`` of ``platform.uname()`` is set first, so
    ``platform`` formats the same text from the same parts)."""
    uname = platform.uname()
    attribute = type(uname).__dict__.get("processor")
    if isinstance(attribute, functools.cached_property) and "processor" not in vars(uname):
        processor = _uname_processor()
        if processor is not None:
            vars(uname)["processor"] = processor
    return platform.platform()


def _environment(settings) -> dict:
    return {k: os.environ[k] for k in settings.HOST_INFO.CAPTURED_ENV if k in os.environ}


_DEFAULT_GATHERERS: dict[str, Callable[[Any], Any]] = {
    "hostname": lambda settings: platform.node(),
    "os": lambda settings: [platform.system(), _platform()],
    "python_version": lambda settings: platform.python_version(),
    "cpu": _cpu,
    "cpu_count": lambda settings: os.cpu_count(),
    "memory_total": lambda settings: _memory_total(),
    "gpus": _gpus,
    "ENV": _environment,
}


def check_additional_host_info(additional_host_info: Iterable[HostInfoGetter]) -> None:
    """Raise ``KeyError`` when a user gatherer would overwrite a default key (checked when the
    experiment is built)."""
    for getter in additional_host_info:
        if getter.name in _DEFAULT_GATHERERS:
            raise KeyError(
                f"Key {getter.name} used in `additional_host_info` already exists as a "
                f"default gatherer function. Do not use the following keys: "
                f"{list(_DEFAULT_GATHERERS)}"
            )


def get_host_info(additional_host_info: Iterable[HostInfoGetter] = (), settings=None) -> dict:
    """Collect the default host facts plus the user's gatherers.

    A failing gatherer is skipped with a ``RuntimeWarning``: host info is informative and never
    worth
    losing a run over.  ``IgnoreHostInfo`` leaves the key out silently.
    """
    if settings is None:
        from .settings import SETTINGS as settings
    additional = list(additional_host_info or ())
    check_additional_host_info(additional)
    info: dict = {}
    gatherers: list[tuple[str, Callable[[], Any]]] = [
        (name, functools.partial(gather, settings)) for name, gather in _DEFAULT_GATHERERS.items()
    ]
    gatherers += list(host_info_gatherers.items())
    gatherers += [(getter.name, getter.get_info) for getter in additional]
    for name, gather in gatherers:
        try:
            info[name] = gather()
        except IgnoreHostInfo:
            continue
        except Exception as e:
            warnings.warn(
                f"host info {name!r} could not be gathered and is left out: {type(e).__name__}: {e}",
                RuntimeWarning,
                stacklevel=2,
            )
    return info
