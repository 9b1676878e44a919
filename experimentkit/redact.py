"""Hiding passwords in URLs and messages, for everything that is stored, shown or logged.

A store URL such as ``postgresql://me:s3cret@db/runs`` is given on the command line (``-s``, ``-m``)
and would otherwise reach ``run.json`` (``meta.options``), database rows, the dashboard, ``show``,
``rerun --dry-run`` and log lines.  Pure string work (no SQLAlchemy or pymongo import).
"""

from __future__ import annotations

import functools
import re
from typing import Any

__all__ = ["redact_url", "redact_text", "strip_password", "url_password", "one_line"]

_MASK = "***"


@functools.cache
def _userinfo() -> re.Pattern:
    """scheme://user:password@  (the password may hold anything but '@' and whitespace; the last
    '@' before the host ends it, as URL parsers do); compiled on first use, not at every run's start
    (~0.8 M instructions)."""
    return re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^:/?#@\s]*):(?P<pw>[^\s/?#]*)@")


def redact_text(text: Any) -> Any:
    """``text`` with the password of every URL in it replaced by ``***`` (non-strings unchanged)."""
    if not isinstance(text, str) or "://" not in text:
        return text
    return _userinfo().sub(lambda m: f"{m.group('head')}:{_MASK}@", text)


def redact_url(url: Any) -> Any:
    """The URL with its password shown as ``***`` (for messages)."""
    return redact_text(url)


def strip_password(url: Any) -> Any:
    """The URL without its password at all (for what is stored: ``user@host`` stays)."""
    if not isinstance(url, str) or "://" not in url:
        return url
    return _userinfo().sub(lambda m: f"{m.group('head')}@", url)


def url_password(url: str) -> str:
    """The password in ``url`` ("" if none)."""
    match = _userinfo().search(url or "")
    return match.group("pw") if match else ""


def one_line(exc: BaseException, limit: int = 200) -> str:
    """``Type: first line of the message`` cut to ``limit`` characters, passwords hidden: what a
    warning about a failed call shows (never a whole SQL statement with its parameters)."""
    text = str(exc).strip().splitlines()
    message = redact_text(text[0].strip()) if text else ""
    if len(message) > limit:
        message = message[: limit - 3] + "..."
    name = type(exc).__name__
    return f"{name}: {message}" if message else name
