"""The dashboard as one function of the request: ``handle(store, method, path, query, ...)``.

Keeping the web application free of sockets makes every page testable by a plain call; the HTTP
side (``server.py``, Starlette under uvicorn) only adds the access token, the Host check and the
static files.  Reading is all it does unless ``Settings.allow_writes``: then tags and notes can be
changed by POSTs that carry the page's CSRF token and come from the dashboard's own origin, through
the same store calls as ``experimentkit tag/untag/note``.

Answers are ``(status, headers, body)``; ``body`` is ``bytes``, except for an artifact download,
where it is the binary file object the store opened (the caller streams and closes it).  Every
answer carries the security headers of :data:`SECURITY_HEADERS`.
"""

from __future__ import annotations

import hmac
import json
import logging
import mimetypes
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Callable, Optional, Union
from urllib.parse import parse_qs, quote, unquote, urlsplit

from ..cli.output import cell, flatten, run_value
from ..errors import QueryError, StoreError, UsageError, suggest
from ..query import Filter, parse_key, parse_order, parse_row_where, parse_where
from . import charts, pages

__all__ = [
    "handle",
    "Response",
    "Settings",
    "SECURITY_HEADERS",
    "CSP",
    "PAGE_SIZE",
    "ROW_LIMIT",
    "split_where",
    "content_type_for",
    "error_response",
    "inline_image_type",
    "find_run",
    "compare_data",
    "progress_data",
    "source_diff",
    "sweep_data",
]

log = logging.getLogger(__name__)

#: ``(status, [(header, value), ...], bytes or an open binary file)``
Response = tuple
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Security-Policy", CSP),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Cache-Control", "no-store"),
)
#: Runs per page of the table when the address does not say ``per``.
PAGE_SIZE = 50
#: Rows per page of a per-sample table.
ROW_LIMIT = 100
#: Captured output longer than this shows only its end.
OUTPUT_LIMIT = 200_000
#: Text artifacts are previewed up to this many bytes.
PREVIEW_BYTES = 64 * 1024
_HTML = "text/html; charset=utf-8"
_JSON = "application/json"
# Types a browser could run as a page or script: served as opaque bytes instead.
_ACTIVE_TYPES = re.compile(r"html|xml|javascript|ecmascript|svg|x-sh|x-httpd", re.I)
# Raster images a browser only decodes (never runs): the only artifacts shown inline.
_INLINE_IMAGES = {"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"}
_STATUSES = ("RUNNING", "COMPLETED", "FAILED", "INTERRUPTED", "TIMEOUT", "QUEUED", "DEAD")


@dataclass
class Settings:
    """What one dashboard allows: writes (tags, notes) only when ``allow_writes``; ``csrf`` is the
    secret every write form carries (one per server start)."""

    allow_writes: bool = False
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))


class _NotFound(Exception):
    """A run, artifact or page that does not exist (answered with 404)."""


class _Forbidden(Exception):
    """A write the dashboard refuses (read-only, bad CSRF token, foreign origin): 403."""


def handle(
    store: Any,
    method: str,
    path: str,
    query: str = "",
    *,
    form: Optional[Mapping[str, list]] = None,
    origin: Optional[str] = None,
    host: Optional[str] = None,
    settings: Optional[Settings] = None,
) -> Response:
    """Answer one request.  ``path`` is the raw (percent-encoded) path, ``query`` the raw query
    string; for a POST, ``form`` is the parsed body, ``origin`` the Origin (or Referer) header and
    ``host`` the Host header.  Errors become one-line pages: 404 unknown, 400 bad input, 403 a
    refused write, 405 other methods, 500 anything else (logged, never shown as a traceback)."""
    settings = settings or Settings()
    try:
        if method == "POST":
            return _post(store, path, form or {}, origin, host, settings)
        if method != "GET":
            return error_response(405, f"{method} is not allowed", [("Allow", "GET, POST")])
        return _route(store, path, parse_qs(query, keep_blank_values=True), settings)
    except _NotFound as exc:
        return error_response(404, str(exc) or "not found")
    except _Forbidden as exc:
        return error_response(403, str(exc))
    except UsageError as exc:  # QueryError, a StoreError that is not a missing run, ...
        return error_response(400, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    except Exception:
        log.exception("dashboard request %s %s failed", method, path)
        return error_response(500, "internal error (details are in the server's log)")


# ---- plumbing ----------------------------------------------------------------------------------
def _answer(status: int, body: bytes, content_type: str = _HTML, extra: Union[list, tuple] = ()) -> Response:
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body))), *SECURITY_HEADERS, *extra]
    return status, headers, body


