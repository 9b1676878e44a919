"""Entry point of the ``experimentkit`` command: argument parsing, store selection, error reporting.

Only argparse is imported at startup so that ``experimentkit --help`` stays fast; each command
imports what it needs.  Usage errors (bad expression, unknown key, missing store) are one line on
stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from collections.abc import Sequence
from typing import NoReturn, Optional

__all__ = ["main", "build_parser", "DEFAULT_STORE", "STORE_ENV"]

#: Modules (under ``experimentkit.cli``) that add their own subcommands: each has
#: ``add_commands(command)``, where ``command(name, help)`` returns a subparser, and sets
#: ``handler=fn`` on it with ``set_defaults``; ``fn(args, target) -> int`` opens what it needs itself.
#: Keep these modules light at import time (argparse only); import heavy things inside the handlers.
COMMAND_MODULES: tuple = ("artifacts", "interop", "report", "sweep")

DEFAULT_STORE = "./runs"
STORE_ENV = "EXPERIMENTKIT_STORE"

_DESCRIPTION = """\
Query, compare, annotate, plot and reproduce stored experiment runs.

The store is a file-storage directory or a URL (sqlite:///runs.db, postgresql://...,
mysql+pymysql://..., mongodb://host/db), given with -S/--store, else $EXPERIMENTKIT_STORE,
else ./runs.

Keys: id, status, experiment, command, start_time, stop_time, host.<field>, config.<dotted>,
metrics.<name> (last value; .min .max .count too), result, tags, notes, meta.<dotted>,
info.<dotted>, sweep (the sweep id; sweep.index).  Expressions: 'config.lr < 0.05', 'status == COMPLETED',
'metrics.val.accuracy >= 0.9', 'tags contains best', 'status in [FAILED, DEAD]'."""


class _Parser(argparse.ArgumentParser):
    """Usage mistakes as one line on stderr with exit status 2; a mistyped command gets the
    closest command."""

    commands: Sequence[str] = ()

    def error(self, message: str) -> NoReturn:
        match = re.match(r"argument COMMAND: invalid choice: '([^']*)'", message)
        if match and self.commands:
            from ..errors import suggest

            word = match.group(1)
            message = (
                f"unknown command '{word}'{suggest(word, self.commands)}; commands: "
                f"{', '.join(self.commands)}"
            )
        else:
            message += f" (see '{self.prog} --help')"
        self.exit(2, f"{self.prog}: error: {message}\n")


def _store_option(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "-S",
        "--store",
        default=default,
        metavar="PATH_OR_URL",
        help="the run store (default: $EXPERIMENTKIT_STORE, else ./runs)",
    )


def _format_option(parser: argparse.ArgumentParser, choices: Sequence[str], default: str = "table") -> None:
    parser.add_argument("--format", choices=choices, default=default, help="output format")


def _listing_options(
    parser: argparse.ArgumentParser, formats: Sequence[str], default_format: str = "table"
) -> None:
    parser.add_argument(
        "--where",
        "-w",
        action="append",
        default=[],
        metavar="EXPR",
        help="filter, e.g. 'config.lr < 0.05' (repeat to combine with AND)",
    )
    parser.add_argument(
        "--sort",
        action="append",
        default=[],
        metavar="KEY",
        help="sort key; --sort=-KEY sorts descending (repeatable)",
    )
    parser.add_argument("--desc", action="store_true", help="sort descending")
    parser.add_argument("--limit", type=int, metavar="N", help="show at most N")
    parser.add_argument("--columns", metavar="KEY,...", help="comma-separated keys to show")
    _format_option(parser, formats, default_format)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; ``-S`` is accepted before and after the command."""
    from .. import __version__

    parser = _Parser(
        prog="experimentkit", description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"experimentkit {__version__}")
    _store_option(parser, None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        _store_option(p, argparse.SUPPRESS)
        return p

    _listing_options(command("ls", "list runs as a table"), ("table", "json", "csv"))
    p = command("show", "show everything recorded for a run (or, with --sweep ID, a sweep)")
    p.add_argument("run", nargs="?")
    p.add_argument("--sweep", metavar="ID", help="show this sweep instead: the same as sweep-show ID")
    p.add_argument("--metrics", metavar="NAME,...", help="with --sweep: metrics to show")
    p.add_argument("--objective", metavar="METRIC", help="with --sweep: sort by this metric")
    p.add_argument("--min", action="store_true", help="with --sweep: lower is better")
    _format_option(p, ("text", "json"), "text")
    p = command("compare", "config differences and metrics of runs side by side")
    p.add_argument("runs", nargs="+", metavar="RUN")
    p.add_argument("--all", action="store_true", help="also show config entries that are equal")
    _format_option(p, ("table", "json", "csv"))
    p = command("best", "the best run by a metric's last value")
    p.add_argument("metric")
    _goal_options(p)
    p.add_argument("--where", "-w", action="append", default=[], metavar="EXPR")
    _format_option(p, ("table", "json", "csv"))
    p = command("tag", "add tags to a run")
    p.add_argument("run")
    p.add_argument("tags", nargs="+", metavar="TAG")
    p = command("untag", "remove tags from a run")
    p.add_argument("run")
    p.add_argument("tags", nargs="+", metavar="TAG")
    p = command("note", "set the note of a run ('' clears it)")
    p.add_argument("run")
    p.add_argument("text")
    p = command("export", "write a listing as CSV or JSON")
    _listing_options(p, ("csv", "json"), "csv")
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    p = command("rows", "per-sample rows a run logged with _run.log_table")
    p.add_argument("run")
    p.add_argument("table")
    _listing_options(p, ("table", "json", "csv"))
    p = command("delete", "delete runs")
    p.add_argument("runs", nargs="+", metavar="RUN")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p = command("sync", "replay fallback journals of undelivered events into their stores")
    p.add_argument("--fallback-dir", metavar="DIR", help="where the journals are")
    p.add_argument(
        "--force", action="store_true", help="also sync unfinished journals written on another host"
    )
    p.add_argument(
        "--trust",
        action="append",
        default=[],
        metavar="MODULE:CALLABLE",
        help="also allow this replay factory (beyond built-ins and entry points)",
    )
    p.add_argument(
        "--discard", metavar="JOURNAL", help="give up a journal: delete it and its undelivered events"
    )
    p.add_argument("--yes", "-y", action="store_true", help="do not ask before --discard")
    p = command("rerun", "run a recorded run again with the same config, named configs and seed")
    p.add_argument("run")
    p.add_argument("--dry-run", action="store_true", help="print the command instead of running it")
    p.add_argument("--python", default=sys.executable, help="the interpreter to use")
    p = command("plot", "plot a metric to an image file")
    p.add_argument("metric")
    p.add_argument("-o", "--output", required=True, metavar="FILE.png")
    p.add_argument("--runs", nargs="+", default=[], metavar="RUN", help="runs to plot")
    p.add_argument("--where", "-w", action="append", default=[], metavar="EXPR")
    p.add_argument(
        "--kind",
        choices=("curves", "best-so-far", "bars", "bars-multi", "params"),
        default="curves",
        help="params (with --sweep): the metric against each swept parameter; "
        "bars-multi: METRIC and the --also metrics side by side per run",
    )
    p.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="METRIC",
        help="another metric for --kind bars-multi (repeat or comma-separate)",
    )
    p.add_argument("--sweep", metavar="ID", help="plot the runs of this sweep")
    _goal_options(p)
    p = command("serve", "a web dashboard of the store (read-only unless --allow-writes)")
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)"
    )
    p.add_argument("--port", type=_port, default=8765, help="port (default 8765; 0 picks a free one)")
    p.add_argument("--open", action="store_true", help="open the dashboard in a web browser")
    p.add_argument(
        "--token",
        help="access token every request must carry (generated and printed "
        "when --host is not a loopback address)",
    )
    p.add_argument("--allow-writes", action="store_true", help="let the pages edit tags and notes")
    for module in COMMAND_MODULES:
        importlib.import_module(f"{__package__}.{module}").add_commands(command)
    parser.commands = list(sub.choices)
    return parser


