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
from typing import Any, Optional, TextIO

__all__ = ["use_color", "format_config", "format_named_configs", "format_dependencies", "Palette", "to_plain"]

_PRINTER = pprint.PrettyPrinter()


class Palette:
    """ANSI codes of the marks, or empty strings when colour is off."""

    def __init__(self, color: bool):
        code = (lambda s: f"\x1b[{s}m") if color else (lambda s: "")
        self.modified = code("34")  # blue
        self.added = code("32")  # green
        self.typechanged = code("31")  # red
        self.doc = code("2")  # dim
        self.dirty = code("31")
        self.end = code("0")


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


def format_config(config: Mapping, modifications: Any = None, color: bool = False) -> str:
    """The config as an indented tree, marking modified, added and type-changed entries, with doc
    comments.

    ``modifications`` has ``added`` and ``modified`` (sets of dotted keys), ``typechanged`` and
    ``docs`` (dicts keyed by dotted key), as ``Run.config_modifications``; ``None`` marks nothing.
    """
    p = Palette(color)
    added = set(getattr(modifications, "added", ()) or ())
    modified = set(getattr(modifications, "modified", ()) or ())
    typechanged = dict(getattr(modifications, "typechanged", {}) or {})
    docs = dict(getattr(modifications, "docs", {}) or {})
    # Without colour (piped, NO_COLOR), marked entries get a sign in the indent instead.
    signs = not color and bool(added or modified or typechanged)
    if signs:
        lines = ["Configuration (* modified, + added, ! typechanged, # doc):"]
    else:
        lines = [
            f"Configuration ({p.modified}modified{p.end}, {p.added}added{p.end}, "
            f"{p.typechanged}typechanged{p.end}, {p.doc}doc{p.end}):"
        ]
    for path, key, value, is_subtree in _walk(config):
        indent = " " * (2 + 2 * path.count("."))
        if key == "__doc__":
            text = str(value).replace("\n", "\n" + indent)
            lines.append(f'{p.doc}{indent}"""{text}"""{p.end}')
            continue
        if is_subtree:
            text = f"{indent}{key}:"
        else:
            head = f"{indent}{key} = "
            text = head + _PRINTER.pformat(to_plain(value)).replace("\n", "\n" + " " * len(head))
        doc = docs.get(path)
        if doc:
            comment = f"{p.doc}# {doc}{p.end}"
            last_line = text.rsplit("\n", 1)[-1]
            gap = " " * (35 - len(last_line) + 2) if len(last_line) <= 35 else "    "
            text += gap + comment
        if path in typechanged:
            mark, sign = p.typechanged, "!"
        elif path in added:
            mark, sign = p.added, "+"
        elif path in modified:
            mark, sign = p.modified, "*"
        else:
            mark, sign = "", ""
        if signs and sign:
            text = f"{indent[:-2]}{sign} {text[len(indent) :]}"
        lines.append(f"{mark}{text}{p.end}" if mark else text)
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


def format_named_configs(named_configs: Any, color: bool = False, indent: int = 2) -> str:
    """``Named Configurations (doc):`` then one line per name, with its docstring as a comment."""
    p = Palette(color)
    pad = " " * indent
    lines = [f"Named Configurations ({p.doc}doc{p.end}):"]
    for name, named_config in dict(named_configs).items():
        line = pad + name
        doc = _doc_of(named_config)
        if doc and doc.strip():
            if "\n" in doc.strip():
                body = doc.replace("\n", "\n" + pad)
                line += f'{p.doc}\n{pad}  """{body}"""{p.end}'
            else:
                line += f"{p.doc}   # {doc.strip()}{p.end}"
        lines.append(line)
    if len(lines) == 1:
        lines.append(pad + "No named configs")
    return "\n".join(lines)


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
