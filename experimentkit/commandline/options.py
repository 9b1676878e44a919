"""Command-line options (flags) of an experiment script, with Sacred 0.8's spellings.

An option is a small public object (:class:`CLIOption`) that knows its flags and how to change a
freshly built run before it starts; ``@cli_option`` only builds one.  Values are checked by the same
converters before any run exists (:func:`validate_options`) and again when applied, so a bad value
such as ``-C foo`` is a one-line usage error and never a half-started run.
"""

from __future__ import annotations

import inspect
import logging
import os
import re
from typing import Any, Callable, Optional

from ..errors import UsageError, suggest

__all__ = [
    "CLIOption",
    "CommandLineOption",
    "convert_camel_case_to_snake_case",
    "get_inheritors",
    "cli_option",
    "default_options",
    "gather_options",
    "apply_options",
    "validate_options",
    "default_option_values",
    "parse_mongo_db_arg",
    "parse_loglevel",
    "parse_sql_url",
    "parse_file_storage",
    "parse_beat_interval",
    "parse_capture_mode",
    "parse_priority",
    "CAPTURE_MODES",
]

CLIFunction = Callable[[Any, Any], None]

_SHORT_FLAG = re.compile(r"-\w$")
_LONG_FLAG = re.compile(r"--[\w-]+\w$")

CAPTURE_MODES = ("fd", "no", "sys")


class CLIOption:
    """One flag pair (``-F``/``--file_storage``) and the function that applies its value to a run.

    ``apply_function(value, run)`` receives ``True`` for a flag, else the string given on the
    command line.
    """

    def __init__(self, apply_function: CLIFunction, short_flag: str, long_flag: str, is_flag: bool):
        if not _SHORT_FLAG.match(short_flag or ""):
            raise ValueError(f"Short flag malformed: {short_flag!r}. A correct short flag looks like `-j`.")
        if not _LONG_FLAG.match(long_flag or ""):
            raise ValueError(
                f"Long flag malformed: {long_flag!r}. A correct long flag looks like `--my-pretty-flag`."
            )
        self.apply_function = apply_function
        self.short_flag = short_flag
        self.long_flag = long_flag
        self.is_flag = is_flag
        self.arg: Optional[str] = None if is_flag else "VALUE"
        self.arg_description: Optional[str] = None if is_flag else ""
        self.origin: Optional[str] = None  # where a plugin option came from (its entry point)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.apply_function(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<CLIOption {self.short_flag} {self.long_flag}>"

    # Sacred's accessor names, kept because option code written for Sacred calls them.
    def get_flag(self) -> str:
        """The long flag, which is also the key of this option in the options dict."""
        return self.long_flag

    def get_short_flag(self) -> str:
        """The short flag."""
        return self.short_flag

    def get_flags(self) -> tuple:
        """``(short_flag, long_flag)``."""
        return self.short_flag, self.long_flag

    def apply(self, args: Any, run: Any) -> Any:
        """Change ``run`` according to the option's value ``args``."""
        return self.apply_function(args, run)

    def get_name(self) -> str:
        """The sort key of the option in ``--help`` (the apply function's name)."""
        fallback = self.long_flag.lstrip("-").replace("-", "_")
        return getattr(self.apply_function, "__name__", fallback)

    def get_description(self) -> str:
        """The help text: the apply function's docstring."""
        return inspect.getdoc(self.apply_function) or ""


def cli_option(short_flag: str, long_flag: str, is_flag: bool = False) -> Callable[[CLIFunction], CLIOption]:
    """Decorator that turns ``f(value, run)`` into a :class:`CLIOption` (Sacred's
    ``cli_option``)."""

    def wrapper(function: CLIFunction) -> CLIOption:
        return CLIOption(function, short_flag, long_flag, is_flag)

    return wrapper


