"""The grammar ``script.py [COMMAND] [with UPDATE...] [OPTIONS]``: usage text, docopt parsing,
diagnosis.

The usage text has Sacred's exact layout (docopt builds the parser from it).  When docopt rejects a
command line it only says "unmatched arguments"; :func:`diagnose` walks the words again to name the
unknown option, the missing value or the stray word, with a close-match suggestion.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from ..errors import UsageError, suggest

__all__ = [
    "format_usage",
    "printable_usage",
    "get_usage",
    "normalize_argv",
    "parse_commandline",
    "get_config_updates",
    "parse_args",
    "ParsedCommandLine",
    "diagnose",
]

USAGE_TEMPLATE = """Usage:
  {program_name} [(with UPDATE...)] [options]
  {program_name} help [COMMAND]
  {program_name} (-h | --help)
  {program_name} COMMAND [(with UPDATE...)] [options]

{description}

Options:
{options}

Arguments:
  COMMAND   Name of command to run (see below for list of commands)
  UPDATE    Configuration assignments of the form foo.bar=17
{arguments}
{commands}"""


def _wrap(text: str, indent: int) -> str:
    pad = " " * indent
    lines = textwrap.wrap(text, width=79, initial_indent=pad, subsequent_indent=pad)
    return "\n".join(lines).strip()


def _first_doc_line(function: Any) -> str:
    return textwrap.dedent(getattr(function, "__doc__", None) or "").strip().split("\n")[0]


def format_usage(program_name: str, description: Optional[str], commands: Any, options: Sequence) -> str:
    """The full ``--help`` text (docopt-parsable): usage, description, options, arguments,
    commands."""
    option_lines = []
    argument_lines = []
    for option in options:
        short, long = option.get_flags()
        flags = f"{short} {option.arg} {long}={option.arg}" if option.arg else f"{short} {long}"
        option_lines.append(f"  {flags:28}  {_wrap(option.get_description(), 32)}".rstrip() + "\n")
        if option.arg and option.arg_description:
            argument_lines.append(f"  {option.arg:8}  {_wrap(option.arg_description, 12)}\n")
    commands = dict(commands or {})
    command_text = ""
    if commands:
        width = max([len(name) for name in commands] + [8])
        command_text = "\nCommands:\n" + "".join(
            f"  {name:{width}}  {_first_doc_line(function)}".rstrip() + "\n"
            for name, function in commands.items()
        )
    return USAGE_TEMPLATE.format(
        program_name=shlex.quote(program_name),
        description=(description or "").strip(),
        options="".join(option_lines),
        arguments="".join(argument_lines),
        commands=command_text,
    )


def printable_usage(usage: str) -> str:
    """Just the ``Usage:`` block of a usage text (printed before some errors)."""
    after = re.split(r"([Uu][Ss][Aa][Gg][Ee]:)", usage, maxsplit=1)
    return re.split(r"\n\s*\n", "".join(after[1:]))[0].strip()


def _program_name(ex: Any, program_name: Optional[str]) -> str:
    name = program_name or sys.argv[0] or "Dummy"
    try:
        return os.path.relpath(name, getattr(ex, "base_dir", None) or os.getcwd())
    except ValueError:  # another drive on Windows
        return name


def get_usage(ex: Any, program_name: Optional[str] = None, options: Optional[Sequence] = None) -> tuple:
    """``(short_usage, long_usage, internal_usage)``; the internal one names the program ``dummy``.

    docopt cannot parse a program name with spaces, so parsing uses the internal text.
    """
    from .options import gather_options

    options = gather_options(ex) if options is None else options
    commands = dict(ex.gather_commands())
    doc = getattr(ex, "doc", None)
    long_usage = format_usage(_program_name(ex, program_name), doc, commands, options)
    internal = format_usage("dummy", doc, commands, options)
    return printable_usage(long_usage), long_usage, internal


def normalize_argv(argv: Any = None) -> list:
    """``sys.argv`` for None, ``shlex.split`` for a string, else a list of strings (program name
    first)."""
    if argv is None:
        return list(sys.argv)
    if isinstance(argv, str):
        return shlex.split(argv)
    if not isinstance(argv, (list, tuple)) or not all(isinstance(a, str) for a in argv):
        raise TypeError(f"argv must be None, a str or a list of str, not {argv!r}")
    return list(argv)


@dataclass
class ParsedCommandLine:
    """What the command line asks for, before anything is resolved or run."""

    command: Optional[str]
    config_updates: dict
    named_configs: list
    options: dict = field(default_factory=dict)
    help: bool = False


def parse_commandline(
    ex: Any,
    argv: Sequence[str],
    options: Optional[Sequence] = None,
    internal_usage: Optional[str] = None,
    parse_updates: bool = True,
) -> ParsedCommandLine:
    """Parse ``argv`` (program name first) against the experiment's usage text.

    Raises ``UsageError`` (one line) for unknown options, stray words, unknown commands and
    malformed updates; nothing is resolved or run here.
    """
    from docopt import DocoptExit, docopt

    from ..config import parse_with_args
    from .options import gather_options

    options = gather_options(ex) if options is None else options
    if internal_usage is None:
        internal_usage = get_usage(ex, options=options)[2]
    words = [str(a) for a in argv[1:]]
    try:
        args = docopt(internal_usage, words, default_help=False)
    except DocoptExit as exc:
        raise UsageError(diagnose(words, options, str(exc).split("\n", 1)[0])) from None
    command = args.get("COMMAND")
    if command == "with" and not args.get("with"):
        raise UsageError(
            "'with' needs at least one UPDATE after it, e.g. 'with lr=0.1' or 'with NAMED_CONFIG'"
        )
    help_requested = bool(args.get("help") or args.get("--help"))
    command = command or (None if help_requested else ex.default_command)
    if command is not None or not help_requested:
        check_command(ex, command)
    from ..settings import SETTINGS

    if not parse_updates:  # a sweep parses its UPDATE words with its own grammar
        return ParsedCommandLine(command, {}, [], args, help_requested)
    updates, named_configs = parse_with_args(
        args.get("UPDATE") or [], strict=bool(SETTINGS.COMMAND_LINE.STRICT_PARSING)
    )
    return ParsedCommandLine(command, updates, list(named_configs), args, help_requested)


def check_command(ex: Any, command: Optional[str]) -> None:
    """Raise ``UsageError`` unless ``command`` is one of the experiment's commands."""
    commands = [name for name, _ in ex.gather_commands()]
    if command is None:
        raise UsageError(
            "No command found to be run. Specify a command or define a main function "
            f"(@ex.main or @ex.automain). Available commands are: "
            f"{', '.join(commands)}"
        )
    if command not in commands:
        hint = suggest(command, commands)
        if not hint and ("=" in command or command.endswith((".json", ".yaml", ".yml", ".pickle"))):
            hint = f" (config updates go after 'with': with {command})"
        raise UsageError(
            f'Command "{command}" not found. Available commands are: {", ".join(commands)}{hint}'
        )


