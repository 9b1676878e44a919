"""The dashboard as one pure function: ``handle(store, method, path, query)``.

Keeping the web application free of sockets makes every page testable by a plain call and keeps the
HTTP wiring (``server.py``) trivial.  The application is read-only by construction: it answers GET
only and calls nothing on the store but reads (no tags, notes or deletes from the web).

Answers are ``(status, headers, body)``; ``body`` is ``bytes``, except for an artifact download,
where it is the binary file object the store opened (the caller streams and closes it).  Every
answer carries the security headers of :data:`SECURITY_HEADERS`.
"""
from __future__ import annotations

import json
import logging
import mimetypes
import re
from collections.abc import Mapping
from typing import Any, BinaryIO, Callable, Union
from urllib.parse import parse_qs, quote, unquote

from ..cli.output import default_columns, flatten, run_value
from ..errors import QueryError, StoreError, UsageError, suggest
from ..query import Filter, parse_key, parse_order, parse_where
from . import pages

__all__ = ["handle", "Response", "SECURITY_HEADERS", "CSP", "DEFAULT_LIMIT", "ROW_LIMIT",
           "split_where", "content_type_for", "error_response"]

log = logging.getLogger(__name__)

#: ``(status, [(header, value), ...], bytes or an open binary file)``
Response = tuple
CSP = ("default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Security-Policy", CSP),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
)
#: Runs listed when the page does not say ``limit``.
DEFAULT_LIMIT = 100
#: Rows shown per per-sample table.
ROW_LIMIT = 100
#: Captured output longer than this shows only its end.
OUTPUT_LIMIT = 200_000
_HTML = "text/html; charset=utf-8"
# Types a browser could run as a page or script: served as opaque bytes instead.
_ACTIVE_TYPES = re.compile(r"html|xml|javascript|ecmascript|svg|x-sh|x-httpd", re.I)


class _NotFound(Exception):
    """A run, artifact or page that does not exist (answered with 404)."""


def handle(store: Any, method: str, path: str, query: str = "") -> Response:
    """Answer one request.  ``path`` is the raw (percent-encoded) path, ``query`` the raw query
    string.  Errors become one-line pages: 404 unknown, 400 bad input, 405 not GET, 500 anything
    else (logged here, never shown as a traceback)."""
    try:
        if method != "GET":
            return error_response(405, f"{method} is not allowed: the dashboard is read-only",
                          [("Allow", "GET")])
        return _route(store, path, parse_qs(query, keep_blank_values=True))
    except _NotFound as exc:
        return error_response(404, str(exc) or "not found")
    except UsageError as exc:  # QueryError, a StoreError that is not a missing run, ...
        return error_response(400, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    except Exception:
        log.exception("dashboard request %s %s failed", method, path)
        return error_response(500, "internal error (details are in the server's log)")


# ---- plumbing ----------------------------------------------------------------------------------
def _answer(status: int, body: bytes, content_type: str = _HTML,
            extra: Union[list, tuple] = ()) -> Response:
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body))),
               *SECURITY_HEADERS, *extra]
    return status, headers, body


def error_response(status: int, message: str, extra: Union[list, tuple] = ()) -> Response:
    """A one-line error page with the security headers."""
    return _answer(status, pages.error_page(status, message), extra=extra)


def _param(params: Mapping[str, list], name: str, default: str = "") -> str:
    values = params.get(name)
    return values[-1] if values else default


def _flag(params: Mapping[str, list], name: str) -> bool:
    return _param(params, name).strip().lower() in ("1", "true", "yes", "on")


def _lookup(call: Callable, *args: Any) -> Any:
    """Call a store lookup; its ``StoreError`` (unknown run or artifact) means 404."""
    try:
        return call(*args)
    except StoreError as exc:
        raise _NotFound(str(exc).splitlines()[0] if str(exc) else "not found") from None


def _route(store: Any, path: str, params: Mapping[str, list]) -> Response:
    if not path.startswith("/"):
        raise _NotFound(f"no page '{path}'")
    # Split before decoding, so that an encoded '/' (%2F) stays inside its id or name.
    parts = [unquote(p) for p in path[1:].split("/")]
    if parts and parts[-1] == "" and len(parts) > 1:
        parts.pop()
    if parts == [""]:
        return _run_list(store, params)
    if parts == ["compare"]:
        return _compare(store, params)
    if parts == ["progress"]:
        return _progress(store, params)
    if len(parts) == 2 and parts[0] == "run":
        return _run(store, parts[1], params)
    if len(parts) == 4 and parts[0] == "run" and parts[2] == "artifact":
        return _artifact(store, parts[1], parts[3])
    raise _NotFound(f"no page '{path}'")


# ---- the run list -------------------------------------------------------------------------------
def split_where(text: str) -> list:
    """The where field: expressions separated by newlines or ``&&`` (all must hold)."""
    return [part.strip() for line in text.splitlines() for part in line.split("&&")
            if part.strip()]


def _limit(text: str) -> int:
    text = text.strip()
    if not text:
        return DEFAULT_LIMIT
    if not text.isdigit() or int(text) < 1:
        raise QueryError(f"limit must be a positive whole number, not {text!r}")
    return int(text)