def _port(text: str) -> int:
    """A TCP port number, refused by argparse in one line when it is not one."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is a number from 0 to 65535, not {text!r}")
    return port


def _goal_options(parser: argparse.ArgumentParser) -> None:
    """``--min``/``--max``: override the metric's direction (recorded by the runs, else implied
    by its name: loss, error ... are lower-is-better)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--min",
        dest="minimize",
        action="store_const",
        const=True,
        help="lower is better (default: as recorded, else from the name)",
    )
    group.add_argument("--max", dest="minimize", action="store_const", const=False, help="higher is better")


def store_target(args: argparse.Namespace) -> str:
    return args.store or os.environ.get(STORE_ENV) or DEFAULT_STORE


def _attach_sort_values(argv: list) -> list:
    """``--sort -KEY`` means descending; argparse would take ``-KEY`` for an option, so glue it on."""
    out: list = []
    for word in argv:
        if out and out[-1] == "--sort" and word.startswith("-") and len(word) > 1:
            out[-1] = f"--sort={word}"
        else:
            out.append(word)
    return out


def _damaged_database(exc: BaseException) -> bool:
    """A database file that is not one, or is damaged (SQLite: "file is not a database", "database
    disk image is malformed"), as raised by sqlite3 or through SQLAlchemy."""
    import sqlite3

    cause = getattr(exc, "orig", None) or exc
    return isinstance(cause, sqlite3.DatabaseError) and not isinstance(
        cause, (sqlite3.OperationalError, sqlite3.IntegrityError, sqlite3.ProgrammingError)
    )


def _unreachable_database(exc: BaseException) -> bool:
    """A database server that cannot be reached or refuses us (wrong host, port, password, database
    name), as SQLAlchemy reports it: the user's mistake or an outage, never a traceback."""
    return type(exc).__module__.startswith("sqlalchemy") and any(
        cls.__name__ in ("OperationalError", "InterfaceError") for cls in type(exc).__mro__
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(_attach_sort_values(sys.argv[1:] if argv is None else list(argv)))
    from ..errors import UsageError

    try:
        from . import commands

        return commands.run(args, store_target(args))
    except UsageError as exc:
        print(f"experimentkit: error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 2)
    except BrokenPipeError:
        sys.stderr.close()  # the reader went away (``| head``): nothing left to report
        return 0
    except Exception as exc:
        if not (_damaged_database(exc) or _unreachable_database(exc)):
            raise
        from ..redact import one_line, redact_text

        cause = getattr(exc, "orig", None) or exc
        print(
            f"experimentkit: error: cannot read the store {redact_text(store_target(args))!r}: "
            f"{one_line(cause)}",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        return 130