_NUMBER = re.compile(r"-\d")


def diagnose(words: Sequence[str], options: Sequence, fallback: str) -> str:
    """Say what is wrong with a command line docopt rejected (``fallback`` when nothing specific is
    found)."""
    takes_value = {}
    for option in options:
        for flag in option.get_flags():
            takes_value[flag] = not option.is_flag
    longs = sorted(flag for flag in takes_value if flag.startswith("--"))
    shorts = sorted(flag for flag in takes_value if not flag.startswith("--"))
    seen: dict = {}
    positional = []
    i = 0
    while i < len(words):
        word = words[i]
        given: list = []
        if word.startswith("--") and len(word) > 2:
            name, eq, _ = word.partition("=")
            matches = [name] if name in takes_value else [f for f in longs if f.startswith(name)]
            if not matches:
                return f"unknown option {name}{suggest(name, longs)}"
            if len(matches) > 1:
                return f"option {name} is ambiguous: it could be {', '.join(matches)}"
            flag = matches[0]
            if takes_value[flag] and not eq:
                if i + 1 >= len(words):
                    return f"option {flag} needs a value"
                i += 1
            elif eq and not takes_value[flag]:
                return f"option {flag} is a flag and takes no value"
            given.append(flag)
        elif word.startswith("-") and len(word) > 1 and not _NUMBER.match(word):
            for j, letter in enumerate(word[1:], start=1):
                flag = "-" + letter
                if flag not in takes_value:
                    same_letter = [s for s in shorts if s.lower() == flag.lower()]
                    hint = f" (did you mean '{same_letter[0]}'?)" if same_letter else ""
                    return f"unknown option {flag}{hint}"
                given.append(flag)
                if takes_value[flag]:
                    if j == len(word) - 1:
                        if i + 1 >= len(words):
                            return f"option {flag} needs a value"
                        i += 1
                    break
        else:
            positional.append(word)
        for flag in given:
            key = _long_of(flag, options)
            if key in seen:
                return f"option {key} is given more than once"
            seen[key] = True
        i += 1
    return _diagnose_positional(positional) or fallback


def _long_of(flag: str, options: Sequence) -> str:
    for option in options:
        if flag in option.get_flags():
            return option.get_flag()
    return flag


def _diagnose_positional(words: list) -> Optional[str]:
    if not words:
        return None
    if words[0] == "help":
        return f"unexpected argument {words[2]!r}: use 'help [COMMAND]'" if len(words) > 2 else None
    rest = words[1:] if words[0] != "with" else []
    if rest and rest[0] != "with":
        return (
            f"unexpected argument {rest[0]!r}: config updates and named configs go after "
            f"'with' (COMMAND with {rest[0]})"
        )
    return None


def get_config_updates(updates: Optional[Sequence[str]]) -> tuple:
    """``(config_updates, named_configs)`` from the words after ``with`` (Sacred's
    ``arg_parser.get_config_updates``)."""
    from ..config import parse_with_args

    updates_dict, named_configs = parse_with_args([u for u in (updates or ()) if u != ""])
    return updates_dict, list(named_configs)


def parse_args(
    argv: Sequence[str], description: str = "", commands: Any = None, print_help: bool = True
) -> dict:
    """The docopt dict (``COMMAND``, ``UPDATE``, ``with``, ``help``, every ``--flag``) for ``argv``
    (program name first), with the built-in options; for code written against Sacred's parser.

    ``--help`` prints the usage and exits when ``print_help`` is true.
    """
    from docopt import docopt

    from .options import default_options

    usage = format_usage("dummy", description, commands, default_options())
    return docopt(usage, [str(a) for a in argv[1:]], default_help=print_help)