def _run_list(store: Any, params: Mapping[str, list]) -> Response:
    form = {name: _param(params, name) for name in ("where", "sort", "limit", "columns")}
    try:
        filters = [parse_where(w) for w in split_where(form["where"])]
        orders = [parse_order(s) for s in form["sort"].split(",") if s.strip()]
        limit = _limit(form["limit"])
        chosen = [c.strip() for c in form["columns"].split(",") if c.strip()]
        for column in chosen:
            parse_key(column)  # unknown keys fail with a suggestion
        query = store.runs().where(*filters).order_by(*orders)
        total = query.count()
        records = query.limit(limit).all()
    except QueryError as exc:
        return _answer(400, pages.run_list_page([], [], [], form, None, str(exc)))
    columns = chosen or [c for c in default_columns(records) if c.startswith("config.")]
    metrics = sorted({f"metrics.{name}" for r in records for name in r.metrics} - set(columns))
    columns = columns + metrics
    values = [[run_value(r, c) for c in columns] for r in records]
    return _answer(200, pages.run_list_page(records, columns, values, form, total))


# ---- one run ------------------------------------------------------------------------------------
def _run(store: Any, run_id: str, params: Mapping[str, list]) -> Response:
    record = _lookup(store.get, run_id)
    series = {name: store.metric(record.id, name) for name in record.metrics}
    wanted_table, wanted_sort = _param(params, "table"), _param(params, "sort").strip()
    tables: dict = {}
    sorts: dict = {}
    for name in record.tables():
        sort = wanted_sort if name == wanted_table and wanted_sort.lstrip("+-") else ""
        sorts[name] = sort
        rows = record.rows(name, sort=sort or (), limit=ROW_LIMIT + 1)
        tables[name] = (rows[:ROW_LIMIT], len(rows) > ROW_LIMIT)
    captured = record.captured_out() or ""
    clipped = len(captured) > OUTPUT_LIMIT
    body = pages.run_page(record, series, tables, captured[-OUTPUT_LIMIT:], clipped, sorts)
    return _answer(200, body)


def content_type_for(name: str) -> str:
    """A Content-Type from the file name that a browser cannot execute (scripts, HTML and SVG are
    plain bytes here); unknown names are ``application/octet-stream``."""
    guessed, _ = mimetypes.guess_type(name, strict=False)
    if not guessed or _ACTIVE_TYPES.search(guessed):
        return "application/octet-stream"
    return guessed


def _disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback name and the exact name in RFC 5987 form (no quotes,
    backslashes or control characters can reach the header)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1] or "artifact"
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;' else "_" for c in base)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(base, safe='')}"


def _artifact(store: Any, run_id: str, name: str) -> Response:
    record = _lookup(store.get, run_id)
    stream: BinaryIO = _lookup(store.artifact, record.id, name)
    headers = [("Content-Type", content_type_for(name)),
               ("Content-Disposition", _disposition(name)), *SECURITY_HEADERS]
    try:
        if stream.seekable():
            size = stream.seek(0, 2)
            stream.seek(0)
            headers.insert(1, ("Content-Length", str(size)))
    except (OSError, AttributeError, ValueError):
        pass  # unknown length: the server closes the connection after the body instead
    return 200, headers, stream


# ---- several runs -------------------------------------------------------------------------------
def _compare(store: Any, params: Mapping[str, list]) -> Response:
    ids = list(dict.fromkeys(i.strip() for value in params.get("ids", [])
                             for i in value.split(",") if i.strip()))
    if len(ids) < 2:
        return error_response(400, "compare needs at least two runs, as in /compare?ids=1,2")
    records = [_lookup(store.get, run_id) for run_id in ids]
    show_all = _flag(params, "all")
    flat = [flatten(r.config) for r in records]
    keys = sorted({k for f in flat for k in f})

    def differs(key: str) -> bool:
        return len({json.dumps(f.get(key), sort_keys=True, default=str) for f in flat}) > 1

    config_rows = [(f"config.{k}", [f.get(k) for f in flat]) for k in keys
                   if show_all or differs(k)]
    metric_rows = [(name, [(r.metrics.get(name) or {}).get("last") for r in records])
                   for name in sorted({n for r in records for n in r.metrics})]
    body = pages.compare_page(records, config_rows, metric_rows, show_all, ",".join(ids))
    return _answer(200, body)


def _progress(store: Any, params: Mapping[str, list]) -> Response:
    metric = _param(params, "metric").strip()
    metric = metric[len("metrics."):] if metric.startswith("metrics.") else metric
    minimize = _flag(params, "min")
    where = _param(params, "where")
    names = sorted({n for r in store.runs().all() for n in r.metrics})
    if metric and metric not in names:
        return _answer(400, pages.progress_page(
            metric, minimize, where, names, [],
            f"no run logged the metric '{metric}'{suggest(metric, names)}"))
    metric = metric or (names[0] if names else "")
    points: list = []
    if metric:
        try:
            filters = [parse_where(w) for w in split_where(where)]
        except QueryError as exc:
            return _answer(400, pages.progress_page(metric, minimize, where, names, [], str(exc)))
        has_value = Filter(parse_key(f"metrics.{metric}.last").text, "!=", None)
        for record in store.runs().where(*filters, has_value).all():
            when = record.stop_time or record.heartbeat or record.start_time
            if when is not None:
                points.append((when, record.metrics[metric]["last"], record.id,
                               pages.run_href(record.id)))
        points.sort(key=lambda p: p[0])
    return _answer(200, pages.progress_page(metric, minimize, where, names, points))