def _json(value: Any) -> Response:
    return _answer(200, json.dumps(value, default=str).encode(), _JSON)


def error_response(status: int, message: str, extra: Union[list, tuple] = ()) -> Response:
    """A one-line error page with the security headers."""
    return _answer(status, pages.error_page(status, message), extra=extra)


def _param(params: Mapping[str, list], name: str, default: str = "") -> str:
    values = params.get(name)
    return values[-1] if values else default


def _flag(params: Mapping[str, list], name: str) -> bool:
    return _param(params, name).strip().lower() in ("1", "true", "yes", "on")


def _positive(text: str, name: str, default: int, most: int = 10**9) -> int:
    text = text.strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise QueryError(f"{name} must be a positive whole number, not {text!r}")
    return min(int(text), most)


def _lookup(call: Callable, *args: Any) -> Any:
    """Call a store lookup; its ``StoreError`` (unknown run or artifact) means 404."""
    try:
        return call(*args)
    except StoreError as exc:
        raise _NotFound(str(exc).splitlines()[0] if str(exc) else "not found") from None


def find_run(store: Any, run_id: str) -> Any:
    """One run, through a query when it finds it (stores answer queries from their indexes, while
    ``get`` may re-summarize every metric point), else through ``get`` for its ``StoreError``."""
    found = store.runs().where(Filter("id", "==", run_id)).first()
    return found if found is not None else store.get(run_id)


def _record(store: Any, run_id: str) -> Any:
    return _lookup(find_run, store, run_id)


def _parts(path: str) -> list:
    if not path.startswith("/"):
        raise _NotFound(f"no page '{path}'")
    # Split before decoding, so that an encoded '/' (%2F) stays inside its id or name.
    parts = [unquote(p) for p in path[1:].split("/")]
    if parts and parts[-1] == "" and len(parts) > 1:
        parts.pop()
    return parts


def _ids(params: Mapping[str, list]) -> list:
    return list(
        dict.fromkeys(i.strip() for value in params.get("ids", []) for i in value.split(",") if i.strip())
    )


def _route(store: Any, path: str, params: Mapping[str, list], settings: Settings) -> Response:
    parts = _parts(path)
    if parts == [""]:
        return _run_list(store, params)
    if parts == ["compare"]:
        return _compare(store, params)
    if parts == ["report"]:
        return _report(store, params)
    if parts == ["progress"]:
        return _progress(store, params)
    if parts == ["sweeps"]:
        return _sweeps(store)
    if len(parts) == 2 and parts[0] == "sweep":
        return _sweep(store, parts[1], params)
    if len(parts) == 2 and parts[0] == "run":
        return _run(store, parts[1], params, settings)
    if len(parts) == 4 and parts[0] == "run" and parts[2] == "source":
        return _source(store, parts[1], parts[3])
    if len(parts) == 4 and parts[0] == "run" and parts[2] == "artifact":
        return _artifact(store, parts[1], parts[3], _flag(params, "inline"))
    if len(parts) == 3 and parts[:2] == ["api", "live"]:
        return _live(store, parts[2])
    raise _NotFound(f"no page '{path}'")


# ---- the run list -------------------------------------------------------------------------------
def split_where(text: str) -> list:
    """The where field: expressions separated by newlines or ``&&`` (all must hold)."""
    return [part.strip() for line in text.splitlines() for part in line.split("&&") if part.strip()]


def _quick_filters(form: Mapping[str, str]) -> list:
    """The quick filters (status, tag, experiment) as query filters."""
    filters = []
    if form["status"]:
        if form["status"] not in _STATUSES:
            raise QueryError(f"unknown status '{form['status']}'{suggest(form['status'], _STATUSES)}")
        filters.append(Filter("status", "==", form["status"]))
    if form["tag"]:
        filters.append(Filter("tags", "contains", form["tag"]))
    if form["experiment"]:
        filters.append(Filter("experiment", "==", form["experiment"]))
    return filters


