"""``experimentkit rerun RUN``: run a recorded run's script again with the same configuration.

The new process gets the recorded command, named configs, config updates and seed, the observer
options it was started with, ``-c "rerun of <id>"``, and the environment variable
``EXPERIMENTKIT_RERUN_OF=<id>``, which the core records as ``meta.rerun_of``.  Before starting it
warns about anything that makes the rerun differ from the record: changed source files, another
git commit, other package versions.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

from ..dependencies import get_digest
from ..errors import UsageError
from .output import flatten

__all__ = ["rerun", "rerun_command", "reproducibility_warnings", "RERUN_ENV"]

RERUN_ENV = "EXPERIMENTKIT_RERUN_OF"
_MD5 = re.compile(r"[0-9a-f]{32}")
# options of the recorded command line that shape where and how the run is recorded
_VALUE_OPTIONS = (
    "--file_storage",
    "--mongo_db",
    "--sql",
    "--name",
    "--capture",
    "--beat-interval",
    "--loglevel",
)
_FLAG_OPTIONS = ("--force", "--enforce_clean")


def _script(record: Any) -> Path:
    ex = record.experiment
    if not ex.get("mainfile"):
        raise UsageError(f"run {record.id} did not record its script (experiment.mainfile)")
    return Path(ex.get("base_dir") or ".") / ex["mainfile"]


_SQL_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mariadb")


def _store_option(store_target: str) -> Optional[tuple]:
    """The observer option that records into the store ``store_target``, or None for stores no
    built-in observer writes (plugins, test fixtures)."""
    if "://" not in store_target:
        return "--file_storage", os.path.abspath(store_target)
    scheme = store_target.split("://", 1)[0].split("+", 1)[0].lower()
    if scheme in ("mongodb",):
        return "--mongo_db", store_target
    if (
        scheme == "sqlite"
        and store_target.startswith("sqlite:///")
        and not store_target.startswith("sqlite:////")
    ):
        return "--sql", "sqlite:///" + os.path.abspath(store_target[len("sqlite:///") :])
    return ("--sql", store_target) if scheme in _SQL_SCHEMES else None


#: Where ``rerun`` takes the password of a recorded database URL from (URLs are stored without it).
PASSWORD_ENV = "EXPERIMENTKIT_DB_PASSWORD"
_USER_NO_PASSWORD = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/?#@\s]+)(?::\*\*\*)?@")


def _with_password(url: Any, ask: bool) -> Any:
    """A recorded URL with a user but no password (stored without it) gets the password from
    $EXPERIMENTKIT_DB_PASSWORD, else from a prompt (``ask`` and a terminal); else it is left as it
    is, for the driver's own ways (PGPASSWORD, ~/.pgpass ...)."""
    if not isinstance(url, str):
        return url
    match = _USER_NO_PASSWORD.match(url)
    if match is None:
        return url
    password = os.environ.get(PASSWORD_ENV)
    if password is None and ask and sys.stdin.isatty():
        import getpass

        password = getpass.getpass(f"Password for {match.group('head')}@... (empty: none): ")
    if not password:
        return url[: match.start()] + match.group("head") + "@" + url[match.end() :]
    from urllib.parse import quote

    return f"{match.group('head')}:{quote(password, safe='')}@{url[match.end() :]}"


def rerun_command(
    record: Any, python: str = sys.executable, store_target: Any = None, ask_password: bool = False
) -> list:
    """The argv that reruns ``record``; with ``store_target`` the new run goes to that store (by an
    absolute path, so the rerun does not depend on the working directory) instead of the recorded one
    of the same kind."""
    meta = record.meta or {}
    updates = flatten(meta.get("config_updates") or {})
    if "seed" in record.config:
        updates["seed"] = record.config["seed"]
    argv = [python, str(_script(record)), record.command or meta.get("command") or "main"]
    named = list(meta.get("named_configs") or [])
    if named or updates:
        argv += ["with", *named, *[f"{key}={value!r}" for key, value in updates.items()]]
    options = dict(meta.get("options") or {})
    replacement = _store_option(str(store_target)) if store_target else None
    if replacement is not None:
        options[replacement[0]] = replacement[1]
    for option in _VALUE_OPTIONS:
        if options.get(option) not in (None, False, ""):
            value = options[option]
            if option in ("--sql", "--mongo_db"):
                value = _with_password(value, ask=ask_password)
            argv += [f"{option}={value}"]
    argv += [flag for flag in _FLAG_OPTIONS if options.get(flag) is True]
    return argv + [f"--comment=rerun of {record.id}"]


def reproducibility_warnings(record: Any) -> list:
    """What differs between the record and what would run now (one sentence each)."""
    from importlib import metadata

    ex = record.experiment
    base = Path(ex.get("base_dir") or ".")
    warnings = []
    for source in ex.get("sources") or []:
        relpath, stored = source[0], str(source[1])
        found = _MD5.search(stored)
        path = base / relpath
        if not path.is_file():
            warnings.append(f"source {relpath} is missing")
        elif found and get_digest(str(path)) != found.group(0):
            warnings.append(f"source {relpath} changed since the run")
    for dependency in ex.get("dependencies") or []:
        name, _, version = str(dependency).partition("==")
        try:
            current = metadata.version(name)
        except metadata.PackageNotFoundError:
            warnings.append(f"package {name} is not installed (the run used {version})")
            continue
        if version and current != version:
            warnings.append(f"package {name} is {current}, the run used {version}")
    for repo in ex.get("repositories") or []:
        try:
            head = subprocess.run(
                ["git", "-C", str(base), "rev-parse", "HEAD"], text=True, capture_output=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            head = ""
        if head and repo.get("commit") and head != repo["commit"]:
            warnings.append(f"git commit is {head[:10]}, the run used {repo['commit'][:10]}")
        if repo.get("dirty"):
            warnings.append(
                "the run was made from a dirty working tree; uncommitted changes may not be reproduced"
            )
    return warnings


def rerun(record: Any, python: str = sys.executable, dry_run: bool = False, store_target: Any = None) -> int:
    """Warn, then run the script (or print the command); returns its exit status."""
    argv = rerun_command(record, python, store_target, ask_password=not dry_run)
    if not Path(argv[1]).is_file():
        raise UsageError(f"the script of run {record.id} is gone: {argv[1]}")
    for warning in reproducibility_warnings(record):
        print(f"experimentkit: warning: {warning}", file=sys.stderr)
    if dry_run:
        from ..redact import redact_text

        print(shlex.join(redact_text(arg) for arg in argv))
        return 0
    env = dict(os.environ, **{RERUN_ENV: str(record.id)})
    return subprocess.run(argv, env=env).returncode
