"""``run_commandline``: parse the command line, run the command, and turn failures into exit
statuses.

Exit statuses (see docs/command-line.md): 0 success or help; 1 the command started and failed
(filtered traceback, or ``module.ExceptionName: message``, on stderr); 2 a usage error (one
``Error: ...`` line, nothing started; Sacred uses 1); 130 Ctrl-C; 143 SIGTERM.
"""

from __future__ import annotations

import sys
from typing import Any, Optional, TextIO

from ..errors import ConfigAddedError, SacredError, SacredInterrupt, UsageError
from .parser import get_usage, normalize_argv, parse_commandline

__all__ = [
    "run_commandline",
    "get_usage",
    "report_error",
    "EXIT_FAILURE",
    "EXIT_USAGE",
    "EXIT_SIGINT",
    "EXIT_SIGTERM",
]

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


def report_error(
    exc: BaseException, short_usage: str, stream: Optional[TextIO] = None, started: bool = False
) -> int:
    """Print ``exc`` the way its class asks (one line, usage, filtered trace); return the exit
    status.

    A failure of a run that had started (``started``) exits 1 and is named by its exception class, as
    in Sacred, whatever the class; usage errors before anything started exit 2.
    """
    from ..tracebacks import format_filtered_traceback

    stream = stream or sys.stderr
    if isinstance(exc, SacredError) and exc.print_usage:
        print(short_usage, file=stream)
    if isinstance(exc, SacredError) and not exc.print_traceback:
        if started:
            name = f"{type(exc).__module__}.{type(exc).__qualname__}"
            print(f"{name}: {exc}", file=stream)
            return EXIT_FAILURE
        # an unknown key names itself in the message: one line (Sacred's extra lines stay in str(exc))
        text = exc.message if isinstance(exc, ConfigAddedError) else exc
        print(f"Error: {text}", file=stream)
        return int(getattr(exc, "exit_code", EXIT_FAILURE))
    print("".join(format_filtered_traceback(exc)).rstrip("\n"), file=stream)
    return EXIT_FAILURE


def _fail(code: int) -> None:
    sys.stderr.flush()
    sys.exit(code)


def run_commandline(ex: Any, argv: Any = None) -> Any:
    """Run ``ex`` as the command line ``argv`` (``sys.argv`` by default; a str is split like a
    shell).

    Returns the finished ``Run``.  Help exits with status 0; errors exit as described in the module
    docstring, except that ``--debug`` re-raises them and ``--pdb`` opens a post-mortem debugger.
    """
    from .options import gather_options, validate_options

    argv = normalize_argv(argv)
    try:
        options = gather_options(ex)
    except SacredError as exc:  # a broken observer plugin: one line naming it
        _fail(report_error(exc, ""))
    short_usage, long_usage, internal_usage = get_usage(ex, argv[0] if argv else None, options)
    try:
        from ..sweep.commandline import split_sweep_argv

        full_argv, (argv, sweep) = argv, split_sweep_argv(argv, options)
        parsed = parse_commandline(ex, argv, options, internal_usage, parse_updates=sweep is None)
        if not parsed.help:
            validate_options(parsed.options)
    except UsageError as exc:
        _fail(report_error(exc, short_usage))

    if parsed.help:
        if parsed.command is None:
            from ..sweep.commandline import SWEEP_HELP

            print(long_usage.rstrip("\n") + "\n" + SWEEP_HELP)
        else:
            from .commands import help_for_command

            print(help_for_command(dict(ex.gather_commands())[parsed.command]))
        sys.exit(0)

    debug = bool(parsed.options.get("--debug"))
    if sweep is not None:
        from ..sweep.commandline import run_sweep_commandline

        try:
            _fail(run_sweep_commandline(ex, parsed, sweep, full_argv))
        except UsageError as exc:
            _fail(report_error(exc, short_usage))
    previous_run = ex.current_run
    try:
        return ex.run(
            parsed.command,
            parsed.config_updates,
            parsed.named_configs,
            info={},
            meta_info={},
            options=parsed.options,
        )
    except KeyboardInterrupt as exc:
        if debug:
            raise
        by_sigterm = exc.args[:1] == ("SIGTERM",)
        print("Terminated by SIGTERM" if by_sigterm else "Interrupted (Ctrl-C)", file=sys.stderr)
        _fail(EXIT_SIGTERM if by_sigterm else EXIT_SIGINT)
    except SacredInterrupt as exc:
        if debug:
            raise
        detail = f": {exc}" if str(exc) else ""
        print(f"Run stopped with status {exc.STATUS}{detail}", file=sys.stderr)
        _fail(EXIT_FAILURE)
    except Exception as exc:
        if debug:
            raise
        wants_pdb = parsed.options.get("--pdb") or getattr(ex.current_run, "pdb", False)
        if wants_pdb and not isinstance(exc, UsageError):
            import pdb
            import traceback

            traceback.print_exception(type(exc), exc, exc.__traceback__)
            pdb.post_mortem(exc.__traceback__)
            _fail(EXIT_FAILURE)
        run = ex.current_run
        started = run is not previous_run and getattr(run, "main_entered", False)
        _fail(report_error(exc, short_usage, started=started))
    return None  # unreachable: every branch above returns or exits