def _run_list(store: Any, params: Mapping[str, list]) -> Response:
    form = {
        name: _param(params, name).strip()
        for name in ("where", "sort", "columns", "status", "tag", "experiment", "page", "per")
    }
    form["where"] = _param(params, "where")
    form["columns"] = ",".join(c for c in params.get("columns", []) if c.strip())
    form["ids"] = ",".join(_ids(params))  # the ticked runs, kept across pages and sorts
    try:
        filters = [parse_where(w) for w in split_where(form["where"])] + _quick_filters(form)
        per = _positive(form["per"], "per", PAGE_SIZE, 1000)
        page = _positive(form["page"], "page", 1)
        chosen = [c.strip() for c in form["columns"].split(",") if c.strip()]
        for column in chosen:
            if column != "duration":
                parse_key(column)  # unknown keys fail with a suggestion
        sort = form["sort"]
        query = store.runs().where(*filters)
        total = query.count()
        start = (page - 1) * per
        if sort.lstrip("+-") == "duration":  # not a stored key: sort the matching runs here
            everything = query.all()
            timed = [r for r in everything if r.duration is not None]
            timed.sort(key=lambda r: r.duration, reverse=sort.startswith("-"))
            records = (timed + [r for r in everything if r.duration is None])[start : start + per]
        else:
            orders = [parse_order(s) for s in sort.split(",") if s.strip()]
            records = query.order_by(*orders).offset(start).limit(per).all()
    except QueryError as exc:
        return _answer(400, pages.run_list_page([], [], [], form, None, [], str(exc)))
    candidates = _column_candidates(store)
    columns = chosen or _default_columns(records)
    values = [[_cell_value(r, c) for c in columns] for r in records]
    return _answer(200, pages.run_list_page(records, columns, values, form, total, candidates))


def _default_columns(records: list) -> list:
    flat = [flatten(r.config) for r in records]
    keys = sorted({k for f in flat for k in f} - {"seed"})
    varying = [
        f"config.{k}"
        for k in keys
        if len({json.dumps(f.get(k), sort_keys=True, default=str) for f in flat}) > 1
    ]
    metrics = [f"metrics.{n}" for n in sorted({n for r in records for n in r.metrics})]
    return varying + metrics + ["notes"]


#: Most config keys and metric names the column chooser lists (the page stays small).
CANDIDATE_LIMIT = 300
#: The store's key catalogue is read again after this many seconds (reading it means reading the
#: config of every run: too slow for every page of a 10,000-run table).
KEYS_FRESH_SECONDS = 30.0
_KEYS_CACHE: dict = {}


def _key_names(store: Any, root: str) -> list:
    key = (id(store), str(store), root)
    cached = _KEYS_CACHE.get(key)
    now = time.monotonic()
    if cached is None or now - cached[0] > KEYS_FRESH_SECONDS:
        cached = _KEYS_CACHE[key] = (now, store.key_names(root))
    return cached[1]


def _column_candidates(store: Any) -> list:
    """Every column the chooser offers: the config keys and metrics of the whole store (its key
    catalogue, not only the runs on this page; refreshed every ``KEYS_FRESH_SECONDS``), then the
    fixed columns and the sweep."""
    config = _key_names(store, "config")[:CANDIDATE_LIMIT]
    metrics = [
        f"{name}.{agg}"
        for name in _key_names(store, "metrics")[:CANDIDATE_LIMIT]
        for agg in ("last", "min", "max")
    ]
    return (
        config
        + metrics
        + [
            "result",
            "tags",
            "notes",
            "duration",
            "sweep",
            "sweep.index",
            "resources.path",
            "host.hostname",
            "command",
            "stop_time",
            "meta.comment",
        ]
    )


def _cell_value(record: Any, column: str) -> Any:
    if column == "duration":
        return record.duration
    return run_value(record, column)


# ---- one run ------------------------------------------------------------------------------------
#: Downsampled series kept between requests: reading a 10^6-point metric from a store takes
#: seconds, its chart data is a few kB.  Keyed by the metric's summary (count, last, min, max),
#: so a series that grew (a RUNNING run) is read again.
_SERIES_CACHE: OrderedDict = OrderedDict()
_SERIES_CACHE_SIZE = 256


def _series(store: Any, record: Any, name: str) -> dict:
    summary = record.metrics.get(name) or {}
    key = (str(store), record.id, name, json.dumps(summary, sort_keys=True, default=str))
    data = _SERIES_CACHE.get(key)
    if data is None:
        data = charts.series_json(store.metric(record.id, name))
        _SERIES_CACHE[key] = data
        while len(_SERIES_CACHE) > _SERIES_CACHE_SIZE:
            _SERIES_CACHE.popitem(last=False)
    else:
        _SERIES_CACHE.move_to_end(key)
    return dict(data)