def convert_camel_case_to_snake_case(name: str) -> str:
    """``getHTTPResponseCode`` -> ``get_http_response_code`` (option flags from class names)."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])|(?<=[A-Z])([A-Z])(?=[a-z])", r"_\1\2", name).lower()


def get_inheritors(cls: type) -> set[type]:
    """Every direct and indirect subclass of ``cls`` (Sacred found its option classes this way)."""
    found: set[type] = set()
    pending: list[type] = [cls]
    while pending:
        subclasses: list[type] = pending.pop().__subclasses__()
        for sub in subclasses:
            if sub not in found:
                found.add(sub)
                pending.append(sub)
    return found


class CommandLineOption:
    """Sacred's older way to define an option: subclass it and override ``apply(cls, args, run)``.

    The long flag comes from the class name (``MyFancyOption`` -> ``--my_fancy``), the short flag from
    ``short_flag`` or the long flag's first letter; ``arg`` names the value (``None`` for a plain flag)
    and the class docstring is the help text.  Prefer :func:`cli_option`.
    """

    short_flag: Optional[str] = None
    arg: Optional[str] = None
    arg_description: Optional[str] = None

    @classmethod
    def get_flag(cls) -> str:
        """``--`` + the class name without ``Option``, in snake_case."""
        name = cls.__name__[:-6] if cls.__name__.endswith("Option") else cls.__name__
        return "--" + convert_camel_case_to_snake_case(name)

    @classmethod
    def get_short_flag(cls) -> str:
        """``-`` + ``short_flag``, or the long flag's first letter."""
        return "-" + (cls.short_flag or cls.get_flag()[2])

    @classmethod
    def get_flags(cls) -> tuple:
        """``(short_flag, long_flag)``."""
        return cls.get_short_flag(), cls.get_flag()

    @classmethod
    def apply(cls, args: Any, run: Any) -> None:
        """Change ``run`` according to the option's value ``args`` (override this)."""


# ---- value converters (shared by validation and application) -------------------------------------


def parse_beat_interval(value: str) -> float:
    """Seconds between heartbeats: a positive number."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"--beat-interval must be a number of seconds, not {value!r}") from None
    if not 0 < seconds < float("inf"):
        raise UsageError(f"--beat-interval must be a positive number of seconds, not {value!r}")
    return seconds


def parse_capture_mode(value: str) -> str:
    """One of ``fd``, ``sys``, ``no``."""
    if value not in CAPTURE_MODES:
        raise UsageError(
            f"Unknown capture mode {value!r}{suggest(value, CAPTURE_MODES)}. "
            f"Available options are: {', '.join(CAPTURE_MODES)}"
        )
    return value


_LEVEL_NAMES = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def parse_loglevel(value: Any) -> int:
    """A logging level given as a number (``0``-``50``) or a name (``DEBUG`` ... ``CRITICAL``, any
    case)."""
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        pass
    level = logging.getLevelName(text.upper())
    if isinstance(level, int):
        return level
    raise UsageError(
        f"Unknown log level {text!r}{suggest(text.upper(), _LEVEL_NAMES)}. "
        f"Use a number (0-50) or one of {', '.join(_LEVEL_NAMES)}"
    )


def parse_priority(value: str) -> float:
    """A queue priority: any number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        raise UsageError(f"The PRIORITY argument must be a number! (but was {value!r})") from None


_NAME = r"[_A-Za-z][0-9A-Za-z#%&'()+\-;=@\[\]^_{}]{0,63}"
_LABEL = r"[0-9A-Za-z](?:[0-9A-Za-z-]{0,61}[0-9A-Za-z])?"
_HOST = rf"{_LABEL}(?:\.{_LABEL})*"
# Patterns compiled on first use (by ``re``'s cache): compiling them at import, with their large
# character classes, was ~5 ms of every run's start, and only ``-m`` needs them.
_HOST_ONLY = rf"(?P<host>{_HOST}):(?P<port>\d{{1,5}})$"
_MONGO_SPEC = (
    rf"(?:(?P<host>{_HOST}):(?P<port>\d{{1,5}}):)?(?P<db_name>{_NAME})"
    rf"(?:\.(?P<collection>{_NAME})(?::(?P<overwrite>\d{{1,12}}))?)?(?:!(?P<priority>-?\d+))?$"
)
_MONGO_URL = r"mongodb(?:\+srv)?://[^/?#]*(?:/(?P<db_name>[^/?#]*))?(?:[?#].*)?$"


