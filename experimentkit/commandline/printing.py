"""Text the built-in commands print: the marked config tree, named configs, dependencies.

Formatting is pure (``color`` is a parameter) so tests and other front ends can reuse it; only
:func:`use_color` looks at the environment.  Colour follows the usual conventions: ``NO_COLOR``
turns it off,
``FORCE_COLOR`` turns it on, otherwise it is on only when the stream is a terminal (Sacred always
colours, which fills piped output and log files with escape codes).
"""

from __future__ import annotations

import os
import pprint
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple, Optional, TextIO, Union

__all__ = [
    "use_color",
    "format_config",
    "format_named_configs",
    "format_named_config",
    "format_named_configs_colored",
    "COLOR_MODIFIED",
    "COLOR_ADDED",
    "COLOR_TYPECHANGED",
    "COLOR_DOC",
    "COLOR_DIRTY",
    "ENDC",
    "format_dependencies",
    "Palette",
    "to_plain",
    "ConfigEntry",
    "PathEntry",
    "iterate_marked",
    "format_entry",
]

_PRINTER = pprint.PrettyPrinter()


class ConfigEntry(NamedTuple):
    """A config value as ``print_config`` shows it, with its marks."""

    key: str
    value: Any
    added: bool
    modified: bool
    typechanged: Optional[tuple]
    doc: Optional[str]


class PathEntry(NamedTuple):
    """The header line of a non-empty sub-dict, with its marks."""

    key: str
    added: bool
    modified: bool
    typechanged: Optional[tuple]
    doc: Optional[str]


#: the ANSI codes of the marks (Sacred's names)
COLOR_MODIFIED = "\x1b[34m"  # blue
COLOR_ADDED = "\x1b[32m"  # green
COLOR_TYPECHANGED = "\x1b[31m"  # red
COLOR_DOC = "\x1b[2m"  # dim
COLOR_DIRTY = "\x1b[31m"
ENDC = "\x1b[0m"


class Palette:
    """ANSI codes of the marks, or empty strings when colour is off."""

    def __init__(self, color: bool):
        self.modified = COLOR_MODIFIED if color else ""
        self.added = COLOR_ADDED if color else ""
        self.typechanged = COLOR_TYPECHANGED if color else ""
        self.doc = COLOR_DOC if color else ""
        self.dirty = COLOR_DIRTY if color else ""
        self.end = ENDC if color else ""