def _metric_charts(records: list, store: Any, names: Optional[list] = None) -> list:
    """One chart per metric name, with a series per run that logged it."""
    names = names if names is not None else sorted({n for r in records for n in r.metrics})
    out = []
    for name in names:
        series = []
        for record in records:
            if name in record.metrics:
                data = _series(store, record, name)
                data.update(label=f"run {record.id}", href=pages.run_href(record.id))
                series.append(data)
        out.append({"title": name, "series": series})
    return out


def _run(store: Any, run_id: str, params: Mapping[str, list], settings: Settings) -> Response:
    record = _record(store, run_id)
    chart_data = _metric_charts([record], store)
    tables = {}
    wanted = _param(params, "table")
    for name in record.tables():
        state = {"where": "", "sort": "", "page": "1"}
        if name == wanted:
            state.update(
                where=_param(params, "where"),
                sort=_param(params, "sort").strip(),
                page=_param(params, "page", "1"),
            )
        tables[name] = _sample_rows(record, name, state)
    captured = record.captured_out() or ""
    clipped = len(captured) > OUTPUT_LIMIT
    previews = [_preview(store, record, name) for name in record.artifacts]
    body = pages.run_page(record, chart_data, tables, captured[-OUTPUT_LIMIT:], clipped, previews, settings)
    return _answer(200, body)


def _sample_rows(record: Any, name: str, state: dict) -> dict:
    """One page of a per-sample table, filtered and sorted as ``state`` says (errors shown)."""
    page = int(state["page"]) if state["page"].isdigit() and int(state["page"]) > 0 else 1
    state["page"] = str(page)
    try:
        where = [parse_row_where(w) for w in split_where(state["where"])]
        sort = state["sort"] if state["sort"].lstrip("+-") else ()
        rows = record.rows(name, where=where, sort=sort, limit=page * ROW_LIMIT + 1)
    except QueryError as exc:
        return {**state, "rows": [], "more": False, "error": str(exc)}
    return {
        **state,
        "rows": rows[(page - 1) * ROW_LIMIT : page * ROW_LIMIT],
        "more": len(rows) > page * ROW_LIMIT,
        "error": None,
    }


def inline_image_type(name: str) -> Optional[str]:
    """The Content-Type of a raster image artifact that may be shown inline, else None."""
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed if guessed in _INLINE_IMAGES else None


def _preview(store: Any, record: Any, name: str) -> dict:
    """What the run page shows for one artifact: ``kind`` image/text/json/csv/html/binary and,
    for text kinds, the start of its content."""
    lower = name.lower()
    if inline_image_type(name):
        return {"name": name, "kind": "image"}
    kind = (
        "json"
        if lower.endswith(".json")
        else "csv"
        if lower.endswith((".csv", ".tsv"))
        else "html"
        if lower.endswith((".html", ".htm"))
        else "text"
        if lower.endswith(
            (
                ".txt",
                ".log",
                ".md",
                ".yaml",
                ".yml",
                ".py",
                ".cfg",
                ".ini",
                ".toml",
                ".svg",
                ".js",
                ".xml",
                ".out",
                ".err",
            )
        )
        else "binary"
    )
    if kind == "binary":
        return {"name": name, "kind": kind}
    try:
        with store.artifact(record.id, name) as stream:
            raw = stream.read(PREVIEW_BYTES + 1)
    except (StoreError, OSError) as exc:
        return {"name": name, "kind": "error", "text": str(exc).splitlines()[0]}
    clipped = len(raw) > PREVIEW_BYTES
    text = raw[:PREVIEW_BYTES].decode("utf-8", errors="replace")
    if kind == "json" and not clipped:
        try:
            text = json.dumps(json.loads(text), indent=2)
        except ValueError:
            pass
    return {"name": name, "kind": kind, "text": text, "clipped": clipped}


def content_type_for(name: str) -> str:
    """A Content-Type from the file name that a browser cannot execute (scripts, HTML and SVG are
    plain bytes here); unknown names are ``application/octet-stream``."""
    guessed, _ = mimetypes.guess_type(name, strict=False)
    if not guessed or _ACTIVE_TYPES.search(guessed):
        return "application/octet-stream"
    return guessed