def parse_mongo_db_arg(value: str) -> dict:
    """Keyword arguments for ``MongoObserver`` from a ``-m`` value.

    Accepts Sacred's ``[host:port:]db_name[.collection[:id]][!priority]``, ``host:port`` alone,
    and a ``mongodb://`` (or ``mongodb+srv://``) URL whose path, if any, names the database.
    """
    text = str(value).strip()
    url = re.match(_MONGO_URL, text)
    if url:
        kwargs: dict = {"url": text}
        if url.group("db_name"):
            kwargs["db_name"] = url.group("db_name")
        return kwargs
    host_only = re.match(_HOST_ONLY, text)
    if host_only:
        return {"url": f"{host_only.group('host')}:{host_only.group('port')}"}
    spec = re.match(_MONGO_SPEC, text)
    if spec is None:
        raise UsageError(
            f"--mongo_db must look like "
            f"[host:port:]db_name[.collection[:id]][!priority], host:port or "
            f"mongodb://..., not {text!r}"
        )
    kwargs = {}
    if spec.group("host"):
        kwargs["url"] = f"{spec.group('host')}:{spec.group('port')}"
    for key in ("db_name", "collection", "overwrite"):
        if spec.group(key) is not None:
            kwargs[key] = spec.group(key)
    if spec.group("priority") is not None:
        kwargs["priority"] = int(spec.group("priority"))
    return kwargs


def _check_port(flag: str, shown: str, port: Any) -> None:
    if port is not None and not 0 < int(port) < 65536:
        raise UsageError(f"{flag}: the port {port} in {shown!r} is not a port number (1-65535)")


def parse_sql_url(value: str) -> str:
    """A SQLAlchemy URL that can work: parseable, a known dialect, a valid port and, for SQLite, an
    existing directory (a typo must not wait out the retry window, or create a database
    elsewhere)."""
    from ..redact import redact_url

    text = str(value).strip()
    shown = redact_url(text)
    if "://" not in text:
        raise UsageError(
            f"--sql needs a database URL such as sqlite:///runs.db or "
            f"postgresql://user@host/db, not {shown!r}"
        )
    try:
        import sqlalchemy as sa
    except ImportError:
        raise UsageError("--sql needs SQLAlchemy: pip install 'experimentkit[sql]'") from None
    try:
        url = sa.make_url(text)
        port = url.port
    except Exception as exc:  # ArgumentError, ValueError (port)
        raise UsageError(f"--sql: cannot parse {shown!r} as a database URL ({type(exc).__name__})") from None
    _check_port("--sql", shown, port)
    try:
        url.get_dialect()
    except Exception:
        raise UsageError(
            f"--sql: unknown database kind {url.drivername!r} in {shown!r} (e.g. "
            f"sqlite, postgresql, mysql+pymysql)"
        ) from None
    database = url.database or ""
    if (
        url.get_backend_name() == "sqlite"
        and database
        and database != ":memory:"
        and not database.startswith("file:")
    ):
        import os

        folder = os.path.dirname(os.path.abspath(database))
        if os.path.isdir(database):
            raise UsageError(f"--sql: {database!r} is a directory; give a database file")
        if not os.path.isdir(folder):
            raise UsageError(
                f"--sql: the directory {os.path.dirname(database) or folder!r} of {database!r} does not exist"
            )
    return text


def parse_file_storage(value: str) -> str:
    """A directory for a file store (created if missing), not an existing file."""
    import os

    text = str(value)
    if not text.strip():
        raise UsageError("--file_storage needs a non-empty value")
    if os.path.exists(text) and not os.path.isdir(text):
        raise UsageError(f"--file_storage: {text!r} is a file; give a directory (it is created if missing)")
    parent = os.path.dirname(os.path.abspath(text))
    while not os.path.exists(parent) and os.path.dirname(parent) != parent:
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):  # the directory could never be made under a file
        raise UsageError(f"--file_storage: {text!r} cannot be made: {parent!r} is a file, not a directory")
    return text


