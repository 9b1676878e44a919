"""Tracebacks that show the user's code, not experimentkit's plumbing.

A failing run's ``fail_trace`` and the command line's error output both use this: frames that live
inside the experimentkit package are dropped (also from ``__cause__``/``__context__`` chains),
unless the exception was raised by experimentkit itself, in which case the whole traceback is the
useful one.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any, Optional

__all__ = [
    "format_filtered_traceback",
    "format_filtered_stacktrace",
    "format_sacred_error",
    "FILTERED_HEADER",
    "INTERNAL_HEADER",
]

#: Sacred's heading, word for word: scripts and Sacred's own tests that read a failed run's output match
#: on it.  The frames it leaves out are experimentkit's (the package that stands in for Sacred).
FILTERED_HEADER = "Traceback (most recent calls WITHOUT Sacred internals):\n"
INTERNAL_HEADER = "Exception originated from within experimentkit.\nTraceback (most recent calls):\n"
_PYTHON_HEADER = "Traceback (most recent call last):\n"
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _is_internal(filename: str) -> bool:
    return os.path.abspath(filename).startswith(_PACKAGE_DIR)


def _chain(te: traceback.TracebackException) -> list:
    """Every TracebackException in the cause/context chain, each once."""
    seen: set[int] = set()
    todo: list[Optional[traceback.TracebackException]] = [te]
    out: list[traceback.TracebackException] = []
    while todo:
        item = todo.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        out.append(item)
        todo.extend([item.__cause__, item.__context__])
    return out


def _originated_inside(exc: BaseException) -> bool:
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last = tb
        tb = tb.tb_next
    return last is not None and _is_internal(last.tb_frame.f_code.co_filename)


def format_filtered_traceback(exc: BaseException, filter_traceback: Optional[str] = "default") -> list:
    """Format ``exc`` as a list of strings (joined: the text) without experimentkit frames.

    ``filter_traceback`` follows ``SacredError.filter_traceback``: ``"default"`` filters unless the
    exception originated inside experimentkit, ``"always"`` always filters, ``"never"`` gives
    Python's own traceback.
    """
    mode = getattr(exc, "filter_traceback", None) or filter_traceback or "default"
    te = traceback.TracebackException(type(exc), exc, exc.__traceback__)
    if mode == "never":
        return list(te.format())
    if mode == "default" and _originated_inside(exc):
        header = INTERNAL_HEADER
    else:
        header = FILTERED_HEADER
        for item in _chain(te):
            kept = [frame for frame in item.stack if not _is_internal(frame.filename)]
            item.stack = traceback.StackSummary.from_list(kept)
    return [header if chunk == _PYTHON_HEADER else chunk for chunk in te.format()]


def format_filtered_stacktrace(filter_traceback: str = "default") -> str:
    """The exception being handled (``sys.exc_info()``), formatted as :func:`format_filtered_traceback`.

    Sacred's name; call it inside an ``except`` block.
    """
    if filter_traceback not in ("default", "always", "never"):
        raise ValueError(f"Unknown value for filter_traceback: {filter_traceback}")
    exc = sys.exc_info()[1]
    if exc is None:
        return ""
    return "".join(format_filtered_traceback(exc, filter_traceback)).strip()


def format_sacred_error(e: Any, short_usage: str) -> str:
    """What the command line prints for a ``SacredError``: the usage if the error asks for it, then the
    (filtered) traceback or just the exception line."""
    lines = []
    if getattr(e, "print_usage", False):
        lines.append(short_usage)
    if getattr(e, "print_traceback", True):
        lines.append("".join(format_filtered_traceback(e, getattr(e, "filter_traceback", "default"))))
    else:
        lines.append("".join(traceback.format_exception_only(type(e), e)))
    return "\n".join(lines)