def _disposition(name: str, inline: bool = False) -> str:
    """``attachment`` (or ``inline``) with an ASCII fallback name and the exact name in RFC 5987
    form (no quotes, backslashes or control characters can reach the header)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1] or "artifact"
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;' else "_" for c in base)
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(base, safe='')}"


def _artifact(store: Any, run_id: str, name: str, inline: bool) -> Response:
    record = _record(store, run_id)
    stream: BinaryIO = _lookup(store.artifact, record.id, name)
    image = inline_image_type(name) if inline else None
    headers = [
        ("Content-Type", image or content_type_for(name)),
        ("Content-Disposition", _disposition(name, inline=bool(image))),
        *SECURITY_HEADERS,
    ]
    try:
        if stream.seekable():
            size = stream.seek(0, 2)
            stream.seek(0)
            headers.insert(1, ("Content-Length", str(size)))
    except (OSError, AttributeError, ValueError):
        pass  # unknown length: the server closes the connection after the body instead
    return 200, headers, stream


#: Source files longer than this show only their start (and are diffed only up to it).
SOURCE_LIMIT = 1_000_000


def _source_text(store: Any, run_id: str, relpath: str) -> str:
    """The stored source file as text (its start, when very long); ``StoreError`` passes on."""
    return store.source(run_id, relpath)[:SOURCE_LIMIT].decode("utf-8", errors="replace")


def _source(store: Any, run_id: str, relpath: str) -> Response:
    """One stored source file of a run, as escaped text on a page (404 for a file the run did not
    record; the store refuses any path outside itself)."""
    record = _record(store, run_id)
    text = _lookup(_source_text, store, record.id, relpath)
    return _answer(200, pages.source_page(record, relpath, text))


def source_diff(store: Any, old_id: str, new_id: str, relpath: str) -> dict:
    """The unified diff of one source file between two runs: ``{"old", "new", "path", "lines"}``,
    or ``"error"`` (the file is missing from a run or not kept) instead of ``lines``."""
    import difflib

    out: dict = {"old": old_id, "new": new_id, "path": relpath}
    try:
        old = _source_text(store, old_id, relpath).splitlines()
        new = _source_text(store, new_id, relpath).splitlines()
    except StoreError as exc:
        out["error"] = str(exc).splitlines()[0] if str(exc) else "not available"
        return out
    out["lines"] = list(
        difflib.unified_diff(old, new, f"run {old_id}: {relpath}", f"run {new_id}: {relpath}", lineterm="")
    )
    return out


def _live(store: Any, run_id: str) -> Response:
    """What a RUNNING run's page polls: status, metric charts and the end of the output."""
    record = _record(store, run_id)
    captured = record.captured_out() or ""
    return _json(
        {
            "status": record.status,
            "charts": _metric_charts([record], store),
            "output": captured[-OUTPUT_LIMIT:],
            "heartbeat": record.heartbeat.isoformat() if record.heartbeat else None,
        }
    )


# ---- several runs -------------------------------------------------------------------------------
def compare_data(store: Any, ids: list, show_all: bool = False, diff: Optional[str] = None) -> dict:
    """Everything the compare page (and ``experimentkit report``) shows for ``ids``; ``diff``
    names a source file to diff between the first run and each other run."""
    records = [_record(store, run_id) for run_id in ids]
    flat = [flatten(r.config) for r in records]
    keys = sorted({k for f in flat for k in f})

    def differs(values: list) -> bool:
        return len({json.dumps(v, sort_keys=True, default=str) for v in values}) > 1

    config_rows = [
        (f"config.{k}", [f.get(k) for f in flat])
        for k in keys
        if show_all or differs([f.get(k) for f in flat])
    ]
    metric_rows = [
        (name, [(r.metrics.get(name) or {}).get("last") for r in records])
        for name in sorted({n for r in records for n in r.metrics})
    ]

    def listing(record: Any, field_name: str) -> dict:
        out = {}
        for item in record.experiment.get(field_name) or []:
            if field_name == "sources" and isinstance(item, (list, tuple)) and item:
                out[str(item[0])] = str(item[1]) if len(item) > 1 else ""
            elif field_name == "dependencies":
                dep, _, version = str(item).partition("==")
                out[dep] = version
            elif field_name == "repositories" and isinstance(item, Mapping):
                out[str(item.get("url"))] = f"{item.get('commit')}{' (dirty)' if item.get('dirty') else ''}"
        return out

    other_rows = {}
    for field_name in ("dependencies", "repositories", "sources"):
        per_run = [listing(r, field_name) for r in records]
        names = sorted({n for p in per_run for n in p})
        other_rows[field_name] = [
            (n, [p.get(n) for p in per_run])
            for n in names
            if show_all or differs([p.get(n) for p in per_run])
        ]
    numeric = [
        (k, values)
        for k, values in config_rows
        if k != "config.seed" and sum(charts.number(v) is not None for v in values) >= 2
    ]
    results = [
        {
            "id": r.id,
            "href": pages.run_href(r.id),
            "config": {k: charts.number(v[i]) for k, v in numeric},
            "metrics": {n: charts.number((r.metrics.get(n) or {}).get("last")) for n, _ in metric_rows},
        }
        for i, r in enumerate(records)
    ]
    return {
        "records": records,
        "config_rows": config_rows,
        "metric_rows": metric_rows,
        "other_rows": other_rows,
        "charts": _metric_charts(records, store),
        "params": {"keys": [k for k, _ in numeric], "metrics": [n for n, _ in metric_rows], "runs": results},
        "images": [[a for a in r.artifacts if inline_image_type(a)] for r in records],
        "texts": _shared_texts(store, records),
        "source_diffs": [source_diff(store, records[0].id, r.id, diff) for r in records[1:]] if diff else [],
    }