def use_color(stream: Optional[TextIO] = None) -> bool:
    """Whether to colour text written to ``stream`` (``NO_COLOR`` / ``FORCE_COLOR`` / is it a
    TTY?)."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):  # a closed or detached stream
        return False


def to_plain(value: Any) -> Any:
    """Read-only or dogmatic containers as plain dicts/lists, so pformat shows them like
    literals."""
    if isinstance(value, Mapping):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    if isinstance(value, tuple) and type(value) is not tuple and not hasattr(value, "_fields"):
        return [to_plain(v) for v in value]
    return value


def _walk(config: Mapping, prefix: str = "") -> Iterator[tuple]:
    """``(dotted_path, key, value, is_subtree)``: ``__doc__`` first, then leaves, then sub-dicts,
    sorted."""

    def order(item: tuple) -> tuple:
        key, value = item
        if key == "__doc__":
            return 0, ""
        return (2 if isinstance(value, Mapping) and value else 1), str(key)

    for key, value in sorted(config.items(), key=order):
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            yield path, key, value, True
            yield from _walk(value, path)
        else:
            yield path, key, value, False


def iterate_marked(
    config: Mapping, modifications: Any = None
) -> Iterator[tuple[str, Union[ConfigEntry, PathEntry]]]:
    """``(dotted_path, entry)`` for every line of ``print_config``, in its order.

    ``modifications`` has ``added`` and ``modified`` (sets of dotted keys), ``typechanged`` and
    ``docs`` (dicts keyed by dotted key), as ``Run.config_modifications``; ``None`` marks nothing.
    """
    added = set(getattr(modifications, "added", ()) or ())
    modified = set(getattr(modifications, "modified", ()) or ())
    typechanged = dict(getattr(modifications, "typechanged", {}) or {})
    docs = dict(getattr(modifications, "docs", {}) or {})
    for path, key, value, is_subtree in _walk(config):
        marks = (path in added, path in modified, typechanged.get(path), docs.get(path))
        yield path, PathEntry(str(key), *marks) if is_subtree else ConfigEntry(str(key), value, *marks)


def format_entry(
    indent: int, entry: Union[ConfigEntry, PathEntry], color: bool = True, signs: bool = False
) -> str:
    """One ``print_config`` line (or several, for a long value) indented by ``indent`` spaces.

    With ``color`` a marked entry is coloured (type change over added over modified); with ``signs``
    (no colour) the mark is a sign in the indent instead (``!``, ``+``, ``*``).
    """
    p = Palette(color)
    pad = " " * indent
    if entry.key == "__doc__" and isinstance(entry, ConfigEntry):
        text = str(entry.value).replace("\n", "\n" + pad)
        return f'{p.doc}{pad}"""{text}"""{p.end}'
    if isinstance(entry, PathEntry):
        text = f"{pad}{entry.key}:"
    else:
        head = f"{pad}{entry.key} = "
        text = head + _PRINTER.pformat(to_plain(entry.value)).replace("\n", "\n" + " " * len(head))
    if entry.doc:
        last_line = text.rsplit("\n", 1)[-1]
        gap = " " * (35 - len(last_line) + 2) if len(last_line) <= 35 else "    "
        text += f"{gap}{p.doc}# {entry.doc}{p.end}"
    if entry.typechanged:
        mark, sign = p.typechanged, "!"
    elif entry.added:
        mark, sign = p.added, "+"
    elif entry.modified:
        mark, sign = p.modified, "*"
    else:
        return text
    if signs:
        return f"{pad[:-2]}{sign} {text[len(pad) :]}"
    return f"{mark}{text}{p.end}"


def format_config(config: Mapping, modifications: Any = None, color: bool = False) -> str:
    """The config as an indented tree, marking modified, added and type-changed entries, with doc
    comments (``modifications`` as for :func:`iterate_marked`)."""
    p = Palette(color)
    entries = list(iterate_marked(config, modifications))
    # Without colour (piped, NO_COLOR), marked entries get a sign in the indent instead.
    signs = not color and any(e.added or e.modified or e.typechanged for _, e in entries)
    if signs:
        lines = ["Configuration (* modified, + added, ! typechanged, # doc):"]
    else:
        lines = [
            f"Configuration ({p.modified}modified{p.end}, {p.added}added{p.end}, "
            f"{p.typechanged}typechanged{p.end}, {p.doc}doc{p.end}):"
        ]
    for path, entry in entries:
        lines.append(format_entry(2 + 2 * path.count("."), entry, color, signs))
    return "\n".join(lines)


def _doc_of(named_config: Any) -> Optional[str]:
    """A named config's own docstring (not the docstring of its type, e.g. of ``dict`` or
    ``str``)."""
    doc = getattr(named_config, "doc", None)
    if isinstance(doc, str):
        return doc
    doc = getattr(named_config, "__doc__", None)
    if doc is None or doc is getattr(type(named_config), "__doc__", None):
        return None
    return doc


def format_named_config(indent: int, name: str, named_config: Any, color: bool = True) -> str:
    """One named config's line: its name, then its docstring as a comment (or indented below when it
    spans several lines)."""
    p = Palette(color)
    pad = " " * indent
    line = pad + name
    doc = _doc_of(named_config)
    if doc and doc.strip():
        if "\n" in doc.strip():
            body = doc.replace("\n", "\n" + pad)
            line += f'{p.doc}\n{pad}  """{body}"""{p.end}'
        else:
            line += f"{p.doc}   # {doc.strip()}{p.end}"
    return line


def format_named_configs(named_configs: Any, color: bool = False, indent: int = 2) -> str:
    """``Named Configurations (doc):`` then one line per name, with its docstring as a comment."""
    p = Palette(color)
    lines = [f"Named Configurations ({p.doc}doc{p.end}):"]
    lines += [format_named_config(indent, name, nc, color) for name, nc in dict(named_configs).items()]
    if len(lines) == 1:
        lines.append(" " * indent + "No named configs")
    return "\n".join(lines)


def format_named_configs_colored(named_configs: Any, indent: int = 2) -> str:
    """:func:`format_named_configs` always coloured (Sacred's ``_format_named_configs``)."""
    return format_named_configs(named_configs, color=True, indent=indent)


def format_dependencies(experiment_info: Mapping, color: bool = False) -> str:
    """Packages with versions, source files with md5 digests and, if any, git repositories."""
    p = Palette(color)
    lines = ["Dependencies:"]
    for dependency in experiment_info.get("dependencies", ()):
        name, _, version = str(dependency).partition("==")
        lines.append(f"  {name:<20} == {version}")
    lines += ["", "Sources:"]
    for source, digest in experiment_info.get("sources", ()):
        lines.append(f"  {source:<43}  {digest}")
    repositories = experiment_info.get("repositories") or ()
    if repositories:
        lines += ["", "Version Control:"]
        for repo in repositories:
            mark, end = (f"{p.dirty}M", p.end) if repo.get("dirty") else (" ", "")
            lines.append(f"{mark} {repo.get('url')!s:<43}  {repo.get('commit')}{end}")
    lines.append("")
    return "\n".join(lines)