def _check_mongo(value: str) -> dict:
    """``parse_mongo_db_arg`` plus the checks that need no server: a host, valid ports."""
    kwargs = parse_mongo_db_arg(value)
    url = kwargs.get("url")
    if url:
        from ..redact import redact_url

        shown = redact_url(url)
        netloc = url.split("://", 1)[1] if "://" in url else url
        netloc = netloc.split("/", 1)[0].split("?", 1)[0].rpartition("@")[2]
        if not netloc:
            raise UsageError(f"--mongo_db: {shown!r} names no server (mongodb://host[:port]/db)")
        for host in netloc.split(","):
            name, _, port = host.rpartition(":") if not host.endswith("]") else (host, "", "")
            if not name:
                raise UsageError(f"--mongo_db: {shown!r} names no server (mongodb://host[:port]/db)")
            if port and not port.isdigit():
                raise UsageError(f"--mongo_db: the port {port!r} in {shown!r} is not a number")
            _check_port("--mongo_db", shown, port or None)
    return kwargs


def _parse_text(flag: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not str(value).strip():
            raise UsageError(f"{flag} needs a non-empty value")
        return str(value)

    return check


def parse_s3_arg(value: str) -> tuple:
    """``(bucket, basedir)`` from an ``--s3`` value ``s3://<bucket>/path/to/exp``."""
    from ..backends.s3.observer import parse_s3_url

    return parse_s3_url(value)


def parse_gcs_arg(value: str) -> tuple:
    """``(bucket, basedir)`` from a ``--gcs`` value ``gs://<bucket>/path/to/exp``."""
    from ..backends.gcs.observer import parse_gcs_url

    return parse_gcs_url(value)


# Long flag -> converter; run before any run exists so that a bad value starts nothing.
_CONVERTERS: dict = {
    "--beat-interval": parse_beat_interval,
    "--capture": parse_capture_mode,
    "--loglevel": parse_loglevel,
    "--priority": parse_priority,
    "--mongo_db": _check_mongo,
    "--file_storage": parse_file_storage,
    "--sql": parse_sql_url,
    "--s3": parse_s3_arg,
    "--gcs": parse_gcs_arg,
    "--tiny_db": _parse_text("--tiny_db"),
    "--name": _parse_text("--name"),
    "--id": _parse_text("--id"),
}


# ---- the default options (sorted by function name in --help, as in Sacred) -----------------------


@cli_option("-b", "--beat-interval")
def beat_interval_option(args: str, run: Any) -> None:
    """Set the heart-beat interval for this run.

    The time between two heartbeat events, in seconds (a positive number).
    """
    run.beat_interval = parse_beat_interval(args)


@cli_option("-C", "--capture")
def capture_option(args: str, run: Any) -> None:
    """Control the way stdout and stderr are captured.

    The argument value must be one of [no, sys, fd]
    """
    run.capture_mode = parse_capture_mode(args)


@cli_option("-c", "--comment")
def comment_option(args: str, run: Any) -> None:
    """Add a comment to this run."""
    run.meta_info["comment"] = args


@cli_option("-d", "--debug", is_flag=True)
def debug_option(args: bool, run: Any) -> None:
    """Set this run to debug mode.

    Suppress warnings about missing observers and show the full, unfiltered stack trace of a failure
    (the exception is re-raised).
    """
    run.debug = True


@cli_option("-e", "--enforce_clean", is_flag=True)
def enforce_clean_option(args: bool, run: Any) -> None:
    """Fail if any version control repository is dirty."""
    from ..dependencies import enforce_clean

    enforce_clean(run.experiment_info["repositories"])


@cli_option("-F", "--file_storage")
def file_storage_option(args: str, run: Any) -> None:
    """Add a file-storage observer to the experiment.

    The value is the base directory to write the runs to.
    """
    from ..observers import FileStorageObserver

    run.observers.append(FileStorageObserver(args))


@cli_option("-f", "--force", is_flag=True)
def force_option(args: bool, run: Any) -> None:
    """Disable warnings about suspicious changes for this run."""
    run.force = True


@cli_option("-h", "--help", is_flag=True)
def help_option(args: bool, run: Any) -> None:
    """Print this help message and exit."""


@cli_option("-i", "--id")
def id_option(args: str, run: Any) -> None:
    """Set the id for this run."""
    run._id = args


@cli_option("-l", "--loglevel")
def loglevel_option(args: str, run: Any) -> None:
    """Set the LogLevel.

    Loglevel either as 0 - 50 or as string: DEBUG(10), INFO(20), WARNING(30), ERROR(40),
    CRITICAL(50)
    """
    run.root_logger.setLevel(parse_loglevel(args))


@cli_option("-m", "--mongo_db")
def mongo_db_option(args: str, run: Any) -> None:
    """Add a MongoDB Observer to the experiment.

    The argument value is the database specification. Should be in the form:
    `[host:port:]db_name[.collection[:id]][!priority]` or a `mongodb://` URL.
    """
    from ..observers import MongoObserver

    run.observers.append(MongoObserver(**parse_mongo_db_arg(args)))


@cli_option("-n", "--name")
def name_option(args: str, run: Any) -> None:
    """Set the name for this run."""
    run.experiment_info["name"] = args
    run.run_logger = run.root_logger.getChild(args)


@cli_option("-D", "--pdb", is_flag=True)
def pdb_option(args: bool, run: Any) -> None:
    """Automatically enter post-mortem debugging with pdb on failure."""
    run.pdb = True


@cli_option("-p", "--print-config", is_flag=True)
def print_config_option(args: bool, run: Any) -> None:
    """Always print the configuration first."""
    from .commands import print_config

    print_config(run)
    print("-" * 79)


@cli_option("-P", "--priority")
def priority_option(args: str, run: Any) -> None:
    """Sets the priority for a queued up experiment.

    `--priority=NUMBER` The number represent the priority for this run.
    """
    run.meta_info["priority"] = parse_priority(args)


@cli_option("-q", "--queue", is_flag=True)
def queue_option(args: bool, run: Any) -> None:
    """Only queue this run, do not start it."""
    run.queue_only = True


@cli_option("-s", "--sql")
def sql_option(args: str, run: Any) -> None:
    """Add a SQL Observer to the experiment.

    The typical form is: dialect://username:password@host:port/database
    """
    from ..observers import SqlObserver

    run.observers.append(SqlObserver(args))


@cli_option("-S", "--s3")
def s3_option(args: str, run: Any) -> None:
    """Add a S3 File observer to the experiment.

    The argument value should be `s3://<bucket>/path/to/exp`.
    """
    bucket, basedir = parse_s3_arg(args)
    run.observers.append(_build_observer("--s3", "S3Observer", "s3", bucket=bucket, basedir=basedir))


@cli_option("-G", "--gcs")
def gcs_option(args: str, run: Any) -> None:
    """Add a Google Cloud Storage File observer to the experiment.

    The argument value should be `gs://<bucket>/path/to/exp`.
    """
    bucket, basedir = parse_gcs_arg(args)
    run.observers.append(
        _build_observer("--gcs", "GoogleCloudStorageObserver", "gcs", bucket=bucket, basedir=basedir)
    )


@cli_option("-t", "--tiny_db")
def tiny_db_option(args: str, run: Any) -> None:
    """Add a TinyDB Observer to the experiment.

    The argument is the path to be given to the TinyDbObserver.
    """
    run.observers.append(_build_observer("--tiny_db", "TinyDbObserver", "tinydb", path=args))


def _build_observer(flag: str, name: str, extra: str, **kwargs: Any) -> Any:
    """The observer a flag asks for; a missing package or a bad setting is a one-line usage error."""
    from .. import observers

    try:
        return getattr(observers, name)(**kwargs)
    except ImportError as exc:
        raise UsageError(
            f"{flag} needs the package {exc.name or exc}: pip install 'experimentkit[{extra}]'"
        ) from None
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None


@cli_option("-O", "--strict-observers", is_flag=True)
def strict_observers_option(args: bool, run: Any) -> None:
    """Fail (exit 2, before main runs) if an observer cannot record the run.

    Without it, a backend that cannot be reached at the start is journaled locally for
    `experimentkit sync` and the run goes on (SETTINGS.STRICT_OBSERVERS sets the default).
    """
    run.strict_observers = True


@cli_option("-U", "--system-metrics", is_flag=True)
def system_metrics_option(args: bool, run: Any) -> None:
    """Sample CPU, memory, disk, network and GPU use as `system.*` metrics.

    Every SETTINGS.SYSTEM_METRICS_INTERVAL seconds (needs psutil; GPUs need nvidia-ml-py).
    """
    try:
        import psutil  # noqa: F401 - checked before the run starts
    except ImportError:
        raise UsageError("--system-metrics needs psutil: pip install 'experimentkit[system]'") from None
    from ..integrations.system import SystemMetricsHook
    from ..settings import SETTINGS

    run.pre_run_hooks.insert(0, SystemMetricsHook(run, SETTINGS.SYSTEM_METRICS_INTERVAL))


@cli_option("-u", "--unobserved", is_flag=True)
def unobserved_option(args: bool, run: Any) -> None:
    """Ignore all observers for this run."""
    run.unobserved = True


_DEFAULTS = (
    beat_interval_option,
    capture_option,
    comment_option,
    debug_option,
    enforce_clean_option,
    file_storage_option,
    force_option,
    help_option,
    id_option,
    loglevel_option,
    mongo_db_option,
    name_option,
    pdb_option,
    print_config_option,
    priority_option,
    queue_option,
    sql_option,
    strict_observers_option,
    system_metrics_option,
    unobserved_option,
    s3_option,
    gcs_option,
    tiny_db_option,
)


def default_options() -> list:
    """Every built-in option (a fresh list, sorted by name as ``--help`` shows them)."""
    return sorted(_DEFAULTS, key=lambda option: option.get_name())


def gather_options(ex: Any) -> list:
    """All options of ``ex``: the defaults and observer plugins (sorted), then
    ``ex.additional_cli_options``.

    Raises ``ValueError`` when two options claim the same flag, naming both.
    """
    from .plugins import as_option, observer_plugin_options

    builtin, owners = _builtin_options(observer_plugin_options())
    extra = [
        as_option(option, origin="additional_cli_options")
        for option in (getattr(ex, "additional_cli_options", None) or ())
    ]
    _check_flags(extra, dict(owners))
    return builtin + extra


#: ``(plugins, builtin, owners)`` of the last ``_builtin_options`` call, read and replaced whole
_last_builtin: list = [None]


def _builtin_options(plugins: tuple) -> tuple[list, dict]:
    """The defaults and the plugins' options sorted, with the option owning each flag: the same
    for every run of the process while ``observer_plugin_options()`` returns the same tuple (a run
    gathers its options three times).  Compared by identity: an option class may be unhashable."""
    last = _last_builtin[0]
    if last is None or last[0] is not plugins:
        builtin = sorted(default_options() + list(plugins), key=lambda option: option.get_name())
        owners: dict = {}
        _check_flags(builtin, owners)
        last = _last_builtin[0] = (plugins, builtin, owners)
    return last[1], last[2]


def _check_flags(options: list, owners: dict) -> None:
    """Record in ``owners`` the option owning each flag; ``ValueError`` naming both options when
    two claim the same flag."""
    for option in options:
        for flag in option.get_flags():
            if flag in owners:
                raise ValueError(
                    f"The flag {flag} of {_describe(option)} is already used by {_describe(owners[flag])}"
                )
            owners[flag] = option


def _describe(option: CLIOption) -> str:
    return getattr(option, "origin", None) or f"the option {option.get_name()!r}"


def default_option_values(ex: Any) -> dict:
    """Every option of ``ex`` with Sacred's default: ``False`` for a flag, else ``None``."""
    return {option.get_flag(): (False if option.is_flag else None) for option in gather_options(ex)}


def validate_options(options: dict) -> None:
    """Check every given option value without a run; raises ``UsageError`` naming the first bad
    one."""
    for flag, convert in _CONVERTERS.items():
        value = options.get(flag)
        if value not in (None, False):
            convert(value)


def apply_options(run: Any, options: dict, ex: Any) -> None:
    """Apply a docopt-style options dict (``{"--capture": "sys", "--force": True}``) to a run before
    it starts.

    Options are applied in ``--help`` order; those that are absent, ``None`` or ``False`` are
    skipped.
    """
    validate_options(options)
    from ..settings import SETTINGS

    if SETTINGS.SYSTEM_METRICS and not options.get("--system-metrics"):
        options = dict(options, **{"--system-metrics": True})
    if SETTINGS.TENSORBOARD_LOGDIR and not options.get("--tensorboard"):
        options = dict(options, **{"--tensorboard": os.fspath(SETTINGS.TENSORBOARD_LOGDIR)})
    for option in gather_options(ex):
        value = options.get(option.get_flag(), False)
        if value:
            option.apply(value, run)