#: Text artifacts are set side by side on the compare page for up to this many runs and names
#: (each preview reads the start of a file from the store).
SIDE_BY_SIDE_RUNS = 8
SIDE_BY_SIDE_NAMES = 12


def _shared_texts(store: Any, records: list) -> list:
    """``[(name, [preview or None per run], differs)]`` for the text, JSON, CSV and HTML artifacts
    that two or more of the runs have, in name order; empty for more than ``SIDE_BY_SIDE_RUNS``
    runs."""
    if len(records) > SIDE_BY_SIDE_RUNS:
        return []
    counts: dict = {}
    for record in records:
        for name in dict.fromkeys(record.artifacts):
            if not inline_image_type(name):
                counts[name] = counts.get(name, 0) + 1
    out = []
    for name in sorted(n for n, c in counts.items() if c >= 2):
        previews = [_preview(store, r, name) if name in r.artifacts else None for r in records]
        if any(p is not None and p["kind"] == "binary" for p in previews):
            continue
        out.append((name, previews, len({json.dumps(p, sort_keys=True) for p in previews}) > 1))
        if len(out) == SIDE_BY_SIDE_NAMES:
            break
    return out


#: Most runs ``/compare?where=...`` takes (the first ones in id order).
COMPARE_LIMIT = 200


def _compared_ids(store: Any, params: Mapping[str, list]) -> list:
    """The runs to compare: ``ids`` (repeated or comma-separated), or those matching ``where``."""
    ids = _ids(params)
    where = _param(params, "where")
    if not ids and where.strip():
        filters = [parse_where(w) for w in split_where(where)]
        ids = [r.id for r in store.runs().where(*filters).limit(COMPARE_LIMIT).all()]
    if len(ids) < 2:
        raise QueryError(
            "compare needs at least two runs, as in /compare?ids=1,2 or /compare?where=config.sweep+%3D%3D+3"
        )
    return ids


def _compare(store: Any, params: Mapping[str, list]) -> Response:
    ids = _compared_ids(store, params)
    show_all = _flag(params, "all")
    data = compare_data(store, ids, show_all, _param(params, "diff") or None)
    return _answer(200, pages.compare_page(data, show_all, ",".join(ids)))


def _report(store: Any, params: Mapping[str, list]) -> Response:
    """The self-contained HTML of ``experimentkit report``, as a download."""
    from .report import render_report

    ids = _ids(params)
    if not ids:
        raise QueryError("report needs runs, as in /report?ids=1 or /report?ids=1,2")
    for run_id in ids:
        _record(store, run_id)  # unknown runs are 404
    body = render_report(store, ids, _flag(params, "all"))
    name = f"experimentkit-{'run-' + ids[0] if len(ids) == 1 else 'compare-' + '-'.join(ids[:5])}"
    return _answer(
        200, body, "text/html; charset=utf-8", [("Content-Disposition", _disposition(f"{name}.html"))]
    )


def _progress(store: Any, params: Mapping[str, list]) -> Response:
    metric = _param(params, "metric").strip()
    metric = metric[len("metrics.") :] if metric.startswith("metrics.") else metric
    asked = _param(params, "min").strip().lower()
    # min=1 / min=0 choose; absent (or "auto"), the metric's own direction decides
    chosen: Optional[bool] = None if asked in ("", "auto") else _flag(params, "min")
    minimize = bool(chosen)
    where = _param(params, "where")
    extra = [m.strip() for m in _param(params, "also").split(",") if m.strip()]
    try:
        filters = [parse_where(w) for w in split_where(where)]
        if _ids(params):
            filters.append(Filter("id", "in", _ids(params)))
    except QueryError as exc:
        return _answer(400, pages.progress_page(metric, minimize, where, [], {}, str(exc)))
    records = store.runs().where(*filters).all()
    names = sorted({n for r in records for n in r.metrics})
    for name in ([metric] if metric else []) + extra:
        if name not in names:
            return _answer(
                400,
                pages.progress_page(
                    metric,
                    minimize,
                    where,
                    names,
                    {},
                    f"no run logged the metric '{name}'{suggest(name, names)}",
                ),
            )
    metric = metric or (names[0] if names else "")
    data: dict = {}
    note = ""
    if metric:
        minimize, note = store.goal_note(metric, chosen)
        note = re.sub(
            r" \(--m(in|ax)\)$", " (chosen on this page)", re.sub(r"; --m(in|ax) to override", "", note)
        )
        data = progress_data(records, metric, minimize, extra)
    form = {
        "also": ",".join(extra),
        "direction": "" if chosen is None else ("1" if chosen else "0"),
        "note": note,
    }
    return _answer(200, pages.progress_page(metric, minimize, where, names, data, None, form))


def progress_data(records: list, metric: str, minimize: bool, extra: list) -> dict:
    """Best-so-far over wall-clock time, per-run values sorted, and several metrics per run."""
    points = []
    for record in records:
        value = charts.number((record.metrics.get(metric) or {}).get("last"))
        when = charts.number(record.stop_time or record.heartbeat or record.start_time)
        if value is not None and when is not None:
            points.append((when, value, record))
    points.sort(key=lambda p: p[0])
    best = charts.best_so_far([p[1] for p in points], minimize)
    ranked = sorted(points, key=lambda p: p[1], reverse=not minimize)
    shown = [metric] + [m for m in extra if m != metric]
    bars = [
        {
            "id": r.id,
            "href": pages.run_href(r.id),
            "name": r.experiment_name,
            "values": {m: charts.number((r.metrics.get(m) or {}).get("last")) for m in shown},
        }
        for _, _, r in ranked
    ]
    return {
        "metric": metric,
        "minimize": minimize,
        "metrics": shown,
        "timeline": {
            "time": [p[0] for p in points],
            "value": [p[1] for p in points],
            "best": best,
            "ids": [p[2].id for p in points],
            "hrefs": [pages.run_href(p[2].id) for p in points],
        },
        "bars": bars,
    }


# ---- sweeps -------------------------------------------------------------------------------------
def _sweep_book(store: Any) -> Any:
    from ..sweep.records import book_for_store

    return book_for_store(store)


def _sweeps(store: Any) -> Response:
    """Every sweep of the store, newest first."""
    book = _sweep_book(store)
    records = list(reversed(book.records())) if book is not None else []
    return _answer(200, pages.sweeps_page(records, book is not None))


def _sweep(store: Any, sweep_id: str, params: Mapping[str, list]) -> Response:
    book = _sweep_book(store)
    if book is None:
        raise _NotFound(f"this store ({store}) keeps no sweep records")
    record = _lookup(book.get, sweep_id)
    objective = _param(params, "objective").strip()
    objective = objective[len("metrics.") :] if objective.startswith("metrics.") else objective
    direction = _param(params, "min").strip()
    minimize: Optional[bool] = None if direction not in ("0", "1") else direction == "1"
    data = sweep_data(store, record, objective or None, minimize)
    data["direction"] = direction if minimize is not None else ""  # as asked: "" is automatic
    return _answer(200, pages.sweep_page(data))


def sweep_data(
    store: Any, record: dict, objective: Optional[str] = None, minimize: Optional[bool] = None
) -> dict:
    """What the sweep page shows: the swept values against every metric (one row per task, the
    latest run of each, sorted by ``objective``, best marked), counts by status, and the
    parallel-coordinates data (categorical values as positions with their labels).  The
    objective defaults to the sweep's own (Optuna), else the first metric; the direction to the
    sweep's, else what the store knows of the metric (``Store.goal_note``)."""
    from ..cli.sweep import sweep_rows

    runs = store.runs().where(**{"meta.sweep.id": record["id"]}).all()
    names = sorted({n for r in runs for n in r.metrics})
    objective = objective or record.get("objective") or (names[0] if names else None)
    if objective is not None and names and objective not in names:
        raise QueryError(
            f"no run of sweep {record['id']} logged the metric '{objective}'{suggest(objective, names)}"
        )
    note = ""
    if minimize is None and record.get("direction") in ("minimize", "maximize"):
        minimize = record["direction"] == "minimize"
        note = f"{objective}: {'lower' if minimize else 'higher'} is better (the sweep's direction)"
    if objective is not None and minimize is None:
        minimize, note = store.goal_note(objective)
        note = re.sub(r"; --m(in|ax) to override", "", note)
    elif objective is not None and not note:
        note = f"{objective}: {'lower' if minimize else 'higher'} is better"
    headers, rows, best, counts = sweep_rows(store, record, names, objective, bool(minimize))
    keys = list(dict.fromkeys(k for task in record.get("tasks") or [] for k in task.get("values") or {}))
    names = headers[4 + len(keys) :]
    return {
        "record": record,
        "objective": objective,
        "minimize": bool(minimize),
        "note": note,
        "metrics": names,
        "headers": headers,
        "rows": rows,
        "best": best,
        "counts": counts,
        "params": _sweep_params(keys, names, rows, best, record.get("tasks") or []),
    }


def _sweep_params(keys: list, metrics: list, rows: list, best: Any, tasks: list) -> dict:
    """The ``ek-params`` block of the sweep page: one entry per run that ran, numbers on every
    axis; words (named configs, strings, lists) become their position among the axis' distinct
    values (in the sweep's task order, whatever the sort), whose labels are listed in
    ``categories`` so the chart can name them."""
    categories: dict = {}
    positions: dict = {}
    for key in keys:
        values = [t["values"][key] for t in tasks if (t.get("values") or {}).get(key) is not None]
        if any(charts.number(v) is None for v in values):
            distinct = dict.fromkeys(json.dumps(v, sort_keys=True, default=str) for v in values)
            positions[key] = {text: i for i, text in enumerate(distinct)}
            categories[key] = [cell(json.loads(text)) for text in distinct]
    runs = []
    for row in rows:
        if row[2] is None:  # a task that never ran
            continue
        config = {}
        for at, key in enumerate(keys):
            value = row[4 + at]
            if key in positions:
                config[key] = (
                    None if value is None else positions[key][json.dumps(value, sort_keys=True, default=str)]
                )
            else:
                config[key] = charts.number(value)
        runs.append(
            {
                "id": row[2],
                "href": pages.run_href(row[2]),
                "config": config,
                "metrics": {m: charts.number(row[4 + len(keys) + i]) for i, m in enumerate(metrics)},
            }
        )
    return {"keys": keys, "metrics": metrics, "runs": runs, "categories": categories, "best": best}


# ---- writes -------------------------------------------------------------------------------------
def _same_origin(origin: Optional[str], host: Optional[str]) -> bool:
    """True when the request's Origin (or Referer) names the host it was sent to."""
    if not origin or not host or origin == "null":
        return False
    return urlsplit(origin).netloc.lower() == host.lower()


def _post(
    store: Any,
    path: str,
    form: Mapping[str, list],
    origin: Optional[str],
    host: Optional[str],
    settings: Settings,
) -> Response:
    if not settings.allow_writes:
        raise _Forbidden("this dashboard is read-only (start it with --allow-writes to edit tags and notes)")
    if not _same_origin(origin, host):
        raise _Forbidden("refused: the request does not come from this dashboard's own pages")
    if not hmac.compare_digest(_param(form, "csrf"), settings.csrf):
        raise _Forbidden("refused: missing or wrong CSRF token (reload the page)")
    parts = _parts(path)
    if len(parts) != 3 or parts[0] != "run" or parts[2] not in ("tags", "note"):
        raise _NotFound(f"no page '{path}'")
    record = _record(store, parts[1])
    if parts[2] == "tags":
        add = [t.strip() for t in _param(form, "add").split(",") if t.strip()]
        remove = [t.strip() for t in form.get("remove", []) if t.strip()]
        if add:
            store.add_tags(record.id, add)
        if remove:
            store.remove_tags(record.id, remove)
    else:
        store.set_note(record.id, _param(form, "note"))
    target = pages.run_href(record.id)
    return 303, [("Location", target), ("Content-Length", "0"), *SECURITY_HEADERS], b""
